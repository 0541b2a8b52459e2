"""How many smaller runs a ladder's hold-out is predicted from, scored against validation (issue 7's transfer gap).

    python benchmarks/holdout_context.py --json benchmarks/results/holdout_context.json

``benchmarks/scaling.py`` scores the largest, 2nd and 3rd largest run of each size ladder, each predicted from
the strictly smaller runs; ``benchmarks/calibrate.py`` chooses the ladders' temperature and pool weights on the
4th-6th largest, which the benchmark does not score. This script sets the two side by side for the answer
``scaling.predict_final`` gives (``final``), per number of context runs: 90% coverage and ``k90``, the factor by
which every interval's half-widths (median to each end) would have to be scaled for 90% coverage (1: calibrated;
below 1: too wide). The scored side is read from ``--scored`` (a ``benchmarks/scaling.py --json`` file holding
``per_target``); the validation side is predicted here (shipped default and tables models; about 8 minutes on
one busy core). ``--prior-tasks`` adds the same question on the tables model's own training prior (quiet size
ladders of 8 or more sizes, the largest run read from the ``k`` largest smaller ones; 30 s).
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


def prior_ladders(n_tasks: int, seed: int, counts: Sequence[int] = (3, 4, 5, 6, 7), p_quiet_sweep: float = 0.9) -> dict[str, dict[str, float]]:
    """The same question on the tables model's own training prior: size ladders (no free hyperparameters, tables,
    single runs or replicates; quiet as in its training) with 8 or more distinct sizes, the largest run's final
    value predicted from the ``k`` largest smaller runs' (``scaling.fit_runs``), for each ``k`` in ``counts``."""
    import torch
    from curvecast.priors import CurvePrior

    context_runs = _load("context_runs_benchmark", "context_runs.py")
    tables = curvecast.scaling.load_table_predictor()
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in tables.config["prior"]["params"].items()}
    overrides = {"p_table": 0.0, "p_single_run": 0.0, "p_replicates": 0.0, "p_free_hparams": 0.0, "p_quiet_sweep": p_quiet_sweep}
    batch = CurvePrior(**{**params, **overrides}).sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    records: dict[int, list[dict]] = defaultdict(list)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
        for t in range(batch.n_tasks):
            runs = []
            for r in range(batch.point_mask.shape[1]):
                config = context_runs.run_config(batch, t, r)
                if int(batch.point_mask[t, r].sum()) >= 2 and "n_params" in config and "n_tokens" in config:
                    runs.append(curvecast.Run(*context_runs.observed(batch, t, r), config, name=f"r{r}"))
            runs.sort(key=lambda run: run.config["n_params"])
            if len(runs) < 8 or len({run.config["n_params"] for run in runs}) != len(runs):
                continue
            direction = "min" if int(batch.direction[t]) == 1 else "max"
            target = runs[-1]
            for k in counts:
                law = curvecast.scaling.fit_runs(runs[-1 - k : -1], direction=direction, model=tables)
                p = law.predict([target.config["n_params"]], [target.config["n_tokens"]])
                low, high = p.interval(0.9)
                records[k].append({"y_true": float(target.y[-1]), "median": float(p.median[0]), "q05": float(low[0]), "q95": float(high[0])})
    return {str(k): summary(rows) for k, rows in sorted(records.items())}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "realcurves")
    parser.add_argument("--scored", type=Path, default=HERE / "results" / "scaling.json", help="benchmarks/scaling.py --json output")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write both tables here")
    parser.add_argument("--prior-tasks", type=int, default=3000, help="tasks drawn from the tables model's prior (0: skip that side)")
    args = parser.parse_args(argv)
    scored = [
        r for r in json.loads(args.scored.read_text())["per_target"]
        if r["method"] == "final" and r["source"] in args.sources and r.get("error") is None and r.get("q05") is not None
    ]
    result = {
        "scored": by_context(scored, "n_context"),
        "validation": by_context(validation_records(args.data, args.sources, args.seed), "n_context"),
    }
    if args.prior_tasks:
        result["prior"] = {"tables model, quiet ladders of 8+ sizes": prior_ladders(args.prior_tasks, args.seed)}
    for side, cells in result.items():
        print(f"\n{side} (answer: final)" if side != "prior" else "\nprior (the largest run from the k largest smaller runs, read as a table)")
        for cell, counts in cells.items():
            row = "  ".join(f"{c} runs: cov {s['coverage90']:.2f} k90 {s['k90']:.2f} (n {s['n']})" for c, s in counts.items())
            print(f"  {cell:<20} {row}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
