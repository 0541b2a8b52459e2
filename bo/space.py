"""Search spaces: ``{"lr": bo.Float(1e-4, 1e-1, log=True), "layers": bo.Int(1, 4), "act": bo.Categorical(["relu", "tanh"])}``.

A space maps configurations to points of the unit cube and back, the coordinates BoTorch models and
``optimize_acqf`` work in (``d`` columns, :attr:`SearchSpace.dim`):

- ``Float(low, high, log=False)``: one column, ``(v - low) / (high - low)`` (of ``log v`` with ``log=True``).
- ``Int(low, high, log=False)``: one column like a float over ``[low - 0.5, high + 0.5]``, so every integer
  owns an equal share of ``[0, 1]``; decoding rounds.
- ``Categorical(choices)``: two choices take one 0/1 column; more take one column per choice (one-hot;
  decoding takes the largest).

The same columns are the PFN's free-hyperparameter slots (:data:`curvecast.priors.batch.N_HPARAMS`, 8):
spaces that need more columns than that are accepted; parameters are shown to the model in order, each
one whose columns still fit in the slots left (a wide categorical that does not fit is skipped, and later,
narrower parameters may still be shown), and the rest are not shown (a :class:`~curvecast.errors.CurvecastWarning`
names them). Runs still inform each other through their curves, as the learners of a 20-way categorical do.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from curvecast.errors import CurvecastWarning, InvalidConfigError, SearchSpaceError
from curvecast.priors.batch import N_HPARAMS

__all__ = ["Float", "Int", "Categorical", "Param", "SearchSpace"]


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise SearchSpaceError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Float:
    """A real parameter in ``[low, high]``; ``log=True`` searches it on a log scale (needs ``low > 0``)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        low, high = _check_number("Float low", self.low), _check_number("Float high", self.high)
        if not low < high:
            raise SearchSpaceError(f"Float needs low < high, got low={low}, high={high}")
        if self.log and low <= 0:
            raise SearchSpaceError(f"Float(log=True) needs low > 0, got low={low}; search log-scaled values only over positive numbers")

    @property
    def width(self) -> int:
        return 1

    def _span(self) -> tuple[float, float]:
        return (math.log(self.low), math.log(self.high)) if self.log else (float(self.low), float(self.high))

    def encode(self, value: Any) -> list[float]:
        v = math.log(value) if self.log else float(value)
        a, b = self._span()
        return [(v - a) / (b - a)]

    def decode(self, u: Sequence[float]) -> float:
        a, b = self._span()
        v = a + min(max(float(u[0]), 0.0), 1.0) * (b - a)
        v = math.exp(v) if self.log else v
        return min(max(v, float(self.low)), float(self.high))

    def contains(self, value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and self.low <= value <= self.high


@dataclass(frozen=True)
class Int:
    """An integer parameter in ``[low, high]`` (both included); ``log=True`` searches it on a log scale."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SearchSpaceError(f"Int {name} must be an int, got {value!r}")
        if not self.low < self.high:
            raise SearchSpaceError(f"Int needs low < high, got low={self.low}, high={self.high} (a fixed value is not a search dimension)")
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"Int(log=True) needs low >= 1, got low={self.low}")

    @property
    def width(self) -> int:
        return 1

    def _span(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low - 0.5 if self.low > 1 else 0.5), math.log(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def encode(self, value: Any) -> list[float]:
        a, b = self._span()
        v = math.log(value) if self.log else float(value)
        return [(v - a) / (b - a)]

    def decode(self, u: Sequence[float]) -> int:
        a, b = self._span()
        v = a + min(max(float(u[0]), 0.0), 1.0) * (b - a)
        v = math.exp(v) if self.log else v
        return int(min(max(round(v), self.low), self.high))

    def contains(self, value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and self.low <= value <= self.high


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (strings, numbers or bools; compared with ``==``)."""

    choices: tuple

    def __init__(self, choices: Sequence[Any]) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise SearchSpaceError(f"Categorical takes a list of choices, got {choices!r}")
        values = tuple(choices)
        if len(values) < 2:
            raise SearchSpaceError(f"Categorical needs at least 2 choices, got {list(values)} (a fixed value is not a search dimension)")
        for v in values:
            if not isinstance(v, (str, int, float, bool)) or (isinstance(v, float) and not math.isfinite(v)):
                raise SearchSpaceError(f"Categorical choices must be strings, numbers or bools (JSON values), got {v!r}")
        if len({(type(v), v) for v in values}) < len(values):  # by type too, as index() matches: 1 and True differ
            raise SearchSpaceError(f"Categorical choices repeat: {list(values)}")
        object.__setattr__(self, "choices", values)

    @property
    def width(self) -> int:
        return 1 if len(self.choices) == 2 else len(self.choices)

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and c == value:
                return i
        raise SearchSpaceError(f"{value!r} is not one of the choices {list(self.choices)}")

    def encode(self, value: Any) -> list[float]:
        i = self.index(value)
        if self.width == 1:
            return [float(i)]
        return [1.0 if j == i else 0.0 for j in range(self.width)]

    def decode(self, u: Sequence[float]) -> Any:
        if self.width == 1:
            return self.choices[int(float(u[0]) >= 0.5)]
        return self.choices[int(np.argmax(np.asarray(u, dtype=float)))]

    def contains(self, value: Any) -> bool:
        return any(type(c) is type(value) and c == value for c in self.choices)


Param = Float | Int | Categorical


class SearchSpace:
    """An ordered mapping of names to :class:`Float`, :class:`Int` and :class:`Categorical`.

    Args:
        params: ``{name: Float | Int | Categorical}`` (at least one).
        warn: warn when the space needs more columns than the model has free-hyperparameter slots.
    """

    def __init__(self, params: Mapping[str, Param], *, warn: bool = True) -> None:
        if isinstance(params, SearchSpace):
            params = params.params
        if not isinstance(params, Mapping):
            raise SearchSpaceError(f"a search space is a dict of name -> bo.Float / bo.Int / bo.Categorical, got {type(params).__name__}")
        if not params:
            raise SearchSpaceError("the search space is empty; give at least one parameter, e.g. {'lr': bo.Float(1e-4, 1e-1, log=True)}")
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise SearchSpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if not isinstance(p, (Float, Int, Categorical)):
                raise SearchSpaceError(f"parameter {name!r} must be bo.Float, bo.Int or bo.Categorical, got {p!r}")
        self.params: dict[str, Param] = dict(params)
        self.dim = sum(p.width for p in self.params.values())
        columns, left, k = [], [], 0
        for name, p in self.params.items():
            if len(columns) + p.width <= N_HPARAMS:
                columns.extend(range(k, k + p.width))
            else:
                left.append(name)
            k += p.width
        #: Columns of the encoded space the model reads (at most ``N_HPARAMS``), in order.
        self.modelled_columns = columns
        if left and warn:
            warnings.warn(
                f"the search space needs {self.dim} columns but the model reads {N_HPARAMS} free hyperparameters: "
                f"{', '.join(left)} are not shown to it (their runs still inform each other through their curves)",
                CurvecastWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        return f"SearchSpace({self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.params == other.params

    @property
    def bounds(self) -> torch.Tensor:
        """``2 x d`` bounds of the encoded space (zeros and ones), as ``optimize_acqf`` takes them."""
        return torch.stack([torch.zeros(self.dim, dtype=torch.float64), torch.ones(self.dim, dtype=torch.float64)])

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` as a plain dict, or :class:`SearchSpaceError` naming what is missing, unknown or out of range."""
        if not isinstance(config, Mapping):
            raise SearchSpaceError(f"a config is a dict of parameter -> value, got {type(config).__name__}")
        missing = [k for k in self.params if k not in config]
        unknown = [k for k in config if k not in self.params]
        if missing or unknown:
            raise SearchSpaceError(f"config keys must be the search space's {list(self.params)}: missing {missing}, unknown {unknown}")
        out = {}
        for name, p in self.params.items():
            value = config[name]
            if isinstance(value, np.generic):
                value = value.item()
            if not p.contains(value):
                raise SearchSpaceError(f"config {name}={value!r} is outside the search space ({p!r})")
            out[name] = value
        return out

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``n`` configs -> ``n x d`` points of the unit cube."""
        rows = []
        for c in configs:
            c = self.validate(c)
            rows.append([u for name, p in self.params.items() for u in p.encode(c[name])])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self.dim)

    def decode(self, u: Any) -> list[dict[str, Any]]:
        """``n x d`` points of the unit cube (clipped to it) -> ``n`` configs (integers rounded, one-hot argmax)."""
        u = np.asarray(u.detach().cpu() if isinstance(u, torch.Tensor) else u, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != self.dim:
            raise SearchSpaceError(f"points must be n x {self.dim} (the encoded space), got shape {u.shape}")
        if not np.isfinite(u).all():
            raise SearchSpaceError("points hold NaN or infinite values; pass points of the unit cube")
        out = []
        for row in u:
            config, k = {}, 0
            for name, p in self.params.items():
                config[name] = p.decode(row[k : k + p.width])
                k += p.width
            out.append(config)
        return out

    def round(self, u: torch.Tensor) -> torch.Tensor:
        """``... x d`` points moved onto valid configurations (decode, then encode): what a trial would run."""
        flat = u.reshape(-1, self.dim)
        snapped = self.encode(self.decode(flat))
        return torch.as_tensor(snapped, dtype=u.dtype, device=u.device).reshape(u.shape)

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """``n x d`` scrambled-Sobol points, snapped to valid configurations."""
        sobol = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=seed)
        return self.round(sobol.draw(n, dtype=torch.float64)).numpy()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what storage keeps to recognise the space)."""
        def plain(value: Any) -> Any:  # numpy scalars (np.int64 bounds, np.float32 choices) as Python numbers
            return value.item() if isinstance(value, np.generic) else value

        out = {}
        for name, p in self.params.items():
            if isinstance(p, Categorical):
                out[name] = {"type": "categorical", "choices": [plain(c) for c in p.choices]}
            else:
                out[name] = {"type": type(p).__name__.lower(), "low": plain(p.low), "high": plain(p.high), "log": p.log}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchSpace":
        params: dict[str, Param] = {}
        for name, d in data.items():
            kind = d.get("type")
            if kind == "categorical":
                params[name] = Categorical(d["choices"])
            elif kind in ("float", "int"):
                params[name] = (Float if kind == "float" else Int)(d["low"], d["high"], log=bool(d["log"]))
            else:
                raise InvalidConfigError(f"unknown parameter type {kind!r} for {name!r} in a stored search space")
        return cls(params, warn=False)
