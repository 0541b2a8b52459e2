"""A prior that replays logged curves: fine-tune on your own domain's runs, not only on synthetic ones.

Each task is one curve drawn from the bank, thinned evenly to at most ``n_points`` points (first and last
kept, as prediction does), with its x scaled by a random factor and its y moved by a random affine map
that keeps the direction (the network normalizes each task from its context, so this teaches it the
curve's shape, not its units). No config is known. Mixed with a synthetic prior
(``Mixture([(curvecast.priors.default(), 4), (CurveBank(curves), 1)])``) it pulls a fine-tune towards the
curves a user actually logs while the synthetic tasks keep what the network learned about sweeps and tables.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch

from curvecast.errors import InvalidConfigError, InvalidCurveError
from curvecast.priors.batch import TaskBatch, checked_sample_size

__all__ = ["CurveBank"]


class CurveBank:
    """Tasks of one run each, replayed from ``curves``.

    Args:
        curves: ``(x, y, direction)`` triples: x increasing, y finite, ``direction`` ``"min"`` (lower is
            better) or ``"max"``; each curve needs at least ``min_points`` points.
        n_points: most points per task (longer curves are thinned evenly, first and last point kept).
        min_points: fewest points a curve may have.
        x_scale_decades: x is multiplied by ``10 ** U(-d, d)``.
        y_scale_decades: y is multiplied by ``10 ** U(-d, d)`` and shifted by ``U(-1, 1)`` times its range.
        p_late_start: share of tasks that replay a curve from a later point on, as logs that start well into a
            run do (an evaluation every few thousand steps, a resumed run): the first ``U(0, late_start_max)``
            of its points are dropped (at least ``min_points`` kept) and x keeps its values, so the task starts
            at ``x > 0``. 0 (the default) replays every curve whole and draws nothing extra.
        late_start_max: the largest share of a curve's points a late start drops.
    """

    def __init__(
        self,
        curves: Sequence[tuple[Sequence[float], Sequence[float], str]],
        *,
        n_points: int = 64,
        min_points: int = 4,
        x_scale_decades: float = 1.0,
        y_scale_decades: float = 1.0,
        p_late_start: float = 0.0,
        late_start_max: float = 0.5,
    ) -> None:
        if isinstance(n_points, bool) or not isinstance(n_points, int) or isinstance(min_points, bool) or not isinstance(min_points, int):
            raise InvalidConfigError(f"CurveBank needs int n_points and min_points, got {n_points!r} and {min_points!r}")
        if not 2 <= min_points <= n_points:
            raise InvalidConfigError(f"CurveBank needs 2 <= min_points <= n_points, got min_points={min_points}, n_points={n_points}")
        ranges = (
            ("x_scale_decades", x_scale_decades, 6),
            ("y_scale_decades", y_scale_decades, 6),
            ("p_late_start", p_late_start, 1),
            ("late_start_max", late_start_max, 1),
        )
        for name, value, high in ranges:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise InvalidConfigError(f"CurveBank.{name} must be a number in [0, {high}], got {value!r}")
        self.p_late_start, self.late_start_max = float(p_late_start), float(late_start_max)
        # Imported here: curvecast.curve imports the priors package, so a module-level import would be circular.
        from curvecast.curve import check_direction

        curves = list(curves)
        if not curves:
            raise InvalidConfigError("CurveBank needs at least one (x, y, direction) curve, got none")
        self.n_points, self.min_points = n_points, min_points
        self.x_scale_decades, self.y_scale_decades = float(x_scale_decades), float(y_scale_decades)
        x_rows = np.zeros((len(curves), n_points))
        y_rows = np.zeros((len(curves), n_points))
        lengths = np.zeros(len(curves), dtype=np.int64)
        signs = np.zeros(len(curves), dtype=np.int8)
        for i, curve in enumerate(curves):
            if not isinstance(curve, (tuple, list)) or len(curve) != 3:
                raise InvalidCurveError(f"CurveBank curve {i} must be an (x, y, direction) triple, got {type(curve).__name__}")
            try:
                x, y = np.asarray(curve[0], dtype=np.float64), np.asarray(curve[1], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InvalidCurveError(f"CurveBank curve {i}: x and y must hold numbers only ({exc}); convert them to floats first") from None
            signs[i] = check_direction(curve[2])
            if x.ndim != 1 or x.shape != y.shape:
                raise InvalidCurveError(f"CurveBank curve {i}: x and y must be 1-D of one length, got shapes {x.shape} and {y.shape}")
            if x.size < min_points:
                raise InvalidCurveError(f"CurveBank curve {i} has {x.size} points; it needs at least min_points = {min_points} (drop it, or lower min_points)")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                raise InvalidCurveError(f"CurveBank curve {i} holds NaN or infinite values; drop those points first")
            if (np.diff(x) <= 0).any() or x[0] < 0:
                raise InvalidCurveError(f"CurveBank curve {i}: x must be >= 0 and strictly increasing (sort the points and merge repeated x)")
            if np.ptp(y) <= 0:
                raise InvalidCurveError(f"CurveBank curve {i} is flat (every y equal): it teaches nothing; drop it")
            keep = np.unique(np.linspace(0, x.size - 1, min(x.size, n_points)).round().astype(np.int64))
            n = keep.size
            x_rows[i, :n], y_rows[i, :n] = x[keep], y[keep]
            x_rows[i, n:], y_rows[i, n:] = x[keep[-1]], y[keep[-1]]  # padding repeats the last point
            lengths[i] = n
        self._x = torch.from_numpy(x_rows)
        self._y = torch.from_numpy(y_rows)
        self._lengths = torch.from_numpy(lengths)
        self._signs = torch.from_numpy(signs)
        self.n_curves = len(curves)  # public, so a run's config.json records the bank's size
        # and its curves' fingerprint, so that --resume refuses a bank of other curves of the same size
        self.curves_sha256 = hashlib.sha256(b"".join(t.numpy().tobytes() for t in (self._x, self._y, self._lengths, self._signs))).hexdigest()

    def __len__(self) -> int:
        return self.n_curves

    def sample(self, n_tasks: int, *, generator: torch.Generator, device: torch.device | str = "cpu", n_points: int | None = None) -> TaskBatch:
        """``n_tasks x 1 x n_points`` batch (``n_points`` at most the bank's); all randomness from ``generator``."""
        p = checked_sample_size(n_tasks, n_points, default_points=self.n_points, min_points=self.min_points)
        if p > self.n_points:
            raise InvalidConfigError(f"this CurveBank stores at most {self.n_points} points per curve; ask for n_points <= {self.n_points}")
        gen_device = generator.device
        index = torch.randint(len(self), (n_tasks,), generator=generator, device=gen_device).cpu()
        u = torch.rand(3, n_tasks, generator=generator, device=gen_device).cpu().double()
        lengths = self._lengths[index]
        x, y = self._x[index], self._y[index]
        start = torch.zeros(n_tasks, dtype=torch.long)
        if self.p_late_start > 0:  # drop a leading share of some curves' points (drawn only when asked for)
            v = torch.rand(2, n_tasks, generator=generator, device=gen_device).cpu().double()
            droppable = (lengths - self.min_points).clamp(min=0)
            start = torch.minimum((v[1] * self.late_start_max * lengths).floor().long(), droppable)
            start = torch.where(v[0] < self.p_late_start, start, 0)
        if p < self.n_points or bool((start > 0).any()):  # thin each curve (from its start) again, evenly, to p points
            span = lengths - start
            n_new = span.clamp(max=p)
            pos = start[:, None] + torch.arange(p, dtype=torch.float64)[None, :] * (span - 1)[:, None] / (n_new - 1).clamp(min=1)[:, None]
            pick = torch.minimum(pos.round().long(), (lengths - 1)[:, None])
            pick = torch.where(torch.arange(p)[None, :] < n_new[:, None], pick, (lengths - 1)[:, None])
            x, y, lengths = x.gather(1, pick), y.gather(1, pick), n_new
        x = x * torch.pow(10.0, (2 * u[0] - 1) * self.x_scale_decades)[:, None]
        valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        y = y * torch.pow(10.0, (2 * u[1] - 1) * self.y_scale_decades)[:, None]
        y_range = torch.where(valid, y, -math.inf).amax(1) - torch.where(valid, y, math.inf).amin(1)
        y = y + ((2 * u[2] - 1) * y_range)[:, None]
        return TaskBatch.single_runs(x, y, valid, self._signs[index].clone()).to(device)

    def __repr__(self) -> str:
        return f"CurveBank({len(self)} curves, n_points={self.n_points})"
