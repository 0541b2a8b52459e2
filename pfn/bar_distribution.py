"""Riemann ("bar") distribution with full-support half-normal tails (Müller et al., PFNs).

The PFN head outputs ``K`` logits per query; the distribution puts probability ``p_k = softmax(logits)_k``
on bucket ``k`` of a fixed grid ``borders[0] < ... < borders[K]``. Interior buckets (``1 .. K-2``) spread
their mass uniformly. The outer buckets are replaced by half-normal tails so every real value has positive
density: bucket ``0`` puts its mass on ``(-inf, borders[1]]`` as a half-normal that falls off to the left of
``borders[1]`` with scale ``borders[1] - borders[0]``; bucket ``K-1`` mirrors this to the right of
``borders[K-1]``. Density, CDF, quantiles, mean and samples all come from these ``K`` probabilities.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from curvecast.errors import InvalidConfigError, ShapeError

__all__ = ["BarDistribution", "borders_from_samples"]

_HALF_LOG_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)
_SQRT2 = math.sqrt(2.0)


def borders_from_samples(values: Tensor, n_bars: int, *, trim: float = 1e-3) -> Tensor:
    """Bucket borders at the empirical quantiles of ``values``, so buckets are fine where data are dense.

    Args:
        values: ``n`` finite samples of the (normalized) target.
        n_bars: number of buckets ``K`` (>= 3).
        trim: the outer borders sit at the ``trim`` and ``1 - trim`` quantiles, so a few extreme samples
            do not stretch the grid; the half-normal tails cover what lies beyond.

    Returns:
        ``K + 1`` strictly increasing borders (float32).
    """
    if n_bars < 3:
        raise InvalidConfigError(f"n_bars must be >= 3 (two tails and at least one interior bar), got {n_bars}")
    values = values.detach().flatten().double()
    values = values[torch.isfinite(values)]
    if values.numel() < n_bars:
        raise InvalidConfigError(f"need at least n_bars={n_bars} finite samples to place borders, got {values.numel()}")
    qs = torch.linspace(trim, 1.0 - trim, n_bars + 1, dtype=torch.float64)
    sorted_values, _ = values.sort()
    borders = sorted_values[(qs * (values.numel() - 1)).round().long()]
    # Ties (e.g. many identical targets) would give zero-width buckets; spread them to a minimal width.
    span = float(borders[-1] - borders[0]) or 1.0
    # At least a few float32 ulps of the largest border, or tied borders would not stay distinct in float32.
    min_width = max(span * 1e-6, 4 * torch.finfo(torch.float32).eps * float(borders.abs().max()))
    widths = (borders[1:] - borders[:-1]).clamp_min(min_width)
    borders = torch.cat([borders[:1], borders[0] + widths.cumsum(0)])
    return borders.float()


class BarDistribution(nn.Module):
    """A bar distribution over a fixed grid; all methods take ``logits`` of shape ``... x K``.

    Args:
        borders: ``K + 1`` strictly increasing bucket borders.
    """

    borders: Tensor

    def __init__(self, borders: Tensor) -> None:
        super().__init__()
        borders = torch.as_tensor(borders, dtype=torch.float32)
        if borders.ndim != 1 or borders.numel() < 4:
            raise ShapeError(f"borders must be 1-D with at least 4 entries (3 buckets), got shape {tuple(borders.shape)}")
        if not bool(torch.isfinite(borders).all()):
            raise InvalidConfigError("borders must be finite (the outer buckets carry half-normal tails beyond them)")
        if not bool((borders[1:] > borders[:-1]).all()):
            raise InvalidConfigError("borders must be strictly increasing")
        self.register_buffer("borders", borders)

    @property
    def n_bars(self) -> int:
        return self.borders.numel() - 1

    @property
    def widths(self) -> Tensor:
        """``K`` bucket widths; the outer two are also the half-normal tail scales."""
        return self.borders[1:] - self.borders[:-1]

    def _check(self, logits: Tensor) -> None:
        if logits.shape[-1] != self.n_bars:
            raise ShapeError(f"logits must end in n_bars={self.n_bars}, got shape {tuple(logits.shape)}")

    @staticmethod
    def _broadcast(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        shape = torch.broadcast_shapes(logits.shape[:-1], y.shape)
        return logits.expand(*shape, logits.shape[-1]), y.float().expand(shape).contiguous()

    def log_prob(self, logits: Tensor, y: Tensor) -> Tensor:
        """Log density at ``y`` (shape ``...``, broadcastable against ``logits[..., 0]``)."""
        self._check(logits)
        logits, y = self._broadcast(logits, y)
        log_p = torch.log_softmax(logits.float(), dim=-1)
        b, w = self.borders, self.widths
        k = self.n_bars
        idx = torch.searchsorted(b[1:-1].contiguous(), y, right=True)
        log_p_at = log_p.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        interior = log_p_at - w[idx].log()
        left_z = (b[1] - y).clamp_min(0.0) / w[0]
        right_z = (y - b[k - 1]).clamp_min(0.0) / w[k - 1]
        left = log_p[..., 0] + _HALF_LOG_2_OVER_PI - w[0].log() - 0.5 * left_z**2
        right = log_p[..., k - 1] + _HALF_LOG_2_OVER_PI - w[k - 1].log() - 0.5 * right_z**2
        return torch.where(idx == 0, left, torch.where(idx == k - 1, right, interior))

    def cdf(self, logits: Tensor, y: Tensor) -> Tensor:
        """P(Y <= y) (shape ``...``)."""
        self._check(logits)
        logits, y = self._broadcast(logits, y)
        return self._cdf_at(torch.softmax(logits.float(), dim=-1), y[..., None])[..., 0]

    def _cdf_at(self, p: Tensor, y: Tensor) -> Tensor:
        """CDF of the bucket probabilities ``p`` (``... x K``) at ``Q`` points per row (``y``: ``... x Q``)."""
        b, w = self.borders, self.widths
        k = self.n_bars
        below = torch.cat([torch.zeros_like(p[..., :1]), p.cumsum(-1)[..., :-1]], dim=-1)  # mass of buckets < k
        idx = torch.searchsorted(b[1:-1].contiguous(), y.contiguous(), right=True)
        p_at = p.gather(-1, idx)
        below_at = below.gather(-1, idx)
        frac = ((y - b[idx]) / w[idx]).clamp(0.0, 1.0)
        interior = below_at + p_at * frac
        left = p[..., :1] * torch.erfc((b[1] - y).clamp_min(0.0) / (w[0] * _SQRT2))
        right = below[..., k - 1 : k] + p[..., k - 1 : k] * torch.erf((y - b[k - 1]).clamp_min(0.0) / (w[k - 1] * _SQRT2))
        return torch.where(idx == 0, left, torch.where(idx == k - 1, right, interior)).clamp(0.0, 1.0)

    def icdf(self, logits: Tensor, q: Tensor) -> Tensor:
        """Quantile function. ``q`` has shape ``... x Q`` (or ``Q``, broadcast); returns ``... x Q``."""
        self._check(logits)
        p = torch.softmax(logits.float(), dim=-1)
        b, w = self.borders, self.widths
        k = self.n_bars
        q = torch.as_tensor(q, dtype=torch.float32, device=p.device)
        q = q.reshape(1) if q.ndim == 0 else q
        q = q.expand(*p.shape[:-1], q.shape[-1]).contiguous()
        cum = p.cumsum(-1).contiguous()
        q = q * cum[..., -1:]  # the float32 cumsum may end a little below 1
        # q = 0 falls in the first bucket with mass; any other q where the cumulative mass first reaches it.
        idx = torch.where(q > 0, torch.searchsorted(cum, q, right=False), torch.searchsorted(cum, q, right=True)).clamp_max(k - 1)
        p_at = p.gather(-1, idx)
        below_at = cum.gather(-1, idx) - p_at
        frac = ((q - below_at) / p_at.clamp_min(1e-30)).clamp(0.0, 1.0)
        interior = b[idx] + frac * w[idx]
        tiny = 1e-7
        p0 = p[..., :1].clamp_min(1e-30)
        p_last = p[..., k - 1 : k].clamp_min(1e-30)
        left = b[1] - w[0] * _SQRT2 * torch.erfinv((1.0 - q / p0).clamp(0.0, 1.0 - tiny))
        right_frac = ((q - cum[..., k - 2 : k - 1]) / p_last).clamp(0.0, 1.0 - tiny)
        right = b[k - 1] + w[k - 1] * _SQRT2 * torch.erfinv(right_frac)
        return torch.where(idx == 0, left, torch.where(idx == k - 1, right, interior))

    def mean(self, logits: Tensor) -> Tensor:
        """Expected value (shape ``...``)."""
        self._check(logits)
        p = torch.softmax(logits.float(), dim=-1)
        b, w = self.borders, self.widths
        k = self.n_bars
        centers = (b[:-1] + b[1:]) / 2
        half_normal_mean = math.sqrt(2.0 / math.pi)
        centers[0] = b[1] - w[0] * half_normal_mean
        centers[k - 1] = b[k - 1] + w[k - 1] * half_normal_mean
        return (p * centers).sum(-1)  # elementwise, so autocast cannot drop it to bf16

    def stretch(self, logits: Tensor, factor: Tensor | float, *, low: Tensor | None = None, high: Tensor | None = None) -> Tensor:
        """Logits of ``median + factor * (Y - median)``, binned on the same grid (``factor > 1`` widens).

        The distribution keeps its shape and median; every central interval scales by ``factor``, exactly while
        its ends lie between the outer borders: the two outer buckets reach to -inf / +inf with tails of a
        fixed shape, so an end that lands in one moves further (at factor 1.6, a forecast 1000 times past its
        last observed x had its 90% / 98% intervals widen 1.68 / 1.81 times). Unlike a
        logit temperature, which lifts every bucket's small mass towards uniform (so the far buckets, wide
        and nearly empty, suddenly hold a few percent), the tails only move as far as the bulk does.
        ``factor`` broadcasts against ``logits.shape[:-1]``.

        With ``low`` / ``high`` (bounds in the same units as the borders, broadcasting like ``factor``; may be
        infinite) the distribution truncated to them is stretched about its own median, and what the stretch
        carries past a bound is held at that bound (censored) rather than dropped: dropping it, as truncating
        afterwards would, pulls the median away from a bound it lies near (an accuracy close to 1 would be
        forecast lower the more it is widened).
        """
        self._check(logits)
        factor = torch.as_tensor(factor, dtype=torch.float32, device=logits.device)
        p = torch.softmax(logits.float(), dim=-1)
        inner = self.borders[1:-1]  # K - 1 interior borders; the outer buckets reach to -inf / +inf
        bounded = low is not None or high is not None
        if not bounded:
            median = self.median(logits)[..., None]
            cdf = self._cdf_at(p, median + (inner - median) / factor[..., None])
        else:
            shape = logits.shape[:-1]
            inf = torch.full(shape, math.inf, device=logits.device)
            low = -inf if low is None else torch.as_tensor(low, dtype=torch.float32, device=logits.device).expand(shape)
            high = inf if high is None else torch.as_tensor(high, dtype=torch.float32, device=logits.device).expand(shape)
            lo_mass = torch.where(torch.isfinite(low), self._cdf_at(p, low.nan_to_num()[..., None])[..., 0], 0.0)
            hi_mass = torch.where(torch.isfinite(high), self._cdf_at(p, high.nan_to_num()[..., None])[..., 0], 1.0)
            kept = (hi_mass - lo_mass).clamp_min(1e-12)
            median = self.icdf(logits, (lo_mass + 0.5 * kept)[..., None])  # ... x 1: the truncated median
            moved = median + (inner - median) / factor[..., None]
            truncated = ((self._cdf_at(p, moved) - lo_mass[..., None]) / kept[..., None]).clamp(0.0, 1.0)
            cdf = torch.where(inner < low[..., None], 0.0, torch.where(inner >= high[..., None], 1.0, truncated))
        edges = torch.cat([torch.zeros_like(cdf[..., :1]), cdf, torch.ones_like(cdf[..., :1])], dim=-1)
        mass = (edges[..., 1:] - edges[..., :-1]).clamp_min(1e-12)
        if bounded:
            mass = mass / self._inside_shares(low, high)
        return mass.log()

    def _inside_shares(self, low: Tensor, high: Tensor) -> Tensor:
        """``... x K``: the share of each bucket's mass that truncation to ``[low, high]`` keeps, for the two
        buckets the bounds cut (1 elsewhere). :meth:`stretch` divides those buckets' masses by it, so that a
        later truncation keeps exactly the censored mass it put there."""
        k = self.n_bars
        inner = self.borders[1:-1].contiguous()
        lo, hi = low.nan_to_num().contiguous(), high.nan_to_num().contiguous()
        j_lo, j_hi = torch.searchsorted(inner, lo, right=True), torch.searchsorted(inner, hi, right=True)
        below_lo = self._cdf_at(nn.functional.one_hot(j_lo, k).float(), lo[..., None])[..., 0]
        below_hi = self._cdf_at(nn.functional.one_hot(j_hi, k).float(), hi[..., None])[..., 0]
        share_lo = torch.where(torch.isfinite(low), 1.0 - below_lo, 1.0).clamp_min(1e-6)
        share_hi = torch.where(torch.isfinite(high), below_hi, 1.0)
        # both bounds in one bucket: its kept share is the part between them
        share_hi = torch.where(j_lo == j_hi, torch.where(torch.isfinite(low), below_hi - below_lo, below_hi) / share_lo, share_hi).clamp_min(1e-6)
        shares = torch.ones(*low.shape, k, device=low.device).scatter(-1, j_lo[..., None], share_lo[..., None])
        return shares.scatter(-1, j_hi[..., None], shares.gather(-1, j_hi[..., None]) * share_hi[..., None])

    def median(self, logits: Tensor) -> Tensor:
        """Median (shape ``...``)."""
        return self.icdf(logits, torch.tensor([0.5], device=logits.device)).squeeze(-1)

    def sample(
        self,
        logits: Tensor,
        n: int | None = None,
        *,
        generator: torch.Generator | None = None,
        low: Tensor | None = None,
        high: Tensor | None = None,
    ) -> Tensor:
        """Draw samples by inverse-CDF: shape ``...`` (``n=None``) or ``... x n``.

        ``low`` / ``high`` (shape ``...``, may be infinite) truncate the distribution to ``[low, high]``:
        the uniform draws are confined to ``[cdf(low), cdf(high)]``.
        """
        self._check(logits)
        m = 1 if n is None else n
        u = torch.rand(*logits.shape[:-1], m, generator=generator, device=logits.device)
        u = u.clamp(1e-6, 1.0 - 1e-6)
        if low is not None or high is not None:
            lo = self.cdf(logits, low) if low is not None else torch.zeros(logits.shape[:-1], device=logits.device)
            hi = self.cdf(logits, high) if high is not None else torch.ones(logits.shape[:-1], device=logits.device)
            u = lo[..., None] + u * (hi - lo)[..., None]
        draws = self.icdf(logits, u)
        return draws.squeeze(-1) if n is None else draws
