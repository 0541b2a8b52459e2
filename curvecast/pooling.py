"""A linear pool of predictions: one predictive distribution from several forecasts of the same quantity.

>>> pooled = curvecast.pooling.pool([forecast_a, forecast_b], [0.6, 0.4])
>>> pooled.median, pooled.interval(0.9), pooled.logpdf(y)

The pool is the finite mixture ``p(y) = sum_i w_i p_i(y)`` (Stone 1961; a linear opinion pool). Its density,
CDF and mean are exact from the components'; its quantiles are the mixture CDF inverted by bisection (each lies
between the components' quantiles at the same level); its samples draw a component per trajectory, so every
sampled path is a coherent path of one forecast. A mixture's log density is at least the weighted mean of the
components' (Jensen), so a pool of two forecasts that err in different places scores better than either
on average; its bands are at least as wide as the narrower forecast's. :func:`curvecast.scaling.predict_final`
pools a run's own forecast with a scaling table's reading of its sweep this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp

from curvecast.errors import InvalidConfigError, ShapeError
from curvecast.prediction import Prediction, _check_n, check_levels, check_seed

__all__ = ["PooledPrediction", "pool"]

_BISECTIONS = 60  # halvings of the bracket: far below float64 resolution for any bracket a forecast gives


class PooledPrediction:
    """A linear pool (finite mixture) of :class:`~curvecast.Prediction` objects over the same ``m`` query
    points; it answers like a :class:`~curvecast.Prediction` (``median``, ``quantile``, ``interval``,
    ``logpdf``, ``cdf``, ``sample``, ``to_dict``, ``plot``).

    Attributes:
        components: the pooled predictions, in the order given.
        weights: their weights, non-negative and summing to 1 (a zero weight keeps its forecast for inspection).
        x: ``m`` query x values of the first component (components may place the same queries in different
            units, e.g. steps and tokens).
        mean: ``m`` predictive means (the weighted mean of the components').
        median: ``m`` predictive medians.
        direction, bounds, observed_x, observed_y, n_context, run: those of the first component.
    """

    def __init__(self, components: Sequence[Prediction], weights: Sequence[float]) -> None:
        components = list(components)
        if not components:
            raise InvalidConfigError("pool needs at least one prediction")
        for i, c in enumerate(components):
            if not isinstance(c, Prediction):
                raise InvalidConfigError(f"components[{i}] is a {type(c).__name__}; pool curvecast.Prediction objects")
        m = len(components[0].x)
        if any(len(c.x) != m for c in components):
            raise ShapeError(f"pooled predictions need the same number of query points; got {[len(c.x) for c in components]}")
        if len({c.direction for c in components}) > 1:
            raise InvalidConfigError(f"pooled predictions must share a direction; got {[c.direction for c in components]}")
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.size != len(components):
            raise ShapeError(f"pool takes one weight per prediction: {len(components)} predictions, {w.size} weights")
        if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise InvalidConfigError(f"pool weights must be finite, non-negative and not all zero (e.g. [0.6, 0.4]); got {list(weights)!r}")
        self.components = components
        self.weights = w / w.sum()
        first = components[0]
        self.x = first.x
        self.direction = first.direction
        self.bounds = first.bounds
        self.observed_x, self.observed_y = first.observed_x, first.observed_y
        self.n_context = first.n_context
        self.run = first.run
        self.mean = np.sum([wi * c.mean for wi, c in zip(self.weights, self.components)], axis=0)
        self.median = self.quantile(0.5)

    def __repr__(self) -> str:
        return f"PooledPrediction({len(self.components)} forecasts, weights {np.round(self.weights, 3).tolist()}, median at last query {self.median[-1]:.4g})"

    def _weighted(self) -> list[tuple[float, Prediction]]:
        """The components that carry weight, with their weights: a weightless forecast adds nothing to any sum."""
        return [(float(w), c) for w, c in zip(self.weights, self.components) if w > 0]

    def logpdf(self, y: Any) -> np.ndarray:
        """Log predictive density at ``y`` (one value per query point, or a scalar): ``log sum_i w_i p_i(y)``."""
        weighted = self._weighted()
        logs = np.stack([c.logpdf(y) for _, c in weighted])  # k x m
        return logsumexp(logs, axis=0, b=np.array([w for w, _ in weighted])[:, None])

    def cdf(self, y: Any) -> np.ndarray:
        """P(Y <= y) at each query point: ``sum_i w_i F_i(y)``."""
        return np.sum([w * c.cdf(y) for w, c in self._weighted()], axis=0)

    def quantile(self, qs: Any) -> np.ndarray:
        """Quantiles at levels ``qs`` (each strictly between 0 and 1): array ``len(qs) x m``; a scalar ``qs``
        gives an array of length ``m``. The mixture CDF inverted by bisection between the components'
        quantiles at the same level, which bracket it."""
        levels, scalar = check_levels(qs)
        active = [c for _, c in self._weighted()]  # a weightless forecast brackets nothing
        if len(active) == 1:
            out = active[0].quantile(levels)
            return out[0] if scalar else out
        per_component = np.stack([c.quantile(levels) for c in active])  # k x Q x m
        low, high = per_component.min(axis=0), per_component.max(axis=0)
        for _ in range(_BISECTIONS):
            mid = 0.5 * (low + high)
            below = np.stack([self.cdf(row) < q for row, q in zip(mid, levels)])  # Q x m
            low, high = np.where(below, mid, low), np.where(below, high, mid)
        out = 0.5 * (low + high)
        return out[0] if scalar else out

    interval = Prediction.interval

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n x m`` trajectories: each row a trajectory of one component, drawn with probability its weight
        (the components' own joint samples, :meth:`curvecast.Prediction.sample`)."""
        n = _check_n(n)
        rng = np.random.default_rng(check_seed(seed))
        counts = rng.multinomial(n, self.weights)
        paths = np.concatenate([c.sample(int(k), seed=int(rng.integers(2**31))) for c, k in zip(self.components, counts) if k > 0])
        return paths[rng.permutation(n)]

    def to_dict(self) -> dict[str, Any]:
        """:meth:`curvecast.Prediction.to_dict`'s summary, plus the pool's ``weights``."""
        return {**Prediction.to_dict(self), "weights": self.weights.tolist()}

    to_json = Prediction.to_json
    plot = Prediction.plot


def pool(predictions: Sequence[Prediction], weights: Sequence[float] | None = None) -> PooledPrediction:
    """The linear pool of ``predictions`` (same number of query points) with ``weights`` (non-negative, not all
    zero; normalised to sum to 1; default equal)."""
    predictions = list(predictions)
    if weights is None:
        weights = [1.0] * len(predictions)
    return PooledPrediction(predictions, weights)
