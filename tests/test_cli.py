"""Command line: prior check and plot, throughput benchmark smoke run, error output."""

import json
import subprocess
import sys
from pathlib import Path

from curvecast.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_check_prior_command(capsys):
    assert main(["check-prior", "--prior", "simple", "--tasks", "8"]) == 0
    out = capsys.readouterr().out
    assert "SimplePowerLawPrior: conformance check passed" in out and "curves of 100 points per second" in out


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
