"""curvecast.pooling: a linear pool's density, CDF, quantiles and mean against hand-computed mixtures of uniforms."""

import math

import numpy as np
import pytest

# pytest puts the tests folder on sys.path (it has no __init__.py)
from test_prediction import make_prediction

from curvecast.errors import InvalidConfigError, ShapeError
from curvecast.pooling import PooledPrediction, pool


def _uniforms():
    """y ~ U(8, 12) and y ~ U(10, 14) at each of 3 query points, with means 10 and 12."""
    a, b = make_prediction(loc=10.0), make_prediction(loc=12.0)
    a.mean, b.mean = np.full(3, 10.0), np.full(3, 12.0)
    return a, b


def test_an_equal_pool_of_two_uniforms_has_their_mixtures_density_cdf_and_quantiles():
    # Density 1/8 on [8, 10), 1/4 on [10, 12], 1/8 on (12, 14]: CDF 0.25 at 10, 0.75 at 12.
    p = pool(_uniforms())
    np.testing.assert_allclose(p.weights, [0.5, 0.5])
    np.testing.assert_allclose(p.logpdf(9.0), [math.log(1 / 8)] * 3, atol=1e-5)
    np.testing.assert_allclose(p.logpdf(11.0), [math.log(1 / 4)] * 3, atol=1e-5)
    np.testing.assert_allclose(p.cdf([10.0, 12.0, 13.0]), [0.25, 0.75, 0.875], atol=1e-5)
    np.testing.assert_allclose(p.median, [11.0] * 3, atol=1e-4)
    lower, upper = p.interval(0.9)  # 0.125 (y - 8) = 0.05 and 0.75 + 0.125 (y - 12) = 0.95
    np.testing.assert_allclose(lower, 8.4, atol=1e-4)
    np.testing.assert_allclose(upper, 13.6, atol=1e-4)
    np.testing.assert_allclose(p.mean, [11.0] * 3)
    assert p.quantile(0.5).shape == (3,) and p.quantile([0.1, 0.9]).shape == (2, 3)


def test_unequal_weights_are_normalised_and_a_lone_component_is_itself():
    a, b = _uniforms()
    p = PooledPrediction([a, b], [3.0, 1.0])  # weights 0.75 and 0.25
    np.testing.assert_allclose(p.weights, [0.75, 0.25])
    # CDF at 10: 0.75 * 0.5; density on [10, 12]: 0.75 / 4 + 0.25 / 4.
    np.testing.assert_allclose(p.cdf(10.0), [0.375] * 3, atol=1e-5)
    np.testing.assert_allclose(p.logpdf(11.0), [math.log(0.25)] * 3, atol=1e-5)
    np.testing.assert_allclose(p.median, [10.5] * 3, atol=1e-4)  # 0.375 + 0.25 (y - 10) = 0.5
    alone = pool([a, b], [1.0, 0.0])
    assert len(alone.components) == 2 and alone.weights.tolist() == [1.0, 0.0]
    np.testing.assert_allclose(alone.quantile([0.05, 0.5, 0.95]), a.quantile([0.05, 0.5, 0.95]))
    np.testing.assert_allclose(alone.logpdf(9.0), a.logpdf(9.0), atol=1e-12)
    record = p.to_dict()
    assert record["weights"] == [0.75, 0.25] and record["median"] == pytest.approx([10.5] * 3, abs=1e-4)


def test_pool_rejects_what_it_cannot_mix():
    a, b = _uniforms()
    with pytest.raises(InvalidConfigError, match="at least one"):
        pool([])
    with pytest.raises(ShapeError, match="one weight per prediction"):
        pool([a, b], [1.0])
    with pytest.raises(InvalidConfigError, match="non-negative"):
        pool([a, b], [1.0, -0.5])
    with pytest.raises(InvalidConfigError, match="not all zero"):
        pool([a, b], [0.0, 0.0])
    with pytest.raises(ShapeError, match="same number of query points"):
        pool([a, make_prediction(m=2)])
    with pytest.raises(InvalidConfigError, match="share a direction"):
        pool([a, make_prediction(sign=-1.0)])
    with pytest.raises(InvalidConfigError, match="components\\[1\\] is a dict"):
        pool([a, {"median": 1.0}])
    with pytest.raises(InvalidConfigError, match="strictly between 0 and 1"):
        pool([a, b]).quantile([0.0, 0.5])
