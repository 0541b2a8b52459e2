"""Bar distribution against hand-computed values (borders -3, -1, 0, 1, 3: two tails of scale 2)."""

import math

import pytest
import torch

from curvecast.errors import InvalidConfigError, ShapeError
from curvecast.pfn.bar_distribution import BarDistribution, borders_from_samples

BORDERS = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0])


@pytest.fixture
def bar():
    return BarDistribution(BORDERS)


def probs_to_logits(p):
    return torch.tensor(p).log()


def test_log_prob_interior_and_tails(bar):
    logits = torch.zeros(4)  # p = 1/4 each
    y = torch.tensor([0.5, -0.5, -3.0, 3.0])
    # interior: 0.25 / width 1; tails: 0.25 * half-normal(z=1, sigma=2) = 0.25 * sqrt(2/pi) / 2 * exp(-1/2)
    tail = 0.25 * math.sqrt(2 / math.pi) / 2 * math.exp(-0.5)
    expected = torch.tensor([0.25, 0.25, tail, tail]).log()
    torch.testing.assert_close(bar.log_prob(logits, y), expected)


def test_cdf_hand_values(bar):
    logits = torch.zeros(4)
    y = torch.tensor([-1.0, 0.5, 3.0, -3.0])
    erf1 = math.erf(1 / math.sqrt(2))  # half-normal mass within one sigma
    expected = torch.tensor([0.25, 0.625, 0.75 + 0.25 * erf1, 0.25 * (1 - erf1)])
    torch.testing.assert_close(bar.cdf(logits, y), expected)


def test_icdf_hand_values_and_round_trip(bar):
    logits = torch.zeros(4)
    q = torch.tensor([0.1, 0.3, 0.625, 0.9])
    z80 = 0.8416212335729143  # standard normal 80% quantile
    expected = torch.tensor([-1 - 2 * z80, -0.8, 0.5, 1 + 2 * z80])
    torch.testing.assert_close(bar.icdf(logits, q), expected, atol=1e-5, rtol=1e-5)
    logits = probs_to_logits([0.1, 0.2, 0.3, 0.4])
    qs = torch.tensor([0.01, 0.05, 0.2, 0.5, 0.77, 0.99])
    torch.testing.assert_close(bar.cdf(logits.expand(6, 4), bar.icdf(logits, qs)), qs, atol=1e-5, rtol=1e-5)


def test_mean_hand_value(bar):
    logits = probs_to_logits([0.1, 0.2, 0.3, 0.4])
    hn = 2 * math.sqrt(2 / math.pi)  # half-normal mean with sigma 2
    expected = 0.1 * (-1 - hn) + 0.2 * -0.5 + 0.3 * 0.5 + 0.4 * (1 + hn)
    assert bar.mean(logits).item() == pytest.approx(expected, rel=1e-6)
    assert bar.mean(torch.zeros(4)).item() == pytest.approx(0.0, abs=1e-7)


def test_density_integrates_to_one_and_matches_mean(bar):
    logits = probs_to_logits([0.1, 0.2, 0.3, 0.4])
    y = torch.linspace(-40, 40, 800_001, dtype=torch.float64)
    dy = float(y[1] - y[0])
    density = bar.log_prob(logits, y.float()).double().exp()
    assert float(density.sum() * dy) == pytest.approx(1.0, abs=1e-4)
    assert float((density * y).sum() * dy) == pytest.approx(float(bar.mean(logits)), abs=1e-3)


def test_samples_follow_the_distribution(bar):
    logits = probs_to_logits([0.1, 0.2, 0.3, 0.4])
    draws = bar.sample(logits, 200_000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (200_000,)
    assert float(draws.mean()) == pytest.approx(float(bar.mean(logits)), abs=0.02)
    assert float((draws < 0).double().mean()) == pytest.approx(0.3, abs=0.005)
    again = bar.sample(logits, 10, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, draws[:10])


def test_batched_shapes(bar):
    logits = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(1))
    assert bar.log_prob(logits, torch.zeros(3, 5)).shape == (3, 5)
    assert bar.cdf(logits, torch.zeros(1)).shape == (3, 5)
    assert bar.icdf(logits, torch.tensor([0.1, 0.5, 0.9])).shape == (3, 5, 3)
    assert bar.median(logits).shape == (3, 5)
    with pytest.raises(ShapeError):
        bar.log_prob(torch.zeros(3, 7), torch.zeros(3))


def test_borders_from_samples_follow_quantiles():
    values = torch.linspace(0, 1, 100_001)
    borders = borders_from_samples(values, 10, trim=0.0)
    torch.testing.assert_close(borders, torch.linspace(0, 1, 11), atol=1e-4, rtol=0)
    ties = torch.cat([torch.zeros(1000), torch.linspace(1, 2, 1000)])
    b = borders_from_samples(ties, 20)
    assert bool((b[1:] > b[:-1]).all())
    with pytest.raises(InvalidConfigError):
        borders_from_samples(values, 2)
    with pytest.raises(InvalidConfigError):
        BarDistribution(torch.tensor([0.0, 1.0, 1.0, 2.0]))


def test_icdf_ends_land_on_the_support():
    borders = torch.linspace(-10, 10, 65)
    bar = BarDistribution(borders)
    logits = torch.full((64,), -torch.inf)
    logits[10:40] = 0.0  # mass only in buckets 10..39
    ends = bar.icdf(logits, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(ends, torch.stack([borders[10], borders[40]]))
    assert bar.icdf(logits, torch.tensor(0.5)).shape == (1,)


def test_mean_stays_float32_under_autocast():
    bar = BarDistribution(torch.linspace(1000, 1010, 11))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mean = bar.mean(torch.zeros(10))
    assert mean.dtype == torch.float32 and float(mean) == pytest.approx(1005.0, abs=1e-3)


def test_borders_of_large_tied_values_stay_increasing():
    values = torch.cat([torch.full((5000,), 100.0), torch.linspace(99, 101, 5000)])
    b = borders_from_samples(values, 256)
    BarDistribution(b)  # would raise if two borders collapsed in float32


def test_stretch_scales_central_intervals_about_the_median():
    grid = BarDistribution(torch.linspace(-5.0, 5.0, 201))
    centers = torch.linspace(-4.975, 4.975, 200)
    logits = -0.5 * ((centers[None] - torch.tensor([[0.3], [-1.0]])) / torch.tensor([[0.2], [0.5]])) ** 2
    levels = torch.tensor([0.05, 0.5, 0.95])
    before = grid.icdf(logits, levels)
    for factor in (0.5, 1.0, 1.5, 2.0):
        after = grid.icdf(grid.stretch(logits, factor), levels)
        ratio = (after[:, 2] - after[:, 0]) / (before[:, 2] - before[:, 0])
        torch.testing.assert_close(ratio, torch.full_like(ratio, factor), rtol=0.02, atol=0.0)
        torch.testing.assert_close(after[:, 1], before[:, 1], rtol=0.0, atol=1e-5)
    # One factor per row broadcasts; the probabilities still sum to one.
    stretched = grid.stretch(logits, torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(stretched.exp().sum(-1), torch.ones(2), rtol=0.0, atol=1e-5)
    torch.testing.assert_close(grid.icdf(stretched[:1], levels), before[:1], rtol=0.0, atol=1e-5)


def test_bounded_stretch_keeps_the_truncated_median_and_holds_what_it_pushes_past_a_bound_there():
    grid = BarDistribution(torch.linspace(-5.0, 5.0, 201))  # buckets of 0.05
    centers = torch.linspace(-4.975, 4.975, 200)
    logits = -0.5 * ((centers - 0.3) / 0.2) ** 2
    high = torch.tensor(0.47)  # cuts the bucket [0.45, 0.5]

    def truncated_icdf(lg, q):  # quantiles of the distribution conditioned on Y <= high
        return grid.icdf(lg, torch.tensor([q]) * grid.cdf(lg, high))[0]

    median, q05, q95 = (truncated_icdf(logits, q) for q in (0.5, 0.05, 0.95))
    wide = grid.stretch(logits, 3.0, high=high)
    assert abs(float(truncated_icdf(wide, 0.5) - median)) < 2e-3
    # the lower side, far from the bound, scales by the factor about the median
    torch.testing.assert_close((median - truncated_icdf(wide, 0.05)) / (median - q05), torch.tensor(3.0), rtol=0.03, atol=0.0)
    # the upper side is censored: its 95% quantile sits in the bound's bucket, at most the bound
    assert q95 < 0.45 <= float(truncated_icdf(wide, 0.95)) <= 0.47 + 1e-6
    # stretching and then truncating drops that mass instead and pulls the median away from the bound
    assert float(truncated_icdf(grid.stretch(logits, 3.0), 0.5)) < float(median) - 0.02
    # infinite bounds change nothing
    inf = torch.tensor(float("inf"))
    torch.testing.assert_close(grid.stretch(logits, 2.0, low=-inf, high=inf), grid.stretch(logits, 2.0), rtol=0.0, atol=1e-5)
