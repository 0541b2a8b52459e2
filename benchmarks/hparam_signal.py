"""How much of a sweep's spread in final values the prior ties to its free hyperparameters.

    python benchmarks/hparam_signal.py

Pure sweeps of ``priors.default()`` (free hyperparameters in every task, full-length runs, no tables or
replicates; 512 tasks, seed 0): each run's final value (mean of its last 3 points, in units of the task's y
range) is predicted from the other runs of its sweep by kernel regression on the hyperparameters
(leave-one-out, Gaussian kernel). Reported: the residual sum of squares over the sum of squares about each
sweep's mean, pooled over sweeps of at least 4 runs, for the sweep's leave-one-out mean and the best of a few
bandwidths. Near or above 1: the hyperparameters say nothing a model could learn; well below 1: they do.
Rows: the current prior, and its map alone (``p_hparam_optimum=0``, ``p_irrelevant_hparam=0``: the prior
before best settings and irrelevant knobs existed), with up to 1 or 2 hyperparameters, with and without noise.
"""

from __future__ import annotations

import dataclasses

import torch

from curvecast.priors import default

BANDWIDTHS = (0.05, 0.1, 0.2, 0.4)
SWEEPS = dict(p_free_hparams=1.0, p_pure_sweep=1.0, p_truncated=0.0, p_full_length=1.0, p_table=0.0, p_replicates=0.0, max_runs=32, max_task_points=320)
NOISELESS = dict(noise_range=(1e-4, 2e-4), seed_spread_range=(1e-4, 2e-4))


def residual_shares(prior, n_tasks: int = 512, seed: int = 0) -> dict[str, float]:
    """Pooled leave-one-out residual share of the final values: ``{"mean": ..., "kernel h": ...}``."""
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    total, residual = 0.0, {"mean": 0.0, **{f"kernel {bw}": 0.0 for bw in BANDWIDTHS}}
    for t in range(batch.n_tasks):
        runs = batch.run_mask[t].nonzero().squeeze(1)
        if runs.numel() < 4:
            continue
        points = batch.point_mask[t]
        y_range = float(batch.y[t][points].max() - batch.y[t][points].min())
        final = torch.stack([batch.y[t, r][points[r]][-3:].mean() for r in runs]) / max(y_range, 1e-12)
        z = final - final.mean()
        total += float((z**2).sum())
        loo_mean = (z.sum() - z) / (len(z) - 1)
        residual["mean"] += float(((loo_mean - z) ** 2).sum())
        theta = batch.hparams[t, runs][:, batch.hparam_mask[t, runs[0]]]
        d2 = torch.cdist(theta, theta).square()
        for bw in BANDWIDTHS:
            w = torch.exp(-d2 / (2 * bw * bw)).fill_diagonal_(0.0)
            pred = torch.where(w.sum(1) > 1e-9, (w @ z) / w.sum(1).clamp_min(1e-12), loo_mean)
            residual[f"kernel {bw}"] += float(((pred - z) ** 2).sum())
    return {k: v / total for k, v in residual.items()}


def main() -> dict:
    out = {}
    for label, overrides in (("current prior", {}), ("map alone (before)", dict(p_hparam_optimum=0.0, p_irrelevant_hparam=0.0))):
        for n_free in (1, 2):
            for noise, extra in (("noiseless", NOISELESS), ("with noise", {})):
                prior = dataclasses.replace(default(), **SWEEPS, max_free_hparams=n_free, **overrides, **extra)
                shares = residual_shares(prior)
                best = min(shares[f"kernel {bw}"] for bw in BANDWIDTHS)
                key = f"{label}, up to {n_free} hparam(s), {noise}"
                out[key] = {"mean": shares["mean"], "best_kernel": best}
                print(f"{key:55s} residual share: sweep mean {shares['mean']:.2f}, best kernel {best:.2f}")
    return out


if __name__ == "__main__":
    main()
