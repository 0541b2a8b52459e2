"""The BO loop and its baselines, run at equal total budget on a benchmark task.

Every method returns a trace: ``(budget spent, recommended config)`` after each evaluation step, where
the recommendation is what the method would hand back if stopped there. Regret is computed from it.

- ``curvecast``: :class:`curvecast.bo.Optimizer` (freeze-thaw, one budget step per ask); recommends ``best()``;
  ``curvecast_ei`` the same with expected improvement instead of probability of improvement.
- ``random``: random configurations trained to the full budget; recommends the best final value.
- ``hyperband`` / ``asha``: Optuna's ``HyperbandPruner`` / ``SuccessiveHalvingPruner`` (reduction factor 3,
  random sampling, a report per budget step); recommends the best complete trial (before any completes:
  the best value at the largest budget reached).
- ``gp``: BoTorch ``SingleTaskGP`` + ``qLogExpectedImprovement`` at full fidelity (3 Sobol initial points,
  then the best of 512 Sobol candidates, snapped to the space); recommends the best final value.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch

from curvecast import bo

Trace = list[tuple[float, dict[str, Any]]]


def _better(sign: int, a: float, b: float) -> bool:
    return sign * a < sign * b


def run_curvecast(task: Any, seed: int, total: float, *, predictor: Any, checkpoints: int = 24, settings: Any = None) -> tuple[Trace, dict[str, float]]:
    opt = bo.Optimizer(
        task.space, max_budget=task.max_budget, direction=task.direction, seed=seed, budgets=task.budgets, predictor=predictor, settings=settings or bo.PolicySettings()
    )
    trace: Trace = []
    marks = list(np.linspace(total / checkpoints, total, checkpoints))
    ask_times = []
    while opt.budget_used < total:
        t0 = time.perf_counter()
        try:
            trial = opt.ask()
        except bo.SearchExhausted:
            break
        ask_times.append(time.perf_counter() - t0)
        x, y = task.points(trial.config, trial.budget)
        opt.tell(trial.id, x, y, done=True)
        if marks and opt.budget_used >= marks[0] - 1e-9:
            while marks and opt.budget_used >= marks[0] - 1e-9:
                marks.pop(0)
            trace.append((min(opt.budget_used, total), opt.best().config))
    if not trace or trace[-1][0] < total:
        trace.append((total, opt.best().config))
    return trace, {"ask_s_mean": float(np.mean(ask_times)), "ask_s_max": float(np.max(ask_times)), "asks": len(ask_times)}


def run_random(task: Any, seed: int, total: float, **_: Any) -> tuple[Trace, dict[str, float]]:
    space = bo.SearchSpace(task.space, warn=False)
    configs = space.decode(space.sample(4096, seed=seed))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(configs))
    spent, best, best_value, trace = 0.0, None, None, []
    for i in order:
        if spent >= total:
            break
        c = configs[i]
        value = task.final(c)
        spent += task.max_budget
        if best is None or _better(task.sign, value, best_value):
            best, best_value = c, value
        trace.append((min(spent, total), best))
    return trace, {}


def _optuna_run(task: Any, seed: int, total: float, pruner_name: str) -> tuple[Trace, dict[str, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_steps = len(task.budgets)
    if pruner_name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=n_steps, reduction_factor=3)
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    study = optuna.create_study(direction="minimize" if task.sign > 0 else "maximize", sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)
    spent, trace = 0.0, []
    best_complete: tuple[float, dict] | None = None
    best_partial: tuple[int, float, dict] | None = None  # (steps reached, value, config)
    while spent < total:
        trial = study.ask()
        config = {}
        for name, p in task.space.items():
            if isinstance(p, bo.Categorical):
                config[name] = trial.suggest_categorical(name, list(p.choices))
            elif isinstance(p, bo.Int):
                config[name] = trial.suggest_int(name, p.low, p.high, log=p.log)
            else:
                config[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
        prev, pruned = 0.0, False
        for step, budget in enumerate(task.budgets, start=1):
            _, y = task.points(config, budget)
            value = float(y[-1])
            spent += budget - prev
            prev = budget
            trial.report(value, step)
            if best_partial is None or step > best_partial[0] or (step == best_partial[0] and _better(task.sign, value, best_partial[1])):
                best_partial = (step, value, config)
            recommended = best_complete[1] if best_complete else best_partial[2]
            trace.append((min(spent, total), recommended))
            if spent >= total:
                break
            if trial.should_prune():
                pruned = True
                break
        if pruned or spent >= total and step < n_steps:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
            if best_complete is None or _better(task.sign, value, best_complete[0]):
                best_complete = (value, config)
            trace[-1] = (trace[-1][0], best_complete[1])
    return trace, {}


def run_hyperband(task: Any, seed: int, total: float, **_: Any) -> tuple[Trace, dict[str, float]]:
    return _optuna_run(task, seed, total, "hyperband")


def run_asha(task: Any, seed: int, total: float, **_: Any) -> tuple[Trace, dict[str, float]]:
    return _optuna_run(task, seed, total, "asha")


def run_gp(task: Any, seed: int, total: float, **_: Any) -> tuple[Trace, dict[str, float]]:
    from botorch.acquisition import qLogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    space = bo.SearchSpace(task.space, warn=False)
    initial = space.decode(space.sample(3, seed=seed))
    xs: list[np.ndarray] = []
    ys: list[float] = []
    spent, best, best_value, trace = 0.0, None, None, []
    step = 0
    while spent < total:
        if step < len(initial):
            config = initial[step]
        else:
            X = torch.tensor(np.stack(xs), dtype=torch.float64)
            Y = torch.tensor(ys, dtype=torch.float64)[:, None] * -task.sign  # BoTorch maximises
            model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            acqf = qLogExpectedImprovement(model, best_f=Y.max())
            cand = space.sample(512, seed=seed * 1000 + step)
            tried = np.stack(xs)
            fresh = ~(np.abs(cand[:, None, :] - tried[None]).max(-1) < 1e-9).any(-1)
            cand = np.unique(cand[fresh], axis=0)
            if not len(cand):
                break
            with torch.no_grad():
                values = acqf(torch.tensor(cand, dtype=torch.float64)[:, None, :])
            config = space.decode(cand[int(values.argmax())][None])[0]
        value = task.final(config)
        xs.append(space.encode([config])[0])
        ys.append(value)
        spent += task.max_budget
        if best is None or _better(task.sign, value, best_value):
            best, best_value = config, value
        trace.append((min(spent, total), best))
        step += 1
    return trace, {}


def run_curvecast_ei(task: Any, seed: int, total: float, *, predictor: Any) -> tuple[Trace, dict[str, float]]:
    return run_curvecast(task, seed, total, predictor=predictor, settings=bo.PolicySettings(acquisition="ei"))


METHODS: dict[str, Callable[..., tuple[Trace, dict[str, float]]]] = {
    "curvecast": run_curvecast,
    "curvecast_ei": run_curvecast_ei,
    "random": run_random,
    "hyperband": run_hyperband,
    "asha": run_asha,
    "gp": run_gp,
}


def regret_at(trace: Trace, fractions: list[float], total: float, final: Callable[[dict], float], best: float, sign: int) -> list[float]:
    """Simple regret of the recommendation held at each fraction of the budget (nan before the first)."""
    out = []
    for f in fractions:
        held = [c for spent, c in trace if spent <= f * total + 1e-9]
        out.append(math.nan if not held else sign * (final(held[-1]) - best))
    return out
