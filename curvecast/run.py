"""Runs that inform each other: what :meth:`curvecast.Predictor.predict_runs` and ``predict(..., runs=...)`` take.

A :class:`Run` is one training run of a shared setup (a sweep, a scaling ladder, a table of finished runs):
its observed points (possibly none: a run not started yet) and its config. The rules for a group of runs,
each tested:

- Every run's ``x``/``y`` follow the single-curve rules of :mod:`curvecast.curve` (NaN dropped with a
  warning, sorted, repeated x averaged), except that a run may have fewer than 3 points, or none, as long as
  the group has at least :data:`~curvecast.curve.MIN_OBSERVED` observed points in all.
- Config keys with a fixed meaning (:data:`~curvecast.curve.CONFIG_KEYS`) describe the run as usual; a run
  that does not give one leaves it unknown. **Any other key is a free hyperparameter** (numeric, or
  categorical: strings and bools), except ``seed`` and ``random_seed``
  (:data:`~curvecast.curve.REPLICATE_LABELS`): they say which replicate a run is, so they are not read, and runs
  that differ only in them are replicates of one setting. Every run of the group must give the same free keys.
- Free hyperparameters are scaled to the group: a numeric one to ``[0, 1]`` over the runs' values (on a log
  scale when all are positive and they span a factor of 10 or more), a bool to 0/1, a categorical one with
  two levels to 0/1 and with more levels to one 0/1 slot per level. A key whose value is the same in every run
  says nothing and is left out. The model reads :data:`~curvecast.priors.batch.N_HPARAMS` slots (8); keys
  that do not fit (in the order the first run lists them) are left out with a :class:`CurvecastWarning`.
  A free key whose name is close to a fixed one (``total_step``) also gets a warning: it is probably a typo.
  A categorical level that only a run to predict has (``optimizer="lion"`` when every observed run used
  ``"adam"`` or ``"sgd"``) fills a slot that no observed run shares: the model has no run of that level to
  learn from. NaN, infinite or ``None`` values are errors (give the value the run used).
- A run's ``direction`` (optional) must agree with the call's; a run's ``x_unit`` (optional) with the other
  runs'. Runs whose largest x differ by more than a factor of 1000 get a warning (different x units?).
- Two runs with the same points and the same config are duplicates: the second is dropped with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from curvecast.curve import MIN_OBSERVED, Direction, check_config_against_x, check_direction, clean_points, split_config
from curvecast.errors import CurvecastWarning, InvalidConfigError, InvalidCurveError
from curvecast.priors.batch import N_HPARAMS, config_index

#: Config fields whose log10 places a run when choosing which runs to read.
_PLACE_FIELDS = [config_index(name) for name in ("n_params", "n_tokens", "batch_size", "lr")]

__all__ = ["Run", "CleanRun", "HparamSlots", "encode_hparams", "check_runs_agree", "clean_runs", "check_enough_context", "distance_to_nearest"]


@dataclass(frozen=True)
class Run:
    """One run of a shared setup.

    Attributes:
        x: ``n`` observed x values (may be empty: a run not started yet).
        y: ``n`` observed metric values.
        config: the run's settings: fixed keys (``n_params``, ``lr``, ``total_steps``, ...) and any free
            hyperparameters (``dropout``, ``optimizer``, ...).
        name: a label for messages and plots (default: the run's position).
        direction: ``"min"`` or ``"max"``; if given it must match the call's ``direction``.
        x_unit: e.g. ``"steps"`` or ``"tokens"``; if given it must match the other runs' ``x_unit``.
    """

    x: Any = ()
    y: Any = ()
    config: Mapping[str, Any] | None = None
    name: str | None = None
    direction: Direction | None = None
    x_unit: str | None = None


@dataclass(frozen=True)
class CleanRun:
    """A validated run: sorted distinct finite observations (possibly none) and its config split in two."""

    x: np.ndarray  # n, float64, strictly increasing (n may be 0)
    y: np.ndarray  # n
    config: np.ndarray  # len(CONFIG_FIELDS), NaN where unknown
    free: dict[str, Any] = field(default_factory=dict)  # free hyperparameters as given
    name: str = ""


@dataclass(frozen=True)
class HparamSlots:
    """How a group's free hyperparameters fill the model's slots.

    Attributes:
        values: ``R x N_HPARAMS`` float in ``[0, 1]`` (0 in unused slots).
        mask: ``R x N_HPARAMS`` bool, the slots in use.
        slots: one ``(key, level)`` per used slot: ``level`` is ``None`` for a numeric or two-level key and
            the category for a one-hot slot.
        log_scaled: numeric keys read on a log scale.
        dropped: keys left out because every run has the same value.
        not_read: keys left out because the slots ran out.
    """

    values: np.ndarray
    mask: np.ndarray
    slots: tuple[tuple[str, Any], ...] = ()
    log_scaled: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    not_read: tuple[str, ...] = ()


def _kind(key: str, values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, str) for v in values):
        return "categorical"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "numeric"
    kinds = sorted({type(v).__name__ for v in values})
    raise InvalidConfigError(f"free hyperparameter {key!r} mixes value types {kinds} across runs; give it one type (all numbers, all strings or all bools)")


def encode_hparams(free: Sequence[Mapping[str, Any]], *, names: Sequence[str] | None = None) -> HparamSlots:
    """Scale the free hyperparameters of ``R`` runs to the model's slots (rules in the module docstring)."""
    n_runs = len(free)
    names = list(names) if names is not None else [str(i) for i in range(n_runs)]
    keys = list(free[0]) if free else []
    for i, f in enumerate(free):
        if set(f) != set(keys):
            missing, extra = sorted(set(keys) - set(f)), sorted(set(f) - set(keys))
            raise InvalidConfigError(
                f"run {names[i]} has free hyperparameters {sorted(f)} but run {names[0]} has {sorted(keys)} "
                f"(missing {missing}, extra {extra}); give every run the same free keys, with the value each run used"
            )
    columns: list[tuple[str, Any, np.ndarray]] = []
    log_scaled, dropped = [], []
    for key in keys:
        values = [f[key] for f in free]
        kind = _kind(key, values)
        if kind == "numeric":
            v = np.asarray(values, dtype=np.float64)
            if v.max() == v.min():
                dropped.append(key)
                continue
            if v.min() > 0 and v.max() / v.min() >= 10.0:
                v = np.log(v)
                log_scaled.append(key)
            columns.append((key, None, (v - v.min()) / (v.max() - v.min())))
            continue
        levels = list(dict.fromkeys(values))  # first-appearance order
        if len(levels) == 1:
            dropped.append(key)
        elif kind == "bool":
            columns.append((key, None, np.array([float(v) for v in values])))
        elif len(levels) == 2:
            columns.append((key, None, np.array([float(v == levels[1]) for v in values])))
        else:
            for level in levels:
                columns.append((key, level, np.array([float(v == level) for v in values])))
    kept, not_read = [], []
    for key in dict.fromkeys(k for k, _, _ in columns):
        width = sum(1 for k, _, _ in columns if k == key)
        if len(kept) + width <= N_HPARAMS:
            kept.extend(c for c in columns if c[0] == key)
        else:
            not_read.append(key)
    if not_read:
        warnings.warn(
            f"the model reads {N_HPARAMS} free-hyperparameter slots; {sorted(not_read)} did not fit and are ignored "
            "(a categorical key takes one slot per level beyond two; drop keys that matter little)",
            CurvecastWarning,
            stacklevel=3,
        )
    values = np.zeros((n_runs, N_HPARAMS))
    mask = np.zeros((n_runs, N_HPARAMS), dtype=bool)
    for j, (_, _, column) in enumerate(kept):
        values[:, j], mask[:, j] = column, True
    return HparamSlots(values, mask, tuple((k, level) for k, level, _ in kept), tuple(log_scaled), tuple(dropped), tuple(not_read))


def _as_run(item: Any, index: int) -> Run:
    if isinstance(item, Run):
        return item
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - {"x", "y", "config", "name", "direction", "x_unit"})
        if unknown:
            raise InvalidCurveError(f"run {index}: a run mapping takes keys x, y, config, name, direction, x_unit; unknown {unknown}")
        return Run(**item)
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) in (2, 3):
        return Run(*item)
    raise InvalidCurveError(f"run {index}: expected a curvecast.Run, a dict or an (x, y[, config]) tuple, got {type(item).__name__}")


def check_runs_agree(items: Sequence[Run], *, direction: Any, what: str = "runs") -> None:
    """Runs read together track one metric in one unit: a run whose ``direction`` differs from the call's is an
    :class:`InvalidConfigError`, runs whose ``x_unit`` differ an :class:`InvalidCurveError`."""
    sign = check_direction(direction)
    units = {r.x_unit for r in items if r.x_unit is not None}
    if len(units) > 1:
        raise InvalidCurveError(f"{what} mix x units {sorted(units)}; convert every run's x to one unit (e.g. tokens) first")
    for i, run in enumerate(items):
        if run.direction is not None and check_direction(run.direction) != sign:
            raise InvalidConfigError(
                f"run {run.name if run.name is not None else i} says direction={run.direction!r} but the call says "
                f"direction={direction!r}; runs read together must track the same metric"
            )


def clean_runs(runs: Any, *, direction: Any, duplicates: Literal["drop", "error"] = "drop", what: str = "runs") -> tuple[list[CleanRun], HparamSlots]:
    """Validate a group of runs (rules in the module docstring); returns the cleaned runs and their slots.

    With ``duplicates="drop"`` a repeated run is dropped (with a warning) and the others keep their order;
    with ``"error"`` (where every run is to be predicted) it is an :class:`InvalidCurveError`, and so is a name
    given to more than one run.
    """
    check_direction(direction)  # a bad direction fails before the runs are looked at
    if runs is None or isinstance(runs, (str, bytes, Mapping, Run)) or not isinstance(runs, Sequence):
        raise InvalidCurveError(f"{what} must be a list of curvecast.Run (one per run), got {type(runs).__name__}")
    items = [_as_run(item, i) for i, item in enumerate(runs)]
    if not items:
        raise InvalidCurveError(f"{what} is empty: pass at least one curvecast.Run")
    check_runs_agree(items, direction=direction, what=what)
    cleaned: list[CleanRun] = []
    given = [run.name for run in items if run.name is not None]
    repeated = sorted({n for n in given if given.count(n) > 1})
    if repeated and duplicates == "error":
        raise InvalidCurveError(f"{what}: the names {repeated} are given to more than one run; name each run once (the names key the predictions)")
    seen: dict[tuple, str] = {}
    near_misses: dict[tuple[str, str], list[str]] = {}  # a typo repeated in every run's config warns once
    for i, run in enumerate(items):
        name = run.name if run.name is not None else str(i)
        try:
            x, y = clean_points(run.x, run.y, min_points=0)
            vector, free = split_config(run.config, where=f"run {name} config", near_misses=near_misses)
            vector = check_config_against_x(vector, x)
        except ValueError as exc:  # name the run in a long list (once: split_config's messages already do)
            message = str(exc)
            raise type(exc)(message if message.startswith(f"run {name} ") else f"run {name}: {message}") from None
        key = (x.tobytes(), y.tobytes(), vector.tobytes(), tuple(sorted((k, repr(v)) for k, v in free.items())))
        if key in seen and duplicates == "error":
            raise InvalidCurveError(f"run {name} repeats run {seen[key]} (same points and config); pass each run once")
        if key in seen:
            warnings.warn(f"run {name} repeats run {seen[key]} (same points and config); it was dropped", CurvecastWarning, stacklevel=3)
            continue
        seen[key] = name
        cleaned.append(CleanRun(x=x, y=y, config=vector, free=free, name=name))
    for (key, fixed), places in near_misses.items():
        runs_named = ", ".join(p.removeprefix("run ").removesuffix(" config") for p in places[:5]) + (", ..." if len(places) > 5 else "")
        warnings.warn(
            f"config key {key!r} (runs {runs_named}) is read as a free hyperparameter; did you mean {fixed!r}?", CurvecastWarning, stacklevel=3
        )
    ends = np.array([r.x.max() for r in cleaned if r.x.size and r.x.max() > 0])
    if ends.size > 1 and ends.max() / ends.min() > 1000.0:
        warnings.warn(
            f"the runs' largest x values range from {ends.min():g} to {ends.max():g}; if they are in different units "
            "(steps vs tokens), convert them to one",
            CurvecastWarning,
            stacklevel=3,
        )
    slots = encode_hparams([r.free for r in cleaned], names=[r.name for r in cleaned])
    return cleaned, slots


def check_enough_context(runs: Sequence[CleanRun]) -> None:
    """A group needs :data:`MIN_OBSERVED` observed points in all."""
    total = sum(r.x.size for r in runs)
    if total < MIN_OBSERVED:
        raise InvalidCurveError(
            f"the runs hold {total} observed point(s) in all; at least {MIN_OBSERVED} are needed to predict "
            "(observe a few points of some run, or add finished runs)"
        )


def distance_to_nearest(configs: np.ndarray, targets: np.ndarray, extra: np.ndarray | None = None, extra_targets: np.ndarray | None = None) -> np.ndarray:
    """Squared distance of each run to the nearest target run, in log10 of size, tokens, batch size and lr
    (a field unknown on either side counts 0) plus optional extra columns (free-hyperparameter slots).

    Args:
        configs: ``n x len(CONFIG_FIELDS)`` config vectors of the candidate runs (NaN where unknown).
        targets: ``m x len(CONFIG_FIELDS)`` config vectors of the target runs (``m >= 1``).
        extra, extra_targets: optional ``n x k`` and ``m x k`` further coordinates.

    Returns:
        ``n`` distances.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        place, place_targets = np.log10(configs[:, _PLACE_FIELDS]), np.log10(targets[:, _PLACE_FIELDS])
    if extra is not None:
        place, place_targets = np.concatenate([place, extra], axis=1), np.concatenate([place_targets, extra_targets], axis=1)
    diff = place[:, None, :] - place_targets[None, :, :]  # n x m x features
    return np.nansum(diff * diff, axis=-1).min(axis=1)
