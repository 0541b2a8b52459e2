"""How training tasks are split into observed context and queried targets.

The PFN learns what the split teaches it, so the split mirrors how the model is used: some runs observed up
to a random cut (extrapolate their rest), some observed fully (other finished runs of the sweep), some not
at all (predict a run that has not started from its config alone); in some tasks the largest runs (by
model size or compute) are the ones held out, observed not at all or for a short prefix, while the rest
are finished: "how will a 4x larger model do?"; sometimes context points are dropped
at random (irregular logging); optionally (``p_short_prefix``) a run is observed for only its first few points, as
real curves logged sparsely are early in a run; and sometimes a few later points of a partly observed run join the context
as "anchors". Anchors teach the model what joint sampling asks of it: to predict given the observed prefix
plus some already-sampled future points. Normalization always comes from the prefix alone, as it does when
sampling (the anchors' z is computed with the prefix's statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from curvecast.errors import InvalidConfigError
from curvecast.validation import check_field_types
from curvecast.priors.batch import TaskBatch, config_index

__all__ = ["SplitPolicy", "Split", "sample_split"]


@dataclass(frozen=True)
class SplitPolicy:
    """Probabilities of the context/query split (per run unless noted)."""

    p_full: float = 0.2
    p_unobserved: float = 0.15
    min_cut: float = 0.05
    max_cut: float = 0.95
    p_thin: float = 0.15  # per task: drop a random part of the context
    thin_keep: float = 0.5
    p_anchors: float = 0.2  # per task: add future anchors to partly observed runs
    anchor_keep: float = 0.3  # each later point is an anchor with probability U(0, anchor_keep)
    p_holdout_largest: float = 0.0  # per multi-run task: hold out its 1-3 largest runs, finish the others
    holdout_max_cut: float = 0.3  # a held-out run is unobserved, or observed up to U(min_cut, this)
    p_short_prefix: float = 0.0  # per partly observed run: observe only its first 2..short_prefix_max points instead
    short_prefix_max: int = 5

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("p_thin", "thin_keep", "p_anchors", "anchor_keep", "p_holdout_largest", "holdout_max_cut", "p_short_prefix"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidConfigError(f"SplitPolicy.{name} is a probability; use a value in [0, 1], got {getattr(self, name)}")
        if not (0 <= self.p_full and 0 <= self.p_unobserved and self.p_full + self.p_unobserved <= 1):
            raise InvalidConfigError("SplitPolicy needs p_full, p_unobserved >= 0 with p_full + p_unobserved <= 1")
        if not 0.0 <= self.min_cut <= self.max_cut <= 1.0:
            raise InvalidConfigError("SplitPolicy needs 0 <= min_cut <= max_cut <= 1")
        if self.short_prefix_max < 2:
            raise InvalidConfigError(f"SplitPolicy.short_prefix_max is a count of observed points; use 2 or more, got {self.short_prefix_max}")


class Split(NamedTuple):
    """One draw of :func:`sample_split` (all ``T x R x P`` bool unless noted)."""

    is_context: Tensor  # observed points, anchors included
    loss_mask: Tensor  # valid points that are not context: the targets
    run_id: Tensor  # T x R long
    prefix: Tensor  # the context without anchors: what normalization is computed from


def sample_split(batch: TaskBatch, generator: torch.Generator, policy: SplitPolicy = SplitPolicy(), *, max_runs: int) -> Split:
    """Draw which points are context.

    Args:
        batch: ``T`` tasks of ``R`` runs of ``P`` points.
        generator: source of randomness (on the batch's device).
        policy: split probabilities.
        max_runs: size of the model's run-id vocabulary (``>= R``); run ids are a random subset of it.

    Returns:
        A :class:`Split`.
    """
    t, r, p = batch.x.shape
    if max_runs < r:
        raise InvalidConfigError(f"the model knows {max_runs} run ids but the prior makes tasks with {r} runs; raise ModelConfig.max_runs")
    dev = batch.x.device
    lengths = batch.run_lengths  # T x R
    u = torch.rand(t, r, generator=generator, device=dev)
    multi = (batch.run_mask.sum(-1, keepdim=True) > 1).expand(t, r)
    full = multi & (u < policy.p_full)
    unobserved = multi & (u >= policy.p_full) & (u < policy.p_full + policy.p_unobserved)
    cut_frac = policy.min_cut + (policy.max_cut - policy.min_cut) * torch.rand(t, r, generator=generator, device=dev)
    n_ctx = (cut_frac * lengths).round().long().clamp_min(1)
    if policy.p_short_prefix > 0:  # drawn only when on, so the default split is the earlier one bit for bit
        short = torch.rand(t, r, generator=generator, device=dev) < policy.p_short_prefix
        n_short = torch.randint(2, policy.short_prefix_max + 1, (t, r), generator=generator, device=dev)
        n_ctx = torch.where(short, n_short, n_ctx)
    n_ctx = torch.minimum(n_ctx, (lengths - 1).clamp_min(1))
    n_ctx = torch.where(full, lengths, torch.where(unobserved | (lengths == 0), torch.zeros_like(n_ctx), n_ctx))
    if policy.p_holdout_largest > 0:
        n_ctx = _hold_out_largest(batch, n_ctx, multi[:, 0], generator, policy)
    # Every task needs context: where all runs came out unobserved, observe the prefix of its first run with points.
    first_run = batch.run_mask.float().argmax(-1)  # T
    empty = (n_ctx.sum(-1) == 0)[:, None] & (torch.arange(r, device=dev)[None, :] == first_run[:, None])
    n_ctx = torch.where(empty, torch.minimum(lengths.clamp_min(1), (cut_frac * lengths).round().long().clamp_min(1)), n_ctx)
    idx = torch.arange(p, device=dev)
    is_context = (idx[None, None, :] < n_ctx[..., None]) & batch.point_mask
    thin_task = torch.rand(t, generator=generator, device=dev) < policy.p_thin
    drop = torch.rand(t, r, p, generator=generator, device=dev) > policy.thin_keep
    drop = drop & thin_task[:, None, None] & (idx > 0)[None, None, :]  # a run keeps its first context point
    prefix = is_context & ~drop
    partly_observed = (n_ctx > 0) & (n_ctx < lengths)  # T x R
    anchor_task = torch.rand(t, generator=generator, device=dev) < policy.p_anchors
    keep = policy.anchor_keep * torch.rand(t, 1, 1, generator=generator, device=dev)
    later = (idx[None, None, :] >= n_ctx[..., None]) & batch.point_mask & partly_observed[..., None]
    anchors = later & anchor_task[:, None, None] & (torch.rand(t, r, p, generator=generator, device=dev) < keep)
    is_context = prefix | anchors
    loss_mask = batch.point_mask & ~is_context
    run_id = torch.rand(t, max_runs, generator=generator, device=dev).argsort(-1)[:, :r]
    return Split(is_context, loss_mask, run_id, prefix)


def _hold_out_largest(batch: TaskBatch, n_ctx: Tensor, multi: Tensor, generator: torch.Generator, policy: SplitPolicy) -> Tensor:
    """``n_ctx`` (``T x R``) with, in a ``p_holdout_largest`` share of the multi-run tasks, the 1-3 largest
    runs (by model size, or by compute ``N x D`` in half of them) held out and every other run finished."""
    t, r = n_ctx.shape
    dev = n_ctx.device
    lengths = batch.run_lengths
    chosen = multi & (torch.rand(t, generator=generator, device=dev) < policy.p_holdout_largest)
    log_n = batch.config[..., config_index("n_params")].clamp(min=1.0).log()
    log_d = batch.config[..., config_index("n_tokens")].clamp(min=1.0).log()
    by_compute = (torch.rand(t, 1, generator=generator, device=dev) < 0.5).float()
    size = log_n + by_compute * log_d + 1e-3 * torch.rand(t, r, generator=generator, device=dev)  # random tie-break
    size = torch.where(batch.run_mask, size, torch.full_like(size, -torch.inf))
    rank = size.argsort(-1, descending=True).argsort(-1)  # 0 = largest run
    n_runs = batch.run_mask.sum(-1)
    n_held = 1 + (torch.rand(t, generator=generator, device=dev) * (n_runs - 1).clamp(max=3)).long().clamp(max=2)
    held = (rank < n_held[:, None]) & batch.run_mask
    cut = policy.min_cut + (policy.holdout_max_cut - policy.min_cut) * torch.rand(t, r, generator=generator, device=dev)
    prefix = (cut * lengths).round().long().clamp_min(1)
    prefix = torch.minimum(prefix, (lengths - 1).clamp_min(0))
    observed = torch.rand(t, r, generator=generator, device=dev) < 0.5
    held_ctx = torch.where(observed, prefix, torch.zeros_like(prefix))
    return torch.where(chosen[:, None], torch.where(held, held_ctx, lengths), n_ctx)
