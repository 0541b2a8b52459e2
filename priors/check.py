"""The conformance check every prior must pass before the PFN is trained on it."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from curvecast.device import resolve_device
from curvecast.errors import InvalidConfigError, PriorCheckError
from curvecast.priors.batch import CONFIG_FIELDS, SCHEDULES, TaskBatch, config_index

__all__ = ["check_prior"]


def _fail(prior: object, message: str) -> None:
    raise PriorCheckError(f"{type(prior).__name__}: {message}")


def _sample(prior: object, n_tasks: int, seed: int, device: torch.device) -> TaskBatch:
    generator = torch.Generator(device=device).manual_seed(seed)
    try:
        batch = prior.sample(n_tasks, generator=generator, device=device)
    except PriorCheckError:
        raise
    except Exception as exc:
        raise PriorCheckError(f"{type(prior).__name__}.sample({n_tasks}, generator=..., device={str(device)!r}) raised {exc!r}") from exc
    if not isinstance(batch, TaskBatch):
        _fail(prior, f"sample() must return a TaskBatch, got {type(batch).__name__}")
    return batch


def _check_batch(prior: object, batch: TaskBatch, n_tasks: int, device: torch.device) -> None:
    if batch.n_tasks != n_tasks:
        _fail(prior, f"asked for {n_tasks} tasks, got {batch.n_tasks}")
    for name in ("x", "y", "point_mask", "config", "config_mask", "direction"):
        tensor = getattr(batch, name)
        if tensor.device.type != device.type:
            _fail(prior, f"TaskBatch.{name} is on {tensor.device}, asked for {device}")
    for name in ("x", "y", "config"):
        tensor = getattr(batch, name)
        if not tensor.is_floating_point():
            _fail(prior, f"TaskBatch.{name} must be a float tensor, got {tensor.dtype}")
        if not torch.isfinite(tensor).all():
            _fail(prior, f"TaskBatch.{name} has NaN or inf entries (padded entries must be finite too)")
    mask = batch.point_mask
    if (mask[..., 1:] & ~mask[..., :-1]).any():
        _fail(prior, "valid points must form a prefix of each run (point_mask True, then only False)")
    both_valid = mask[..., 1:] & mask[..., :-1]
    if ((batch.x[..., 1:] < batch.x[..., :-1]) & both_valid).any():
        _fail(prior, "x must be sorted ascending within the valid points of each run")
    if not batch.run_mask.any(-1).all():
        _fail(prior, "every task needs at least one run with at least one valid point")
    if (batch.config_mask & ~batch.run_mask[..., None]).any():
        _fail(prior, "config_mask must be False for runs without valid points")
    schedule = batch.config[..., config_index("schedule")]
    known = batch.config_mask[..., config_index("schedule")]
    bad = (schedule != schedule.round()) | (schedule < 0) | (schedule > len(SCHEDULES) - 1)
    if (bad & known).any():
        _fail(prior, f"known schedule values must be integral indices into SCHEDULES (0..{len(SCHEDULES) - 1})")
    if batch.config.shape[-1] != len(CONFIG_FIELDS):
        _fail(prior, f"config needs {len(CONFIG_FIELDS)} fields {CONFIG_FIELDS}")
    if batch.direction.dtype == torch.bool or (not batch.direction.is_floating_point() and not batch.direction.is_signed()):
        _fail(prior, f"direction must be a signed integer or float tensor of +1 / -1, got {batch.direction.dtype} (-1 does not exist in it)")
    if not ((batch.direction == 1) | (batch.direction == -1)).all():
        _fail(prior, "direction must be +1 (lower is better) or -1 (higher is better)")
    if ((batch.x < 0) & mask).any():
        _fail(prior, "x must be >= 0 at valid points (steps, epochs, tokens ... counted from 0 or 1: curvecast reads no negative x)")
    if batch.hparams.device.type != device.type or batch.hparam_mask.device.type != device.type:
        _fail(prior, f"TaskBatch.hparams and hparam_mask must be on {device}")
    used = batch.hparams[batch.hparam_mask]
    if not torch.isfinite(batch.hparams).all() or ((used < 0) | (used > 1)).any():
        _fail(prior, "hparams must be finite everywhere, and in [0, 1] in the slots hparam_mask marks (encode each free hyperparameter there)")
    if (batch.hparam_mask & ~batch.run_mask[..., None]).any():
        _fail(prior, "hparam_mask must be False for runs without valid points")


_COMPARED = ("x", "y", "point_mask", "config", "config_mask", "direction", "hparams", "hparam_mask")


def _same(a: TaskBatch, b: TaskBatch) -> bool:
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in _COMPARED)


_RNG_NAMES = ("torch", "numpy", "Python random", "CUDA")


def _rng_states(device: torch.device) -> list[Any]:
    states: list[Any] = [torch.random.get_rng_state(), np.random.get_state(), random.getstate()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


def _equal_state(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, tuple) and a and a[0] == "MT19937":  # numpy's legacy state: (name, keys, pos, has_gauss, cached)
        return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    return a == b


def check_prior(prior: object, *, n_tasks: int = 16, seed: int = 0, device: torch.device | str = "cpu") -> None:
    """Raise :class:`~curvecast.errors.PriorCheckError` naming the first rule ``prior`` breaks.

    Rules: ``sample`` returns a :class:`TaskBatch` of ``n_tasks`` tasks on ``device``; ``x``, ``y`` and
    ``config`` are finite everywhere (padding included); valid points are a prefix of each run and ``x``
    is sorted ascending over them; every task has a run with a point; ``config_mask`` is False for absent
    runs and known schedules are valid indices; ``direction`` is +1 or -1; ``hparams`` are finite, in
    ``[0, 1]`` where ``hparam_mask`` marks them, and unmarked for absent runs; the same seed gives the same
    batch (hyperparameters included), another seed a different one, and ``n_tasks + 1`` tasks when asked;
    ``x >= 0``; some task has something to predict from a context (a run of two or more points, or two runs);
    the global RNGs (torch's, numpy's, Python's ``random``) are left untouched.
    """
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or n_tasks < 1:
        raise InvalidConfigError(f"check_prior's n_tasks must be a positive int, got {n_tasks!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**62:
        raise InvalidConfigError(f"check_prior's seed must be a non-negative int, got {seed!r}")
    device = resolve_device(device)
    before = _rng_states(device)
    batch = _sample(prior, n_tasks, seed, device)
    after = _rng_states(device)
    changed = [name for name, a, b in zip(_RNG_NAMES, before, after) if not _equal_state(a, b)]
    if changed:
        _fail(prior, f"sample() changed the global {changed[0]} RNG; draw all randomness from the `generator` argument")
    _check_batch(prior, batch, n_tasks, device)
    if not (batch.point_mask.sum(-1) >= 2).any() and not (batch.run_mask.sum(-1) >= 2).any():
        _fail(prior, "no task has a run with two or more points, or two runs: the PFN would have nothing to predict from a context")
    _check_batch(prior, _sample(prior, n_tasks + 1, seed, device), n_tasks + 1, device)  # n_tasks is honoured, not fixed
    if not _same(batch, _sample(prior, n_tasks, seed, device)):
        _fail(prior, f"two samples with seed {seed} differ; draw all randomness from the `generator` argument")
    other = _sample(prior, n_tasks, seed + 1, device)
    _check_batch(prior, other, n_tasks, device)
    if _same(batch, other):
        _fail(prior, f"samples with seeds {seed} and {seed + 1} are identical; the prior must use its `generator`")
