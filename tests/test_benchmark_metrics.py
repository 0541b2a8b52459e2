"""Metrics and baselines of benchmarks/realcurves.py, on synthetic curves (no shared data needed)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import curvecast
from curvecast.errors import CurvecastWarning

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark(name: str = "realcurves"):
    """``benchmarks/NAME.py`` as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


rc = _load_benchmark()


def make_curve(x, y, direction="min", curve_id="c", source="synthetic", metric_name="loss") -> rc.RealCurve:
    return rc.RealCurve(source, curve_id, metric_name, direction, "{}", np.asarray(x, float), np.asarray(y, float))


def power_law_curve(n=20, noise=0.0, seed=0, a=2.0, b=3.0, c=0.5, x0=1.0):
    x = x0 * np.geomspace(1, 1000, n)
    y = a + b * x ** (-c) + noise * np.random.default_rng(seed).standard_normal(n)
    return make_curve(x, y)


def test_curve_metrics_hand_computed():
    curve = make_curve([1, 2, 3, 4, 5], [4.0, 3.0, 2.0, 1.0, 0.0])  # range 4
    task = rc.Task(curve, 3)  # held out: y = 1, 0
    pred = rc.Prediction(
        logpdf=np.array([-1.0, -3.0]),
        median=np.array([1.0, 0.5]),
        q05=np.array([0.5, 0.6]),
        q95=np.array([1.5, 0.9]),
    )
    m = rc.curve_metrics(task, pred)
    assert m["nll"] == pytest.approx(2.0 - math.log(4.0))
    assert m["nll_capped"] == pytest.approx(m["nll"])
    assert m["final_err"] == pytest.approx(0.5 / 4.0)
    assert m["final_bias"] == pytest.approx(0.5 / 4.0)  # a loss forecast above the outcome: pessimistic
    assert m["coverage"] == pytest.approx(0.5)
    assert (m["miss_worse"], m["miss_better"]) == (0.0, 0.5)  # y = 0 lies below q05 = 0.6: a loss better than forecast
    assert m["n_nonfinite"] == 0
    accuracy = make_curve([1, 2, 3, 4, 5], [0.0, 1.0, 2.0, 3.0, 4.0], direction="max")
    flipped = rc.Prediction(logpdf=pred.logpdf, median=np.array([3.0, 3.5]), q05=pred.q05, q95=pred.q95)
    m = rc.curve_metrics(rc.Task(accuracy, 3), flipped)
    assert m["final_bias"] == pytest.approx(0.5 / 4.0)  # 3.5 < 4
    assert (m["miss_worse"], m["miss_better"]) == (0.0, 1.0)  # y = 3, 4 above q95: accuracies better than forecast


def test_curve_metrics_nll_is_density_of_y_over_range():
    # the same Gaussian prediction in rescaled units gives the same range-normalized NLL
    y = np.array([0.0, 1.0, 2.0, 2.5, 2.7, 2.8])
    results = []
    for scale in (1.0, 1000.0):
        curve = make_curve(np.arange(1, 7), y * scale)
        task = rc.Task(curve, 3)
        mean, std = np.full(3, 2.0 * scale), np.full(3, 0.5 * scale)
        results.append(rc.curve_metrics(task, rc.location_scale_prediction(mean, std, task.y_query))["nll"])
    assert results[0] == pytest.approx(results[1])


def test_curve_metrics_nonfinite_is_floored_and_counted():
    curve = make_curve([1, 2, 3, 4, 5], [4.0, 3.0, 2.0, 1.0, 0.0])
    task = rc.Task(curve, 3)
    pred = rc.Prediction(np.array([-np.inf, np.nan]), np.array([1.0, np.nan]), np.array([0.0, np.nan]), np.ones(2))
    m = rc.curve_metrics(task, pred)
    assert m["n_nonfinite"] == 2 and m["nll"] == pytest.approx(-rc.LOGPDF_FLOOR)
    assert m["nll_capped"] == pytest.approx(rc.NLL_CAP)
    assert m["final_err"] == math.inf and m["coverage"] == 0.5  # NaN quantiles never cover


def test_aggregate():
    per_curve = [
        {"nll": 1.0, "nll_capped": 1.0, "final_err": 0.1, "final_bias": -0.1, "coverage": 1.0, "miss_worse": 0.0, "miss_better": 0.0, "n_nonfinite": 0},
        {"nll": 2.0, "nll_capped": 2.0, "final_err": 0.3, "final_bias": 0.3, "coverage": 0.5, "miss_worse": 0.5, "miss_better": 0.0, "n_nonfinite": 1},
        {"nll": 60.0, "nll_capped": 9.0, "final_err": 0.2, "final_bias": 0.2, "coverage": 0.0, "miss_worse": 0.25, "miss_better": 0.75, "n_nonfinite": 0},
    ]
    agg = rc.aggregate(per_curve)
    assert agg == {"nll": 21.0, "nll_median": 2.0, "nll_capped": 4.0, "final_err": 0.2, "final_bias": 0.2,
                   "coverage90": 0.5, "miss_worse": 0.25, "miss_better": 0.25, "n_curves": 3, "n_nonfinite": 1}
    assert rc.aggregate([])["n_curves"] == 0


def test_make_tasks_observed_counts_and_skips():
    c5 = make_curve(np.arange(5), np.arange(5.0))
    c10 = make_curve(np.arange(10), np.arange(10.0))
    assert [t.n_obs for t in rc.make_tasks([c5, c10], 0.2)] == [3, 3]
    assert [t.n_obs for t in rc.make_tasks([c5, c10], 0.6)] == [3, 6]
    # 0.99 * n rounds to n for short curves: nothing left to predict, so they are skipped
    c200 = make_curve(np.arange(200), np.arange(200.0))
    tasks = rc.make_tasks([c5, c10, c200], 0.99)
    assert len(tasks) == 1 and tasks[0].n_obs == 198 and len(tasks[0].x_query) == 2


def test_select_curves_filters_and_is_seeded():
    good = [make_curve(np.arange(6), np.arange(6.0) + i, curve_id=str(i)) for i in range(50)]
    bad = [
        make_curve(np.arange(4), np.arange(4.0), curve_id="short"),
        make_curve(np.arange(6), np.full(6, 0.5), curve_id="flat"),
        make_curve(np.arange(6), [0.9209] * 5 + [0.9209 + 1.1e-16], curve_id="ulp-flat"),
    ]
    assert rc.select_curves(bad, 10, 0) == []
    picked = rc.select_curves(good + bad, 10, seed=3)
    assert len(picked) == 10 and picked == rc.select_curves(good + bad, 10, seed=3)
    assert picked != rc.select_curves(good + bad, 10, seed=4)
    assert [c.curve_id for c in picked] == sorted((c.curve_id for c in picked), key=int)  # original order
    assert len(rc.select_curves(good, 100, 0)) == 50


def test_positive_time():
    obs = np.array([0.0, 250.0, 500.0])
    assert rc.positive_time(obs, np.array([0.0, 1000.0])).tolist() == [250.0, 1250.0]
    obs = np.array([-1.0, 0.0, 1.0])
    assert rc.positive_time(obs, obs).tolist() == [1.0, 2.0, 3.0]
    obs = np.array([16.0, 23.0])
    assert rc.positive_time(obs, obs).tolist() == [16.0, 23.0]


def test_last_value_gaussian():
    curve = make_curve(np.arange(1, 21), np.linspace(1.0, 0.5, 20) + 0.01 * np.sin(np.arange(20)))
    task = rc.Task(curve, 10)
    mean, std = rc.last_value_gaussian(task)
    assert np.all(mean == curve.y[9])
    assert np.all(np.diff(std) > 0) and np.all(std > 0)
    # a flat observed part still gets a positive, finite width
    flat = rc.Task(make_curve(np.arange(8), [0.3] * 5 + [0.4, 0.5, 0.6]), 5)
    mean, std = rc.last_value_gaussian(flat)
    assert np.all(np.isfinite(std)) and np.all(std > 0)


def test_power_law_recovers_a_power_law():
    curve = power_law_curve(n=30, noise=1e-3)
    task = rc.Task(curve, 15)
    fit = rc.fit_power_law(task.x_obs, task.y_obs)
    mean, std = rc.power_law_gaussian(fit, task.x_obs, task.x_query)
    truth = 2.0 + 3.0 * task.x_query ** (-0.5)
    assert np.max(np.abs(mean - truth)) < 0.02
    assert np.all(std > 0) and np.all(np.diff(std) >= -1e-12)  # wider further out
    (pred,) = rc.predict_power_law([task])
    assert not pred.fallback
    assert rc.curve_metrics(task, pred)["coverage"] >= 0.8


def test_power_law_handles_rising_curves_and_step_zero():
    x = np.arange(0, 2000, 100.0)  # starts at step 0
    y = 0.9 - 0.6 * (x + 100) ** (-0.4)  # an accuracy rising to 0.9
    task = rc.Task(make_curve(x, y, direction="max"), 10)
    (pred,) = rc.predict_power_law([task])
    assert not pred.fallback
    assert np.max(np.abs(pred.median - task.y_query)) < 0.01


@pytest.mark.parametrize(
    "y",
    [
        [1.0, 0.5, 0.4, 0.35, 0.33, 0.32],  # 3 observed points: no residual dof
        [0.5, 0.5, 0.5, 0.5, 0.6, 0.7],  # flat observed part
    ],
)
def test_power_law_falls_back_to_last_value(y):
    n_obs = 3 if y[0] == 1.0 else 4
    task = rc.Task(make_curve(np.arange(1, 7), y), n_obs)
    (pred,) = rc.predict_power_law([task])
    (lv,) = rc.predict_last_value([task])
    assert pred.fallback
    np.testing.assert_array_equal(pred.median, lv.median)
    np.testing.assert_array_equal(pred.logpdf, lv.logpdf)


def test_baselines_never_produce_nan():
    rng = np.random.default_rng(1)
    tasks = []
    for i in range(30):
        n = int(rng.integers(5, 40))
        x = np.sort(rng.choice(np.arange(-1, 10_000), size=n, replace=False)).astype(float)
        y = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 3) + 10.0 ** rng.uniform(-3, 3)
        if i % 5 == 0:
            y = np.exp(-np.arange(n) / 3.0)  # a sharp drop then flat
        tasks.append(rc.Task(make_curve(x, y), max(3, n // 2)))
    for method in (rc.predict_last_value, rc.predict_power_law):
        for task, pred in zip(tasks, method(tasks)):
            for key in ("logpdf", "median", "q05", "q95"):
                values = getattr(pred, key)
                assert values.shape == task.y_query.shape and np.all(np.isfinite(values)), (method, key)
            assert np.all(pred.q05 < pred.q95)


def test_student_t_predictive_is_wider():
    task = rc.Task(power_law_curve(n=12, noise=1e-2), 6)
    (gauss,) = rc.predict_power_law([task], predictive="gaussian")
    (student,) = rc.predict_power_law([task], predictive="student_t")
    np.testing.assert_allclose(gauss.median, student.median)
    assert np.all(student.q95 - student.q05 > gauss.q95 - gauss.q05)
    dof = 6 - 3
    ratio = (student.q95 - student.q05) / (gauss.q95 - gauss.q05)
    np.testing.assert_allclose(ratio, stats.t.ppf(0.95, dof) / stats.norm.ppf(0.95))


def _row(source, fraction, method, nll, err, cov, n=10):
    return {"source": source, "fraction": fraction, "method": method, "nll": nll, "nll_median": nll, "nll_capped": nll,
            "final_err": err, "coverage90": cov, "n_curves": n, "n_fallbacks": 0, "n_nonfinite": 0}


def test_targets_and_markdown():
    rows = [
        _row("a", 0.2, "last_value", 1.0, 0.3, 0.8),
        _row("a", 0.2, "power_law", 2.0, 0.2, 0.7),
        _row("a", 0.2, "curvecast", 0.5, 0.2, 0.9),
        _row("a", 0.4, "last_value", 0.1, 0.3, 0.8),
        _row("a", 0.4, "power_law", 2.0, 0.2, 0.7),
        _row("a", 0.4, "curvecast", 0.5, 0.25, 0.99),
    ]
    assert rc.target_rows(rows) == [
        {"source": "a", "fraction": 0.2, "nll": True, "final_err": True, "coverage": True},
        {"source": "a", "fraction": 0.4, "nll": False, "final_err": False, "coverage": False},
    ]
    meta = {"max_curves": 10, "seed": 0, "power_law_predictive": "gaussian", "model_path": None,
            "wall_time_s": 1.0, "platform": "test", "cpu_count": 1, "torch_version": "x", "timestamp": "now"}
    md = rc.markdown_report(rows, "python benchmarks/realcurves.py --max-curves 10", list(rc.METHODS), meta)
    assert "python benchmarks/realcurves.py --max-curves 10" in md
    assert "| a | 0.2 | 10 | 1.000 | 0.300 | 0.80 | 2.000 | 0.200 | 0.70 | **0.500** | 0.200 | 0.90 | ✓ / ✓ / ✓ |" in md
    assert "| a | 0.4 | 10 | **0.100** |" in md and "✗ / ✗ / ✗" in md
    assert "| a | 1/2 | 1/2 | 1/2 |" in md


def test_nll_target_needs_the_mean_and_the_median_below_both_baselines():
    lv, pl = _row("a", 0.2, "last_value", 1.0, 0.3, 0.8), _row("a", 0.2, "power_law", 2.0, 0.2, 0.7)
    both = _row("a", 0.2, "curvecast", 0.5, 0.2, 0.9)
    assert rc.targets({"last_value": lv, "power_law": pl, "curvecast": both})["nll"]
    # a better mean carried by the baselines' heavy tails, with the typical curve worse: not met
    heavy_tails = {**both, "nll_median": 1.5}
    assert not rc.targets({"last_value": lv, "power_law": pl, "curvecast": heavy_tails})["nll"]
    # and a better median with a worse mean: not met either
    assert not rc.targets({"last_value": lv, "power_law": pl, "curvecast": {**both, "nll": 1.2}})["nll"]


def test_bootstrap_nll_target_reads_the_resampled_median():
    # curvecast wins 3 of 4 curves by a little and loses one by a lot: the mean loses, the median wins, so
    # the target holds in no resample whose mean it loses.
    cells = {
        "last_value": [_metrics(1.0, 1.0, 0.9)] * 4,
        "power_law": [_metrics(1.0, 1.0, 0.9)] * 4,
        "curvecast": [_metrics(0.9, 1.0, 0.9)] * 3 + [_metrics(9.0, 1.0, 0.9)],
    }
    b = rc.bootstrap_targets(cells, 2000, seed=3)
    # The target holds exactly when the resample draws no copy of the bad curve: (3/4)^4 = 0.316.
    assert b["p_nll"] == pytest.approx(0.75**4, abs=0.03)


def _metrics(nll, err, cov):
    return {"nll": nll, "final_err": err, "coverage": cov}


def test_bootstrap_targets_certain_and_coin_flip_cells():
    # curvecast wins every curve on NLL and error, and covers 0.9 of each: every resample meets all three.
    firm = {
        "last_value": [_metrics(1.0, 0.3, 0.5)] * 8,
        "power_law": [_metrics(2.0, 0.2, 0.5)] * 8,
        "curvecast": [_metrics(0.5, 0.1, 0.9)] * 8,
    }
    b = rc.bootstrap_targets(firm, 200, seed=0)
    assert (b["p_nll"], b["p_final_err"], b["p_coverage"]) == (1.0, 1.0, 1.0)
    assert b["coverage90_q05"] == pytest.approx(0.9) and b["coverage90_q95"] == pytest.approx(0.9)
    # Half of the curves covered fully, half not at all: a resample's coverage is a binomial share, in band
    # [0.85, 0.95] only by chance; with 2 curves, never (0, 0.5 or 1).
    split = {m: [_metrics(0.0, 0.0, c) for c in (1.0, 0.0)] for m in ("last_value", "power_law", "curvecast")}
    b = rc.bootstrap_targets(split, 500, seed=1)
    assert b["p_coverage"] == 0.0
    assert b["p_nll"] == 0.0  # a tie is not below both baselines
    assert b["p_final_err"] == 1.0  # a tie is no worse than the better baseline
    # curvecast beats the power law on curve 0 and loses on curve 1 by as much: the NLL target holds in a
    # resample exactly when it draws curve 0 more often than curve 1.
    one = {
        "last_value": [_metrics(9.0, 1.0, 0.9), _metrics(9.0, 1.0, 0.9)],
        "power_law": [_metrics(1.0, 1.0, 0.9), _metrics(0.0, 1.0, 0.9)],
        "curvecast": [_metrics(0.0, 1.0, 0.9), _metrics(1.0, 1.0, 0.9)],
    }
    b = rc.bootstrap_targets(one, 4000, seed=2)
    # Resample of 2: (0, 0) wins (mean 0 < 1), (1, 1) loses, mixed ties (0.5 vs 0.5): P(win) = 1/4.
    assert b["p_nll"] == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match="same curves"):
        rc.bootstrap_targets({**one, "curvecast": one["curvecast"][:1]}, 10, seed=0)


def test_markdown_reports_bootstrap_robustness():
    rows = [
        _row("a", 0.2, "last_value", 1.0, 0.3, 0.8),
        _row("a", 0.2, "power_law", 2.0, 0.2, 0.7),
        {**_row("a", 0.2, "curvecast", 0.5, 0.2, 0.9), "bootstrap": {
            "n_resamples": 100, "p_nll": 1.0, "p_final_err": 0.5, "p_coverage": 0.0,
            "coverage90_q05": 0.96, "coverage90_q95": 0.98}},
    ]
    meta = {"max_curves": 10, "seed": 0, "power_law_predictive": "gaussian", "model_path": None,
            "wall_time_s": 1.0, "platform": "test", "cpu_count": 1, "torch_version": "x", "timestamp": "now"}
    md = rc.markdown_report(rows, "cmd", list(rc.METHODS), meta)
    assert "| a | 0.2 | 1.00 | 0.50 | 0.00 | 0.960–0.980 |" in md
    assert "nll 1 firm / 0 uncertain / 0 firmly missed, final_err 0 firm / 1 uncertain / 0 firmly missed, " \
        "coverage90 0 firm / 0 uncertain / 1 firmly missed" in md
    assert "Expected targets met over resamples (nll / err / cov): 1.0 / 0.5 / 0.0 of 1." in md


def test_json_safe():
    assert rc.json_safe({"a": [1.0, float("nan")], "b": float("inf"), "c": "x"}) == {"a": [1.0, None], "b": None, "c": "x"}


def test_main_end_to_end_on_synthetic_parquet(tmp_path, capsys):
    rows = []
    for i in range(6):
        x = np.arange(0, 1000 * (i + 1), 100)
        y = 2.0 + 5.0 * (x + 100.0) ** -0.3 + 0.001 * np.sin(x)
        for xi, yi in zip(x, y):
            rows.append({"source": "toy", "curve_id": f"run{i}", "group": "g", "config": "{}", "x": xi, "y": yi,
                         "metric_name": "loss", "direction": "min"})
    pd.DataFrame(rows).to_parquet(tmp_path / "toy.parquet")
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    code = rc.main(["--data", str(tmp_path), "--methods", "last_value", "power_law", "--max-curves", "4",
                    "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "power_law" in printed and "wall time" in printed
    result = json.loads(out_json.read_text())
    assert {r["method"] for r in result["results"]} == {"last_value", "power_law"}
    assert all(r["n_curves"] == 4 for r in result["results"])
    assert result["meta"]["max_curves"] == 4 and "--max-curves 4" in result["meta"]["command"]
    assert "## Real learning curves" in out_md.read_text()


def test_by_direction_splits_each_cell_into_losses_and_accuracies():
    x = np.arange(1.0, 11.0)
    loss = make_curve(x, 3.0 - 0.1 * x, curve_id="loss")  # falls by 0.1 a step: last value is 0.5 too high
    acc = make_curve(x, 0.2 * x, direction="max", curve_id="acc")  # rises by 0.2 a step: last value is 1.0 too low
    (row,) = rc.run_benchmark({"toy": [loss, acc]}, {"last_value": rc.predict_last_value}, 10, 0, fractions=[0.5], by_direction=True)
    split = row["by_direction"]
    assert set(split) == {"min", "max"} and split["min"]["n_curves"] == split["max"]["n_curves"] == 1
    # both are pessimistic by half the range (positive bias), whichever way the metric improves
    assert split["min"]["final_bias"] == pytest.approx(0.5 / 0.9) and split["max"]["final_bias"] == pytest.approx(1.0 / 1.8)
    assert row["final_err"] == pytest.approx(np.median([0.5 / 0.9, 1.0 / 1.8]))
    assert "by_direction" not in rc.run_benchmark({"toy": [loss]}, {"last_value": rc.predict_last_value}, 10, 0, fractions=[0.5])[0]
    assert list(rc.split_table([row])["direction"]) == ["min", "max"]


def test_by_metric_splits_each_cell_by_metric_name():
    x = np.arange(1.0, 11.0)
    curves = [make_curve(x, 3.0 - 0.1 * x, curve_id=f"run{i}", metric_name=name) for i, name in enumerate(["a", "b", "b"])]
    (row,) = rc.run_benchmark({"toy": curves}, {"last_value": rc.predict_last_value}, 10, 0, fractions=[0.5], by_metric=True)
    assert {k: v["n_curves"] for k, v in row["by_metric"].items()} == {"a": 1, "b": 2}
    assert row["by_metric"]["b"]["final_bias"] == pytest.approx(0.5 / 0.9)  # last value 0.5 above the end, range 0.9
    table = rc.split_table([row], "by_metric", "metric")
    assert list(table["metric"]) == ["a", "b"] and list(table["n_curves"]) == [1, 2]


def test_main_missing_data_is_one_error_line(tmp_path, capsys):
    assert rc.main(["--data", str(tmp_path / "nope"), "--methods", "last_value"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--data" in err


def test_calibration_split_never_holds_a_curve_the_benchmark_scores():
    cal = _load_benchmark("calibrate")
    curves = [make_curve(np.arange(1.0, 8.0), 5.0 - np.log(np.arange(1.0, 8.0)) + 0.01 * i, curve_id=f"c{i}") for i in range(420)]
    scored = {c.curve_id for c in rc.select_curves(curves, cal.BENCHMARK_MAX_CURVES, cal.BENCHMARK_SEED)}
    held = cal.validation_curves(curves, 50, seed=1)
    assert len(scored) == 300 and len(held) == 50
    assert not scored & {c.curve_id for c in held}
    assert cal.validation_curves(curves[:300], 50, seed=1) == []  # a source the benchmark uses whole gives none


def test_late_rise_classifies_hand_made_curves():
    late = _load_benchmark("late_rise")
    falling = [5.0, 4.0, 3.5, 3.2, 3.0, 2.9, 2.85, 2.8, 2.78, 2.77]
    # Context = first 6 points; its best (2.0) is at index 2, then it rises by 1.0 (half its range) without noise.
    u_shape = [4.0, 3.0, 2.0, 2.2, 2.6, 3.0, 3.6, 4.5, 5.0, 6.0]
    spike = [4.0, 3.0, 2.0, 2.2, 2.6, 3.0, 2.5, 2.1, 2.0, 1.9]
    assert late.late_rise(falling, "min") == "flat"
    assert late.late_rise(u_shape, "min") == "worse"
    assert late.late_rise(spike, "min") == "back"
    assert late.late_rise([-v for v in u_shape], "max") == "worse"  # an accuracy that falls is getting worse
    assert late.late_rise(u_shape[:5], "min") is None  # too short
    summary = late.summarize(["flat", "worse", "back", "worse", None])
    assert summary == {"curves": 4, "context_ends_in_rise": 0.75, "rises": 3, "share_worse": 2 / 3, "share_back": 1 / 3}


def test_sweep_interpolation_gaps_by_hand():
    sweep = _load_benchmark("sweep_smoothness")
    # Sizes 1e6, 1e7, 1e9 (given out of order): the middle run sits a third of the way in log N, where its
    # neighbours interpolate to 4 - (4 - 1) / 3 = 3; its final 3.5 is 0.5 off, over a range of 3.
    gaps = sweep.interpolation_gaps([1e9, 1e6, 1e7], [1.0, 4.0, 3.5])
    assert gaps == pytest.approx([0.5 / 3.0])
    # A clean power law in N is linear in log N after a log: its gaps in log-loss are 0.
    n = np.logspace(6, 9, 5)
    assert sweep.interpolation_gaps(n, np.log(2.0 * n**-0.3)) == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert sweep.interpolation_gaps([1e6, 1e6, 1e7], [1.0, 2.0, 3.0]) == []  # repeated size
    assert sweep.interpolation_gaps([1e6, 1e7], [1.0, 2.0]) == []  # no inner run
    # Prior side: a default prior draw yields sweeps to score, and every gap is finite and non-negative.
    gaps = sweep.prior_gaps(sweep.CurvePrior(), 300, 0)
    assert gaps and all(g >= 0 and np.isfinite(g) for g in gaps)


def test_trend_share_and_line_in_log_n_by_hand():
    sweep = _load_benchmark("sweep_smoothness")
    # The largest context run ends at 3.0, the unseen larger one at 2.5: a forecast of 2.9 made a fifth of the
    # drop, 3.0 none, 2.5 all of it, 3.1 went the wrong way; an accuracy rising 0.4 -> 0.5 reads the same way.
    assert sweep.trend_share(3.0, 2.9, 2.5) == pytest.approx(0.2)
    assert sweep.trend_share(3.0, 3.0, 2.5) == 0.0
    assert sweep.trend_share(3.0, 2.5, 2.5) == pytest.approx(1.0)
    assert sweep.trend_share(3.0, 3.1, 2.5) == pytest.approx(-0.2)
    assert sweep.trend_share(0.4, 0.45, 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no change"):
        sweep.trend_share(3.0, 2.9, 3.0)
    # Values 4 at 1e6 and 3 at 1e7 fall 1 per decade: 1 at 1e9, 3.5 at sqrt(10) * 1e6.
    assert sweep.line_in_log_n([1e6, 1e7], [4.0, 3.0], 1e9) == pytest.approx(1.0)
    assert sweep.line_in_log_n([1e6, 1e7], [4.0, 3.0], 10**6.5) == pytest.approx(3.5)


def test_sweep_size_effect_and_line_share_by_hand():
    sweep = _load_benchmark("sweep_smoothness")
    # A run falling 1/x from x = 1 to 8: from x = 4 to 8 it improves 0.25 - 0.125; starting after 4, no answer.
    x = np.arange(1.0, 9.0)
    assert sweep.late_half_progress(x, 1.0 / x, 8.0) == pytest.approx(0.125)
    assert np.isnan(sweep.late_half_progress(x[4:], 1.0 / x[4:], 8.0))
    # Sizes 1e6, 1e7, 1e8 ending at 3.0, 2.6, 2.1: 0.9 over two decades, 0.45 a decade, over a late progress of 0.15.
    ladder = sweep.Sweep(np.array([1e8, 1e6, 1e7]), np.array([2.1, 3.0, 2.6]), 0.15)
    assert sweep.size_effect(ladder) == pytest.approx(3.0)
    # The line through 3.0 and 2.6 reaches 2.2 at 1e8: of the true drop 2.6 -> 2.1 it makes 0.4 / 0.5.
    assert sweep.line_share(ladder) == pytest.approx(0.8)
    assert np.isnan(sweep.size_effect(sweep.Sweep(ladder.sizes, ladder.finals, 0.0)))
    flat = sweep.Sweep(np.array([1e6, 1e7, 1e8]), np.array([3.0, 2.6, 2.6]), 0.15)
    assert np.isnan(sweep.line_share(flat))  # no change from the 2nd largest to share
    summary = sweep.shape_summary([ladder, flat])
    assert summary["sweeps"] == 2 and summary["n_line"] == 1 and summary["line_median"] == pytest.approx(0.8)
    assert summary["n_effect"] == 2 and summary["effect_median"] == pytest.approx((3.0 + 0.4 / 2 / 0.15) / 2)


def test_clean_sweep_scores_give_a_trend_share_for_larger_runs_only():
    sweep = _load_benchmark("sweep_smoothness")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurvecastWarning)
        scores = sweep.clean_sweep_scores(curvecast.load(), n_draws=2)
    assert set(scores) == {f"{layout}, {case}" for layout in ("curves", "table") for case in ("copy", "between", "3x larger", "10x larger")}
    for name, s in scores.items():
        assert 0.0 <= s["cov90"] <= 1.0 and s["err"] >= 0.0 and s["width"] > 0.0
        assert np.isnan(s["trend_share"]) == (not name.endswith("larger"))


def test_quiet_sweeps_follow_model_size_closely_and_leave_single_runs_alone():
    """``CurvePrior.p_quiet_sweep``: the same size sweeps (the draw comes last), their finals far closer to a
    smooth trend in log N; a single run is no sweep, so its draws are the default prior's."""
    sweep = _load_benchmark("sweep_smoothness")
    base = dataclasses.replace(
        sweep.CurvePrior(), p_table=0.0, p_single_run=0.0, p_free_hparams=0.0, p_replicates=0.0, p_max_direction=0.0,
        max_runs=6, max_curve_runs=6, n_points=16, max_task_points=None, p_truncated=0.0,
    )
    loud = sweep.prior_gaps(base, 3000, 4)
    quiet = sweep.prior_gaps(dataclasses.replace(base, p_quiet_sweep=1.0), 3000, 4)
    assert len(loud) == len(quiet) > 100
    assert np.median(quiet) < 0.5 * np.median(loud)
    single = dataclasses.replace(base, p_single_run=1.0)

    def draw(prior):
        return prior.sample(50, generator=torch.Generator().manual_seed(1)).y

    torch.testing.assert_close(draw(dataclasses.replace(single, p_quiet_sweep=1.0)), draw(single))
    assert sweep.CurvePrior().p_quiet_sweep == 0.0


def test_table_interpolation_baselines_and_scores_by_hand():
    bench = _load_benchmark("table_interpolation")
    # A 3 x 3 grid in (log10 N, log10 D) whose loss is linear in that plane: the centre row, left out, is
    # interpolated exactly; its nearest rows are half a decade of D away, 0.1 x 0.5 = 0.05 off.
    n, d = np.meshgrid([1e7, 1e8, 1e9], [1e9, 10**9.5, 1e10], indexing="ij")
    loss = 5.0 - 0.2 * np.log10(n / 1e7) - 0.1 * np.log10(d / 1e9)
    table = pd.DataFrame({"N": n.ravel(), "D": d.ravel(), "loss": loss.ravel()})
    frame = bench.leave_one_out(table, curvecast.load())
    centre = frame.iloc[4]
    assert centre["linear"] == pytest.approx(centre["loss"], abs=1e-9)
    assert abs(centre["nearest"] - centre["loss"]) == pytest.approx(0.05)
    assert frame["linear"].iloc[[0, 2, 6, 8]].isna().all()  # the corners lie outside the others' hull
    assert np.isfinite(frame["median"]).all() and frame["dn"].iloc[4] == pytest.approx(10**1.5)
    # scores: medians of hand-made errors
    made = pd.DataFrame({"dn": [1.0] * 3, "loss": [1.0, 2.0, 3.0], "median": [1.5, 2.0, 2.0], "covered": [True, True, False],
                         "logpdf": [-1.0, 0.5, -20.0], "linear": [1.0, np.nan, 3.3], "nearest": [0.0, 2.5, 3.0]})
    got = bench.scores(made)
    assert got == pytest.approx({"n": 3, "nll_capped": (1.0 - 0.5 + 10.0) / 3, "err": 0.5, "bias": 0.0, "coverage90": 2 / 3,
                                 "linear_err": 0.15, "nearest_err": 0.5})


def test_calibrate_all_runs_every_choice_in_order_and_writes_each(monkeypatch):
    cal = _load_benchmark("calibrate")
    real_main, calls = cal.main, []

    def record(argv):
        if "--all" in argv:
            return real_main(argv)
        calls.append(argv)
        return 0

    monkeypatch.setattr(cal, "main", record)
    assert cal.main(["--all", "--model", "some/model", "--context-grid", "2", "3"]) == 0
    kinds = ("--spread", "--few-points", "--far", "--cooldowns", "--runs", "--context-runs", "--max-runs", "--replicate-from", "--runs-ensemble",
             "--table-rows-inside", "--isoflop-spread")
    steps = [next(a for a in argv if a in kinds) for argv in calls]
    assert steps == ["--spread", "--few-points", "--far", "--cooldowns", "--runs", "--runs-ensemble", "--context-runs", "--max-runs", "--replicate-from",
                     "--runs", "--runs", "--table-rows-inside", "--isoflop-spread"]
    assert calls[5][-len(cal.ENSEMBLE_GRID):] == [str(m) for m in cal.ENSEMBLE_GRID]
    assert calls[-1][-len(cal.ISOFLOP_GRID):] == [str(s) for s in cal.ISOFLOP_GRID]
    assert calls[-2][-len(cal.TABLE_ROWS_GRID):] == [str(t) for t in cal.TABLE_ROWS_GRID]
    assert "--tables" in calls[-3] and calls[-3][-len(cal.TABLE_GRID):] == [str(t) for t in cal.TABLE_GRID]
    assert {"--by-observed", "--without-tables"} <= set(calls[-4]) and calls[-4][-len(cal.RUNS_GRID):] == [str(t) for t in cal.RUNS_GRID]
    assert all("--write" in argv and argv[argv.index("--model") + 1] == "some/model" for argv in calls)
    for step in calls[:2]:
        assert step[step.index("--grid") + 1:][: len(cal.SPREAD_GRID)] == [str(s) for s in cal.SPREAD_GRID]
    assert calls[2][calls[2].index("--grid") + 1:] == [str(s) for s in cal.FAR_GRID]
    assert calls[6][-2:] == ["2", "3"] and calls[7][-3:] == ["32", "40", "48"] and calls[8][-2:] == ["0.4", "0.5"]
    # A step that fails stops the chain with its exit code.
    calls.clear()
    monkeypatch.setattr(cal, "main", lambda argv: real_main(argv) if "--all" in argv else (calls.append(argv) or 1))
    assert cal.main(["--all"]) == 1 and len(calls) == 1
    with pytest.raises(SystemExit):
        real_main(["--all", "--runs"])


def test_calibrate_max_runs_refuses_a_grid_beyond_the_architecture(capsys):
    cal = _load_benchmark("calibrate")
    assert cal.main(["--max-runs", "--max-runs-grid", "64", "100"]) == 2
    assert "from 1 to the architecture's 48" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cal.main(["--max-runs", "--context-runs"])


def test_calibrate_replicate_from_refuses_a_grid_outside_zero_to_one(capsys):
    cal = _load_benchmark("calibrate")
    assert cal.main(["--replicate-from", "--replicate-grid", "0.2", "1.0"]) == 2
    assert "in [0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cal.main(["--replicate-from", "--runs"])


def test_calibrate_summarize_grid_by_hand(tmp_path):
    cal = _load_benchmark("calibrate")
    table = [
        {"k": 1, "nll_capped": -1.0, "coverage90": 0.80},
        {"k": 1, "nll_capped": 0.0, "coverage90": 0.90},
        {"k": 2, "nll_capped": 0.5, "coverage90": 0.95},
        {"k": 2, "nll_capped": 1.5, "coverage90": 0.97},
    ]
    score, coverage, in_band = cal.summarize_grid(table, "k", [1, 2])
    assert score == {1: -0.5, 2: 1.0}
    assert coverage == pytest.approx({1: 0.85, 2: 0.96})
    assert in_band == {1: 1, 2: 1}  # 0.95 is inside the band, 0.80 and 0.97 are not
    cal.write_table(tmp_path / "t.json", table, 2, score=score)
    assert json.loads((tmp_path / "t.json").read_text())["chosen"] == 2
    cal.write_table(None, table, 2)  # no --json: nothing written, no error


def test_calibrate_runs_by_observed_chooses_each_kind_on_its_own_cells(tmp_path):
    cal = _load_benchmark("calibrate")
    # Fraction 0 (runs not started) is covered 0.97 at T = 1 and 0.91 at T = 0.8; fraction 0.2 (observed runs)
    # 0.78 at T = 1 and 0.89 at T = 1.25: each kind's coverage closest to 0.9 picks a different temperature.
    cells = {(1.0, 0.0): 0.97, (0.8, 0.0): 0.91, (1.25, 0.0): 0.99, (1.0, 0.2): 0.78, (0.8, 0.2): 0.70, (1.25, 0.2): 0.89}
    table = [{"temperature": t, "source": "s", "fraction": f, "nll_capped": 0.0, "coverage90": c} for (t, f), c in cells.items()]
    # A scaling table's rows to predict have no points at any fraction: its f = 0.2 cell counts as unobserved
    # (mean with the curves' f = 0 cell: 0.90 at T = 0.8, 0.94 at T = 1).
    table += [{"temperature": t, "source": "porian", "fraction": 0.2, "nll_capped": 0.0, "coverage90": c} for t, c in ((0.8, 0.89), (1.0, 0.91), (1.25, 0.93))]
    args = cal.argparse.Namespace(grid=[0.8, 1.0, 1.25], json=tmp_path / "runs.json", write=False)
    assert cal.write_runs_by_observed(args, None, table, ["s"]) == 0
    written = json.loads((tmp_path / "runs.json").read_text())
    assert written["chosen"] == {"unobserved": 0.8, "observed": 1.25}
    assert written["validation"]["observed"]["cells_in_band"] == {"0.8": 0, "1.0": 0, "1.25": 1}
    assert written["validation"]["unobserved"]["coverage90"]["0.8"] == pytest.approx(0.90)
    assert cal.write_runs_by_observed(args, None, [r for r in table if r["fraction"] == 0], ["s"]) == 1  # no observed cells
    with pytest.raises(SystemExit):
        cal.main(["--by-observed"])  # goes with --runs
    with pytest.raises(SystemExit):
        cal.main(["--runs", "--without-tables"])  # goes with --by-observed
    # --without-tables: the table's cells count for neither kind (unobserved: the curves' f = 0 cell alone, 0.91 at
    # T = 0.8 and 0.97 at T = 1), and the model's table factor is kept beside the curves' new factors
    (tmp_path / "config.json").write_text(json.dumps({"calibration": {"temperature_runs": {"observed": 0.9, "unobserved": 0.9, "table": 0.7}}}))
    args = cal.argparse.Namespace(grid=[0.8, 1.0, 1.25], json=tmp_path / "runs.json", write=True, without_tables=True)
    assert cal.write_runs_by_observed(args, cal.argparse.Namespace(path=tmp_path), table, ["s", "porian"]) == 0
    assert json.loads((tmp_path / "runs.json").read_text())["validation"]["unobserved"]["coverage90"]["0.8"] == pytest.approx(0.91)
    calibration = json.loads((tmp_path / "config.json").read_text())["calibration"]
    assert calibration["temperature_runs"] == {"unobserved": 0.8, "observed": 1.25, "table": 0.7}
    assert "['s']" in calibration["temperature_runs_how"] and "table factor as it was" in calibration["temperature_runs_how"]


def test_calibrate_runs_tables_adds_a_table_factor_beside_the_curves(tmp_path, capsys):
    cal = _load_benchmark("calibrate")
    # The tables' cells: mean coverage 0.97 at T = 0.9, 0.905 at T = 0.7, 0.80 at T = 0.6: 0.7 is closest to 0.9.
    cells = {(0.9, 0.0): 0.98, (0.9, 0.2): 0.96, (0.7, 0.0): 0.92, (0.7, 0.2): 0.89, (0.6, 0.0): 0.81, (0.6, 0.2): 0.79}
    table = [{"temperature": t, "source": "porian", "fraction": f, "nll_capped": 1.0, "coverage90": c} for (t, f), c in cells.items()]
    (tmp_path / "config.json").write_text(json.dumps({"calibration": {"temperature_runs": 0.9, "context_runs": 2}}))
    model = cal.argparse.Namespace(path=tmp_path)
    args = cal.argparse.Namespace(grid=[0.6, 0.7, 0.9], json=None, write=True)
    assert cal.write_runs_for_tables(args, model, table, ["porian"]) == 0
    calibration = json.loads((tmp_path / "config.json").read_text())["calibration"]
    assert calibration["temperature_runs"] == {"observed": 0.9, "unobserved": 0.9, "table": 0.7}
    assert calibration["temperature_runs_table_validation"]["coverage90"]["0.7"] == pytest.approx(0.905)
    assert calibration["context_runs"] == 2 and "<- chosen" in capsys.readouterr().out
    # a later single --runs choice replaces the mapping and drops the table factor's record
    cal.write_choice(tmp_path, "temperature_runs", 1.0, "by hand", {}, drop=cal.TABLE_FACTOR_KEYS)
    calibration = json.loads((tmp_path / "config.json").read_text())["calibration"]
    assert calibration["temperature_runs"] == 1.0 and "temperature_runs_table_how" not in calibration
    with pytest.raises(SystemExit):
        cal.main(["--tables"])  # goes with --runs



def test_calibrate_ladders_adds_a_ladder_factor_and_keeps_the_tables(tmp_path, capsys):
    cal = _load_benchmark("calibrate")
    # mean coverage 0.96 at T = 0.9 and 0.915 at T = 0.8, 0.87 at T = 0.7: 0.8 is closest to 0.9
    cells = {(0.9, "g"): 1.0, (0.9, "p"): 0.92, (0.8, "g"): 0.92, (0.8, "p"): 0.91, (0.7, "g"): 0.85, (0.7, "p"): 0.89}
    table = [{"temperature": t, "source": src, "fraction": 0.0, "nll_capped": 0.0, "coverage90": c} for (t, src), c in cells.items()]
    (tmp_path / "config.json").write_text(json.dumps({"calibration": {"temperature_runs": {"observed": 1.0, "unobserved": 0.7, "table": 0.9}}}))
    args = cal.argparse.Namespace(grid=[0.7, 0.8, 0.9], json=None, write=True)
    assert cal.choose_runs_factor(args, tmp_path, table, cal.LADDER_KIND, "by test") == 0
    calibration = json.loads((tmp_path / "config.json").read_text())["calibration"]
    assert calibration["temperature_runs"] == {"observed": 1.0, "unobserved": 0.7, "table": 0.9, "ladder": 0.8}
    assert calibration["temperature_runs_ladder_how"] == "by test"
    assert calibration["temperature_runs_ladder_validation"]["coverage90"]["0.8"] == pytest.approx(0.915)
    assert "wrote calibration.temperature_runs['ladder'] = 0.8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cal.main(["--ladders", "--pool-weight"])  # exclusive


def test_pool_weight_rules_are_monotone_and_score_the_mixture():
    cal = _load_benchmark("calibrate")
    rules = cal.monotone_rules([0.0, 0.5, 1.0], 3)
    assert len(rules) == 10 and all(a <= b <= c for a, b, c in rules)  # C(3 + 3 - 1, 3) non-decreasing triples
    # densities 0.5 and 0.1 (scale 1): the pool at weight 0.25 has density 0.25 * 0.5 + 0.75 * 0.1 = 0.2
    item = {"logpdf_own": np.log(0.5), "logpdf_table": np.log(0.1), "scale": 1.0}
    assert cal.pooled_nll(item, 0.25) == pytest.approx(-np.log(0.2))
    assert cal.pooled_nll(item, 1.0) == pytest.approx(-np.log(0.5))
    assert cal.pooled_nll({**item, "logpdf_own": -np.inf, "logpdf_table": -np.inf}, 0.5) == cal.rc.NLL_CAP


def test_calibrate_spread_by_direction_chooses_per_direction(tmp_path):
    cal = _load_benchmark("calibrate")
    # Losses are over-covered at every factor (no cell in band: the smallest factor); accuracies enter the band at 1.2.
    cells = {("min", 1.0): 0.97, ("min", 1.2): 0.99, ("max", 1.0): 0.80, ("max", 1.2): 0.88}
    table = [{"temperature": f, "source": "s", "fraction": 0.2, "direction": d, "nll_capped": 0.0, "coverage90": c} for (d, f), c in cells.items()]
    args = cal.argparse.Namespace(grid=[1.0, 1.2], json=tmp_path / "spread.json", write=False, max_curves=1, seed=1)
    assert cal.write_spread_by_direction(args, None, table, ["s"]) == 0
    assert json.loads((tmp_path / "spread.json").read_text())["chosen"] == {"min": 1.0, "max": 1.2}
    assert cal.write_spread_by_direction(args, None, [r for r in table if r["direction"] == "min"], ["s"]) == 1


def test_calibrate_write_choice_merges_into_the_checkpoint_config(tmp_path, capsys):
    cal = _load_benchmark("calibrate")
    (tmp_path / "config.json").write_text(json.dumps({"model": {}, "calibration": {"temperature": 1.3, "temperature_validation": {}, "max_runs": 48}}))
    cal.write_choice(tmp_path, "spread", 1.2, "chosen by hand", {"coverage90": {"1.2": 0.9}},
                     extra=cal.SPREAD_REPLACES_TEMPERATURE, drop=["temperature_validation"])
    calibration = json.loads((tmp_path / "config.json").read_text())["calibration"]
    assert calibration == {"spread": 1.2, "spread_how": "chosen by hand", "spread_validation": {"coverage90": {"1.2": 0.9}},
                           "temperature": 1.0, "temperature_how": cal.SPREAD_REPLACES_TEMPERATURE["temperature_how"], "max_runs": 48}
    assert "wrote calibration.spread = 1.2" in capsys.readouterr().err


def test_early_phase_departure_is_zero_on_a_power_law_and_sees_a_late_drop():
    ep = _load_benchmark("early_phase")
    x = np.linspace(1.0, 1000.0, 60)
    y = 2.0 + 3.0 * x**-0.5
    assert abs(ep.departure(x, y)) < 1e-3
    dropped = y.copy()
    dropped[-1] -= 0.5 * np.ptp(y)  # the last (lowest) point falls by half the range: the range grows to 1.5x
    assert ep.departure(x, dropped) == pytest.approx(0.5 / 1.5, abs=1e-3)
    # repeated x (runs logged in rounded steps) are dropped before fitting; too few early points give NaN
    repeated = np.concatenate([[1.0, 1.0], x[1:]]), np.concatenate([[y[0], y[0]], y[1:]])
    assert abs(ep.departure(*repeated)) < 1e-3
    log_x = np.geomspace(1.0, 1000.0, 20)
    assert abs(ep.departure(log_x, 2.0 + 3.0 * log_x**-0.5)) < 1e-3
    sparse = np.array([1.0, 300.0, 500.0, 700.0, 1000.0])
    assert math.isnan(ep.departure(sparse, 2.0 + sparse**-0.5))
    # the early fit's residual: none on a power law, the noise's share of the early range on a noisy one
    assert ep.context_residual(x, y) < 1e-4
    noisy = y + 0.01 * np.ptp(y) * np.random.default_rng(0).standard_normal(y.size)
    assert 0.005 < ep.context_residual(x, noisy) < 0.02


def test_prior_coverage_draws_the_slice_and_wider_spreads_cover_more(tmp_path, capsys):
    pc = _load_benchmark("prior_coverage")
    curves = pc.prior_curves({"p_noiseless": 1.0}, 24, seed=3)
    assert curves and all(c.direction == "min" and len(c.x) >= pc.MIN_POINTS and np.all(np.diff(c.x) > 0) for c in curves)
    # full-length lone loss runs (BASE_SLICE): every curve has the prior's n_points, none is flat
    assert {len(c.x) for c in curves} == {64} and all(np.ptp(c.y) > 0 for c in curves)
    coverage = {}
    for spread in (0.5, 2.0):
        out = tmp_path / f"s{spread}.json"
        assert pc.main(["--prior", "p_noiseless=1.0", "--tasks", "24", "--seed", "3", "--fractions", "0.4",
                        "--spread", str(spread), "--json", str(out)]) == 0
        record = json.loads(out.read_text())
        assert record["model"]["calibration"]["spread"] == spread and record["overrides"] == {"p_noiseless": 1.0}
        (row,) = record["results"]
        assert row["n_curves"] == len(curves) and math.isfinite(row["nll"])
        coverage[spread] = row["coverage90"]
    assert 0.0 <= coverage[0.5] < coverage[2.0] <= 1.0
    assert "| 0.4 |" in capsys.readouterr().out


def test_prior_pit_groups_coverage_by_band_width():
    pit = _load_benchmark("prior_pit")
    inside = np.array([[1, 1], [0, 1], [0, 0], [1, 1], [0, 1]], dtype=bool)  # tokens x (50%, 90%)
    span = np.array([2, 5, 7, 30, 30])
    rows = pit.coverage_by_span(inside, span, [0, 6, 12, 25, 50])
    assert [r["span"] for r in rows] == [[0, 6], [6, 12], [25, 50]]  # 12-25 holds no token: left out
    assert [r["n"] for r in rows] == [2, 1, 2]
    assert rows[0]["coverage"] == [0.5, 1.0] and rows[1]["coverage"] == [0.0, 0.0] and rows[2]["coverage"] == [0.5, 1.0]
    record = {"tasks": 3, "seed": 0, "levels": [0.5, 0.9], "tokens": 5, "results": [{"model": "a/m", "nll": 3.0, "nll_capped": -0.25, "coverage": [0.4, 0.8], "by_span": rows}]}
    text = pit.table(record)
    assert "| 0–6 | 2 | 0.500 / 1.000 |" in text and "0.400 / 0.800 (capped NLL -0.2500)" in text


def test_prior_pit_counts_each_runs_observed_points():
    pit = _load_benchmark("prior_pit")
    import torch

    run_id = torch.tensor([[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0]])
    is_context = torch.tensor([[1, 1, 0, 1, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    assert pit.run_points(run_id, is_context, 4).tolist() == [[2, 2, 2, 1, 1, 2], [3, 3, 3, 3, 3, 3]]
    assert pit.single_run(run_id, valid).tolist() == [False, True]
    group = {"span": [3, 4], "n": 7, "coverage": [0.25, 0.75]}
    record = {"tasks": 1, "seed": 0, "levels": [0.5, 0.9], "tokens": 7, "results": [{"model": "a/m", "nll": 0.0, "nll_capped": 0.0, "coverage": [0.5, 0.9],
              "by_span": [{"span": [0, 6], "n": 7, "coverage": [0.5, 0.9]}], "by_points_single_run": [group, {"span": [11, 10**9], "n": 1, "coverage": [1.0, 1.0]}]}]}
    text = pit.table(record)
    assert "| 3 | 7 | 0.250 / 0.750 |" in text and "| 11+ | 1 | 1.000 / 1.000 |" in text


def test_prior_pit_scores_models_on_the_same_tokens_reproducibly(tmp_path):
    pit = _load_benchmark("prior_pit")
    shipped = str(ROOT / "curvecast" / "models" / "default")
    record = pit.score([shipped, shipped], tasks=6, seed=3, batch=4)
    again = pit.score([shipped], tasks=6, seed=3, batch=4)
    first, second = record["results"]
    assert record["tokens"] > 0 and sum(g["n"] for g in first["by_span"]) == record["tokens"]
    assert sum(g["n"] for g in first["by_points_single_run"]) <= record["tokens"]
    assert first["nll"] == second["nll"] == again["results"][0]["nll"] and math.isfinite(first["nll"])
    assert first["nll_capped"] <= first["nll"]
    assert first["coverage"] == again["results"][0]["coverage"]
    assert record["levels"] == list(pit.LEVELS) and len(first["coverage"]) == len(pit.LEVELS)
    pit.plot(record, tmp_path / "pit.png")
    assert (tmp_path / "pit.png").stat().st_size > 1000
    assert np.all(np.diff(first["coverage"]) >= 0) and 0.0 <= first["coverage"][0] and first["coverage"][-1] <= 1.0  # nested bands


def test_calibrate_few_points_rule_widens_only_short_prefixes_when_it_helps():
    cal = _load_benchmark("calibrate")

    def metrics(coverage, nll):
        return {"nll": nll, "nll_capped": nll, "final_err": 0.0, "final_bias": 0.0, "coverage": coverage, "miss_worse": 1.0 - coverage, "miss_better": 0.0, "n_nonfinite": 0}

    # Two cells at the calibrated factor 1.2: short prefixes (3 points) are under-covered there, long ones are fine.
    short = {1.2: metrics(0.70, 1.0), 1.8: metrics(0.90, 0.5)}
    long = {1.2: metrics(0.90, 0.0), 1.8: metrics(0.99, 0.3)}
    cells = {("a", 0.2): [(3, 1.2, short), (3, 1.2, short), (10, 1.2, long)], ("b", 0.4): [(10, 1.2, long), (12, 1.2, long)]}
    best, scores = cal.few_points_rule(cells, [4, 11], [1.2, 1.8])
    # below 4: cell a covers (0.9 + 0.9 + 0.9) / 3 = 0.9 and cell b stays 0.9
    assert best == (4, 1.8)
    assert scores[None] == (1, pytest.approx((np.mean([1.0, 1.0, 0.0]) + 0.0) / 2))
    assert scores[(4, 1.8)] == (2, pytest.approx((np.mean([0.5, 0.5, 0.0]) + 0.0) / 2))
    # below 11 also widens the 10-point curves: both cells still in band (0.93, 0.945), but a higher NLL than below 4
    assert scores[(11, 1.8)] == (2, pytest.approx((np.mean([0.5, 0.5, 0.3]) + np.mean([0.3, 0.0])) / 2))
    # nothing gained: off wins the tie
    flat = {("a", 0.2): [(3, 1.2, long), (10, 1.2, long)]}
    assert cal.few_points_rule(flat, [4], [1.2])[0] is None


def test_calibrate_far_rule_widens_far_queries_when_it_helps_and_reach_is_read_after_the_shift():
    cal = _load_benchmark("calibrate")

    def metrics(coverage, nll):
        return {"nll": nll, "nll_capped": nll, "final_err": 0.0, "final_bias": 0.0, "coverage": coverage, "miss_worse": 1.0 - coverage, "miss_better": 0.0, "n_nonfinite": 0}

    # cell a: a curve forecast far out is under-covered unless widened; cell b is in band either way
    far_curve = {None: metrics(0.70, 1.0), (10.0, 1.6): metrics(0.90, 0.8), (10.0, 2.0): metrics(0.95, 0.9), (50.0, 1.6): metrics(0.70, 1.0), (50.0, 2.0): metrics(0.70, 1.0)}
    near_curve = {None: metrics(0.90, 0.0), (10.0, 1.6): metrics(0.90, 0.0), (10.0, 2.0): metrics(0.90, 0.0), (50.0, 1.6): metrics(0.90, 0.0), (50.0, 2.0): metrics(0.90, 0.0)}
    cells = {("a", 0.2): [far_curve, near_curve], ("b", 0.2): [near_curve]}
    best, scores = cal.far_rule(cells, [10.0, 50.0], [1.0, 1.6, 2.0])
    assert best == (10.0, 1.6)  # cell a covers (0.9 + 0.9) / 2 = 0.9; 2.0 is in band too (0.925) at a higher NLL
    assert scores[None] == (1, pytest.approx((0.5 + 0.0) / 2)) and scores[(10.0, 1.6)] == (2, pytest.approx((0.4 + 0.0) / 2))
    assert (10.0, 1.0) not in scores  # a factor of 1 is "off"
    assert cal.far_rule({("b", 0.2): [near_curve]}, [10.0], [1.6])[0] is None  # nothing gained: off wins the tie
    # the reach of a query is read on the x the model sees: MLPerf-style curves starting at x = -1 are shifted to 0
    rc = _load_benchmark("realcurves")
    curve = rc.RealCurve("s", "c", "m", "min", "{}", np.array([-1.0, 0.0, 1.0, 3.0, 9.0]), np.array([5.0, 4.0, 3.0, 2.5, 2.0]))
    np.testing.assert_allclose(cal.query_reach(rc.Task(curve, 3)), [4.0 / 2.0, 10.0 / 2.0])


def test_calibrated_factors_are_the_few_points_factor_times_the_far_ramp():
    cal = _load_benchmark("calibrate")
    rc = _load_benchmark("realcurves")
    model = curvecast.load(spread=None, spread_few_points={"below": 4, "spread": 1.6}, spread_far={"beyond": 20.0, "spread": 1.5})
    x = np.array([1.0, 2.0, 4.0, 8.0, 40.0, 80.0 * np.sqrt(10.0), 800.0, 4000.0])
    curve = rc.RealCurve("s", "c", "m", "min", "{}", x, np.linspace(5.0, 2.0, x.size))
    # 3 points seen (last x 4): reach 2, 10, 20 sqrt(10), 200, 1000 -> far ramp 1, 1, 1.25, 1.5, 1.5; times 1.6
    np.testing.assert_allclose(cal.calibrated_factors(model, rc.Task(curve, 3)), 1.6 * np.array([1.0, 1.0, 1.25, 1.5, 1.5]))
    # 4 points seen (last x 8): the calibrated spread of losses instead of 1.6; reach 5, 10 sqrt(10), 100, 500, whose
    # ramp is 1 + 0.5 log10(reach / 20) between 20 and 200
    ramp = [1.0, 1.0 + 0.5 * np.log10(np.sqrt(10.0) / 2.0), 1.0 + 0.5 * np.log10(5.0), 1.5]
    np.testing.assert_allclose(cal.calibrated_factors(model, rc.Task(curve, 4)), model.spread_for("min", 4) * np.array(ramp))


def test_table_ensemble_rule_takes_the_fewest_readings_that_settle():
    cal = _load_benchmark("calibrate")
    validation = {"1": {"id_shift": 0.02}, "4": {"id_shift": 0.011}, "8": {"id_shift": 0.006}, "16": {"id_shift": 0.004}}
    assert cal.ensemble_choice(validation, [1, 4, 8, 16]) == 8  # the smallest at or under ID_TOLERANCE (0.01)
    assert cal.ensemble_choice({"1": {"id_shift": 0.03}, "2": {"id_shift": 0.02}}, [1, 2]) == 2  # none: the largest


def test_isoflop_shape_statistics_by_hand():
    shape = _load_benchmark("isoflop_shape")
    # sizes 1e6, 1e7, 1e8, 1e9 (given out of order): minimum at 1e7, the left end 0.5 above it, the right end 2.0
    u = shape.profile_stats(np.array([1e8, 1e6, 1e9, 1e7]), np.array([3.5, 3.5, 5.0, 3.0]))
    assert u == {"u_shaped": True, "decades_left": pytest.approx(1.0), "decades_right": pytest.approx(2.0), "rise_ratio": pytest.approx(4.0)}
    falling = shape.profile_stats(np.array([1e6, 1e7, 1e8]), np.array([4.0, 3.5, 3.0]))
    assert not falling["u_shaped"] and falling["decades_right"] == 0.0 and math.isnan(falling["rise_ratio"])
    s = shape.summary(shape.pd.DataFrame([u, falling]))
    assert s["profiles"] == 2 and s["u_shaped"] == 0.5 and s["rise_ratio_median"] == pytest.approx(4.0)
    assert s["decades_left"] == pytest.approx(1.5) and s["decades_right"] == pytest.approx(1.0)
    # the prior's isoFLOP tables are read by budget: every profile has at least 3 sizes
    drawn = shape.prior_profiles({}, n_tasks=16, seed=0)
    assert len(drawn) > 0 and set(drawn.columns) == set(u)


def test_spread_shapes_needed_factor_and_backtest_split_by_hand():
    shapes = _load_benchmark("spread_shapes")
    ones = np.ones(5)
    # median 1, 90% interval (0, 2): distances in half-widths 0.5, 0.2, 0, 0.9, 1.0; covering 90% of 5 points
    # needs all 5, so 1.0; of ten points 0.1, ..., 1.0 it needs nine, so 0.9
    assert shapes.needed_factor([1.5, 0.8, 1.0, 1.9, 0.0], ones, 0 * ones, 2 * ones) == pytest.approx(1.0)
    tens = np.ones(10)
    assert shapes.needed_factor(1 + np.linspace(0.1, 1.0, 10) * (-1) ** np.arange(10), tens, 0 * tens, 2 * tens) == pytest.approx(0.9)
    # each side in units of its own half: above, (3 - 1) / 2; below, (1 - 0.5) / 0.5
    assert shapes.needed_factor([3.0, 0.5], [1.0, 1.0], [0.5, 0.5], [3.0, 3.0]) == pytest.approx(1.0)
    assert shapes.needed_factor([1.0, 1.5], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]) == math.inf  # a point off an empty interval
    import curvecast

    long = curvecast.Curve(np.arange(7.0), np.linspace(3, 2, 7), [10.0])
    short = curvecast.Curve(np.arange(5.0), np.linspace(3, 2, 5), [10.0])
    backtests = shapes.backtest_curves([short, long])
    assert list(backtests) == [1]  # fewer than BACKTEST_MIN_POINTS observed: no backtest
    np.testing.assert_array_equal(backtests[1].x, np.arange(4.0))
    np.testing.assert_array_equal(backtests[1].x_query, [4.0, 5.0, 6.0])
    # rank correlation: monotone pairs give 1, reversed -1; sources with fewer than 10 curves are left out
    rows = [dict(split="validation", source="a", backtest=float(i), needed=float(i * i)) for i in range(12)]
    rows += [dict(split="validation", source="b", backtest=float(i), needed=-float(i)) for i in range(12)]
    rows += [dict(split="benchmark", source="a", backtest=float(i), needed=1.0) for i in range(3)]
    corr = shapes.backtest_correlation(rows)
    assert corr["validation a"] == pytest.approx(1.0) and corr["validation b"] == pytest.approx(-1.0)
    assert "benchmark a" not in corr and "benchmark all" not in corr


def test_replicate_seeds_groups_and_scores_by_hand(tmp_path, capsys):
    """Groups need 4 usable runs (6+ distinct x >= 0, y not flat); a held-out run is scored in units of its range."""
    rs = _load_benchmark("replicate_seeds")
    rows = []
    for run in range(5):
        for k in range(8):
            y = 0.9 - 0.5 * 0.7**k + 0.002 * run
            rows.append({"curve_id": f"sub/r{run}", "config": '{"benchmark": "b"}', "metric_name": "acc", "x": float(k), "y": y, "direction": "max"})
    for k in range(8):  # a flat run is not usable; the group keeps its other 5
        rows.append({"curve_id": "sub/flat", "config": '{"benchmark": "b"}', "metric_name": "acc", "x": float(k), "y": 0.5, "direction": "max"})
    for run in range(3):  # too few runs
        for k in range(8):
            rows.append({"curve_id": f"other/r{run}", "config": '{"benchmark": "c"}', "metric_name": "acc", "x": float(k), "y": 0.1 * k, "direction": "max"})
    frame = pd.DataFrame(rows)
    groups = rs.replicate_groups(frame)
    assert len(groups) == 1 and [r[0] for r in groups[0]] == [f"sub/r{i}" for i in range(5)]
    target, context = groups[0][0], groups[0][1:4]
    scored = rs.score(curvecast.load(), target, context, 0.0)
    scale = target[2].max() - target[2].min()
    assert scored["err"] < 0.5 and 0 < scored["width"] < 2 and scored["covered"] in (0.0, 1.0)
    assert np.isfinite(scored["nll"]) and scale == pytest.approx(0.5 * (1 - 0.7**7))
    frame.to_parquet(tmp_path / "mlperf_training.parquet")
    out = tmp_path / "r.json"
    assert rs.main(["--data", str(tmp_path), "--values", "0", "0.2", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert {(r["replicate_from"], r["fraction"]) for r in results} == {(0.0, 0.0), (0.0, 0.2), (0.2, 0.0), (0.2, 0.2)}
    assert all(r["n"] == 1 for r in results)
    assert rs.main(["--data", str(tmp_path / "nope")]) == 2 and "not found" in capsys.readouterr().err


def test_isoflop_sources_are_told_their_budget_and_nothing_else():
    profile = rc.RealCurve("iso", "p", "loss", "min", '{"C": 4e17, "total_steps": 100, "dataset": "rw"}', np.array([1e6, 2e6, 4e6, 8e6]),
                           np.array([4.0, 3.8, 3.9, 4.2]))
    assert rc.run_config(profile, 0.0, isoflop={"iso": "C"}) == {"isoflop": 4e17}
    assert rc.run_config(profile, 0.0, isoflop={"other": "C"}) == {"total_steps": 100.0}  # not named: read as a curve
    assert rc.run_config(profile, 0.0, isoflop={"iso": "budget"}) is None  # the key is missing: nothing told
    # the benchmark's curvecast input carries it, and predict reads the profile as a table of its points
    curve = rc.curvecast_curve(rc.Task(profile, 3), isoflop={"iso": "C"})
    assert curve.config == {"isoflop": 4e17}
    with pytest.raises(SystemExit):
        rc.parse_args(["--isoflop", "porian2024_isoflop"])


def test_constant_lr_isoflop_profiles_read_each_model_at_its_budgets_tokens(tmp_path):
    cal = _load_benchmark("calibrate")
    tokens_per_step = _load_benchmark("scaling").GEMSTONES_TOKENS_PER_STEP
    steps = np.array([1.0, 10.0, 100.0, 1000.0])
    sizes = [1e6, 2e6, 4e6, 8e6, 16e6, 32e6]
    rows = []
    for n in sizes:  # loss = 10 - log10(steps) - 0.5 log10(n / 1e6): linear in log D, so interpolation is exact
        for s in steps:
            rows.append({"source": "gemstones", "curve_id": f"g:{n:g}", "group": "main_constant_lr", "config": json.dumps({"params": n}),
                         "x": s, "y": 10.0 - np.log10(s) - 0.5 * np.log10(n / 1e6), "metric_name": "train_loss", "direction": "min"})
    rows.append({**rows[0], "group": "lr_ablation", "curve_id": "g:ablation", "y": 0.0})  # another schedule: left out
    pd.DataFrame(rows).to_parquet(tmp_path / "gemstones.parquet")
    budget = 6 * 4e6 * 50.0 * tokens_per_step  # the 4M model at step 50
    (profile,) = cal.constant_lr_isoflop_profiles(tmp_path, budgets=[budget])
    # D = C / 6N lies within steps 1..1000 for N = 1M..32M: at N, step = 200e6 / N
    np.testing.assert_allclose(profile.x, sizes)
    expected = [10.0 - np.log10(200e6 / n) - 0.5 * np.log10(n / 1e6) for n in sizes]
    np.testing.assert_allclose(profile.y, expected, rtol=1e-12)
    assert json.loads(profile.config) == {"C": budget} and profile.source == cal.ISOFLOP_SOURCE and profile.direction == "min"
    task = rc.make_tasks([profile], 0.2)[0]
    assert rc.curvecast_curve(task, isoflop={cal.ISOFLOP_SOURCE: "C"}).config == {"isoflop": budget}
    # a budget that only 3 models reach (8M..32M, at steps 1000..250) makes no profile: the benchmark needs 5 points
    assert cal.constant_lr_isoflop_profiles(tmp_path, budgets=[6 * 1e6 * 8000.0 * tokens_per_step]) == []
    with pytest.raises(FileNotFoundError, match="pass --data DIR"):
        cal.constant_lr_isoflop_profiles(tmp_path / "elsewhere")
