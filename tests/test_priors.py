"""Tests of curvecast.priors: schedules, progress families, the default prior, check_prior, the simple prior."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from curvecast.errors import InvalidConfigError, PriorCheckError
from curvecast.priors import CONFIG_FIELDS, SCHEDULES, CurvePrior, IsoFlopProfilePrior, SimplePowerLawPrior, TaskBatch, check_prior, default
from curvecast.priors.batch import config_index
from curvecast.priors.benchmark import curves_per_second
from curvecast.priors.families import FAMILIES, FAMILY_NAMES, MAX_FAMILY_PARAMS, evaluate_family
from curvecast.priors.fidelity import prior_statistics
from curvecast.priors.isoflop import isoflop_profile
from curvecast.priors.schedules import annealing_area, forward_area, lr_multiplier


def _sample(prior, n_tasks: int = 64, seed: int = 0, **kw) -> TaskBatch:
    return prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed), **kw)


def _last_valid(batch: TaskBatch, values: torch.Tensor) -> torch.Tensor:
    """``T x R`` value at the last valid point of each run."""
    last = (batch.run_lengths.clamp(min=1) - 1)[..., None]
    return values.gather(2, last)[..., 0]


QUIET = dict(p_noiseless=1.0, p_divergence=0.0, p_spike=0.0, p_double_descent=0.0)


# --- schedules -------------------------------------------------------------------------------------


def test_lr_multiplier_at_hand_computed_points():
    u = torch.tensor([0.05, 0.1, 0.55, 0.9, 1.0], dtype=torch.float64)
    assert torch.allclose(lr_multiplier(u, "constant", warmup=0.1), torch.tensor([0.5, 1, 1, 1, 1], dtype=torch.float64))
    # Cosine: half-way through the decay (u = 0.1 + 0.9 / 2) the LR is half-way between peak and final.
    cosine = lr_multiplier(u, "cosine", warmup=0.1, final=0.1)
    assert cosine[0].item() == pytest.approx(0.5)
    assert cosine[2].item() == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine[4].item() == pytest.approx(0.1)
    linear = lr_multiplier(torch.tensor([0.25, 0.5]), "linear")
    assert linear.tolist() == pytest.approx([0.75, 0.5])
    # WSD with a 20% cooldown: flat until 0.8, half-way down at 0.9.
    wsd = lr_multiplier(torch.tensor([0.5, 0.8, 0.9, 1.0]), "wsd", warmup=0.0, cooldown=0.2)
    assert wsd.tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0], abs=1e-6)
    wsd_cos = lr_multiplier(torch.tensor([0.85]), "wsd", cooldown=0.2, cosine_cooldown=True)
    assert wsd_cos.item() == pytest.approx((1 + math.cos(math.pi * 0.25)) / 2, abs=1e-6)


def test_forward_area_closed_forms():
    u = torch.linspace(0, 1, 11, dtype=torch.float64)
    total = 5000.0
    assert torch.allclose(total * forward_area(u, "constant"), total * u)
    assert forward_area(torch.tensor([0.1]), "constant", warmup=0.1).item() == pytest.approx(0.05)
    assert forward_area(torch.tensor([0.5]), "constant", warmup=0.1).item() == pytest.approx(0.45)
    assert forward_area(torch.tensor([1.0]), "linear").item() == pytest.approx(0.5)
    assert forward_area(torch.tensor([1.0]), "cosine").item() == pytest.approx(0.5)
    assert forward_area(torch.tensor([1.0]), "wsd", cooldown=0.2).item() == pytest.approx(0.9)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("cosine_cooldown", [False, True])
def test_areas_match_numerical_integrals(schedule, cosine_cooldown):
    u = torch.linspace(0, 1, 20001, dtype=torch.float64)
    kw = dict(warmup=0.07, cooldown=0.3, final=0.05, cosine_cooldown=cosine_cooldown)
    eta = lr_multiplier(u, schedule, **kw)
    s1 = torch.cat([torch.zeros(1, dtype=u.dtype), torch.cumulative_trapezoid(eta, u)])
    assert torch.allclose(forward_area(u, schedule, **kw), s1, atol=1e-8)
    deficit = torch.cat([torch.zeros(1, dtype=u.dtype), torch.cumulative_trapezoid((1 - eta) * (u >= 0.07), u)])
    assert torch.allclose(annealing_area(u, schedule, window=2.0, **kw), deficit, atol=1e-6)
    windowed = annealing_area(u, schedule, window=0.05, **kw)
    assert (windowed.diff() >= -1e-12).all()
    if schedule == "constant":
        assert windowed.abs().max() == 0


def test_unknown_schedule_raises():
    with pytest.raises(InvalidConfigError, match="schedule"):
        lr_multiplier(torch.zeros(3), "exponential")


# --- families --------------------------------------------------------------------------------------


def test_families_at_hand_computed_values():
    one = torch.tensor([1.0])
    assert evaluate_family("power_law", one, [0.7]).item() == pytest.approx(2**-0.7)
    assert evaluate_family("log_logistic", one, [2.5]).item() == pytest.approx(0.5)
    assert evaluate_family("stretched_exponential", one, [0.4]).item() == pytest.approx(math.exp(-1))
    assert evaluate_family("inverse_log", torch.tensor([math.e - 1]), [3.0]).item() == pytest.approx(0.25)
    # Broken power law: slope a1 well before the break, a2 well after.
    tau = torch.tensor([10.0, 20.0, 1e6, 2e6], dtype=torch.float64)
    g = evaluate_family("broken_power_law", tau, [0.3, 1.2, 1e3, 0.1])
    assert g[:2].tolist() == pytest.approx([11**-0.3, 21**-0.3], rel=1e-6)
    assert (torch.log(g[3] / g[2]) / math.log(2)).item() == pytest.approx(-1.2, abs=0.02)
    # Plateau then late drop: stays at 1 - w between the two time scales.
    g = evaluate_family("plateau_drop", torch.tensor([20.0, 40.0, 1e5]), [0.6, 0.5, 1e3, 4.0])
    assert g[:2].tolist() == pytest.approx([0.4, 0.4], abs=1e-3)
    assert g[2].item() < 1e-6


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_NAMES)
def test_families_start_at_one_and_decrease(family):
    params = family.sample(torch.rand(256, MAX_FAMILY_PARAMS, generator=torch.Generator().manual_seed(1)))
    tau = torch.cat([torch.zeros(1), torch.logspace(-3, 6, 200)]).expand(256, -1).contiguous()
    g = family.evaluate_(tau.clone(), params, torch.empty_like(tau))
    assert torch.isfinite(g).all()
    assert torch.allclose(g[:, 0], torch.ones(256))
    assert (g.diff(dim=1) <= 1e-6).all()
    assert (g >= 0).all() and (g[:, -1] < g[:, 0]).all()


def test_unknown_family_raises():
    with pytest.raises(InvalidConfigError, match="family"):
        evaluate_family("sigmoid", torch.ones(2), [1.0])


# --- the default prior -----------------------------------------------------------------------------


def test_default_prior_passes_check():
    check_prior(default())
    check_prior(default(), n_tasks=300, seed=5)


def test_simple_prior_passes_check_and_follows_its_formula():
    prior = SimplePowerLawPrior(noise_range=(0.0, 0.0))
    check_prior(prior)
    batch = _sample(prior, 16)
    assert batch.n_runs == 1 and (batch.direction == 1).all()
    y = batch.y[:, 0]
    # Noise-free power law: strictly decreasing over the valid points, above the floor range.
    mask = batch.point_mask[:, 0]
    assert ((y.diff(dim=1) < 0) | ~mask[:, 1:]).all()
    assert (y[mask] > prior.floor_range[0]).all()


def test_single_run_batches_know_no_config():
    x = torch.tensor([[0.0, 1.0, 2.0], [1.0, 10.0, 10.0]], dtype=torch.float64)
    batch = TaskBatch.single_runs(x, 2.0 * x, torch.tensor([[True, True, True], [True, True, False]]), torch.tensor([1, -1]))
    assert batch.n_tasks == 2 and batch.n_runs == 1 and batch.n_points == 3
    assert batch.x.dtype == torch.float32 and batch.y[1, 0].tolist() == [2.0, 20.0, 20.0]
    assert batch.point_mask[:, 0].sum(-1).tolist() == [3, 2] and batch.direction.tolist() == [1, -1]
    assert batch.config.shape == (2, 1, len(CONFIG_FIELDS)) and not batch.config_mask.any()


def test_isoflop_profile_at_hand_computed_points():
    floor, gap, alpha, beta = torch.tensor(2.0), torch.tensor(1.0), torch.tensor(0.5), torch.tensor(0.25)
    u = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    # (beta 10^(-alpha u) + alpha 10^(beta u)) / (alpha + beta): 1 at u = 0; at u = 1 (0.25/sqrt(10) + 0.5 * 10^0.25) / 0.75;
    # at u = -2 (0.25 * 10 + 0.5 / sqrt(10)) / 0.75.
    expected = [3.0, 2.0 + (0.25 / math.sqrt(10) + 0.5 * 10**0.25) / 0.75, 2.0 + (2.5 + 0.5 / math.sqrt(10)) / 0.75]
    assert isoflop_profile(u, floor, gap, alpha, beta).tolist() == pytest.approx(expected, rel=1e-12)
    # The best size is the minimum: the slope vanishes there.
    h = 1e-6
    ends = isoflop_profile(torch.tensor([-h, h], dtype=torch.float64), floor, gap, alpha, beta)
    assert float(ends[1] - ends[0]) / (2 * h) == pytest.approx(0.0, abs=1e-6)


def test_isoflop_prior_passes_check_and_turns_at_its_best_size():
    check_prior(IsoFlopProfilePrior())
    prior = IsoFlopProfilePrior(optimum_position_range=(0.5, 0.5), p_noiseless=1.0, length_range=(9, 9), grid_jitter=0.0)
    batch = _sample(prior, 32)
    assert batch.n_runs == 1 and (batch.direction == 1).all() and not batch.config_mask.any()
    assert (batch.point_mask[:, 0].sum(-1) == 9).all()
    x, y = batch.x[:, 0, :9].double(), batch.y[:, 0, :9].double()
    assert (x.diff(dim=1) > 0).all()
    # An even grid of 9 sizes with the best at its middle: falling to point 4, rising after it, equal log steps.
    assert (y.argmin(dim=1) == 4).all()
    assert (y[:, :4].diff(dim=1) < 0).all() and (y[:, 4:].diff(dim=1) > 0).all()
    steps = torch.log10(x).diff(dim=1)
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), rtol=1e-4)
    # Spans and sizes follow their ranges.
    span = torch.log10(x[:, -1] / x[:, 0])
    assert ((span > prior.span_decades_range[0] - 1e-4) & (span < prior.span_decades_range[1] + 1e-4)).all()
    assert ((x[:, 4] > prior.n_params_range[0] * 0.999) & (x[:, 4] < prior.n_params_range[1] * 1.001)).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(length_range=(5, 80)), "length_range"),
        (dict(length_range=(3, 8), min_points=4), "length_range"),
        (dict(gap_range=(0.0, 1.0)), "gap_range"),
        (dict(grid_jitter=1.0), "grid_jitter"),
        (dict(p_noiseless=2.0), "p_noiseless"),
        (dict(optimum_position_range=(0.8, 0.2)), "optimum_position_range"),
    ],
)
def test_invalid_isoflop_prior_fields_raise(kwargs, match):
    with pytest.raises(InvalidConfigError, match=match):
        IsoFlopProfilePrior(**kwargs)


def test_shapes_and_layout():
    prior = CurvePrior(max_runs=5, n_points=20, min_points=3, p_table=0.0)
    batch = _sample(prior, 200, n_points=30)
    assert batch.x.shape == (200, 5, 30) and batch.config.shape == (200, 5, len(CONFIG_FIELDS))
    assert batch.x.dtype == torch.float32 and batch.direction.dtype == torch.int8
    lengths = batch.run_lengths
    present = batch.run_mask
    assert ((lengths >= 3) | ~present).all() and (lengths <= 30).all()
    assert (present[:, 1:] <= present[:, :-1]).all(), "valid runs come first"
    assert present.sum(1).max() <= 5 and (present.sum(1) >= 1).all()
    assert (lengths == 30).any() and (present.sum(1) == 1).any() and (present.sum(1) == 5).any()


def test_padding_repeats_last_valid_point_and_absent_runs_are_zero():
    batch = _sample(default(), 300)
    mask, present = batch.point_mask, batch.run_mask[..., None]
    for values in (batch.x, batch.y):
        last = _last_valid(batch, values)[..., None]
        assert ((values == last) | mask | ~present).all()
        assert (values[~present.expand_as(values)] == 0).all()
    assert not batch.config_mask[~batch.run_mask].any()
    assert (batch.config[~batch.run_mask] == 0).all()


def test_same_seed_same_batch_and_different_seeds_differ():
    a, b, c = _sample(default(), 32, seed=3), _sample(default(), 32, seed=3), _sample(default(), 32, seed=4)
    for field in ("x", "y", "point_mask", "config", "config_mask", "direction"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.y, c.y)


def test_does_not_touch_global_rng():
    state = torch.random.get_rng_state()
    _sample(default(), 50)
    assert torch.equal(state, torch.random.get_rng_state())


def test_value_ranges_by_direction():
    batch = _sample(default(), 500)
    mask = batch.point_mask
    is_max = (batch.direction == -1)[:, None, None] & mask
    is_min = (batch.direction == 1)[:, None, None] & mask
    assert is_max.any() and is_min.any()
    assert (batch.y[is_max] >= 0).all() and (batch.y[is_max] <= 1).all()
    assert (batch.y[is_min] >= 0).all()
    # Losses span many orders of magnitude across tasks.
    start = batch.y[:, :, 0][batch.run_mask & (batch.direction == 1)[:, None]]
    assert start.max() / start.min() > 1e3
    # x is sorted and non-negative, and spans several units and horizons.
    assert ((batch.x.diff(dim=2) >= 0) | ~mask[..., 1:]).all() and (batch.x >= 0).all()
    ends = _last_valid(batch, batch.x)[batch.run_mask]
    assert ends.max() / ends.min() > 1e4


def test_config_fields_are_consistent():
    batch = _sample(default(), 400)
    present = batch.run_mask
    cfg = batch.config[present]
    total = cfg[:, config_index("total_steps")]
    warmup, cooldown = cfg[:, config_index("warmup_steps")], cfg[:, config_index("cooldown_steps")]
    schedule = cfg[:, config_index("schedule")]
    assert (schedule == schedule.round()).all() and schedule.min() >= 0 and schedule.max() <= len(SCHEDULES) - 1
    assert set(schedule.long().tolist()) == set(range(len(SCHEDULES)))
    assert (warmup >= 0).all() and (warmup + cooldown <= total * (1 + 1e-5)).all()
    assert (cooldown[schedule == SCHEDULES.index("constant")] == 0).all()
    # Every run stops at or before its planned total (x rounding aside).
    last_x = _last_valid(batch, batch.x)[present]
    assert (last_x <= total * (1 + 1e-5) + 0.5).all()
    assert (last_x < 0.9 * total).any(), "some runs are truncated"
    n_params = cfg[:, config_index("n_params")]
    assert n_params.min() >= 1e6 * 0.999 and n_params.max() <= 1e10 * 1.001
    # Known fields: about p_config_known of them, shared by the runs of a task.
    known = batch.config_mask[present].float().mean().item()
    assert 0.45 < known < 0.75
    first = batch.config_mask[:, :1].expand_as(batch.config_mask)
    assert (batch.config_mask == first)[present].all()


def test_wsd_cooldowns_follow_their_range():
    """wsd decays are uniform in ``wsd_cooldown_range`` (cut where a warmup leaves less room)."""

    def shares(prior):
        batch = _sample(prior, 300)
        cfg = batch.config[batch.run_mask]
        return (cfg[:, config_index("cooldown_steps")] / cfg[:, config_index("total_steps")]).numpy()

    wsd_only = dict(schedule_weights=(0.0, 0.0, 0.0, 1.0), p_config_known=1.0)
    default_shares = shares(CurvePrior(**wsd_only))
    assert default_shares.min() >= 0.05 * (1 - 1e-4) and default_shares.max() <= 0.4 * (1 + 1e-4)
    assert abs(np.median(default_shares) - 0.225) < 0.03
    long = shares(CurvePrior(wsd_cooldown_range=(0.4, 0.7), **wsd_only))
    assert long.min() >= 0.4 * (1 - 1e-4) and long.max() <= 0.7 * (1 + 1e-4)
    assert abs(np.mean(long) - 0.55) < 0.03


def test_tau_end_range_sets_how_early_runs_progress():
    """The default range is the stream the shipped models trained on; a later range makes runs progress earlier."""
    base = _sample(CurvePrior(), 16)
    same = _sample(CurvePrior(tau_end_range=(0.3, 1e4)), 16)
    assert torch.equal(base.y, same.y)
    losses = dict(p_max_direction=0.0, p_table=0.0, p_single_run=1.0)
    slow = prior_statistics(CurvePrior(tau_end_range=(0.3, 1.0), **losses), n_tasks=128, seed=0, min_points=20)["early_progress"]
    fast = prior_statistics(CurvePrior(tau_end_range=(100.0, 1e4), **losses), n_tasks=128, seed=0, min_points=20)["early_progress"]
    assert np.nanmedian(fast) > np.nanmedian(slow) + 0.3


def test_stuck_accuracies_stay_at_chance():
    """A stuck accuracy moves by at most two noise sds over its run; noiseless, it is flat at its chance level."""
    stuck = _sample(CurvePrior(p_max_direction=1.0, p_stuck_at_chance=1.0, p_table=0.0, **QUIET), 200)
    free = _sample(CurvePrior(p_max_direction=1.0, p_stuck_at_chance=0.0, p_table=0.0, **QUIET), 200)

    def ranges(batch):
        y = batch.y.masked_fill(~batch.point_mask, float("nan"))
        return (y.nan_to_num(-1.0).amax(-1) - y.nan_to_num(2.0).amin(-1))[batch.run_mask]

    assert ranges(stuck).max() < 1e-4  # noise <= 1e-5 of the width: progress <= 2e-5
    assert ranges(free).median() > 0.05
    y = stuck.y[stuck.point_mask]
    assert y.min() >= 0.0 and y.max() <= 0.5 + 1e-4  # chance levels lie in [0, 0.5]


def test_starts_at_zero_and_log_spacing_occur():
    batch = _sample(default(), 400)
    present = batch.run_mask & (batch.run_lengths > 1)  # curves; table rows have one point
    first = batch.x[..., 0][present]
    assert (first == 0).float().mean() > 0.1
    second, last = batch.x[..., 1][present], _last_valid(batch, batch.x)[present]
    assert ((first > 0) & (last / first > 1e3)).any(), "log-spaced runs start orders of magnitude before their end"
    assert (second >= first).all() and (second > first).float().mean() > 0.95


def test_larger_models_reach_lower_loss():
    prior = dataclasses.replace(default(), p_max_direction=0.0, p_single_run=0.0, **QUIET)
    batch = _sample(prior, 600, n_points=16)
    final = _last_valid(batch, batch.y)
    n_params = batch.config[..., config_index("n_params")]
    both = batch.run_mask[:, :, None] & batch.run_mask[:, None, :]
    larger = (n_params[:, :, None] > 1.5 * n_params[:, None, :]) & both
    lower = final[:, :, None] < final[:, None, :]
    assert larger.sum() > 500
    assert (lower & larger).sum() / larger.sum() > 0.65


def test_accuracy_tasks_improve_and_loss_tasks_decrease_without_noise():
    batch = _sample(dataclasses.replace(default(), **QUIET), 400)
    first, last = batch.y[..., 0], _last_valid(batch, batch.y)
    improved = (last - first) * -batch.direction[:, None].float()
    assert (improved[batch.run_mask] >= -1e-4 * first.abs()[batch.run_mask]).float().mean() > 0.99


def test_overfitting_runs_get_worse_from_a_turn_point_on():
    """Overfitting only adds to ``h``: with the same seed every point is as good or worse than without it (the
    draws come last, so x and the configs are unchanged), and the runs end clearly worse."""
    plain_prior = dataclasses.replace(default(), p_table=0.0, **QUIET)
    plain = _sample(plain_prior, 300)
    over = _sample(dataclasses.replace(plain_prior, p_overfit=1.0, p_overfit_accuracy=1.0), 300)
    assert torch.equal(plain.x, over.x) and torch.equal(plain.config, over.config)
    valid = plain.point_mask
    worse = (over.y - plain.y) * plain.direction[:, None, None].float()  # direction +1: lower is better
    scale = plain.y.abs() + 1e-3
    assert (worse[valid] >= -1e-4 * scale[valid]).all()
    end_worse = _last_valid(plain, worse)[plain.run_mask] / _last_valid(plain, scale)[plain.run_mask]
    assert (end_worse > 1e-3).float().mean() > 0.8
    # Table rows are finished runs observed once at their end: overfitting never touches them.
    tables = dataclasses.replace(default(), p_table=1.0, **QUIET)
    assert _sample(dataclasses.replace(tables, p_overfit=1.0, p_overfit_accuracy=1.0), 100).y.equal(_sample(tables, 100).y)
    losses_only = _sample(dataclasses.replace(plain_prior, p_overfit=1.0), 300)
    is_loss = plain.direction > 0
    assert losses_only.y[~is_loss].equal(plain.y[~is_loss]) and not losses_only.y[is_loss].equal(plain.y[is_loss])


def test_noise_is_autocorrelated_in_some_tasks():
    prior = dataclasses.replace(default(), p_noiseless=0.0, p_autocorrelated=1.0, max_autocorrelation=0.95, p_max_direction=0.0)
    quiet = dataclasses.replace(prior, noise_range=(1e-7, 1e-7))
    noisy, clean = _sample(prior, 200, seed=9, n_points=64), _sample(quiet, 200, seed=9, n_points=64)
    resid = (noisy.y - clean.y) / clean.y.clamp(min=1e-12)
    full = (noisy.run_lengths == 64)
    r = resid[full]
    r = r - r.mean(1, keepdim=True)
    lag1 = (r[:, 1:] * r[:, :-1]).sum(1) / (r * r).sum(1).clamp(min=1e-30)
    assert lag1.median() > 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(min_points=10, n_points=5), "min_points"),
        (dict(max_runs=0), "max_runs"),
        (dict(n_points=2.5), "n_points"),
        (dict(p_max_direction=1.5), "p_max_direction"),
        (dict(horizon_range=(1e6, 10.0)), "horizon_range"),
        (dict(noise_range=(0.0, 0.1)), "noise_range"),
        (dict(family_weights=(1.0, 1.0)), "family_weights"),
        (dict(schedule_weights=(0.0, 0.0, 0.0, 0.0)), "schedule_weights"),
        (dict(max_autocorrelation=1.0), "max_autocorrelation"),
        (dict(wsd_cooldown_range=(0.1, 1.5)), "wsd_cooldown_range"),
        (dict(wsd_cooldown_range=(0.0, 0.5)), "wsd_cooldown_range"),
        (dict(tau_end_range=(0.0, 10.0)), "tau_end_range"),
    ],
)
def test_invalid_prior_fields_raise(kwargs, match):
    with pytest.raises(InvalidConfigError, match=match):
        CurvePrior(**kwargs)


def test_invalid_sample_arguments_raise():
    with pytest.raises(InvalidConfigError, match="n_points"):
        _sample(CurvePrior(min_points=8), 4, n_points=4)
    with pytest.raises(InvalidConfigError, match="n_tasks"):
        _sample(default(), 0)
    with pytest.raises(InvalidConfigError, match="min_points"):
        SimplePowerLawPrior(min_points=40, n_points=8)


def test_prior_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        default().max_runs = 3


def test_benchmark_counts_curves():
    rate = curves_per_second(default(), n_points=16, n_tasks=200, repeats=1)
    assert rate > 0 and math.isfinite(rate)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_default_prior_on_cuda():
    check_prior(default(), device="cuda")


# --- check_prior rejects broken priors -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Broken:
    """Wraps the simple prior and breaks one rule."""

    fault: str

    def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
        if self.fault == "global_rng":
            torch.rand(1)
        if self.fault == "ignores_seed":
            generator = torch.Generator().manual_seed(123)
        if self.fault == "constant":
            generator = torch.Generator().manual_seed(generator.initial_seed() * 0)
        if self.fault == "not_a_batch":
            return {"x": torch.zeros(1)}
        if self.fault == "raises":
            raise RuntimeError("boom")
        b = SimplePowerLawPrior().sample(n_tasks, generator=generator, device=device, n_points=n_points)
        x, y, mask, config, config_mask, direction = (b.x, b.y, b.point_mask, b.config, b.config_mask, b.direction)
        if self.fault == "nan":
            y = y.clone()
            y[0, 0, 0] = float("nan")
        if self.fault == "inf_padding":
            y = y.clone()
            y[~mask] = float("inf")
            mask = mask.clone()
            mask[0, 0, -1] = False
            y[0, 0, -1] = float("inf")
        if self.fault == "unsorted":
            x = x.flip(-1) * mask
        if self.fault == "gap":
            mask = mask.clone()
            mask[:, :, 1] = False
        if self.fault == "direction":
            direction = torch.zeros_like(direction)
        if self.fault == "schedule":
            config, config_mask = config.clone(), config_mask.clone()
            config[..., config_index("schedule")] = 1.5
            config_mask[..., config_index("schedule")] = True
        if self.fault == "empty_task":
            mask = mask.clone()
            mask[0] = False
        if self.fault == "wrong_count":
            return b[: n_tasks - 1]
        hparams, hparam_mask = b.hparams.clone(), b.hparam_mask.clone()
        if self.fault in ("hparams_global_numpy", "hparams_out_of_range"):
            hparam_mask[..., 0] = b.run_mask
            hparams[..., 0] = torch.from_numpy(np.random.default_rng().random(hparams.shape[:-1])).to(hparams.dtype)
            if self.fault == "hparams_out_of_range":
                hparams[..., 0] = 2.0
        return TaskBatch(x, y, mask, config, config_mask, direction, hparams, hparam_mask)


@pytest.mark.parametrize(
    "fault, match",
    [
        ("nan", "NaN"),
        ("inf_padding", "NaN or inf"),
        ("unsorted", "sorted"),
        ("gap", "prefix"),
        ("direction", "direction"),
        ("schedule", "schedule"),
        ("empty_task", "at least one run"),
        ("wrong_count", "tasks"),
        ("global_rng", "global torch RNG"),
        ("ignores_seed", "identical"),
        ("constant", "identical"),
        ("not_a_batch", "TaskBatch"),
        ("raises", "boom"),
        ("hparams_global_numpy", "two samples with seed 0 differ"),
        ("hparams_out_of_range", "in \\[0, 1\\]"),
    ],
)
def test_check_prior_rejects_broken_priors(fault, match):
    with pytest.raises(PriorCheckError, match=match):
        check_prior(_Broken(fault))


def test_check_prior_catches_nondeterminism():
    @dataclasses.dataclass(frozen=True)
    class Flaky:
        calls: list = dataclasses.field(default_factory=list)

        def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
            self.calls.append(1)
            seed = generator.initial_seed() + len(self.calls)
            return SimplePowerLawPrior().sample(n_tasks, generator=torch.Generator().manual_seed(seed), device=device)

    with pytest.raises(PriorCheckError, match="differ"):
        check_prior(Flaky())


# --- runs that inform each other: tables, free hyperparameters, budgets -----------------------------


def test_table_tasks_are_runs_observed_once_at_their_end_in_isoflop_budgets():
    prior = dataclasses.replace(default(), p_table=1.0, table_design_weights=(1.0, 0.0, 0.0), p_max_direction=0.0, **QUIET)
    batch = _sample(prior, 200)
    present = batch.run_mask
    assert (batch.run_lengths[present] == 1).all() and (present.sum(1) >= 4).all()
    cfg = batch.config
    # The one point is the run's end: x is its total (in tokens or steps).
    torch.testing.assert_close(batch.x[..., 0][present], cfg[..., config_index("total_steps")][present], rtol=1e-5, atol=0.5)
    known = batch.config_mask[..., [config_index("n_params"), config_index("n_tokens")]][present]
    assert known.float().mean() > 0.85
    # Runs share a few compute budgets C = 6 N D, and within a budget the loss is often U-shaped in N.
    budgets, u_shaped = _isoflop_profiles(batch)
    assert budgets > 50 and u_shaped > 0.3


def _isoflop_profiles(batch: TaskBatch) -> tuple[int, float]:
    """Budgets (C = 6 N D to a quarter decade) of 5+ runs in a batch of table tasks, and the share whose lowest
    loss lies strictly inside their size range."""
    present, cfg = batch.run_mask, batch.config
    log_c = torch.log10(6 * cfg[..., config_index("n_params")] * cfg[..., config_index("n_tokens")])
    interior, budgets = 0, 0
    for t in range(batch.n_tasks):
        m = present[t]
        c, n, y = log_c[t, m], cfg[t, m, config_index("n_params")], batch.y[t, m, 0]
        levels = torch.unique(torch.round(c * 4) / 4)
        assert len(levels) <= 2 * 6, "a handful of budgets per task (rounding may split one)"
        for level in levels:
            same = (torch.round(c * 4) / 4) == level
            if same.sum() >= 5:
                budgets += 1
                order = torch.argsort(n[same])
                best = int(torch.argmin(y[same][order]))
                interior += 0 < best < int(same.sum()) - 1
    return budgets, interior / max(budgets, 1)


def test_an_explicit_data_term_makes_isoflop_profiles_u_shaped():
    base = dataclasses.replace(default(), p_table=1.0, table_design_weights=(1.0, 0.0, 0.0), p_max_direction=0.0, tau_end_range=(30.0, 1e6), **QUIET)
    budgets, without = _isoflop_profiles(_sample(base, 200))
    with_term = _isoflop_profiles(_sample(dataclasses.replace(base, isoflop_data_beta_range=(0.3, 1.5)), 200))
    # far along their progress curves, the prior's profiles mostly fall in N; the data term bottoms them out
    assert budgets > 50 and without < 0.4 and with_term[1] > 0.6
    # off by default, and then nothing extra is drawn: the default prior's tasks are unchanged
    assert default().isoflop_data_beta_range is None
    for bad in ((0.0, 1.0), (2.0, 1.0), (0.5,)):
        with pytest.raises(InvalidConfigError, match="isoflop_data_beta_range"):
            dataclasses.replace(default(), isoflop_data_beta_range=bad)


def test_free_hparams_move_runs_smoothly_and_only_in_their_tasks():
    base = dataclasses.replace(default(), p_free_hparams=0.5, p_max_direction=0.0, p_table=0.0, **QUIET)
    weak = _sample(dataclasses.replace(base, hparam_effect_range=(1e-9, 1e-9)), 300, seed=4)
    strong = _sample(dataclasses.replace(base, hparam_effect_range=(1.0, 1.0)), 300, seed=4)
    has = weak.hparam_mask.any(-1).any(-1)
    assert 0.3 < has.float().mean() < 0.7
    torch.testing.assert_close(strong.hparams, weak.hparams)
    assert ((strong.hparams >= 0) & (strong.hparams <= 1)).all() and not (weak.hparams[~weak.hparam_mask] != 0).any()
    same = (strong.y == weak.y).all(-1).all(-1)
    assert same[~has].all() and not same[has].all()
    # The effect on a run's final value is a smooth function of its hyperparameters: close runs move alike.
    final = lambda b: _last_valid(b, b.y).clamp(min=1e-12).log()  # noqa: E731
    effect = final(strong) - final(weak)
    near, far = [], []
    for t in torch.nonzero(has).flatten().tolist():
        runs = torch.nonzero(strong.run_mask[t]).flatten().tolist()
        for i in runs:
            for j in runs:
                if i < j:
                    gap = float((strong.hparams[t, i] - strong.hparams[t, j]).abs().max())
                    diff = float((effect[t, i] - effect[t, j]).abs())
                    (near if gap < 0.15 else far if gap > 0.6 else []).append(diff)
    assert len(near) > 20 and len(far) > 20 and np.median(near) < 0.5 * np.median(far)


def _valley_share(prior, n_tasks: int = 500) -> float:
    """Share of one-hyperparameter sweeps whose final values, ordered by the hyperparameter, fall then rise."""
    batch = _sample(prior, n_tasks, seed=5)
    final = _last_valid(batch, batch.y)
    valleys = sweeps = 0
    for t in range(batch.n_tasks):
        runs = batch.run_mask[t] & (batch.run_lengths[t] == batch.run_lengths[t].max())
        theta = batch.hparams[t, runs, 0]
        if runs.sum() < 5 or torch.unique(theta).numel() < runs.sum():
            continue
        ends = final[t, runs][torch.argsort(theta)]
        steps = torch.sign(torch.diff(ends)) * (torch.diff(ends).abs() > 1e-6 * ends.abs().max())
        steps = steps[steps != 0]
        sweeps += 1
        valleys += bool((torch.diff(steps) >= 0).all())  # -1 ... -1, +1 ... +1: one minimum
    assert sweeps > 30
    return valleys / sweeps


def test_free_hparams_have_a_best_setting():
    """With a bowl around an optimum in every task (and no random smooth map), a one-hyperparameter sweep's
    final losses fall toward the optimum and rise past it; the random map alone makes no such shape."""
    base = dataclasses.replace(
        default(), p_free_hparams=1.0, p_pure_sweep=1.0, max_free_hparams=1, p_table=0.0, p_replicates=0.0,
        p_max_direction=0.0, p_truncated=0.0, p_full_length=1.0, seed_spread_range=(1e-9, 1e-9), **QUIET,
    )
    bowl = dataclasses.replace(base, p_hparam_optimum=1.0, hparam_effect_range=(1e-9, 1e-9))
    smooth_map = dataclasses.replace(base, p_hparam_optimum=0.0, hparam_effect_range=(1.0, 1.0))
    assert _valley_share(bowl) > 0.95
    assert _valley_share(smooth_map) < 0.8


def test_pure_sweeps_differ_only_in_free_hparams():
    prior = dataclasses.replace(default(), p_free_hparams=1.0, p_pure_sweep=1.0, p_table=0.0, p_replicates=0.0)
    batch = _sample(prior, 64)
    multi = torch.nonzero(batch.run_mask.sum(-1) > 1).flatten().tolist()
    assert len(multi) > 20
    for t in multi:
        runs = batch.run_mask[t]
        assert batch.hparam_mask[t][runs].any()
        for name in ("n_params", "lr", "batch_size", "total_steps"):
            values = batch.config[t][runs][:, config_index(name)]
            values = values[torch.isfinite(values)]
            assert torch.allclose(values, values[:1].expand_as(values)), (t, name, values)
    # without pure sweeps, the same tasks vary in size or lr as well
    mixed = _sample(dataclasses.replace(prior, p_pure_sweep=0.0), 64)
    varied = 0
    for t in torch.nonzero(mixed.run_mask.sum(-1) > 1).flatten().tolist():
        values = mixed.config[t][mixed.run_mask[t]][:, config_index("lr")]
        varied += bool((values.max() - values.min()) > 1e-12 * values.abs().max())
    assert varied > 10


def _lr_off_law(batch: TaskBatch) -> list[float]:
    """Per sweep of >= 3 sizes at one batch size: the largest distance of a run's log lr from the straight
    line in log N through the sweep (a tuned sweep's lr is a power law of N, lr_opt ~ N^-c)."""
    out = []
    for t in torch.nonzero(batch.run_mask.sum(-1) >= 3).flatten().tolist():
        runs = batch.run_mask[t]
        log_n = batch.config[t][runs][:, config_index("n_params")].double().log()
        log_lr = batch.config[t][runs][:, config_index("lr")].double().log()
        batch_size = batch.config[t][runs][:, config_index("batch_size")]
        if float(log_n.max() - log_n.min()) < 1.0 or bool((batch_size != batch_size[0]).any()):
            continue
        design = torch.stack([torch.ones_like(log_n), log_n], 1)
        coef = torch.linalg.lstsq(design, log_lr[:, None]).solution
        out.append(float((log_lr - (design @ coef)[:, 0]).abs().max()))
    return out


def test_tuned_sweeps_put_every_run_at_its_optimal_lr():
    base = dataclasses.replace(default(), p_table=0.0, p_single_run=0.0)
    tuned = _lr_off_law(_sample(dataclasses.replace(base, p_tuned_lr=1.0), 200))
    scattered = _lr_off_law(_sample(dataclasses.replace(base, p_tuned_lr=0.0), 200))
    assert len(tuned) > 20 and len(scattered) > 20
    assert max(tuned) < 1e-4  # float32 config values: exact up to rounding
    assert np.median(scattered) > 0.05


def test_point_budget_caps_tasks_of_many_runs():
    prior = dataclasses.replace(default(), max_task_points=96, p_table=0.0)
    batch = _sample(prior, 300)
    assert batch.run_lengths.sum(-1).max() <= 96 + prior.min_points  # lengths are floored at min_points
    assert (batch.run_mask.sum(1) >= 6).any()


def test_running_out_of_unique_data_slows_progress():
    base = dataclasses.replace(default(), p_max_direction=0.0, p_table=0.0, p_free_hparams=0.0, **QUIET)
    free, limited = _sample(dataclasses.replace(base, p_data_limited=0.0), 200, seed=2), _sample(dataclasses.replace(base, p_data_limited=1.0), 200, seed=2)
    present = free.run_mask
    a, b = _last_valid(free, free.y)[present], _last_valid(limited, limited.y)[present]
    assert (b >= a * (1 - 1e-4)).all() and (b > a * (1 + 1e-3)).float().mean() > 0.2


def test_holdout_largest_hides_the_largest_runs():
    from curvecast.training.split import SplitPolicy, sample_split

    prior = dataclasses.replace(default(), p_single_run=0.0, p_table=0.0)
    batch = _sample(prior, 300)
    split = sample_split(batch, torch.Generator().manual_seed(1), SplitPolicy(p_holdout_largest=1.0, p_thin=0.0, p_anchors=0.0), max_runs=32)
    n_params = batch.config[..., config_index("n_params")]
    observed = split.is_context.sum(-1)  # T x R
    full = observed == batch.run_lengths
    for t in range(batch.n_tasks):
        m = batch.run_mask[t]
        held = m & ~full[t]
        assert held.any() and full[t][m].any()
    # Over tasks, the held-out runs are the large ones: a held-out run is at least as large as a finished one.
    present = batch.run_mask & (n_params > 0)
    held_n = torch.where(present & ~full, n_params, torch.full_like(n_params, float("nan")))
    done_n = torch.where(present & full, n_params, torch.full_like(n_params, float("nan")))
    frac = (held_n.nanmean(1) >= done_n.nanmean(1)).float()[torch.isfinite(held_n.nanmean(1)) & torch.isfinite(done_n.nanmean(1))].mean()
    assert frac > 0.7
