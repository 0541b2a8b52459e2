"""Prior-predictive checks: where real curves fall among a prior's curves, on statistics that matter for
extrapolation.

Every curve (from the prior or real) is thinned to at most ``max_points`` evenly spaced points (what the model
sees), oriented so that lower is better and rescaled to its own range, ``z = (y - min y) / (max y - min y)``,
with ``t = x / max x``; all but ``early_progress`` rescale ``z`` once more by its range over ``t >= 0.2``, so
that a huge loss at initialisation does not flatten the part of the curve that extrapolation is about. Statistics (NaN where a curve is too short for one):

- ``early_progress``: the share of the total improvement made by ``t = 0.2``;
- ``mid_slope`` / ``late_slope``: least-squares slope of ``z`` against ``ln t`` for ``0.35 <= t < 0.7`` /
  ``t >= 0.7`` (negative: still improving; near 0: converged);
- ``curvature``: ``late_slope - mid_slope`` (positive: the curve flattens);
- ``final_drop``: how far the last 5% of the run falls below the line fitted (in ``ln t``) to
  ``0.5 <= t < 0.85``, extrapolated to ``t = 1`` (positive: an end-of-run drop such as an LR cooldown);
- ``noise``: standard deviation of ``z`` around its 5-point running median;
- ``noise_autocorr``: lag-1 autocorrelation of those residuals (NaN when ``noise`` is below 0.005: on a smooth
  curve they are the running median's ripple, whose autocorrelation is about -0.5 whatever the curve);
- ``plateau_fraction``: share of steps of the smoothed curve that move less than 0.2% of the range;
- ``non_monotone``: share of the smoothed curve's total variation that goes the wrong way (up, for a loss);
- ``end_rise``: how far the smoothed curve ends above its best point over ``t >= 0.2`` (0: it ends at its best;
  near 1: its late part is one rise, as in overfitting or an isoFLOP curve past its optimal size).

:func:`compare` reports, per statistic, where the median real curve falls among the prior's curves
(a percentile) and how many real curves lie beyond the prior's 2.5% and 97.5% quantiles: much more than 5%
there means the real curves sit in the prior's tails.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curvecast.errors import InvalidConfigError, InvalidCurveError

__all__ = ["STATISTICS", "curve_statistics", "prior_statistics", "real_statistics", "compare", "read_curve_groups", "plot_comparison"]

STATISTICS: tuple[str, ...] = (
    "early_progress",
    "mid_slope",
    "late_slope",
    "curvature",
    "final_drop",
    "noise",
    "noise_autocorr",
    "plateau_fraction",
    "non_monotone",
    "end_rise",
)

#: Share of real curves beyond the prior's central 95% above which a statistic is flagged as in the tails.
TAIL_FLAG = 0.2


def _running_median(z: np.ndarray, width: int = 5) -> np.ndarray:
    half = width // 2
    padded = np.pad(z, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.median(windows, axis=-1)


def _slope(log_t: np.ndarray, z: np.ndarray, keep: np.ndarray) -> float:
    if keep.sum() < 3 or np.ptp(log_t[keep]) <= 0:
        return float("nan")
    return float(np.polyfit(log_t[keep], z[keep], 1)[0])


def curve_statistics(x: Sequence[float], y: Sequence[float], direction: str = "min", *, max_points: int = 64) -> dict[str, float]:
    """The summary statistics of one curve (see the module docstring); NaN where the curve is too short."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) > max_points:
        keep = np.linspace(0, len(x) - 1, max_points).round().astype(int)
        x, y = x[keep], y[keep]
    out = dict.fromkeys(STATISTICS, float("nan"))
    span = np.ptp(y) if len(y) else 0.0
    if len(x) < 8 or not span > 0 or not x[-1] > 0:
        return out
    z = (y - y.min()) / span
    if direction == "max":
        z = 1.0 - z
    t = x / x[-1]
    positive = t > 0
    log_t = np.log(np.where(positive, t, 1.0))
    gain = z[0] - z.min()
    if gain > 0:
        out["early_progress"] = float((z[0] - np.interp(0.2, t, z)) / gain)
    later = t >= 0.2
    late_span = np.ptp(z[later]) if later.sum() >= 2 else 0.0
    if not late_span > 0:
        return out
    z = (z - z[later].min()) / late_span
    out["mid_slope"] = _slope(log_t, z, positive & (t >= 0.35) & (t < 0.7))
    out["late_slope"] = _slope(log_t, z, positive & (t >= 0.7))
    out["curvature"] = out["late_slope"] - out["mid_slope"]
    fit = positive & (t >= 0.5) & (t < 0.85)
    tail = t >= 0.95
    if fit.sum() >= 3 and tail.any() and np.ptp(log_t[fit]) > 0:
        slope, intercept = np.polyfit(log_t[fit], z[fit], 1)
        expected = intercept + slope * log_t[tail]
        out["final_drop"] = float(np.mean(expected - z[tail]))
    smooth = _running_median(z)
    residual = z - smooth
    out["noise"] = float(residual.std())
    if residual.std() > 5e-3:  # below 0.5% of the late range the residuals are mostly the running median's ripple
        out["noise_autocorr"] = float(np.corrcoef(residual[:-1], residual[1:])[0, 1])
    steps = np.diff(smooth)
    out["plateau_fraction"] = float(np.mean(np.abs(steps) < 0.002))
    variation = np.abs(steps).sum()
    if variation > 0:
        out["non_monotone"] = float(steps[steps > 0].sum() / variation)
    out["end_rise"] = float(smooth[-1] - smooth[later].min())
    return out


def _stack(rows: Iterable[dict[str, float]]) -> dict[str, np.ndarray]:
    rows = list(rows)
    return {name: np.array([r[name] for r in rows], dtype=np.float64) for name in STATISTICS}


def prior_statistics(prior: Any, *, n_tasks: int = 512, seed: int = 0, min_points: int = 8) -> dict[str, np.ndarray]:
    """Statistics of every run with at least ``min_points`` points in ``n_tasks`` tasks drawn from ``prior``."""
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    rows = []
    for task in range(batch.n_tasks):
        direction = "min" if int(batch.direction[task]) > 0 else "max"
        for run in range(batch.n_runs):
            m = batch.point_mask[task, run]
            if int(m.sum()) >= min_points:
                rows.append(curve_statistics(batch.x[task, run, m].numpy(), batch.y[task, run, m].numpy(), direction))
    if not rows:
        raise InvalidConfigError(f"{type(prior).__name__} drew no run with {min_points} or more points in {n_tasks} tasks; nothing to compare")
    return _stack(rows)


def real_statistics(curves: Iterable[tuple[Sequence[float], Sequence[float], str]]) -> dict[str, np.ndarray]:
    """Statistics of ``(x, y, direction)`` curves."""
    return _stack(curve_statistics(x, y, d) for x, y, d in curves)


def compare(prior_stats: dict[str, np.ndarray], real_stats: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per statistic: the real curves' median, its percentile among the prior's curves, and the shares of real
    curves below the prior's 2.5% and above its 97.5% quantile (``in_tails`` when together above 20%)."""
    out = {}
    for name in STATISTICS:
        p = prior_stats[name][np.isfinite(prior_stats[name])]
        r = real_stats[name][np.isfinite(real_stats[name])]
        if len(p) < 20 or len(r) == 0:
            continue
        low, high = np.quantile(p, [0.025, 0.975])
        median = float(np.median(r))
        below, above = float(np.mean(r < low)), float(np.mean(r > high))
        out[name] = {
            "n_real": int(len(r)),
            "real_median": median,
            "prior_median": float(np.median(p)),
            "percentile_of_real_median": float(100.0 * np.mean(p <= median)),
            "share_below_prior_2.5%": below,
            "share_above_prior_97.5%": above,
            "in_tails": bool(below + above > TAIL_FLAG),
        }
    return out


def read_curve_groups(path: str | Path, *, max_curves: int = 300, seed: int = 0) -> dict[str, list[tuple[np.ndarray, np.ndarray, str]]]:
    """Curves of a file, grouped: a parquet/CSV table with ``x``, ``y`` and ``curve_id`` (or ``run``) columns,
    grouped by its ``source`` column when it has one (``direction`` and ``metric_name`` columns are used when
    present); or a curve file ``curvecast predict`` reads (one group). At most ``max_curves`` per group."""
    path = Path(path)
    if not path.is_file():
        raise InvalidCurveError(f"--against '{path}' is not a file; pass a parquet or CSV table of curves, or a curve file")
    if isinstance(max_curves, bool) or not isinstance(max_curves, int) or max_curves < 1:
        raise InvalidConfigError(f"--max-curves (max_curves) must be a positive int, the most curves read per group, got {max_curves!r}")
    delimiter = _curve_table_delimiter(path) if path.suffix == ".csv" else None
    if path.suffix == ".parquet" or delimiter is not None:
        table = _read_table(path, delimiter)
        groups: dict[str, list] = {}
        keys = [k for k in ("curve_id", "run", "metric_name") if k in table.columns]
        if not {"curve_id", "run"} & set(table.columns):
            raise InvalidCurveError(
                f"'{path}' has no curve_id (or run) column, so its rows cannot be told apart into curves; add one naming each "
                "row's curve (or pass a file of one curve)"
            )
        source = table["source"] if "source" in table.columns else None
        for key, frame in table.groupby([*(["source"] if source is not None else []), *keys], sort=True):
            name = str(key[0]) if source is not None else path.stem
            direction = str(frame["direction"].iloc[0]) if "direction" in frame.columns else "min"
            frame = frame.sort_values("x")
            groups.setdefault(name, []).append((frame["x"].to_numpy(float), frame["y"].to_numpy(float), direction))
    else:
        from curvecast.curve_file import read_run_files

        groups = {path.stem: [(np.asarray(r.x, float), np.asarray(r.y, float), r.direction or "min") for r in read_run_files([path])]}
    rng = np.random.default_rng(seed)
    for name, curves in groups.items():
        if len(curves) > max_curves:
            groups[name] = [curves[i] for i in sorted(rng.choice(len(curves), max_curves, replace=False))]
    return groups


def _curve_table_delimiter(path: Path) -> str | None:
    """The separator of a CSV whose header names a ``curve_id`` column (detected as ``curvecast predict`` does:
    commas, semicolons or tabs), or ``None`` for any other CSV (a curve file)."""
    import csv

    from curvecast.curve_file import csv_delimiter

    with path.open(encoding="utf-8-sig") as f:
        head = "".join(itertools.islice(f, 20))
    lines = [line for line in head.splitlines() if line.strip() and not line.lstrip().startswith("#")]  # comments, as curve files
    if not lines:
        return None
    delimiter = csv_delimiter(head)
    header = next(csv.reader(lines[:1], delimiter=delimiter), [])
    return delimiter if "curve_id" in (h.strip().lower() for h in header) else None


def _read_table(path: Path, delimiter: str | None = None) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise InvalidConfigError("reading curve tables needs pandas (and pyarrow for parquet): pip install 'curvecast[bench]'") from None
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:  # leading comment lines are skipped, as curve files' are ('#' inside cells stays)
            with path.open(encoding="utf-8-sig") as f:
                skip = sum(1 for _ in itertools.takewhile(lambda line: not line.strip() or line.lstrip().startswith("#"), f))
            table = pd.read_csv(path, sep=delimiter or ",", skiprows=skip, encoding="utf-8-sig")
    except ImportError as exc:  # pandas without a parquet engine
        raise InvalidConfigError(f"reading '{path}' needs a parquet engine ({exc}): pip install pyarrow") from None
    except (ValueError, OSError) as exc:  # what pandas and pyarrow raise for a damaged or mislabelled file
        raise InvalidCurveError(f"cannot read '{path}' as a {path.suffix.lstrip('.')} table of curves: {exc}") from None
    missing = {"x", "y"} - set(table.columns)
    if missing:
        raise InvalidCurveError(f"'{path}' has no column(s) {sorted(missing)}; a curve table needs x, y and curve_id columns")
    return table


def plot_comparison(prior_stats: dict[str, np.ndarray], groups: dict[str, dict[str, np.ndarray]], path: str | Path, *, title: str = "") -> None:
    """Histograms: the prior's curves (grey) against each group of real curves, one panel per statistic."""
    # A Figure, not pyplot: the caller's backend and open figures stay as they are.
    from matplotlib.figure import Figure

    cols = 3
    rows = -(-len(STATISTICS) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols)
    for name, ax in zip(STATISTICS, axes.flat):
        p = prior_stats[name][np.isfinite(prior_stats[name])]
        if len(p) == 0:
            ax.axis("off")
            continue
        low, high = np.quantile(p, [0.005, 0.995])
        for stats in groups.values():
            r = stats[name][np.isfinite(stats[name])]
            if len(r):
                low, high = min(low, np.quantile(r, 0.02)), max(high, np.quantile(r, 0.98))
        bins = np.linspace(low, high, 40) if high > low else 10
        ax.hist(np.clip(p, low, high), bins=bins, density=True, color="0.75", label="prior")
        for group, stats in groups.items():
            r = stats[name][np.isfinite(stats[name])]
            if len(r):
                ax.hist(np.clip(r, low, high), bins=bins, density=True, histtype="step", lw=1.4, label=group)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(STATISTICS) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
