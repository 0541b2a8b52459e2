"""Joint samples of whole future trajectories by autoregressive sampling through the PFN.

Independent per-query marginals say nothing about how the points of one trajectory move together (a run
that ends high at step 5k also ends high at step 10k). Here queries are visited in x order; each draw is
added to the context before the next, so every sample is a coherent path from the joint predictive.
To bound the cost, at most ``max_sequential`` anchor queries (spread evenly over each task's queries) are
drawn one at a time; the remaining queries are then drawn given the context plus all anchors.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from curvecast.pfn.encoding import PFNInput
from curvecast.pfn.model import PFN

__all__ = ["sample_joint"]


def _anchor_order(t: Tensor, is_query: Tensor, max_sequential: int) -> Tensor:
    """``B x M`` token indices of the anchors of each task, in x order; ``-1`` pads tasks with fewer."""
    big = torch.finfo(t.dtype).max
    order = torch.where(is_query, t, torch.full_like(t, big)).argsort(dim=-1, stable=True)  # queries first, by x
    n_query = is_query.sum(-1)  # B
    m = int(min(max_sequential, int(n_query.max())))
    if m == 0:
        return torch.empty(t.shape[0], 0, dtype=torch.long, device=t.device)
    # Evenly spaced ranks within each task's queries, always ending on its last (farthest) query.
    frac = torch.linspace(0.0, 1.0, m, device=t.device) if m > 1 else torch.ones(1, device=t.device)
    ranks = (frac[None, :] * (n_query[:, None] - 1).clamp_min(0)).round().long()  # B x M
    anchors = order.gather(1, ranks)
    # Tasks with fewer queries than anchors repeat ranks; keep only the first occurrence of each.
    dup = torch.zeros_like(ranks, dtype=torch.bool)
    dup[:, 1:] = ranks[:, 1:] == ranks[:, :-1]
    return torch.where(dup | (n_query[:, None] == 0), torch.full_like(anchors, -1), anchors)


@torch.no_grad()
def sample_joint(
    model: PFN,
    inp: PFNInput,
    is_query: Tensor,
    t: Tensor,
    n_samples: int,
    *,
    generator: torch.Generator | None = None,
    max_sequential: int = 16,
    low: Tensor | None = None,
    high: Tensor | None = None,
) -> Tensor:
    """Draw joint samples of z at the query tokens.

    Args:
        model: the PFN.
        inp: ``B`` token sequences of length ``L`` (context and queries).
        is_query: ``B x L`` bool, the tokens to sample.
        t: ``B x L`` normalized x of each token (sets the sampling order).
        n_samples: samples per task ``S``.
        generator: source of randomness.
        max_sequential: anchors drawn one at a time (the number of forward passes is this plus one).
        low, high: optional ``B`` bounds of z per task (may be infinite); every draw is truncated to them.

    Returns:
        ``S x B x L`` samples of z (zero outside ``is_query``).
    """
    b, n_tokens = is_query.shape
    anchors = _anchor_order(t, is_query, max_sequential)  # B x M
    rep = inp.repeat_interleave(n_samples)  # (B*S) x L, sample s of task b at row b*S + s
    anchors_rep = anchors.repeat_interleave(n_samples, 0)
    z, is_ctx = rep.z.clone(), rep.is_context.clone()
    rows = torch.arange(b * n_samples, device=z.device)
    low_rep = None if low is None else low.float().repeat_interleave(n_samples, 0)  # (B*S)
    high_rep = None if high is None else high.float().repeat_interleave(n_samples, 0)
    bar = model.bar_distribution
    for j in range(anchors.shape[1]):
        idx = anchors_rep[:, j]
        active = idx >= 0
        safe_idx = idx.clamp_min(0)
        # Queries read the context only, so this anchor's logits come from the context and the anchor alone:
        # the other queries are left out of the pass, which then costs the context's length, not all L tokens.
        alone = torch.zeros_like(is_ctx)
        alone[rows, safe_idx] = active
        step = replace(rep.with_context(z, is_ctx), valid=rep.valid & (is_ctx | alone))
        logits = model.forward_chunked(step)[rows, safe_idx]  # (B*S) x K
        draw = bar.sample(logits, generator=generator, low=low_rep, high=high_rep)
        z[rows, safe_idx] = torch.where(active, draw, z[rows, safe_idx])
        is_ctx[rows, safe_idx] = is_ctx[rows, safe_idx] | active
    logits = model.forward_chunked(rep.with_context(z, is_ctx))  # (B*S) x L x K
    rest = bar.sample(
        logits,
        generator=generator,
        low=None if low_rep is None else low_rep[:, None].expand(-1, n_tokens),
        high=None if high_rep is None else high_rep[:, None].expand(-1, n_tokens),
    )
    query_rep = is_query.repeat_interleave(n_samples, 0)
    anchored = is_ctx & ~rep.is_context
    out = torch.where(anchored, z, rest)
    out = torch.where(query_rep, out, torch.zeros_like(out))
    return out.view(b, n_samples, n_tokens).transpose(0, 1)
