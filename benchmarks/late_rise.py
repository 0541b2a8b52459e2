"""Do runs that have started to get worse keep getting worse? Real curves against the prior.

    python benchmarks/late_rise.py                                   # real sources, then the default prior
    python benchmarks/late_rise.py --prior p_overfit=0.08 p_overfit_accuracy=0.02

For every curve (or prior run) with at least 6 points, the first 60% is the context. Oriented so that lower
is better, the context **ends in a rise** when its last point lies above its best point by more than
``max(0.1 * range, 3 * noise)`` (range and noise of the context; noise = half the median absolute second
difference), its best point is not among its last two, and it never falls by more than the noise after its
best point. For those curves the table says how the rest of the run went, comparing its last point with the
context's last point by the same margin: it **kept getting worse**, **came back** (got better), or neither.

This is the conditional that decides a forecast after a rise: the prior's answer is what the network learns.
Without overfitting in the prior, a rise is a spike that decays or a divergence that saturates, so its runs
come back more often than real ones (``CurvePrior.p_overfit`` documents the numbers).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from curvecast.priors import CurvePrior

HERE = Path(__file__).resolve().parent
CONTEXT = 0.6
MIN_POINTS = 6


def _realcurves():
    """benchmarks/realcurves.py as a module (benchmarks/ is no package), loaded once under the name that
    scaling.py, calibrate.py and the tests use."""
    name = "realcurves_benchmark"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "realcurves.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def late_rise(y: np.ndarray, direction: str) -> str | None:
    """``"worse"``, ``"back"`` or ``"neither"`` for a curve whose context ends in a rise; ``"flat"`` for one whose
    context does not; ``None`` for a curve too short to say."""
    y = np.asarray(y, dtype=np.float64) * (-1.0 if direction == "max" else 1.0)
    n = len(y)
    k = max(3, round(CONTEXT * n))
    if n < MIN_POINTS or n - k < 2:
        return None
    context = y[:k]
    span = float(np.ptp(context))
    if not span > 0:
        return None
    noise = float(np.median(np.abs(np.diff(context, 2)))) / 2.0
    margin = max(0.1 * span, 3.0 * noise)
    best = int(np.argmin(context))
    rising = context[-1] - context[best] > margin and best <= k - 3 and bool(np.all(np.diff(context[best:]) > -noise))
    if not rising:
        return "flat"
    if y[-1] > context[-1] + margin:
        return "worse"
    return "back" if y[-1] < context[-1] - margin else "neither"


def summarize(outcomes: Sequence[str | None]) -> dict[str, float]:
    kept = [o for o in outcomes if o is not None]
    rises = [o for o in kept if o != "flat"]
    out: dict[str, float] = {"curves": len(kept), "context_ends_in_rise": len(rises) / max(len(kept), 1), "rises": len(rises)}
    for what in ("worse", "back"):
        out[f"share_{what}"] = float(np.mean([o == what for o in rises])) if rises else float("nan")
    return out


def prior_outcomes(prior: CurvePrior, n_tasks: int, seed: int) -> dict[str, list[str | None]]:
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    out: dict[str, list[str | None]] = {"min": [], "max": []}
    for task in range(batch.n_tasks):
        direction = "min" if int(batch.direction[task]) > 0 else "max"
        for run in range(batch.n_runs):
            mask = batch.point_mask[task, run]
            if int(mask.sum()) >= MIN_POINTS:
                out[direction].append(late_rise(batch.y[task, run, mask].numpy(), direction))
    return out


def _row(name: str, s: dict[str, float]) -> str:
    return f"| {name} | {s['curves']} | {s['context_ends_in_rise']:.3f} | {s['rises']} | {s['share_worse']:.2f} | {s['share_back']:.2f} |"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "realcurves"), help="real-curve folder")
    parser.add_argument("--prior", nargs="*", default=[], metavar="FIELD=VALUE", help="CurvePrior fields to override (JSON values)")
    parser.add_argument("--tasks", type=int, default=3000, help="prior tasks drawn (seed 0)")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    results: dict[str, dict] = {"real": {}, "prior": {}}
    print("| curves | n | context ends in a rise | rises | kept getting worse | came back |")
    print("|---|---|---|---|---|---|")
    data = Path(args.data)
    if data.is_dir():
        rc = _realcurves()
        pooled: dict[str, list[str | None]] = {"min": [], "max": []}
        for source, curves in rc.load_curves(data).items():
            for direction in ("min", "max"):
                outcomes = [late_rise(c.y, c.direction) for c in curves if rc.usable(c) and c.direction == direction]
                if outcomes:
                    pooled[direction] += outcomes
                    results["real"][f"{source}/{direction}"] = summary = summarize(outcomes)
                    print(_row(f"{source} ({direction})", summary))
        for direction, outcomes in pooled.items():
            results["real"][f"all/{direction}"] = summary = summarize(outcomes)
            print(_row(f"**all real ({direction})**", summary))
    else:
        print(f"(no real curves: {data} does not exist; pass --data DIR)")
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.prior)}
    prior = CurvePrior(**overrides)
    for direction, outcomes in prior_outcomes(prior, args.tasks, 0).items():
        results["prior"][direction] = summary = summarize(outcomes)
        print(_row(f"**prior {overrides or 'default'} ({direction})**", summary))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
