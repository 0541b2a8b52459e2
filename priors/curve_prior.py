"""The default synthetic prior: tasks of related training runs tied together by scaling laws.

Generative process, per task (one training setup with 1..``max_runs`` runs; unused runs fully masked,
valid runs first):

1. **Direction and scale.** ``min`` tasks are loss-like: irreducible level ``E`` log-uniform over
   ``loss_floor_range``, initial loss ``L_init = E (1 + r)`` with ``r`` log-uniform over ``loss_gap_range``.
   ``max`` tasks are accuracy-like: chance level in ``[0, 0.5]``, ceiling in ``(chance, 1]``.
2. **Scaling law across runs.** Runs get ``n_params`` N (log-uniform over up to ``max_param_decades`` inside
   ``n_params_range``), batch size B, a learning rate scattered around ``lr_opt(N, B) ∝ N^-c sqrt(B)``,
   total steps H (shared or per run) and tokens ``D = H B seq_len``. The normalized asymptote of a run is
   ``h_inf = f (N / N_min)^-alpha + k log(lr / lr_opt)^2`` (a fraction of ``L_init - E``), and its
   characteristic time ``tau0`` shrinks with N and with lr, and grows as ``1 + B_crit / B`` (critical batch
   size), so the data term ``B / D^beta`` of Chinchilla emerges from the progress shape.
3. **Curve along steps** (Tissue et al. 2024): with normalized time ``u = step / H``,
   ``h(u) = h_inf + (1 - h_inf) g(S1(u) H / tau0) - C S2(u)``, where ``S1`` and ``S2`` are the forward and
   annealing areas of the run's LR schedule (:mod:`curvecast.priors.schedules`) and ``g`` a progress shape
   drawn per task (:mod:`curvecast.priors.families`). ``C`` is bounded so that ``h`` stays above ``h_inf``.
4. **Extras**: divergence (after some step ``h`` rises back toward 1, likelier for too large a lr), loss
   spikes (a jump that decays), double-descent bumps, overfitting (``p_overfit``, ``p_overfit_accuracy``: from a
   turn point on, ``h`` rises as a power of the time since and does not come back); accuracies may sit at chance
   before rising (``z = 1 - (1 - h)^k``, ``k > 1``), or, with ``p_stuck_at_chance`` (off by default), never leave it (the
   ceiling lies within two noise sds of chance). A wsd run's final decay spans ``wsd_cooldown_range`` of it (uniform).
5. **Output**: ``y = E + (L_init - E) z`` (losses) or ``y = ceiling - (ceiling - chance) z`` (accuracies),
   plus heteroscedastic AR(1) noise, clipped to ``[0, inf)`` or ``[0, 1]``.
6. **x sampling** per run: ragged lengths, linear, log or warped spacing (optionally jittered), sometimes
   starting at step 0, sometimes truncated before ``total_steps``, in steps (sometimes rounded), tokens or
   an arbitrary unit (``x`` and the x-unit config fields scaled together). A task holds at most
   ``max_task_points`` points, so tasks of many runs have shorter runs.
7. **Free hyperparameters** (any config key without a fixed meaning): a task may give its runs values in
   ``[0, 1]`` in up to ``max_free_hparams`` slots (continuous, on a grid, or 0/1), and draws a random smooth
   map from them to the run's asymptote and speed: two Gaussian-process samples (random Fourier features
   with per-slot length scales, so some slots matter and some barely do; some slots are irrelevant), and in
   most tasks a best setting: a bowl around an optimum (possibly outside the swept range) that raises the
   asymptote and slows the runs far from it. Runs close in hyperparameter space
   end close, which is what lets a sweep's runs inform each other. A ``p_pure_sweep`` share of these tasks
   are pure sweeps (size, lr, batch, schedule and length shared), as the runs of a tuning loop are.
8. **Scaling-law tables**: a ``p_table`` share of tasks are tables of finished runs, each observed only at
   its end (one point at ``x`` = its tokens or steps, ``n_params`` and ``n_tokens`` known), laid out as
   an isoFLOP design (several budgets ``C = 6 N D``, model sizes around each budget's optimum: the
   U-shapes of Hoffmann et al. 2022), a size x token-multiplier grid (Gadre et al. 2024) or scattered.
   Across sizes the asymptote may follow a broken power law (``p_broken_scaling``), and unique data may run
   out (``p_data_limited``): past it, repeated tokens are worth less (Muennighoff et al. 2023,
   ``D' = U + U R (1 - exp(-(D - U) / (U R)))``).

Implementation: parameters are drawn per task (``n_tasks``) and per valid run (``V`` rows) from two
uniform matrices; valid runs are then sorted by (direction, family, schedule, decay shape) so that every per-point step
works in place on contiguous row blocks of ``V x n_points`` buffers; the result is scattered into the
padded ``n_tasks x max_runs x n_points`` layout at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from curvecast.errors import InvalidConfigError
from curvecast.priors.batch import CONFIG_FIELDS, N_HPARAMS, SCHEDULES, TaskBatch, checked_sample_size
from curvecast.priors.families import FAMILIES, FAMILY_NAMES, MAX_FAMILY_PARAMS, log_uniform

__all__ = ["CurvePrior"]

_CONSTANT, _COSINE, _WSD = (SCHEDULES.index(s) for s in ("constant", "cosine", "wsd"))
_ISOFLOP, _GRID = 0, 1  # table designs; 2 is scattered
_N_FOURIER = 16  # random Fourier features per hyperparameter map
_NO_LIMIT = 1e30  # "unique data never run out"


@dataclass(frozen=True)
class CurvePrior:
    """Synthetic tasks of learning curves linked by scaling laws (see the module docstring).

    Probabilities are per task unless they say "per run". Ranges are ``(low, high)`` tuples.
    """

    #: Most runs of a task (the run axis of the batch); table tasks may use all of them.
    max_runs: int = 32
    #: Most runs of a task of whole curves.
    max_curve_runs: int = 12
    n_points: int = 64
    min_points: int = 4
    #: Most points of a task summed over its runs (runs of many-run tasks get fewer points); None: no cap.
    max_task_points: int | None = 320
    #: Probability that a task has a single run (otherwise 2..max_curve_runs, skewed to few runs).
    p_single_run: float = 0.25
    #: Probability of an accuracy-like ("max", bounded in [0, 1]) task.
    p_max_direction: float = 0.3
    #: Range of total steps (log-uniform).
    horizon_range: tuple[float, float] = (10.0, 1e6)
    #: Progress made by the end of a run (log-uniform), in units of its progress shape's characteristic time
    #: (``tau`` at ``u = 1`` before the per-run size, lr and batch factors): low values leave a run in its slow
    #: early phase, so its curve makes little of its improvement early. Real loss curves make most of theirs
    #: by 20% of x (median share 0.77-1.0 on the dev sources, about 0.6 in the default prior: ``python
    #: benchmarks/early_phase.py``). The default is the range the shipped models were trained on.
    tau_end_range: tuple[float, float] = (0.3, 1e4)
    #: Range of model sizes; a task spans 0..``max_param_decades`` decades inside it.
    n_params_range: tuple[float, float] = (1e6, 1e10)
    max_param_decades: float = 3.0
    #: Irreducible loss ``E`` (log-uniform) and ``(L_init - E) / E`` (log-uniform) of loss-like tasks.
    loss_floor_range: tuple[float, float] = (1e-3, 10.0)
    loss_gap_range: tuple[float, float] = (1e-2, 1e3)
    #: Relative weights of the progress shapes, aligned with ``FAMILY_NAMES``.
    family_weights: tuple[float, ...] = (0.3, 0.15, 0.15, 0.15, 0.1, 0.15)
    #: Relative weights of the LR schedules, aligned with ``SCHEDULES`` (constant, cosine, linear, wsd).
    schedule_weights: tuple[float, ...] = (0.4, 0.3, 0.1, 0.2)
    #: Probability that each config field of a task is known (marked in ``config_mask``).
    p_config_known: float = 0.6
    #: Length of a wsd run's final LR decay, as a fraction of the run (uniform; cut to leave the warmup).
    #: Raise the high end for speedrun-style decays (modded-nanogpt's records decay over 40-70% of their runs);
    #: fine-tuning the shipped model on log-uniform (0.05, 0.8) did not help it on those records (BENCHMARKS.md).
    wsd_cooldown_range: tuple[float, float] = (0.05, 0.4)
    #: Per run: probability of using all ``n_points`` (otherwise a length in ``min_points..n_points``).
    p_full_length: float = 0.3
    #: Per run: probability of being stopped before ``total_steps``.
    p_truncated: float = 0.25
    #: Per run: probability that the first point is at step 0 (the initial loss).
    p_start_at_zero: float = 0.25
    #: Probability that x is in another unit than steps (tokens or an arbitrary factor 10^U(-3, 6)).
    p_rescaled_units: float = 0.4
    #: Relative noise level (log-uniform) and the probability of a near-noiseless task.
    noise_range: tuple[float, float] = (1e-4, 5e-2)
    p_noiseless: float = 0.15
    #: Probability of AR(1) noise and the largest autocorrelation (rho ~ U(0, max)).
    p_autocorrelated: float = 0.5
    max_autocorrelation: float = 0.95
    #: Per run: probabilities of divergence (raised for too large a lr), a loss spike, a double-descent bump.
    #: Set so that runs that end above their midpoint by more than their drop from 25% to 50% of training are
    #: about as rare as in real curves of the same noise level: 1.3% / 2.4% of prior runs with noise below
    #: 0.01 / 0.01-0.05 (real: 1.0% / 2.7%); at 0.03 / 0.05 / 0.02 they were 3.6% / 6.8%.
    p_divergence: float = 0.01
    p_spike: float = 0.02
    p_double_descent: float = 0.01
    #: Per run of a loss-like / accuracy-like task: probability of overfitting, a late rise that does not come
    #: back: after a turn point the run gets worse as a power of the time since (a held-out loss of a model
    #: that memorizes, an isoFLOP curve past its optimum size). Among real curves whose first 60% ends in a
    #: clear rise, the rest kept getting worse in 47% of loss-like ones (LCDB 30%, Porian's isoFLOP curves all)
    #: and 19% of accuracies (LCDB 35%, Pythia 6%, MLPerf 1%), against 14% and 12% of such prior runs without
    #: it; 0.08 / 0.02 give 50% and 16% (``python benchmarks/late_rise.py``).
    p_overfit: float = 0.0
    p_overfit_accuracy: float = 0.0
    #: Probability that an accuracy-like task sits near chance before rising.
    p_chance_plateau: float = 0.3
    #: Probability that an accuracy-like task never leaves chance within its runs (a benchmark too hard at
    #: this scale, e.g. MMLU for small models): progress of at most two noise sds. Real accuracy curves flat
    #: over their first 40% rose later (by > 3 noise sds) in 1% / 12% / 44% / 47% of cases in gemstones /
    #: MLPerf / LCDB / Pythia, against 54% of such prior curves at 0 and 34% at 0.15. Off by default: the
    #: shipped models were trained without it, and fine-tuning them with 0.15 did not help on real curves
    #: (BENCHMARKS.md); set it for priors of downstream-accuracy curves.
    p_stuck_at_chance: float = 0.0
    #: Probability of a scaling-law table task (runs observed only at their end; at least 4 runs).
    p_table: float = 0.15
    #: Relative weights of the table designs: isoFLOP, size x token-multiplier grid, scattered.
    table_design_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    #: Exponent range (uniform per task) of an explicit data term for isoFLOP table rows, or ``None`` (off): a
    #: row ``delta`` (ln) larger than its budget's nominal optimum sees ``e^-delta`` times the optimum's tokens
    #: and its asymptote gains ``(alpha / beta) S e^(beta delta)``, where ``S`` is the size term at the optimum
    #: and ``alpha`` the size exponent, so the profile bottoms out at the design's centre, as the Chinchilla form
    #: ``E + A / N^alpha + B / D^beta`` does at the compute optimum. Without it the data term only emerges from
    #: incomplete progress, and most of the prior's isoFLOP profiles fall monotonically in N where real ones are
    #: U-shaped (``benchmarks/isoflop_shape.py``; BENCHMARKS.md).
    isoflop_data_beta_range: tuple[float, float] | None = None
    #: Probability that the runs of a task differ in free hyperparameters, and the most slots a task uses.
    p_free_hparams: float = 0.35
    max_free_hparams: int = N_HPARAMS
    #: Effect sizes (log-uniform) of the free hyperparameters on the asymptote and the speed of a run.
    hparam_effect_range: tuple[float, float] = (0.05, 1.0)
    #: Probability that a task's hyperparameters have a best setting (a bowl around an optimum that may lie
    #: outside the swept range), and its strength (log-uniform): runs far from it end higher and learn slower.
    p_hparam_optimum: float = 0.7
    hparam_optimum_range: tuple[float, float] = (0.05, 3.0)
    #: Probability that a used slot (other than the first) does not move the curves at all (irrelevant knob).
    p_irrelevant_hparam: float = 0.3
    #: Probability that a task with free hyperparameters is a pure sweep: its runs share size, lr, batch,
    #: schedule and length, and differ only in the free hyperparameters and seeds (a tuning loop's runs).
    p_pure_sweep: float = 0.3
    #: Probability that the asymptote's power law in model size bends (a broken power law in N).
    p_broken_scaling: float = 0.2
    #: Probability that unique data run out within the task's runs (repeated data is worth less).
    p_data_limited: float = 0.1
    #: Probability that every run of a task is trained at its optimal learning rate (a tuned sweep, as in
    #: published scaling studies); otherwise each run's lr scatters around the optimum and moves its curve.
    p_tuned_lr: float = 0.3
    #: Probability that a size sweep (a task of several runs that differ in model size, no free hyperparameters,
    #: not a table) is a quiet ladder: every run at its optimal lr and the noise a table's (times 0.2). Real
    #: sweeps' final values follow model size 2-4 times more closely than the prior's (``python
    #: benchmarks/sweep_smoothness.py``), which teaches the network to pool an unseen size towards its context;
    #: quiet ladders alone match the real ones. 0 (off) keeps the default prior's draws as they were.
    p_quiet_sweep: float = 0.0
    #: Probability that a multi-run task holds replicates: one setup run with different seeds.
    p_replicates: float = 0.1
    #: Seed-to-seed spread (log-uniform, relative) of a run's asymptote and speed around its setup's.
    seed_spread_range: tuple[float, float] = (1e-3, 0.05)

    def __post_init__(self) -> None:
        for name in ("max_runs", "max_curve_runs", "n_points", "min_points"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigError(f"CurvePrior.{name} must be a positive int, got {value!r}")
        if self.min_points > self.n_points:
            raise InvalidConfigError(
                f"CurvePrior.min_points ({self.min_points}) must not exceed n_points ({self.n_points}); lower min_points"
            )
        for f in fields(self):
            if f.name.startswith("p_"):
                value = getattr(self, f.name)
                if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise InvalidConfigError(f"CurvePrior.{f.name} is a probability; use a value in [0, 1], got {value!r}")
        if self.max_task_points is not None and (
            not isinstance(self.max_task_points, int) or self.max_task_points < min(self.max_curve_runs, self.max_runs) * self.min_points
        ):
            raise InvalidConfigError(
                f"CurvePrior.max_task_points must be an int >= max_curve_runs * min_points "
                f"({min(self.max_curve_runs, self.max_runs) * self.min_points}) or None, got {self.max_task_points!r}"
            )
        if not isinstance(self.max_free_hparams, int) or not 0 <= self.max_free_hparams <= N_HPARAMS:
            raise InvalidConfigError(f"CurvePrior.max_free_hparams must be an int in 0..{N_HPARAMS}, got {self.max_free_hparams!r}")
        for name in (
            "horizon_range",
            "n_params_range",
            "loss_floor_range",
            "loss_gap_range",
            "noise_range",
            "hparam_effect_range",
            "hparam_optimum_range",
            "seed_spread_range",
            "wsd_cooldown_range",
            "tau_end_range",
            *(("isoflop_data_beta_range",) if self.isoflop_data_beta_range is not None else ()),
        ):
            value = getattr(self, name)
            if len(value) != 2 or not 0.0 < value[0] <= value[1] < math.inf:
                raise InvalidConfigError(f"CurvePrior.{name} must be (low, high) with 0 < low <= high < inf, got {value!r}")
        if self.wsd_cooldown_range[1] > 1.0:
            raise InvalidConfigError(f"CurvePrior.wsd_cooldown_range is a fraction of the run; the high end must be <= 1, got {self.wsd_cooldown_range}")
        if self.horizon_range[0] < 1.0:
            raise InvalidConfigError(f"CurvePrior.horizon_range counts steps; the low end must be >= 1, got {self.horizon_range}")
        if not 0.0 <= self.max_param_decades < math.inf:
            raise InvalidConfigError(f"CurvePrior.max_param_decades must be >= 0, got {self.max_param_decades!r}")
        if not 0.0 <= self.max_autocorrelation < 1.0:
            raise InvalidConfigError(f"CurvePrior.max_autocorrelation must be in [0, 1), got {self.max_autocorrelation!r}")
        for name, expected in (("family_weights", FAMILY_NAMES), ("schedule_weights", SCHEDULES), ("table_design_weights", ("isoflop", "grid", "scattered"))):
            value = getattr(self, name)
            if len(value) != len(expected) or any(not w >= 0.0 for w in value) or sum(value) <= 0.0:
                raise InvalidConfigError(
                    f"CurvePrior.{name} needs {len(expected)} non-negative weights (for {expected}) with a positive sum, got {value!r}"
                )

    def sample(
        self,
        n_tasks: int,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        n_points: int | None = None,
    ) -> TaskBatch:
        """Draw ``n_tasks`` tasks as a :class:`TaskBatch` of shape ``n_tasks x max_runs x n_points``.

        All randomness comes from ``generator``, which must live on ``device``. ``n_points`` overrides
        :attr:`n_points` (it must be at least :attr:`min_points`).
        """
        n_points = checked_sample_size(n_tasks, n_points, default_points=self.n_points, min_points=self.min_points)
        device = torch.device(device)
        if generator.device.type != device.type:
            raise InvalidConfigError(
                f"generator lives on {generator.device} but device is {device}; create it with torch.Generator(device={str(device)!r})"
            )
        return _Sampler(self, n_tasks, n_points, generator, device).run()


class _Draws:
    """Hands out the rows of one uniform ``k x n`` matrix, one row per random quantity of ``n`` items."""

    def __init__(self, n: int, k: int, generator: torch.Generator, device: torch.device) -> None:
        self.u = torch.rand(k, n, generator=generator, device=device)
        self.used = 0

    def uniform(self, lo: float | Tensor = 0.0, hi: float | Tensor = 1.0) -> Tensor:
        if self.used >= self.u.shape[0]:
            raise RuntimeError("_Draws ran out of uniforms; raise its k")
        row = self.u[self.used]
        self.used += 1
        return lo + row * (hi - lo)

    def log_uniform(self, lo: float, hi: float) -> Tensor:
        return torch.exp(self.uniform(math.log(lo), math.log(hi)))

    def normal(self) -> Tensor:
        return math.sqrt(2.0) * torch.erfinv(self.uniform(-1.0 + 1e-6, 1.0 - 1e-6))

    def bernoulli(self, p: float | Tensor) -> Tensor:
        return self.uniform() < p

    def categorical(self, weights: tuple[float, ...]) -> Tensor:
        cdf = torch.tensor(weights, dtype=torch.float64).cumsum(0)
        cdf = (cdf / cdf[-1]).to(dtype=torch.float32, device=self.u.device)
        return torch.searchsorted(cdf, self.uniform(), right=True).clamp_(max=len(weights) - 1)


class _Table:
    """Named columns of ``n`` items, stored as the rows of one float32 ``K x n`` matrix so that
    reordering or gathering all of them is a single ``index_select``."""

    def __init__(self, columns: dict[str, Tensor]) -> None:
        self.index = {name: i for i, name in enumerate(columns)}
        self.data = torch.stack([c.to(torch.float32) for c in columns.values()])

    def __getitem__(self, name: str) -> Tensor:
        return self.data[self.index[name]]

    def flag(self, name: str) -> Tensor:
        return self.data[self.index[name]] > 0.5

    def rows(self, name: str) -> Tensor:
        """Indices of the items whose flag ``name`` is set."""
        return self.flag(name).nonzero().squeeze(1)

    def select(self, items: Tensor) -> "_Table":
        out = object.__new__(_Table)
        out.index, out.data = self.index, self.data.index_select(1, items)
        return out


#: Layout of the sort key of valid runs: direction, family, schedule, cosine-shaped decay.
_N_KEYS = 2 * len(FAMILIES) * len(SCHEDULES) * 2


def _decode_key(key: int) -> tuple[int, int, int, bool]:
    """``(is_max, family, schedule, cosine)`` of a sort key."""
    return key // (2 * len(SCHEDULES) * len(FAMILIES)), (key // (2 * len(SCHEDULES))) % len(FAMILIES), (key // 2) % len(SCHEDULES), bool(key % 2)


def _segments(key: Tensor) -> list[tuple[int, int, int]]:
    """``(key, start, end)`` of each non-empty block of the sorted ``key`` (``V`` long)."""
    counts = torch.bincount(key, minlength=_N_KEYS).tolist()
    out, start = [], 0
    for k, c in enumerate(counts):
        if c:
            out.append((k, start, start + c))
            start += c
    return out


def _deficit_(u: Tensor, decay_start: Tensor, span: Tensor, scale: Tensor, cosine: bool, out: Tensor) -> Tensor:
    """Annealing deficit ``A(u)`` of one decay profile (see :func:`curvecast.priors.schedules.annealing_deficit`)
    written into ``out``. ``u``, ``out``: ``n x P``; ``decay_start``, ``span`` (``1 - decay_start``, clamped
    away from 0) and ``scale`` (``span (1 - final) / 2``): ``n x 1``."""
    torch.sub(u, decay_start, out=out).div_(span).clamp_(0.0, 1.0)
    if cosine:
        return out.sub_(torch.sin(math.pi * out).div_(math.pi)).mul_(scale)
    return out.mul_(out).mul_(scale)


class _Sampler:
    """One call of :meth:`CurvePrior.sample`.

    Per-task quantities have shape ``n_tasks``; per-run ones live in a :class:`_Table` over the ``V`` valid
    runs, sorted by (direction, family, schedule, decay shape) so that per-point work runs in place on
    contiguous row blocks of ``V x n_points`` buffers.
    """

    def __init__(self, prior: CurvePrior, n_tasks: int, n_points: int, generator: torch.Generator, device: torch.device):
        self.prior, self.n_tasks, self.n_points = prior, n_tasks, n_points
        self.generator, self.device = generator, device

    def run(self) -> TaskBatch:
        tasks = self._draw_tasks()
        runs = self._draw_runs(tasks)
        order = torch.argsort(runs["key"].long(), stable=True)
        self.runs, self.flat_index, self.task_id = runs.select(order), self.flat_index[order], self.task_id[order]
        self.run_hparams, self.run_hparam_mask = self.run_hparams[order], self.run_hparam_mask[order]
        self.segments = _segments(self.runs["key"].long())
        self._anneal_coefficient()
        u = self._times()
        h = self._curves(u)
        self._extras(u, h)
        y = self._observe(h)
        x = u.mul_(self.runs["x_scale"][:, None])
        rows = self.runs.rows("round")
        if rows.numel():
            rounded = x.index_select(0, rows).round_()
            # Rounding to whole steps must not merge points: early log-spaced points may lie closer than a step
            # apart, and a run with repeated x is one predict() would average. Such runs keep their fractional x.
            n_valid = self.runs["n"].index_select(0, rows).long()
            pairs = torch.arange(1, rounded.shape[1], device=x.device)[None, :] < n_valid[:, None]
            merged = ((rounded[:, 1:] <= rounded[:, :-1]) & pairs).any(-1)
            rows = rows[~merged]
            x.index_copy_(0, rows, rounded[~merged])
        return self._assemble(x, y, tasks)

    def _draw_tasks(self) -> dict[str, Tensor]:
        p, d, n = self.prior, _Draws(self.n_tasks, 112, self.generator, self.device), self.n_tasks
        zeros, ones = torch.zeros(n, device=self.device), torch.ones(n, device=self.device)
        t: dict[str, Tensor] = {}
        curve_runs = min(p.max_curve_runs, p.max_runs)
        # Sweeps of a few runs are commoner than large ones: the count is skewed towards 2.
        multi = 2.0 + torch.floor(d.uniform().square_() * (curve_runs - 1)).clamp_(max=curve_runs - 2) if curve_runs > 1 else ones
        t["n_runs"] = torch.where(d.bernoulli(p.p_single_run), ones, multi)
        table_min = min(4, p.max_runs)
        t["is_table"] = d.bernoulli(p.p_table) & (p.max_runs >= 2)
        table_runs = table_min + torch.floor(d.uniform() * (p.max_runs - table_min + 1)).clamp_(max=p.max_runs - table_min)
        t["n_runs"] = torch.where(t["is_table"], table_runs, t["n_runs"])
        if p.max_task_points is None:
            t["run_points"] = torch.full_like(ones, float(self.n_points))
        else:
            t["run_points"] = torch.floor(p.max_task_points / t["n_runs"]).clamp_(p.min_points, self.n_points)
        t["is_max"] = d.bernoulli(p.p_max_direction)
        t["family"] = d.categorical(p.family_weights)
        family_u = torch.stack([d.uniform() for _ in range(MAX_FAMILY_PARAMS)], 1)
        params = torch.zeros(n, MAX_FAMILY_PARAMS, device=self.device)
        for i, fam in enumerate(FAMILIES):
            k = len(fam.param_names)
            params[:, :k] = torch.where((t["family"] == i)[:, None], fam.sample(family_u), params[:, :k])
        t.update({f"family_param{i}": params[:, i] for i in range(MAX_FAMILY_PARAMS)})
        # Scale of the metric.
        t["floor"] = d.log_uniform(*p.loss_floor_range)
        t["gap"] = t["floor"] * d.log_uniform(*p.loss_gap_range)
        chance = torch.where(d.bernoulli(0.3), zeros, d.uniform(0.0, 0.5))
        t["chance"], t["ceiling"] = chance, chance + (1.0 - chance) * d.uniform(0.15, 1.0)
        t["link_power"] = torch.where(t["is_max"] & d.bernoulli(p.p_chance_plateau), d.log_uniform(1.5, 6.0), ones)
        # Scaling law.
        lo, hi = (math.log(v) for v in p.n_params_range)
        span = torch.where(d.bernoulli(0.3), zeros, d.uniform(0.0, min(p.max_param_decades * math.log(10.0), hi - lo)))
        t["log_n_lo"], t["log_n_span"] = d.uniform(lo, torch.clamp(hi - span, min=lo)), span
        t["n_exponent"] = d.uniform(0.1, 0.6)
        t["n_fraction"] = d.log_uniform(0.01, 0.5)
        t["log_lr_ref"] = d.uniform(math.log(1e-4), math.log(0.1))
        t["lr_n_exponent"] = d.uniform(0.0, 0.5)
        t["lr_scatter"] = torch.where(d.bernoulli(p.p_tuned_lr), zeros, d.uniform(0.1, 1.5))
        t["lr_penalty"] = d.log_uniform(0.005, 0.1)
        t["lr_speedup"] = d.uniform(0.3, 1.0)
        t["n_speedup"] = d.uniform(0.0, 0.3)
        t["log_batch"] = d.uniform(math.log(8.0), math.log(2048.0))
        t["vary_batch"] = d.bernoulli(0.3)
        t["log_batch_crit"] = d.uniform(math.log(16.0), math.log(4096.0))
        t["seq_len"] = torch.exp2(torch.floor(d.uniform(7.0, 13.0)))
        h_lo, h_hi = (math.log(v) for v in p.horizon_range)
        # Table designs spread over decades of steps: centre them in the horizon range.
        t["log_horizon"] = torch.where(t["is_table"], d.uniform(h_lo + 0.4 * (h_hi - h_lo), h_lo + 0.6 * (h_hi - h_lo)), d.uniform(h_lo, h_hi))
        t["shared_horizon"] = d.bernoulli(0.5)
        t["tau_end"] = d.log_uniform(*p.tau_end_range)
        # Schedule.
        t["schedule"] = d.categorical(p.schedule_weights)
        t["vary_schedule"] = d.bernoulli(0.1)
        t["warmup"] = torch.where(d.bernoulli(0.35), zeros, d.log_uniform(0.005, 0.1))
        t["cooldown"] = d.uniform(*p.wsd_cooldown_range)
        t["final_lr"] = torch.where(d.bernoulli(0.5), zeros, d.uniform(0.0, 0.1))
        t["cosine_cooldown"] = d.bernoulli(0.3)
        t["anneal_gain"] = d.uniform(0.05, 0.7)
        t["anneal_window"] = d.log_uniform(100.0, 3000.0)
        # Noise.
        t["noise"] = torch.where(d.bernoulli(p.p_noiseless), d.log_uniform(1e-7, 1e-5), d.log_uniform(*p.noise_range))
        t["noise_level_mix"] = d.uniform()
        t["rho"] = torch.where(d.bernoulli(p.p_autocorrelated), d.uniform(0.0, p.max_autocorrelation), zeros)
        # An accuracy the model never learns in this run: chance level plus at most two noise sds of progress.
        # Drawn only when enabled, so the default prior keeps the random stream the shipped models trained on.
        if p.p_stuck_at_chance > 0.0:
            t["stuck"] = t["is_max"] & d.bernoulli(p.p_stuck_at_chance)
            t["stuck_progress"] = d.uniform(0.0, 2.0) * t["noise"]
        else:
            t["stuck"], t["stuck_progress"] = torch.zeros_like(t["is_max"]), zeros
        # x sampling: unit 0 = steps, 1 = tokens, 2 = arbitrary factor.
        rescaled, tokens = d.bernoulli(p.p_rescaled_units), d.bernoulli(0.4)
        t["unit"] = torch.where(rescaled, torch.where(tokens, 1.0, 2.0), 0.0)
        t["unit_factor"] = torch.pow(10.0, d.uniform(-3.0, 6.0))
        t["round_steps"] = d.bernoulli(0.5) & ~rescaled
        t["spacing"] = d.categorical((0.5, 0.35, 0.15))
        t["config_known"] = torch.stack([d.bernoulli(p.p_config_known) for _ in CONFIG_FIELDS], 1)
        # Scaling-law tables: x is tokens (or steps), and the sizes and token counts of the rows are known.
        # Their runs are tuned and their final losses averaged over many steps: little lr scatter, low noise.
        t["lr_scatter"] = torch.where(t["is_table"], t["lr_scatter"] * 0.2, t["lr_scatter"])
        t["noise"] = torch.where(t["is_table"], t["noise"] * 0.2, t["noise"])
        t["unit"] = torch.where(t["is_table"], torch.where(d.bernoulli(0.7), 1.0, 0.0), t["unit"])
        t["round_steps"] &= ~t["is_table"]
        for name in ("n_params", "n_tokens"):
            i = CONFIG_FIELDS.index(name)
            t["config_known"][:, i] |= t["is_table"] & d.bernoulli(0.95)
        t["design"] = d.categorical(p.table_design_weights)
        t["n_budgets"] = 2.0 + torch.floor(d.uniform() * 5.0).clamp_(max=4.0)  # 2..6 compute budgets
        t["log_budget_step"] = d.uniform(math.log(2.0), math.log(10.0))
        t["opt_exponent"] = d.uniform(0.35, 0.65)  # N_opt ~ C^a (Chinchilla: a ~ 0.5)
        t["design_width"] = d.uniform(math.log(10.0) * 0.6, math.log(10.0) * 2.0)  # sizes per budget, ln-span
        t["n_grid_sizes"] = 2.0 + torch.floor(d.uniform() * 5.0).clamp_(max=4.0)
        t["log_multiplier_span"] = d.uniform(math.log(4.0), math.log(256.0))
        # Scaling in N that bends, and unique data that run out.
        t["broken"] = d.bernoulli(p.p_broken_scaling)
        t["n_exponent_2"] = d.uniform(0.0, 0.8)
        t["log_n_break"] = d.uniform(0.0, math.log(10.0) * max(p.max_param_decades, 0.5))
        t["break_sharpness"] = d.uniform(0.1, 0.5)
        t["data_limited"] = d.bernoulli(p.p_data_limited)
        if p.isoflop_data_beta_range is not None:  # drawn only when asked for, so the default prior's draws stay as they were
            t["data_beta"] = d.uniform(*p.isoflop_data_beta_range)
        t["unique_fraction"] = d.log_uniform(0.05, 1.0)
        t["repeat_value"] = d.uniform(1.0, 15.0)
        # Free hyperparameters: how many slots, and how strongly they move the asymptote and the speed.
        has_free = d.bernoulli(p.p_free_hparams) & (p.max_free_hparams > 0) & (~t["is_table"] | d.bernoulli(0.3))
        t["n_free"] = torch.where(has_free, 1.0 + torch.floor(d.uniform().pow_(1.5) * p.max_free_hparams).clamp_(max=max(p.max_free_hparams - 1, 0)), zeros)
        t["hparam_effect_asymptote"] = d.log_uniform(*p.hparam_effect_range)
        t["hparam_effect_speed"] = d.log_uniform(*p.hparam_effect_range)
        # Replicates: the same setup with other seeds (same size, lr, batch, steps, schedule, no free hparams).
        replicate = d.bernoulli(p.p_replicates) & ~t["is_table"] & (t["n_runs"] > 1)
        for name in ("log_n_span", "lr_scatter", "n_free"):
            t[name] = torch.where(replicate, zeros, t[name])
        t["vary_batch"] &= ~replicate
        t["vary_schedule"] &= ~replicate
        t["shared_horizon"] |= replicate
        # Pure sweeps: the free hyperparameters are all that tells the runs apart (besides seeds).
        if p.p_pure_sweep > 0:
            pure = d.bernoulli(p.p_pure_sweep) & (t["n_free"] > 0) & ~t["is_table"]
            for name in ("log_n_span", "lr_scatter"):
                t[name] = torch.where(pure, zeros, t[name])
            t["vary_batch"] &= ~pure
            t["vary_schedule"] &= ~pure
            t["shared_horizon"] |= pure
        t["seed_spread"] = d.log_uniform(*p.seed_spread_range)
        if p.p_quiet_sweep > 0.0:  # drawn only when asked for, so the default prior's draws stay as they were
            quiet = d.bernoulli(p.p_quiet_sweep) & (t["n_runs"] > 1) & (t["log_n_span"] > 0) & (t["n_free"] == 0) & ~t["is_table"]
            t["lr_scatter"] = torch.where(quiet, zeros, t["lr_scatter"])
            t["noise"] = torch.where(quiet, t["noise"] * 0.2, t["noise"])
        return t

    def _draw_runs(self, t: dict[str, Tensor]) -> _Table:
        """Per-run parameters of the valid runs, in task-major order; sets ``flat_index`` and ``task_id``."""
        p, n_points, dev = self.prior, self.n_points, self.device
        valid = torch.arange(p.max_runs, device=dev)[None, :] < t["n_runs"][:, None]
        self.flat_index = valid.reshape(-1).nonzero().squeeze(1)
        self.task_id = torch.div(self.flat_index, p.max_runs, rounding_mode="floor")
        d = _Draws(self.flat_index.shape[0], 64, self.generator, dev)
        g = _Table({k: v for k, v in t.items() if v.ndim == 1}).select(self.task_id)
        r: dict[str, Tensor] = {}
        table = g.flag("is_table")
        r["table"] = table

        length = p.min_points + torch.floor(d.uniform() * (n_points - p.min_points + 1)).clamp_(max=n_points - p.min_points)
        r["n"] = torch.minimum(torch.where(d.bernoulli(p.p_full_length), float(n_points), length), g["run_points"])
        r["n"] = torch.where(table, 1.0, r["n"])
        log_batch = g["log_batch"] + g["vary_batch"] * d.uniform(-2.0, 2.0) * math.log(2.0)
        dn = g["log_n_span"] * d.uniform()
        log_h = g["log_horizon"] + (1.0 - g["shared_horizon"]) * d.uniform(-1.0, 1.0) * math.log(10.0)
        table_dn, table_log_d, past_optimum = self._table_design(g, d)
        dn = torch.where(table, table_dn, dn)
        # A table row's token count D = steps x batch x sequence length sets its steps.
        log_h = torch.where(table, g["log_horizon"] + table_log_d - (log_batch - g["log_batch"]), log_h)
        log_lr_opt = g["log_lr_ref"] - g["lr_n_exponent"] * dn + 0.5 * (log_batch - g["log_batch"])
        lr_off = g["lr_scatter"] * d.normal()
        h_lo, h_hi = (math.log(v) for v in p.horizon_range)
        horizon = torch.exp(log_h.clamp_(h_lo, h_hi)).round_()
        r["horizon"] = horizon
        r["n_params"], r["batch"], r["lr"] = torch.exp(g["log_n_lo"] + dn), torch.exp(log_batch).round_(), torch.exp(log_lr_opt + lr_off)
        r["tokens"] = horizon * r["batch"] * g["seq_len"]

        # Asymptote (fraction of the initial gap) and time scale (tau per unit of normalized S1) of each run.
        # A broken power law in N bends the exponent from n_exponent to n_exponent_2 around n_break.
        sharp = g["break_sharpness"]
        bend = sharp * torch.nn.functional.softplus((dn - g["log_n_break"]) / sharp) * g["broken"]
        log_size_term = -g["n_exponent"] * dn - (g["n_exponent_2"] - g["n_exponent"]) * bend
        r["h_inf"] = g["n_fraction"] * torch.exp(log_size_term.clamp_(max=5.0)) + g["lr_penalty"] * lr_off**2
        crit = g["log_batch_crit"]
        batch_slowdown = (1.0 + torch.exp(crit - log_batch)) / (1.0 + torch.exp(crit - g["log_batch"]))
        speedup = torch.exp(g["lr_speedup"] * lr_off.clamp(max=1.5) + g["n_speedup"] * dn)
        r["time_scale"] = horizon * g["tau_end"] * speedup / (torch.exp(g["log_horizon"]) * batch_slowdown)
        self._free_hparams(g, r)
        if p.isoflop_data_beta_range is not None:
            alpha, beta = g["n_exponent"], g["data_beta"]
            optimum_size_term = r["h_inf"] * torch.exp(alpha * past_optimum)  # the size term undone to the budget's optimum
            data_term = alpha / beta * optimum_size_term * torch.exp(beta * past_optimum)
            r["h_inf"] = torch.where(table & (g["design"] == _ISOFLOP), r["h_inf"] + data_term, r["h_inf"])
        r["h_inf"].mul_(torch.exp(g["seed_spread"] * d.normal())).clamp_(max=0.9)
        r["time_scale"].mul_(torch.exp(g["seed_spread"] * d.normal()))
        # Unique data run out at unique_fraction of the task's reference token count: in a run's progress
        # units that is where its own tokens reach it (progress at the end of a run is about time_scale).
        ref_tokens_per_run = torch.exp(g["log_horizon"] + g["log_batch"] - log_batch) / horizon
        r["tau_limit"] = torch.where(g.flag("data_limited"), r["time_scale"] * g["unique_fraction"] * ref_tokens_per_run, _NO_LIMIT)
        r["repeat_value"] = g["repeat_value"]

        # Schedule of each run.
        sched = torch.where(g.flag("vary_schedule") & d.bernoulli(0.5), d.categorical(p.schedule_weights).float(), g["schedule"])
        constant, wsd = sched == _CONSTANT, sched == _WSD
        warmup = torch.where(constant & d.bernoulli(0.5), 0.0, g["warmup"])
        decay_start = torch.where(constant, 1.0, torch.where(wsd, 1.0 - torch.minimum(g["cooldown"], 1.0 - warmup), warmup))
        cosine = (sched == _COSINE) | (wsd & g.flag("cosine_cooldown"))
        r["schedule"], r["warmup"], r["final_lr"], r["decay_start"] = sched, warmup, g["final_lr"], decay_start
        r["window"] = torch.clamp(g["anneal_window"] / horizon, 0.005, 1.0)
        r["anneal_gain"] = torch.where(constant, 0.0, g["anneal_gain"])
        r["key"] = ((g["is_max"] * len(FAMILIES) + g["family"]) * len(SCHEDULES) + sched) * 2 + cosine
        r["is_max"] = g["is_max"]
        r.update({f"family_param{i}": g[f"family_param{i}"] for i in range(MAX_FAMILY_PARAMS)})

        # x sampling: u runs from u_start to u_end along a warp of the point index.
        u_end = torch.where(d.bernoulli(p.p_truncated) & ~table, d.uniform(0.15, 0.95), 1.0)
        at_zero = d.bernoulli(p.p_start_at_zero)
        spacing = g["spacing"]
        linear_start = u_end * d.uniform(0.3, 1.5) / r["n"]
        log_start = u_end * torch.pow(10.0, d.uniform(-4.0, -1.0))
        u_start = torch.where(at_zero, 0.0, torch.where(spacing == 1, log_start, linear_start)).clamp_(max=0.5 * u_end)
        log_warp = torch.where(at_zero, d.uniform(4.0, 12.0), torch.log(u_end / u_start.clamp(min=1e-12)))
        warp = torch.where(spacing == 0, 1e-4, torch.where(spacing == 1, log_warp, d.uniform(0.5, 4.0)))
        r["u_start"], r["u_end"], r["warp"] = u_start, u_end, warp.clamp_(min=1e-4)
        r["jitter"] = (spacing != 1) & d.bernoulli(0.3)
        r["round"] = g.flag("round_steps") & (horizon >= 4.0 * r["n"])
        unit = torch.where(g["unit"] == 1, r["batch"] * g["seq_len"], torch.where(g["unit"] == 2, g["unit_factor"], 1.0))
        r["x_scale"] = horizon * unit

        # Extras.
        lr_risk = (1.0 + 3.0 * lr_off.clamp(min=0.0)).clamp_(max=10.0)
        r["diverge"] = d.bernoulli(p.p_divergence * lr_risk * torch.where(table, 0.2, 1.0))
        r["diverge_at"] = u_start + (u_end - u_start) * d.uniform(0.1, 0.9)
        r["diverge_rate"] = (u_end - r["diverge_at"]).clamp(min=1e-6) * d.log_uniform(0.05, 3.0)
        r["spike"] = d.bernoulli(p.p_spike) & ~table
        r["spike_at"] = u_start + (u_end - u_start) * d.uniform(0.05, 0.95)
        r["spike_width"] = (u_end - u_start) / r["n"] * d.uniform(0.5, 4.0)
        r["spike_height"] = d.log_uniform(0.01, 0.5)
        r["bump"] = d.bernoulli(p.p_double_descent) & ~table
        r["bump_at"] = torch.log(u_start + (u_end - u_start) * d.uniform(0.2, 0.8) + 1e-12)
        r["bump_height"] = d.log_uniform(0.02, 0.5) * (1.0 - r["h_inf"])
        r["bump_width"] = d.uniform(0.2, 1.0)
        r["link_power"] = g["link_power"]

        # Output y = offset + gain * z and noise sd = noise0 + noise1 * z.
        is_max = g.flag("is_max")
        width = g["ceiling"] - g["chance"]
        # Stuck accuracies rise from chance by a share of their width no larger than the noise (y = offset + gain z).
        reach = torch.where(g.flag("stuck"), g["stuck_progress"], torch.ones_like(width)) * width
        r["offset"] = torch.where(is_max, g["chance"] + reach, g["floor"])
        r["gain"] = torch.where(is_max, -reach, g["gap"])
        mix = g["noise_level_mix"]
        r["noise0"] = g["noise"] * mix * torch.where(is_max, width, g["floor"])
        r["noise1"] = g["noise"] * torch.where(is_max, (1.0 - mix) * width, g["gap"])
        r["rho"] = g["rho"]
        # Drawn last so that every draw above keeps its value whatever p_overfit is.
        r["overfit"] = d.bernoulli(torch.where(is_max, p.p_overfit_accuracy, p.p_overfit)) & ~table
        r["overfit_at"] = u_start + (u_end - u_start) * d.uniform(0.0, 0.8)
        r["overfit_height"] = d.log_uniform(0.03, 3.0)
        r["overfit_power"] = d.uniform(0.5, 2.0)
        return _Table(r)

    def _table_design(self, g: _Table, d: _Draws) -> tuple[Tensor, Tensor, Tensor]:
        """Log model size (relative to the task's smallest, ``dn``) and log tokens (relative to the task's
        reference) of every run as a table row; only used for table tasks.

        - isoFLOP: run ``j`` is size ``j // K`` of budget ``j % K``; budgets are ``log_budget_step`` apart,
          sizes spread over ``design_width`` around the budget's optimum ``N_opt ~ C^opt_exponent``, and
          ``D = C / 6N``, so every budget is a U-shape in N.
        - grid: size ``j % M`` times token multiplier ``j // M`` (``D / N`` spans ``log_multiplier_span``).
        - scattered: sizes and token counts drawn independently.
        """
        p = self.prior
        j = (self.flat_index - self.task_id * p.max_runs).float()
        n_runs, span = g["n_runs"], g["log_n_span"]
        center = span / 2.0
        jitter = 0.05 * d.normal()
        n_budgets = g["n_budgets"]
        budget = torch.remainder(j, n_budgets) - (n_budgets - 1.0) / 2.0
        sizes = torch.ceil(n_runs / n_budgets)
        size = torch.floor(j / n_budgets) / (sizes - 1.0).clamp(min=1.0) - 0.5
        iso_dn = center + g["opt_exponent"] * budget * g["log_budget_step"] + size * g["design_width"] + jitter
        iso_d = budget * g["log_budget_step"] - (iso_dn - center)
        n_grid = g["n_grid_sizes"]
        grid_size = torch.remainder(j, n_grid) / (n_grid - 1.0) - 0.5
        multipliers = torch.ceil(n_runs / n_grid)
        multiplier = torch.floor(j / n_grid) / (multipliers - 1.0).clamp(min=1.0) - 0.5
        grid_dn = center + span.clamp(min=math.log(10.0)) * grid_size + jitter
        grid_d = (grid_dn - center) + g["log_multiplier_span"] * multiplier
        scatter_dn, scatter_d = span * d.uniform(), d.uniform(-1.0, 1.0) * math.log(10.0)
        design = g["design"]
        dn = torch.where(design == _ISOFLOP, iso_dn, torch.where(design == _GRID, grid_dn, scatter_dn))
        log_d = torch.where(design == _ISOFLOP, iso_d, torch.where(design == _GRID, grid_d, scatter_d))
        n_lo, n_hi = (math.log(v) for v in p.n_params_range)
        dn = torch.clamp(dn, n_lo - g["log_n_lo"], n_hi - g["log_n_lo"])
        past_optimum = torch.where(design == _ISOFLOP, size * g["design_width"] + jitter, torch.zeros_like(dn))
        return dn, log_d, past_optimum

    def _free_hparams(self, g: _Table, r: dict[str, Tensor]) -> None:
        """Draw the runs' free hyperparameters (``self.run_hparams``, ``self.run_hparam_mask``: ``V x N_HPARAMS``)
        and move each run's asymptote ``h_inf`` and ``time_scale`` (in ``r``) by the task's random smooth map.

        Per task and slot: 0/1 (a quarter of slots; categorical levels), a grid of 2..5 levels (40% of the
        rest) or continuous in ``[0, 1]``; a length scale log-uniform in ``[0.2, 3]``; irrelevant with
        probability ``p_irrelevant_hparam`` (never the first slot). The map is two samples of a Gaussian
        process over the relevant slots (random Fourier features), scaled by the task's effect sizes and
        applied as ``h_inf * exp(a f_1)`` and ``time_scale * exp(s f_2)``; then, in a ``p_hparam_optimum``
        share of tasks, a bowl ``q = b sum_k w_k (theta_k - c_k)^2`` over the relevant slots (optimum ``c_k``
        in ``[-0.25, 1.25]``, curvatures ``w_k`` log-uniform in ``[0.3, 3]``, strength ``b`` log-uniform over
        ``hparam_optimum_range``) moves the asymptote toward no progress, ``1 - (1 - h_inf) exp(-q)``, and
        slows the run by ``exp(-v q)`` (``v`` uniform in ``[0, 1]``), as a learning rate far from its best does.
        """
        p, dev, n, h = self.prior, self.device, self.n_tasks, N_HPARAMS
        v = self.flat_index.shape[0]
        slots = torch.arange(h, device=dev)[None, :] < g["n_free"][:, None]  # V x H
        theta = torch.zeros(v, h, device=dev)
        self.run_hparams, self.run_hparam_mask = theta, slots
        rows = (g["n_free"] > 0).nonzero().squeeze(1)
        if rows.numel() == 0:
            return
        u = torch.rand(n, h, 4, generator=self.generator, device=dev)
        binary, grid = u[..., 0] < 0.25, u[..., 1] < 0.4
        levels = 2.0 + torch.floor(u[..., 2] * 4.0).clamp_(max=3.0)
        lengthscale = log_uniform(u[..., 3], 0.2, 3.0)
        relevant = (torch.rand(n, h, generator=self.generator, device=dev) >= p.p_irrelevant_hparam) | (torch.arange(h, device=dev) == 0)
        weights = torch.randn(n, 2, _N_FOURIER, h, generator=self.generator, device=dev) * (relevant / lengthscale)[:, None, None, :]
        phases = torch.rand(n, 2, _N_FOURIER, generator=self.generator, device=dev) * (2.0 * math.pi)
        amplitudes = torch.randn(n, 2, _N_FOURIER, generator=self.generator, device=dev)
        tid = self.task_id[rows]
        th = torch.rand(rows.numel(), h, generator=self.generator, device=dev)
        lv = levels[tid] - 1.0
        th = torch.where(binary[tid], (th < 0.5).float(), torch.where(grid[tid], torch.round(th * lv) / lv, th)) * slots[rows]
        # Half the tasks show their values rescaled to span [0, 1] over the task's runs, as predict() does
        # when it only knows the runs it is given (the map itself acts on the raw values).
        lo = torch.full((n, h), 2.0, device=dev).scatter_reduce(0, tid[:, None].expand(-1, h), th, "amin")
        hi = torch.full((n, h), -1.0, device=dev).scatter_reduce(0, tid[:, None].expand(-1, h), th, "amax")
        rescale = (torch.rand(n, 1, generator=self.generator, device=dev) < 0.5) & (hi > lo)
        shown = torch.where(rescale[tid], (th - lo[tid]) / (hi - lo)[tid].clamp(min=1e-6), th)
        theta[rows] = shown.clamp_(0.0, 1.0)
        phase = torch.einsum("vemh,vh->vem", weights[tid], th) + phases[tid]
        f = math.sqrt(2.0 / _N_FOURIER) * (amplitudes[tid] * torch.cos(phase)).sum(-1)  # V' x 2
        r["h_inf"][rows] *= torch.exp(g["hparam_effect_asymptote"][rows] * f[:, 0])
        r["time_scale"][rows] *= torch.exp(g["hparam_effect_speed"][rows] * f[:, 1])
        per_task = torch.rand(n, 3, generator=self.generator, device=dev)  # strength, whether there is a bowl, slowdown
        per_slot = torch.rand(n, h, 2, generator=self.generator, device=dev)  # optimum, curvature
        strength = log_uniform(per_task[:, 0], *p.hparam_optimum_range) * (per_task[:, 1] < p.p_hparam_optimum)
        slowdown = per_task[:, 2]
        centre = -0.25 + 1.5 * per_slot[..., 0]
        curvature = log_uniform(per_slot[..., 1], 0.3, 3.0) * relevant
        q = strength[tid] * (curvature[tid] * (th - centre[tid]) ** 2 * slots[rows]).sum(-1)  # V'
        r["h_inf"][rows] = 1.0 - (1.0 - r["h_inf"][rows]) * torch.exp(-q)
        r["time_scale"][rows] *= torch.exp(-slowdown[tid] * q)

    def _anneal_coefficient(self) -> None:
        """Set ``self.anneal`` (``V``): ``C`` such that ``C S2(1) = anneal_gain (1 - h_inf) g(tau(1))``.

        As ``S2`` is non-decreasing and ``g`` decreasing, ``C S2(u) <= anneal_gain (1 - h_inf) g(tau(u))``,
        so the anneal never pushes a curve below its asymptote. At ``u = 1`` both decay profiles have
        deficit ``1/2``, so ``S1(1) = 1 - w/2 - (1 - d0)(1 - final)/2``.
        """
        rs = self.runs
        col = {k: rs[k][:, None] for k in ("warmup", "decay_start", "final_lr", "time_scale", "window")}
        span = (1.0 - col["decay_start"]).clamp(min=1e-12)
        scale = span * (1.0 - col["final_lr"]) / 2.0
        g_end = (1.0 - col["warmup"] / 2.0 - scale) * col["time_scale"]
        s2_end = torch.zeros_like(g_end)
        one, work = torch.ones_like(g_end), torch.empty_like(g_end)
        family_params = rs.data[rs.index["family_param0"] : rs.index["family_param0"] + MAX_FAMILY_PARAMS]
        for key, a, b in self.segments:
            _, family, schedule, cosine = _decode_key(key)
            FAMILIES[family].evaluate_(g_end[a:b], family_params[:, a:b].T, work[a:b])
            if schedule != _CONSTANT:
                d0, sp, sc = col["decay_start"][a:b], span[a:b], scale[a:b]
                _deficit_(one[a:b], d0, sp, sc, cosine, s2_end[a:b])
                s2_end[a:b] -= _deficit_(one[a:b], d0 + col["window"][a:b], sp, sc, cosine, work[a:b])
        self.anneal = rs["anneal_gain"] * (1.0 - rs["h_inf"]) * g_end[:, 0] / s2_end[:, 0].clamp(min=1e-12)

    def _times(self) -> Tensor:
        """Normalized times ``u = step / total_steps`` of every point, ``V x n_points``.

        Point ``k`` of a run with ``n`` points sits at ``t = min(k, n - 1) / (n - 1)`` (padding repeats the
        last point), optionally jittered by under half a spacing, then warped:
        ``u = u_start + (u_end - u_start) expm1(c t) / expm1(c)`` (``c -> 0``: linear; ``c = log(u_end /
        u_start)``: log-spaced). Every step is monotone, so ``u`` stays sorted. Table rows sit at ``u = 1``.
        """
        rs, n_valid, n_points = self.runs, self.flat_index.shape[0], self.n_points
        k = torch.arange(n_points, device=self.device, dtype=torch.float32)[None, :]
        last = rs["n"][:, None] - 1.0
        u = torch.empty(n_valid, n_points, device=self.device)
        torch.minimum(k, last, out=u).div_(last.clamp(min=1.0))
        rows = rs.rows("jitter")
        if rows.numel():
            uj, lj = u.index_select(0, rows), last[rows]
            shake = torch.rand(uj.shape, generator=self.generator, device=self.device).sub_(0.5).mul_(0.9 / lj.clamp(min=1.0))
            u.index_copy_(0, rows, uj.add_(shake.mul_((k > 0) & (k < lj))).clamp_(0.0, 1.0))
        warp, u_start, u_end = rs["warp"][:, None], rs["u_start"][:, None], rs["u_end"][:, None]
        u.mul_(warp).expm1_().mul_((u_end - u_start) / torch.expm1(warp)).add_(u_start)
        rows = rs.rows("table")
        if rows.numel():  # a table row is observed once, at the end of its run
            u.index_fill_(0, rows, 1.0)
        return u

    def _curves(self, u: Tensor) -> Tensor:
        """Normalized curves ``h = h_inf + (1 - h_inf) g(S1 time_scale) - C S2``, ``V x n_points``.

        Leaves its two ``V x n_points`` work buffers in ``self.scratch`` for :meth:`_observe` to reuse.
        """
        rs = self.runs
        h, s2, work = torch.empty_like(u), torch.empty_like(u), torch.empty_like(u)
        family_params = rs.data[rs.index["family_param0"] : rs.index["family_param0"] + MAX_FAMILY_PARAMS]
        limited = (rs["tau_limit"] < _NO_LIMIT).tolist()
        for key, a, b in self.segments:
            _, family, schedule, cosine = _decode_key(key)

            def col(name: str) -> Tensor:
                return rs[name][a:b, None]

            ua, ha, sa, wa = u[a:b], h[a:b], s2[a:b], work[a:b]
            warmup = col("warmup")
            # S1 = u - w/2 + relu(w - u)^2 / (2w) - A(u); S2 = A(u) - A(u - window).
            torch.sub(warmup, ua, out=ha).clamp_(min=0.0)
            ha.mul_(ha).div_(2.0 * warmup.clamp(min=1e-12)).add_(ua).sub_(warmup / 2.0)
            if schedule != _CONSTANT:
                d0 = col("decay_start")
                span = (1.0 - d0).clamp(min=1e-12)
                scale = span * (1.0 - col("final_lr")) / 2.0
                _deficit_(ua, d0, span, scale, cosine, sa)
                ha.sub_(sa)
                sa.sub_(_deficit_(ua, d0 + col("window"), span, scale, cosine, wa))
            ha.clamp_(min=0.0).mul_(col("time_scale"))
            if any(limited[a:b]):
                # Past the unique data U, progress saturates: U + U R (1 - exp(-(tau - U) / (U R))).
                limit = col("tau_limit")
                reach = limit * col("repeat_value")
                excess = (ha - limit).clamp_(min=0.0)
                ha.sub_(excess).add_(reach * -torch.expm1(-excess / reach))
            FAMILIES[family].evaluate_(ha, family_params[:, a:b].T, wa)
            h_inf = col("h_inf")
            ha.mul_(1.0 - h_inf).add_(h_inf)
            if schedule != _CONSTANT:
                ha.addcmul_(sa, self.anneal[a:b, None], value=-1.0)
        self.scratch = (s2, work)
        return h

    def _extras(self, u: Tensor, h: Tensor) -> None:
        """Divergence, spikes, double-descent bumps, overfitting and the accuracy link, in place on the affected
        rows of ``h``.

        All are functions of ``u``, so padded points keep repeating the last valid value."""
        for flag in ("diverge", "spike", "bump", "overfit"):
            rows = self.runs.rows(flag)
            if rows.numel() == 0:
                continue
            c = self.runs.select(rows)
            uf, hf = u.index_select(0, rows), h.index_select(0, rows)
            if flag == "diverge":
                ramp = ((uf - c["diverge_at"][:, None]) / c["diverge_rate"][:, None]).clamp_(min=0.0).neg_().expm1_().neg_()
                hf.add_((1.0 - hf).clamp_(min=0.0) * ramp)
            elif flag == "spike":
                d = (uf - c["spike_at"][:, None]) / c["spike_width"][:, None]
                hf.add_(torch.exp(-d.clamp(min=0.0)) * (d >= 0.0) * c["spike_height"][:, None] * (1.0 - hf).clamp(min=0.05))
            elif flag == "bump":
                d = (torch.log(uf) - c["bump_at"][:, None]) / c["bump_width"][:, None]
                hf.add_(torch.exp(-0.5 * d * d) * c["bump_height"][:, None])
            else:
                since = (uf - c["overfit_at"][:, None]).clamp_(min=0.0) / (1.0 - c["overfit_at"][:, None]).clamp(min=1e-6)
                hf.add_(since.pow_(c["overfit_power"][:, None]).mul_(c["overfit_height"][:, None]))
            h.index_copy_(0, rows, hf)
        rows = (self.runs["link_power"] != 1.0).nonzero().squeeze(1)
        if rows.numel():
            power = self.runs["link_power"][rows][:, None]
            z = h.index_select(0, rows).neg_().add_(1.0).clamp_(min=0.0).log_().mul_(power).exp_().neg_().add_(1.0)
            h.index_copy_(0, rows, z)

    def _noise(self, out: Tensor) -> Tensor:
        """AR(1) standard normal noise written into ``out`` (``V x n_points`` storage) and returned as an
        ``n_points x V`` view; padded points repeat the last valid value.

        A run's recursion is frozen (``rho = 1``, no innovation) from its first padded point on; runs are
        grouped by length so that freezing is one ``index_fill_`` per length.
        """
        rs = self.runs
        e = out.view(self.n_points, -1).normal_(generator=self.generator)
        rho = rs["rho"].clone()
        innovation = torch.sqrt(1.0 - rho * rho)
        by_length = torch.argsort(rs["n"])
        ends = torch.bincount(rs["n"].long(), minlength=self.n_points + 1).cumsum(0).tolist()
        for k in range(1, self.n_points):
            if ends[k] > ends[k - 1]:
                done = by_length[ends[k - 1] : ends[k]]
                rho.index_fill_(0, done, 1.0)
                innovation.index_fill_(0, done, 0.0)
            e[k].mul_(innovation).addcmul_(e[k - 1], rho)
        return e

    def _observe(self, z: Tensor) -> Tensor:
        """Metric values ``y = offset + gain z + (noise0 + noise1 z) e``, clipped; overwrites ``z``."""
        rs = self.runs
        sd = torch.addcmul(rs["noise0"][:, None], z, rs["noise1"][:, None], out=self.scratch[0])
        sd.mul_(self._noise(self.scratch[1]).T)
        y = z.mul_(rs["gain"][:, None]).add_(rs["offset"][:, None]).add_(sd)
        n_min = int((~rs.flag("is_max")).sum())
        y[:n_min].clamp_(min=0.0)
        y[n_min:].clamp_(0.0, 1.0)
        return y

    def _assemble(self, x: Tensor, y: Tensor, tasks: dict[str, Tensor]) -> TaskBatch:
        """Scatter the valid runs into the padded ``n_tasks x max_runs x n_points`` layout."""
        t, r, p, dev = self.n_tasks, self.prior.max_runs, self.n_points, self.device
        absent = torch.ones(t * r, dtype=torch.bool, device=dev)
        absent[self.flat_index] = False
        absent = absent.nonzero().squeeze(1)

        def scatter(values: Tensor) -> Tensor:
            out = torch.empty((t * r,) + values.shape[1:], dtype=values.dtype, device=dev)
            out.index_copy_(0, self.flat_index, values)
            return out.index_fill_(0, absent, 0)

        x_out, y_out = scatter(x), scatter(y)
        n_out = scatter(self.runs["n"])
        point_mask = torch.arange(p, device=dev)[None, :] < n_out[:, None]
        config = scatter(self._config())
        config_mask = scatter(tasks["config_known"].index_select(0, self.task_id))
        direction = torch.where(tasks["is_max"], -1, 1).to(torch.int8)
        hparams, hparam_mask = scatter(self.run_hparams), scatter(self.run_hparam_mask)
        return TaskBatch(
            x_out.view(t, r, p),
            y_out.view(t, r, p),
            point_mask.view(t, r, p),
            config.view(t, r, -1),
            config_mask.view(t, r, -1),
            direction,
            hparams.view(t, r, -1),
            hparam_mask.view(t, r, -1),
        )

    def _config(self) -> Tensor:
        """``V x len(CONFIG_FIELDS)`` config of the sorted valid runs (x-unit fields in x units).

        ``cooldown_steps`` is the length of the LR decay: ``total - warmup`` for cosine and linear, the
        final decay of wsd, 0 for constant."""
        rs = self.runs
        x_scale = rs["x_scale"]
        values = {
            "n_params": rs["n_params"],
            "n_tokens": rs["tokens"],
            "batch_size": rs["batch"],
            "lr": rs["lr"],
            "warmup_steps": rs["warmup"] * x_scale,
            "total_steps": x_scale,
            "cooldown_steps": (1.0 - rs["decay_start"]) * x_scale,
            "schedule": rs["schedule"],
        }
        return torch.stack([values[name] for name in CONFIG_FIELDS], 1)
