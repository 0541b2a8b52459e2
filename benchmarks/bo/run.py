"""Benchmark the freeze-thaw BO loop against random search, Hyperband, ASHA and a full-fidelity GP.

    python benchmarks/bo/run.py --task lcdb --seeds 10 --json benchmarks/results/bo_lcdb.json --plot docs/bo_lcdb.png
    python benchmarks/bo/run.py --task live --seeds 10 --json benchmarks/results/bo_live.json --plot docs/bo_live.png

Every method gets the same total budget (``--budget-factor`` times the full budget: that many full runs'
worth), counted in the task's fidelity units (a run resumed from budget a to b costs b - a). Simple regret
is the true final value of the method's recommendation minus the best final value (LCDB: the best learner
of the dataset; live: the best final log-loss any method or a 64-config Sobol reference reached), signed so
lower is better. Reported: mean and standard deviation over seeds (LCDB: of the mean over datasets) at
25%, 50% and 100% of the budget, and the loop's own time per ``ask()``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np


def _load_sibling(module_name: str, filename: str):
    spec = importlib.util.spec_from_file_location(module_name, Path(__file__).resolve().with_name(filename))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


tasks_mod = _load_sibling("bo_bench_tasks", "tasks.py")
methods_mod = _load_sibling("bo_bench_methods", "methods.py")

FRACTIONS = [0.25, 0.5, 1.0]
GRID = [round(f, 4) for f in np.linspace(0.05, 1.0, 20)]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["lcdb", "live"], required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--datasets", type=int, default=8, help="LCDB datasets")
    ap.add_argument("--budget-factor", type=float, default=None, help="total budget in full runs (default: lcdb 5, live 15)")
    ap.add_argument("--methods", nargs="+", default=list(methods_mod.METHODS))
    ap.add_argument("--model", default=None, help="checkpoint folder for curvecast (default: the shipped model)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args(argv)
    unknown = sorted(set(args.methods) - set(methods_mod.METHODS))
    if unknown:
        ap.error(f"unknown methods {unknown}; choose from {list(methods_mod.METHODS)}")
    if {"hyperband", "asha"} & set(args.methods):
        try:
            import optuna  # noqa: F401  (checked before minutes of other methods are spent)
        except ImportError:
            ap.error("the hyperband and asha baselines need optuna: pip install -e '.[bench]' (or leave them out with --methods)")

    import curvecast

    predictor = curvecast.load(args.model)
    if args.task == "lcdb":
        tasks = tasks_mod.lcdb_tasks(args.datasets)
        factor = args.budget_factor or 5.0
    else:
        tasks = [tasks_mod.LiveMLPTask()]
        factor = args.budget_factor or 15.0
    traces: dict[str, dict[str, list]] = {m: {t.name: [] for t in tasks} for m in args.methods}
    extras: dict[str, list] = {m: [] for m in args.methods}
    seconds: dict[str, float] = {m: 0.0 for m in args.methods}
    for task in tasks:
        total = factor * task.max_budget
        for seed in range(args.seeds):
            for name in args.methods:
                t0 = time.perf_counter()
                trace, extra = methods_mod.METHODS[name](task, seed, total, predictor=predictor)
                seconds[name] += time.perf_counter() - t0
                traces[name][task.name].append(trace)
                if extra:
                    extras[name].append(extra)
            print(f"{task.name} seed {seed} done", file=sys.stderr, flush=True)

    result = {"task": args.task, "budget_factor": factor, "seeds": args.seeds, "tasks": [t.name for t in tasks], "model": args.model or "shipped default", "methods": {}}
    for task in tasks:
        if args.task == "live":
            from curvecast import bo

            space = bo.SearchSpace(task.space, warn=False)
            reference = space.decode(space.sample(64, seed=12345))
            ref_finals = [task.final(c) for c in reference]
            for name in args.methods:  # every recommendation's final value, before the best is taken
                for trace in traces[name][task.name]:
                    for _, config in trace:
                        task.final(config)
            seen = [errs[int(task.max_budget) - 1] for _, errs in task.runs.values() if len(errs) >= task.max_budget]
            task.best = min(seen + ref_finals)
            task.fallback = float(np.mean(ref_finals)) - task.best
        else:
            task.best = task.best_final
            task.fallback = float(np.mean([abs(task.best - y[-1]) for _, y in task.curves.values()]))
    result["best_final"] = {t.name: t.best for t in tasks}
    for name in args.methods:
        per_seed = np.zeros((args.seeds, len(GRID)))
        for task in tasks:
            total = factor * task.max_budget
            for s, trace in enumerate(traces[name][task.name]):
                r = methods_mod.regret_at(trace, GRID, total, task.final, task.best, task.sign)
                per_seed[s] += np.where(np.isnan(r), task.fallback, r) / len(tasks)
        summary = {
            "grid": GRID,
            "mean": per_seed.mean(0).tolist(),
            "std": per_seed.std(0).tolist(),
            "seconds": seconds[name],
        }
        for f in FRACTIONS:
            j = GRID.index(f)
            summary[f"regret@{int(f * 100)}%"] = {"mean": float(per_seed[:, j].mean()), "std": float(per_seed[:, j].std())}
        if extras[name]:
            summary["ask_s_mean"] = float(np.mean([e["ask_s_mean"] for e in extras[name]]))
            summary["ask_s_max"] = float(np.max([e["ask_s_max"] for e in extras[name]]))
            summary["asks_per_run"] = float(np.mean([e["asks"] for e in extras[name]]))
        result["methods"][name] = summary
    if "curvecast" in result["methods"]:
        ours = result["methods"]["curvecast"]
        baselines = {n: m for n, m in result["methods"].items() if not n.startswith("curvecast")}  # variants are not baselines
        result["beats_every_baseline"] = {
            f"{int(f * 100)}%": all(
                ours[f"regret@{int(f * 100)}%"]["mean"] < m[f"regret@{int(f * 100)}%"]["mean"] for m in baselines.values()
            )
            for f in FRACTIONS
        }
    table = _markdown(result)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.md:
        Path(args.md).write_text(table + "\n")
    if args.plot:
        _plot(result, args.plot)
    return result


def _markdown(result: dict) -> str:
    lines = [
        f"BO benchmark `{result['task']}`: {len(result['tasks'])} task(s), {result['seeds']} seeds, total budget {result['budget_factor']:g} full runs; "
        "simple regret mean ± sd over seeds (lower is better)",
        "",
        "| method | regret @25% | regret @50% | regret @100% | time per ask (s) |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["methods"].items():
        cells = [f"{m[f'regret@{p}%']['mean']:.4f} ± {m[f'regret@{p}%']['std']:.4f}" for p in (25, 50, 100)]
        ask = f"{m['ask_s_mean']:.3f} (max {m['ask_s_max']:.3f})" if "ask_s_mean" in m else "—"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ask} |")
    return "\n".join(lines)


def _plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in result["methods"].items():
        grid, mean, std = np.array(m["grid"]), np.array(m["mean"]), np.array(m["std"])
        ax.plot(grid * 100, mean, label=name, lw=2.2 if name == "curvecast" else 1.4)
        ax.fill_between(grid * 100, np.maximum(mean - std, 1e-6), mean + std, alpha=0.12)
    ax.set_xlabel("budget spent (% of total)")
    ax.set_ylabel("simple regret")
    ax.set_yscale("log")
    ax.set_title(f"BO on {result['task']} ({result['seeds']} seeds; mean ± sd)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
