"""How well calibrated is a model on curves of its own prior? Coverage and error of single-run loss curves.

    python benchmarks/prior_coverage.py                                 # the shipped model on the shipped prior's loss runs
    python benchmarks/prior_coverage.py --prior p_noiseless=1.0 --spread 1.0 --json noiseless.json
    python benchmarks/prior_coverage.py --model runs/probe --prior 'family_weights=[1,0,0,0,0,0]' 'schedule_weights=[1,0,0,0]'

Curves come from the shipped model's synthetic prior (``CurvePrior`` with its ``prior_overrides``, drawn as
``early_phase.py`` draws its prior loss runs) restricted to single-run loss tasks of full length without spikes,
divergences or double descent, with ``--prior`` overrides on top (JSON values); each is observed to the fraction f and scored exactly like ``realcurves.py`` (NLL, final error
and 90% coverage in units of the curve's range), given to the model without a config. On its own prior a
Bayes-optimal predictor covers 90% on any slice the observed points identify, so coverage far above 0.9 on, say,
noiseless curves (``p_noiseless=1.0``) says the network is under-confident there whatever the real curves do.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: The slice every run is drawn from, before ``--prior``: lone loss runs logged to their end, no rare events.
BASE_SLICE = {
    "p_single_run": 1.0,
    "p_max_direction": 0.0,
    "p_table": 0.0,
    "p_full_length": 1.0,
    "p_truncated": 0.0,
    "p_spike": 0.0,
    "p_divergence": 0.0,
    "p_double_descent": 0.0,
}


def _load_sibling(module_name: str, filename: str):
    """A script of benchmarks/ (no package) as a module, loaded once under ``module_name``."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HERE / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


ep = _load_sibling("early_phase_benchmark", "early_phase.py")
rc = ep.rc
MIN_POINTS = ep.MIN_POINTS


def prior_curves(overrides: dict, n_tasks: int, seed: int) -> list:
    """Single-run loss curves of the shipped prior's slice (``BASE_SLICE`` + ``overrides``, drawn by
    ``early_phase.prior_losses``) as ``realcurves.RealCurve``s, the ones ``realcurves.py`` would score (at least
    ``MIN_POINTS`` points, distinct x, not flat)."""
    curves = []
    for i, (x, y) in enumerate(ep.prior_losses({**BASE_SLICE, **overrides}, n_tasks, seed)):
        if np.ptp(y) <= 0 or len(np.unique(x)) != len(x):
            continue
        curve = rc.RealCurve(source="prior", curve_id=str(i), config="{}", x=x, y=y, metric_name="loss", direction="min")
        if rc.usable(curve):
            curves.append(curve)
    return curves


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="curvecast model path (default: the shipped model)")
    parser.add_argument("--prior", nargs="*", default=[], metavar="FIELD=VALUE", help="CurvePrior fields to override (JSON values)")
    parser.add_argument("--spread", type=float, help="score at this spread factor instead of the model's calibrated one")
    parser.add_argument("--tasks", type=int, default=200, help="prior tasks drawn")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--fractions", type=float, nargs="+", default=list(rc.FRACTIONS))
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.prior)}
    curves = prior_curves(overrides, args.tasks, args.seed)
    if not curves:
        parser.error(f"no prior task of this slice has {MIN_POINTS}+ usable points; draw more with --tasks")
    predict, meta = rc.curvecast_method(args.model, spread=args.spread)
    rows = []
    print(f"{len(curves)} prior loss curves, overrides {overrides or '{}'}, spread {meta['calibration']['spread']}")
    print("| f | nll | final err | coverage90 |")
    print("|---|---|---|---|")
    for fraction in args.fractions:
        tasks = rc.make_tasks(curves, fraction)
        metrics = rc.aggregate([rc.curve_metrics(task, pred) for task, pred in zip(tasks, predict(tasks), strict=True)])
        rows.append({"fraction": fraction, **metrics})
        print(f"| {fraction} | {metrics['nll']:.3f} | {metrics['final_err']:.4f} | {metrics['coverage90']:.3f} |", flush=True)
    if args.json:
        record = {"overrides": overrides, "tasks": args.tasks, "seed": args.seed, "model": meta, "results": rows}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
