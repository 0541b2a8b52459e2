"""Pure-numpy parts of benchmarks/scaling.py (hold-outs, metrics, the Chinchilla fit), on synthetic data only."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from curvecast.errors import CurvecastWarning

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("scaling_benchmark", ROOT / "benchmarks" / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


sc = _load_benchmark()

# Hoffmann et al. 2022's fitted law, the truth of the synthetic tables below.
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28


def chinchilla_loss(n, d):
    return E + A / np.asarray(n, float) ** ALPHA + B / np.asarray(d, float) ** BETA


def grid_table(noise=0.0, seed=0):
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 6), np.geomspace(1e9, 1e11, 6))
    n, d = n.ravel(), d.ravel()
    y = chinchilla_loss(n, d) * np.exp(noise * np.random.default_rng(seed).standard_normal(n.size))
    return n, d, y


def points_frame(curves):
    """A real-curve points frame from ``(group, curve_id, metric, direction, config, x, y)`` tuples."""
    rows = []
    for group, curve_id, metric, direction, config, x, y in curves:
        for xi, yi in zip(x, y):
            rows.append({"source": "s", "curve_id": curve_id, "group": group, "config": json.dumps(config), "x": float(xi),
                         "y": float(yi), "metric_name": metric, "direction": direction})
    return pd.DataFrame(rows)


def curve_group(sizes, n_points=10, seeds=False, tokens_per_step=2.0, direction="min"):
    runs = []
    for i, size in enumerate(sizes):
        x = np.arange(n_points, dtype=float) * 10.0
        y = 2.0 + 5.0 / (1.0 + x) + 1.0 / (1.0 + i)
        runs.append(sc.CurveRun(f"r{i}", x, y, float(size), None))
    return sc.CurveGroup("synthetic", "g", direction, tuple(runs), tokens_per_step, seeds=seeds)


# ---------------------------------------------------------------------------------------------- hold-outs


@pytest.mark.parametrize("n, fraction, expected", [(10, 0.0, 0), (10, 0.2, 2), (27, 0.2, 5), (3, 0.2, 1), (1, 0.2, 1), (7, 0.2, 1)])
def test_observed_count(n, fraction, expected):
    assert sc.observed_count(n, fraction) == expected


def test_cascade_holdouts_predict_each_from_strictly_smaller():
    sizes = [30.0, 10.0, 60.0, 20.0, 50.0, 40.0]
    pairs = sc.cascade_holdouts(sizes)
    assert [t for t, _ in pairs] == [2, 4, 5]  # 60, 50, 40
    for target, context in pairs:
        assert all(sizes[i] < sizes[target] for i in context)
        assert sorted(context) == [i for i, s in enumerate(sizes) if s < sizes[target]]


def test_cascade_holdouts_keep_enough_context_and_handle_ties():
    assert [t for t, _ in sc.cascade_holdouts([1.0, 2.0, 3.0, 4.0, 5.0])] == [4, 3]  # 3 would leave 2 runs
    assert sc.cascade_holdouts([1.0, 2.0, 3.0]) == []
    pairs = sc.cascade_holdouts([5.0, 1.0, 5.0, 2.0, 3.0, 4.0])  # two runs share the largest size
    assert [t for t, _ in pairs] == [0, 2, 5]
    np.testing.assert_array_equal(pairs[0][1], [1, 3, 4, 5])  # the other size-5 run is no context
    np.testing.assert_array_equal(pairs[1][1], [1, 3, 4, 5])


def test_seed_holdouts_are_seeded_and_leave_the_target_out():
    a = sc.seed_holdouts(6, sc.holdout_rng(0, "rec"))
    b = sc.seed_holdouts(6, sc.holdout_rng(0, "rec"))
    assert [t for t, _ in a] == [t for t, _ in b]
    assert len(a) == 3 and len({t for t, _ in a}) == 3
    for target, context in a:
        assert target not in context and len(context) == 5
    assert sc.seed_holdouts(4, np.random.default_rng(0)) != []  # 3 others left
    assert sc.seed_holdouts(3, np.random.default_rng(0)) == []
    targets = {tuple(t for t, _ in sc.seed_holdouts(40, sc.holdout_rng(s, "rec"))) for s in range(5)}
    assert len(targets) > 1  # the seed matters


def test_curve_tasks_fractions_and_scale():
    group = curve_group([1e6, 2e6, 3e6, 4e6, 5e6, 6e6])
    tasks0 = sc.curve_tasks(group, 0.0)
    assert [t.run.name for t in tasks0] == ["r5", "r4", "r3"]
    t = tasks0[0]
    assert t.n_obs == 0 and t.x_obs.size == 0 and t.y_obs.size == 0
    assert t.x_final == 90.0 and t.y_true[0] == group.runs[5].y[-1]
    assert t.scale[0] == pytest.approx(np.ptp(group.runs[5].y))
    assert [r.name for r in t.context_runs] == ["r0", "r1", "r2", "r3", "r4"]
    tasks2 = sc.curve_tasks(group, 0.2)
    assert [t.n_obs for t in tasks2] == [2, 2, 2]
    np.testing.assert_array_equal(tasks2[0].x_obs, [0.0, 10.0])


def test_curve_tasks_skip_runs_with_nothing_left_and_seed_groups():
    group = curve_group([1e6, 2e6, 3e6, 4e6], n_points=1)
    (task,) = sc.curve_tasks(group, 0.0)  # the largest; the 2nd would have 2 context runs
    all_y = [r.y[0] for r in group.runs]
    assert task.scale[0] == pytest.approx(max(all_y) - min(all_y))  # one point: the group's range stands in
    assert sc.curve_tasks(group, 0.2) == []  # one point seen, none left
    seeds = curve_group([math.nan] * 5, seeds=True)
    tasks = sc.curve_tasks(seeds, 0.0, seed=3)
    assert len(tasks) == 3 and all(len(t.context) == 4 for t in tasks)
    assert [t.target for t in tasks] == [t.target for t in sc.curve_tasks(seeds, 0.0, seed=3)]


def isoflop_table():
    rows = []
    for c in (1e16, 2e16, 4e16, 8e16):
        for n in np.geomspace(1e6, 1e8, 5 if c < 8e16 else 6):
            rows.append((n, c / (6 * n), c))
    n, d, c = map(np.array, zip(*rows))
    return sc.TableGroup("porian", "setting", n, d, c, chinchilla_loss(n, d))


def test_budget_holdouts_hold_out_the_largest_budgets():
    g = isoflop_table()
    splits = sc.budget_holdouts(g.flops, g.n_params, 0.0)
    assert [b for b, *_ in splits] == [8e16, 4e16, 2e16]  # 1e16 would leave no context
    budget, context, seen, targets = splits[0]
    assert seen.size == 0 and targets.size == 6 and np.all(g.flops[targets] == budget)
    np.testing.assert_array_equal(np.sort(context), np.flatnonzero(g.flops < budget))
    assert len(sc.budget_holdouts(g.flops, g.n_params, 0.0, min_context=11)) == 1  # only 8e16 has 15 rows below


def test_budget_holdouts_see_the_smallest_sizes():
    g = isoflop_table()
    budget, context, seen, targets = sc.budget_holdouts(g.flops, g.n_params, 0.2)[0]
    assert seen.size == 1 and targets.size == 5
    assert g.n_params[seen[0]] == g.n_params[g.flops == budget].min()
    assert np.all(g.n_params[targets] > g.n_params[seen[0]])
    task = sc.table_tasks(g, 0.2)[0]
    np.testing.assert_array_equal(task.fit_rows, np.concatenate([context, seen]))
    np.testing.assert_allclose(task.scale, np.ptp(g.loss[g.flops == budget]))


def test_single_row_budgets():
    n = np.array([1e6, 2e6, 3e6, 4e6, 5e6])
    d = np.full(5, 1e9)
    g = sc.TableGroup("gadre", "g", n, d, 6 * n * d, np.array([5.0, 4.0, 3.5, 3.2, 3.0]))
    assert sc.table_tasks(g, 0.2) == []  # one row per budget: nothing left once it is seen
    tasks = sc.table_tasks(g, 0.0)
    assert [t.flops for t in tasks] == [6 * 5e6 * 1e9, 6 * 4e6 * 1e9]
    np.testing.assert_allclose(tasks[0].scale, [2.0])  # the group's loss range stands in for the budget's


def test_scale_floor():
    assert sc.curve_scale(np.array([3.0, 3.0]), 3.0) == pytest.approx(3e-6)
    assert sc.table_scale(np.array([2.0, 2.5]), 2.0) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------- loading


def test_gemstones_groups_take_sizes_from_the_model_name():
    x = np.array([100.0, 200.0, 300.0])
    frame = points_frame([
        ("main", "m:a", "train_loss", "min", {"model": "A", "params": 1e8, "tokens_per_step": 4194304}, x, [4, 3, 2]),
        ("main", "m:b", "train_loss", "min", {"model": "B", "params": 2e8, "tokens_per_step": 4194304}, x, [4, 3, 1.5]),
        ("bench:x", "b:a", "x_acc", "max", {"model": "A"}, x, [0.2, 0.3, 0.4]),
        ("bench:x", "b:c", "x_acc", "max", {"model": "C"}, x, [0.2, 0.3, 0.4]),  # size unknown: left out
    ])
    groups = {g.name: g for g in sc.gemstones_groups(frame)}
    assert set(groups) == {"main/train_loss", "bench:x/x_acc"}
    bench = groups["bench:x/x_acc"]
    assert [r.n_params for r in bench.runs] == [1e8] and bench.direction == "max"
    assert bench.tokens_per_step == sc.GEMSTONES_TOKENS_PER_STEP
    assert [r.n_params for r in groups["main/train_loss"].runs] == [1e8, 2e8]


def test_pythia_groups_keep_standard_models_and_split_deduped():
    x = np.array([0.0, 1000.0, 2000.0])
    curves = []
    for model, size, deduped in [("pythia-70m", "70m", False), ("pythia-1.4b", "1.4b", False), ("pythia-1.4b-deduped", "1.4b", True),
                                 ("pythia-1.4b-1MtokBS", "1.4b", False), ("pythia-1b-bf16", "1b", False)]:
        config = {"model": model, "size": size, "deduped": deduped}
        curves.append(("zero-shot:task", f"{model}:acc", "task_acc", "max", config, x, [0.2, 0.3, 0.4]))
    groups = {g.name: g for g in sc.pythia_groups(points_frame(curves))}
    assert set(groups) == {"zero-shot:task/task_acc/standard", "zero-shot:task/task_acc/deduped"}
    standard = groups["zero-shot:task/task_acc/standard"]
    assert sorted(r.n_params for r in standard.runs) == [7e7, 1.4e9]
    assert standard.tokens_per_step == sc.PYTHIA_TOKENS_PER_STEP
    assert [r.n_params for r in groups["zero-shot:task/task_acc/deduped"].runs] == [1.4e9]


def test_pythia_size():
    assert sc.pythia_size("70m") == 7e7
    assert sc.pythia_size("1.4b") == pytest.approx(1.4e9)
    with pytest.raises(ValueError):
        sc.pythia_size("big")


def test_modded_and_gadre_curve_groups():
    x = np.array([0.0, 100.0, 200.0])
    curves = [("rec", f"rec:{i}", "val_loss", "min", {"total_steps": 200}, x, [10.0, 4.0, 3.3 + 0.01 * i]) for i in range(4)]
    curves += [("small", f"small:{i}", "val_loss", "min", {"total_steps": 200}, x, [10.0, 4.0, 3.3]) for i in range(3)]
    (group,) = sc.modded_groups(points_frame(curves))
    assert group.seeds and group.tokens_per_step is None and len(group.runs) == 4
    assert group.runs[0].total_steps == 200.0 and math.isnan(group.runs[0].n_params)
    assert sc.run_config(group, group.runs[0]) == {"total_steps": 200.0}

    gadre = points_frame([("rpj:c4", "a", "val_loss", "min", {"N": 1e7}, [1e9, 2e9], [4.0, 3.8])])
    (g,) = sc.gadre_curve_groups(gadre)
    assert g.warmup_skip == 0.0 and g.tokens_per_step == 1.0
    assert sc.run_config(g, g.runs[0]) == {"n_params": 1e7, "n_tokens": 2e9}


def test_table_groups():
    table = pd.DataFrame({"dataset": ["a", "a", "b"], "val_set": ["v", "v", "v"], "N": [1e6, 2e6, 1e6], "D": [1e9, 1e9, 1e9],
                          "C": [6e15, 1.2e16, 6e15], "loss": [4.0, 3.5, np.nan]})
    groups = sc.table_groups(table, sc.GADRE_KEYS, "gadre")
    assert [g.name for g in groups] == ["a/v", "b/v"]
    np.testing.assert_array_equal(groups[0].n_params, [1e6, 2e6])
    assert groups[1].loss.size == 0  # the NaN row is left out


def test_select_groups():
    assert sc.select_groups(list("abc"), None, 0) == list("abc")
    picked = sc.select_groups(list("abcdefgh"), 3, 0)
    assert len(picked) == 3 and picked == sorted(picked) and picked == sc.select_groups(list("abcdefgh"), 3, 0)


# ---------------------------------------------------------------------------------------------- metrics


def test_target_metrics_hand_computed():
    pred = sc.Prediction(logpdf=np.array([-1.0, -np.inf]), median=np.array([2.5, 3.0]), q05=np.array([2.0, 3.5]),
                         q95=np.array([3.0, 4.0]))
    m = sc.target_metrics(pred, np.array([2.0, 3.0]), np.array([2.0, 4.0]))
    assert m[0] == {"nll": pytest.approx(1.0 - math.log(2.0)), "err": pytest.approx(0.25), "covered": True, "nonfinite": False}
    assert m[1]["nll"] == pytest.approx(-sc.LOGPDF_FLOOR) and m[1]["nonfinite"]
    assert m[1]["err"] == 0.0 and not m[1]["covered"]


def test_aggregate_skips_errors_and_counts():
    rows = [
        {"nll": 1.0, "err": 0.1, "covered": True, "nonfinite": False, "warnings": ["thinned"], "fallback": False, "error": None},
        {"nll": 3.0, "err": 0.3, "covered": False, "nonfinite": True, "warnings": [], "fallback": True, "error": None},
        {"nll": 2.0, "err": 0.2, "covered": True, "nonfinite": False, "warnings": [], "fallback": False, "error": None},
        {"warnings": ["x"], "error": "InvalidCurveError: boom"},
    ]
    s = sc.aggregate(rows)
    assert s["nll"] == pytest.approx(2.0) and s["nll_median"] == pytest.approx(2.0)
    assert s["final_err"] == pytest.approx(0.2) and s["coverage90"] == pytest.approx(2 / 3)
    assert (s["n_targets"], s["n_nonfinite"], s["n_warned"], s["n_fallbacks"], s["n_errors"]) == (3, 1, 2, 1, 1)
    assert math.isnan(sc.aggregate([])["nll"])


def _agg(source, fraction, method, nll, err, cov, n=5):
    return {"source": source, "fraction": fraction, "method": method, "nll": nll, "nll_median": nll, "final_err": err,
            "coverage90": cov, "n_targets": n, "n_nonfinite": 0, "n_warned": 0, "n_fallbacks": 0, "n_errors": 0}


def test_targets_met_and_markdown():
    results = [
        _agg("a", 0.0, "multi", -1.0, 0.1, 0.9),
        _agg("a", 0.0, "chinchilla", 0.0, 0.05, 0.5),
        _agg("a", 0.2, "multi", -1.0, 0.1, 0.8),
        _agg("a", 0.2, "single", 0.0, 0.2, 0.9),
        _agg("a", 0.2, "power_law", float("nan"), 0.3, 0.9),
        _agg("b", 0.0, "multi", 1.0, 0.1, 0.9),
        _agg("c", 0.0, "multi", 5.0, 0.5, 0.5),
        _agg("c", 0.0, "table", -2.0, 0.01, 0.92),
        _agg("c", 0.0, "chinchilla", 0.0, 0.05, 0.5),
        _agg("c", 0.2, "table", -2.0, 0.01, 0.92, n=0),
        _agg("c", 0.2, "multi", 1.0, 0.1, 0.9),
        _agg("c", 0.2, "chinchilla", 0.0, 0.05, 0.5),
        _agg("d", 0.2, "final", -0.5, 0.04, 0.97),
        _agg("d", 0.2, "multi", -3.0, 0.01, 0.9),
        _agg("d", 0.2, "chinchilla", -0.4, 0.05, 0.8),
    ]
    met = {(r["source"], r["fraction"]): r for r in sc.target_rows(results)}
    # the pooled answer comes first where it ran: compared with chinchilla only, never with multi or table
    assert (met["d", 0.2]["answer"], met["d", 0.2]["nll"], met["d", 0.2]["final_err"], met["d", 0.2]["coverage"]) == ("final", True, True, False)
    # the table reading is the answer where it ran (the worse multi is not compared with it); else multi
    assert (met["c", 0.0]["answer"], met["c", 0.0]["nll"], met["c", 0.0]["final_err"], met["c", 0.0]["coverage"]) == ("table", True, True, True)
    assert (met["c", 0.2]["answer"], met["c", 0.2]["nll"], met["c", 0.2]["final_err"]) == ("multi", False, False)
    assert met["a", 0.0]["answer"] == "multi"
    assert (met["a", 0.0]["nll"], met["a", 0.0]["final_err"], met["a", 0.0]["coverage"]) == (True, False, True)
    assert (met["a", 0.2]["nll"], met["a", 0.2]["final_err"], met["a", 0.2]["coverage"]) == (True, True, False)
    assert (met["b", 0.0]["nll"], met["b", 0.0]["final_err"]) == (None, None)
    optima = [{"group": "s", "flops": 1e18, "best_n": 1e8, "median_n": 2e8, "low_n": 5e7, "high_n": 4e8, "hit": True,
               "at_edge": False, "log10_ratio": math.log10(2), "error": None}]
    meta = {"seed": 0, "max_groups": 2, "model_path": "m", "wall_time_s": 1.0, "platform": "p", "machine": "x86_64",
            "cpu_count": 2, "torch_version": "t", "timestamp": "now"}
    md = sc.markdown_report(results, optima, [], "python benchmarks/scaling.py", list(sc.METHODS), meta)
    assert "| a | 0.0 | 5 | **-1.000** | 0.100 | 0.90 | – | – | – |" in md
    assert "| a | 0.0 | multi | ✓ | ✗ | ✓ |" in md and "| b | 0.0 | multi | – | – | ✓ |" in md
    assert "| c | 0.0 | table | ✓ | ✓ | ✓ |" in md
    assert "Hit rate 1/1" in md and sc.optimum_summary(optima)["median_abs_log10_ratio"] == pytest.approx(math.log10(2))


def test_json_safe():
    assert sc.json_safe({"a": [float("nan"), np.float64(1.5), np.int64(2), float("inf")]}) == {"a": [None, 1.5, 2, None]}


def _warn_twice():
    warnings.warn("thinned", CurvecastWarning, stacklevel=1)
    warnings.warn("other", RuntimeWarning, stacklevel=1)


def test_quiet_curvecast_counts_its_warnings_and_passes_others_on():
    with pytest.warns(RuntimeWarning, match="other"), sc.quiet_curvecast() as messages:
        _warn_twice()
    assert messages == ["thinned"]


# ---------------------------------------------------------------------------------------------- chinchilla


def test_huber_objective_gradient():
    rng = np.random.default_rng(0)
    log_n, log_d = rng.uniform(15, 20, 30), rng.uniform(20, 25, 30)
    log_l = np.log(chinchilla_loss(np.exp(log_n), np.exp(log_d))) + 0.01 * rng.standard_normal(30)
    for theta in (np.array([6.0, 6.0, 0.5, 0.34, 0.28]), np.array([5.0, 0.5, 0.3])):
        value = lambda t: sc.huber_objective(t, log_n, log_d, log_l, delta=0.1)[0]  # smooth region mostly
        grad = lambda t: sc.huber_objective(t, log_n, log_d, log_l, delta=0.1)[1]
        assert optimize.check_grad(value, grad, theta, epsilon=1e-7) < 1e-4 * max(1.0, np.abs(grad(theta)).max())


def test_chinchilla_recovers_known_parameters():
    n, d, y = grid_table()
    fit = sc.fit_chinchilla(n, d, y, n_bootstrap=2)
    c = fit.coefficients()
    assert fit.with_n and fit.n_points == 36
    assert c["E"] == pytest.approx(E, rel=1e-3) and c["A"] == pytest.approx(A, rel=1e-2) and c["B"] == pytest.approx(B, rel=1e-2)
    assert c["alpha"] == pytest.approx(ALPHA, abs=1e-3) and c["beta"] == pytest.approx(BETA, abs=1e-3)
    assert fit.sigma == sc.SIGMA_FLOOR  # an exact fit: the floor
    pred = sc.chinchilla_prediction(fit, [1e10], [2e11], chinchilla_loss([1e10], [2e11]))
    assert pred.median[0] == pytest.approx(chinchilla_loss(1e10, 2e11), rel=1e-3)
    assert pred.q05[0] < chinchilla_loss(1e10, 2e11) < pred.q95[0]


def test_chinchilla_with_noise_predicts_within_its_interval():
    n, d, y = grid_table(noise=0.005, seed=1)
    fit = sc.fit_chinchilla(n, d, y, n_bootstrap=5, seed=0)
    assert fit.bootstrap.shape == (5, 5)
    assert 0.002 < fit.sigma < 0.01
    truth = chinchilla_loss([3e9], [3e11])
    pred = sc.chinchilla_prediction(fit, [3e9], [3e11], truth)
    assert pred.median[0] == pytest.approx(truth[0], rel=0.03)
    assert np.isfinite(pred.logpdf[0])


def test_chinchilla_without_size_term():
    d = np.geomspace(1e3, 1e5, 30)
    fit = sc.fit_chinchilla(np.full(30, np.nan), d, 2.0 + 50.0 / d**0.5, n_bootstrap=1)
    c = fit.coefficients()
    assert not fit.with_n and math.isnan(c["A"]) and math.isnan(c["alpha"])
    assert (c["E"], c["B"], c["beta"]) == (pytest.approx(2.0, rel=1e-4), pytest.approx(50.0, rel=1e-3), pytest.approx(0.5, abs=1e-4))
    same_size = sc.fit_chinchilla(np.full(30, 1e8), d, 2.0 + 50.0 / d**0.5, n_bootstrap=1)
    assert not same_size.with_n  # one size: the N term is not identifiable


def test_chinchilla_max_metrics_fit_one_minus_y():
    n, d, loss = grid_table()
    accuracy = 1.0 - loss / 10.0
    fit = sc.fit_chinchilla(n, d, accuracy, direction="max", n_bootstrap=1)
    assert fit.flip and fit.coefficients()["alpha"] == pytest.approx(ALPHA, abs=1e-3)
    truth = 1.0 - chinchilla_loss([1e10], [1e12]) / 10.0
    pred = sc.chinchilla_prediction(fit, [1e10], [1e12], truth)
    assert pred.median[0] == pytest.approx(truth[0], rel=1e-3)
    assert pred.q05[0] < pred.median[0] < pred.q95[0]
    assert sc.chinchilla_prediction(fit, [1e10], [1e12], [1.5]).logpdf[0] == -np.inf  # 1 - y <= 0: outside the support


def test_chinchilla_prediction_is_a_lognormal_mixture():
    theta = np.log(np.array([A, B, E]))
    theta = np.array([theta[0], theta[1], theta[2], ALPHA, BETA])
    n, d = np.array([1e8, 1e9]), np.array([1e10, 1e11])
    single = sc.ChinchillaFit(theta, np.empty((0, 5)), 0.05, False, 10)
    y = np.array([2.5, 2.2])
    pred = sc.chinchilla_prediction(single, n, d, y)
    mu = np.log(chinchilla_loss(n, d))
    np.testing.assert_allclose(pred.median, np.exp(mu), rtol=1e-9)
    np.testing.assert_allclose(pred.q05, np.exp(mu + 0.05 * stats.norm.ppf(0.05)), rtol=1e-9)
    np.testing.assert_allclose(pred.logpdf, stats.lognorm(0.05, scale=np.exp(mu)).logpdf(y), rtol=1e-9)

    shifted = theta + np.array([0, 0, 0, 0.02, 0])
    mixture = sc.ChinchillaFit(theta, shifted[None], 0.05, False, 10)
    pred = sc.chinchilla_prediction(mixture, n, d, y)
    mus = np.stack([mu, sc.chinchilla_log_loss(shifted, np.log(n), np.log(d))])
    cdf = lambda v: stats.norm.cdf((np.log(v) - mus) / 0.05).mean(axis=0)
    np.testing.assert_allclose(cdf(pred.q05), 0.05, atol=1e-6)
    np.testing.assert_allclose(cdf(pred.q95), 0.95, atol=1e-6)
    np.testing.assert_allclose(cdf(pred.median), 0.5, atol=1e-6)
    density = stats.lognorm(0.05, scale=np.exp(mus)).pdf(y).mean(axis=0)
    np.testing.assert_allclose(pred.logpdf, np.log(density), rtol=1e-9)


def test_chinchilla_curve_points_skip_warmup_and_add_the_observed_points():
    group = curve_group([1e6, 2e6, 3e6, 4e6], n_points=11)  # x = 0, 10, ..., 100; tokens per step 2
    (task,) = [t for t in sc.curve_tasks(group, 0.2) if t.target == 3]
    n, d, _, labels = sc.chinchilla_curve_points(task)
    context = labels < 3
    assert np.all(d[context] >= 2 * 10.0)  # each context run's first 10% of x (x < 10) is left out
    assert np.sum(context) == 3 * 10
    np.testing.assert_array_equal(d[~context], [0.0, 20.0])  # the held-out run's 2 observed points, as tokens
    np.testing.assert_array_equal(n[~context], [4e6, 4e6])


# ---------------------------------------------------------------------------------------------- end to end


def test_main_on_synthetic_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sc, "N_BOOTSTRAP", 2)
    monkeypatch.setattr(sc, "GRID_LOG_COEF", (0.0, 10.0))
    monkeypatch.setattr(sc, "GRID_LOG_E", (0.0,))
    monkeypatch.setattr(sc, "GRID_EXPONENT", (0.5,))  # 4 starts: keeps the test fast
    g = isoflop_table()
    pd.DataFrame({"dataset": "rw", "hparams": "base", "warmup": "long", "decay": "kaplan", "param_count": "std", "val": "val",
                  "file": "f", "C": g.flops, "N": g.n_params, "D": g.n_tokens, "loss": g.loss}).to_csv(
        tmp_path / "porian2024_isoflop_table.csv", index=False)
    x = np.arange(1.0, 21.0) * 100
    curves = [("main", f"m:{i}", "train_loss", "min", {"model": str(i), "params": size, "tokens_per_step": 4194304}, x,
               chinchilla_loss(size, x * 4194304)) for i, size in enumerate([1e7, 3e7, 1e8, 3e8])]
    points_frame(curves).to_parquet(tmp_path / "gemstones.parquet")
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    code = sc.main(["--data", str(tmp_path), "--sources", "porian", "gemstones", "--methods", "power_law", "chinchilla",
                    "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    payload = json.loads(out_json.read_text())
    keys = {(r["source"], r["fraction"], r["method"]) for r in payload["results"]}
    assert keys == {("porian", 0.0, "chinchilla"), ("porian", 0.2, "chinchilla"), ("gemstones", 0.0, "chinchilla"),
                    ("gemstones", 0.2, "chinchilla"), ("gemstones", 0.2, "power_law")}
    by_key = {(r["source"], r["fraction"], r["method"]): r for r in payload["results"]}
    assert by_key["porian", 0.0, "chinchilla"]["n_targets"] == 6 + 5 + 5
    assert by_key["gemstones", 0.0, "chinchilla"]["n_targets"] == 1
    assert by_key["porian", 0.0, "chinchilla"]["final_err"] < 0.05  # the data follow the law exactly
    assert payload["optimum"] == []  # multi did not run
    assert payload["meta"]["groups"]["gemstones"] == ["main/train_loss"]
    assert "| porian | 0.0 |" in out_md.read_text()
    assert sc.main(["--data", str(tmp_path / "nope"), "--sources", "porian", "--methods", "chinchilla"]) == 2
    assert "does not exist" in capsys.readouterr().err
    # --context-runs overrides the model's calibrated choice and is recorded; a non-positive value is refused.
    code = sc.main(["--data", str(tmp_path), "--sources", "gemstones", "--methods", "multi", "--context-runs", "2",
                    "--replicate-from", "0.5", "--json", str(out_json)])
    meta = json.loads(out_json.read_text())["meta"]
    assert code == 0 and meta["context_runs"] == 2 and meta["replicate_from"] == 0.5
    for bad in (["--context-runs", "0"], ["--replicate-from", "1"], ["--replicate-from", "-0.1"]):
        with pytest.raises(SystemExit):
            sc.parse_args(bad)


def test_reused_rows_checks_the_file_before_anything_runs(tmp_path):
    groups = {"porian": [SimpleNamespace(name="g1")]}
    rows = [
        {"source": "porian", "method": "chinchilla", "nll": 1.0},
        {"source": "porian", "method": "multi", "nll": 2.0},
        {"source": "gadre", "method": "chinchilla", "nll": 3.0},
    ]
    good = tmp_path / "baselines.json"
    good.write_text(json.dumps({"meta": {"seed": 0, "groups": {"porian": ["g1"]}}, "per_target": rows}))
    # Only the methods not run now, and only the sources run now.
    assert sc.reused_rows(good, groups, 0, ["multi"]) == [rows[0]]
    with pytest.raises(ValueError, match="--seed 0"):
        sc.reused_rows(good, groups, 1, ["multi"])
    with pytest.raises(ValueError, match="groups differ"):
        sc.reused_rows(good, {"porian": [SimpleNamespace(name="other")]}, 0, ["multi"])
    trimmed = tmp_path / "trimmed.json"
    trimmed.write_text(json.dumps({"meta": {"seed": 0, "groups": {"porian": ["g1"]}}, "results": []}))
    with pytest.raises(ValueError, match="no per-target rows"):
        sc.reused_rows(trimmed, groups, 0, ["multi"])
