"""A minimal prior for fast tests of training: single-run noisy power laws ``E + A (x + 1)^-alpha``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from curvecast.errors import InvalidConfigError
from curvecast.priors.batch import TaskBatch, checked_sample_size
from curvecast.priors.families import uniform

__all__ = ["SimplePowerLawPrior"]


@dataclass(frozen=True)
class SimplePowerLawPrior:
    """Tasks with one run each: ``y = E + A (x + 1)^-alpha + noise`` at ``x = 0, 1, ..., n - 1``.

    ``E ~ U(floor_range)``, ``A ~ U(amplitude_range)``, ``alpha ~ U(alpha_range)``, Gaussian noise with
    standard deviation ``noise * A``, ``noise ~ U(noise_range)``. Run lengths are uniform in
    ``min_points..n_points``; no config is known.
    """

    n_points: int = 32
    min_points: int = 4
    floor_range: tuple[float, float] = (0.1, 2.0)
    amplitude_range: tuple[float, float] = (0.5, 5.0)
    alpha_range: tuple[float, float] = (0.2, 1.5)
    noise_range: tuple[float, float] = (0.0, 0.03)

    def __post_init__(self) -> None:
        if not isinstance(self.n_points, int) or not isinstance(self.min_points, int) or not 1 <= self.min_points <= self.n_points:
            raise InvalidConfigError(
                f"SimplePowerLawPrior needs ints 1 <= min_points <= n_points, got min_points={self.min_points!r}, n_points={self.n_points!r}"
            )
        for name in ("floor_range", "amplitude_range", "alpha_range", "noise_range"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi:
                raise InvalidConfigError(f"SimplePowerLawPrior.{name} must be (low, high) with 0 <= low <= high, got {(lo, hi)}")

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
        u = torch.rand(5, n_tasks, 1, generator=generator, device=device)
        floor, amp, alpha = uniform(u[0], *self.floor_range), uniform(u[1], *self.amplitude_range), uniform(u[2], *self.alpha_range)
        noise = uniform(u[3], *self.noise_range) * amp
        n = self.min_points + (u[4] * (p - self.min_points + 1)).long().clamp_(max=p - self.min_points)
        k = torch.arange(p, device=device)[None, :]
        x = torch.minimum(k, n - 1).float()
        eps = torch.randn(n_tasks, p, generator=generator, device=device)
        eps = torch.where(k < n, eps, eps.gather(1, n - 1))
        y = floor + amp * torch.pow(x + 1.0, -alpha) + noise * eps
        return TaskBatch.single_runs(x, y, k < n, torch.ones(n_tasks, dtype=torch.int8, device=device))
