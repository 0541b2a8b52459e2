"""Learning-rate schedules on normalized time and the two areas of the LR-annealing scaling law.

Time is normalized, ``u = step / total_steps`` in ``[0, 1]``, and the LR multiplier ``eta(u)`` is scaled to
a peak of 1. Every schedule starts with a linear warmup of length ``warmup`` (a fraction of the run) and
then follows its family (see :data:`curvecast.priors.batch.SCHEDULES`):

- ``constant``: ``eta = 1`` after warmup.
- ``cosine``: half-cosine from 1 down to ``final`` between ``warmup`` and 1.
- ``linear``: straight line from 1 down to ``final`` between ``warmup`` and 1.
- ``wsd`` (warmup-stable-decay): 1 until ``1 - cooldown``, then linear (or, with ``cosine_cooldown``,
  half-cosine) decay to ``final`` at ``u = 1``.

The loss model of Tissue et al. (2024), "Scaling Law with Learning Rate Annealing", needs two areas:

- the *forward area* ``S1(u) = int_0^u eta`` (progress made; warmup and a decaying LR slow it down), and
- the *annealing area* ``S2(u)``: the LR drop ``1 - eta`` after the peak, smoothed by a momentum window.
  Tissue et al. accumulate ``m_i = lambda * m_{i-1} + (eta_{i-1} - eta_i)``; with a box window of length
  ``window`` instead of the exponential one this is exactly ``A(u) - A(u - window)``, where
  ``A(u) = int_0^u (1 - eta)`` over the post-warmup part. A window longer than the run gives the plain area.

All areas are in units of the whole run (multiply by ``total_steps`` for step units, so the forward area of
a constant schedule without warmup is ``total_steps * u``). They are computed in closed form, which is
exact and cheaper than integrating on a grid.

Shapes: ``u`` is any shape (e.g. ``n_runs x n_points``); the schedule parameters are tensors or floats
that broadcast against it (e.g. ``n_runs x 1``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from curvecast.errors import InvalidConfigError
from curvecast.priors.batch import SCHEDULES

__all__ = ["schedule_index", "decay_start", "lr_multiplier", "forward_area", "annealing_deficit", "annealing_area"]

_CONSTANT, _COSINE, _LINEAR, _WSD = (SCHEDULES.index(s) for s in ("constant", "cosine", "linear", "wsd"))


def schedule_index(schedule: str | int) -> int:
    """Index of ``schedule`` (a name or an index) in :data:`SCHEDULES`."""
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise InvalidConfigError(f"unknown schedule {schedule!r}; use one of {SCHEDULES}")
        return SCHEDULES.index(schedule)
    if not 0 <= int(schedule) < len(SCHEDULES):
        raise InvalidConfigError(f"schedule index {schedule} out of range; use 0..{len(SCHEDULES) - 1} ({SCHEDULES})")
    return int(schedule)


def decay_start(schedule: str | int, warmup: Tensor | float, cooldown: Tensor | float) -> Tensor | float:
    """Normalized time at which the LR starts to decay: ``warmup`` for cosine/linear, ``1 - cooldown`` for
    wsd, 1 (never) for constant."""
    s = schedule_index(schedule)
    if s == _CONSTANT:
        return 1.0 + 0.0 * warmup
    if s == _WSD:
        return 1.0 - cooldown
    return 1.0 * warmup


def _decay_profile(q: Tensor, cosine: bool) -> Tensor:
    """Fraction of the LR drop done at decay progress ``q`` in ``[0, 1]``."""
    return (1.0 - torch.cos(math.pi * q)) / 2.0 if cosine else q


def _deficit_profile(q: Tensor, cosine: bool) -> Tensor:
    """``int_0^q _decay_profile``."""
    return (q - torch.sin(math.pi * q) / math.pi) / 2.0 if cosine else q * q / 2.0


def _is_cosine(schedule: int, cosine_cooldown: bool) -> bool:
    return schedule == _COSINE or (schedule == _WSD and cosine_cooldown)


def _decay_progress(u: Tensor, d0: Tensor | float) -> Tensor:
    span = torch.clamp(torch.as_tensor(1.0 - d0, dtype=u.dtype, device=u.device), min=1e-12)
    return ((u - d0) / span).clamp(0.0, 1.0)


def lr_multiplier(
    u: Tensor,
    schedule: str | int,
    warmup: Tensor | float = 0.0,
    cooldown: Tensor | float = 0.0,
    final: Tensor | float = 0.0,
    *,
    cosine_cooldown: bool = False,
) -> Tensor:
    """LR multiplier ``eta(u)`` (peak 1) at normalized time ``u`` (any shape; parameters broadcast)."""
    s = schedule_index(schedule)
    warm = torch.clamp(u / torch.clamp(torch.as_tensor(warmup, dtype=u.dtype, device=u.device), min=1e-12), max=1.0)
    if s == _CONSTANT:
        return warm
    q = _decay_progress(u, decay_start(s, warmup, cooldown))
    return warm * (1.0 - (1.0 - final) * _decay_profile(q, _is_cosine(s, cosine_cooldown)))


def annealing_deficit(
    u: Tensor,
    schedule: str | int,
    warmup: Tensor | float = 0.0,
    cooldown: Tensor | float = 0.0,
    final: Tensor | float = 0.0,
    *,
    cosine_cooldown: bool = False,
) -> Tensor:
    """``A(u) = int (1 - eta)`` over the decay phase up to ``u``: the unsmoothed annealing area."""
    s = schedule_index(schedule)
    if s == _CONSTANT:
        return torch.zeros_like(u)
    d0 = decay_start(s, warmup, cooldown)
    q = _decay_progress(u, d0)
    return (1.0 - d0) * (1.0 - final) * _deficit_profile(q, _is_cosine(s, cosine_cooldown))


def forward_area(
    u: Tensor,
    schedule: str | int,
    warmup: Tensor | float = 0.0,
    cooldown: Tensor | float = 0.0,
    final: Tensor | float = 0.0,
    *,
    cosine_cooldown: bool = False,
) -> Tensor:
    """``S1(u) = int_0^u eta``, in units of the run length (same shapes as :func:`lr_multiplier`)."""
    w = torch.as_tensor(warmup, dtype=u.dtype, device=u.device)
    ramp = torch.relu(w - u)
    s1 = u - w / 2.0 + ramp * ramp / (2.0 * torch.clamp(w, min=1e-12))
    return s1 - annealing_deficit(u, schedule, warmup, cooldown, final, cosine_cooldown=cosine_cooldown)


def annealing_area(
    u: Tensor,
    schedule: str | int,
    warmup: Tensor | float = 0.0,
    cooldown: Tensor | float = 0.0,
    final: Tensor | float = 0.0,
    window: Tensor | float = 1.0,
    *,
    cosine_cooldown: bool = False,
) -> Tensor:
    """``S2(u) = A(u) - A(u - window)``: the LR drop accumulated over the last ``window`` (normalized time).

    Non-decreasing in ``u`` on ``[0, 1]`` for every schedule here, zero for ``constant``.
    """
    kw = dict(schedule=schedule, warmup=warmup, cooldown=cooldown, final=final, cosine_cooldown=cosine_cooldown)
    return annealing_deficit(u, **kw) - annealing_deficit(u - window, **kw)
