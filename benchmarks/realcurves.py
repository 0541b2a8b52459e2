"""Benchmark on real learning curves: curvecast against a last-value and a power-law baseline.

    python benchmarks/realcurves.py                                   # all sources, all methods
    python benchmarks/realcurves.py --methods last_value power_law --max-curves 20 --sources lcdb pythia
    python benchmarks/realcurves.py --json results.json --markdown results.md --model runs/big
    python benchmarks/realcurves.py --sources gemstones pythia --by-direction   # losses and accuracies apart
    python benchmarks/realcurves.py --sources pythia --methods curvecast --by-metric   # each metric of a source apart

Data: ``../shared/data/realcurves/*.parquet`` next to the repository (``--data`` to change it), one row per
point with columns ``source, curve_id, group, config, x, y, metric_name, direction``. A curve is one
``(curve_id, metric_name)`` of one file, its points sorted by x.

Protocol, per source (the ``source`` column):

* curves with fewer than 5 points or with zero range (``max(y) == min(y)`` up to rounding) are left out; at most
  ``--max-curves`` of the rest are used, a random subset drawn with ``numpy.random.default_rng(--seed)``
  (a fresh generator per source, so the subset does not depend on which other sources run);
* for each observed fraction f in (0.2, 0.4, 0.6), a method sees the first ``n_obs = max(3, round(f * n))``
  points of each curve and predicts the other ``n - n_obs`` (curves with none left to predict are skipped);
* metrics, with ``range = max(y) - min(y)`` over the whole curve:

  - ``nll``: ``-(logpdf(y_true) + log(range))`` per held-out point (the density of ``y / range``), averaged
    over the held-out points of a curve, then the mean over curves (``nll_median``: the median over curves).
    One curve whose observed part is exactly flat (LCDB majority-class accuracies, Pythia's LAMBADA accuracy
    of 0 early on) can give a Gaussian baseline a width of ~1e-9 and the mean an NLL of 1e15; so there is also
    ``nll_capped``, the mean with every point's NLL capped at ``NLL_CAP`` = 10 (reported, not used for targets);
  - ``final_err``: median over curves of ``|predicted median at the last x - true last y| / range``;
  - ``final_bias``: median over curves of the same difference, signed so that a forecast worse than the outcome
    (a loss above it, an accuracy below it) is positive: which way a method errs, not only how far;
  - ``coverage90``: per curve the fraction of held-out points inside ``[q05, q95]``, mean over curves;
  - ``miss_worse`` / ``miss_better``: the same for the points outside it on the worse side (a loss above
    ``q95``, an accuracy below ``q05``) and on the better side;
  - ``n_curves``.

With ``--bootstrap B``, each cell's curves are resampled with replacement ``B`` times (paired: one resample
serves all three methods, as they predicted the same curves), and the curvecast row gets ``bootstrap``: the
share of resamples in which each target holds (``p_nll``: mean and median NLL, ``p_final_err``, ``p_coverage``) and the 5%/95%
quantiles of its ``coverage90``. A target met in half the resamples is a coin flip of the curve sample, not a
property of the model; one met in 0.99 of them would survive another draw of the source's curves.

A method is a function from a list of :class:`Task` (observed points, query x, and the true y at the
queries, which it may only use to evaluate its predictive log density) to one :class:`Prediction` per task:
``logpdf`` of the true y, ``median``, ``q05`` and ``q95`` at every query. Metrics are computed in one place,
:func:`curve_metrics` and :func:`aggregate`. A log density that is not finite (a point outside a method's
support, or a NaN) is counted (``n_nonfinite``) and scored as ``LOGPDF_FLOOR`` in range units.

Methods: ``last_value`` (:func:`predict_last_value`), ``power_law`` (:func:`predict_power_law`; Gaussian
as the protocol says, or ``--power-law-predictive student_t``) and ``curvecast`` (the shipped model, or
``--model PATH``; run on CPU, in chunks of ``--batch-size`` curves).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy import optimize, stats
from tqdm import tqdm

import curvecast

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / "../shared/data/realcurves"
FRACTIONS = (0.2, 0.4, 0.6)
METHODS = ("last_value", "power_law", "curvecast")
MIN_POINTS = 5
CHUNK = 256
Z95 = float(stats.norm.ppf(0.95))  # half-width of the central 90% interval in standard deviations
LOGPDF_FLOOR = -50.0  # log density (range units) scored for a held-out point given zero (or NaN) density
REL_NOISE_FLOOR = 1e-3  # predictive std floor, relative to the observed range
ABS_NOISE_FLOOR = 1e-9  # ... and absolute (plus 1e-6 |last observed y|), so a flat observed part is no 0/0
COVERAGE_TARGET = (0.85, 0.95)
NLL_CAP = 10.0  # per-point NLL cap of the robust ``nll_capped`` (a density of y/range below e^-10 counts as e^-10)
RANGE_RTOL = 1e-9  # a curve whose range is below this fraction of max|y| counts as constant
#: Metric directions, each cell split by ``--by-direction``: losses and errors (min), accuracies (max).
DIRECTIONS = ("min", "max")


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class RealCurve:
    """One real curve: all its points, sorted by x."""

    source: str
    curve_id: str
    metric_name: str
    direction: str  # "min" or "max"
    config: str  # JSON text
    x: np.ndarray
    y: np.ndarray

    @property
    def y_range(self) -> float:
        return float(self.y.max() - self.y.min())


@dataclass(frozen=True)
class Task:
    """The first ``n_obs`` points of a curve are observed; the rest are to be predicted."""

    curve: RealCurve
    n_obs: int

    @property
    def x_obs(self) -> np.ndarray:
        return self.curve.x[: self.n_obs]

    @property
    def y_obs(self) -> np.ndarray:
        return self.curve.y[: self.n_obs]

    @property
    def x_query(self) -> np.ndarray:
        return self.curve.x[self.n_obs :]

    @property
    def y_query(self) -> np.ndarray:
        """The true held-out values: for evaluating a predictive density only."""
        return self.curve.y[self.n_obs :]

    @property
    def direction(self) -> str:
        return self.curve.direction


@dataclass
class Prediction:
    """A method's prediction at the queries of one task (all arrays of length ``len(x_query)``)."""

    logpdf: np.ndarray  # log density of the true y
    median: np.ndarray
    q05: np.ndarray
    q95: np.ndarray
    fallback: bool = False  # power_law only: the fit failed and last_value's prediction was used


Method = Callable[[Sequence[Task]], list[Prediction]]


def load_curves(data_dir: Path, sources: Sequence[str] | None = None) -> dict[str, list[RealCurve]]:
    """All curves of every ``*.parquet`` in ``data_dir``, by source, sorted by (curve_id, metric_name)."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"data folder {data_dir} does not exist: the real-curve data set is expected in "
            "../shared/data/realcurves next to the repository; pass --data DIR to point elsewhere"
        )
    files = sorted(data_dir.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no *.parquet files in {data_dir}: the real-curve data set is expected in ../shared/data/realcurves "
            "next to the repository; pass --data DIR to point elsewhere"
        )
    by_source: dict[str, list[RealCurve]] = {}
    for path in files:
        frame = pd.read_parquet(path)
        if sources is not None:
            frame = frame[frame["source"].isin(sources)]
        keys = ["source", "curve_id", "metric_name"]
        frame = frame.sort_values([*keys, "x"], kind="stable").reset_index(drop=True)
        starts = np.flatnonzero((frame[keys] != frame[keys].shift()).any(axis=1).to_numpy())
        x_all = frame["x"].to_numpy(dtype=np.float64, copy=True)
        y_all = frame["y"].to_numpy(dtype=np.float64, copy=True)
        for start, stop in zip(starts, [*starts[1:], len(frame)]):
            first = frame.iloc[start]
            by_source.setdefault(str(first["source"]), []).append(
                RealCurve(
                    source=str(first["source"]),
                    curve_id=str(first["curve_id"]),
                    metric_name=str(first["metric_name"]),
                    direction=str(first["direction"]),
                    config=str(first["config"]),
                    x=x_all[start:stop],
                    y=y_all[start:stop],
                )
            )
    if sources is not None:
        missing = sorted(set(sources) - set(by_source))
        if missing:
            raise ValueError(f"no curves for source(s) {missing}; sources in {data_dir}: see its README.md")
    return dict(sorted(by_source.items()))


def usable(curve: RealCurve) -> bool:
    """At least ``MIN_POINTS`` finite points with distinct x and a non-zero range.

    A range within floating-point rounding of zero (``<= RANGE_RTOL * max|y|``) counts as zero: a few LCDB
    accuracy curves are constant up to one ulp (1.1e-16), which would blow up every range-normalized metric.
    """
    return (
        len(curve.x) >= MIN_POINTS
        and bool(np.all(np.isfinite(curve.x)) and np.all(np.isfinite(curve.y)))
        and bool(np.all(np.diff(curve.x) > 0))
        and curve.y_range > RANGE_RTOL * float(np.max(np.abs(curve.y)))
    )


def select_curves(curves: Sequence[RealCurve], max_curves: int, seed: int) -> list[RealCurve]:
    """The usable curves, or a random subset of ``max_curves`` of them (in their original order)."""
    kept = [c for c in curves if usable(c)]
    if len(kept) <= max_curves:
        return kept
    index = np.random.default_rng(seed).choice(len(kept), size=max_curves, replace=False)
    return [kept[i] for i in sorted(index)]


def make_tasks(curves: Sequence[RealCurve], fraction: float) -> list[Task]:
    """Observe ``max(3, round(fraction * n))`` points of each curve; skip curves with nothing left to predict."""
    tasks = []
    for curve in curves:
        n = len(curve.x)
        n_obs = max(3, round(fraction * n))
        if n - n_obs >= 1:
            tasks.append(Task(curve, n_obs))
    return tasks


# ------------------------------------------------------------------------------------------- metrics


def curve_metrics(task: Task, pred: Prediction) -> dict[str, float]:
    """Per-curve ``nll`` (range units, mean over held-out points), ``nll_capped`` (the same with each point's NLL
    capped at ``NLL_CAP``), ``final_err``, ``final_bias``, ``coverage`` and ``n_nonfinite``."""
    y_true = task.y_query
    y_range = task.curve.y_range
    logpdf = np.asarray(pred.logpdf, dtype=np.float64) + math.log(y_range)
    bad = ~np.isfinite(logpdf)
    logpdf = np.where(bad, LOGPDF_FLOOR, logpdf)
    median_last = float(pred.median[-1])
    final_err = abs(median_last - y_true[-1]) / y_range if np.isfinite(median_last) else math.inf
    # worse-is-positive: a loss forecast above the outcome, or an accuracy forecast below it, is pessimistic
    sign = 1.0 if task.direction == "min" else -1.0
    final_bias = sign * (median_last - y_true[-1]) / y_range if np.isfinite(median_last) else math.nan
    covered = (pred.q05 <= y_true) & (y_true <= pred.q95)  # False where a quantile is NaN
    above, below = y_true > pred.q95, y_true < pred.q05
    return {
        "nll": float(-logpdf.mean()),
        "nll_capped": float(np.minimum(-logpdf, NLL_CAP).mean()),
        "final_err": float(final_err),
        "final_bias": float(final_bias),
        "coverage": float(covered.mean()),
        "miss_worse": float((above if task.direction == "min" else below).mean()),
        "miss_better": float((below if task.direction == "min" else above).mean()),
        "n_nonfinite": int(bad.sum()),
    }


def aggregate(per_curve: Sequence[dict[str, float]]) -> dict[str, float]:
    """Summaries over curves: mean, median and capped-mean NLL, median final error and signed final error
    (``final_bias``, positive when forecasts are worse than the outcome), mean coverage of the 90% interval."""
    if not per_curve:
        nan = float("nan")
        return {"nll": nan, "nll_median": nan, "nll_capped": nan, "final_err": nan, "final_bias": nan, "coverage90": nan,
                "miss_worse": nan, "miss_better": nan, "n_curves": 0, "n_nonfinite": 0}
    nll = np.array([m["nll"] for m in per_curve])
    bias = np.array([m["final_bias"] for m in per_curve])
    return {
        "nll": float(nll.mean()),
        "nll_median": float(np.median(nll)),
        "nll_capped": float(np.mean([m["nll_capped"] for m in per_curve])),
        "final_err": float(np.median([m["final_err"] for m in per_curve])),
        "final_bias": float(np.median(bias[np.isfinite(bias)])) if np.isfinite(bias).any() else math.nan,
        "coverage90": float(np.mean([m["coverage"] for m in per_curve])),
        "miss_worse": float(np.mean([m["miss_worse"] for m in per_curve])),
        "miss_better": float(np.mean([m["miss_better"] for m in per_curve])),
        "n_curves": len(per_curve),
        "n_nonfinite": int(sum(m["n_nonfinite"] for m in per_curve)),
    }


# ----------------------------------------------------------------------------------------- baselines


def positive_time(x_obs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Map x to a positive "time" for power laws and log-x slopes, using the observed x only.

    Curves whose x are all positive keep them (training-set sizes, tokens, model sizes). Curves that start
    at x <= 0 (step 0, MLPerf's epoch -1) are shifted so the first observed point sits one observed spacing
    after zero: ``t = x - x_obs[0] + (x_obs[1] - x_obs[0])`` (``x + 250`` for steps 0, 250, ...; ``x + 1``
    for Pythia's 0, 1, 2, 4, ...).
    """
    if x_obs[0] > 0:
        return np.asarray(x, dtype=np.float64)
    return np.asarray(x, dtype=np.float64) - x_obs[0] + (x_obs[1] - x_obs[0])


def noise_floor(y_obs: np.ndarray) -> float:
    """Smallest predictive std any baseline uses: ``max(1e-3 * observed range, 1e-9 + 1e-6 * |last observed y|)``."""
    return max(REL_NOISE_FLOOR * float(np.ptp(y_obs)), ABS_NOISE_FLOOR + 1e-6 * abs(float(y_obs[-1])))


def location_scale_prediction(
    mean: np.ndarray, std: np.ndarray, y_true: np.ndarray, dof: float | None = None, fallback: bool = False
) -> Prediction:
    """Gaussian (``dof=None``) or Student-t with ``dof`` degrees of freedom, location ``mean``, scale ``std``."""
    dist = stats.norm(loc=mean, scale=std) if dof is None else stats.t(dof, loc=mean, scale=std)
    half_width = Z95 if dof is None else float(stats.t.ppf(0.95, dof))
    return Prediction(
        logpdf=dist.logpdf(y_true),
        median=mean.copy(),
        q05=mean - half_width * std,
        q95=mean + half_width * std,
        fallback=fallback,
    )


def recent_window(n_obs: int) -> int:
    """Observed points the last-value baseline looks at: the last quarter, at least 5 (all if fewer)."""
    return min(n_obs, max(5, round(n_obs / 4)))


def local_noise(y_obs: np.ndarray) -> float:
    """Point-noise estimate: std of the first differences over the recent window / sqrt(2), floored by
    :func:`noise_floor` (for independent noise on a straight line, a difference has twice the point variance)."""
    window = y_obs[-recent_window(len(y_obs)) :]
    noise = float(np.std(np.diff(window), ddof=1)) / math.sqrt(2) if len(window) >= 3 else 0.0
    return max(noise, noise_floor(y_obs)) if np.isfinite(noise) else noise_floor(y_obs)


def last_value_gaussian(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the last-value baseline at the queries of one task.

    Mean: the last observed y. Std: ``sqrt(noise^2 + (drift * h)^2)`` where

    * ``noise`` = :func:`local_noise`: std of the first differences of the last
      ``k = min(n_obs, max(5, round(n_obs / 4)))`` observed y, / sqrt(2), floored by :func:`noise_floor`;
    * ``drift`` = |least-squares slope of those k y against log t| (t = :func:`positive_time` of x), the
      recent change per e-fold of x;
    * ``h = log t_query - log t_last_observed``, the horizon in e-folds of x.

    So the interval widens as far as the recent trend would carry the curve, without betting on its direction.
    """
    x_obs, y_obs = task.x_obs, task.y_obs
    k = recent_window(len(y_obs))
    log_t = np.log(positive_time(x_obs, x_obs))
    log_tq = np.log(positive_time(x_obs, task.x_query))
    window_t = log_t[-k:]
    slope = float(np.polyfit(window_t - window_t.mean(), y_obs[-k:], 1)[0])
    drift = abs(slope) if np.isfinite(slope) else 0.0
    horizon = np.maximum(log_tq - log_t[-1], 0.0)
    mean = np.full(len(log_tq), float(y_obs[-1]))
    std = np.sqrt(local_noise(y_obs) ** 2 + (drift * horizon) ** 2)
    return mean, std


def predict_last_value(tasks: Sequence[Task]) -> list[Prediction]:
    """Gaussian at the last observed value; see :func:`last_value_gaussian` for its width."""
    out = []
    for task in tqdm(tasks, desc="last_value", leave=False, file=sys.stderr, disable=None):
        mean, std = last_value_gaussian(task)
        out.append(location_scale_prediction(mean, std, task.y_query))
    return out


POWER_LAW_C_BOUNDS = (1e-3, 3.0)
POWER_LAW_PREDICTIVES = ("gaussian", "student_t")
_C_GRID = np.geomspace(0.01, 3.0, 40)


@dataclass
class PowerLawFit:
    """``y = a + b * u^(-c)`` in standardized units: ``u = t / t_last_observed``, ``z = (y - y_center) / y_scale``."""

    params: np.ndarray  # a, b, c
    cov: np.ndarray  # 3 x 3 parameter covariance
    resid_var: float  # residual variance (z units), RSS / (n - 3)
    t_ref: float
    y_center: float
    y_scale: float


def _power_law(params: np.ndarray, u: np.ndarray) -> np.ndarray:
    a, b, c = params
    return a + b * u ** (-c)


def _power_law_jacobian(params: np.ndarray, u: np.ndarray) -> np.ndarray:
    _, b, c = params
    uc = u ** (-c)
    return np.stack([np.ones_like(u), uc, -b * np.log(u) * uc], axis=-1)


def fit_power_law(x_obs: np.ndarray, y_obs: np.ndarray) -> PowerLawFit:
    """Least-squares fit of ``y = a + b * t^(-c)``, ``c`` in [1e-3, 3], ``a`` and ``b`` free (so it can rise or fall).

    Start: for each ``c`` on a log grid over [0.01, 3] the best ``(a, b)`` is linear least squares; the best
    grid point starts a bounded trust-region refinement (``scipy.optimize.least_squares``). Raises
    ``ValueError`` when there is nothing to fit (fewer than 4 points, so no residual degrees of freedom, or a
    flat observed part) or the result is not finite.
    """
    n = len(y_obs)
    if n < 4:
        raise ValueError("power law needs at least 4 observed points (3 parameters + 1 residual dof)")
    t = positive_time(x_obs, x_obs)
    t_ref = float(t[-1])
    u = t / t_ref
    y_center = float(np.mean(y_obs))
    y_scale = float(np.ptp(y_obs))
    if not y_scale > 0:
        raise ValueError("flat observed part")
    z = (y_obs - y_center) / y_scale

    best: tuple[float, np.ndarray] | None = None
    for c in _C_GRID:
        design = np.stack([np.ones_like(u), u ** (-c)], axis=-1)
        coef, *_ = np.linalg.lstsq(design, z, rcond=None)
        rss = float(np.sum((design @ coef - z) ** 2))
        if np.isfinite(rss) and (best is None or rss < best[0]):
            best = (rss, np.array([coef[0], coef[1], c]))
    if best is None:
        raise ValueError("no finite start")
    lower = np.array([-np.inf, -np.inf, POWER_LAW_C_BOUNDS[0]])
    upper = np.array([np.inf, np.inf, POWER_LAW_C_BOUNDS[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = optimize.least_squares(
            lambda p: _power_law(p, u) - z,
            np.clip(best[1], lower, upper),
            jac=lambda p: _power_law_jacobian(p, u),
            bounds=(lower, upper),
            method="trf",
            x_scale="jac",
            max_nfev=200,
        )
    params = result.x if np.sum(result.fun**2) <= best[0] else best[1]
    resid = _power_law(params, u) - z
    resid_var = float(np.sum(resid**2) / (n - 3))
    jac = _power_law_jacobian(params, u)
    cov = resid_var * np.linalg.pinv(jac.T @ jac, rcond=1e-10)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(cov)) and np.isfinite(resid_var)):
        raise ValueError("non-finite fit")
    return PowerLawFit(params, cov, resid_var, t_ref, y_center, y_scale)


def power_law_gaussian(fit: PowerLawFit, x_obs: np.ndarray, x_query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and std: fitted curve; variance = residual variance + ``g' Cov g`` (delta method)."""
    u = positive_time(x_obs, x_query) / fit.t_ref
    mean_z = _power_law(fit.params, u)
    grad = _power_law_jacobian(fit.params, u)
    var_z = fit.resid_var + np.einsum("qi,ij,qj->q", grad, fit.cov, grad)
    mean = fit.y_center + fit.y_scale * mean_z
    std = fit.y_scale * np.sqrt(np.maximum(var_z, 0.0))
    return mean, std


def predict_power_law(tasks: Sequence[Task], predictive: str = "gaussian") -> list[Prediction]:
    """Saturating power law fitted by least squares with a delta-method predictive; last_value where it fails.

    ``y = a + b * t^(-c)`` with ``t`` = :func:`positive_time` of x and ``b`` of either sign (so "max" curves
    need no flipping), fitted as in :func:`fit_power_law`. Predictive scale = ``sqrt(s^2 + g' Cov g)`` with
    ``s^2 = RSS / (n_obs - 3)``, ``Cov = s^2 (J'J)^+`` and ``g`` the gradient of the curve at the query,
    floored by the last-value baseline's noise (:func:`local_noise`: a near-exact fit of a few points must not
    claim less noise than the curve shows). ``predictive="gaussian"`` (the issue's protocol) uses a normal
    distribution; ``"student_t"`` the textbook regression prediction interval, a t with ``n_obs - 3`` degrees
    of freedom, which accounts for ``s^2`` being estimated from few points. Fewer than 4 observed points, a
    flat observed part, a failed or non-finite fit: the task gets :func:`last_value_gaussian` and
    ``fallback=True``.
    """
    if predictive not in POWER_LAW_PREDICTIVES:
        raise ValueError(f"predictive must be one of {POWER_LAW_PREDICTIVES}, got {predictive!r}")
    out = []
    for task in tqdm(tasks, desc="power_law", leave=False, file=sys.stderr, disable=None):
        try:
            fit = fit_power_law(task.x_obs, task.y_obs)
            mean, std = power_law_gaussian(fit, task.x_obs, task.x_query)
            std = np.maximum(std, local_noise(task.y_obs))
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
                raise ValueError("non-finite prediction")
            dof = None if predictive == "gaussian" else float(len(task.y_obs) - 3)
            out.append(location_scale_prediction(mean, std, task.y_query, dof=dof))
        except (ValueError, np.linalg.LinAlgError):
            mean, std = last_value_gaussian(task)
            out.append(location_scale_prediction(mean, std, task.y_query, fallback=True))
    return out


# ----------------------------------------------------------------------------------------- curvecast


def run_config(
    curve: RealCurve, shift: float, schedules: dict[str, str] | None = None, isoflop: dict[str, str] | None = None
) -> dict | None:
    """What a user would know up front and can tell curvecast: the planned run length (``total_steps`` in the
    source's config, e.g. modded-nanogpt's), in units of x, and, where ``schedules`` names one for the curve's
    source (``--schedule SOURCE=NAME``), the LR schedule family; where ``isoflop`` names a config key for the
    curve's source (``--isoflop SOURCE=KEY``), that the curve is an isoFLOP profile (x = model size) at the FLOP
    budget under that key (``{"isoflop": C}``). Nothing else of a source's config is used."""
    try:
        recorded = json.loads(curve.config)
        total = recorded.get("total_steps")
    except (json.JSONDecodeError, AttributeError):
        return None
    if isoflop and curve.source in isoflop:
        budget = recorded.get(isoflop[curve.source])
        if isinstance(budget, (int, float)) and not isinstance(budget, bool) and math.isfinite(budget) and budget > 0:
            return {"isoflop": float(budget)}
        return None
    if isinstance(total, (int, float)) and not isinstance(total, bool) and math.isfinite(total) and total - shift > 0:
        config = {"total_steps": float(total - shift)}
        if schedules and curve.source in schedules:
            config["schedule"] = schedules[curve.source]
        return config
    return None


def curvecast_curve(task: Task, schedules: dict[str, str] | None = None, isoflop: dict[str, str] | None = None) -> curvecast.Curve:
    """The task as curvecast input. curvecast needs x >= 0: a curve that starts below 0 (MLPerf's epoch -1) is
    shifted to start at 0, queries by the same amount; other curves are passed as they are. The run config
    holds only the planned length where the source records it, the schedule family where ``--schedule``
    gives one, and the FLOP budget of isoFLOP profiles where ``--isoflop`` names it (:func:`run_config`)."""
    shift = min(float(task.x_obs[0]), 0.0)
    return curvecast.Curve(
        task.x_obs - shift, task.y_obs, task.x_query - shift, direction=task.direction, config=run_config(task.curve, shift, schedules, isoflop)
    )


def curvecast_method(
    model_path: str | None,
    chunk: int = CHUNK,
    schedules: dict[str, str] | None = None,
    raw: bool = False,
    spread: float | None = None,
    isoflop: dict[str, str] | None = None,
) -> tuple[Method, dict]:
    """The curvecast model as a method (loaded once), and metadata about it for the report. ``raw``: the network
    as trained, without the checkpoint's calibration (temperature 1, spread 1); ``spread``: this spread factor
    instead of the calibrated one."""
    options = {"temperature": 1.0, "spread": 1.0} if raw else {}
    if spread is not None:
        options["spread"] = spread
    model = curvecast.load(model_path, device="cpu", **options)
    path = getattr(model, "path", None)
    meta = {
        "model": model_path,
        "model_path": str(path) if path is not None else None,
        "model_repr": repr(model),
        "calibration": {"temperature": model.temperature, "spread": model.spread},
        "schedules": schedules or {},
        "isoflop": isoflop or {},
    }

    def predict(tasks: Sequence[Task]) -> list[Prediction]:
        out: list[Prediction] = []
        bar = tqdm(total=len(tasks), desc="curvecast", leave=False, file=sys.stderr, disable=None)
        for start in range(0, len(tasks), chunk):
            batch = tasks[start : start + chunk]
            curves = [curvecast_curve(task, schedules, isoflop) for task in batch]
            for task, p in zip(batch, model.predict_many(curves, progress=False), strict=True):
                q = np.asarray(p.quantile([0.05, 0.95]), dtype=np.float64)
                out.append(
                    Prediction(
                        logpdf=np.asarray(p.logpdf(task.y_query), dtype=np.float64),
                        median=np.asarray(p.median, dtype=np.float64),
                        q05=q[0],
                        q95=q[1],
                    )
                )
            bar.update(len(batch))
        bar.close()
        return out

    return predict, meta


# -------------------------------------------------------------------------------------------- running


def bootstrap_targets(per_curve: dict[str, Sequence[dict[str, float]]], n_resamples: int, seed: int) -> dict[str, float]:
    """How robust one cell's targets are to its sample of curves (see the module docstring).

    Args:
        per_curve: for each of :data:`METHODS`, the :func:`curve_metrics` of the same ``n`` curves, in one order.
        n_resamples: resamples of the ``n`` curves with replacement, each shared by the three methods.
        seed: seed of the resampling generator.
    """
    n = len(per_curve["curvecast"])
    if any(len(v) != n for v in per_curve.values()):
        raise ValueError("bootstrap_targets needs every method's metrics on the same curves")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_resamples, n))  # n_resamples x n
    # Each resample's summaries as aggregate() takes them (mean and median NLL, median error, mean coverage), vectorized.
    resampled = {
        m: {
            "nll": np.array([c["nll"] for c in per_curve[m]])[index].mean(-1),
            "nll_median": np.median(np.array([c["nll"] for c in per_curve[m]])[index], axis=-1),
            "final_err": np.median(np.array([c["final_err"] for c in per_curve[m]])[index], axis=-1),
            "coverage90": np.array([c["coverage"] for c in per_curve[m]])[index].mean(-1),
        }
        for m in METHODS
    }
    # The targets' rule is targets()'s, applied to each resample's summaries.
    met = [targets({m: {k: float(v[i]) for k, v in resampled[m].items()} for m in METHODS}) for i in range(n_resamples)]
    low, high = np.quantile(resampled["curvecast"]["coverage90"], [0.05, 0.95])
    return {"n_resamples": n_resamples, **{f"p_{k}": float(np.mean([t[k] for t in met])) for k in TARGET_KEYS},
            "coverage90_q05": float(low), "coverage90_q95": float(high)}


def run_benchmark(
    curves_by_source: dict[str, list[RealCurve]],
    methods: dict[str, Method],
    max_curves: int,
    seed: int,
    fractions: Sequence[float] = FRACTIONS,
    by_direction: bool = False,
    bootstrap: int = 0,
    by_metric: bool = False,
) -> list[dict]:
    """One row per (source, fraction, method) with the metrics of :func:`aggregate` and ``n_fallbacks``; with
    ``by_direction``, also ``by_direction``: the same metrics over the losses (``min``) and the accuracies
    (``max``) of the cell apart, since one source can hold both (Gemstones, Pythia) and they fail differently;
    with ``by_metric``, also ``by_metric``: the same per metric name (Pythia's benchmarks, say).
    With ``bootstrap`` resamples (and all three methods), the curvecast row also gets ``bootstrap``
    (:func:`bootstrap_targets`, seeded by ``seed``)."""
    rows = []
    for source, all_curves in curves_by_source.items():
        curves = select_curves(all_curves, max_curves, seed)
        for fraction in fractions:
            tasks = make_tasks(curves, fraction)
            cell: dict[str, list[dict]] = {}  # each method's per-curve metrics, for the bootstrap
            for name, method in methods.items():
                start = time.perf_counter()
                preds = method(tasks) if tasks else []
                seconds = time.perf_counter() - start
                for task, pred in zip(tasks, preds, strict=True):
                    for key in ("logpdf", "median", "q05", "q95"):
                        if np.shape(getattr(pred, key)) != task.y_query.shape:
                            raise ValueError(f"{name}: {key} has shape {np.shape(getattr(pred, key))}, "
                                             f"expected {task.y_query.shape} ({task.curve.curve_id})")
                per_curve = [curve_metrics(t, p) for t, p in zip(tasks, preds)]
                cell[name] = per_curve
                summary = aggregate(per_curve)
                row = {
                    "source": source,
                    "fraction": fraction,
                    "method": name,
                    **summary,
                    "n_fallbacks": int(sum(p.fallback for p in preds)),
                    "n_heldout_points": int(sum(len(t.y_query) for t in tasks)),
                    "seconds": seconds,
                }
                if by_direction:
                    by_dir: dict[str, list[dict]] = {}
                    for task, metrics in zip(tasks, per_curve):
                        by_dir.setdefault(task.direction, []).append(metrics)
                    row["by_direction"] = {d: aggregate(by_dir[d]) for d in DIRECTIONS if d in by_dir}
                if by_metric:
                    by_name: dict[str, list[dict]] = {}
                    for task, metrics in zip(tasks, per_curve):
                        by_name.setdefault(task.curve.metric_name, []).append(metrics)
                    row["by_metric"] = {name: aggregate(by_name[name]) for name in sorted(by_name)}
                rows.append(row)
                print(
                    f"{source:>24} f={fraction:.1f} {name:>10}: nll {fmt(summary['nll']):>9}  final_err "
                    f"{summary['final_err']:.3f}  cov90 {summary['coverage90']:.3f}  n {summary['n_curves']}"
                    f"  ({seconds:.1f}s)",
                    file=sys.stderr,
                )
            if bootstrap > 0 and tasks and all(m in cell for m in METHODS):
                mine = next(r for r in rows[-len(methods):] if r["method"] == "curvecast")
                mine["bootstrap"] = bootstrap_targets(cell, bootstrap, seed)
    return rows


def results_table(rows: Sequence[dict]) -> pd.DataFrame:
    columns = ["source", "fraction", "method", "nll", "nll_median", "nll_capped", "final_err", "coverage90",
               "n_curves", "n_fallbacks", "n_nonfinite"]
    return pd.DataFrame(rows)[columns]


def split_table(rows: Sequence[dict], key: str = "by_direction", label: str = "direction") -> pd.DataFrame:
    """The ``key`` summaries (``by_direction`` or ``by_metric``) of :func:`run_benchmark`'s rows, one line per
    (source, fraction, method, part)."""
    columns = ["nll", "final_err", "final_bias", "coverage90", "miss_worse", "miss_better", "n_curves"]
    lines = [
        {"source": r["source"], "fraction": r["fraction"], "method": r["method"], label: part, **{c: s[c] for c in columns}}
        for r in rows
        for part, s in r.get(key, {}).items()
    ]
    return pd.DataFrame(lines, columns=["source", "fraction", "method", label, *columns])


def targets(by_method: dict[str, dict]) -> dict[str, bool] | None:
    """curvecast's targets for one (source, fraction), as issue 9 states them: both baselines beaten on the mean
    and on the median NLL over curves, final_err no worse than the better baseline's, coverage90 in [0.85, 0.95].
    None unless curvecast and both baselines ran."""
    if not all(m in by_method for m in METHODS):
        return None
    cc, lv, pl = by_method["curvecast"], by_method["last_value"], by_method["power_law"]
    return {
        "nll": bool(cc["nll"] < min(lv["nll"], pl["nll"]) and cc["nll_median"] < min(lv["nll_median"], pl["nll_median"])),
        "final_err": bool(cc["final_err"] <= min(lv["final_err"], pl["final_err"])),
        "coverage": bool(COVERAGE_TARGET[0] <= cc["coverage90"] <= COVERAGE_TARGET[1]),
    }


TARGET_KEYS = ("nll", "final_err", "coverage")


def grouped(rows: Sequence[dict]) -> dict[tuple[str, float], dict[str, dict]]:
    """Rows by (source, fraction), then by method."""
    out: dict[tuple[str, float], dict[str, dict]] = {}
    for row in rows:
        out.setdefault((row["source"], row["fraction"]), {})[row["method"]] = row
    return out


def target_rows(rows: Sequence[dict]) -> list[dict]:
    """One record per (source, fraction) where all three methods ran: which targets curvecast meets."""
    out = []
    for (source, fraction), by_method in grouped(rows).items():
        t = targets(by_method)
        if t is not None:
            out.append({"source": source, "fraction": fraction, **t})
    return out


def fmt(value: float) -> str:
    """Three decimals, or scientific notation for the huge NLLs of a collapsed Gaussian."""
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.2e}"


def markdown_report(rows: Sequence[dict], command: str, methods: Sequence[str], meta: dict) -> str:
    """A markdown section: the command, one table (source x fraction rows, per-method columns) with a targets
    column, and a per-source summary of the targets."""
    lines = [
        "## Real learning curves",
        "",
        "Regenerate with:",
        "",
        "```",
        command,
        "```",
        "",
        (
            f"Up to {meta['max_curves']} curves per source (seed {meta['seed']}); each method observes the first "
            "`max(3, round(f·n))` points of a curve and predicts the rest. `nll`: mean over curves of the mean NLL "
            "of the held-out points, with y in units of the curve's range (lower is better; best per row in "
            "bold); `err`: median over curves of |median at the last x − last y| / range; `cov`: mean fraction of "
            "held-out points inside the central 90% interval. Range = max(y) − min(y) over the whole curve. "
            f"power_law predictive: {meta['power_law_predictive']}."
        ),
        "",
    ]
    header = ["source", "f", "n"]
    for m in methods:
        header += [f"{m} nll", f"{m} err", f"{m} cov"]
    show_targets = all(m in methods for m in METHODS)
    if show_targets:
        header.append("targets: nll / err / cov")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (source, fraction), by_method in grouped(rows).items():
        nlls = {m: by_method[m]["nll"] for m in methods if np.isfinite(by_method[m]["nll"])}
        best = min(nlls, key=nlls.get) if nlls else None
        cells = [source, f"{fraction:.1f}", str(max(r["n_curves"] for r in by_method.values()))]
        for m in methods:
            r = by_method[m]
            nll = fmt(r["nll"])
            cells += [f"**{nll}**" if m == best else nll, f"{r['final_err']:.3f}", f"{r['coverage90']:.2f}"]
        t = targets(by_method)
        if show_targets and t is not None:
            cells.append(" / ".join("✓" if t[k] else "✗" for k in TARGET_KEYS))
        lines.append("| " + " | ".join(cells) + " |")

    lines += [
        "",
        f"Robust NLL, median over curves (part of the NLL target) / mean with each point's NLL capped at {NLL_CAP:g} (not used for the targets):",
        "",
        "| source | f | " + " | ".join(methods) + " |",
        "|" + "---|" * (len(methods) + 2),
    ]
    for (source, fraction), by_method in grouped(rows).items():
        cells = [f"{fmt(by_method[m]['nll_median'])} / {fmt(by_method[m]['nll_capped'])}" for m in methods]
        lines.append(f"| {source} | {fraction:.1f} | " + " | ".join(cells) + " |")

    records = target_rows(rows)
    if records:
        lines += [
            "",
            (
                "Targets per source (fractions where curvecast meets each): mean and median NLL below both baselines; final_err ≤ "
                f"the better baseline's; coverage90 in [{COVERAGE_TARGET[0]}, {COVERAGE_TARGET[1]}]."
            ),
            "",
            "| source | nll | final_err | coverage90 |",
            "|---|---|---|---|",
        ]
        sources = list(dict.fromkeys(r["source"] for r in records))
        for source in sources:
            mine = [r for r in records if r["source"] == source]
            lines.append(f"| {source} | " + " | ".join(f"{sum(r[k] for r in mine)}/{len(mine)}" for k in TARGET_KEYS) + " |")
        lines.append("| all | " + " | ".join(f"{sum(r[k] for r in records)}/{len(records)}" for k in TARGET_KEYS) + " |")

    robust = [(key, by_method["curvecast"]["bootstrap"]) for key, by_method in grouped(rows).items()
              if "bootstrap" in by_method.get("curvecast", {})]
    if robust:
        n_resamples = robust[0][1]["n_resamples"]
        lines += [
            "",
            (
                f"How robust each target is to the sample of curves: the share of {n_resamples} paired resamples of "
                "a cell's curves (with replacement, the same resample for every method) in which curvecast meets it, "
                "and the 5–95% range of its coverage90 over them (`--bootstrap`)."
            ),
            "",
            "| source | f | nll | final_err | coverage90 | coverage90 5–95% |",
            "|---|---|---|---|---|---|",
        ]
        for (source, fraction), b in robust:
            lines.append(
                f"| {source} | {fraction:.1f} | {b['p_nll']:.2f} | {b['p_final_err']:.2f} | {b['p_coverage']:.2f} | "
                f"{b['coverage90_q05']:.3f}–{b['coverage90_q95']:.3f} |"
            )
        shares = {label: [b[f"p_{k}"] for _, b in robust] for label, k in zip(("nll", "final_err", "coverage90"), TARGET_KEYS)}
        summary = ", ".join(
            f"{label} {sum(p >= 0.95 for p in ps)} firm / {sum(0.05 < p < 0.95 for p in ps)} uncertain / "
            f"{sum(p <= 0.05 for p in ps)} firmly missed"
            for label, ps in shares.items()
        )
        expected = " / ".join(f"{sum(ps):.1f}" for ps in shares.values())
        lines += ["", f"Cells met in at least 95% of resamples (firm), in at most 5% (firmly missed), or between: {summary}. "
                      f"Expected targets met over resamples (nll / err / cov): {expected} of {len(robust)}."]

    pl_rows = [r for r in rows if r["method"] == "power_law"]
    if any(r["n_fallbacks"] for r in pl_rows):
        total = sum(r["n_fallbacks"] for r in pl_rows)
        curves = sum(r["n_curves"] for r in pl_rows)
        note = (
            f"power_law fell back to last_value on {total} of {curves} curves (fewer than 4 observed points, "
            "a flat observed part, or a failed fit)."
        )
        lines += ["", note]
    nonfinite = {r["method"]: 0 for r in rows}
    for r in rows:
        nonfinite[r["method"]] += r["n_nonfinite"]
    if any(nonfinite.values()):
        counts = ", ".join(f"{m} {n}" for m, n in nonfinite.items() if n)
        lines += ["", f"Held-out points with zero or NaN density (scored as NLL {-LOGPDF_FLOOR:g}): {counts}."]
    footer = (
        f"Model: {meta.get('model_path') or '(none)'}. Wall time {meta['wall_time_s']:.0f} s on {meta['platform']} "
        f"({meta['cpu_count']} CPUs), torch {meta['torch_version']}, {meta['timestamp']}."
    )
    lines += ["", footer, ""]
    return "\n".join(lines)


def json_safe(value: object) -> object:
    """NaN and inf as None, so the JSON file is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="See the module docstring for the protocol."
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of the real-curve *.parquet files (default: ../shared/data/realcurves)")
    parser.add_argument("--model", default=None, help="curvecast model path (default: the shipped model)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--sources", nargs="+", default=None, help="only these sources (default: all)")
    parser.add_argument("--max-curves", type=int, default=300, help="curves per source, a random subset (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the curve subset (default 0)")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS),
                        help="observed fractions (default 0.2 0.4 0.6)")
    parser.add_argument("--power-law-predictive", choices=POWER_LAW_PREDICTIVES, default="gaussian",
                        help="power_law's predictive distribution (default gaussian, as in the protocol)")
    parser.add_argument("--batch-size", type=int, default=CHUNK, help=f"curves per curvecast call (default {CHUNK})")
    parser.add_argument("--schedule", action="append", default=[], metavar="SOURCE=NAME",
                        help="tell curvecast the LR schedule family of a source's runs that record total_steps (e.g. modded_nanogpt=wsd)")
    parser.add_argument("--isoflop", action="append", default=[], metavar="SOURCE=KEY",
                        help="tell curvecast that a source's curves are isoFLOP profiles (x = model size) whose FLOP budget is "
                             "config[KEY] (e.g. porian2024_isoflop=C): they are read as tables of finished runs")
    parser.add_argument("--by-direction", action="store_true",
                        help="also report every cell's losses (direction min) and accuracies (max) apart")
    parser.add_argument("--by-metric", action="store_true",
                        help="also report every cell's metrics (Pythia's benchmarks, Gemstones' losses and tasks, ...) apart")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="B",
                        help="resample each cell's curves B times (paired across methods) and report how often each target holds")
    parser.add_argument("--raw", action="store_true", help="score the network without its calibration (temperature 1, spread 1)")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers and metadata here")
    parser.add_argument("--markdown", type=Path, default=None, help="write a markdown section here")
    args = parser.parse_args(argv)
    if args.max_curves < 1:
        parser.error("--max-curves must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.bootstrap < 0:
        parser.error("--bootstrap is a number of resamples: 0 (off) or more")
    for item in args.schedule:
        source, _, name = item.partition("=")
        if not source or name not in ("constant", "cosine", "linear", "wsd"):
            parser.error(f"--schedule takes SOURCE=NAME with NAME one of constant, cosine, linear, wsd; got {item!r}")
    for item in args.isoflop:
        source, _, key = item.partition("=")
        if not source or not key:
            parser.error(f"--isoflop takes SOURCE=KEY, the config key that holds the source's FLOP budget; got {item!r}")
    if not all(0 < f < 1 for f in args.fractions):
        parser.error("--fractions must lie in (0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    wall_start = time.perf_counter()
    command = shlex.join(["python", "benchmarks/realcurves.py", *argv])
    try:
        curves = load_curves(args.data, args.sources)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    methods: dict[str, Method] = {}
    model_meta: dict = {"model": args.model, "model_path": None}
    for name in args.methods:
        if name == "last_value":
            methods[name] = predict_last_value
        elif name == "power_law":
            methods[name] = functools.partial(predict_power_law, predictive=args.power_law_predictive)
        else:
            try:
                methods[name], model_meta = curvecast_method(
                    args.model,
                    args.batch_size,
                    dict(item.split("=", 1) for item in args.schedule),
                    raw=args.raw,
                    isoflop=dict(item.split("=", 1) for item in args.isoflop),
                )
            except curvecast.errors.CheckpointError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
    methods = {m: methods[m] for m in METHODS if m in methods}  # fixed column order

    rows = run_benchmark(curves, methods, args.max_curves, args.seed, args.fractions, by_direction=args.by_direction,
                         bootstrap=args.bootstrap, by_metric=args.by_metric)
    wall = time.perf_counter() - wall_start

    import torch

    meta = {
        "command": command,
        **model_meta,
        "methods": list(methods),
        "power_law_predictive": args.power_law_predictive,
        "data": str(args.data.resolve()),
        "max_curves": args.max_curves,
        "seed": args.seed,
        "fractions": list(args.fractions),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": wall,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    with pd.option_context("display.width", 250, "display.max_rows", None, "display.float_format", fmt):
        print(results_table(rows).to_string(index=False))
        if args.by_direction:
            print(split_table(rows).to_string(index=False))
        if args.by_metric:
            print(split_table(rows, "by_metric", "metric").to_string(index=False))
    if args.json:
        payload = {"meta": meta, "results": rows, "targets": target_rows(rows)}
        args.json.write_text(json.dumps(json_safe(payload), indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown_report(rows, command, list(methods), meta))
    print(f"wall time {wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
