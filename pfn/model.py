"""The curvecast PFN: a transformer that reads observed points and predicts a bar distribution at queries.

Every token is one point of one run. Context tokens (observed points) attend to each other; query tokens
attend to the context only, never to other queries, so each query's prediction is the posterior
predictive given the context alone (PFN attention, Müller et al. 2022). One
``scaled_dot_product_attention`` call per layer does both, with a key mask that admits context tokens.

A token's embedding is the sum of three parts: its features and y (``encoder``), its run's id
(``run_embedding``: ids are drawn at random per task in training, so the model learns "same id, same run"
rather than anything about a particular id), and its run's free hyperparameters (``hparam_encoder``).
With ``hparam_attention``, each head also biases its attention by how far apart two points' runs are in
hyperparameter space, with a learned bandwidth: a kernel in the sense of Gaussian-process regression.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from curvecast.errors import InvalidConfigError
from curvecast.validation import check_field_types
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.pfn.encoding import N_HPARAM_FEATURES, N_SCHEDULE_FEATURES, N_STATIC_FEATURES, PFNInput

__all__ = ["ModelConfig", "PFN", "run_roughness"]

_Z_CLIP = 100.0


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a :class:`PFN`."""

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    n_bars: int = 256
    #: Size of the run-id vocabulary: the most runs one task may hold.
    max_runs: int = 16
    dropout: float = 0.0
    #: Whether the model reads free hyperparameters (``N_HPARAMS`` slots); models saved before they existed do not.
    read_hparams: bool = True
    #: Whether the model reads each token's position in its LR schedule (``PFNInput.schedule``); models saved
    #: before it existed do not.
    read_schedule: bool = True
    #: Whether attention between points is biased by the distance of their runs' free hyperparameters
    #: (``-b_h d^2`` per head ``h``, ``b_h`` learned from 0): a kernel the model can sharpen to let runs close
    #: in hyperparameter space inform each other more. Models saved before it existed do not.
    hparam_attention: bool = True
    #: Whether the model reads how rough each run's observed points are (:func:`run_roughness`: the geometric
    #: mean of their second differences in normalized units). Off by default: the shipped models predate it.
    read_roughness: bool = False

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("d_model", "n_layers", "n_heads", "d_ff", "max_runs"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise InvalidConfigError(f"ModelConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_bars < 3:
            raise InvalidConfigError(f"ModelConfig.n_bars must be >= 3, got {self.n_bars}")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidConfigError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


def run_roughness(z: Tensor, ctx: Tensor, run_id: Tensor, max_runs: int) -> Tensor:
    """Per token, how rough its run's observed points are: ``B x L x 2``.

    Channel 0 is ``log10(geometric mean of |z[i-1] - 2 z[i] + z[i+1]| + 1e-6) / 3`` over the second differences
    of consecutive context tokens of the run (tokens hold a run's points in x order), channel 1 is 1 where the
    run has at least one such triple (else both are 0). On a log scale the noise of a smooth curve shows
    across decades (sd 1e-4 to 1e-2 of its spread) where ``z`` itself barely moves, and a few large second
    differences (an early transient's curvature, a spike) do not dominate it.

    Args:
        z: ``B x L`` normalized values (0 at non-context tokens).
        ctx: ``B x L`` bool, the context tokens.
        run_id: ``B x L`` long run ids.
        max_runs: the run-id vocabulary size (ids are clamped into it).
    """
    b, n = z.shape
    out = torch.zeros(b, n, 2, dtype=z.dtype, device=z.device)
    if n < 3:
        return out
    ids = run_id.clamp(0, max_runs - 1)
    linked = ctx[:, 1:] & ctx[:, :-1] & (ids[:, 1:] == ids[:, :-1])  # B x L-1: token i and i+1, same run, both seen
    triple = linked[:, 1:] & linked[:, :-1]  # B x L-2, centred on token i+1
    d2 = z[:, 2:] - 2.0 * z[:, 1:-1] + z[:, :-2]
    log_d2 = torch.where(triple, torch.log10(d2.abs() + 1e-6), torch.zeros_like(d2))
    centre = ids[:, 1:-1]
    total = torch.zeros(b, max_runs, dtype=z.dtype, device=z.device).scatter_add_(1, centre, log_d2)
    count = torch.zeros(b, max_runs, dtype=z.dtype, device=z.device).scatter_add_(1, centre, triple.to(z.dtype))
    mean = torch.where(count > 0, total / count.clamp_min(1.0), torch.zeros_like(total)) / 3.0  # B x max_runs
    has = (count > 0).to(z.dtype)
    out[..., 0] = mean.gather(1, ids)
    out[..., 1] = has.gather(1, ids)
    return out


class Block(nn.Module):
    """Pre-LayerNorm transformer block whose attention reads only context tokens."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln_attn = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln_mlp = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.dropout = nn.Dropout(cfg.dropout)
        if cfg.hparam_attention:
            # Per-head bandwidth of the hyperparameter kernel; 0 = no effect (warm starts predict as before).
            self.hparam_bandwidth = nn.Parameter(torch.zeros(cfg.n_heads))

    def forward(self, h: Tensor, key_mask: Tensor, hparam_columns: HparamKernelColumns | None = None) -> Tensor:
        # h: B x L x D; key_mask: B x 1 x 1 x L (True = context token, may be attended to);
        # hparam_columns: the kernel columns of each token's run coordinates in hyperparameter space
        # (hparam_attention), built once per forward pass for all blocks
        b, n, d = h.shape
        dh = d // self.n_heads
        q, k, v = self.qkv(self.ln_attn(h)).split(d, dim=-1)
        q, k, v = (t.view(b, n, self.n_heads, dh).transpose(1, 2) for t in (q, k, v))  # B x H x L x Dh
        if hparam_columns is not None:
            q, k, v = self._with_hparam_kernel(q, k, v, hparam_columns)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, scale=dh**-0.5)[..., :dh]  # B x H x L x Dh
        h = h + self.dropout(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return h + self.dropout(self.mlp(self.ln_mlp(h)))

    def _with_hparam_kernel(self, q: Tensor, k: Tensor, v: Tensor, columns: HparamKernelColumns) -> tuple[Tensor, Tensor, Tensor]:
        """Fold the bias ``-b_h |c_i - c_j|^2`` into the dot products: up to ``-b_h |c_i|^2``, the same for every
        key of a query (softmax ignores it), it is ``2 b_h c_i . c_j - b_h |c_j|^2``, so query rows gain
        ``sqrt(Dh) [2 b_h c_i, -b_h]`` and key rows ``[c_j, |c_j|^2]``. A boolean mask keeps the fused attention
        kernel (a float bias per head would be about twice as slow); all three are zero-padded to a multiple
        of 8 columns, which that kernel needs to stay fast. Returns ``q``, ``k``, ``v`` (``B x H x L x Dh'``)."""
        b, heads, n, dh = q.shape
        c, key_columns, value_columns, pad = columns.build(heads, dh, q.dtype)
        bandwidth = self.hparam_bandwidth.to(q.dtype)[None, :, None, None]  # 1 x H x 1 x 1
        root = dh**0.5
        q = torch.cat([q, (2.0 * root) * bandwidth * c, (-root * bandwidth).expand(b, heads, n, 1), pad], dim=-1)
        return q, torch.cat([k, key_columns], dim=-1), torch.cat([v, value_columns], dim=-1)


class HparamKernelColumns:
    """The key- and value-side columns of the hyperparameter kernel (:meth:`Block._with_hparam_kernel`).

    Only the query columns hold a block's bandwidths; the key columns ``[c, |c|^2]``, the zero value columns
    and the padding are the same in every block, so a forward pass builds them once (per head layout and
    dtype) and all blocks reuse them.

    Args:
        coords: ``B x L x P`` coordinates of each token's run in hyperparameter space.
    """

    def __init__(self, coords: Tensor) -> None:
        self.coords = coords
        self._built: dict[tuple[int, int, torch.dtype], tuple[Tensor, Tensor, Tensor, Tensor]] = {}

    def build(self, heads: int, dh: int, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``c`` (``B x H x L x P``), the key columns ``[c, |c|^2, pad]``, the value columns (zeros) and the
        padding (``B x H x L x pad``) for heads of ``dh`` columns."""
        key = (heads, dh, dtype)
        if key not in self._built:
            b, n, _ = self.coords.shape
            c = self.coords.to(dtype)[:, None].expand(b, heads, n, -1)  # B x H x L x P
            extra = c.shape[-1] + 1
            pad = c.new_zeros(b, heads, n, -(dh + extra) % 8)
            key_columns = torch.cat([c, c.square().sum(-1, keepdim=True), pad], dim=-1)
            value_columns = c.new_zeros(b, heads, n, extra + pad.shape[-1])
            self._built[key] = (c, key_columns, value_columns, pad)
        return self._built[key]


class PFN(nn.Module):
    """Transformer PFN with a bar-distribution head.

    Args:
        config: architecture.
        borders: ``n_bars + 1`` bucket borders of the normalized target z.
    """

    def __init__(self, config: ModelConfig, borders: Tensor) -> None:
        super().__init__()
        if borders.numel() != config.n_bars + 1:
            raise InvalidConfigError(f"borders must have n_bars + 1 = {config.n_bars + 1} entries, got {borders.numel()}")
        self.config = config
        d = config.d_model
        # static features + z, asinh(z) and the context flag
        self.encoder = nn.Sequential(nn.Linear(N_STATIC_FEATURES + 3, d), nn.GELU(), nn.Linear(d, d))
        self.run_embedding = nn.Embedding(config.max_runs, d)
        if config.read_hparams:
            self.hparam_encoder = nn.Sequential(nn.Linear(N_HPARAM_FEATURES, d), nn.GELU(), nn.Linear(d, d))
            # Starts as "no effect", so a model warm-started from one without this part predicts as before.
            nn.init.zeros_(self.hparam_encoder[2].weight)
            nn.init.zeros_(self.hparam_encoder[2].bias)
        if config.read_schedule:
            self.schedule_encoder = nn.Sequential(nn.Linear(N_SCHEDULE_FEATURES, d), nn.GELU(), nn.Linear(d, d))
            nn.init.zeros_(self.schedule_encoder[2].weight)  # "no effect" at first, as for hparam_encoder
            nn.init.zeros_(self.schedule_encoder[2].bias)
        if config.read_roughness:
            self.roughness_encoder = nn.Sequential(nn.Linear(2, d), nn.GELU(), nn.Linear(d, d))
            nn.init.zeros_(self.roughness_encoder[2].weight)  # "no effect" at first, as for hparam_encoder
            nn.init.zeros_(self.roughness_encoder[2].bias)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_out = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_bars)
        self.bar_distribution = BarDistribution(borders)

    def forward(self, inp: PFNInput) -> Tensor:
        """Logits of the bar distribution of z at every token: ``B x L x n_bars``."""
        ctx = inp.is_context & inp.valid  # B x L
        z = torch.where(ctx, inp.z.clamp(-_Z_CLIP, _Z_CLIP), torch.zeros_like(inp.z))
        dynamic = torch.stack([z / 4.0, torch.asinh(z), ctx.to(z.dtype)], dim=-1)  # B x L x 3
        h = self.encoder(torch.cat([inp.features, dynamic], dim=-1))  # B x L x D
        h = h + self.run_embedding(inp.run_id.clamp(0, self.config.max_runs - 1))
        if self.config.read_hparams:
            h = h + self.hparam_encoder(inp.hparams)  # B x L x D
        if self.config.read_schedule:
            h = h + self.schedule_encoder(inp.schedule)  # B x L x D
        if self.config.read_roughness:
            h = h + self.roughness_encoder(run_roughness(z, ctx, inp.run_id, self.config.max_runs))  # B x L x D
        key_mask = ctx[:, None, None, :]  # B x 1 x 1 x L
        # Centred slot values are 2 theta - 1 (0 where unused), so half of them are coordinates whose distances
        # are those of theta over the slots in use.
        coords = 0.5 * inp.hparams[..., : N_HPARAM_FEATURES // 2] if self.config.hparam_attention else None  # B x L x N_HPARAMS
        # All distances 0: the kernel adds nothing, so single curves skip its cost. Only checked on the CPU:
        # on an accelerator the check is a host sync every step, dearer than the few extra q/k columns.
        if coords is not None and coords.device.type == "cpu" and not bool(coords.any()):
            coords = None
        columns = HparamKernelColumns(coords) if coords is not None else None
        for block in self.blocks:
            h = block(h, key_mask, columns)
        return self.head(self.ln_out(h))

    def forward_chunked(self, inp: PFNInput, max_queries: int = 1024) -> Tensor:
        """:meth:`forward` for long query lists, in linear time: ``B x L x n_bars``.

        Queries attend to the context only, never to each other, so the same logits come from running the
        context with a block of at most ``max_queries`` queries at a time; one pass over all ``L`` tokens
        would cost ``O(L^2)`` attention. Where invalid tokens make up most of the sequence they are left out of
        every block. Rows of context tokens hold the first block's logits; rows of invalid tokens mean nothing.
        """
        ctx = inp.is_context & inp.valid
        query = inp.valid & ~inp.is_context
        n_ctx, n_query = ctx.sum(-1), query.sum(-1)  # B
        b, length = ctx.shape
        # One pass when it fits and padding (invalid tokens, e.g. the queries joint sampling leaves out of a
        # pass) would not make up most of the sequence.
        if int(n_query.max()) == 0 or (int(n_query.max()) <= max_queries and 2 * int((n_ctx + n_query).max()) >= length):
            return self(inp)
        # Per task: its context positions first, then its queries, each group in token order.
        group = torch.where(ctx, 0, torch.where(query, 1, 2)).to(torch.int8)
        order = torch.argsort(group, dim=-1, stable=True)  # B x L
        c_max = int(n_ctx.max())
        out: Tensor | None = None  # B x (L + 1) x K: row L takes the rows no token owns
        for start in range(0, int(n_query.max()), max_queries):
            width = min(max_queries, int(n_query.max()) - start)
            slot = torch.arange(c_max + width, device=ctx.device).expand(b, -1)  # B x W
            # Slot k < c_max reads context token k; slot c_max + j reads query start + j.
            rank = torch.where(slot < c_max, slot, n_ctx[:, None] + start + slot - c_max)
            used = torch.where(slot < c_max, slot < n_ctx[:, None], start + slot - c_max < n_query[:, None])
            positions = order.gather(1, rank.clamp_max(length - 1))  # B x W token positions
            part = inp.map(lambda t: t.gather(1, positions.view(b, -1, *([1] * (t.ndim - 2))).expand(-1, -1, *t.shape[2:])))
            part = replace(part, valid=part.valid & used, is_context=part.is_context & used)
            logits = self(part)  # B x W x K
            if out is None:
                out = logits.new_zeros(b, length + 1, logits.shape[-1])
            keep = used & ((slot >= c_max) | (start == 0))
            index = torch.where(keep, positions, torch.full_like(positions, length))
            out.scatter_(1, index[..., None].expand(-1, -1, logits.shape[-1]), logits)
        return out[:, :length]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
