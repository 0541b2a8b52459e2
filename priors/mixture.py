"""A mixture of priors: each task comes from one component, picked at random by weight."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from curvecast.errors import InvalidConfigError
from curvecast.priors.batch import TaskBatch

__all__ = ["Mixture", "concat_batches"]


def _pad(tensor: torch.Tensor, n_runs: int, n_points: int | None, fill: Any) -> torch.Tensor:
    """Pad the run axis (1) to ``n_runs`` and, if given, the point axis (2) to ``n_points``."""
    t, r = tensor.shape[:2]
    if n_points is not None and tensor.shape[2] < n_points:
        # Repeat each run's last entry: padded x stays sorted and every padded value is finite.
        tail = tensor[:, :, -1:].expand(t, r, n_points - tensor.shape[2])
        tensor = torch.cat([tensor, tail if fill is None else torch.full_like(tail, fill)], dim=2)
    if r < n_runs:
        shape = (t, n_runs - r, *tensor.shape[2:])
        tensor = torch.cat([tensor, torch.zeros(shape, dtype=tensor.dtype, device=tensor.device)], dim=1)
    return tensor


def concat_batches(batches: Sequence[TaskBatch]) -> TaskBatch:
    """Stack batches along the task axis, padding runs and points to the largest (masked out)."""
    n_runs = max(b.n_runs for b in batches)
    n_points = max(b.n_points for b in batches)
    parts = []
    for b in batches:
        parts.append(
            (
                _pad(b.x, n_runs, n_points, None),
                _pad(b.y, n_runs, n_points, None),
                _pad(b.point_mask, n_runs, n_points, False),
                _pad(b.config, n_runs, None, None),
                _pad(b.config_mask, n_runs, None, None),
                b.direction,
                _pad(b.hparams, n_runs, None, None),
                _pad(b.hparam_mask, n_runs, None, None),
            )
        )
    return TaskBatch(*(torch.cat(list(field), dim=0) for field in zip(*parts)))


class Mixture:
    """Tasks from several priors: ``Mixture([(prior_a, 3.0), (prior_b, 1.0)])`` draws 3 of 4 tasks from ``prior_a``.

    Args:
        components: ``(prior, weight)`` pairs; every prior has the usual ``sample`` method and every weight
            is a positive finite number (weights need not sum to one).

    ``sample`` picks each task's component from ``generator``, samples each component once for its share and
    pads runs and points to the largest component (padding is masked out), so the mixture passes
    :func:`~curvecast.priors.check_prior` whenever its components do.
    """

    def __init__(self, components: Sequence[tuple[Any, float]]) -> None:
        components = list(components)
        if not components:
            raise InvalidConfigError("Mixture needs at least one (prior, weight) pair, got none")
        for i, pair in enumerate(components):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InvalidConfigError(f"Mixture component {i} must be a (prior, weight) pair, got {pair!r}")
            prior, weight = pair
            if not callable(getattr(prior, "sample", None)):
                raise InvalidConfigError(f"Mixture component {i} ({type(prior).__name__}) has no sample() method; pass a prior object")
            if isinstance(weight, np.generic) and not isinstance(weight, np.bool_):
                weight = weight.item()  # numpy scalars (np.int64(2), np.float32(0.5)) are numbers too
            if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, (int, float)) or not (math.isfinite(weight) and weight > 0):
                hint = "; drop the component instead of weighting it 0" if weight == 0 and not isinstance(weight, (bool, np.bool_)) else ""
                raise InvalidConfigError(f"Mixture weight {i} must be a positive finite number (weights are relative: 3 and 1 draw 3 of 4 tasks from the first), got {weight!r}{hint}")
        self.components: tuple[tuple[Any, float], ...] = tuple((p, float(w)) for p, w in components)

    @property
    def weights(self) -> torch.Tensor:
        """Component probabilities (weights normalised to sum to one)."""
        w = torch.tensor([w for _, w in self.components], dtype=torch.float64)
        w = w / w.max()  # first: weights near the float limit would sum to inf
        return w / w.sum()

    @property
    def n_points(self) -> int:
        """The longest run any component draws by default (training reads it to size evaluation data)."""
        return max(int(getattr(p, "n_points", 64)) for p, _ in self.components)

    def sample(self, n_tasks: int, *, generator: torch.Generator, device: torch.device | str = "cpu", n_points: int | None = None) -> TaskBatch:
        """``n_tasks`` tasks; shapes pad to the largest component's runs and points."""
        if not isinstance(n_tasks, int) or n_tasks < 1:
            raise InvalidConfigError(f"n_tasks must be a positive int, got {n_tasks!r}")
        probs = self.weights.to(device=device, dtype=torch.float32)
        choice = torch.multinomial(probs, n_tasks, replacement=True, generator=generator)
        batches, order = [], []
        for k, (prior, _) in enumerate(self.components):
            index = (choice == k).nonzero().flatten()
            if index.numel() == 0:
                continue
            kwargs = {} if n_points is None else {"n_points": n_points}
            batches.append(prior.sample(int(index.numel()), generator=generator, device=device, **kwargs))
            order.append(index)
        merged = concat_batches(batches)
        # Put every task back where its component draw placed it, so task i always comes from choice[i].
        return merged[torch.cat(order).argsort()]

    def __repr__(self) -> str:
        inner = ", ".join(f"({type(p).__name__}, {w:g})" for p, w in self.components)
        return f"Mixture([{inner}])"
