"""Ask/tell freeze-thaw Bayesian optimisation with the PFN, and the ``minimize`` loop on top of it.

>>> from curvecast import bo
>>> opt = bo.Optimizer({"lr": bo.Float(1e-4, 1e-1, log=True), "width": bo.Int(16, 256, log=True)},
...                    max_budget=30, direction="min", seed=0, storage="study.db")
>>> trial = opt.ask()                       # Trial(id, config, budget): train up to `budget` epochs
>>> opt.tell(trial.id, epochs, val_losses)  # every point observed so far (call again as the run goes on)
>>> opt.best()                              # the trial predicted to end best at max_budget

Trials move through states: ``running`` (asked, not yet told up to its budget), ``paused`` (told up to its
budget: it may be continued), ``complete`` (reached ``max_budget``) and ``failed`` (a NaN or infinite value
was told: a diverged run is a result, not a crash; it is never continued or recommended).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from curvecast.curve import MAX_MAGNITUDE, MIN_OBSERVED, Direction, check_direction
from curvecast.prediction import quantiles
from curvecast.errors import CurvecastWarning, InvalidConfigError, InvalidCurveError, SearchExhausted, StorageError, TrialStateError, UnknownTrialError
from curvecast.run import Run
from curvecast.bo.model import PFNModel, load_bo_predictor
from curvecast.bo.policy import PolicySettings, freeze_thaw_decision
from curvecast.bo.space import Param, SearchSpace
from curvecast.bo.storage import Storage, TrialRecord, TrialState

__all__ = ["Trial", "Optimizer", "minimize", "SearchExhausted"]

_REL = 1e-9  # relative slack when comparing x with a budget


@dataclass(frozen=True)
class Trial:
    """A configuration to train up to ``budget`` (x units of its curve), and what is known about it.

    Attributes:
        id: the trial's id (pass it to :meth:`Optimizer.tell`).
        config: the configuration.
        budget: train up to this x.
        resume_from: the budget already trained before this ask (0 for a new trial): resume from there.
        state: ``"running"``, ``"paused"``, ``"complete"`` or ``"failed"``.
        x, y: the points told so far.
        predicted: for :meth:`Optimizer.best`, the predicted (or observed) value at ``max_budget``.
    """

    id: int
    config: dict[str, Any]
    budget: float
    resume_from: float = 0.0
    state: TrialState = "running"
    x: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    y: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    predicted: float | None = None


def _budget_grid(max_budget: float, budgets: Sequence[float] | None) -> np.ndarray:
    if budgets is None:
        if float(max_budget).is_integer() and max_budget <= 64:
            return np.arange(1.0, max_budget + 1.0)
        return np.linspace(max_budget / 20.0, max_budget, 20)
    grid = np.asarray(budgets, dtype=np.float64).reshape(-1)
    if grid.size < 1 or not np.isfinite(grid).all() or grid.min() <= 0 or (np.diff(grid) <= 0).any():
        raise InvalidConfigError(f"budgets must be increasing positive numbers, got {list(budgets)}")
    if not math.isclose(grid[-1], max_budget, rel_tol=_REL):
        raise InvalidConfigError(f"the last of budgets ({grid[-1]}) must equal max_budget ({max_budget})")
    return grid


class Optimizer:
    """Freeze-thaw Bayesian optimisation over ``space`` with the PFN (ask/tell).

    Args:
        space: ``{name: bo.Float | bo.Int | bo.Categorical}`` (or a :class:`~curvecast.bo.SearchSpace`).
        max_budget: the full training length, in the x units of the curves told (epochs, steps, samples).
        direction: ``"min"`` (losses, errors) or ``"max"`` (accuracies).
        seed: makes the proposals reproducible; ``None`` draws one and records it in the storage.
        storage: an SQLite file that keeps every trial (created if missing; an existing one is resumed, and
            must hold the same space, ``max_budget`` and direction), or ``None`` to keep them in memory.
        budgets: the budget steps trials advance by (increasing, ending at ``max_budget``); default
            ``1, 2, ..., max_budget`` for integer ``max_budget <= 64``, else 20 even steps.
        n_initial: configurations started (Sobol points) before the PFN proposes.
        predictor: the PFN (default: :func:`~curvecast.bo.load_bo_predictor`, the shipped model for tuning loops, ``curvecast/models/bo``).
        settings: the acquisition's candidate counts and scales (:class:`~curvecast.bo.PolicySettings`).
    """

    def __init__(
        self,
        space: Mapping[str, Param] | SearchSpace,
        *,
        max_budget: float,
        direction: Direction = "min",
        seed: int | None = None,
        storage: str | Path | None = None,
        budgets: Sequence[float] | None = None,
        n_initial: int = 3,
        predictor: Any = None,
        settings: PolicySettings = PolicySettings(),
    ) -> None:
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        if isinstance(max_budget, bool) or not isinstance(max_budget, (int, float)) or not 0 < max_budget < math.inf:
            raise InvalidConfigError(f"max_budget must be a positive finite number (the full training length in x units), got {max_budget!r}")
        self.max_budget = float(max_budget)
        self.sign = check_direction(direction)
        self.direction = direction
        self.grid = _budget_grid(self.max_budget, budgets)
        if isinstance(n_initial, bool) or not isinstance(n_initial, int) or n_initial < 1:
            raise InvalidConfigError(f"n_initial must be a positive int, got {n_initial!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise InvalidConfigError(f"seed must be a non-negative int or None, got {seed!r}")
        self.n_initial = n_initial
        self.settings = settings
        self._predictor = predictor
        self.storage = Storage(storage)
        study = {"space": self.space.to_dict(), "max_budget": self.max_budget, "direction": direction, "budgets": self.grid.tolist()}
        with self.storage.transaction():  # workers starting together on a new file: the first one creates the study
            meta = self.storage.meta()
            if not meta:
                chosen = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**31))
                self.storage.set_meta({**study, "seed": chosen, "format": "curvecast-bo/1"})
                meta = self.storage.meta()
        for key, value in study.items():
            # compared as JSON text: 1, 1.0 and True are equal in Python but are different categorical choices
            if json.dumps(meta.get(key), sort_keys=True) != json.dumps(value, sort_keys=True):
                raise StorageError(
                    f"storage '{storage}' holds another study: its {key} is {meta.get(key)!r}, not {value!r}; use a new storage file"
                )
        if seed is not None and meta["seed"] != seed:
            raise StorageError(f"storage '{storage}' was created with seed {meta['seed']}, not {seed}; pass seed={meta['seed']} or None")
        self.seed = int(meta["seed"])

    def __repr__(self) -> str:
        return f"Optimizer({len(self.storage.trials())} trials, budget used {self.budget_used:g}, direction={self.direction!r})"

    # -- state --------------------------------------------------------------------------------------

    @property
    def predictor(self) -> Any:
        if self._predictor is None:
            self._predictor = load_bo_predictor()
        return self._predictor

    @property
    def budget_used(self) -> float:
        """Total budget handed out by :meth:`ask` (a continued trial counts its extra budget only)."""
        return self.storage.budget_used()

    def trials(self) -> list[Trial]:
        """Every trial so far, oldest first."""
        return [self._trial(r) for r in self.storage.trials()]

    def _trial(self, r: TrialRecord, *, resume_from: float | None = None, predicted: float | None = None) -> Trial:
        return Trial(r.id, dict(r.config), r.budget, r.reached if resume_from is None else resume_from, r.state, r.x, r.y, predicted)

    def release_running(self) -> int:
        """Mark trials left ``running`` (by a crashed or killed loop) ``paused``, so they may be continued;
        their told points are kept. Returns how many. Call it only when no other worker is running trials."""
        with self.storage.transaction():
            running = [r for r in self.storage.trials() if r.state == "running"]
            for r in running:
                self.storage.update_trial(r.id, budget=max(r.reached, self.grid[0]) if r.x.size else r.budget, state="paused")
        return len(running)

    # -- ask ----------------------------------------------------------------------------------------

    def ask(self) -> Trial:
        """The next trial to run: a new configuration or a paused one to continue, with the budget to reach.

        Raises :class:`SearchExhausted` when a finite space has nothing left to run.
        """
        with self.storage.transaction():
            trials = self.storage.trials()
            rng = np.random.default_rng([self.seed, self.storage.n_asks()])
            kind, payload = self._decide(trials, rng)
            if kind == "new":
                config = self.space.decode(payload[None])[0]
                tid = self.storage.add_trial(config, self.grid[0], "running", "ask")
                self.storage.record_ask(tid, 0.0, self.grid[0])
                record = self.storage.trial(tid)
                return self._trial(record, resume_from=0.0)
            record = payload
            step = self._grid_index(record.budget)
            budget = float(self.grid[min(step + 1, len(self.grid) - 1)])
            self.storage.update_trial(record.id, budget=budget, state="running")
            self.storage.record_ask(record.id, record.budget, budget)
            return self._trial(self.storage.trial(record.id), resume_from=record.reached)

    def _grid_index(self, budget: float) -> int:
        """Index of the largest grid budget <= ``budget`` (-1 below the first)."""
        return int(np.searchsorted(self.grid, budget * (1 + _REL), side="right")) - 1

    def _exclude(self, trials: list[TrialRecord]) -> np.ndarray:
        return self.space.encode([t.config for t in trials]) if trials else np.zeros((0, self.space.dim))

    def _decide(self, trials: list[TrialRecord], rng: np.random.Generator) -> tuple[str, Any]:
        usable = [t for t in trials if t.state != "failed"]
        n_points = sum(t.x.size for t in usable)
        paused = [t for t in usable if t.state == "paused" and self._grid_index(t.budget) < len(self.grid) - 1]
        exclude = self._exclude(trials)
        if len(trials) < self.n_initial or n_points < MIN_OBSERVED:
            if len(trials) < self.n_initial or not paused:
                u = self._initial_point(len(trials), exclude)
                if u is not None:
                    return "new", u
            if paused:
                return "continue", min(paused, key=lambda t: t.budget)
            raise SearchExhausted("every configuration of the search space has been tried; wait for running trials or stop")
        model = self.model(trials)
        by_name = {r.name: i for i, r in enumerate(model.context)}
        continuable = {by_name[str(t.id)]: self._grid_index(t.budget) for t in paused if str(t.id) in by_name}
        decision = freeze_thaw_decision(model, continuable, self.grid, rng, exclude=exclude, settings=self.settings)
        if decision is None:
            if paused:  # paused runs the model does not read (beyond its context): continue the best of them
                return "continue", min(paused, key=lambda t: self.sign * t.y[-1] if t.y.size else math.inf)
            raise SearchExhausted("every configuration of the search space has been tried; wait for running trials or stop")
        if decision.kind == "new":
            return "new", decision.u
        ids = {str(t.id): t for t in paused}
        return "continue", ids[model.context[decision.context_index].name]

    def _initial_point(self, index: int, exclude: np.ndarray) -> np.ndarray | None:
        """The ``index``-th scrambled Sobol point not tried yet (``None`` if a finite space is used up)."""
        points = self.space.sample(max(64, 4 * (index + 1)), seed=self.seed)
        for u in points[index:]:
            if not len(exclude) or (np.abs(exclude - u).max(-1) > 1e-9).all():
                return u
        for u in self.space.sample(4096, seed=self.seed + 1):
            if not len(exclude) or (np.abs(exclude - u).max(-1) > 1e-9).all():
                return u
        return None

    def model(self, trials: list[TrialRecord] | None = None) -> PFNModel:
        """The BoTorch :class:`~curvecast.bo.PFNModel` conditioned on every non-failed trial's points,
        predicting at ``max_budget`` (runs are named by trial id)."""
        trials = self.storage.trials() if trials is None else trials
        runs = [Run(t.x, t.y, t.config, name=str(t.id)) for t in trials if t.state != "failed" and t.x.size]
        return PFNModel(self.space, runs, target_budget=self.max_budget, direction=self.direction, predictor=self.predictor)

    # -- tell and add -------------------------------------------------------------------------------

    def _points(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        try:
            xa = np.asarray(x, dtype=np.float64)
            ya = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidCurveError("x and y must be sequences of numbers") from None
        if xa.ndim > 1 or ya.ndim > 1:
            raise InvalidCurveError(f"x and y must be flat sequences of numbers, got shapes {xa.shape} and {ya.shape}")
        xa, ya = xa.reshape(-1), ya.reshape(-1)
        if xa.shape != ya.shape:
            raise InvalidCurveError(f"x and y must have the same length, got {xa.size} and {ya.size}")
        if not np.isfinite(xa).all() or (xa < 0).any():
            raise InvalidCurveError("x must be finite and >= 0 (budget units: epochs, steps, samples)")
        big = np.isfinite(ya) & (np.abs(ya) > MAX_MAGNITUDE)
        if big.any():  # stored, it would make every later ask() fail: refuse it before anything is written
            raise InvalidCurveError(
                f"y = {ya[big][0]:g} is beyond what the model reads (|y| up to {MAX_MAGNITUDE:g}); report the metric in other units, "
                "or report NaN to mark the trial failed"
            )
        return xa, ya

    def _store_points(self, trial_id: int, x: np.ndarray, y: np.ndarray) -> float | None:
        """Store a trial's points; at a NaN or infinite y, store only the points before it (in x order), mark
        the trial failed and return that x (``None`` when every value is finite)."""
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        bad = ~np.isfinite(y)
        first = int(np.argmax(bad)) if bad.any() else x.size
        self.storage.add_points(trial_id, x[:first], y[:first])
        if first == x.size:
            return None
        self.storage.update_trial(trial_id, state="failed")
        return float(x[first])

    def tell(self, trial_id: int, x: Any, y: Any, *, done: bool | None = None) -> Trial:
        """Report the points a trial has observed (all so far, or only new ones: points merge by x).

        Args:
            trial_id: the id :meth:`ask` gave.
            x, y: observed points, ``x`` within the trial's budget.
            done: whether the trial stopped for this ask; ``None`` means "if the largest x told reached the
                budget". A stopped trial becomes ``paused`` (``complete`` at ``max_budget``).

        A NaN or infinite ``y`` marks the trial ``failed`` (its finite points before it are kept).
        """
        if isinstance(trial_id, bool) or not isinstance(trial_id, (int, np.integer)) or not 0 <= int(trial_id) < 2**63:
            raise UnknownTrialError(f"trial ids are ints handed out by ask(), got {trial_id!r}")
        with self.storage.transaction():
            record = self.storage.trial(int(trial_id))
            if record is None:
                raise UnknownTrialError(f"no trial with id {trial_id} in this study; use the id of a Trial from ask()")
            if record.state in ("complete", "failed"):
                raise TrialStateError(f"trial {trial_id} is {record.state}; it takes no more points (ask() for a new trial)")
            xa, ya = self._points(x, y)
            if xa.size and xa.max() > record.budget * (1 + _REL):
                raise TrialStateError(
                    f"trial {trial_id} was asked to train up to {record.budget:g}, but x goes to {xa.max():g}; tell only points within the budget"
                )
            bad_x = self._store_points(record.id, xa, ya)
            if bad_x is not None:
                warnings.warn(f"trial {trial_id} reported a non-finite value at x={bad_x:g}: marked failed", CurvecastWarning, stacklevel=2)
                return self._trial(self.storage.trial(record.id))
            record = self.storage.trial(record.id)
            reached = record.x.size > 0 and record.x[-1] >= record.budget * (1 - 1e-6)
            if done or (done is None and reached):
                # complete only where the run got to max_budget: one stopped early may be continued
                full = record.x.size > 0 and record.x[-1] >= self.max_budget * (1 - _REL)
                self.storage.update_trial(record.id, state="complete" if full else "paused")
            return self._trial(self.storage.trial(record.id))

    def add(self, config: Mapping[str, Any], x: Any, y: Any) -> Trial:
        """Import a run made outside the loop (an earlier sweep, a partial run) to warm-start the search.

        Its budget is the smallest budget step at or above its largest x; it is ``complete`` at
        ``max_budget``, else ``paused`` (so it may be continued).
        """
        config = self.space.validate(config)
        xa, ya = self._points(x, y)
        if xa.size and xa.max() > self.max_budget * (1 + _REL):
            raise InvalidCurveError(f"x goes to {xa.max():g}, beyond max_budget={self.max_budget:g}; cut the run at max_budget")
        with self.storage.transaction():
            reached = float(xa.max()) if xa.size else 0.0
            step = int(np.searchsorted(self.grid, reached * (1 - _REL), side="left"))
            budget = float(self.grid[min(step, len(self.grid) - 1)])
            state: TrialState = "complete" if budget >= self.max_budget * (1 - _REL) else "paused"
            tid = self.storage.add_trial(config, budget, state, "add")
            bad_x = self._store_points(tid, xa, ya)
            if bad_x is not None:
                warnings.warn(f"the added run reported a non-finite value at x={bad_x:g}: trial {tid} marked failed", CurvecastWarning, stacklevel=2)
            return self._trial(self.storage.trial(tid))

    # -- recommendation -----------------------------------------------------------------------------

    def best(self, *, quantile: float = 0.7) -> Trial | None:
        """The trial predicted to end best at ``max_budget`` (``None`` before any point is told).

        A complete trial counts with its observed final value; every other trial the model reads with a
        cautious prediction of its value at ``max_budget`` (:attr:`Trial.predicted`): the quantile that it
        beats with probability ``quantile`` (0.5: the median; higher trusts short runs less, so a run seen
        for two steps does not win on a hopeful extrapolation).
        """
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
            raise InvalidConfigError(f"quantile must be in (0, 1), got {quantile!r}")
        trials = [t for t in self.storage.trials() if t.state != "failed" and t.x.size]
        if not trials:
            return None
        values: dict[int, float] = {t.id: float(t.y[-1]) for t in trials if t.state == "complete"}
        if sum(t.x.size for t in trials) >= MIN_OBSERVED:
            model = self.model(trials)
            open_runs = {i: np.array([self.max_budget]) for i, r in enumerate(model.context) if int(r.name) not in values}
            if open_runs:
                with torch.no_grad():
                    _, logits, zmap = model.marginal_logits(None, np.zeros(0), open_runs)
                    bar = self.predictor.model.bar_distribution
                    level = quantile if self.sign > 0 else 1.0 - quantile  # the bad side: high losses, low accuracies
                    for i, lg in zip(open_runs, logits):
                        value = quantiles(bar, lg[None], zmap, torch.tensor([level], dtype=torch.float64))[0, 0, 0]
                        values[int(model.context[i].name)] = float(value)
        else:
            values.update({t.id: float(t.y[-1]) for t in trials if t.id not in values})
        best_id = min(values, key=lambda i: self.sign * values[i])
        record = next(t for t in trials if t.id == best_id)
        return self._trial(record, predicted=values[best_id])


def minimize(
    objective: Callable[[dict[str, Any], float, Any], Any],
    space: Mapping[str, Param] | SearchSpace,
    *,
    max_budget: float,
    total_budget: float,
    direction: Direction = "min",
    seed: int | None = None,
    storage: str | Path | None = None,
    budgets: Sequence[float] | None = None,
    n_initial: int = 3,
    predictor: Any = None,
    progress: bool = True,
    callback: Callable[[Optimizer, Trial], None] | None = None,
    release_running: bool = True,
) -> Optimizer:
    """Run the freeze-thaw loop until ``total_budget`` is spent; returns the :class:`Optimizer`.

    Args:
        objective: ``objective(config, budget, state)`` trains ``config`` up to ``budget`` and returns
            ``(x, y)`` or ``(x, y, state)``: the points observed (all so far, or only the new ones) and
            anything it wants back when the trial is continued (``state`` is ``None`` the first time,
            e.g. a model or the path of its checkpoint, so it can resume instead of restarting).
        space, max_budget, direction, seed, storage, budgets, n_initial, predictor: as :class:`Optimizer`.
        total_budget: the budget to spend, in the same units (e.g. ``10 * max_budget``: ten full runs' worth).
        progress: show a progress bar of the budget spent.
        callback: called as ``callback(optimizer, trial)`` after every tell, with the trial as told.
        release_running: first mark every trial left ``running`` in ``storage`` paused
            (:meth:`Optimizer.release_running`), so a loop restarted after a crash continues them. Pass ``False``
            while other workers are training trials of the same storage file: theirs would be handed out again.

    With ``storage``, a loop that crashed or was killed restarts where it stopped: told points are kept, and
    trials it left running are paused and may be continued (their objective ``state`` starts from ``None``).
    """
    if isinstance(total_budget, bool) or not isinstance(total_budget, (int, float)) or not 0 < total_budget < math.inf:
        raise InvalidConfigError(f"total_budget must be a positive finite number, got {total_budget!r}")
    if not callable(objective):
        raise InvalidConfigError(f"objective must be callable as objective(config, budget, state), got {objective!r}")
    opt = Optimizer(space, max_budget=max_budget, direction=direction, seed=seed, storage=storage, budgets=budgets, n_initial=n_initial, predictor=predictor)
    if release_running:
        opt.release_running()
    states: dict[int, Any] = {}
    # The progress bar shows the best value told so far (cheap), not best()'s prediction (a forward pass).
    best_seen = min((opt.sign * float(v) for t in opt.trials() if t.state != "failed" for v in t.y), default=math.inf)
    bar = tqdm(total=float(total_budget), initial=min(opt.budget_used, total_budget), disable=not progress, desc="bo", unit="budget")
    try:
        while opt.budget_used < total_budget:
            try:
                trial = opt.ask()
            except SearchExhausted:
                break
            result = objective(dict(trial.config), trial.budget, states.get(trial.id))
            if not isinstance(result, tuple) or len(result) not in (2, 3):
                raise InvalidConfigError(f"objective must return (x, y) or (x, y, state), got {type(result).__name__}")
            states[trial.id] = result[2] if len(result) == 3 else None
            told_trial = opt.tell(trial.id, result[0], result[1], done=True)
            bar.update(min(opt.budget_used, total_budget) - bar.n)
            told = np.asarray(result[1], dtype=np.float64).reshape(-1)
            told = told[np.isfinite(told)]
            if told.size:
                best_seen = min(best_seen, opt.sign * float(told.min() if opt.sign > 0 else told.max()))
                bar.set_postfix(best_seen=f"{opt.sign * best_seen:.4g}")
            if callback is not None:
                callback(opt, told_trial)
    finally:
        bar.close()
    return opt
