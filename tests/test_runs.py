"""Runs that inform each other: the Run type, free hyperparameters, predict(runs=...), predict_runs."""

import warnings

import numpy as np
import pytest

import curvecast
from curvecast.errors import CurvecastWarning, InvalidConfigError, InvalidCurveError, ShapeError
from curvecast.priors.batch import N_HPARAMS
from curvecast.run import Run, clean_runs, encode_hparams


@pytest.fixture(scope="module")
def model():
    return curvecast.load()


def power_curve(n=30, floor=2.0, scale=3.0, horizon=3000.0, seed=0, noise=0.005):
    x = np.linspace(horizon / n, horizon, n)
    y = floor + scale * (x / 100.0) ** -0.5 + np.random.default_rng(seed).normal(0.0, noise, n)
    return x, y


# --- free hyperparameters ---------------------------------------------------------------------------


def test_numeric_hparams_scale_to_unit_range_log_when_they_span_decades():
    slots = encode_hparams([{"dropout": 0.1, "wd": 1e-4}, {"dropout": 0.3, "wd": 1e-2}, {"dropout": 0.2, "wd": 1e-3}])
    assert slots.slots == (("dropout", None), ("wd", None)) and slots.log_scaled == ("wd",)
    np.testing.assert_allclose(slots.values[:, 0], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(slots.values[:, 1], [0.0, 1.0, 0.5])  # log10: -4, -2, -3
    assert slots.mask[:, :2].all() and not slots.mask[:, 2:].any()


def test_categorical_bool_and_constant_hparams():
    free = [
        {"opt": "adam", "tied": True, "act": "gelu", "seed_like": 7},
        {"opt": "sgd", "tied": False, "act": "relu", "seed_like": 7},
        {"opt": "lion", "tied": True, "act": "gelu", "seed_like": 7},
    ]
    slots = encode_hparams(free)
    # opt has three levels: one slot per level; tied is 0/1; act has two levels: one slot; seed_like is constant.
    assert slots.slots == (("opt", "adam"), ("opt", "sgd"), ("opt", "lion"), ("tied", None), ("act", None))
    np.testing.assert_array_equal(slots.values[:, :5], [[1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 1, 0]])
    assert slots.dropped == ("seed_like",)


def test_hparams_beyond_the_slots_are_left_out_with_a_warning():
    free = [{f"h{i}": float(r + i) for i in range(N_HPARAMS + 2)} for r in range(3)]
    with pytest.warns(CurvecastWarning, match="did not fit"):
        slots = encode_hparams(free)
    assert len(slots.slots) == N_HPARAMS and slots.not_read == ("h8", "h9")


def test_bad_hparams_are_typed_errors():
    with pytest.raises(InvalidConfigError, match="mixes value types"):
        encode_hparams([{"opt": "adam"}, {"opt": 3}])
    with pytest.raises(InvalidConfigError, match="same free keys"):
        encode_hparams([{"dropout": 0.1}, {"wd": 0.1}])
    with pytest.raises(InvalidConfigError, match="finite number"):
        clean_runs([Run([1, 2], [3, 2], {"dropout": float("nan")}), Run([1], [2])], direction="min")
    with pytest.warns(CurvecastWarning, match="did you mean 'total_steps'") as caught:
        clean_runs([Run([1, 2], [3, 2], {"total_step": 100}), Run([1], [2], {"total_step": 200})], direction="min")
    typo = [w for w in caught if "did you mean" in str(w.message)]
    assert len(typo) == 1 and "runs 0, 1" in str(typo[0].message)  # one warning for the typo, naming the runs


def test_clean_runs_rules():
    with pytest.raises(InvalidConfigError, match="direction"):
        clean_runs([Run([1], [2], direction="max"), Run([1], [2])], direction="min")
    with pytest.raises(InvalidCurveError, match="x units"):
        clean_runs([Run([1], [2], x_unit="steps"), Run([1], [3], x_unit="tokens")], direction="min")
    with pytest.warns(CurvecastWarning, match="different units"):
        clean_runs([Run([1, 10], [2, 1]), Run([1e6, 1e7], [3, 2])], direction="min")
    with pytest.warns(CurvecastWarning, match="repeats run 0"):
        runs, _ = clean_runs([Run([1, 2], [2, 1]), Run([1, 2], [2, 1])], direction="min")
    assert len(runs) == 1
    with pytest.raises(InvalidCurveError, match="repeats run 0"):
        clean_runs([Run([1, 2], [2, 1]), Run([1, 2], [2, 1])], direction="min", duplicates="error")
    with pytest.raises(ShapeError, match="run b: .*same length"):
        clean_runs([Run([1, 2], [2, 1], name="a"), Run([1, 2], [2], name="b")], direction="min")
    with pytest.raises(InvalidCurveError, match="list of curvecast.Run"):
        clean_runs(Run([1], [2]), direction="min")


# --- prediction -------------------------------------------------------------------------------------


def test_runs_with_nothing_new_leave_the_target_close_to_alone(model):
    """Other runs that are exact copies of the target's observed part add no information beyond it... but the
    forward pass must still work, return finite numbers and keep the median within the band."""
    x, y = power_curve()
    xq = np.linspace(3100, 6000, 6)
    alone = model.predict(x, y, xq)
    with pytest.warns(CurvecastWarning, match="repeats run"):
        pred = model.predict(x, y, xq, runs=[Run(x, y)])
    lo, hi = pred.interval(0.9)
    assert np.all(np.isfinite(pred.median)) and np.all(lo < pred.median) and np.all(pred.median < hi)
    np.testing.assert_allclose(pred.median, alone.median, rtol=1e-6)


def test_finished_runs_inform_an_unstarted_run(model):
    """Four finished replicate runs of one setup; a fifth, not started, with the same config should be
    predicted near their shared final value, and far more sharply than from its config alone would allow."""
    finals, runs = [], []
    for seed in range(4):
        x, y = power_curve(seed=seed)
        runs.append(Run(x, y, {"n_params": 1e8, "lr": 1e-3}, name=f"seed{seed}"))
        finals.append(y[-1])
    pred = model.predict([], [], [3000.0], config={"n_params": 1e8, "lr": 1e-3}, runs=runs)
    lo, hi = pred.interval(0.9)
    assert lo[0] < np.mean(finals) < hi[0]
    assert hi[0] - lo[0] < 0.5 * (max(r.y[0] for r in runs) - min(finals))


def test_partial_target_uses_its_own_points_and_the_runs(model):
    x, y = power_curve(n=40)
    others = [Run(*power_curve(n=40, floor=2.0 + 0.05 * k, seed=k), config={"dropout": 0.1 * k}) for k in range(1, 4)]
    pred = model.predict(x[:10], y[:10], x[10:], config={"dropout": 0.0}, runs=others)
    # the others are 3 settings; the calibrated context_runs nearest of them are read, each whole
    assert pred.median.shape == (30,) and pred.n_context == 10 + min(3, model.context_runs) * 40
    assert np.all(np.isfinite(pred.logpdf(y[10:])))


def test_predict_runs_one_prediction_per_run_and_joint_samples(model):
    runs = [Run(*power_curve(floor=2.0 + 0.1 * k, seed=k), config={"n_params": 1e7 * 4**k}, name=f"r{k}") for k in range(3)]
    runs.append(Run([], [], {"n_params": 1e7 * 4**3}, name="big"))
    xq = np.linspace(3100, 6000, 5)
    preds = model.predict_runs(runs, xq)
    assert isinstance(preds, curvecast.RunPredictions) and len(preds) == 4
    assert [p.run for p in preds] == ["r0", "r1", "r2", "big"] and preds["big"] is preds[3]
    assert all(p.median.shape == (5,) for p in preds)
    samples = preds.sample(64, seed=1)
    assert [s.shape for s in samples] == [(64, 5)] * 4
    # Joint samples follow each run's marginals exactly (ranks reordered onto quantiles).
    for p, s in zip(preds, samples):
        q = p.quantile([0.05, 0.95])
        assert np.mean((s >= q[0]) & (s <= q[1])) > 0.8
    again = preds.sample(64, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(samples, again))


def test_predict_runs_per_run_queries_and_context_only_runs(model):
    runs = [Run(*power_curve(seed=k), name=f"r{k}") for k in range(3)]
    preds = model.predict_runs(runs, [[3500.0, 4000.0], [], [5000.0]])
    assert preds[1] is None and preds[0].x.tolist() == [3500.0, 4000.0] and preds[2].x.tolist() == [5000.0]
    samples = preds.sample(8, seed=0)
    assert samples[1] is None and samples[0].shape == (8, 2)


def test_runs_temperature_per_kind_applies_to_observed_and_unobserved_runs_apart():
    """One pass predicts a run seen for a while and one not started; each gets its own kind's temperature,
    exactly what a single temperature of that value gives it."""
    runs = [Run(*power_curve(floor=2.0 + 0.1 * k, seed=k), config={"n_params": 1e7 * 4**k}, name=f"r{k}") for k in range(2)]
    x, y = power_curve(floor=2.2, seed=2)
    runs += [Run(x[:8], y[:8], {"n_params": 1e7 * 16}, name="seen"), Run([], [], {"n_params": 1e7 * 64}, name="new")]
    xq = [[], [], [3500.0, 6000.0], [3500.0, 6000.0]]
    split = curvecast.load(temperature_runs={"observed": 0.8, "unobserved": 2.0})
    assert split.runs_temperature(observed=True) == 0.8 and split.runs_temperature(observed=False) == 2.0
    mixed = split.predict_runs(runs, xq)
    for name, factor in (("seen", 0.8), ("new", 2.0)):
        uniform = curvecast.load(temperature_runs=factor).predict_runs(runs, xq)
        np.testing.assert_allclose(mixed[name].interval(0.9), uniform[name].interval(0.9), rtol=1e-6)
        np.testing.assert_allclose(mixed[name].median, uniform[name].median, rtol=1e-6)
    width = lambda p: float(np.subtract(*p.interval(0.9)[::-1])[-1])  # noqa: E731
    assert width(curvecast.load(temperature_runs=2.0).predict_runs(runs, xq)["seen"]) > width(mixed["seen"])
    assert curvecast.load(temperature_runs={"observed": 1.1, "unobserved": 1.1}).temperature_runs == 1.1
    with pytest.raises(InvalidConfigError, match="'observed' .* and 'unobserved'"):
        curvecast.load(temperature_runs={"observed": 1.0})
    with pytest.raises(InvalidConfigError, match=r"temperature_runs\['unobserved'\]"):
        curvecast.load(temperature_runs={"observed": 1.0, "unobserved": 0.0})


def test_runs_ensemble_mixes_readings_that_depend_less_on_the_run_ids_drawn(model):
    """A prediction from several runs read once depends on which run carries which id; mixing 16 readings with the
    ids drawn anew, it moves several times less between two seeds of the ids. The shipped model mixes its calibrated
    count at seed 0; a single curve is read once whatever the setting."""
    runs = [Run(*power_curve(floor=2.0 + 0.1 * k, seed=k), config={"n_params": 1e7 * 4**k}, name=f"r{k}") for k in range(3)]
    x, y = power_curve(floor=2.3, seed=5)

    def reading(predictor):
        return np.ravel(predictor.predict(x[:6], y[:6], [3000.0, 6000.0], config={"n_params": 1e7 * 64}, runs=runs).quantile([0.05, 0.5, 0.95]))

    def shift(members):
        return np.abs(reading(curvecast.load(runs_ensemble=members)) - reading(curvecast.load(runs_ensemble=members, runs_ensemble_seed=1)))

    assert shift(16).mean() < 0.5 * shift(1).mean()
    assert model.runs_ensemble == 4
    np.testing.assert_array_equal(reading(model), reading(curvecast.load(runs_ensemble=model.runs_ensemble, runs_ensemble_seed=0)))
    single = [m.predict(x, y, [4000.0, 8000.0]).quantile([0.05, 0.5, 0.95]) for m in (curvecast.load(runs_ensemble=1), curvecast.load(runs_ensemble=16, runs_ensemble_seed=3))]
    np.testing.assert_array_equal(*single)


@pytest.mark.parametrize("key", ["runs_ensemble", "table_ensemble"])
@pytest.mark.parametrize("value", [0, 65, 1.5, True, "8"])
def test_id_ensembles_reject_anything_but_a_count(key, value):
    with pytest.raises(InvalidConfigError, match=key):
        curvecast.load(**{key: value})
    if value != 65:  # any int >= 0 seeds the ids
        with pytest.raises(InvalidConfigError, match=f"{key}_seed"):
            curvecast.load(**{f"{key}_seed": -1 if value == 0 else value})


def test_too_many_runs_are_subsampled_with_a_warning(model):
    runs = [Run(*power_curve(n=12, seed=k), config={"n_params": 1e6 * 1.3**k}, name=f"r{k}") for k in range(model.max_runs + 5)]
    every_setting = curvecast.load(context_runs=model.max_curve_runs)
    with pytest.warns(CurvecastWarning, match="left out"):
        pred = every_setting.predict([], [], [3000.0], config={"n_params": 1e6 * 1.3 ** (model.max_runs + 5)}, runs=runs)
    assert np.isfinite(pred.median).all()
    with pytest.raises(InvalidCurveError, match="at most"):
        model.predict_runs(runs, [3000.0])


def _ladder(sizes: list[float]) -> list[Run]:
    """Finished runs of a size ladder: the final loss falls with size."""
    return [Run(*power_curve(floor=3.0 - 0.2 * np.log10(n / 1e6), seed=k), {"n_params": n}, name=f"n{n:.0e}") for k, n in enumerate(sizes)]


def test_context_runs_reads_the_nearest_settings():
    """With context_runs=2, a ladder of five sizes is read as its two sizes nearest to the target: the
    prediction is the one given only those two runs, and differs from the one given all five."""
    runs = _ladder([1e6, 3e6, 1e7, 3e7, 1e8])
    two, every = curvecast.load(context_runs=2), curvecast.load(context_runs=12)
    target = {"n_params": 2e8}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # leaving runs out by this choice is silent
        nearest = two.predict([], [], [3000.0], config=target, runs=runs)
    alone = every.predict([], [], [3000.0], config=target, runs=runs[-2:])
    pooled = every.predict([], [], [3000.0], config=target, runs=runs)
    np.testing.assert_allclose(nearest.median, alone.median, rtol=1e-6)
    np.testing.assert_allclose(nearest.quantile([0.05, 0.95]), alone.quantile([0.05, 0.95]), rtol=1e-6)
    assert abs(pooled.median[0] - nearest.median[0]) > 1e-4


def test_context_runs_keeps_every_replicate_of_a_kept_setting():
    """Seeds of one setting count as one: context_runs=1 still reads all four replicates."""
    runs = [Run(*power_curve(seed=k, noise=0.02), {"n_params": 1e7}, name=f"seed{k}") for k in range(4)]
    one, every = curvecast.load(context_runs=1), curvecast.load(context_runs=12)
    a = one.predict([], [], [3000.0], config={"n_params": 1e7}, runs=runs)
    b = every.predict([], [], [3000.0], config={"n_params": 1e7}, runs=runs)
    np.testing.assert_allclose(a.median, b.median, rtol=1e-6)
    assert a.n_context == b.n_context


def test_shipped_context_runs_is_calibrated_and_checked(model):
    assert 1 <= model.context_runs <= model.max_curve_runs
    assert model.context_runs == model.config["calibration"]["context_runs"]
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(InvalidConfigError, match="context_runs"):
            curvecast.load(context_runs=bad)


def test_max_runs_is_calibrated_up_to_the_architecture_and_checked(model):
    assert model.max_runs == model.config["calibration"].get("max_runs", 32) <= model.model.config.max_runs
    assert model.max_curve_runs <= model.max_runs
    fewer = curvecast.load(max_runs=8)
    assert fewer.max_runs == 8 and fewer.max_curve_runs == 8
    for bad in (0, model.model.config.max_runs + 1, 2.5, True, "32"):
        with pytest.raises(InvalidConfigError, match="max_runs"):
            curvecast.load(max_runs=bad)
    runs = [Run([1000.0], [3.0 - 0.1 * k], {"n_params": 1e6 * (k + 1)}, name=f"r{k}") for k in range(9)]
    with pytest.raises(InvalidCurveError, match="at most 8 runs"):
        fewer.predict_runs(runs, [1000.0])


def test_prior_limits_of_a_mixture_are_the_largest_of_its_components():
    from curvecast.predictor import prior_limits

    curves = {"class": "CurvePrior", "params": {"n_points": 64, "max_runs": 32, "max_curve_runs": 12, "max_task_points": 320}}
    bank = {"class": "CurveBank", "params": {"n_points": 96, "n_curves": 10}}
    wide = {"class": "Other", "params": {"max_runs": 16, "max_task_points": 512, "max_curve_runs": None}}
    assert prior_limits(curves) == {"n_points": 64, "max_runs": 32, "max_curve_runs": 12, "max_task_points": 320}
    mixture = {"class": "Mixture", "components": [{"weight": 0.8, **curves}, {"weight": 0.1, **bank}, {"weight": 0.1, **wide}]}
    assert prior_limits(mixture) == {"n_points": 96, "max_runs": 32, "max_curve_runs": 12, "max_task_points": 512}
    assert prior_limits({"class": "Custom"}) == {}
    shipped = curvecast.load()  # its prior is a mixture of the synthetic prior and curve banks
    assert (shipped.max_context, shipped.max_curve_runs, shipped.max_task_points) == (64, 12, 320)


def test_long_runs_are_thinned_to_the_context_budget_with_a_warning(model):
    runs = [Run(*power_curve(n=200, seed=k), name=f"r{k}") for k in range(model.max_task_points // 60 + 2)]
    with pytest.warns(CurvecastWarning, match="thinned evenly"):
        pred = model.predict([], [], [3000.0], runs=runs)
    assert pred.n_context <= model.max_task_points


def test_multi_run_bad_input(model):
    with pytest.raises(InvalidCurveError, match="at least 3 are needed"):
        model.predict([1.0], [2.0], [3.0], runs=[Run([1.0], [2.5])])
    with pytest.raises(InvalidCurveError, match="list of curvecast.Run"):
        model.predict([1, 2, 3], [3, 2, 1], [4], runs=Run([1], [2]))
    with pytest.raises(InvalidCurveError, match="nothing to predict|no run anything"):
        model.predict_runs([Run(*power_curve())], [[]])
    with pytest.raises(ShapeError, match="same length"):
        model.predict_runs([Run([1, 2], [1])], [3.0])


DROPOUTS = [0.0, 0.25, 0.5, 0.75]


def _dropout_sweep() -> list[Run]:
    """Four finished runs whose final loss rises with ``dropout`` (floors 2, 2.5, 3, 3.5)."""
    return [Run(*power_curve(floor=2.0 + 2.0 * d, seed=k), {"dropout": d}, name=f"d{d}") for k, d in enumerate(DROPOUTS)]


def test_free_hparams_move_the_prediction(model):
    """Runs that differ only in a free hyperparameter: the unstarted run's prediction depends on its value."""
    runs = _dropout_sweep()
    low = model.predict([], [], [3000.0], config={"dropout": 0.0}, runs=runs)
    high = model.predict([], [], [3000.0], config={"dropout": 0.75}, runs=runs)
    assert high.median[0] > low.median[0] + 0.1


@pytest.mark.parametrize("which", ["default", "bo"])
def test_shipped_models_follow_free_hparams(which):
    """An unstarted run's median final loss rises with dropout as the sweep's do, by at least half as much
    (shrunk towards the sweep's mean, as a posterior from four runs should be): the default model and
    ``curvecast.bo``'s (the same weights, calibrated differently)."""
    from curvecast.bo import load_bo_predictor

    tuning = curvecast.load() if which == "default" else load_bo_predictor()
    runs = _dropout_sweep()
    medians = np.array([tuning.predict([], [], [3000.0], config={"dropout": d}, runs=runs).median[0] for d in DROPOUTS])
    finals = np.array([r.y[-1] for r in runs])
    assert np.all(np.diff(medians) > 0), medians
    assert medians[-1] - medians[0] > 0.5 * (finals[-1] - finals[0]), (medians, finals)


def test_no_warnings_on_clean_multi_run_input(model):
    runs = [Run(*power_curve(seed=k), config={"lr": 10.0 ** -k}, name=f"r{k}") for k in range(1, 4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_runs(runs, [3500.0])


# --- seed replicates read late ------------------------------------------------------------------------


def _seeds(config: dict | None, n_seeds: int = 4) -> list[Run]:
    return [Run(*power_curve(seed=k, noise=0.02), config, name=f"seed{k}") for k in range(n_seeds)]


def test_seed_replicates_are_read_from_replicate_from_of_their_x_on():
    """Context curves of the target's own setting are read from 0.25 of their last x on: the prediction is the
    one given those curves cut by hand and read whole, and reads 4 x 23 points (x = 700..3000 of 100..3000)."""
    runs = _seeds({"n_params": 1e7})
    late, whole = curvecast.load(replicate_from=0.25), curvecast.load(replicate_from=0.0)
    assert late.replicate_from == 0.25 and whole.replicate_from == 0.0
    pred = late.predict([], [], [3000.0, 4000.0], config={"n_params": 1e7}, runs=runs)
    cut = [Run(r.x[r.x >= 750.0], r.y[r.x >= 750.0], r.config, name=r.name) for r in runs]
    by_hand = whole.predict([], [], [3000.0, 4000.0], config={"n_params": 1e7}, runs=cut)
    assert pred.n_context == 4 * 23 == by_hand.n_context
    np.testing.assert_allclose(pred.median, by_hand.median, rtol=1e-6)
    np.testing.assert_allclose(pred.quantile([0.05, 0.95]), by_hand.quantile([0.05, 0.95]), rtol=1e-6)
    read_whole = whole.predict([], [], [3000.0, 4000.0], config={"n_params": 1e7}, runs=runs)
    assert read_whole.n_context == 4 * 30 and abs(read_whole.median[0] - pred.median[0]) > 1e-5


def test_only_replicates_of_a_stated_setting_are_cut():
    """Runs of other settings, and runs whose setting is told by nothing, are read whole."""
    late, whole = curvecast.load(replicate_from=0.25), curvecast.load(replicate_from=0.0)
    ladder = _ladder([1e6, 3e6])
    unsaid = _seeds(None)
    for runs, config in ((ladder, {"n_params": 1e7}), (unsaid, None)):
        a = late.predict([], [], [3000.0], config=config, runs=runs)
        b = whole.predict([], [], [3000.0], config=config, runs=runs)
        assert a.n_context == b.n_context == sum(r.x.size for r in runs)
        np.testing.assert_allclose(a.median, b.median, rtol=1e-6)
    # a target with points of its own keeps them all; its replicates are cut
    x, y = power_curve(seed=9, noise=0.02)
    seen = late.predict(x[:6], y[:6], [3000.0], config={"lr": 1e-3}, runs=_seeds({"lr": 1e-3}))
    assert seen.n_context == 6 + 4 * 23


def test_replicate_from_is_calibrated_and_checked(model):
    assert model.replicate_from == model.config["calibration"]["replicate_from"]
    for bad in (-0.1, 1.0, 1.5, True, "0.2", [0.2]):
        with pytest.raises(InvalidConfigError, match="replicate_from"):
            curvecast.load(replicate_from=bad)


def test_seed_keys_label_replicates_and_are_not_read():
    """`seed` names the replicate, not the setting: runs that differ only in it are one setting's seeds (all read,
    late), exactly as if the key were absent; other free keys still are read."""
    labelled = [Run(r.x, r.y, {"n_params": 1e7, "seed": k}, name=r.name) for k, r in enumerate(_seeds(None))]
    plain = [Run(r.x, r.y, {"n_params": 1e7}, name=r.name) for r in labelled]
    slots = clean_runs(labelled, direction="min")[1]
    assert slots.slots == () and not slots.mask.any()
    model = curvecast.load(context_runs=1)
    a = model.predict([], [], [3000.0], config={"n_params": 1e7, "random_seed": 9}, runs=labelled)
    b = model.predict([], [], [3000.0], config={"n_params": 1e7}, runs=plain)
    x = labelled[0].x  # 100..3000: each seed is read from the calibrated fraction of its last x on
    assert a.n_context == b.n_context == 4 * int(np.sum(x >= model.replicate_from * x.max())) < 4 * len(x)
    np.testing.assert_allclose(a.quantile([0.05, 0.5, 0.95]), b.quantile([0.05, 0.5, 0.95]), rtol=1e-6)
    with_dropout = clean_runs([Run([1, 2, 3], [3, 2, 1.5], {"seed": 1, "dropout": 0.1}), Run([1, 2, 3], [3, 2.1, 1.6], {"seed": 2, "dropout": 0.2})], direction="min")[1]
    assert with_dropout.slots == (("dropout", None),)


def test_predict_runs_refuses_a_name_given_to_two_runs():
    x = np.arange(1.0, 11.0)
    runs = [curvecast.Run(x, 2.0 + x**-0.5, {"lr": 1e-3}, name="a"), curvecast.Run(x, 3.0 + x**-0.5, {"lr": 3e-3}, name="a")]
    with pytest.raises(InvalidCurveError, match="names \\['a'\\] are given to more than one run"):
        curvecast.load().predict_runs(runs, [20.0], direction="min")
