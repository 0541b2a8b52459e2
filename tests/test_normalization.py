"""Per-task normalization: exact round trips, Jacobian, scale equivariance, degenerate contexts."""

import pytest
import torch

from curvecast.errors import InvalidCurveError
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.pfn.normalization import Normalization


def make(y, direction=1, n_ctx=None):
    y = torch.tensor(y, dtype=torch.float64)[None]
    x = torch.arange(1, y.shape[1] + 1, dtype=torch.float64)[None] * 10
    ctx = torch.zeros_like(y, dtype=torch.bool)
    ctx[:, : (n_ctx or y.shape[1])] = True
    return x, y, ctx, Normalization.from_context(x, y, ctx, torch.tensor([direction]))


def test_statistics_hand_computed():
    x, y, ctx, norm = make([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    # median 2.5; q10 = 0.5, q90 = 4.5 (linear interpolation) -> spread 4
    assert float(norm.y_loc) == pytest.approx(2.5)
    assert float(norm.y_scale) == pytest.approx(4.0)
    assert float(norm.x_ref) == 60.0
    torch.testing.assert_close(norm.y_forward(y), (y - 2.5) / 4.0)
    torch.testing.assert_close(norm.x_forward(x), x / 60.0)


def test_round_trip_and_direction_flip():
    x, y, ctx, norm = make([0.1, 0.4, 0.6, 0.7, 0.72], direction=-1)
    z = norm.y_forward(y)
    torch.testing.assert_close(norm.y_inverse(z), y)
    torch.testing.assert_close(norm.x_inverse(norm.x_forward(x)), x)
    # "max" curves are flipped: a rising accuracy becomes falling z
    assert bool((z[0, 1:] < z[0, :-1]).all())


def test_affine_equivariance():
    values = [9.0, 7.0, 6.0, 5.5, 5.2, 5.1]
    _, y, ctx, norm = make(values)
    _, y2, _, norm2 = make([10 * v - 4 for v in values])
    torch.testing.assert_close(norm.y_forward(y), norm2.y_forward(y2))


def test_density_change_of_variables():
    """A density in z mapped to y with the Jacobian integrates to one and matches the CDF's slope."""
    _, y, ctx, norm = make([3.0, 2.0, 1.5, 1.2, 1.1])
    bar = BarDistribution(torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]))
    logits = torch.tensor([0.3, -0.2, 0.5, 0.1])
    grid = torch.linspace(-30, 30, 600_001, dtype=torch.float64)[None]
    z = norm.y_forward(grid)
    log_density_y = bar.log_prob(logits, z.float()).double() + norm.log_jacobian(grid)
    dy = float(grid[0, 1] - grid[0, 0])
    assert float(log_density_y.exp().sum() * dy) == pytest.approx(1.0, abs=1e-4)
    y0, h = torch.tensor([[1.0]], dtype=torch.float64), 1e-4
    cdf = lambda v: bar.cdf(logits, norm.y_forward(v).float()).double()  # noqa: E731
    slope = (cdf(y0 + h) - cdf(y0 - h)) / (2 * h)
    density = (bar.log_prob(logits, norm.y_forward(y0).float()).double() + norm.log_jacobian(y0)).exp()
    assert float(slope) == pytest.approx(float(density), rel=1e-3)


def test_degenerate_contexts_get_finite_positive_scale():
    for values, n_ctx in (([2.0, 1.0], 1), ([0.0, 0.0, 0.0], None), ([0.5, 0.5, 0.5, 0.5], None), ([1.0, 1.0 + 1e-9], None)):
        _, _, _, norm = make(values, n_ctx=n_ctx)
        assert float(norm.y_scale) > 0 and torch.isfinite(norm.y_scale).all()
    _, _, _, norm = make([0.0, 0.0, 0.0])
    assert float(norm.y_scale) == 1.0  # no scale information at all: the metric's own unit
    _, _, _, norm = make([4.0, 4.0])
    assert float(norm.y_scale) == pytest.approx(0.4)  # 10% of the level


def test_no_context_is_an_error():
    x = torch.ones(1, 3)
    with pytest.raises(InvalidCurveError, match="at least one observed point"):
        Normalization.from_context(x, x, torch.zeros(1, 3, dtype=torch.bool), torch.ones(1))


def test_non_finite_context_and_bad_direction_are_errors():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    ctx = torch.ones(1, 3, dtype=torch.bool)
    for bad in (torch.nan, torch.inf):
        y = torch.tensor([[1.0, bad, 0.5]])
        with pytest.raises(InvalidCurveError, match="finite"):
            Normalization.from_context(x, y, ctx, torch.ones(1))
    # non-finite values outside the context are not read
    Normalization.from_context(x, torch.tensor([[1.0, 0.7, torch.nan]]), torch.tensor([[True, True, False]]), torch.ones(1))
    with pytest.raises(InvalidCurveError, match="direction"):
        Normalization.from_context(x, x, ctx, torch.zeros(1))
