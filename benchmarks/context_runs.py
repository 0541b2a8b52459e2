"""How many context runs a model reads well: unstarted runs of its own prior's tasks, predicted through the API.

    python benchmarks/context_runs.py --model default --grid 1 2 3 6 12 --json out.json

For each kind of task (``sweeps``: every task has free hyperparameters, half of them pure sweeps; ``ladders``: no
free hyperparameters, so runs differ in size, batch size, lr and length), ``--tasks`` tasks are drawn from the
model's own training prior (``config.json``'s ``prior.params``, without tables, single runs or replicates; seed
``--seed``). Tasks with at least 5 runs of 4 or more points are used: the first run is predicted at its last x
from its config alone (not started), the others are passed as ``runs`` with their configs and free
hyperparameters. For every ``context_runs`` in ``--grid`` it prints the mean NLL of the true final value (in
units of the run's range, each capped at 10) and the median absolute error of the median over that range.

On its own prior a network that used every run it reads well would do best with the most runs; the real-curve
hold-outs of ``benchmarks/calibrate.py --context-runs`` are what ``calibration.context_runs`` is chosen on.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

import curvecast
from curvecast.priors import CurvePrior
from curvecast.priors.batch import CONFIG_FIELDS, SCHEDULES, TaskBatch

NLL_CAP = 10.0
MIN_RUNS, MIN_POINTS = 5, 4
KINDS = {
    "sweeps": {"p_free_hparams": 1.0, "p_pure_sweep": 0.5},
    "ladders": {"p_free_hparams": 0.0},
}


def run_config(batch: TaskBatch, task: int, run: int) -> dict:
    """What the API is told about a prior run: its known config fields and its free hyperparameters (``h0``..)."""
    config = {}
    for i, name in enumerate(CONFIG_FIELDS):
        if batch.config_mask[task, run, i]:
            value = float(batch.config[task, run, i])
            config[name] = SCHEDULES[int(value)] if name == "schedule" else value
    if batch.hparam_mask is not None:
        for k in range(batch.hparams.shape[-1]):
            if batch.hparam_mask[task, run, k]:
                config[f"h{k}"] = float(batch.hparams[task, run, k])
    return config


def observed(batch: TaskBatch, task: int, run: int) -> tuple[np.ndarray, np.ndarray]:
    """A prior run's valid points as float64 arrays ``(x, y)``."""
    mask = batch.point_mask[task, run]
    return batch.x[task, run][mask].double().numpy(), batch.y[task, run][mask].double().numpy()


def api_tasks(batch: TaskBatch) -> list[dict]:
    """Per usable task: the target's config, last x, true final value and range, the other runs and the direction."""
    out = []
    for t in range(batch.n_tasks):
        mask = batch.point_mask[t]
        usable = [r for r in range(mask.shape[0]) if int(mask[r].sum()) >= MIN_POINTS]
        if len(usable) < MIN_RUNS:
            continue

        target, others = usable[0], usable[1:]
        x, y = observed(batch, t, target)
        out.append({
            "config": run_config(batch, t, target),
            "x_final": float(x[-1]),
            "y_final": float(y[-1]),
            "scale": max(float(np.ptp(y)), 1e-9),
            "runs": [curvecast.Run(*observed(batch, t, r), run_config(batch, t, r), name=f"r{r}") for r in others],
            "direction": "min" if int(batch.direction[t]) == 1 else "max",
        })
    return out


def score(model: curvecast.Predictor, tasks: Sequence[dict]) -> dict[str, float]:
    nll, err = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
        for task in tasks:
            pred = model.predict([], [], [task["x_final"]], direction=task["direction"], config=task["config"], runs=task["runs"])
            logpdf = float(pred.logpdf(np.array([task["y_final"]]))[0])
            nll.append(min(-logpdf - np.log(task["scale"]), NLL_CAP))
            err.append(abs(float(pred.median[0]) - task["y_final"]) / task["scale"])
    return {"nll_capped": float(np.mean(nll)), "err": float(np.median(err)), "n": len(nll)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="'default' or a checkpoint folder")
    parser.add_argument("--grid", type=int, nargs="+", default=[1, 2, 3, 6, 12])
    parser.add_argument("--tasks", type=int, default=300, help="tasks drawn per kind (those with 5+ runs are used)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model = curvecast.load(None if args.model == "default" else args.model)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in model.config["prior"]["params"].items()}
    results = {}
    for kind, overrides in KINDS.items():
        prior = CurvePrior(**{**params, "p_table": 0.0, "p_single_run": 0.0, "p_replicates": 0.0, **overrides})
        tasks = api_tasks(prior.sample(args.tasks, generator=torch.Generator().manual_seed(args.seed)))
        for k in args.grid:
            model.context_runs = min(k, model.max_curve_runs)
            scores = score(model, tasks)
            results[f"{kind}/{k}"] = scores
            print(f"{kind:>8} context_runs={k:<3d} capped nll {scores['nll_capped']:7.3f}  median err {scores['err']:.3f}  n {scores['n']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": str(model.path), "seed": args.seed, "tasks": args.tasks, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
