"""isoFLOP profiles as single curves: final loss against model size at one compute budget.

Scaling studies train models of several sizes ``N`` on ``D = C / (6 N)`` tokens each, so at a fixed budget ``C``
the final loss is a U in ``log N`` (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models",
their approach 2; Porian et al. 2024). With ``L(N, D) = E + A N^-alpha + B D^-beta`` and ``u = log10(N / N_opt)``
in decades from the budget's best size, the profile is

    L(u) = E + G * (beta * 10^(-alpha u) + alpha * 10^(beta u)) / (alpha + beta),

whose minimum ``E + G`` sits at ``u = 0``: small models are capacity-bound, large ones data-starved, and the
data-starved side rises exponentially in ``u``. Given as a curve with x = N, such a profile keeps getting worse
after its turn, which the step-indexed curves of :class:`~curvecast.priors.CurvePrior` rarely do: on Porian's
isoFLOP curves the shipped model covers 22-36% of held-out points (``benchmarks/realcurves.py``) and
``curvecast check-prior --against ../shared/data/realcurves/porian2024_isoflop.parquet`` puts every one of
them beyond the prior's 97.5% quantile of ``end_rise``. Mixed into a fine-tune's prior at a small weight
(``benchmarks/real_curve_bank.py:PRIOR_ISOFLOP``) it teaches the network that shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from curvecast.errors import InvalidConfigError
from curvecast.priors.batch import TaskBatch, checked_sample_size
from curvecast.priors.families import log_uniform, uniform

__all__ = ["IsoFlopProfilePrior", "isoflop_profile"]


def isoflop_profile(u: torch.Tensor, floor: torch.Tensor, gap: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``L(u)`` of the module docstring; every argument broadcasts (``u`` in decades from the best size)."""
    return floor + gap * (beta * torch.pow(10.0, -alpha * u) + alpha * torch.pow(10.0, beta * u)) / (alpha + beta)


@dataclass(frozen=True)
class IsoFlopProfilePrior:
    """Tasks of one run each: an isoFLOP profile (loss against model size at one budget), x = model size.

    Per task: ``length_range`` sizes (uniform count) on a roughly geometric grid spanning ``span_decades_range``
    decades (log-uniform steps jittered by up to ``grid_jitter`` of their mean), the best size at
    ``optimum_position_range`` of the grid's log span (outside [0, 1]: the grid misses the turn), exponents
    ``alpha``, ``beta`` uniform in ``exponent_range``, floor ``E`` log-uniform in ``floor_range``, gap
    ``G / E`` log-uniform in ``gap_range``, best size log-uniform in ``n_params_range``; Gaussian noise of
    sd ``noise * G`` with ``noise`` log-uniform in ``noise_range``, none with probability ``p_noiseless``.
    Lower is better; no config is known (a user hands such a profile over as a bare curve).
    """

    n_points: int = 64
    min_points: int = 4
    length_range: tuple[int, int] = (5, 16)
    span_decades_range: tuple[float, float] = (0.8, 2.5)
    grid_jitter: float = 0.3
    optimum_position_range: tuple[float, float] = (-0.1, 0.75)
    exponent_range: tuple[float, float] = (0.15, 0.8)
    floor_range: tuple[float, float] = (0.3, 5.0)
    gap_range: tuple[float, float] = (0.1, 2.0)
    n_params_range: tuple[float, float] = (1e6, 1e10)
    noise_range: tuple[float, float] = (1e-3, 3e-2)
    p_noiseless: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.n_points, int) or not isinstance(self.min_points, int) or not 2 <= self.min_points <= self.n_points:
            raise InvalidConfigError(
                f"IsoFlopProfilePrior needs ints 2 <= min_points <= n_points, got min_points={self.min_points!r}, n_points={self.n_points!r}"
            )
        lo, hi = self.length_range
        if not (isinstance(lo, int) and isinstance(hi, int) and self.min_points <= lo <= hi <= self.n_points):
            raise InvalidConfigError(
                f"IsoFlopProfilePrior.length_range must be ints (low, high) with min_points <= low <= high <= n_points "
                f"({self.min_points}..{self.n_points}), got {self.length_range!r}"
            )
        for name in ("span_decades_range", "exponent_range", "floor_range", "gap_range", "n_params_range", "noise_range"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high < math.inf:
                raise InvalidConfigError(f"IsoFlopProfilePrior.{name} must be (low, high) with 0 < low <= high < inf, got {(low, high)}")
        low, high = self.optimum_position_range
        if not -math.inf < low <= high < math.inf:
            raise InvalidConfigError(f"IsoFlopProfilePrior.optimum_position_range must be finite (low, high) with low <= high, got {(low, high)}")
        if not 0.0 <= self.grid_jitter < 1.0:
            raise InvalidConfigError(f"IsoFlopProfilePrior.grid_jitter must be in [0, 1) (a share of the mean grid step), got {self.grid_jitter!r}")
        if not 0.0 <= self.p_noiseless <= 1.0:
            raise InvalidConfigError(f"IsoFlopProfilePrior.p_noiseless is a probability; use a value in [0, 1], got {self.p_noiseless!r}")

    def sample(
        self,
        n_tasks: int,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        n_points: int | None = None,
    ) -> TaskBatch:
        """``n_tasks x 1 x n_points`` batch; all randomness from ``generator`` (on ``device``)."""
        p = checked_sample_size(n_tasks, n_points, default_points=self.n_points, min_points=self.min_points)
        device = torch.device(device)
        u = torch.rand(10, n_tasks, 1, generator=generator, device=device, dtype=torch.float64)

        hi = min(self.length_range[1], p)
        lo = min(self.length_range[0], hi)
        n = lo + (u[0] * (hi - lo + 1)).long().clamp_(max=hi - lo)  # n_tasks x 1
        span = log_uniform(u[1], *self.span_decades_range)
        position = uniform(u[2], *self.optimum_position_range)
        alpha, beta = uniform(u[3], *self.exponent_range), uniform(u[4], *self.exponent_range)
        floor = log_uniform(u[5], *self.floor_range)
        gap = floor * log_uniform(u[6], *self.gap_range)
        best_size = log_uniform(u[7], *self.n_params_range)
        noise = torch.where(u[9] < self.p_noiseless, torch.zeros_like(gap), log_uniform(u[8], *self.noise_range) * gap)

        k = torch.arange(p, device=device)[None, :]
        valid = k < n
        # Grid: jittered positive steps, cumulated and scaled so the first n points span `span` decades.
        steps = 1.0 + self.grid_jitter * (2.0 * torch.rand(n_tasks, p, generator=generator, device=device, dtype=torch.float64) - 1.0)
        steps = torch.where((k >= 1) & valid, steps, torch.zeros_like(steps))
        cumulative = steps.cumsum(-1)
        decades = span * cumulative / cumulative.gather(1, n - 1)  # 0 .. span over the valid points
        u_best = decades - position * span  # decades from the best size
        y = isoflop_profile(u_best, floor, gap, alpha, beta)
        y = y + noise * torch.randn(n_tasks, p, generator=generator, device=device, dtype=torch.float64)
        x = best_size * torch.pow(10.0, u_best)
        # Padding repeats the last valid point (finite, sorted).
        x = torch.where(valid, x, x.gather(1, n - 1))
        y = torch.where(valid, y, y.gather(1, n - 1))
        return TaskBatch.single_runs(x, y, valid, torch.ones(n_tasks, dtype=torch.int8, device=device))
