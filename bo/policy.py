"""Freeze-thaw decisions: continue a paused run (one budget step) or start a new configuration.

The acquisition follows ifBO's random horizons (Rakotoarison et al. 2024): draw a horizon of ``k`` budget
steps and a small improvement threshold, then score every option by the probability that, after ``k``
more steps, it beats the incumbent by that threshold (MF-PI). A paused run at step ``i`` is scored at step ``i + k``,
a new configuration at step ``k``, so every option is judged at the same extra cost; the random horizon
mixes short bets (continue what is good now) with long ones (start what could end best).
The incumbent at a budget step is the best value any run showed *at that step* (DyHPO's rule, Wistuba et
al. 2022), or the best value seen at all where no run got that far: against the best value at any budget,
continuing a run would always look good, since a run improves on its own earlier values just by training.
``PolicySettings(acquisition="ei")`` scores by expected improvement instead; it rewards wide predictive
distributions more and starts more new configurations (``BENCHMARKS.md``, 10 seeds: worse on the live MLP
task, about even on LCDB).
The winner then gets **one** budget step, and the next ask decides again with what that step showed.

New configurations come from maximising the same score over the search space: scrambled Sobol points,
perturbations of the best runs so far, then perturbations of the best candidates. Where no candidate
stands out (the best beats the median by less than ``min_relative_gain``), differences in the score are
noise, not knowledge, and the first Sobol point (a space-filling, random-search-like choice) is started.
Every candidate is a query of one forward pass (queries never attend to each other), so thousands cost milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from curvecast.bo.model import PFNModel

__all__ = ["Decision", "PolicySettings", "freeze_thaw_decision"]


@dataclass(frozen=True)
class PolicySettings:
    """Knobs of the freeze-thaw policy."""

    #: Sobol candidates per ask (new configurations).
    n_sobol: int = 512
    #: Perturbations of the best runs so far, and of the best candidates in the refining round.
    n_local: int = 256
    #: Standard deviation of the perturbations in the unit cube (first round, refining round).
    local_scale: tuple[float, float] = (0.15, 0.05)
    #: log10 range of the improvement threshold, in units of the context's y spread.
    log10_threshold: tuple[float, float] = (-4.0, -1.0)
    #: The best new candidate must beat the median candidate's score by this factor to be chosen for its
    #: score; otherwise the model cannot tell configurations apart and the first Sobol point is started.
    min_relative_gain: float = 0.1
    #: ``"pi"``: probability of improving on the incumbent (ifBO's MF-PI); ``"ei"``: expected improvement.
    acquisition: Literal["pi", "ei"] = "pi"


@dataclass(frozen=True)
class Decision:
    """What to run next: ``kind="continue"`` names a run (its index in ``model.context``); ``"new"`` gives ``u``."""

    kind: Literal["continue", "new"]
    context_index: int | None
    u: np.ndarray | None
    score: float
    horizon_steps: int


def _perturb(rng: np.random.Generator, centres: np.ndarray, n: int, scale: float) -> np.ndarray:
    """``n`` Gaussian steps from random ``centres``, reflected at the cube's faces (clipping would pile
    candidates onto its corners)."""
    if not len(centres) or n < 1:
        return np.zeros((0, centres.shape[-1] if centres.ndim == 2 else 0))
    pick = centres[rng.integers(0, len(centres), n)]
    moved = np.abs(pick + rng.normal(0.0, scale, pick.shape)) % 2.0
    return np.where(moved > 1.0, 2.0 - moved, moved)


_LEVELS = (torch.arange(64, dtype=torch.float32) + 0.5) / 64


def _improvement(bar, logits: torch.Tensor, z_threshold: torch.Tensor, kind: str = "ei") -> np.ndarray:
    """``E[max(threshold - z, 0)]`` (``"ei"``) or ``P(z < threshold)`` (``"pi"``) under each row of ``n x K``
    logits (z: lower is better), on a quantile grid; ``z_threshold`` is a scalar or one per row."""
    if not len(logits):
        return np.zeros(0)
    z = bar.icdf(logits, _LEVELS)  # n x G
    thr = z_threshold.reshape(-1, 1) if z_threshold.ndim else z_threshold
    gain = (thr - z).clamp_min(0.0) if kind == "ei" else (z < thr).float()
    return gain.mean(-1).double().numpy()


def _incumbents(model: PFNModel, grid: np.ndarray) -> np.ndarray:
    """Per budget step, the best value (in y) any context run showed at that step (its last point at or
    below it, if the run got that far); where no run got that far, the best value seen at all."""
    best_all = min(float(np.min(model.sign * r.y)) for r in model.context)
    out = np.full(len(grid), best_all)
    for j, b in enumerate(grid):
        values = []
        for r in model.context:
            last = np.searchsorted(r.x, b * (1 + 1e-9), side="right") - 1  # the last point at or below b; -1: none
            if last >= 0 and r.x[-1] >= b * (1 - 1e-9):
                values.append(model.sign * r.y[last])
        if values:
            out[j] = min(values)
    return model.sign * out


def freeze_thaw_decision(
    model: PFNModel,
    continuable: dict[int, int],
    grid: np.ndarray,
    rng: np.random.Generator,
    *,
    exclude: np.ndarray,
    settings: PolicySettings = PolicySettings(),
    allow_new: bool = True,
) -> Decision | None:
    """Score the options and return the best, or ``None`` when there is nothing to run.

    Args:
        model: the PFN conditioned on every run so far.
        continuable: ``{index in model.context: index in grid of its current budget}`` for paused runs.
        grid: increasing budgets (the last is the full budget).
        rng: randomness (horizon, threshold, candidates).
        exclude: ``n x d`` encoded configs already tried (a finite space is not sampled twice).
        settings: candidate counts and scales.
        allow_new: whether new configurations may be started.
    """
    space = model.space
    k = int(rng.integers(1, len(grid) + 1))
    tau = 10.0 ** rng.uniform(*settings.log10_threshold)
    bar = model.predictor.model.bar_distribution
    ctx_index = list(continuable)
    x_cont = {i: np.array([grid[min(continuable[i] + k, len(grid) - 1)]]) for i in ctx_index}

    def tried(u: np.ndarray) -> np.ndarray:
        if not len(exclude) or not len(u):
            return np.zeros(len(u), dtype=bool)
        return (np.abs(u[:, None, :] - exclude[None, :, :]).max(-1) < 1e-9).any(-1)

    def candidates(u: np.ndarray) -> np.ndarray:
        u = space.round(torch.from_numpy(u)).numpy() if len(u) else u.reshape(0, space.dim)
        if len(u):  # distinct rows, first occurrence order kept (Sobol points first)
            _, first = np.unique(u, axis=0, return_index=True)
            u = u[np.sort(first)]
        return u[~tried(u)]

    best_u = np.zeros((0, space.dim))
    if allow_new:
        seed = int(rng.integers(0, 2**31 - 1))
        sobol = space.sample(settings.n_sobol, seed=seed)
        ranked = sorted(range(len(model.context)), key=lambda i: model.sign * model.context[i].y[-1])
        leaders = np.stack([model.context[i].u for i in ranked[:5]])
        best_u = candidates(np.concatenate([sobol, _perturb(rng, leaders, settings.n_local, settings.local_scale[0])]))
    x_new = np.full(len(best_u), grid[min(k, len(grid)) - 1])
    with torch.no_grad():
        new_logits, cont_logits, zmap = model.marginal_logits(torch.from_numpy(best_u), x_new, x_cont)
        z_inc = torch.from_numpy(_incumbents(model, grid))  # per budget step, in z
        z_thr_all = (zmap.z(z_inc) - tau).float()
        z_thr = z_thr_all[min(k, len(grid)) - 1]
        pi_new = _improvement(bar, new_logits, z_thr, settings.acquisition)
        cont_thr = torch.stack([z_thr_all[min(continuable[i] + k, len(grid) - 1)] for i in ctx_index]) if ctx_index else None
        pi_cont = _improvement(bar, torch.cat(cont_logits), cont_thr, settings.acquisition) if cont_logits else np.zeros(0)
        if len(best_u) and settings.n_local:
            top = best_u[np.argsort(-pi_new)[:8]]
            refine = candidates(_perturb(rng, top, settings.n_local, settings.local_scale[1]))
            if len(refine):
                logits2, _, _ = model.marginal_logits(torch.from_numpy(refine), np.full(len(refine), x_new[0]), {})
                pi2 = _improvement(bar, logits2, z_thr, settings.acquisition)
                best_u, pi_new = np.concatenate([best_u, refine]), np.concatenate([pi_new, pi2])
    options = [(float(p), "continue", i) for p, i in zip(pi_cont, ctx_index)]
    if len(best_u):
        j = int(np.argmax(pi_new))
        if pi_new[j] < (1.0 + settings.min_relative_gain) * np.median(pi_new):
            j = 0  # no candidate stands out: start the first (space-filling) Sobol point
        options.append((float(pi_new[j]), "new", j))
    if not options:
        return None
    score, kind, index = max(options, key=lambda o: o[0])
    if kind == "continue":
        return Decision("continue", index, None, score, k)
    return Decision("new", None, best_u[index], score, k)
