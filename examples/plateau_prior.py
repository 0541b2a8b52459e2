"""A custom prior, written as a user would: accuracy curves that sit at chance, then rise suddenly.

Training runs with a long plateau before a sharp rise (grokking, curriculum switches, RL agents that find
the reward) are rare in curvecast's built-in prior, so the shipped model extrapolates such a plateau as
flat. Fine-tune the shipped model on this prior to teach it that a plateau may end:

    curvecast check-prior --prior-file examples/plateau_prior.py:PlateauAccuracyPrior
    curvecast train --init default --prior-file examples/plateau_prior.py:PlateauAccuracyPrior --out runs/plateau

``benchmarks/finetune.py`` measures what that buys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from curvecast.priors import CONFIG_FIELDS, TaskBatch


@dataclass(frozen=True)
class PlateauAccuracyPrior:
    """Tasks of 1..``max_runs`` accuracy curves (higher is better) over ``n_points`` evaluations.

    Per task: a chance level ``c ~ U(chance_range)`` shared by its runs. Per run: a final accuracy
    ``c + (1 - c) * U(gain_range)``, an onset at a fraction ``U(onset_range)`` of training and a rise of
    width ``U(width_range)`` (fractions of training), a sigmoid between them, plus Gaussian noise of
    standard deviation ``U(noise_range)``; accuracies are clipped to ``[0, 1]``.
    """

    n_points: int = 48
    max_runs: int = 4
    steps_per_point: float = 100.0
    chance_range: tuple[float, float] = (0.05, 0.5)
    gain_range: tuple[float, float] = (0.3, 0.95)
    onset_range: tuple[float, float] = (0.1, 0.8)
    width_range: tuple[float, float] = (0.01, 0.1)
    noise_range: tuple[float, float] = (0.002, 0.02)

    def sample(self, n_tasks: int, *, generator: torch.Generator, device: torch.device | str = "cpu", n_points: int | None = None) -> TaskBatch:
        """``n_tasks x max_runs x n_points``; every run has all its points, absent runs are masked out."""
        p, r = n_points or self.n_points, self.max_runs

        def uniform(bounds: tuple[float, float], *shape: int) -> torch.Tensor:
            return bounds[0] + (bounds[1] - bounds[0]) * torch.rand(*shape, generator=generator, device=device)

        chance = uniform(self.chance_range, n_tasks, 1, 1)
        final = chance + (1 - chance) * uniform(self.gain_range, n_tasks, r, 1)
        onset = uniform(self.onset_range, n_tasks, r, 1)
        width = uniform(self.width_range, n_tasks, r, 1)
        noise = uniform(self.noise_range, n_tasks, r, 1)
        t = torch.linspace(1 / p, 1, p, device=device).expand(n_tasks, r, p)
        y = chance + (final - chance) * torch.sigmoid((t - onset) / width)
        y = (y + noise * torch.randn(n_tasks, r, p, generator=generator, device=device)).clamp(0, 1)
        n_runs = torch.randint(1, r + 1, (n_tasks, 1), generator=generator, device=device)
        present = torch.arange(r, device=device) < n_runs  # n_tasks x r
        config = torch.zeros(n_tasks, r, len(CONFIG_FIELDS), device=device)
        return TaskBatch(
            x=t * p * self.steps_per_point,
            y=y,
            point_mask=present[..., None].expand(n_tasks, r, p).clone(),
            config=config,
            config_mask=torch.zeros_like(config, dtype=torch.bool),
            direction=-torch.ones(n_tasks, dtype=torch.int8, device=device),  # higher is better
        )
