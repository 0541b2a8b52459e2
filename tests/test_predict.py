"""The predict API on the shipped default model: inputs, invariances, samples, bad input."""

import json
import warnings

import matplotlib
import numpy as np
import pytest

import curvecast
from curvecast.errors import CheckpointNotFoundError, CurvecastWarning, InvalidConfigError, InvalidCurveError, ShapeError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def model():
    return curvecast.load()


def loss_curve(n=30, noise=0.01, seed=0, scale=1.0, shift=0.0):
    x = np.linspace(100.0, 3000.0, n)
    y = 2.0 + 3.0 * (x / 100.0) ** -0.5 + np.random.default_rng(seed).normal(0.0, noise, n)
    return x, scale * y + shift


X_QUERY = np.linspace(3100.0, 9000.0, 12)


def test_load_default_and_missing_path(tmp_path):
    model = curvecast.load()
    assert model.max_context >= 16 and model.model.num_parameters() > 0
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint"):
        curvecast.load(tmp_path / "nope")


def test_predict_shapes_and_consistency(model):
    x, y = loss_curve()
    p = model.predict(x, y, X_QUERY)
    m = X_QUERY.size
    assert p.x.shape == p.mean.shape == p.median.shape == (m,)
    qs = p.quantile([0.05, 0.5, 0.95])
    assert qs.shape == (3, m)
    np.testing.assert_allclose(qs[1], p.median, rtol=1e-6)
    assert np.all(qs[0] < qs[1]) and np.all(qs[1] < qs[2])
    # A falling loss curve: the median keeps below the start and the band brackets the observed level.
    assert np.all(p.median < y[0]) and np.all(qs[0] < y[-1] + 0.5)
    np.testing.assert_allclose(p.cdf(p.median), 0.5, atol=1e-4)
    assert np.all(np.isfinite(p.logpdf(qs[1])))


def test_predict_many_matches_predict_with_ragged_lengths(model):
    curves = []
    for n, seed in ((10, 1), (45, 2), (25, 3)):
        x, y = loss_curve(n=n, seed=seed)
        curves.append(curvecast.Curve(x, y, X_QUERY[: 4 + n % 7]))
    batched = model.predict_many(curves, batch_size=2)
    for c, pb in zip(curves, batched):
        single = model.predict(c.x, c.y, c.x_query)
        np.testing.assert_allclose(pb.median, single.median, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pb.mean, single.mean, rtol=1e-5, atol=1e-6)


def test_predict_many_accepts_dicts_and_tuples(model):
    x, y = loss_curve()
    preds = model.predict_many([(x, y, X_QUERY), {"x": x, "y": y, "x_query": X_QUERY, "direction": "min"}])
    np.testing.assert_allclose(preds[0].median, preds[1].median)
    with pytest.raises(ShapeError, match="curve 1"):
        model.predict_many([(x, y, X_QUERY), (x, y[:5], X_QUERY)])


def test_query_order_is_kept(model):
    x, y = loss_curve()
    perm = np.random.default_rng(0).permutation(X_QUERY.size)
    a = model.predict(x, y, X_QUERY)
    b = model.predict(x, y, X_QUERY[perm])
    np.testing.assert_allclose(b.median, a.median[perm], rtol=1e-5)


@pytest.mark.parametrize("scale,shift", [(1e-4, 0.0), (1e4, 0.0), (1.0, -50.0), (-1.0, 0.0)])
def test_any_scale_and_sign_gives_finite_sensible_output(model, scale, shift):
    x, y = loss_curve(scale=abs(scale), shift=shift)
    direction = "min" if scale > 0 else "max"
    y = y if scale > 0 else -y  # a rising, negative-valued metric
    p = model.predict(x, y, X_QUERY, direction=direction)
    assert p.bounds == (-np.inf, np.inf)
    span = y.max() - y.min()
    for arr in (p.mean, p.median, *p.quantile([0.05, 0.95])):
        assert np.all(np.isfinite(arr))
        assert np.all(np.abs(arr - y[-1]) < 5 * span)


def test_log_spaced_x_starting_at_zero_and_far_queries(model):
    x = np.concatenate([[0.0], np.geomspace(1.0, 1e4, 25)])
    y = 5.0 / (1.0 + x) ** 0.3 + 1.0
    p = model.predict(x, y, np.geomspace(2e4, 1e7, 8))
    assert np.all(np.isfinite(p.median)) and np.all(np.isfinite(p.quantile([0.01, 0.99])))


def test_accuracies_stay_in_unit_interval(model):
    x = np.arange(1.0, 21.0)
    y = 0.95 - 0.5 * x**-0.7
    p = model.predict(x, y, np.arange(21.0, 80.0), direction="max")
    assert p.bounds == (0.0, 1.0)
    samples = p.sample(64, seed=0)
    lo, hi = p.quantile([0.001, 0.999])
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert lo.min() >= 0.0 and hi.max() <= 1.0 and p.mean.max() <= 1.0
    with pytest.raises(InvalidCurveError, match="outside bounds"):
        model.predict(x, y * 100, x + 20, direction="max", bounds=(0, 1))
    percent = model.predict(x, y * 100, x + 20, direction="max")  # auto: not in [0, 1], so unbounded
    assert percent.bounds == (-np.inf, np.inf)


def test_samples_are_reproducible_joint_and_match_marginals(model):
    x, y = loss_curve(noise=0.002)
    p = model.predict(x, y, X_QUERY)
    s = p.sample(400, seed=7)
    assert s.shape == (400, X_QUERY.size)
    np.testing.assert_array_equal(s, p.sample(400, seed=7))
    # Rank reordering makes every column follow the marginal: compare empirical and predicted quantiles.
    for level in (0.1, 0.5, 0.9):
        emp = np.quantile(s, level, axis=0)
        band = p.quantile([max(level - 0.06, 0.01), min(level + 0.06, 0.99)])
        assert np.all((emp >= band[0]) & (emp <= band[1]))


def test_context_longer_than_the_model_takes_is_thinned(model):
    x = np.arange(1.0, 1001.0)
    y = 3.0 / np.sqrt(x) + 1.0
    with pytest.warns(CurvecastWarning, match="read 64 of the curve's 1000 observed points"):
        p = model.predict(x, y, [1200.0, 2000.0])
    assert p.n_context == model.max_context
    assert p.observed_x.size == 1000 and np.all(np.isfinite(p.median))
    with pytest.warns(CurvecastWarning, match="1 of 2 curves hold more than 64"):
        model.predict_many([(x, y, [1200.0]), (x[:10], y[:10], [20.0])])


def test_input_repairs_warn_and_are_documented(model):
    x, y = loss_curve()
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.warns(CurvecastWarning, match="dropped 1"):
        p = model.predict(x, y_nan, X_QUERY)
    assert p.observed_x.size == x.size - 1
    shuffled = np.random.default_rng(1).permutation(x.size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sorting is silent
        q = model.predict(x[shuffled], y[shuffled], X_QUERY)
    np.testing.assert_allclose(q.median, model.predict(x, y, X_QUERY).median, rtol=1e-6)
    with pytest.warns(CurvecastWarning, match="averaged"):
        r = model.predict(np.r_[x, x[-1]], np.r_[y, y[-1] + 0.1], X_QUERY)
    assert r.observed_y[-1] == pytest.approx(y[-1] + 0.05)


def test_constant_curve_is_allowed_and_centred(model):
    p = model.predict(np.arange(10.0), np.full(10, 0.7), [12.0, 20.0])
    assert np.all(np.isfinite(p.median)) and np.all(np.abs(p.median - 0.7) < 0.2)


@pytest.mark.parametrize(
    "x,y,xq,kwargs,error,match",
    [
        ([], [], [1.0], {}, InvalidCurveError, "empty"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], [4.0], {}, ShapeError, "same length"),
        ([1.0, 2.0], [1.0, 2.0], [4.0], {}, InvalidCurveError, "at least 3"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [4.0], {}, InvalidCurveError, "at least 3"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [], {}, InvalidCurveError, "x_query is empty"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [np.nan], {}, InvalidCurveError, "NaN or inf"),
        ([-1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {}, InvalidCurveError, ">= 0"),
        ([1.0, 2.0, 3.0], ["a", "b", "c"], [4.0], {}, InvalidCurveError, "not a real number"),
        ([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], [4.0], {}, ShapeError, "1-D"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {"direction": "up"}, InvalidConfigError, "direction"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {"config": {"dropout": None}}, InvalidConfigError, "free hyperparameter"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {"config": {"dropout": [0.1]}}, InvalidConfigError, "number, a string or a bool"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {"config": {"schedule": "step"}}, InvalidConfigError, "schedule"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {"config": {"lr": -1}}, InvalidConfigError, "> 0"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0], {"bounds": (1, 0)}, InvalidConfigError, "low < high"),
    ],
)
@pytest.mark.filterwarnings("ignore::curvecast.errors.CurvecastWarning")
def test_bad_input_raises_typed_errors(model, x, y, xq, kwargs, error, match):
    with pytest.raises(error, match=match):
        model.predict(x, y, xq, **kwargs)


def test_config_changes_the_prediction(model):
    x, y = loss_curve()
    plain = model.predict(x, y, X_QUERY)
    with_schedule = model.predict(x, y, X_QUERY, config={"total_steps": 6000, "schedule": "cosine", "lr": 3e-4})
    assert not np.allclose(plain.median, with_schedule.median)


def test_to_dict_is_json_and_plot_draws(model, tmp_path):
    x, y = loss_curve()
    p = model.predict(x, y, X_QUERY)
    d = json.loads(p.to_json())
    assert d["x"] == X_QUERY.tolist() and set(d["quantiles"]) == {"0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"}
    np.testing.assert_allclose(d["quantiles"]["0.5"], p.median)
    ax = p.plot(n_samples=3)
    assert len(ax.collections) == 3 and len(ax.lines) == 3 + 2
    ax.figure.savefig(tmp_path / "fan.png")
    assert (tmp_path / "fan.png").stat().st_size > 1000


def test_temperature_widens_the_prediction_and_is_validated():
    x, y = loss_curve()
    sharp = curvecast.load(temperature=1.0).predict(x, y, X_QUERY)
    wide = curvecast.load(temperature=2.0).predict(x, y, X_QUERY)
    width = lambda p: np.subtract(*p.interval(0.9)[::-1])  # noqa: E731
    assert np.all(width(wide) > width(sharp))
    assert curvecast.load().temperature == curvecast.load().config["calibration"]["temperature"]
    with pytest.raises(InvalidConfigError, match="temperature"):
        curvecast.load(temperature=-1.0)


def test_spread_widens_intervals_about_an_unchanged_median():
    import numpy as np

    import curvecast

    x = np.arange(1.0, 21.0)
    y = 2.0 + 3.0 * x**-0.5
    raw = curvecast.load(temperature=1.0, spread=1.0).predict(x, y, [30.0, 60.0])
    wide = curvecast.load(temperature=1.0, spread=2.0).predict(x, y, [30.0, 60.0])
    np.testing.assert_allclose(wide.median, raw.median, atol=1e-4)
    (lo1, hi1), (lo2, hi2) = raw.interval(0.5), wide.interval(0.5)
    np.testing.assert_allclose((hi2 - lo2) / (hi1 - lo1), 2.0, rtol=0.03)
    with pytest.raises(curvecast.errors.InvalidConfigError, match="spread"):
        curvecast.load(spread=0.0)


def test_spread_per_direction_applies_each_factor_to_its_own_direction():
    import numpy as np

    import curvecast

    x = np.arange(1.0, 21.0)
    loss = 2.0 + 3.0 * x**-0.5
    accuracy = 0.9 - 0.5 * x**-0.5
    split = curvecast.load(temperature=1.0, spread={"min": 1.0, "max": 2.0})
    assert split.spread == {"min": 1.0, "max": 2.0} and split.spread_for("max") == 2.0
    for y, direction, factor in ((loss, "min", 1.0), (accuracy, "max", 2.0)):
        uniform = curvecast.load(temperature=1.0, spread=factor).predict(x, y, [30.0, 60.0], direction=direction)
        mixed = split.predict(x, y, [30.0, 60.0], direction=direction)
        np.testing.assert_allclose(mixed.interval(0.9), uniform.interval(0.9), rtol=1e-6)
    # a mixed batch: each curve gets its own direction's factor
    both = split.predict_many([curvecast.Curve(x, loss, [60.0], direction="min"), curvecast.Curve(x, accuracy, [60.0], direction="max")])
    np.testing.assert_allclose(both[1].interval(0.9), curvecast.load(temperature=1.0, spread=2.0).predict(x, accuracy, [60.0], direction="max").interval(0.9), rtol=1e-6)
    assert curvecast.load(spread={"min": 1.5, "max": 1.5}).spread == 1.5
    with pytest.raises(curvecast.errors.InvalidConfigError, match="'min' .* and 'max'"):
        curvecast.load(spread={"min": 1.2})
    with pytest.raises(curvecast.errors.InvalidConfigError, match=r"spread\['max'\]"):
        curvecast.load(spread={"min": 1.2, "max": -1.0})


def test_forecasts_are_nearly_affine_equivariant():
    """The README's numbers: the model reads level/spread and the spread's magnitude, so units matter a little."""
    import numpy as np

    import curvecast

    model = curvecast.load()
    x = np.arange(1.0, 21.0)
    y = 2.0 + 3.0 * x**-0.5
    observed_range = np.ptp(y)
    base = model.predict(x, y, [40.0, 80.0])
    base_width = np.subtract(*base.interval(0.9)[::-1])
    for scale, offset, median_tol, width_tol in ((1000.0, 0.0, 0.01, 0.1), (1e-3, 0.0, 0.01, 0.1), (1.0, 100.0, 0.03, 0.7)):
        pred = model.predict(x, scale * y + offset, [40.0, 80.0])
        median = (pred.median - offset) / scale
        width = np.subtract(*pred.interval(0.9)[::-1]) / scale
        assert np.abs(median - base.median).max() < median_tol * observed_range
        assert np.abs(width / base_width - 1).max() < width_tol


def test_range_checks_and_typed_errors_name_the_problem():
    import warnings

    import numpy as np

    import curvecast
    from curvecast.errors import CurvecastWarning, InvalidConfigError, InvalidCurveError, ShapeError

    model = curvecast.load()
    x = np.arange(1.0, 21.0)
    y = 2.0 + 3.0 * x**-0.5
    with pytest.raises(InvalidConfigError, match="n_params"):
        model.predict(x, y, [40.0], config={"n_params": 1e300})
    with pytest.raises(InvalidConfigError, match="lr"):
        model.predict(x, y, [40.0], config={"lr": 1e-300})
    with pytest.raises(InvalidConfigError, match="must not exceed total_steps"):
        model.predict(x, y, [40.0], config={"warmup_steps": 50, "total_steps": 10})
    with pytest.warns(CurvecastWarning, match="far below the last observed x"):
        model.predict(x, y, [40.0], config={"total_steps": 5})
    with pytest.raises(InvalidCurveError, match="1e\\+30"):
        model.predict(x, y * 1e300, [40.0])
    with pytest.raises(InvalidCurveError, match="below 1e-30"):
        model.predict(x, y * 1e-300, [40.0])
    with pytest.raises(InvalidCurveError, match="every x is below"):
        model.predict([5e-324, 1e-323, 1.5e-323], [1.0, 2.0, 3.0], [1e-322])
    with pytest.warns(CurvecastWarning, match="read as flat"):
        model.predict(x, 1e12 + np.linspace(8, 4, 20), [40.0])
    for bad in (None, {"x": x}, "curves"):
        with pytest.raises(InvalidCurveError, match="list of curves"):
            model.predict_many(bad)
    with pytest.raises(ShapeError, match="curve 1"):
        model.predict_many([(x, y, [30.0]), (x, y[:5], [30.0])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain curve warns about nothing
        model.predict(x, y, [40.0])


def test_long_query_lists_match_one_pass_and_predict_many_groups_by_length():
    import numpy as np

    import curvecast

    model = curvecast.load()
    x = np.arange(1.0, 21.0)
    y = 2.0 + 3.0 * x**-0.5
    queries = np.linspace(21.0, 400.0, 2500)  # more than one block of 1024 queries
    long = model.predict(x, y, queries)
    short = model.predict(x, y, queries[[0, 1500, 2499]])
    np.testing.assert_allclose(long.median[[0, 1500, 2499]], short.median, rtol=1e-5)
    many = model.predict_many([(x, y, [30.0, 40.0])] * 3 + [(x, y, queries)])
    np.testing.assert_allclose(many[3].median, long.median, rtol=1e-5)
    np.testing.assert_allclose(many[0].median, model.predict(x, y, [30.0, 40.0]).median, rtol=1e-5)


WSD = {"total_steps": 9000.0, "schedule": "wsd"}


def test_one_wsd_cooldown_hypothesis_is_that_cooldown_given():
    x, y = loss_curve()
    point = curvecast.load(wsd_cooldowns=[0.3]).predict(x, y, X_QUERY, config=WSD)
    given = curvecast.load().predict(x, y, X_QUERY, config={**WSD, "cooldown_steps": 2700.0})
    np.testing.assert_allclose(point.median, given.median, rtol=1e-6)
    np.testing.assert_allclose(point.cdf(given.median), given.cdf(given.median), atol=1e-6)


def test_unknown_wsd_cooldown_is_the_mixture_of_its_hypotheses():
    x, y = loss_curve(n=3)  # fewer than 4 points: no backtest, equal weights
    short = curvecast.load(wsd_cooldowns=[0.1])
    long = curvecast.load(wsd_cooldowns=[0.7])
    both = curvecast.load(wsd_cooldowns=[0.1, 0.7])
    a, b, mix = (m.predict(x, y, X_QUERY, config=WSD) for m in (short, long, both))
    assert np.abs(a.median - b.median).max() > 1e-3  # the hypotheses disagree, so the test can fail
    for level in (a.median, b.median, mix.median):
        np.testing.assert_allclose(mix.cdf(level), 0.5 * (a.cdf(level) + b.cdf(level)), atol=1e-5)
    np.testing.assert_allclose(mix.cdf(mix.median), 0.5, atol=1e-3)


def test_unknown_wsd_cooldown_weights_hypotheses_by_how_they_predicted_the_observed_half():
    x, y = loss_curve(n=12)  # 12 points read: the first 6 predict the last 6 under each hypothesis
    run = {"total_steps": 4000.0, "schedule": "wsd"}  # observed up to 75% of the run, through the long cooldowns
    fractions = [0.1, 0.4, 0.7]
    mix = curvecast.load(wsd_cooldowns=fractions).predict(x, y, X_QUERY, config=run)
    model = curvecast.load()
    parts, loglik = [], []
    for f in fractions:
        config = {**run, "cooldown_steps": f * run["total_steps"]}
        parts.append(model.predict(x, y, X_QUERY, config=config))
        backtest = model.predict(x[:6], y[:6], x[6:], config=config, bounds=(-np.inf, np.inf))
        loglik.append(np.maximum(backtest.logpdf(y[6:]), -20.0).sum())
    weights = np.exp(np.array(loglik) - np.logaddexp.reduce(loglik))
    assert weights.max() < 0.99 and np.ptp(weights) > 0.01  # the weights are neither equal nor all on one
    for level in [p.median for p in parts]:
        np.testing.assert_allclose(mix.cdf(level), sum(w * p.cdf(level) for w, p in zip(weights, parts)), atol=1e-4)


def test_wsd_cooldowns_are_validated():
    for bad in ([], [0.0], [1.0], [0.2, float("nan")], "0.2"):
        with pytest.raises(InvalidConfigError, match="wsd_cooldowns"):
            curvecast.load(wsd_cooldowns=bad)


def test_a_cooldown_hypothesis_never_reaches_into_the_warmup():
    x, y = loss_curve()
    run = {**WSD, "warmup_steps": 4500.0}  # half the run: a 70% cooldown is cut to the 50% after the warmup
    cut = curvecast.load(wsd_cooldowns=[0.7]).predict(x, y, X_QUERY, config=run)
    half = curvecast.load(wsd_cooldowns=[0.5]).predict(x, y, X_QUERY, config=run)
    np.testing.assert_allclose(cut.median, half.median, rtol=1e-6)
    other = curvecast.load(wsd_cooldowns=[0.3]).predict(x, y, X_QUERY, config=run)
    assert np.abs(other.median - half.median).max() > 1e-4  # the hypotheses differ below the cut


def test_spread_far_widens_only_queries_far_past_the_observed_points():
    import numpy as np

    import curvecast
    from curvecast.predictor import far_factor

    # 1 up to 10x the last observed x, linear in log x to 2 at 100x, 2 beyond
    np.testing.assert_allclose(far_factor(np.array([1.5, 10.0, 10**1.5, 100.0, 1e4]), 10.0, 2.0), [1.0, 1.0, 1.5, 2.0, 2.0])
    x = np.arange(1.0, 21.0)
    y = 2.0 + 3.0 * x**-0.5
    q = [30.0, 200.0, 20.0 * 10**1.5, 2000.0, 20000.0]  # reach 1.5, 10, 31.6, 100, 1000
    raw = curvecast.load(temperature=1.0, spread=1.0).predict(x, y, q)
    far = curvecast.load(temperature=1.0, spread=1.0, spread_far={"beyond": 10, "spread": 2.0}).predict(x, y, q)
    (lo1, hi1), (lo2, hi2) = raw.interval(0.5), far.interval(0.5)
    np.testing.assert_allclose((hi2 - lo2) / (hi1 - lo1), [1.0, 1.0, 1.5, 2.0, 2.0], rtol=0.03)
    np.testing.assert_allclose(far.median, raw.median, rtol=1e-5)
    # an accuracy near its bound of 1 keeps its median however far it is widened
    acc = 0.95 - 0.5 * x**-0.5
    plain = curvecast.load(temperature=1.0, spread=1.0).predict(x, acc, q, direction="max", bounds=(0.0, 1.0))
    wide = curvecast.load(temperature=1.0, spread=1.0, spread_far={"beyond": 1, "spread": 4.0}).predict(x, acc, q, direction="max", bounds=(0.0, 1.0))
    np.testing.assert_allclose(wide.median, plain.median, atol=1e-3)
    assert np.all(wide.interval(0.9)[1] <= 1.0) and np.all(wide.interval(0.9)[0] < plain.interval(0.9)[0])
    # the shipped calibration holds a rule; an explicit spread turns it off, as does False
    assert curvecast.load().spread_far is not None
    assert curvecast.load(spread=1.3).spread_far is None
    assert curvecast.load(spread_far=False).spread_far is None
    for bad, match in (({"beyond": 10}, "exactly the keys"), ({"beyond": 0.5, "spread": 1.5}, "at least 1"), ({"beyond": 10, "spread": -1.0}, "spread_far")):
        with pytest.raises(curvecast.errors.InvalidConfigError, match=match):
            curvecast.load(spread_far=bad)


def test_spread_few_points_applies_its_factor_to_short_prefixes_only():
    import numpy as np

    import curvecast

    rule = {"below": 4, "spread": 2.0}
    model = curvecast.load(temperature=1.0, spread=1.0, spread_few_points=rule)
    assert model.spread_for("min", 3) == 2.0 and model.spread_for("min", 4) == 1.0 and model.spread_for("max") == 1.0
    x = np.arange(1.0, 21.0)
    y = 2.0 + 3.0 * x**-0.5
    short, long = model.predict_many([curvecast.Curve(x[:3], y[:3], [30.0, 60.0]), curvecast.Curve(x, y, [30.0, 60.0])])
    wide = curvecast.load(temperature=1.0, spread=2.0).predict(x[:3], y[:3], [30.0, 60.0])
    raw = curvecast.load(temperature=1.0, spread=1.0).predict(x, y, [30.0, 60.0])
    np.testing.assert_allclose(short.interval(0.9), wide.interval(0.9), rtol=1e-4)  # batched with a longer curve: padding moves digits
    np.testing.assert_allclose(long.interval(0.9), raw.interval(0.9), rtol=1e-4)
    (lo1, hi1), (lo2, hi2) = curvecast.load(temperature=1.0, spread=1.0).predict(x[:3], y[:3], [30.0, 60.0]).interval(0.5), short.interval(0.5)
    np.testing.assert_allclose((hi2 - lo2) / (hi1 - lo1), 2.0, rtol=0.03)
    # the shipped calibration holds a rule; an explicit spread applies to every curve, False turns the rule off
    assert curvecast.load().spread_few_points is not None
    assert curvecast.load(spread=1.3).spread_few_points is None
    assert curvecast.load(spread_few_points=False).spread_few_points is None
    for bad, match in (({"below": 4}, "exactly the keys"), ({"below": 1, "spread": 1.5}, "at least 2"), ({"below": 4, "spread": 0.0}, "spread_few_points")):
        with pytest.raises(curvecast.errors.InvalidConfigError, match=match):
            curvecast.load(spread_few_points=bad)
