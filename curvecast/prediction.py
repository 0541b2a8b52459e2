"""The predictive distribution of the rest of one curve, in the user's units.

The PFN predicts, at every query x, a bar distribution over the normalized value
``z = sign * (y - loc) / scale`` (see :mod:`curvecast.pfn.normalization`). A :class:`Prediction` maps it
back: quantiles, density and CDF are exact transforms of that distribution, truncated to the curve's
``bounds`` (e.g. ``[0, 1]`` for accuracies) and renormalised there. Joint trajectories come from
autoregressive sampling through the PFN (:func:`curvecast.pfn.sample_joint`), so a sampled path that ends
high stays high in between.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from curvecast.errors import InvalidConfigError, ShapeError
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.pfn.encoding import PFNInput
from curvecast.pfn.sampling import sample_joint

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from curvecast.pfn.model import PFN

__all__ = ["Prediction", "RunPredictions", "DEFAULT_QUANTILES"]

#: Quantile levels written by :meth:`Prediction.to_dict` (and the CLI table).
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
_MEAN_GRID = 256  # quantile levels averaged for the predictive mean (see means)


@dataclass(frozen=True)
class ZMap:
    """Affine map between y and z for a group of queries; every field broadcasts against ``... x m``."""

    loc: Tensor
    scale: Tensor
    sign: Tensor
    z_low: Tensor  # truncation bounds in z (may be infinite)
    z_high: Tensor

    @classmethod
    def build(cls, loc: Tensor, scale: Tensor, sign: Tensor, y_low: Tensor, y_high: Tensor) -> "ZMap":
        """From per-curve ``loc``, ``scale``, ``sign`` and y bounds (all shape ``B``) to a ``B x 1`` map."""
        za = sign * (y_low - loc) / scale
        zb = sign * (y_high - loc) / scale
        col = [v[:, None] for v in (loc, scale, sign, torch.minimum(za, zb), torch.maximum(za, zb))]
        return cls(*col)

    def index(self, i: int) -> "ZMap":
        return ZMap(*(v[i] for v in (self.loc, self.scale, self.sign, self.z_low, self.z_high)))

    def cpu(self) -> "ZMap":
        return ZMap(*(v.cpu() for v in (self.loc, self.scale, self.sign, self.z_low, self.z_high)))

    def z(self, y: Tensor) -> Tensor:
        return self.sign * (y - self.loc) / self.scale

    def y(self, z: Tensor) -> Tensor:
        return self.loc + self.sign * self.scale * z


def _kept_mass(bar: BarDistribution, logits: Tensor, zmap: ZMap) -> tuple[Tensor, Tensor]:
    """CDF at the lower and upper truncation bounds, each ``... x m``."""
    shape = logits.shape[:-1]
    lo = bar.cdf(logits, zmap.z_low.float().expand(shape))
    hi = bar.cdf(logits, zmap.z_high.float().expand(shape))
    # Bounds far outside the predicted mass: keep a sliver so the renormalisation stays finite.
    return lo, torch.maximum(hi, lo + 1e-12)


def quantiles(bar: BarDistribution, logits: Tensor, zmap: ZMap, levels: Tensor) -> Tensor:
    """``... x m x Q`` quantiles in y of the truncated predictive distribution at ``levels``.

    ``levels`` is ``Q`` (the same levels at every query) or ``m x Q`` (its own levels per query).
    """
    lo, hi = _kept_mass(bar, logits, zmap)
    levels = levels.to(logits.device, torch.float64)
    # A high quantile of y is a low quantile of z when the metric was flipped ("max").
    q_z = torch.where(zmap.sign[..., None] > 0, levels, 1.0 - levels)  # ... x 1 x Q
    q = lo[..., None].double() + q_z * (hi - lo)[..., None].double()
    z = bar.icdf(logits, q.float().expand(*logits.shape[:-1], levels.shape[-1]).contiguous()).double()
    z = z.movedim(-1, 0)  # Q x ... x m, so the map's ``... x 1`` fields broadcast
    z = torch.maximum(torch.minimum(z, zmap.z_high), zmap.z_low)
    return zmap.y(z).movedim(0, -1)


def means(bar: BarDistribution, logits: Tensor, zmap: ZMap) -> Tensor:
    """``... x m`` predictive means in y, taken over :data:`_MEAN_GRID` evenly spaced quantile levels.

    The outermost buckets of the bar distribution are very wide (they hold the prior's rare extreme values,
    e.g. diverging runs), so a sliver of tail mass can move the exact mean past the 5% quantile. Averaging the
    quantile function on the grid ``(k + 0.5) / 256`` is the mean with the outer 0.2% of mass on each side
    held at its quantile, which stays inside the bulk of the distribution.
    """
    grid = (torch.arange(_MEAN_GRID, dtype=torch.float64) + 0.5) / _MEAN_GRID
    return quantiles(bar, logits, zmap, grid).mean(-1)


def log_densities(bar: BarDistribution, logits: Tensor, zmap: ZMap, y: Tensor) -> Tensor:
    """``... x m`` log density of y (user units) under the truncated predictive distribution."""
    z = zmap.z(y.double())
    lo, hi = _kept_mass(bar, logits, zmap)
    log_p = bar.log_prob(logits, z.float()).double() - zmap.scale.log() - (hi - lo).double().log()
    inside = (z >= zmap.z_low) & (z <= zmap.z_high)
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def cdfs(bar: BarDistribution, logits: Tensor, zmap: ZMap, y: Tensor) -> Tensor:
    """``... x m`` P(Y <= y) under the truncated predictive distribution."""
    z = zmap.z(y.double())
    lo, hi = _kept_mass(bar, logits, zmap)
    f = ((bar.cdf(logits, z.float()) - lo) / (hi - lo)).clamp(0.0, 1.0).double()
    f = torch.where(z <= zmap.z_low, torch.zeros_like(f), torch.where(z >= zmap.z_high, torch.ones_like(f), f))
    return torch.where(zmap.sign > 0, f, 1.0 - f)


@dataclass(frozen=True)
class JointSampler:
    """What :meth:`Prediction.sample` needs to run the PFN again: one task's tokens."""

    model: "PFN"
    inp: PFNInput  # 1 x L tokens (context, then queries)
    is_query: Tensor  # 1 x L bool: the tokens to draw jointly
    t: Tensor  # 1 x L normalized x
    query_index: Tensor  # m long: token positions of the queries, in the user's order
    low: Tensor  # 1: lower truncation bound in z (may be -inf)
    high: Tensor  # 1: upper truncation bound in z (may be inf)

    @property
    def device(self) -> torch.device:
        return self.inp.features.device

    def at(self, positions: np.ndarray) -> "JointSampler":
        """The same tokens, drawing the queries at token ``positions`` (in that order)."""
        is_query = torch.zeros_like(self.is_query)
        is_query[0, torch.from_numpy(positions).to(is_query.device)] = True
        return replace(self, is_query=is_query, query_index=torch.from_numpy(positions))

    def draw(self, n: int, generator: torch.Generator) -> Tensor:
        """``n x L`` joint draws of z at the ``is_query`` tokens (in chunks, to bound memory)."""
        chunks = []
        chunk = max(1, 4096 // max(1, self.inp.features.shape[1] // 64))
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            z = sample_joint(self.model, self.inp, self.is_query, self.t, k, generator=generator, low=self.low, high=self.high)  # k x 1 x L
            chunks.append(z[:, 0].double().cpu())
        return torch.cat(chunks, 0)

    def draw_queries(self, n: int, generator: torch.Generator) -> Tensor:
        """``n x m`` joint draws of z at the queries, in the user's order."""
        return self.draw(n, generator)[:, self.query_index.cpu()]


@dataclass(frozen=True)
class GroupedSampler:
    """Draws for queries that came from several forward passes (groups): joint within a group,
    independent across groups. Column ``j`` of a draw is query ``j`` of the prediction."""

    groups: tuple[JointSampler, ...]

    @property
    def device(self) -> torch.device:
        return self.groups[0].device

    def draw_queries(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.cat([g.draw_queries(n, generator) for g in self.groups], dim=1)


def check_seed(seed: Any) -> int | None:
    """A sampling seed: ``None`` (a fresh draw) or an int from 0 to 2**63 - 1, else :class:`InvalidConfigError`."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise InvalidConfigError(f"seed must be an int from 0 to 2**63 - 1 (or None for a fresh draw), got {seed!r}")
    return int(seed)


def _new_generator(device: torch.device, seed: int | None) -> torch.Generator:
    generator = torch.Generator(device=device)
    seed = check_seed(seed)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def check_interval_level(level: Any) -> float:
    """An interval's probability ``level``, a number strictly in (0, 1), else :class:`InvalidConfigError`."""
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.number)) or not 0 < float(level) < 1:
        raise InvalidConfigError(f"interval level must be one number in (0, 1), e.g. 0.9 for a 90% interval, got {level!r}")
    return float(level)


def check_levels(qs: Any) -> tuple[np.ndarray, bool]:
    """Quantile levels as a flat float64 array, and whether ``qs`` was a scalar; each level strictly in (0, 1)."""
    levels = np.asarray(qs, dtype=np.float64)
    scalar = levels.ndim == 0
    levels = levels.reshape(-1)
    if levels.size == 0 or not ((levels > 0) & (levels < 1)).all():
        raise InvalidConfigError(f"quantile levels must lie strictly between 0 and 1 (e.g. 0.05, 0.5, 0.95), got {qs!r}")
    return levels, scalar


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidConfigError(f"n must be a positive int (number of trajectories), got {n!r}")
    return int(n)


class Prediction:
    """Predictive distribution of a curve at ``m`` query points, in the user's units.

    Made by :meth:`curvecast.Predictor.predict`; arrays are NumPy, ``float64``, one value per query x.

    Attributes:
        x: ``m`` query x values (the user's ``x_query``, same order).
        mean: ``m`` predictive means (over 256 quantile levels: see :func:`means`).
        median: ``m`` predictive medians.
        observed_x, observed_y: the cleaned observations (sorted, NaN dropped, repeats averaged).
        direction: ``"min"`` or ``"max"``.
        bounds: ``(low, high)`` the distribution was truncated to (infinite where open).
        n_context: observed points the model read, over all runs of the task (long curves are thinned to
            the model's context size).
        run: the run's name when the prediction is one of several runs (:meth:`~curvecast.Predictor.predict_runs`).
    """

    def __init__(
        self,
        *,
        x: np.ndarray,
        logits: Tensor,
        zmap: ZMap,
        bar: BarDistribution,
        mean: np.ndarray,
        median: np.ndarray,
        observed_x: np.ndarray,
        observed_y: np.ndarray,
        bounds: tuple[float, float],
        n_context: int,
        sampler: JointSampler | GroupedSampler,
        run: str | None = None,
    ) -> None:
        self.x = x
        self.mean = mean
        self.median = median
        self.observed_x = observed_x
        self.observed_y = observed_y
        self.direction = "min" if float(zmap.sign.flatten()[0]) > 0 else "max"
        self.bounds = bounds
        self.n_context = n_context
        self.run = run
        self._logits = logits  # m x K
        self._zmap = zmap  # fields of shape 1
        self._bar = bar
        self._sampler = sampler

    def __repr__(self) -> str:
        name = f"run {self.run!r}, " if self.run is not None else ""
        return (
            f"Prediction({name}{len(self.x)} queries, x in [{self.x.min():g}, {self.x.max():g}], direction={self.direction!r}, "
            f"median at last query {self.median[-1]:.4g})"
        )

    def _values(self, name: str, y: Any) -> Tensor:
        arr = np.array(y, dtype=np.float64)  # a copy: torch cannot wrap read-only arrays (e.g. from pandas)
        if arr.ndim == 0:
            arr = np.full(len(self.x), float(arr))
        if arr.shape != self.x.shape:
            raise ShapeError(f"{name} takes one y per query point ({len(self.x)}), or a scalar; got shape {arr.shape}")
        if np.isnan(arr).any():
            raise InvalidConfigError(f"{name} got NaN values; pass finite y (or +-inf)")
        return torch.from_numpy(arr)

    def quantile(self, qs: Any) -> np.ndarray:
        """Quantiles at levels ``qs`` (each strictly between 0 and 1): array ``len(qs) x m``.

        A scalar ``qs`` gives an array of length ``m``.
        """
        levels, scalar = check_levels(qs)
        out = quantiles(self._bar, self._logits, self._zmap, torch.from_numpy(levels)).T.numpy()  # Q x m
        return out[0] if scalar else out

    def interval(self, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Central interval holding ``level`` of the predictive mass: ``(lower, upper)``, each of length ``m``."""
        level = check_interval_level(level)
        lower, upper = self.quantile([(1 - level) / 2, (1 + level) / 2])
        return lower, upper

    def logpdf(self, y: Any) -> np.ndarray:
        """Log predictive density at ``y`` (one value per query point, or a scalar), pointwise; ``-inf`` outside the bounds."""
        return log_densities(self._bar, self._logits, self._zmap, self._values("logpdf", y)).numpy()

    def cdf(self, y: Any) -> np.ndarray:
        """P(Y <= y) at each query point, pointwise."""
        return cdfs(self._bar, self._logits, self._zmap, self._values("cdf", y)).numpy()

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n x m`` joint trajectories (each row a coherent path over all query points; a query asked for
        twice is drawn twice, like two evaluations of the run, so its two columns differ: ask once instead).

        Paths are drawn autoregressively through the PFN (each sampled point joins the context of the
        next), which gives their dependence across x. Autoregressive draws compound the model's errors, so
        their pointwise spread would drift from the one-pass marginals; the draws are therefore reordered
        onto the marginals by rank (the Schaake shuffle): at every query, the ``k``-th smallest sampled
        value is replaced by the marginal quantile at a jittered level in ``[k/n, (k+1)/n)``. Each column
        then follows the marginal distribution exactly, and the rank dependence between queries is that of
        the joint draws.

        Args:
            n: number of trajectories.
            seed: makes the draws reproducible; ``None`` draws a fresh seed from the operating system.
        """
        n = _check_n(n)
        generator = _new_generator(self._sampler.device, seed)
        return self._onto_marginals(self._sampler.draw_queries(n, generator), generator)

    def _onto_marginals(self, z: Tensor, generator: torch.Generator) -> np.ndarray:
        """``n x m`` joint draws of z at this prediction's queries -> ``n x m`` paths in y that keep the
        draws' ranks and follow the marginal distributions exactly (the Schaake shuffle)."""
        n = z.shape[0]
        jitter = torch.rand(z.shape, generator=generator, device=generator.device).cpu().double()
        ranks = z.argsort(0).argsort(0).double()  # ties are broken by position, which is exchangeable
        y_levels = (ranks + jitter) / n
        # A large z is a large y for "min" metrics and a small one for "max" ones.
        y_levels = y_levels if self.direction == "min" else 1.0 - y_levels
        y = quantiles(self._bar, self._logits, self._zmap, y_levels.T.clamp(1e-9, 1 - 1e-9))  # m x n
        return y.T.numpy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: query x, mean, median, quantiles at :data:`DEFAULT_QUANTILES`, observations."""
        qs = self.quantile(DEFAULT_QUANTILES)
        return {
            "x": self.x.tolist(),
            "mean": self.mean.tolist(),
            "median": self.median.tolist(),
            "quantiles": {f"{q:g}": row.tolist() for q, row in zip(DEFAULT_QUANTILES, qs)},
            "direction": self.direction,
            "bounds": [None if not math.isfinite(b) else b for b in self.bounds],
            "observed": {"x": self.observed_x.tolist(), "y": self.observed_y.tolist()},
            "n_context": self.n_context,
            **({"run": self.run} if self.run is not None else {}),
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (keyword arguments go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), **kwargs)

    def plot(
        self,
        ax: "Axes | None" = None,
        *,
        levels: tuple[float, ...] = (0.5, 0.8, 0.9),
        n_samples: int = 0,
        seed: int | None = 0,
        zoom: bool = True,
    ) -> "Axes":
        """Fan chart: observed points, predictive median and central intervals; optionally sampled paths.

        Args:
            ax: axes to draw on (a new figure if ``None``).
            levels: central interval levels shaded from dark (narrow) to light (wide).
            n_samples: joint trajectories to draw as thin lines.
            seed: seed of those trajectories.
            zoom: fit the y axis to the widest interval and the later three quarters of the observations, so
                a high first loss does not flatten the part that matters (earlier points may fall outside).

        Returns:
            The axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        order = np.argsort(self.x)
        xq = self.x[order]
        single = xq.size == 1  # one x: bands as bars and the median as a marker (a band over one x has no width)
        bands = [(level, *self.interval(level)) for level in sorted(levels, reverse=True)]
        for i, (level, lower, upper) in enumerate(bands):
            label = f"{level * 100:g}% interval"
            if single:
                ax.vlines(xq, lower[order], upper[order], color="C0", alpha=0.25 + 0.2 * i, lw=4 + 4 * i, label=label)
            else:
                ax.fill_between(xq, lower[order], upper[order], color="C0", alpha=0.15 + 0.15 * i, lw=0, label=label)
        if n_samples:
            paths = self.sample(n_samples, seed=seed)
            for j, path in enumerate(paths):
                ax.plot(xq, path[order], "." if single else "-", color="C0", lw=0.5, alpha=0.4, label="sampled paths" if j == 0 else None)
        ax.plot(xq, self.median[order], "D-" if single else "-", color="C0", lw=1.8, ms=5, label="median")
        if self.observed_x.size:
            ax.plot(self.observed_x, self.observed_y, "o", color="k", ms=3, label="observed")
        set_x_scale(ax, np.concatenate([self.observed_x, self.x]))
        if zoom and bands:
            recent = self.observed_y[len(self.observed_y) // 4 :] if self.observed_y.size else self.median
            low = min(float(bands[0][1].min()), float(recent.min()))
            high = max(float(bands[0][2].max()), float(recent.max()))
            pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            ax.set_ylim(low - pad, high + pad)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="best", fontsize="small")
        return ax


def set_x_scale(ax: Axes, x: np.ndarray) -> None:
    """A log x axis where the x values span more than two decades (symlog when some x is 0, so runs logged from
    step 0 keep their start); linear otherwise."""
    positive = x[x > 0]
    if positive.size == 0 or x.min() < 0 or x.max() / positive.min() <= 100:
        return
    if x.min() > 0:
        ax.set_xscale("log")
    else:
        ax.set_xscale("symlog", linthresh=float(positive.min()))


class RunPredictions(list):
    """One :class:`Prediction` per run (a list, in the order of the runs given; ``None`` for a run read as
    context only), from one forward pass over all of them. :meth:`sample` draws their trajectories jointly,
    so runs that move together in the model's view (a sweep whose shared asymptote is uncertain) move
    together in the samples."""

    def __init__(self, predictions: list[Prediction | None], joint: JointSampler, positions: list[Tensor | None]) -> None:
        super().__init__(predictions)
        self._joint = joint
        self._positions = positions  # per prediction, the token positions of its queries in ``joint``

    def __getitem__(self, key: Any) -> Any:
        """By position (or slice), or by run name."""
        if isinstance(key, str):
            for p in self:
                if p is not None and p.run == key:
                    return p
            raise KeyError(f"no run named {key!r}; runs: {[p.run for p in self if p is not None]}")
        return super().__getitem__(key)

    def sample(self, n: int, seed: int | None = None) -> list[np.ndarray | None]:
        """``n`` joint trajectories of every run: one ``n x m_r`` array per run (``None`` where the run has
        no prediction); row ``k`` of every array is one joint draw. Each run's columns follow its marginals
        exactly (see :meth:`Prediction.sample`)."""
        n = _check_n(n)
        present = [p for p in self if p is not None]
        if not present:
            return [None] * len(self)
        generator = _new_generator(self._joint.device, seed)
        z = self._joint.draw(n, generator)
        return [None if p is None else p._onto_marginals(z[:, pos], generator) for p, pos in zip(self, self._positions)]
