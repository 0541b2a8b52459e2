"""Per-task normalization computed from the observed context only.

x is divided by ``x_ref`` (the largest observed x of the task), so horizons of 10 or 10^6 steps look alike.
y is shifted and scaled by robust context statistics and, for metrics where higher is better, flipped,
so the network always sees "lower is better" values of order one:

    z = sign * (y - y_loc) / y_scale,        sign = +1 ("min") or -1 ("max")

The inverse ``y = y_loc + sign * y_scale * z`` is exact and densities transform with the Jacobian
``|dz/dy| = 1 / y_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from curvecast.errors import InvalidCurveError

__all__ = ["Normalization", "FLAT_RELATIVE_CHANGE", "MIN_RELATIVE_SCALE"]

#: A context whose spread is at most this share of its level is read as flat (its scale then comes from the level).
FLAT_RELATIVE_CHANGE = 1e-6
#: The y scale is at least this share of the level: a change smaller than that is read as nearly flat.
MIN_RELATIVE_SCALE = 1e-3


@dataclass(frozen=True)
class Normalization:
    """Affine maps of one batch of tasks; every field has shape ``batch``."""

    x_ref: Tensor
    y_loc: Tensor
    y_scale: Tensor
    sign: Tensor

    @classmethod
    def from_context(cls, x: Tensor, y: Tensor, is_context: Tensor, direction: Tensor) -> "Normalization":
        """Statistics of the context points of each task.

        Args:
            x: ``batch x n`` x values.
            y: ``batch x n`` y values.
            is_context: ``batch x n`` bool, the observed points; every task needs at least one.
            direction: ``batch`` with ``+1`` (lower is better) or ``-1`` (higher is better).
        """
        n_ctx = is_context.sum(-1)
        if bool((n_ctx == 0).any()):
            raise InvalidCurveError("every task needs at least one observed point to normalize against")
        finite = torch.isfinite(x) & torch.isfinite(y)
        if bool((is_context & ~finite).any()):
            raise InvalidCurveError("observed points must be finite: drop NaN/inf values of x and y before predicting")
        direction = direction.to(y.dtype)  # compared as numbers: in an unsigned dtype -1 would read as 255
        if not bool(((direction == 1) | (direction == -1)).all()):
            raise InvalidCurveError("direction must be +1 (lower is better, 'min') or -1 (higher is better, 'max')")
        x_obs = torch.where(is_context, x, torch.full_like(x, -torch.inf))
        x_ref = x_obs.amax(-1)
        # Curves that start at x = 0 and have only that point still need a positive reference.
        x_ref = torch.where(x_ref > 0, x_ref, torch.ones_like(x_ref))
        y_nan = torch.where(is_context, y, torch.full_like(y, torch.nan))
        # float64 statistics: a float32 quantile of y = 1e12 + [4..8] is flat, and y near 1e-300 underflows.
        q10, q50, q90 = torch.nanquantile(y_nan.double(), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64, device=y.device), dim=-1)
        y_min = torch.where(is_context, y, torch.full_like(y, torch.inf)).amin(-1)
        y_max = torch.where(is_context, y, torch.full_like(y, -torch.inf)).amax(-1)
        # Robust spread first, at least a tenth of the range and 1e-3 of the level. Fewer than three points,
        # or a flat context, say little about the scale of change: then at least 10% of the level, or 1
        # (the metric's own unit) at level 0.
        spread = q90 - q10
        scale = torch.maximum(spread, 0.1 * (y_max - y_min))
        level = q50.abs()
        no_scale = torch.where(level > 0, 0.1 * level, torch.ones_like(level))
        weak = (scale <= FLAT_RELATIVE_CHANGE * level) | (n_ctx < 3)
        scale = torch.where(weak, torch.maximum(scale, no_scale), torch.maximum(scale, MIN_RELATIVE_SCALE * level))
        return cls(x_ref=x_ref.to(x.dtype), y_loc=q50.to(y.dtype), y_scale=scale.to(y.dtype), sign=direction.to(y.dtype))

    def _b(self, v: Tensor, like: Tensor) -> Tensor:
        """Reshape a ``batch`` statistic to broadcast against ``like`` (``batch x ...``)."""
        return v.reshape(v.shape + (1,) * (like.ndim - v.ndim))

    def x_forward(self, x: Tensor) -> Tensor:
        """``batch x ...`` x -> t = x / x_ref."""
        return x / self._b(self.x_ref, x)

    def x_inverse(self, t: Tensor) -> Tensor:
        return t * self._b(self.x_ref, t)

    def y_forward(self, y: Tensor) -> Tensor:
        """``batch x ...`` y -> z."""
        return self._b(self.sign, y) * (y - self._b(self.y_loc, y)) / self._b(self.y_scale, y)

    def y_inverse(self, z: Tensor) -> Tensor:
        """``batch x ...`` z -> y (exact inverse of :meth:`y_forward`)."""
        return self._b(self.y_loc, z) + self._b(self.sign, z) * self._b(self.y_scale, z) * z

    def log_jacobian(self, like: Tensor) -> Tensor:
        """``log |dz/dy|``, broadcast to ``like``: add it to a log density in z to get one in y."""
        return -self._b(self.y_scale, like).log().expand_as(like)

    def index(self, i: Tensor | slice) -> "Normalization":
        return Normalization(self.x_ref[i], self.y_loc[i], self.y_scale[i], self.sign[i])

    def repeat_interleave(self, n: int) -> "Normalization":
        return Normalization(*(v.repeat_interleave(n, 0) for v in (self.x_ref, self.y_loc, self.y_scale, self.sign)))
