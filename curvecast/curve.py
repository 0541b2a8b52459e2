"""What users hand to :meth:`curvecast.Predictor.predict`: one partial curve, checked and cleaned.

The rules, in the order they are applied (each is tested):

- ``x``, ``y`` and ``x_query`` must be 1-D, numeric, and ``x``/``y`` of equal length (:class:`ShapeError`).
- Observed pairs where ``x`` or ``y`` is NaN or infinite are dropped with a :class:`CurvecastWarning`
  (logs often hold a NaN for a missed evaluation); ``x_query`` must be finite.
- ``x`` and ``x_query`` must be ``>= 0`` (steps, epochs, tokens, samples): shift your axis otherwise.
- Unsorted observations are sorted by ``x``; points that share an ``x`` are averaged, with a warning.
- At least :data:`MIN_OBSERVED` distinct observed points are needed (:class:`InvalidCurveError`).
- Constant curves are allowed: the scale of change is then taken from the level (10% of it).
- ``direction`` is ``"min"`` (losses, errors) or ``"max"`` (accuracies, scores).
- ``bounds`` clips the predictive distribution to a range (it is truncated and renormalised there):
  ``"auto"`` bounds ``"max"`` metrics whose observations all lie in ``[0, 1]`` to ``[0, 1]`` (accuracies)
  and leaves everything else unbounded; ``None`` never bounds; ``(low, high)`` with ``None`` for an open
  side bounds explicitly, and observations outside it are an error.
- ``config`` describes the run (keys of :data:`CONFIG_KEYS`); ``warmup_steps``, ``total_steps`` and
  ``cooldown_steps`` are in the units of ``x``; ``schedule`` is one of :data:`SCHEDULES`. Any other key is a
  free hyperparameter (see :mod:`curvecast.run`); alone, one curve's free hyperparameters say nothing, so
  they only matter when other runs are given. A free key close to a fixed one (``total_step``) warns.
  ``total_steps`` far below the observed x (under half its largest value) is a unit mistake: it and the
  schedule lengths are ignored, with a warning; below the largest observed x, it warns (the run is read as
  continuing past its planned end). ``schedule``, ``warmup_steps`` and ``cooldown_steps`` are positions within
  the planned run, so without ``total_steps`` they are ignored, with a warning; so is ``cooldown_steps`` with
  a schedule other than ``"wsd"``.
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence, Union

import numpy as np

from curvecast.errors import CurvecastWarning, InvalidConfigError, InvalidCurveError, ShapeError
from curvecast.pfn.normalization import FLAT_RELATIVE_CHANGE, MIN_RELATIVE_SCALE
from curvecast.priors.batch import CONFIG_FIELDS, SCHEDULES

__all__ = [
    "Curve",
    "CleanCurve",
    "Direction",
    "Bounds",
    "CONFIG_KEYS",
    "MIN_OBSERVED",
    "clean_curve",
    "clean_points",
    "check_direction",
    "config_vector",
    "check_config_against_x",
    "split_config",
    "REPLICATE_LABELS",
    "check_queries",
    "resolve_bounds",
]

Direction = Literal["min", "max"]
Bounds = Union[Literal["auto"], None, tuple[Union[float, None], Union[float, None]]]

#: Keys a run ``config`` may hold.
CONFIG_KEYS: tuple[str, ...] = CONFIG_FIELDS
#: Config keys that say which replicate a run is, not how it was set up: they are not read (not free
#: hyperparameters), so runs that differ only in them are replicates of one setting (read as seeds are:
#: all kept together, from ``replicate_from`` of their length on when they replicate the run predicted).
REPLICATE_LABELS: tuple[str, ...] = ("seed", "random_seed")
#: Fewest distinct observed points a prediction needs.
MIN_OBSERVED = 3


@dataclass(frozen=True)
class Curve:
    """One partial curve to extrapolate (the item type of :meth:`curvecast.Predictor.predict_many`).

    Attributes:
        x: ``n`` observed x values (steps, epochs, tokens, training-set sizes), any order.
        y: ``n`` observed metric values.
        x_query: ``m`` x values to predict at.
        direction: ``"min"`` if lower is better (loss), ``"max"`` if higher is better (accuracy).
        config: optional run description, keys from :data:`CONFIG_KEYS`.
        bounds: see the module docstring.
    """

    x: Any
    y: Any
    x_query: Any
    direction: Direction = "min"
    config: Mapping[str, Any] | None = None
    bounds: Bounds = "auto"


@dataclass(frozen=True)
class CleanCurve:
    """A validated curve: sorted distinct finite observations, finite queries, resolved bounds."""

    x: np.ndarray  # n, float64, strictly increasing
    y: np.ndarray  # n, float64
    x_query: np.ndarray  # m, float64, in the user's order
    sign: int  # +1 for "min", -1 for "max"
    bounds: tuple[float, float]  # (low, high), infinite where open
    config: np.ndarray  # len(CONFIG_FIELDS), NaN where unknown


def _as_1d(name: str, values: Any) -> np.ndarray:
    if isinstance(values, (str, bytes)) or values is None:
        raise InvalidCurveError(f"{name} must be a 1-D array-like of numbers, got {type(values).__name__}")
    if callable(getattr(values, "detach", None)):  # a torch tensor, maybe one that requires grad: its values
        values = values.detach().cpu()
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InvalidCurveError(f"{name} must be a 1-D array-like of numbers ({exc})") from None
    kind = raw.dtype.kind
    bad = {"c": "complex numbers", "U": "strings", "S": "bytes", "b": "booleans", "M": "dates", "m": "time deltas"}.get(kind)
    # Python lists hide booleans and strings among numbers (numpy turns [4, True] into [4, 1]): check each entry.
    entries = values if isinstance(values, (list, tuple)) and raw.ndim == 1 else raw.reshape(-1) if kind == "O" and raw.ndim == 1 else ()
    for i, v in enumerate(entries):
        if v is not None and (isinstance(v, (bool, np.bool_, str, bytes, complex)) or not isinstance(v, (int, float, np.number))):
            raise InvalidCurveError(f"{name}[{i}] is {v!r}, not a real number; pass plain numbers (None or NaN for a missing value)")
    if bad:
        raise InvalidCurveError(f"{name} holds {bad}, not real numbers; convert them to floats first")
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidCurveError(f"{name} must hold numbers only ({exc}); convert strings and None to floats first") from None
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ShapeError(f"{name} must be 1-D (one value per point), got shape {array.shape}; pass one curve at a time or use predict_many")
    return array


def check_direction(direction: Any) -> int:
    """``+1`` for ``"min"``, ``-1`` for ``"max"``; anything else is an :class:`InvalidConfigError`."""
    if direction == "min":
        return 1
    if direction == "max":
        return -1
    raise InvalidConfigError(f"direction must be 'min' (lower is better: losses, errors) or 'max' (higher is better: accuracies), got {direction!r}")


#: Largest magnitude of x, y and config values (float64 statistics and the model's log-scale features stay exact).
MAX_MAGNITUDE = 1e30
#: Ranges of the config values the model was trained to read (anything else is almost surely a unit mistake).
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "n_params": (1.0, 1e15),
    "n_tokens": (1.0, 1e18),
    "batch_size": (1.0, 1e9),
    "lr": (1e-10, 1e3),
}


def config_vector(config: Mapping[str, Any] | None) -> np.ndarray:
    """A run description as a ``len(CONFIG_FIELDS)`` vector (NaN where unknown)."""
    out = np.full(len(CONFIG_FIELDS), np.nan)
    if config is None:
        return out
    if not isinstance(config, Mapping):
        raise InvalidConfigError(f"config must be a dict of run settings (keys among {list(CONFIG_KEYS)}), got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidConfigError(f"unknown config keys {unknown}; curvecast understands {list(CONFIG_KEYS)}")
    for key, value in config.items():
        if value is None:
            continue
        i = CONFIG_FIELDS.index(key)
        if key == "schedule":
            if value not in SCHEDULES:
                raise InvalidConfigError(f"config['schedule'] must be one of {list(SCHEDULES)}, got {value!r}")
            out[i] = SCHEDULES.index(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise InvalidConfigError(f"config[{key!r}] must be a finite number, got {value!r}")
        if key in ("n_params", "n_tokens", "batch_size", "lr") and value <= 0:
            raise InvalidConfigError(f"config[{key!r}] must be > 0, got {value!r}")
        if value < 0:
            raise InvalidConfigError(f"config[{key!r}] must be >= 0 (it is measured in units of x), got {value!r}")
        low, high = CONFIG_RANGES.get(key, (0.0, MAX_MAGNITUDE))
        if not low <= value <= high:
            raise InvalidConfigError(f"config[{key!r}] = {value!r} is outside the range curvecast reads, [{low:g}, {high:g}]; check its units")
        out[i] = float(value)
    schedule_lengths = [out[CONFIG_FIELDS.index(k)] for k in ("warmup_steps", "cooldown_steps")]
    total = out[CONFIG_FIELDS.index("total_steps")]
    if np.isfinite(total) and any(np.isfinite(v) and v > total for v in schedule_lengths):
        raise InvalidConfigError(
            f"config: warmup_steps and cooldown_steps must not exceed total_steps ({total:g}); all three are in units of x"
        )
    return out


def check_config_against_x(config: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``config`` without its schedule lengths when ``total_steps`` lies far below the observed x: a unit
    mistake (thousands of steps, or steps against a token axis) that would mislead the model; warns."""
    lengths = [CONFIG_FIELDS.index(k) for k in ("warmup_steps", "total_steps", "cooldown_steps")]
    total = config[lengths[1]]
    if np.isfinite(total) and x.size and total < 0.5 * float(x.max()):
        warnings.warn(
            f"config['total_steps'] = {total:g} is far below the last observed x ({float(x.max()):g}), so it cannot be the run's "
            "planned length in units of x; ignoring total_steps, warmup_steps and cooldown_steps (fix their units to use them)",
            CurvecastWarning,
            stacklevel=4,
        )
        config = config.copy()
        config[lengths] = np.nan
    elif np.isfinite(total) and x.size and total < float(x.max()):
        warnings.warn(
            f"the run is observed up to x = {float(x.max()):g}, past config['total_steps'] = {total:g}: the points beyond it are "
            "read as after the planned end of its LR schedule; if total_steps is not in units of x, fix its units",
            CurvecastWarning,
            stacklevel=4,
        )
    _warn_unread_schedule_fields(config)
    return config


def _warn_unread_schedule_fields(config: np.ndarray) -> None:
    """Warn about schedule fields the model cannot read: the schedule and its lengths are positions within the
    planned run, so they need ``total_steps``, and only a ``wsd`` schedule has a cooldown."""
    known = {k for k in ("schedule", "warmup_steps", "cooldown_steps") if np.isfinite(config[CONFIG_FIELDS.index(k)])}
    if not np.isfinite(config[CONFIG_FIELDS.index("total_steps")]):
        if known:
            warnings.warn(
                f"config gives {sorted(known)} but no total_steps; the schedule is read as positions within the planned run, "
                "so without total_steps (the run's planned length, in units of x) it is ignored: add total_steps",
                CurvecastWarning,
                stacklevel=5,
            )
        return
    schedule = config[CONFIG_FIELDS.index("schedule")]
    if "cooldown_steps" in known and not (np.isfinite(schedule) and SCHEDULES[int(schedule)] == "wsd"):
        named = f"schedule={SCHEDULES[int(schedule)]!r}" if np.isfinite(schedule) else "no schedule"
        warnings.warn(
            f"config gives cooldown_steps with {named}; only a 'wsd' schedule has a cooldown, so cooldown_steps is ignored: "
            "add schedule='wsd' if the run decays its learning rate at the end (or drop cooldown_steps)",
            CurvecastWarning,
            stacklevel=5,
        )


def split_config(
    config: Mapping[str, Any] | None, *, where: str = "config", near_misses: dict[tuple[str, str], list[str]] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """A run's config as its fixed-field vector (:func:`config_vector`) and a dict of its free hyperparameters.

    Free hyperparameters must be finite numbers, strings or bools; a name close to a fixed key warns (or, with
    ``near_misses``, is recorded there as ``{(key, fixed key): [where, ...]}`` for the caller to warn once). Keys
    of :data:`REPLICATE_LABELS` (``seed``) name the replicate, not the setting, and are left out of both.
    """
    if config is None:
        return config_vector(None), {}
    if not isinstance(config, Mapping):
        raise InvalidConfigError(f"{where} must be a dict of run settings (keys such as {list(CONFIG_KEYS[:4])}), got {type(config).__name__}")
    free = {}
    for key, value in config.items():
        if key in CONFIG_KEYS or key in REPLICATE_LABELS:
            continue
        if not isinstance(key, str):
            raise InvalidConfigError(f"{where} keys must be strings, got {key!r}")
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            raise InvalidConfigError(
                f"{where}[{key!r}] is {value!r}; a free hyperparameter needs a finite number, a string or a bool "
                "(give the value the run used, or leave the key out of every run)"
            )
        if not isinstance(value, (bool, int, float, str)):
            raise InvalidConfigError(f"{where}[{key!r}] must be a number, a string or a bool, got {type(value).__name__}")
        close = difflib.get_close_matches(key, CONFIG_KEYS, n=1, cutoff=0.75)
        if close and near_misses is not None:
            near_misses.setdefault((key, close[0]), []).append(where)
        elif close:
            warnings.warn(f"{where} key {key!r} is read as a free hyperparameter; did you mean {close[0]!r}?", CurvecastWarning, stacklevel=4)
        free[key] = value
    return config_vector({k: v for k, v in config.items() if k in CONFIG_KEYS}), free


def resolve_bounds(bounds: Any, y: np.ndarray, sign: int) -> tuple[float, float]:
    if bounds is None:
        return (-math.inf, math.inf)
    if isinstance(bounds, str):
        if bounds != "auto":
            raise InvalidConfigError(f"bounds must be 'auto', None or a (low, high) pair, got {bounds!r}")
        if sign < 0 and y.min() >= 0.0 and y.max() <= 1.0:
            return (0.0, 1.0)
        return (-math.inf, math.inf)
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise InvalidConfigError(f"bounds must be 'auto', None or a (low, high) pair (None for an open side), got {bounds!r}") from None
    low = -math.inf if low is None else float(low)
    high = math.inf if high is None else float(high)
    if not low < high or math.isnan(low) or math.isnan(high):
        raise InvalidConfigError(f"bounds must satisfy low < high, got {bounds!r}")
    if y.min() < low or y.max() > high:
        raise InvalidCurveError(
            f"observed y spans [{y.min():g}, {y.max():g}], outside bounds [{low:g}, {high:g}]; "
            "fix the bounds (e.g. (0, 100) for percentages) or pass bounds=None"
        )
    return (low, high)


def clean_curve(
    x: Any,
    y: Any,
    x_query: Any,
    *,
    direction: Any = "min",
    config: Mapping[str, Any] | None = None,
    bounds: Any = "auto",
) -> CleanCurve:
    """Validate and clean one curve following the module's rules."""
    sign = check_direction(direction)
    x_query = check_queries(x_query)
    x, y = clean_points(x, y, min_points=MIN_OBSERVED)
    vector, _ = split_config(config)  # alone, one curve's free hyperparameters carry no information
    vector = check_config_against_x(vector, x)
    return CleanCurve(x=x, y=y, x_query=x_query, sign=sign, bounds=resolve_bounds(bounds, y, sign), config=vector)


def check_queries(x_query: Any, *, name: str = "x_query", allow_empty: bool = False) -> np.ndarray:
    """``x_query`` as a finite, non-negative 1-D float array."""
    x_query = _as_1d(name, x_query)
    if x_query.size == 0 and not allow_empty:
        raise InvalidCurveError(f"{name} is empty: pass at least one x to predict at")
    if not np.isfinite(x_query).all():
        raise InvalidCurveError(f"{name} holds NaN or inf; pass finite x values to predict at")
    if x_query.size and x_query.min() < 0:
        raise InvalidCurveError(f"{name} must be >= 0 (steps, epochs, tokens or samples); shift the axis so the run starts at 0 or later")
    return x_query


def clean_points(x: Any, y: Any, *, min_points: int = MIN_OBSERVED) -> tuple[np.ndarray, np.ndarray]:
    """Observed points as sorted, distinct, finite float arrays (the module's rules); ``min_points`` distinct ones needed."""
    x, y = _as_1d("x", x), _as_1d("y", y)
    if x.shape != y.shape:
        raise ShapeError(f"x and y must have the same length, got {x.size} x values and {y.size} y values")
    if x.size == 0 and min_points > 0:
        raise InvalidCurveError(f"the curve is empty: pass at least {MIN_OBSERVED} observed (x, y) points")
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        warnings.warn(f"dropped {int((~finite).sum())} observed point(s) with NaN or inf x or y", CurvecastWarning, stacklevel=4)
        x, y = x[finite], y[finite]
    if x.size and x.min() < 0:
        raise InvalidCurveError("x and x_query must be >= 0 (steps, epochs, tokens or samples); shift the axis so the run starts at 0 or later")
    _check_magnitudes(x, y)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.size > 1 and (np.diff(x) == 0).any():
        unique_x, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        y = np.bincount(inverse, weights=y) / counts
        warnings.warn(f"averaged y over {int((counts > 1).sum())} repeated x value(s)", CurvecastWarning, stacklevel=4)
        x = unique_x
    if x.size < min_points:
        raise InvalidCurveError(
            f"need at least {min_points} distinct finite observed points to extrapolate, got {x.size}; wait for more evaluations"
        )
    return x, y


def _check_magnitudes(x: np.ndarray, y: np.ndarray) -> None:
    if x.size and float(x.max()) > MAX_MAGNITUDE:
        raise InvalidCurveError(f"x reaches {float(x.max()):g}; curvecast reads x up to {MAX_MAGNITUDE:g}: express x in larger units")
    if x.size and 0 < float(x.max()) < 1.0 / MAX_MAGNITUDE:
        raise InvalidCurveError(f"every x is below {1.0 / MAX_MAGNITUDE:g}; express x in smaller units (e.g. steps, not billions of steps)")
    size = float(np.abs(y).max()) if y.size else 0.0
    if size > MAX_MAGNITUDE:
        raise InvalidCurveError(f"|y| reaches {size:g}; curvecast reads |y| up to {MAX_MAGNITUDE:g}: rescale y (the forecast scales back exactly)")
    if 0 < size < 1.0 / MAX_MAGNITUDE:
        raise InvalidCurveError(f"every |y| is below {1.0 / MAX_MAGNITUDE:g}; rescale y (e.g. multiply by 1e30)")
    change = float(np.ptp(y)) if y.size else 0.0
    level = float(np.median(np.abs(y))) if y.size else 0.0
    if 0 < change <= FLAT_RELATIVE_CHANGE * level:
        # The normalization reads a change this small against the level as a flat curve (same threshold).
        warnings.warn(
            f"y changes by {change:g}, under a millionth of its level ({float(np.median(y)):g}), so the curve is read as flat; "
            "to forecast that change, subtract the constant offset from y first and add it back to the forecast",
            CurvecastWarning,
            stacklevel=5,
        )
    elif y.size >= 3 and change > 0:
        # The normalization's scale: the robust spread, at least a tenth of the range, and at least MIN_RELATIVE_SCALE of the level.
        q10, q90 = np.quantile(y, [0.1, 0.9])
        spread = max(float(q90 - q10), 0.1 * change)
        if spread < MIN_RELATIVE_SCALE * level:
            warnings.warn(
                f"y's spread ({spread:g}) is under a thousandth of its level ({float(np.median(y)):g}); the model reads changes "
                "against at least a thousandth of the level, so this curve reads as nearly flat and its forecast is wide and may "
                "drift: to forecast the change itself, subtract the constant offset from y first and add it back to the forecast",
                CurvecastWarning,
                stacklevel=5,
            )


def as_curve(item: Any, *, direction: Any, config: Mapping[str, Any] | None, bounds: Any) -> Curve:
    """An item of ``predict_many``: a :class:`Curve`, a mapping with ``x``, ``y``, ``x_query`` (and
    optionally ``direction``, ``config``, ``bounds``), or an ``(x, y, x_query)`` tuple; the keyword
    defaults fill what the item does not say."""
    if isinstance(item, Curve):
        return item
    if isinstance(item, Mapping):
        missing = [k for k in ("x", "y", "x_query") if k not in item]
        extra = sorted(set(item) - {"x", "y", "x_query", "direction", "config", "bounds"})
        if missing or extra:
            raise InvalidCurveError(f"a curve mapping needs keys x, y, x_query (optional: direction, config, bounds); missing {missing}, unknown {extra}")
        return Curve(
            item["x"], item["y"], item["x_query"], item.get("direction", direction), item.get("config", config), item.get("bounds", bounds)
        )
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) == 3:
        return Curve(item[0], item[1], item[2], direction, config, bounds)
    raise InvalidCurveError(f"each curve must be a curvecast.Curve, a dict with x, y, x_query, or an (x, y, x_query) tuple; got {type(item).__name__}")
