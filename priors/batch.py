"""The data model shared by priors, the PFN and training: a batch of tasks, each with several runs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from curvecast.errors import InvalidConfigError, ShapeError

__all__ = ["CONFIG_FIELDS", "SCHEDULES", "N_HPARAMS", "TaskBatch", "config_index", "checked_sample_size"]

#: Run-configuration fields, in the order of the last axis of :attr:`TaskBatch.config`.
#: ``warmup_steps``, ``total_steps`` and ``cooldown_steps`` are measured in the units of ``x``
#: (so that a curve recorded against tokens or epochs can still state where its schedule ends);
#: ``schedule`` holds an index into :data:`SCHEDULES`.
CONFIG_FIELDS: tuple[str, ...] = (
    "n_params",
    "n_tokens",
    "batch_size",
    "lr",
    "warmup_steps",
    "total_steps",
    "cooldown_steps",
    "schedule",
)

#: Learning-rate schedule families; ``wsd`` is warmup-stable-decay (constant, then a final cooldown).
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear", "wsd")

#: Slots for free hyperparameters (any config key without a fixed meaning: dropout, optimizer, ...). Each
#: slot holds one number in ``[0, 1]`` per run: a numeric hyperparameter scaled to the task's range, or one
#: level of a categorical one as 0/1. Hyperparameters that need more slots than this are not read.
N_HPARAMS: int = 8


def config_index(name: str) -> int:
    """Position of config field ``name`` in :data:`CONFIG_FIELDS`."""
    return CONFIG_FIELDS.index(name)


def checked_sample_size(n_tasks: int, n_points: int | None, *, default_points: int, min_points: int) -> int:
    """Validate the size arguments of a prior's ``sample``; returns the number of points per run to draw."""
    n_points = default_points if n_points is None else n_points
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise InvalidConfigError(f"n_tasks must be a positive int, got {n_tasks!r}")
    if not isinstance(n_points, int) or n_points < min_points:
        raise InvalidConfigError(f"n_points must be an int >= min_points ({min_points}), got {n_points!r}")
    return n_points


@dataclass(frozen=True)
class TaskBatch:
    """A batch of tasks; a task is one training setup with several runs (configs) and one curve per run.

    Shapes (``T`` tasks, ``R`` runs per task, ``P`` points per run, ``C = len(CONFIG_FIELDS)``):

    - ``x``: ``T x R x P`` float, sorted ascending within each run over its valid points, in the task's
      own units (steps, epochs, tokens or training-set size).
    - ``y``: ``T x R x P`` float, the metric, in its own units.
    - ``point_mask``: ``T x R x P`` bool, True for real points. Valid points form a prefix of each run
      (ragged run lengths); padded entries hold finite filler values.
    - ``config``: ``T x R x C`` float, raw config values (see :data:`CONFIG_FIELDS`).
    - ``config_mask``: ``T x R x C`` bool, True where the config value is known.
    - ``direction``: ``T`` int8, ``+1`` where lower is better (losses, errors) and ``-1`` where higher is
      better (accuracies).
    - ``hparams``: ``T x R x N_HPARAMS`` float in ``[0, 1]``, free hyperparameters of each run (optional:
      ``None`` means none, stored as zeros).
    - ``hparam_mask``: ``T x R x N_HPARAMS`` bool, True for the slots a task uses (optional, like ``hparams``).

    A run with no valid point is absent; every task has at least one run with at least one point.
    """

    x: Tensor
    y: Tensor
    point_mask: Tensor
    config: Tensor
    config_mask: Tensor
    direction: Tensor
    hparams: Tensor | None = None
    hparam_mask: Tensor | None = None

    def __post_init__(self) -> None:
        if (self.hparams is None) != (self.hparam_mask is None):
            raise ShapeError("TaskBatch.hparams and hparam_mask go together: pass both or neither")
        if self.hparams is None and self.x.ndim == 3:
            t, r, _ = self.x.shape
            object.__setattr__(self, "hparams", torch.zeros(t, r, N_HPARAMS, dtype=self.x.dtype, device=self.x.device))
            object.__setattr__(self, "hparam_mask", torch.zeros(t, r, N_HPARAMS, dtype=torch.bool, device=self.x.device))
        if self.x.ndim != 3:
            raise ShapeError(f"TaskBatch.x must be n_tasks x n_runs x n_points, got shape {tuple(self.x.shape)}")
        t, r, p = self.x.shape
        expected = {
            "y": (t, r, p),
            "point_mask": (t, r, p),
            "config": (t, r, len(CONFIG_FIELDS)),
            "config_mask": (t, r, len(CONFIG_FIELDS)),
            "direction": (t,),
            "hparams": (t, r, N_HPARAMS),
            "hparam_mask": (t, r, N_HPARAMS),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ShapeError(f"TaskBatch.{name} must have shape {shape} to match x {tuple(self.x.shape)}, got {got}")
        if self.point_mask.dtype != torch.bool or self.config_mask.dtype != torch.bool or self.hparam_mask.dtype != torch.bool:
            raise ShapeError("TaskBatch.point_mask, config_mask and hparam_mask must be bool tensors")

    @classmethod
    def single_runs(cls, x: Tensor, y: Tensor, point_mask: Tensor, direction: Tensor) -> "TaskBatch":
        """Tasks of one run each, no config known: ``x``, ``y`` (cast to float32) and ``point_mask`` are
        ``n_tasks x n_points``, ``direction`` is ``n_tasks`` (+1 / -1)."""
        config = torch.zeros(x.shape[0], 1, len(CONFIG_FIELDS), device=x.device)
        return cls(
            x.float()[:, None, :],
            y.float()[:, None, :],
            point_mask[:, None, :],
            config,
            torch.zeros_like(config, dtype=torch.bool),
            direction.to(torch.int8),
        )

    @property
    def n_tasks(self) -> int:
        return self.x.shape[0]

    @property
    def n_runs(self) -> int:
        return self.x.shape[1]

    @property
    def n_points(self) -> int:
        return self.x.shape[2]

    @property
    def run_mask(self) -> Tensor:
        """``T x R`` bool: True for runs that have at least one point."""
        return self.point_mask.any(-1)

    @property
    def run_lengths(self) -> Tensor:
        """``T x R`` long: number of valid points of each run."""
        return self.point_mask.sum(-1)

    def to(self, device: torch.device | str) -> "TaskBatch":
        return TaskBatch(*(getattr(self, f).to(device) for f in _FIELDS))

    def __getitem__(self, index: slice | Tensor) -> "TaskBatch":
        """Select tasks (first axis)."""
        return TaskBatch(*(getattr(self, f)[index] for f in _FIELDS))


_FIELDS = ("x", "y", "point_mask", "config", "config_mask", "direction", "hparams", "hparam_mask")
