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

With ``--model``, it also asks a model about clean synthetic sweeps (finals exactly ``E + A / N^a`` plus a
shared power law in steps; five sizes over two decades, 12 draws): the median error and 90% band width of its
forecast for an unseen run, as shares of the range of the sweep's finals, where the unseen run repeats a
context run's size ("copy"), lies between two sizes ("between") or is 3x larger than the largest ("3x larger"),
given the other runs as finished curves or as table rows (one final point each).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import warnings
from collections.abc import Sequence
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


def prior_gaps(prior: CurvePrior, n_tasks: int, seed: int) -> list[float]:
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    i_n = config_index("n_params")
    gaps: list[float] = []
    for task in range(batch.n_tasks):
        runs = [r for r in range(batch.n_runs) if bool(batch.point_mask[task, r].any())]
        if len(runs) < 3 or bool(batch.hparam_mask[task].any()):
            continue
        sizes = np.array([float(batch.config[task, r, i_n]) for r in runs])
        ends = np.array([float(batch.x[task, r][batch.point_mask[task, r]][-1]) for r in runs])
        if np.ptp(np.log10(sizes)) < MIN_DECADES or np.ptp(np.log(ends)) > 1e-6:
            continue
        gaps += interpolation_gaps(sizes, [float(batch.y[task, r][batch.point_mask[task, r]][-1]) for r in runs])
    return gaps


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
            for case, n in (("copy", sizes[2]), ("between", math.sqrt(sizes[1] * sizes[2])), ("3x larger", 3 * sizes[-1])):
                pred = model.predict([], [], [x[-1]], direction="min", config={"n_params": n, "n_tokens": tokens}, runs=runs)
                (q05,), (q95,) = pred.quantile([0.05, 0.95])
                truth = curve(n)[-1]
                scores.setdefault(f"{layout}, {case}", []).append((abs(pred.median[0] - truth) / span, (q95 - q05) / span, bool(q05 <= truth <= q95)))
    out = {}
    for name, rows in scores.items():
        v = np.array(rows, dtype=np.float64)
        out[name] = {"err": float(np.median(v[:, 0])), "width": float(np.median(v[:, 1])), "cov90": float(v[:, 2].mean())}
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

    results: dict[str, dict] = {"real": {}, "prior": {}}
    print("| sweeps | inner runs | median gap | 75% | 90% |")
    print("|---|---|---|---|---|")
    data = Path(args.data)
    if data.is_dir():
        for source, gaps in real_gaps(data).items():
            results["real"][source] = summary = summarize(gaps)
            print(_row(source, summary))
    else:
        print(f"(no real curves: {data} does not exist; pass --data DIR)")
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.prior)}
    results["prior"] = summary = summarize(prior_gaps(CurvePrior(**overrides), args.tasks, 0))
    print(_row(f"**prior {overrides or 'default'}**", summary))
    if args.model:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CurvecastWarning)
            results["clean_sweeps"] = clean = clean_sweep_scores(curvecast.load(None if args.model == "default" else args.model))
        print("\n| clean sweep, unseen run | median error / range | 90% band width / range | covered |")
        print("|---|---|---|---|")
        for name, s in clean.items():
            print(f"| {name} | {s['err']:.3f} | {s['width']:.2f} | {s['cov90']:.2f} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
