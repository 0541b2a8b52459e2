"""Command line: prior check and plot, throughput benchmark smoke run, error output."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from curvecast.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_check_prior_command(capsys):
    assert main(["check-prior", "--prior", "simple", "--tasks", "8"]) == 0
    out = capsys.readouterr().out
    assert "SimplePowerLawPrior: conformance check passed" in out and "curves per second on cpu" in out


def test_plot_prior_writes_png(tmp_path, capsys):
    out = tmp_path / "prior.png"
    assert main(["plot-prior", "--tasks", "4", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unwritable_run_folder_is_one_error_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", "--preset", "tiny", "--steps", "1", "--out", str(blocker / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_throughput_benchmark_prints_json():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--device", "cpu", "--preset", "tiny", "--steps", "2", "--prior-tasks", "500", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("prior_curves_per_s", "train_tokens_per_s", "train_steps_per_s"):
        assert result[key] > 0
    assert 0 < result["batch_prep_fraction"] < 1


def test_plot_run_draws_metrics(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": 10, "loss": 1.5}, {"step": 20, "loss": 1.2, "eval_prior_nll": 1.3, "eval_real_nll": 1.4}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "training.png"
    assert main(["plot-run", str(run), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot-run", str(tmp_path / "missing")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err


def test_plot_commands_want_png(tmp_path, capsys):
    assert main(["plot-prior", "--out", str(tmp_path / "p.txt")]) == 2
    assert "must name a .png" in capsys.readouterr().err


def write_loss_csv(path, header=True, nan_row=False):
    lines = ["step,loss"] if header else []
    for step in range(100, 1100, 100):
        lines.append(f"{step},{2.0 + 3.0 * (step / 100) ** -0.5:.5f}")
    if nan_row:
        lines.insert(3, "350,nan")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_predict_prints_a_quantile_table(tmp_path, capsys):
    csv = write_loss_csv(tmp_path / "run.csv")
    assert main(["predict", str(csv), "--until", "5000", "--points", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "10 observed points" in out[0] and out[1].split()[:3] == ["x", "mean", "q0.05"]
    rows = [[float(v) for v in line.split()] for line in out[2:6]]
    assert [r[0] for r in rows] == [2000.0, 3000.0, 4000.0, 5000.0]
    for r in rows:
        assert r[2] < r[5] < r[8]  # q0.05 < median < q0.95
    assert out[6].startswith("P(y at x = 5000 ends below the best observed value")


def test_predict_json_plot_and_headerless_csv_with_nan(tmp_path, capsys):
    csv = write_loss_csv(tmp_path / "run.csv", header=False, nan_row=True)
    png = tmp_path / "fan.png"
    assert main(["predict", str(csv), "--until", "3000", "--json", "--plot", str(png), "--log-x"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert len(data["x"]) == 10 and data["direction"] == "min" and 0.0 <= data["p_final_better_than_best_observed"] <= 1.0
    assert "warning: dropped 1 observed point" in captured.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_isoflop_reads_the_profile_as_a_table(tmp_path, capsys):
    import curvecast

    sizes = np.geomspace(2e7, 2e9, 9)
    loss = 1.7 + 400.0 / sizes**0.34 + 410.0 / (4e17 / (6 * sizes)) ** 0.28
    csv = tmp_path / "profile.csv"
    csv.write_text("n_params,loss\n" + "".join(f"{float(n)!r},{float(v)!r}\n" for n, v in zip(sizes[:5], loss[:5])))
    png = tmp_path / "profile.png"
    assert main(["predict", str(csv), "--isoflop", "4e17", "--until", "2e9", "--points", "3", "--log-x", "--json", "--plot", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = curvecast.scaling.isoflop_profile(sizes[:5], loss[:5], data["x"], flops=4e17)
    np.testing.assert_allclose(data["median"], expected.median, rtol=1e-5)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["predict", str(csv), "--isoflop", "4e17", "--until", "2e9", "--total-steps", "5"]) == 2
    assert "takes only 'isoflop'" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text(csv.read_text())
    assert main(["predict", str(csv), str(other), "--isoflop", "4e17", "--until", "2e9"]) == 2
    assert "curvecast scaling" in capsys.readouterr().err


def test_predict_reads_json_with_direction(tmp_path, capsys):
    path = tmp_path / "acc.json"
    path.write_text(json.dumps({"x": [1, 2, 3, 4, 5, 6], "y": [0.3, 0.45, 0.55, 0.6, 0.63, 0.65], "direction": "max"}))
    assert main(["predict", str(path), "--until", "20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["direction"] == "max" and data["bounds"] == [0.0, 1.0]
    assert max(data["quantiles"]["0.95"]) <= 1.0


def test_predict_bad_files_are_one_error_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n2,abc\n")
    cases = [
        ([str(bad), "--until", "5"], "line 3"),
        ([str(tmp_path / "missing.csv"), "--until", "5"], "no such file"),
        ([str(write_loss_csv(tmp_path / "ok.csv")), "--until", "10"], "--until must lie beyond"),
        ([str(tmp_path / "ok.csv"), "--until", "5000", "--plot", "fan.jpg"], ".png"),
    ]
    (tmp_path / "broken.json").write_text("{not json")
    cases.append(([str(tmp_path / "broken.json"), "--until", "5"], "not valid JSON"))
    for argv, match in cases:
        assert main(["predict", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and match in err and "Traceback" not in err


def _sweep_files(tmp_path):
    paths = []
    for k in range(3):
        p = tmp_path / f"run{k}.csv"
        lines = ["x,y"] + [f"{s},{2.0 + 0.1 * k + 3.0 * (s / 100) ** -0.5:.5f}" for s in range(100, 3100, 100)]
        p.write_text("\n".join(lines[: 31 if k else 12]) + "\n")
        paths.append(str(p))
    return paths


def test_predict_several_files_with_a_target(tmp_path, capsys):
    paths = _sweep_files(tmp_path)
    assert main(["predict", *paths, "--until", "6000", "--points", "3", "--target", "run0"]) == 0
    out = capsys.readouterr().out
    assert "run run0: 11 observed points" in out and "given 2 other run(s)" in out and out.count("\n") >= 5
    assert main(["predict", *paths, "--until", "6000", "--points", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in result["runs"]] == ["run0", "run1", "run2"]
    plot = tmp_path / "fan.png"
    assert main(["predict", *paths, "--until", "6000", "--target", "run0", "--plot", str(plot), "--plot-samples", "3"]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["predict", *paths, "--until", "6000", "--target", "nope"]) == 2
    assert "names no run" in capsys.readouterr().err


def test_predict_long_csv_with_run_and_config_columns(tmp_path, capsys):
    rows = ["run,x,y,n_params,optimizer"]
    for k, opt in enumerate(["adam", "sgd"]):
        rows += [f"r{k},{s},{2.0 + 0.2 * k + 3.0 * (s / 100) ** -0.5:.5f},{1e7 * 4**k:g},{opt}" for s in range(100, 3100, 100)]
    rows.append("big,,,1.6e8,adam")  # a run not started: config only
    path = tmp_path / "sweep.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["predict", str(path), "--until", "6000", "--points", "2", "--target", "big", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs"][0]["run"] == "big" and len(result["runs"][0]["median"]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("run,x,y,lr\nr0,1,2,0.1\nr0,2,1,0.2\n")
    assert main(["predict", str(bad), "--until", "5"]) == 2
    assert "one value per run" in capsys.readouterr().err



def test_predict_final_pools_a_ladder_runs_forecast_with_its_sweep_read_as_a_table(tmp_path, capsys):
    rows = ["run,x,y,n_params,n_tokens"]
    for k in range(4):  # a size ladder of finished runs: 30 checkpoints each, 1000 tokens per x
        rows += [f"r{k},{s},{2.0 - 0.15 * k + 3.0 * (s / 100) ** -0.5:.5f},{1e7 * 2**k:g},3e6" for s in range(100, 3100, 100)]
    rows += [f"big,{s},{1.4 + 3.0 * (s / 100) ** -0.5:.5f},1.6e8,3e6" for s in range(100, 400, 100)]  # a tenth of the way: both pooled
    path = tmp_path / "ladder.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["predict", str(path), "--until", "3000", "--target", "big", "--final", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["runs"][0]
    assert result["run"] == "big" and result["x"] == [3000.0] and len(result["weights"]) == 2 and min(result["weights"]) > 0.1
    assert abs(sum(result["weights"]) - 1.0) < 1e-12 and result["quantiles"]["0.05"][0] < result["median"][0] < result["quantiles"]["0.95"][0]
    assert main(["predict", str(path), "--until", "3000", "--target", "big", "--final"]) == 0
    assert "its own forecast weighted" in capsys.readouterr().out
    assert main(["predict", str(path), "--until", "3000", "--final", "--json"]) == 0  # the one run short of --until
    assert json.loads(capsys.readouterr().out)["runs"][0]["weights"] == result["weights"]
    assert main(["predict", str(path), "--until", "3000", "--target", "big", "--final", "--plot", str(tmp_path / "f.png")]) == 2
    assert "without --plot" in capsys.readouterr().err
    untokened = tmp_path / "untokened.csv"  # the same ladder without n_tokens: --tokens-per-x sets them from each run's end
    untokened.write_text("\n".join(",".join(row.split(",")[:4]) for row in rows) + "\n")
    assert main(["predict", str(untokened), "--until", "3000", "--target", "big", "--final", "--json"]) == 2
    assert "has no 'n_tokens'" in capsys.readouterr().err
    assert main(["predict", str(untokened), "--until", "3000", "--target", "big", "--final", "--tokens-per-x", "1000", "--json"]) == 0
    same = json.loads(capsys.readouterr().out)["runs"][0]
    assert same["weights"] == result["weights"] and same["median"] == result["median"]  # 3000 x 1000 = the 3e6 tokens given above
    assert main(["predict", str(untokened), "--until", "3000", "--target", "big", "--tokens-per-x", "1000"]) == 2
    assert "for --final" in capsys.readouterr().err
    assert main(["predict", str(path), "--until", "3000", "--target", "big", "--final", "--points-are-runs", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)["runs"][0]  # every checkpoint a table row: another table, another forecast
    assert every["weights"] == result["weights"] and every["median"] != result["median"]
    assert main(["predict", str(path), "--until", "3000", "--target", "big", "--points-are-runs"]) == 2
    assert "add --final" in capsys.readouterr().err


def test_predict_argument_mistakes_are_one_error_line(tmp_path, capsys):
    paths = _sweep_files(tmp_path)
    cases = [
        ([str(tmp_path), "--until", "10"], "is a directory"),
        ([paths[1], "--until", "inf"], "finite"),
        ([paths[1], "--until", "6000", "--plot-samples", "-1"], "plot-samples must be >= 0"),
        ([paths[1], "--until", "6000", "--plot-samples", "3"], "add --plot"),
    ]
    for argv, message in cases:
        assert main(["predict", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err and len(err.strip().splitlines()) == 1, err
