"""Prediction math against hand-computed values: a uniform bar distribution mapped to y units."""

import math

import numpy as np
import pytest
import torch

from curvecast.errors import InvalidConfigError, ShapeError
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.prediction import Prediction, ZMap

# Interior buckets cover [-1, 1] in z in 4 equal buckets; the two tails get almost no mass.
BORDERS = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
TAIL = -40.0  # logit of each tail bucket: mass ~ e^-40


def make_prediction(loc=10.0, scale=2.0, sign=1.0, low=-math.inf, high=math.inf, m=3):
    bar = BarDistribution(BORDERS)
    logits = torch.tensor([TAIL, 0.0, 0.0, 0.0, 0.0, TAIL]).expand(m, 6).clone()
    f64 = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    zmap = ZMap.build(f64(loc), f64(scale), f64(sign), f64(low), f64(high)).index(0)
    x = np.arange(1.0, m + 1.0)
    return Prediction(
        x=x, logits=logits, zmap=zmap, bar=bar, mean=np.zeros(m), median=np.zeros(m),
        observed_x=np.arange(3.0), observed_y=np.ones(3), bounds=(low, high), n_context=3, sampler=None,
    )


def test_uniform_quantiles_density_and_cdf_in_user_units():
    # z ~ U(-1, 1) and y = 10 + 2 z, so y ~ U(8, 12).
    p = make_prediction()
    np.testing.assert_allclose(p.quantile([0.25, 0.5, 0.9]), [[9.0] * 3, [10.0] * 3, [11.6] * 3], atol=1e-5)
    np.testing.assert_allclose(p.logpdf(9.0), [math.log(1 / 4)] * 3, atol=1e-5)
    np.testing.assert_allclose(p.cdf([8.5, 10.0, 11.0]), [0.125, 0.5, 0.75], atol=1e-5)
    lower, upper = p.interval(0.5)
    np.testing.assert_allclose(lower, 9.0, atol=1e-5)
    np.testing.assert_allclose(upper, 11.0, atol=1e-5)
    assert p.quantile(0.5).shape == (3,)


def test_max_direction_flips_the_distribution():
    # For "max" metrics y = loc - scale * z: z ~ U(-1, 1) gives y ~ U(8, 12) again, with z's quantiles reversed.
    p = make_prediction(sign=-1.0)
    np.testing.assert_allclose(p.quantile([0.1, 0.9]), [[8.4] * 3, [11.6] * 3], atol=1e-5)
    np.testing.assert_allclose(p.cdf(11.0), 0.75, atol=1e-5)
    np.testing.assert_allclose(p.logpdf(11.0), math.log(1 / 4), atol=1e-5)


def test_truncation_renormalises_inside_the_bounds():
    # Bounds [8, 10] keep half the mass: density doubles, quantiles spread over [8, 10].
    p = make_prediction(low=8.0, high=10.0)
    np.testing.assert_allclose(p.logpdf(9.0), math.log(1 / 2), atol=1e-5)
    assert np.all(p.logpdf(10.5) == -np.inf)
    np.testing.assert_allclose(p.quantile([0.5]), [[9.0] * 3], atol=1e-5)
    np.testing.assert_allclose(p.cdf([9.5, 11.0, 7.0]), [0.75, 1.0, 0.0], atol=1e-5)


def test_quantile_cdf_round_trip():
    p = make_prediction(loc=-3e3, scale=7.5)
    levels = np.array([0.03, 0.2, 0.5, 0.77, 0.99])
    qs = p.quantile(levels)
    for level, row in zip(levels, qs):
        np.testing.assert_allclose(p.cdf(row), level, atol=1e-5)


def test_argument_errors():
    p = make_prediction()
    with pytest.raises(InvalidConfigError, match="strictly between 0 and 1"):
        p.quantile([0.0, 0.5])
    with pytest.raises(InvalidConfigError, match="interval level"):
        p.interval(1.5)
    with pytest.raises(ShapeError, match="one y per query"):
        p.logpdf([1.0, 2.0])
    with pytest.raises(InvalidConfigError, match="NaN"):
        p.cdf([1.0, np.nan, 2.0])
    with pytest.raises(InvalidConfigError, match="positive int"):
        p.sample(0)
