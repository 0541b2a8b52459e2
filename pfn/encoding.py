"""Turn observed and query points into PFN tokens.

A task becomes one sequence of ``L`` tokens, one per point of any of its runs. Context tokens carry
``(run, config, free hyperparameters, x, y)``; query tokens carry ``(run, config, free hyperparameters, x)``
and ask for y. Static features (x, config, task statistics) are computed once; the dynamic part (which
tokens are context, and their normalized y ``z``) lives beside them so autoregressive sampling can turn
queries into context cheaply. Where a run's schedule and length are known, each token also carries where it
sits in that schedule (:func:`schedule_features`: the fraction of the run done, the LR multiplier there and
the forward and annealing areas of the LR-annealing law), so the model need not work out from raw config
numbers where a cooldown begins. Free hyperparameters are ``N_HPARAMS`` slots of values in ``[0, 1]``
(see :data:`curvecast.priors.batch.N_HPARAMS`), given to the model as ``2 theta - 1`` and a used-slot flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import Tensor

from curvecast.errors import InvalidCurveError, ShapeError
from curvecast.pfn.normalization import Normalization
from curvecast.priors.batch import CONFIG_FIELDS, N_HPARAMS, SCHEDULES, TaskBatch, config_index

__all__ = [
    "PFNInput",
    "N_STATIC_FEATURES",
    "N_HPARAM_FEATURES",
    "N_SCHEDULE_FEATURES",
    "EncodedTasks",
    "encode",
    "encode_task_batch",
    "hparam_features",
    "schedule_features",
]

_LOG10 = math.log(10.0)
_N_NUMERIC_CONFIG = len(CONFIG_FIELDS) - 1  # every field but the categorical schedule
N_STATIC_FEATURES = 2 + _N_NUMERIC_CONFIG + len(SCHEDULES) + len(CONFIG_FIELDS) + 5
N_HPARAM_FEATURES = 2 * N_HPARAMS
N_SCHEDULE_FEATURES = 6
#: Cooldown length (fraction of the run) the encoding assumes for a ``wsd`` run whose ``cooldown_steps`` is
#: unknown. :class:`curvecast.Predictor` does not rely on it: it fills in each of its ``wsd_cooldowns`` and mixes.
DEFAULT_WSD_COOLDOWN = 0.2


@dataclass(frozen=True)
class PFNInput:
    """One batch of token sequences (``B`` sequences of ``L`` tokens).

    - ``features``: ``B x L x N_STATIC_FEATURES`` static token features.
    - ``run_id``: ``B x L`` long, which run of its task a token belongs to.
    - ``z``: ``B x L`` normalized y; only read where ``is_context``.
    - ``is_context``: ``B x L`` bool, observed tokens (the only ones attention reads from).
    - ``valid``: ``B x L`` bool, False for padding.
    - ``hparams``: ``B x L x N_HPARAM_FEATURES`` free-hyperparameter features (zeros: none).
    - ``schedule``: ``B x L x N_SCHEDULE_FEATURES`` position in the LR schedule (zeros: unknown).
    """

    features: Tensor
    run_id: Tensor
    z: Tensor
    is_context: Tensor
    valid: Tensor
    hparams: Tensor | None = None
    schedule: Tensor | None = None

    def __post_init__(self) -> None:
        b, n = self.run_id.shape
        if self.hparams is None:
            object.__setattr__(self, "hparams", torch.zeros(b, n, N_HPARAM_FEATURES, device=self.features.device))
        if self.schedule is None:
            object.__setattr__(self, "schedule", torch.zeros(b, n, N_SCHEDULE_FEATURES, device=self.features.device))

    def with_context(self, z: Tensor, is_context: Tensor) -> "PFNInput":
        return replace(self, z=z, is_context=is_context)

    def map(self, fn: Callable[[Tensor], Tensor]) -> "PFNInput":
        """The same tokens with ``fn`` applied to every field (all have the batch first, tokens second)."""
        return PFNInput(*(fn(getattr(self, f)) for f in _INPUT_FIELDS))

    def repeat_interleave(self, n: int) -> "PFNInput":
        """Each sequence repeated ``n`` times along the batch (for drawing ``n`` joint samples)."""
        return self.map(lambda t: t.repeat_interleave(n, 0))


_INPUT_FIELDS = ("features", "run_id", "z", "is_context", "valid", "hparams", "schedule")


def schedule_features(x: Tensor, config: Tensor, config_mask: Tensor) -> Tensor:
    """Where each point sits in its run's LR schedule: ``... x N_SCHEDULE_FEATURES`` (all zero where unknown).

    Needs ``total_steps`` (in the units of ``x``); the schedule-dependent columns also need ``schedule``.
    Columns: ``u = x / total_steps`` (clipped to ``[0, 2]``, halved), a known-length flag, then, with a
    known schedule, the LR multiplier ``eta(u)``, the forward area ``S1(u)`` and the annealing deficit
    ``A(u)`` as a share of its final value (:mod:`curvecast.priors.schedules`), and a known-schedule flag.
    Warmup and cooldown lengths come from ``warmup_steps`` / ``cooldown_steps`` when known; otherwise no
    warmup, and a ``wsd`` cooldown of :data:`DEFAULT_WSD_COOLDOWN` of the run. The final LR is taken as 0.
    """
    from curvecast.priors import schedules

    known = config_mask & torch.isfinite(config)
    i_total, i_schedule = config_index("total_steps"), config_index("schedule")
    has_total = known[..., i_total] & (config[..., i_total] > 0)
    total = torch.where(has_total, config[..., i_total], torch.ones_like(x))
    u_raw = torch.where(has_total, x.clamp_min(0.0) / total, torch.zeros_like(x))
    u = u_raw.clamp(0.0, 1.0)

    def fraction(name: str, default: float) -> Tensor:
        i = config_index(name)
        value = torch.where(known[..., i] & has_total, config[..., i].clamp_min(0.0) / total, torch.full_like(x, default))
        return value.clamp(0.0, 1.0)

    warmup, cooldown = fraction("warmup_steps", 0.0), fraction("cooldown_steps", DEFAULT_WSD_COOLDOWN)
    has_schedule = has_total & known[..., i_schedule]
    index = torch.where(has_schedule, config[..., i_schedule].round().clamp(0, len(SCHEDULES) - 1), torch.zeros_like(x))
    eta, area, deficit = torch.zeros_like(x), torch.zeros_like(x), torch.zeros_like(x)
    for k in range(len(SCHEDULES)):
        here = has_schedule & (index == k)
        if not bool(here.any()):
            continue
        eta = torch.where(here, schedules.lr_multiplier(u, k, warmup, cooldown), eta)
        area = torch.where(here, schedules.forward_area(u, k, warmup, cooldown), area)
        full = schedules.annealing_deficit(torch.ones_like(u), k, warmup, cooldown)
        share = schedules.annealing_deficit(u, k, warmup, cooldown) / full.clamp_min(1e-9)
        deficit = torch.where(here, torch.where(full > 1e-9, share, torch.zeros_like(share)), deficit)
    columns = [u_raw.clamp(0.0, 2.0) / 2.0, has_total.to(x.dtype), eta, area, deficit, has_schedule.to(x.dtype)]
    return torch.stack(columns, dim=-1).float()


def hparam_features(hparams: Tensor, hparam_mask: Tensor) -> Tensor:
    """``... x N_HPARAMS`` values in ``[0, 1]`` and used-slot mask -> ``... x N_HPARAM_FEATURES`` features."""
    used = hparam_mask & torch.isfinite(hparams)
    centred = torch.where(used, 2.0 * hparams.clamp(0.0, 1.0) - 1.0, torch.zeros_like(hparams))
    return torch.cat([centred, used.to(hparams.dtype)], dim=-1).float()


def _config_features(config: Tensor, config_mask: Tensor, x_ref: Tensor) -> Tensor:
    """``B x L x C`` raw config -> ``B x L x (numeric + one-hot schedule + known flags)`` features."""
    known = config_mask & torch.isfinite(config)
    positive = known & (config > 0)
    safe = torch.where(positive, config, torch.ones_like(config))
    log10 = safe.log() / _LOG10
    x_ref_b = x_ref[:, None]
    cols = []
    for name, offset, scale in (("n_params", 8.0, 2.0), ("n_tokens", 10.0, 2.0), ("batch_size", 2.0, 1.5), ("lr", -3.0, 1.5)):
        i = config_index(name)
        cols.append(torch.where(positive[..., i], (log10[..., i] - offset) / scale, torch.zeros_like(log10[..., i])))
    for name in ("warmup_steps", "total_steps", "cooldown_steps"):
        i = config_index(name)
        value = torch.where(known[..., i], config[..., i].clamp_min(0.0), torch.zeros_like(config[..., i]))
        cols.append(torch.asinh(value / x_ref_b) / 3.0)
    i = config_index("schedule")
    schedule = torch.where(known[..., i], config[..., i].round().long().clamp(0, len(SCHEDULES) - 1), torch.zeros_like(config[..., i], dtype=torch.long))
    one_hot = torch.nn.functional.one_hot(schedule, len(SCHEDULES)).to(config.dtype) * known[..., i : i + 1]
    return torch.cat([torch.stack(cols, -1), one_hot, known.to(config.dtype)], dim=-1)


def encode(
    x: Tensor,
    y: Tensor,
    is_context: Tensor,
    valid: Tensor,
    run_id: Tensor,
    config: Tensor,
    config_mask: Tensor,
    direction: Tensor,
    normalization: Normalization | None = None,
    hparams: Tensor | None = None,
    hparam_mask: Tensor | None = None,
) -> tuple[PFNInput, Normalization]:
    """Tokens for ``B`` tasks given as flat point lists.

    Args:
        x: ``B x L`` x of each point (context and query).
        y: ``B x L`` y of each point; only read where ``is_context`` (fill queries with anything finite).
        is_context: ``B x L`` bool, observed points.
        valid: ``B x L`` bool, False for padding.
        run_id: ``B x L`` long, run index of each point within its task.
        config: ``B x L x len(CONFIG_FIELDS)`` raw config of each point's run.
        config_mask: ``B x L x len(CONFIG_FIELDS)`` bool, known config values.
        direction: ``B``, +1 (lower is better) or -1 (higher is better).
        normalization: reuse these statistics instead of computing them from the context.
        hparams: ``B x L x N_HPARAMS`` free hyperparameters in ``[0, 1]`` of each point's run (optional).
        hparam_mask: ``B x L x N_HPARAMS`` bool, the slots in use (required with ``hparams``).

    Returns:
        The tokens, and the per-task normalization (use it to map predictions back to y units).
    """
    if x.ndim != 2 or y.shape != x.shape or is_context.shape != x.shape or valid.shape != x.shape or run_id.shape != x.shape:
        raise ShapeError(f"x, y, is_context, valid and run_id must all be B x L; got {[tuple(t.shape) for t in (x, y, is_context, valid, run_id)]}")
    if config.shape != (*x.shape, len(CONFIG_FIELDS)) or config_mask.shape != config.shape:
        raise ShapeError(f"config and config_mask must be B x L x {len(CONFIG_FIELDS)}, got {tuple(config.shape)} and {tuple(config_mask.shape)}")
    is_context = is_context & valid
    if bool((valid.any(-1) & ~is_context.any(-1)).any()):
        # A query with nothing to attend to has no posterior (and attention over an empty set is undefined).
        raise InvalidCurveError("every task needs at least one observed (context) point")
    norm = normalization or Normalization.from_context(x, y, is_context, direction)
    t = norm.x_forward(x)
    x_feats = torch.stack([t.clamp(0.0, 100.0) / 10.0, t.clamp_min(1e-4).log() / 4.0], dim=-1)
    cfg = _config_features(config, config_mask, norm.x_ref)
    is_max = (norm.sign < 0).to(x.dtype)
    ratio = norm.y_loc / norm.y_scale
    task = torch.stack(
        [
            norm.x_ref.log10() / 3.0,
            is_max,
            torch.asinh(ratio) / 4.0,
            (norm.y_scale.log10() / 4.0).clamp(-3.0, 3.0),
            torch.asinh((1.0 - norm.y_loc) / norm.y_scale) / 4.0 * is_max,
        ],
        dim=-1,
    )
    features = torch.cat([x_feats, cfg, task[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
    features = torch.where(valid[..., None], features, torch.zeros_like(features))
    z = torch.where(is_context, norm.y_forward(y), torch.zeros_like(y))
    hp = None
    if hparams is not None:
        if hparam_mask is None or hparams.shape != (*x.shape, N_HPARAMS) or hparam_mask.shape != hparams.shape:
            raise ShapeError(f"hparams and hparam_mask must both be B x L x {N_HPARAMS}")
        hp = torch.where(valid[..., None], hparam_features(hparams, hparam_mask), 0.0)
    sched = torch.where(valid[..., None], schedule_features(x, config, config_mask), 0.0)
    inp = PFNInput(features=features.float(), run_id=run_id.long(), z=z.float(), is_context=is_context, valid=valid, hparams=hp, schedule=sched)
    return inp, norm


class EncodedTasks(NamedTuple):
    """What :func:`encode_task_batch` returns."""

    inp: PFNInput  # T x L tokens
    norm: Normalization  # per task
    target: Tensor  # T x L normalized y (z) of every token
    token_index: Tensor  # T x L long: position of each token among the R * P flattened points of its task


def encode_task_batch(
    batch: TaskBatch, is_context: Tensor, run_id: Tensor | None = None, *, normalize_on: Tensor | None = None, compact: bool = True
) -> EncodedTasks:
    """Tokens for a :class:`TaskBatch`: its ``R`` runs x ``P`` points flattened into one sequence per task.

    Args:
        batch: ``T`` tasks of ``R`` runs of ``P`` points.
        is_context: ``T x R x P`` bool, which valid points are observed.
        run_id: ``T x R`` long run ids (default ``0 .. R-1``).
        normalize_on: ``T x R x P`` bool, the points normalization statistics come from (default: the
            context); a subset of the context, e.g. the observed prefix without sampled anchors.
        compact: drop padding: valid points move to the front (in run, then point order) and every sequence
            is cut to the longest task's number of valid points, ``L <= R * P``. Without it ``L = R * P``.

    Returns:
        Tokens, normalization, normalized targets and each token's index among the ``R * P`` points (gather
        any other ``T x R x P`` tensor, flattened, with it to line it up with the tokens).
    """
    t, r, p = batch.x.shape
    if is_context.shape != (t, r, p):
        raise ShapeError(f"is_context must be {(t, r, p)}, got {tuple(is_context.shape)}")
    if run_id is None:
        run_id = torch.arange(r, device=batch.x.device).expand(t, r)
    valid = batch.point_mask.reshape(t, r * p)
    if compact:
        # A stable sort of "is padding" keeps the valid points in run-then-point order.
        order = (~valid).to(torch.int8).argsort(dim=-1, stable=True)
        token_index = order[:, : max(1, int(valid.sum(-1).max()))]
    else:
        token_index = torch.arange(r * p, device=valid.device).expand(t, r * p)

    def flat(v: Tensor) -> Tensor:  # T x R x P x ... -> T x L x ...
        v = v.reshape(t, r * p, *v.shape[3:])
        return v.gather(1, token_index.view(t, -1, *([1] * (v.ndim - 2))).expand(-1, -1, *v.shape[2:]))

    def per_point(v: Tensor) -> Tensor:  # T x R x ... -> T x R x P x ...
        return v[:, :, None].expand(t, r, p, *v.shape[2:])

    norm = None
    if normalize_on is not None:
        norm = Normalization.from_context(flat(batch.x), flat(batch.y), flat(normalize_on & batch.point_mask), batch.direction)
    inp, norm = encode(
        flat(batch.x),
        flat(batch.y),
        flat(is_context),
        flat(batch.point_mask),
        flat(per_point(run_id)),
        flat(per_point(batch.config)),
        flat(per_point(batch.config_mask)),
        batch.direction,
        normalization=norm,
        hparams=flat(per_point(batch.hparams)),
        hparam_mask=flat(per_point(batch.hparam_mask)),
    )
    return EncodedTasks(inp, norm, norm.y_forward(flat(batch.y)), token_index)
