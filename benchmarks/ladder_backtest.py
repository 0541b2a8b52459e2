"""Does a size ladder's own backtest tell how wide its table reading should be? A diagnostic; it chooses nothing.

    python benchmarks/ladder_backtest.py --json benchmarks/results/ladder_backtest.json   # about 3 minutes on 2 CPU cores

``scaling.predict_final`` forecasts a ladder run not started from the other runs' final values read as a table
(``scaling.fit_runs``, the tables model). Its 90% bands are too narrow on Gemstones and too wide on Pythia
(``benchmarks/scaling.py``, ``final`` at f = 0), and one temperature cannot fix both. A per-ladder rule could: predict
the ladder's own largest context runs from its smaller ones (each from the runs strictly smaller than it, as the
benchmark predicts the held-out run), and widen or narrow the held-out run's band by how those backtests fared.

For every hold-out of ``benchmarks/scaling.py`` at f = 0 (size ladders: Gemstones, Pythia), this script reads
``z = (y - median) / h``, ``h`` half the width of the 90% interval (``|z| > 1``: outside it), for the held-out run
(``z_target``) and for the ladder's ``BACKTESTS`` largest context runs (``z_backtest``; backtests that would read
fewer than 3 runs are skipped). It reports per source the held-out runs' 90% coverage, the backtests' coverage, the
rank correlation of ``|z_target|`` with the backtests' root mean square, and the coverage the rule
``factor = clip(rms(z_backtest) / REFERENCE, *CLIP) ** w`` would give for each ``w`` in ``WEIGHTS`` (``w = 0``: the
band as it is). If backtests foretold the held-out run's error, the correlation would be clearly positive and some
``w`` would bring both sources into [0.85, 0.95].
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

import curvecast
import curvecast.scaling

_spec = importlib.util.spec_from_file_location("calibrate_benchmark", Path(__file__).resolve().with_name("calibrate.py"))
cal = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = cal
_spec.loader.exec_module(cal)
sc = cal._load_sibling("scaling_benchmark", "scaling.py")

#: The sources read (size ladders whose runs' sizes are known), the context runs backtested per hold-out, and the rule's constants.
SOURCES = ("gemstones", "pythia")
BACKTESTS = 2
REFERENCE = 0.8
CLIP = (0.5, 3.0)
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def band_z(prediction, y: float) -> float:
    """``(y - median) / h`` at the one query of ``prediction``, ``h`` half its 90% interval's width."""
    q05, median, q95 = np.ravel(np.asarray(prediction.quantile([0.05, 0.5, 0.95]), dtype=np.float64))
    return float((y - median) / ((q95 - q05) / 2.0))


def ladder_z(runs: Sequence[curvecast.Run], target: curvecast.Run, y_true: float, direction: str, model) -> float:
    """:func:`band_z` of ``target``'s final value read off ``runs``' final values as a table."""
    law = curvecast.scaling.fit_runs(runs, direction=direction, model=model)
    return band_z(law.predict([target.config["n_params"]], [target.config["n_tokens"]]), y_true)


def backtest_z(runs: Sequence[curvecast.Run], direction: str, model) -> list[float]:
    """:func:`ladder_z` of each of the ``BACKTESTS`` largest of ``runs`` from the runs strictly smaller than it."""
    sizes = np.array([r.config["n_params"] for r in runs], dtype=np.float64)
    out = []
    for k in np.argsort(-sizes, kind="stable")[:BACKTESTS]:
        smaller = [r for r, n in zip(runs, sizes, strict=True) if n < sizes[k]]
        if len(smaller) >= 3:
            out.append(ladder_z(smaller, runs[k], float(runs[k].y[-1]), direction, model))
    return out


def rule_coverage(z_target: np.ndarray, rms_backtest: np.ndarray, weight: float) -> float:
    """Coverage of the held-out runs when each band is scaled by ``clip(rms / REFERENCE, *CLIP) ** weight``."""
    factor = np.clip(rms_backtest / REFERENCE, *CLIP) ** weight
    return float(np.mean(np.abs(z_target) <= factor))


def summarize(records: Sequence[dict]) -> dict:
    """Per source: counts, coverages, the rank correlation and the rule's coverage per weight."""
    kept = [r for r in records if r["z_backtest"]]
    z_target = np.array([r["z_target"] for r in kept])
    rms = np.array([np.sqrt(np.mean(np.square(r["z_backtest"]))) for r in kept])
    backtests = np.concatenate([r["z_backtest"] for r in kept])
    return {
        "n_holdouts": len(records),
        "n_with_backtests": len(kept),
        "coverage90": float(np.mean(np.abs([r["z_target"] for r in records]) <= 1.0)),
        "backtest_coverage90": float(np.mean(np.abs(backtests) <= 1.0)),
        "spearman_abs_z_vs_rms_backtest": float(spearmanr(np.abs(z_target), rms).statistic),
        "rule_coverage90": {f"{w:g}": rule_coverage(z_target, rms, w) for w in WEIGHTS},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=cal.rc.DEFAULT_DATA, help="folder of the real-curve files (default: ../shared/data/realcurves)")
    parser.add_argument("--json", type=Path, help="write every hold-out's z values and the summaries here")
    args = parser.parse_args(argv)
    model = curvecast.scaling.load_table_predictor()
    records = []
    for source in SOURCES:
        groups = sc.select_groups(sc.load_groups(args.data.resolve(), source), None, 0)
        for task in (t for g in groups for t in sc.curve_tasks(g, 0.0, 0)):
            if not np.isfinite(task.run.n_params):
                continue
            target, runs = sc.placed_runs(task)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                z_target = ladder_z(runs, target, float(np.ravel(task.y_true)[0]), task.group.direction, model)
                z_back = backtest_z(runs, task.group.direction, model)
            records.append({"source": source, "group": task.group.name, "target": task.run.name, "z_target": z_target, "z_backtest": z_back})
    summaries = {source: summarize([r for r in records if r["source"] == source]) for source in SOURCES}
    for source, s in summaries.items():
        rules = "  ".join(f"w={w}: {c:.3f}" for w, c in s["rule_coverage90"].items())
        print(f"{source:>10}: {s['n_holdouts']} hold-outs, coverage {s['coverage90']:.3f}, backtests' coverage {s['backtest_coverage90']:.3f}, "
              f"rank correlation {s['spearman_abs_z_vs_rms_backtest']:+.3f}; with the rule {rules}")
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(["python", "benchmarks/ladder_backtest.py", *(argv or sys.argv[1:])]),
                                         "summaries": summaries, "records": records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
