"""Defects found when the project was tried as a new user would (issue 10): one test per row."""

import json
import subprocess
import sys
import warnings

import pytest
import torch
from curvecast.pfn import ModelConfig
from curvecast.training import TrainConfig, train

from curvecast.cli import main
from curvecast.curve_file import read_run_files
from curvecast.errors import (
    CheckpointError,
    InvalidConfigError,
    InvalidCurveError,
    PriorLoadError,
)

TINY = TrainConfig(
    model=ModelConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, n_bars=32, max_runs=2),
    prior="simple",
    prior_overrides={"n_points": 16},
    steps=40,
    batch_size=8,
    warmup_steps=2,
    eval_every=40,
    eval_tasks=8,
    checkpoint_every=100,
    border_tasks=64,
    device="cpu",
    progress=False,
)


def test_csv_columns_are_picked_by_name_or_flag_and_any_separator_works(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("epoch,lr,loss\n1,0.1,5\n2,0.1,4\n3,0.05,3.5\n")
    run = read_run_files([path])[0]
    assert run.x == [1.0, 2.0, 3.0] and run.y == [5.0, 4.0, 3.5]  # not lr
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,0.1,5\n2,0.1,4\n3,0.05,3.5\n")
    with pytest.raises(InvalidCurveError, match="--x COLUMN --y COLUMN"):
        read_run_files([odd])
    assert read_run_files([odd], x_column="a", y_column="c")[0].y == [5.0, 4.0, 3.5]
    with pytest.raises(InvalidCurveError, match="--x 'nope'"):
        read_run_files([odd], x_column="nope", y_column="c")
    for sep in (";", "\t"):
        other = tmp_path / "sep.csv"
        other.write_text(f"x{sep}y\n1{sep}5\n2{sep}4\n3{sep}3.5\n")
        assert read_run_files([other])[0].y == [5.0, 4.0, 3.5]
    with pytest.raises(InvalidCurveError, match="is a directory"):
        read_run_files([tmp_path])


@pytest.mark.parametrize(
    "payload, entry",
    [
        ({"x": [1, 2, [3], 4], "y": [1, 2, 3, 4]}, '"x"\\[2\\] is \\[3\\]'),
        ({"x": [1, 2, True, 4], "y": [1, 2, 3, 4]}, '"x"\\[2\\] is true'),
        ({"x": [1, 2, "3", 4], "y": [1, 2, 3, 4]}, '"x"\\[2\\] is "3"'),
        ({"x": [1, 2, 3], "y": [1, {"re": 1, "im": 2}, 3]}, '"y"\\[1\\]'),
    ],
)
def test_json_entries_that_are_not_numbers_are_named(tmp_path, payload, entry, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(InvalidCurveError, match=entry):
        read_run_files([path])
    assert main(["predict", str(path), "--until", "10"]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("curvecast 0.")


def test_training_refuses_to_replace_a_run_without_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    config = TINY.replace(out_dir=str(out), steps=4)
    train(config)
    first = (out / "model.safetensors").read_bytes()
    with pytest.raises(InvalidConfigError, match="--overwrite"):
        train(config)
    assert (out / "model.safetensors").read_bytes() == first
    train(config.replace(seed=5), overwrite=True)
    assert (out / "model.safetensors").read_bytes() != first
    with pytest.raises(InvalidConfigError, match="one of them"):
        train(config, resume=True, overwrite=True)
    args = ["train", "--preset", "tiny", "--steps", "2", "--out", str(out), "--no-progress"]
    assert main(args) == 2 and "already holds a training run" in capsys.readouterr().err


def test_a_short_run_killed_midway_can_resume(tmp_path):
    """checkpoint_every=100 on a 40-step run still checkpoints every 4 steps (a tenth of the run)."""
    out = tmp_path / "run"
    code = (
        "import os, sys, json\n"
        "from curvecast.training import TrainConfig, train\n"
        "config = TrainConfig.from_dict(json.loads(sys.argv[1]))\n"
        "from curvecast.training import loop\n"
        "original = loop.optimizer_step\n"
        "def step(*a, **k):\n"
        "    step.n = getattr(step, 'n', 0) + 1\n"
        "    if step.n == 22:\n"
        "        os._exit(9)  # as kill -9 would\n"
        "    return original(*a, **k)\n"
        "loop.optimizer_step = step\n"
        "train(config)\n"
    )
    subprocess.run([sys.executable, "-c", code, json.dumps(TINY.replace(out_dir=str(out)).to_dict())], check=False)
    assert (out / "state.safetensors").exists()
    result = train(TINY.replace(out_dir=str(out)), resume=True)
    assert result.steps == 40
    assert main(["train", "--preset", "tiny", "--steps", "3", "--checkpoint-every", "1", "--out", str(tmp_path / "b"), "--no-progress"]) == 0


def test_damaged_or_nan_weights_are_refused_at_load(tmp_path):
    from curvecast.pfn.checkpoint import load_model, save_model

    import curvecast

    out = tmp_path / "run"
    model = train(TINY.replace(out_dir=str(out), steps=2)).model
    load_model(out)  # intact: loads
    data = bytearray((out / "model.safetensors").read_bytes())
    data[-4000:] = bytes(4000)
    (out / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        curvecast.load(out)
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    save_model(out, model)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_model(out)


def test_shipped_models_carry_their_checksum():
    from curvecast.pfn.checkpoint import file_sha256, read_config

    from curvecast.predictor import SHIPPED_MODELS, default_model_path

    checksums = set()
    for name in SHIPPED_MODELS:
        path = default_model_path(name)
        checksums.add(file_sha256(path / "model.safetensors"))
        assert read_config(path)["weights_sha256"] == file_sha256(path / "model.safetensors")
    assert len(checksums) == len(SHIPPED_MODELS)  # three models, not one copied thrice
    with pytest.raises(InvalidConfigError, match="shipped models are 'default', 'bo', 'tables'; got 'big'"):
        default_model_path("big")


@pytest.mark.parametrize(
    "y, match",
    [
        ([4.0, 3.0, 2.5, 2.2j], "y\\[3\\] is 2.2j"),
        ([4.0, 3.0, True, 2.2], "y\\[2\\] is True"),
        (["4", "3", "2.5", "2.2"], "y\\[0\\] is '4'"),
        (__import__("numpy").array([4.0, 3.0, 2.5, 2.2]) + 1j, "complex numbers"),
    ],
)
def test_values_that_are_not_real_numbers_are_named(y, match):
    import curvecast

    with pytest.raises(InvalidCurveError, match=match):
        curvecast.load().predict([1.0, 2.0, 3.0, 4.0], y, [10.0])


def test_a_total_steps_far_below_x_is_ignored_for_runs_too():
    import numpy as np

    import curvecast
    from curvecast.errors import CurvecastWarning

    x = np.arange(1.0, 21.0)
    other = curvecast.Run(x, 2.0 + 3.0 * x**-0.5, {"total_steps": 5.0}, name="other")
    with pytest.warns(CurvecastWarning, match="far below the last observed x"):
        curvecast.load().predict(x[:10], 2.1 + 3.0 * x[:10] ** -0.5, [30.0], runs=[other])


def test_schedule_fields_the_model_cannot_read_warn():
    import numpy as np

    import curvecast
    from curvecast.errors import CurvecastWarning

    model = curvecast.load()
    x = np.arange(1.0, 21.0) * 10.0
    y = 2.0 + 3.0 * (x / 10.0) ** -0.5
    with pytest.warns(CurvecastWarning, match="no total_steps"):
        model.predict(x, y, [400.0], config={"schedule": "cosine"})
    with pytest.warns(CurvecastWarning, match="only a 'wsd' schedule has a cooldown"):
        model.predict(x, y, [400.0], config={"total_steps": 400, "cooldown_steps": 100})
    with pytest.warns(CurvecastWarning, match="schedule='cosine'"):
        model.predict(x, y, [400.0], config={"total_steps": 400, "schedule": "cosine", "cooldown_steps": 100})
    with pytest.warns(CurvecastWarning, match="past config\\['total_steps'\\] = 150"):
        model.predict(x, y, [300.0], config={"total_steps": 150, "schedule": "cosine"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what the model reads raises nothing
        model.predict(x, y, [400.0], config={"total_steps": 400, "schedule": "wsd", "cooldown_steps": 100})
        model.predict(x, y, [400.0], config={"total_steps": 200, "schedule": "cosine"})


def test_a_csv_y_column_name_sets_the_direction(tmp_path, capsys):
    from curvecast.curve_file import direction_from_name

    assert [direction_from_name(n) for n in ("accuracy", "val_acc", "Test-Accuracy", "episode_reward", "eval_loss", "ppl", "y", "acc_loss")] == [
        "max", "max", "max", "max", "min", "min", None, None
    ]
    acc = tmp_path / "acc.tsv"
    acc.write_text("epoch\taccuracy\n" + "".join(f"{e}\t{0.2 + 0.38 * (1 - 0.8 ** e):.4f}\n" for e in range(1, 9)))
    assert read_run_files([acc])[0].direction == "max"
    assert main(["predict", str(acc), "--until", "12", "--points", "1"]) == 0
    assert "direction max" in capsys.readouterr().out  # read as an accuracy: no --direction needed
    loss = tmp_path / "loss.csv"
    loss.write_text("step,loss\n1,5\n2,4\n3,3.5\n4,3.3\n")
    assert main(["predict", str(acc), str(loss), "--until", "12", "--points", "1"]) == 2
    assert "--direction" in capsys.readouterr().err


def test_prior_spec_errors_name_the_built_in_priors():
    from curvecast.priors import load_prior

    with pytest.raises(PriorLoadError, match="'default', 'simple'"):
        load_prior("nothing")


def test_a_long_csv_names_a_free_hyperparameter_left_empty_for_a_run(tmp_path, capsys):
    path = tmp_path / "sweep.csv"
    path.write_text("run,x,y,n_params,opt\nr0,1,3.0,1e7,adam\nr0,2,2.5,,\nr1,1,2.8,4e7,sgd\nr1,2,2.4,,\nbig,,,6.4e8,\n")
    with pytest.raises(InvalidCurveError, match="column 'opt' is empty on every row of run\\(s\\) \\['big'\\]"):
        read_run_files([path])


def test_a_change_under_a_thousandth_of_the_level_warns_and_a_plain_curve_does_not():
    import numpy as np

    import curvecast
    from curvecast.errors import CurvecastWarning

    model = curvecast.load()
    x = np.arange(1, 31) * 100.0
    y = 3.2 + 8 * (x / 100) ** -0.6  # a spread of about 2 against a level of about 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurvecastWarning)
        model.predict(x, y, [4000.0])
    with pytest.warns(CurvecastWarning, match="under a thousandth of its level"):
        model.predict(x, y + 1e5, [4000.0])


def test_long_csvs_read_a_byte_order_mark_column_names_and_x_y_flags(tmp_path):
    body = "run,step,val_acc,n_params\na,1,0.5,1e6\na,2,0.6,1e6\na,3,0.65,1e6\nb,1,0.4,2e6\nb,2,0.55,2e6\nb,3,0.6,2e6\n"
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + body.replace("step", "x").replace("val_acc", "y").encode())
    runs = read_run_files([tmp_path / "bom.csv"])
    assert [r.name for r in runs] == ["a", "b"] and runs[0].y == [0.5, 0.6, 0.65]
    (tmp_path / "named.csv").write_text(body)
    runs = read_run_files([tmp_path / "named.csv"])  # common names: step is x, val_acc is y (and says "max")
    assert [r.x for r in runs] == [[1.0, 2.0, 3.0]] * 2 and runs[1].y == [0.4, 0.55, 0.6] and runs[0].direction == "max"
    assert runs[0].config == {"n_params": 1e6}
    (tmp_path / "flags.csv").write_text(body.replace("step", "it").replace("val_acc", "quality"))
    with pytest.raises(InvalidCurveError, match="--x COLUMN --y COLUMN"):
        read_run_files([tmp_path / "flags.csv"])
    runs = read_run_files([tmp_path / "flags.csv"], x_column="it", y_column="quality")
    assert runs[1].x == [1.0, 2.0, 3.0] and runs[1].y == [0.4, 0.55, 0.6]


def test_shipped_models_load_by_name():
    import curvecast
    from curvecast.predictor import default_model_path

    assert curvecast.load("default").path == default_model_path("default")
    assert curvecast.load("tables").path == default_model_path("tables")


def test_prediction_arguments_of_the_wrong_kind_are_typed_errors():
    import numpy as np

    import curvecast

    x = np.arange(1.0, 11.0)
    y = torch.tensor(2.0 + 3.0 * x**-0.5, requires_grad=True)  # a tensor in an autograd graph is read by value
    prediction = curvecast.load().predict(x, y, [20.0, 40.0])
    with pytest.raises(InvalidConfigError, match="one number in \\(0, 1\\)"):
        prediction.interval([0.5, 0.9])
    for seed in ("a", 2**70, 1.7, True, -1):
        with pytest.raises(InvalidConfigError, match="seed must be an int"):
            prediction.sample(2, seed=seed)
    assert prediction.sample(2, seed=np.int64(3)).shape == (2, 2)


def test_scaling_tables_name_bad_cells_match_numbers_and_warn_on_copied_rows(tmp_path):
    import numpy as np

    from curvecast import scaling
    from curvecast.curve_file import read_table
    from curvecast.errors import CurvecastWarning

    rows = ["N,D,loss,C", "1e8,2e9,3.5,1.2e+18", "2e8,1e9,3.4,1.2e+18", "4e8,5e8,3.6,1.2e+18", "0,1e9,3.3,1.2e+18"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InvalidCurveError, match=r"line 5: column 'N' \(n_params\) holds '0'"):
        read_table(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("\n".join(rows[:4]) + "\n")
    assert read_table(tmp_path / "t.csv", where={"C": "1.2e18"})["n_params"] == [1e8, 2e8, 4e8]  # the same number, written otherwise
    with pytest.warns(CurvecastWarning, match=r"rows \[0\] appear more than once"):
        scaling.fit([1e8, 1e8, 2e8, 4e8], [2e9, 2e9, 1e9, 5e8], [3.5, 3.5, 3.4, 3.6])
    law = scaling.fit([1e8, 2e8, 4e8, 8e8], [4e9, 2e9, 1e9, 5e8], [3.5, 3.4, 3.45, 3.6])
    for seed in (-1, 1.5, "a"):
        with pytest.raises(InvalidConfigError, match="seed must be an int"):
            law.optimum(1.2e18, seed=seed)
    with pytest.raises(InvalidConfigError, match=r"flops \(--flops\) must be positive"):
        law.optimum(np.nan)


def test_cli_flag_errors_name_the_flags(tmp_path, capsys):
    assert main(["predict", "examples/nanogpt_val_loss.csv", "--until", "20000", "--tokens-per-x", "5"]) == 2
    assert "add --final" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses it, naming --tasks
        main(["plot-prior", "--tasks", "0", "--out", str(tmp_path / "p.png")])
    assert "--tasks: expected a positive whole number" in capsys.readouterr().err


def test_a_run_config_error_names_the_run_once():
    import curvecast

    with pytest.raises(InvalidConfigError) as info:
        curvecast.load().predict_runs([curvecast.Run([1.0, 2.0, 3.0], [3.0, 2.5, 2.2], {"a": float("nan")}), curvecast.Run([1.0, 2.0], [3.1, 2.6], {"a": 1.0})], [10.0])
    assert str(info.value).count("run 0") == 1


def test_loading_a_model_leaves_the_global_rng_and_reading_files_is_strict(tmp_path):
    import curvecast

    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    curvecast.load()
    torch.testing.assert_close(torch.rand(1), expected, rtol=0, atol=0)
    (tmp_path / "ragged.csv").write_text("x,y\n1,4.0\n2,3.5,9\n3,3.2\n")
    with pytest.raises(InvalidCurveError, match="line 3: the header names 2 columns"):
        read_run_files([tmp_path / "ragged.csv"])
    (tmp_path / "trailing.csv").write_text("x,y\n1,4.0,\n2,3.5,\n3,3.2,\n")  # an export's trailing commas are fine
    assert read_run_files([tmp_path / "trailing.csv"])[0].y == [4.0, 3.5, 3.2]


def test_subpackages_are_attributes_of_curvecast():
    import curvecast

    assert callable(curvecast.priors.default) and "priors" in dir(curvecast) and "load" in dir(curvecast)


def test_prior_comparison_plot_keeps_the_callers_matplotlib_backend_and_bad_tables_are_typed(tmp_path):
    import matplotlib
    import numpy as np
    from curvecast.priors import fidelity

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        x = np.arange(1.0, 31.0)
        curves = [(x, 2 + 3 * x**-0.5, "min"), (x, 1 + 2 * x**-0.3, "min")]
        fidelity.plot_comparison(fidelity.real_statistics(curves), {"mine": fidelity.real_statistics(curves)}, tmp_path / "c.png")
        assert matplotlib.get_backend().lower() == "svg" and (tmp_path / "c.png").stat().st_size > 1000
    finally:
        matplotlib.use(before)
    (tmp_path / "fake.parquet").write_text("curve_id,x,y\n0,1,2\n")
    with pytest.raises(InvalidCurveError, match="cannot read"):
        fidelity.read_curve_groups(tmp_path / "fake.parquet")


def test_plots_of_one_query_show_it_and_plot_commands_keep_matplotlib_state(tmp_path):
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    import curvecast
    from curvecast.errors import CheckpointNotFoundError

    x = np.arange(0.0, 30.0)
    pred = curvecast.load().predict(x, 2.0 + 3.0 / (1.0 + x) ** 0.5, [3000.0])
    ax = Figure().subplots()
    pred.plot(ax)
    low, high = pred.interval(0.9)
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]  # the bands, as bars at the one x
    assert any(np.allclose(seg[:, 0], 3000.0) and np.isclose(seg[:, 1].min(), low[0]) and np.isclose(seg[:, 1].max(), high[0]) for seg in segments)
    assert ax.get_xscale() == "symlog"  # x from 0 to 100 times the last observed x: its start stays visible
    before = matplotlib.get_backend()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    with pytest.raises(CheckpointNotFoundError, match="no logged step"):
        from curvecast.cli import _plot_run

        _plot_run(type("Args", (), {"run_dir": str(tmp_path / "run"), "out": str(tmp_path / "r.png")})())
    assert main(["plot-prior", "--prior", "simple", "--tasks", "2", "--out", str(tmp_path / "p.png")]) == 0
    assert matplotlib.get_backend() == before
    assert main(["plot-prior", "--prior", "simple", "--tasks", "2", "--out", str(tmp_path / "nowhere" / "p.png")]) == 2
