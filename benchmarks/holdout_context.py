"""How many smaller runs a ladder's hold-out is predicted from, scored against validation (issue 7's transfer gap).

    python benchmarks/holdout_context.py --json benchmarks/results/holdout_context.json

``benchmarks/scaling.py`` scores the largest, 2nd and 3rd largest run of each size ladder, each predicted from
the strictly smaller runs; ``benchmarks/calibrate.py`` chooses the ladders' temperature and pool weights on the
4th-6th largest, which the benchmark does not score. This script sets the two side by side for the answer
``scaling.predict_final`` gives (``final``), per number of context runs: 90% coverage and ``k90``, the factor by
which every interval's half-widths (median to each end) would have to be scaled for 90% coverage (1: calibrated;
below 1: too wide). The scored side is read from ``--scored`` (a ``benchmarks/scaling.py --json`` file holding
``per_target``); the validation side is predicted here (shipped default and tables models; about 8 minutes on
one busy core).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import curvecast

HERE = Path(__file__).resolve().parent
SOURCES = ("pythia", "gemstones", "gadre_curves")


def _load(name: str, filename: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def summary(records: Sequence[dict]) -> dict[str, float]:
    """Coverage of the central 90% intervals and ``k90`` of records holding ``y_true``, ``median``, ``q05``, ``q95``."""
    y = np.array([r["y_true"] for r in records])
    m = np.array([r["median"] for r in records])
    lo = np.array([r["q05"] for r in records])
    hi = np.array([r["q95"] for r in records])
    # How far out each truth lies, in units of the half-width on its side of the median.
    reach = np.where(y > m, (y - m) / np.maximum(hi - m, 1e-300), (m - y) / np.maximum(m - lo, 1e-300))
    return {"n": len(records), "coverage90": float(np.mean(reach <= 1.0)), "k90": float(np.quantile(reach, 0.9))}


def by_context(records: Sequence[dict], key: str) -> dict[str, dict[str, dict[str, float]]]:
    groups: dict[tuple[str, float, int], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["source"], float(r["fraction"]), int(r[key]))].append(r)
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (source, fraction, count), rows in sorted(groups.items()):
        out[f"{source} f={fraction:g}"][str(count)] = summary(rows)
    return dict(out)


def validation_records(data: Path, sources: Sequence[str], seed: int) -> list[dict]:
    cal = _load("calibrate", "calibrate.py")
    sc = cal._load_sibling("scaling_benchmark", "scaling.py")
    model, table_model = curvecast.load(), curvecast.scaling.load_table_predictor()
    out = []
    for source in sources:
        groups = sc.load_groups(data.resolve(), source)
        for fraction in sc.FRACTIONS:
            tasks = [t for g in groups for t in cal.validation_run_tasks(sc, g, fraction, seed)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                outcomes = sc.method_outcomes("final", tasks, model, seed, source, table_model=table_model)
            for task, outcome in zip(tasks, outcomes):
                if outcome is None:
                    continue
                out += [{**r, "n_context": len(task.context)} for r in sc.target_records(source, "final", task, outcome) if "nll" in r]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "realcurves")
    parser.add_argument("--scored", type=Path, default=HERE / "results" / "scaling.json", help="benchmarks/scaling.py --json output")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write both tables here")
    args = parser.parse_args(argv)
    scored = [
        r for r in json.loads(args.scored.read_text())["per_target"]
        if r["method"] == "final" and r["source"] in args.sources and r.get("error") is None and r.get("q05") is not None
    ]
    result = {
        "scored": by_context(scored, "n_context"),
        "validation": by_context(validation_records(args.data, args.sources, args.seed), "n_context"),
    }
    for side in ("scored", "validation"):
        print(f"\n{side} (answer: final)")
        for cell, counts in result[side].items():
            row = "  ".join(f"{c} runs: cov {s['coverage90']:.2f} k90 {s['k90']:.2f} (n {s['n']})" for c, s in counts.items())
            print(f"  {cell:<20} {row}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
