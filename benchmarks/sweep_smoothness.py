"""How closely do the final values of a size sweep follow model size? Real sweeps against the prior.

    python benchmarks/sweep_smoothness.py                         # real size sweeps, then the default prior
    python benchmarks/sweep_smoothness.py --prior p_tuned_lr=0.8

A size sweep is a group of runs of one setup that differ in model size N (``benchmarks/scaling.py``'s
Gemstones, Pythia and Gadre curve groups; in the prior, curve tasks whose runs have distinct sizes spanning at
least a decade, all ending at the same x, without free hyperparameters). For every run but the smallest and
the largest, the **interpolation gap** is ``|final - linear interpolation in log N of its two neighbours'
finals| / range of the sweep's finals``. It is the question a multi-run forecast of an unseen size answers
("how would a model between these two do?"): the prior's answer to it is what the network learns. Where the
prior's gaps are wider than real ones, the model's bands for unseen runs are wider than real sweeps need.

A second table compares two shapes of the same sweeps (values read at the sweep's common last x): the **size
effect**, how much a decade of model size improves the final value over how much the second half of training
improves the largest run (where real runs sit against the prior's: a prior whose size effects are weak teaches
the network to repeat the nearest run's value for a larger one), and the **line share**, the trend share (below)
that a straight line in log N through the 2nd and 3rd largest runs makes for the largest.

With ``--model``, it also asks a model about clean synthetic sweeps (finals exactly ``E + A / N^a`` plus a
shared power law in steps; five sizes over two decades, 12 draws): the median error and 90% band width of its
forecast for an unseen run, as shares of the range of the sweep's finals, where the unseen run repeats a
context run's size ("copy"), lies between two sizes ("between") or is 3x or 10x larger than the largest,
given the other runs as finished curves or as table rows (one final point each). For the unseen runs larger
than every context run it also reports the **trend share**: of the true change in the final value from the
largest context run's to the unseen run's, the share the forecast's median makes (1: the size trend followed,
0: the largest context run's value repeated, negative: the wrong way). On real sweeps (the held-out runs of
``benchmarks/scaling.py`` with nothing of them seen, larger than all their context runs) it reports the same
share, and that of a straight line in log N through the two largest context runs' values, for comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import curvecast
from curvecast.errors import CurvecastWarning
from curvecast.priors import CurvePrior
from curvecast.priors.batch import config_index

HERE = Path(__file__).resolve().parent
REAL_SOURCES = ("gemstones", "pythia", "gadre_curves")
MIN_DECADES = 1.0


def _scaling():
    """benchmarks/scaling.py as a module (benchmarks/ is no package)."""
    name = "scaling_benchmark"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def interpolation_gaps(n_params: Sequence[float], finals: Sequence[float]) -> list[float]:
    """Per inner run (by size): ``|final - interpolation of its neighbours in log N| / range of finals``.
    Empty for fewer than 3 runs, repeated sizes or equal finals."""
    log_n, y = np.log(np.asarray(n_params, dtype=np.float64)), np.asarray(finals, dtype=np.float64)
    order = np.argsort(log_n)
    log_n, y = log_n[order], y[order]
    span = float(np.ptp(y)) if y.size else 0.0
    if y.size < 3 or not span > 0 or np.any(np.diff(log_n) <= 0):
        return []
    w = (log_n[1:-1] - log_n[:-2]) / (log_n[2:] - log_n[:-2])
    return list(np.abs(y[1:-1] - ((1.0 - w) * y[:-2] + w * y[2:])) / span)


def real_gaps(data: Path) -> dict[str, list[float]]:
    sc = _scaling()
    out: dict[str, list[float]] = {}
    for source in REAL_SOURCES:
        gaps: list[float] = []
        for group in sc.load_groups(data, source):
            sizes = np.array([run.n_params for run in group.runs])
            known = np.isfinite(sizes)
            if known.sum() >= 3 and np.ptp(np.log10(sizes[known])) >= MIN_DECADES:
                gaps += interpolation_gaps(sizes[known], [run.y[-1] for run, k in zip(group.runs, known) if k])
        out[source] = gaps
    return out


def trend_share(reference: float, median: float, truth: float) -> float:
    """Share of the true change from ``reference`` (the largest context run's value) to ``truth`` that a forecast
    with ``median`` makes: 1 follows the trend exactly, 0 repeats the reference, below 0 moves the wrong way."""
    change = truth - reference
    if change == 0:
        raise ValueError("no change to share: the truth equals the reference")
    return (median - reference) / change


def line_in_log_n(sizes: Sequence[float], values: Sequence[float], n: float) -> float:
    """The straight line in log N through two (size, value) points, at size ``n``."""
    (n1, n2), (y1, y2) = sizes, values
    return y2 + (y2 - y1) * (math.log(n) - math.log(n2)) / (math.log(n2) - math.log(n1))


#: A trend share is scored only where the true change from the reference is at least this share of the scale
#: (a held-out run's, or a sweep's range of finals): a share of almost no change is noise.
MIN_CHANGE = 0.05


def _quartiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"q25": math.nan, "median": math.nan, "q75": math.nan}
    q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    return {"q25": float(q25), "median": float(q50), "q75": float(q75)}


@dataclass(frozen=True)
class Sweep:
    """One size sweep: its runs' sizes, their values at the sweep's common last x (lower is better: accuracies
    negated) and the largest run's late progress (its value at half that x minus its value there; NaN where the
    run starts later)."""

    sizes: np.ndarray
    finals: np.ndarray
    late_progress: float


def late_half_progress(x: np.ndarray, y: np.ndarray, end: float) -> float:
    """How much a run (lower is better) improves from ``end / 2`` to ``end``, interpolated; NaN if it starts later."""
    if x[0] > end / 2 or x[-1] < end:
        return math.nan
    return float(np.interp(end / 2, x, y) - np.interp(end, x, y))


def size_effect(sweep: Sweep) -> float:
    """How much a decade of model size improves the final value, over how much the second half of training
    improves the largest run: ``(final of the smallest - final of the largest) / decades / late progress``
    (NaN without late progress)."""
    order = np.argsort(sweep.sizes)
    decades = math.log10(sweep.sizes[order[-1]] / sweep.sizes[order[0]])
    if not sweep.late_progress > 0 or not decades > 0:
        return math.nan
    return float((sweep.finals[order[0]] - sweep.finals[order[-1]]) / decades / sweep.late_progress)


def line_share(sweep: Sweep) -> float:
    """The trend share (:func:`trend_share`) that a straight line in log N through the 2nd and 3rd largest runs
    makes for the largest: how far a sweep's trend carries on. NaN with fewer than 3 runs or no change to share
    (under ``MIN_CHANGE`` of the finals' range)."""
    order = np.argsort(sweep.sizes)
    s, f = sweep.sizes[order], sweep.finals[order]
    change = abs(f[-1] - f[-2])
    if s.size < 3 or not (change > 0 and change >= MIN_CHANGE * np.ptp(f)) or not s[-3] < s[-2]:
        return math.nan
    return trend_share(f[-2], line_in_log_n(s[-3:-1], f[-3:-1], s[-1]), f[-1])


def real_sweeps(data: Path) -> dict[str, list[Sweep]]:
    """The real size sweeps of ``REAL_SOURCES`` (at least 3 known distinct sizes over ``MIN_DECADES``), each run's
    value read at the sweep's shortest run's last x."""
    sc = _scaling()
    out: dict[str, list[Sweep]] = {}
    for source in REAL_SOURCES:
        sweeps = []
        for group in sc.load_groups(data, source):
            runs = [r for r in group.runs if np.isfinite(r.n_params)]
            sizes = np.array([r.n_params for r in runs])
            if len(runs) < 3 or np.unique(sizes).size < sizes.size or np.ptp(np.log10(sizes)) < MIN_DECADES:
                continue
            sign = 1.0 if group.direction == "min" else -1.0
            end = min(float(r.x[-1]) for r in runs)
            finals = np.array([sign * float(np.interp(end, r.x, r.y)) for r in runs])
            largest = runs[int(np.argmax(sizes))]
            sweeps.append(Sweep(sizes, finals, late_half_progress(largest.x, sign * largest.y, end)))
        out[source] = sweeps
    return out


def prior_sweeps(prior: CurvePrior, n_tasks: int, seed: int) -> list[Sweep]:
    """The size sweeps of ``n_tasks`` prior tasks: runs with distinct sizes over ``MIN_DECADES``, all ending at
    the same x, without free hyperparameters."""
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    i_n = config_index("n_params")
    sweeps = []
    for task in range(batch.n_tasks):
        runs = [r for r in range(batch.n_runs) if bool(batch.point_mask[task, r].any())]
        if len(runs) < 3 or bool(batch.hparam_mask[task].any()):
            continue
        sizes = np.array([float(batch.config[task, r, i_n]) for r in runs])
        xs = [batch.x[task, r][batch.point_mask[task, r]].numpy().astype(np.float64) for r in runs]
        if np.ptp(np.log10(sizes)) < MIN_DECADES or np.ptp(np.log([x[-1] for x in xs])) > 1e-6:
            continue
        sign = float(batch.direction[task])
        ys = [sign * batch.y[task, r][batch.point_mask[task, r]].numpy().astype(np.float64) for r in runs]
        big = int(np.argmax(sizes))
        sweeps.append(Sweep(sizes, np.array([y[-1] for y in ys]), late_half_progress(xs[big], ys[big], float(xs[big][-1]))))
    return sweeps


def sweep_gaps(sweeps: Sequence[Sweep]) -> list[float]:
    """The interpolation gaps of every inner run of ``sweeps``."""
    return [g for sweep in sweeps for g in interpolation_gaps(sweep.sizes, sweep.finals)]


def prior_gaps(prior: CurvePrior, n_tasks: int, seed: int) -> list[float]:
    return sweep_gaps(prior_sweeps(prior, n_tasks, seed))


def shape_summary(sweeps: Sequence[Sweep]) -> dict[str, float]:
    """Quartiles of :func:`size_effect` and :func:`line_share` over ``sweeps`` (NaNs left out)."""
    effects = [v for v in map(size_effect, sweeps) if np.isfinite(v)]
    shares = [v for v in map(line_share, sweeps) if np.isfinite(v)]
    return {"sweeps": len(sweeps), "n_effect": len(effects), **{f"effect_{k}": v for k, v in _quartiles(effects).items()},
            "n_line": len(shares), **{f"line_{k}": v for k, v in _quartiles(shares).items()}}


def real_size_response(model, data: Path, sources: Sequence[str] = REAL_SOURCES) -> dict[str, dict[str, float]]:
    """Per source: the trend share (:func:`trend_share`) of ``model``'s multi-run forecast of every held-out run of
    ``benchmarks/scaling.py`` seen not at all and larger than each of its context runs, and that of a line in log N
    through the two largest context runs' values. Each reference value is read at the held-out run's last x
    (interpolated), so runs that stop short of it are left out."""
    sc = _scaling()
    out: dict[str, dict[str, float]] = {}
    for source in sources:
        model_shares, line_shares = [], []
        for group in sc.load_groups(data, source):
            for task in sc.curve_tasks(group, 0.0):
                by_size = sorted(task.context_runs, key=lambda r: r.n_params)
                if len(by_size) < 2 or not task.run.n_params > by_size[-1].n_params > by_size[-2].n_params:
                    continue
                refs = [float(np.interp(task.x_final, r.x, r.y)) if r.x[0] <= task.x_final <= r.x[-1] else math.nan for r in by_size[-2:]]
                truth, scale = float(task.y_true[0]), float(task.scale[0])
                if not np.all(np.isfinite(refs)) or abs(truth - refs[1]) < MIN_CHANGE * scale:
                    continue
                outcome = sc.multi_curve(model, task)
                if outcome.pred is None:
                    continue
                model_shares.append(trend_share(refs[1], float(outcome.pred.median[0]), truth))
                line = line_in_log_n([by_size[-2].n_params, by_size[-1].n_params], refs, task.run.n_params)
                line_shares.append(trend_share(refs[1], line, truth))
        out[source] = {"n": len(model_shares), **{f"model_{k}": v for k, v in _quartiles(model_shares).items()},
                       **{f"line_{k}": v for k, v in _quartiles(line_shares).items()}}
    return out


def clean_sweep_scores(model, n_draws: int = 12, seed: int = 0) -> dict[str, dict[str, float]]:
    """The model's forecasts for unseen runs of clean synthetic sweeps (see the module docstring)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(100.0, 10000.0, 40)
    scores: dict[str, list[tuple[float, float, bool]]] = {}
    for _ in range(n_draws):
        e, a, alpha, b, beta = rng.uniform(1.5, 3.0), rng.uniform(100, 1000), rng.uniform(0.2, 0.45), rng.uniform(2, 8), rng.uniform(0.2, 0.5)
        sizes = 10 ** rng.uniform(6.5, 7.5) * np.logspace(0, 2, 5)
        tokens = x[-1] * 1e6

        def curve(n: float) -> np.ndarray:
            return e + a / n**alpha + b / (x / 100.0) ** beta

        span = float(np.ptp([curve(n)[-1] for n in sizes]))
        for layout in ("curves", "table"):
            keep = slice(None) if layout == "curves" else slice(-1, None)
            runs = [curvecast.Run(x[keep], curve(n)[keep], {"n_params": n, "n_tokens": tokens}) for n in sizes]
            for case, n in (("copy", sizes[2]), ("between", math.sqrt(sizes[1] * sizes[2])), ("3x larger", 3 * sizes[-1]), ("10x larger", 10 * sizes[-1])):
                pred = model.predict([], [], [x[-1]], direction="min", config={"n_params": n, "n_tokens": tokens}, runs=runs)
                (q05,), (q95,) = pred.quantile([0.05, 0.95])
                truth = curve(n)[-1]
                share = trend_share(curve(sizes[-1])[-1], pred.median[0], truth) if n > sizes[-1] else math.nan
                scores.setdefault(f"{layout}, {case}", []).append((abs(pred.median[0] - truth) / span, (q95 - q05) / span, bool(q05 <= truth <= q95), share))
    out = {}
    for name, rows in scores.items():
        v = np.array(rows, dtype=np.float64)
        out[name] = {"err": float(np.median(v[:, 0])), "width": float(np.median(v[:, 1])), "cov90": float(v[:, 2].mean()),
                     "trend_share": float(np.median(v[:, 3])) if np.isfinite(v[:, 3]).all() else math.nan}
    return out


def summarize(gaps: Sequence[float]) -> dict[str, float]:
    if not gaps:
        return {"n": 0, "median": math.nan, "q75": math.nan, "q90": math.nan}
    q50, q75, q90 = np.quantile(gaps, [0.5, 0.75, 0.9])
    return {"n": len(gaps), "median": float(q50), "q75": float(q75), "q90": float(q90)}


def _row(name: str, s: dict[str, float]) -> str:
    return f"| {name} | {s['n']} | {s['median']:.3f} | {s['q75']:.3f} | {s['q90']:.3f} |"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "realcurves"), help="real-curve folder")
    parser.add_argument("--prior", nargs="*", default=[], metavar="FIELD=VALUE", help="CurvePrior fields to override (JSON values)")
    parser.add_argument("--tasks", type=int, default=10000, help="prior tasks drawn (seed 0)")
    parser.add_argument("--model", default=None, help="also score this model on clean synthetic sweeps ('default': the shipped one)")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    results: dict[str, dict] = {"real": {}, "prior": {}, "shape": {}}
    print("| sweeps | inner runs | median gap | 75% | 90% |")
    print("|---|---|---|---|---|")
    data = Path(args.data)
    shapes: dict[str, dict[str, float]] = {}
    if data.is_dir():
        for source, gaps in real_gaps(data).items():
            results["real"][source] = summary = summarize(gaps)
            print(_row(source, summary))
        shapes.update({source: shape_summary(sweeps) for source, sweeps in real_sweeps(data).items()})
    else:
        print(f"(no real curves: {data} does not exist; pass --data DIR)")
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.prior)}
    sweeps = prior_sweeps(CurvePrior(**overrides), args.tasks, 0)
    label = f"**prior {overrides or 'default'}**"
    results["prior"] = summary = summarize(sweep_gaps(sweeps))
    print(_row(label, summary))
    shapes[label] = shape_summary(sweeps)
    results["shape"] = shapes
    print("\n| sweeps | size effect per decade / late-half progress: n, median (q25–q75) | line share: n, median (q25–q75) |")
    print("|---|---|---|")
    for name, r in shapes.items():
        print(f"| {name} | {r['n_effect']}, {r['effect_median']:.2f} ({r['effect_q25']:.2f}–{r['effect_q75']:.2f}) | "
              f"{r['n_line']}, {r['line_median']:.2f} ({r['line_q25']:.2f}–{r['line_q75']:.2f}) |")
    if args.model:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CurvecastWarning)
            model = curvecast.load(None if args.model == "default" else args.model)
            results["clean_sweeps"] = clean = clean_sweep_scores(model)
        print("\n| clean sweep, unseen run | median error / range | 90% band width / range | covered | trend share |")
        print("|---|---|---|---|---|")
        for name, s in clean.items():
            share = "–" if math.isnan(s["trend_share"]) else f"{s['trend_share']:.2f}"
            print(f"| {name} | {s['err']:.3f} | {s['width']:.2f} | {s['cov90']:.2f} | {share} |")
        if data.is_dir():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CurvecastWarning)
                results["real_size_response"] = real = real_size_response(model, data)
            print("\n| real sweeps, held-out larger run | n | trend share, model: median (q25–q75) | line in log N through the two largest |")
            print("|---|---|---|---|")
            for source, r in real.items():
                print(f"| {source} | {r['n']} | {r['model_median']:.2f} ({r['model_q25']:.2f}–{r['model_q75']:.2f}) | "
                      f"{r['line_median']:.2f} ({r['line_q25']:.2f}–{r['line_q75']:.2f}) |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
