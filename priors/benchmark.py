"""Throughput of a prior: valid curves sampled per second."""

from __future__ import annotations

import time

import torch

__all__ = ["curves_per_second"]


def curves_per_second(prior, *, n_points: int | None = 100, n_tasks: int = 20000, device: torch.device | str = "cpu", repeats: int = 3, seed: int = 0) -> float:
    """Valid curves (runs with at least one point) per second of ``prior.sample(n_tasks, n_points=n_points)``
    (``n_points=None``: the prior's own length, for priors whose ``sample`` takes no ``n_points``).

    Samples once to warm up, then ``repeats`` times; returns total valid curves over total wall time.
    """
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    length = {} if n_points is None else {"n_points": n_points}
    prior.sample(n_tasks, generator=generator, device=device, **length)
    sync()
    curves, start = 0, time.perf_counter()
    for _ in range(repeats):
        batch = prior.sample(n_tasks, generator=generator, device=device, **length)
        curves += int(batch.run_mask.sum())
    sync()
    return curves / (time.perf_counter() - start)
