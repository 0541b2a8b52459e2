"""Priors users shape: Mixture, loading a prior by spec or file, training and fine-tuning on it."""

import json
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from curvecast.pfn import ModelConfig
from curvecast.priors import (
    CONFIG_FIELDS,
    CurveBank,
    Mixture,
    SimplePowerLawPrior,
    TaskBatch,
    check_prior,
    load_prior,
    prior_record,
)
from curvecast.training import TrainConfig, finetune, train

from curvecast.cli import main
from curvecast.errors import (
    CheckpointError,
    InvalidConfigError,
    InvalidCurveError,
    PriorCheckError,
    PriorLoadError,
)

SMALL = TrainConfig(
    model=ModelConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, n_bars=32, max_runs=4),
    prior="simple",
    prior_overrides={"n_points": 16},
    steps=3,
    batch_size=8,
    warmup_steps=1,
    eval_every=3,
    eval_tasks=8,
    checkpoint_every=3,
    border_tasks=64,
    device="cpu",
    progress=False,
)


@dataclass(frozen=True)
class ConstantPrior:
    """Two runs of ``n_points`` points at a constant ``level`` (no noise): easy to recognise in a mixture."""

    level: float = 7.0
    n_points: int = 8

    def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
        p = n_points or self.n_points
        x = torch.arange(p, dtype=torch.float32, device=device).expand(n_tasks, 2, p).clone()
        y = torch.full((n_tasks, 2, p), self.level, device=device) + 0.01 * torch.rand(n_tasks, 2, p, generator=generator, device=device)
        config = torch.zeros(n_tasks, 2, len(CONFIG_FIELDS), device=device)
        return TaskBatch(x, y, torch.ones_like(x, dtype=torch.bool), config, torch.zeros_like(config, dtype=torch.bool), torch.ones(n_tasks, dtype=torch.int8, device=device))


class GlobalRNGPrior(ConstantPrior):
    def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
        torch.rand(1)  # the global RNG: check_prior must catch this
        return super().sample(n_tasks, generator=generator, device=device, n_points=n_points)


def test_mixture_draws_components_by_weight_and_pads_shapes():
    simple = SimplePowerLawPrior(n_points=12)
    mixture = Mixture([(simple, 1.0), (ConstantPrior(), 3.0)])
    check_prior(mixture, n_tasks=32)
    batch = mixture.sample(4000, generator=torch.Generator().manual_seed(0))
    assert batch.x.shape == (4000, 2, 12)  # runs from ConstantPrior, points from SimplePowerLawPrior
    constant = (batch.y[:, 0, 0] > 6.9) & (batch.y[:, 0, 0] < 7.02)
    assert abs(constant.float().mean().item() - 0.75) < 0.03  # weight 3 of 4
    # The simple prior's tasks have one run: the padded second run is absent.
    assert not batch.point_mask[~constant, 1].any() and batch.point_mask[constant, 1, :8].all()
    assert not batch.point_mask[constant, :, 8:].any()  # ConstantPrior's 8 points padded to 12
    torch.testing.assert_close(mixture.weights, torch.tensor([0.25, 0.75], dtype=torch.float64))
    assert mixture.n_points == 12
    record = prior_record(mixture)
    assert [c["weight"] for c in record["components"]] == [1.0, 3.0] and record["components"][1]["params"]["level"] == 7.0


@pytest.mark.parametrize("components", [[], [(SimplePowerLawPrior(), 0.0)], [(SimplePowerLawPrior(), -1)], [(SimplePowerLawPrior(), float("nan"))], [("not a prior", 1.0)], [SimplePowerLawPrior()]])
def test_mixture_rejects_bad_components(components):
    with pytest.raises(InvalidConfigError, match="Mixture"):
        Mixture(components)


def test_mixture_takes_numpy_weights():
    mixture = Mixture([(SimplePowerLawPrior(), np.int64(1)), (ConstantPrior(), np.float32(3.0))])
    torch.testing.assert_close(mixture.weights, torch.tensor([0.25, 0.75], dtype=torch.float64))
    with pytest.raises(InvalidConfigError, match="positive finite"):
        Mixture([(SimplePowerLawPrior(), np.float64(0.0))])


def test_check_prior_names_the_broken_rule_in_a_mixture():
    with pytest.raises(PriorCheckError, match="global torch RNG"):
        check_prior(Mixture([(GlobalRNGPrior(), 1.0)]))


def _bank_curves():
    x = torch.arange(1.0, 101.0).double().numpy()
    return [(x, 3.0 + 5.0 * x**-0.5, "min"), (x[:10] - 1.0, 0.5 + 0.03 * x[:10], "max")]


def test_curve_bank_names_a_curve_that_is_not_numbers():
    x = np.arange(1.0, 11.0)
    with pytest.raises(InvalidCurveError, match="curve 1: x and y must hold numbers"):
        CurveBank([(x, 2.0 + x**-0.5, "min"), (x, ["a"] * 10, "min")])


def test_check_prior_command_measures_speed_at_the_priors_own_length(tmp_path, capsys):
    path = tmp_path / "bank_prior.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from curvecast.priors import CurveBank

        x = np.arange(1.0, 101.0)
        BANK = CurveBank([(x, 3.0 + 5.0 * x**-0.5, "min")], n_points=64)
    '''))
    assert main(["check-prior", "--prior-file", f"{path}:BANK", "--tasks", "8"]) == 0  # a bank of 64 points: no 100-point draw
    assert "CurveBank: conformance check passed" in capsys.readouterr().out


def test_a_prior_file_loads_under_the_same_module_name_in_every_process(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "my_prior.py"
    path.write_text(textwrap.dedent('''
        import dataclasses
        from curvecast.priors import SimplePowerLawPrior

        @dataclasses.dataclass(frozen=True)
        class MyPrior:  # a class of the file's own: its record names the module the file was loaded as
            def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
                return SimplePowerLawPrior().sample(n_tasks, generator=generator, device=device, n_points=n_points)

        PRIOR = MyPrior()
    '''))
    code = f"from curvecast.priors import load_prior, prior_record; print(prior_record(load_prior(file={str(path) + ':PRIOR'!r})))"
    records = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(records) == 1  # a resumed run finds its prior recorded alike


def test_curve_bank_replays_curves_up_to_an_affine_map_and_passes_check_prior():
    bank = CurveBank(_bank_curves(), n_points=16, x_scale_decades=1.0, y_scale_decades=1.0)
    check_prior(bank, n_tasks=16)
    check_prior(Mixture([(SimplePowerLawPrior(n_points=16), 3.0), (bank, 1.0)]), n_tasks=16)
    batch = bank.sample(64, generator=torch.Generator().manual_seed(0))
    again = bank.sample(64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(batch.y, again.y) and torch.equal(batch.x, again.x)
    assert batch.x.shape == (64, 1, 16) and not batch.config_mask.any()
    lengths = batch.point_mask.sum(-1).flatten()
    assert set(lengths.tolist()) == {16, 10}  # the 100-point curve thinned to 16, the 10-point one kept whole
    assert ((lengths == 10) == (batch.direction == -1)).all()
    # each task is its source curve up to x -> a x and y -> b y + c with a, b > 0 (direction kept)
    for i in range(8):
        n = int(lengths[i])
        x, y = batch.x[i, 0, :n].double(), batch.y[i, 0, :n].double()
        src_x, src_y, _ = _bank_curves()[0 if n == 16 else 1]
        keep = torch.linspace(0, len(src_x) - 1, n).round().long()
        sx, sy = torch.as_tensor(src_x)[keep], torch.as_tensor(src_y)[keep]
        if n == 10:
            assert x[0] == 0.0  # the curve starting at x = 0 stays at 0
        a = x[-1] / sx[-1]
        torch.testing.assert_close(x, a * sx, rtol=1e-5, atol=1e-6)
        b = (y[-1] - y[0]) / (sy[-1] - sy[0])
        assert a > 0 and b > 0
        torch.testing.assert_close(y, b * sy + (y[0] - b * sy[0]), rtol=1e-4, atol=1e-4 * float(y.abs().max()))
    thin = bank.sample(8, generator=torch.Generator().manual_seed(1), n_points=6)
    assert thin.x.shape[-1] == 6 and (thin.point_mask.sum(-1) == 6).all()


def test_curve_bank_late_starts_replay_suffixes_of_the_curves():
    x = np.arange(1.0, 41.0)
    curves = [(x, 3.0 + 5.0 * x**-0.5, "min")]
    bank = CurveBank(curves, n_points=40, x_scale_decades=0.0, y_scale_decades=0.0, p_late_start=1.0, late_start_max=0.5)
    check_prior(bank, n_tasks=16)
    batch = bank.sample(200, generator=torch.Generator().manual_seed(0))
    lengths = batch.point_mask.sum(-1).flatten()
    starts = 40 - lengths
    assert starts.min() >= 0 and starts.max() <= 20 and len(set(starts.tolist())) > 10  # up to half dropped
    for i in range(20):
        n, first = int(lengths[i]), int(starts[i])
        xi = batch.x[i, 0, :n].double().numpy()
        yi = batch.y[i, 0, :n].double().numpy()
        # no scaling here (0 decades), only the random shift of y by U(-1, 1) times its range
        np.testing.assert_allclose(xi, x[first:], rtol=1e-6)
        np.testing.assert_allclose(yi - yi[0], curves[0][1][first:] - curves[0][1][first], rtol=1e-4, atol=1e-5)
    # thinned to fewer points, a late task still ends at the curve's last point and starts at its own start
    thin = bank.sample(50, generator=torch.Generator().manual_seed(1), n_points=8)
    assert (thin.point_mask.sum(-1) == 8).all() and torch.allclose(thin.x[:, 0, -1].double(), torch.tensor(40.0, dtype=torch.float64))
    assert (thin.x[:, 0, 0] >= 1.0).all() and (thin.x[:, 0, 0] > 1.0).any()
    # p_late_start = 0 draws nothing extra: the default bank's tasks are those of a bank built without the option
    plain = CurveBank(curves, n_points=40).sample(32, generator=torch.Generator().manual_seed(2))
    zero = CurveBank(curves, n_points=40, p_late_start=0.0).sample(32, generator=torch.Generator().manual_seed(2))
    assert torch.equal(plain.x, zero.x) and torch.equal(plain.y, zero.y) and (plain.point_mask.sum(-1) == 40).all()
    with pytest.raises(InvalidConfigError, match="p_late_start"):
        CurveBank(curves, p_late_start=1.5)
    with pytest.raises(InvalidConfigError, match="late_start_max"):
        CurveBank(curves, late_start_max=-0.1)


@pytest.mark.parametrize(
    "curves, error",
    [
        ([], InvalidConfigError),
        ([([1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.5, 1.2], "down")], InvalidConfigError),
        ([([1.0, 2.0, 3.0], [3.0, 2.0, 1.5], "min")], InvalidCurveError),
        ([([1.0, 3.0, 2.0, 4.0], [3.0, 2.0, 1.5, 1.2], "min")], InvalidCurveError),
        ([([1.0, 2.0, 3.0, 4.0], [3.0, float("nan"), 1.5, 1.2], "min")], InvalidCurveError),
        ([([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0], "min")], InvalidCurveError),
    ],
)
def test_curve_bank_rejects_bad_curves(curves, error):
    with pytest.raises(error):
        CurveBank(curves)


def test_load_prior_from_module_file_and_factory(tmp_path):
    assert isinstance(load_prior("simple"), SimplePowerLawPrior)
    assert isinstance(load_prior("curvecast.priors:SimplePowerLawPrior"), SimplePowerLawPrior)  # a class is called
    assert isinstance(load_prior("curvecast.priors:default"), type(load_prior("default")))  # a factory is called
    path = tmp_path / "my_prior.py"
    path.write_text(textwrap.dedent("""
        from curvecast.priors import Mixture, SimplePowerLawPrior
        SHORT = SimplePowerLawPrior(n_points=10)
        def both():
            return Mixture([(SHORT, 1.0), (SimplePowerLawPrior(), 2.0)])
        NOT_A_PRIOR = 3
    """))
    assert load_prior(file=f"{path}:SHORT").n_points == 10
    assert isinstance(load_prior(file=f"{path}:both"), Mixture)
    for kwargs, match in [
        ({"spec": "no_such_module_xyz:PRIOR"}, "cannot import module"),
        ({"spec": "curvecast.priors:nothing"}, "has no attribute 'nothing'"),
        ({"spec": "curvecast.priors"}, "module:attr"),
        ({"file": f"{path}:NOT_A_PRIOR"}, "not a prior"),
        ({"file": f"{tmp_path / 'missing.py'}:X"}, "not an existing .py file"),
        ({"file": f"{path}:nothing"}, "has no attribute"),
    ]:
        with pytest.raises(PriorLoadError, match=match):
            load_prior(**kwargs)


def test_train_on_a_custom_prior_records_it_and_resume_needs_the_same(tmp_path):
    prior = Mixture([(SimplePowerLawPrior(n_points=16), 1.0), (ConstantPrior(n_points=16), 1.0)])
    config = SMALL.replace(out_dir=str(tmp_path / "run"))
    result = train(config, prior=prior)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["prior"]["class"].endswith("Mixture") and len(saved["prior"]["components"]) == 2
    assert result.steps == 3
    resumed = train(config.replace(steps=5), prior=prior, resume=True)
    assert resumed.steps == 5
    with pytest.raises(InvalidConfigError, match="prior differs"):
        train(config.replace(steps=6), prior=ConstantPrior(n_points=16), resume=True)
    with pytest.raises(PriorCheckError, match="global torch RNG"):
        train(config.replace(out_dir=str(tmp_path / "bad")), prior=GlobalRNGPrior())


def test_finetune_takes_the_source_architecture_and_a_misfit_is_a_checkpoint_error(tmp_path):
    source = tmp_path / "source"
    train(SMALL.replace(out_dir=str(source)))
    config = finetune(str(source))
    assert config.model == SMALL.model and config.init == str(source) and config.lr < SMALL.lr
    child = train(config.replace(out_dir=str(tmp_path / "child"), steps=2, progress=False, border_tasks=64, eval_tasks=8), prior=ConstantPrior(n_points=16))
    assert child.steps == 2
    misfit = SMALL.replace(model=ModelConfig(d_model=48, n_layers=1, n_heads=2, d_ff=64, n_bars=32, max_runs=4), init=str(source), out_dir=str(tmp_path / "x"))
    with pytest.raises(CheckpointError, match=r"d_model 32 \(this config: 48\)"):
        train(misfit)
    with pytest.raises(CheckpointError):
        finetune(str(tmp_path / "nowhere"))


def test_cli_trains_on_a_prior_file_and_reports_bad_specs(tmp_path, capsys):
    path = tmp_path / "p.py"
    path.write_text("from curvecast.priors import SimplePowerLawPrior\nPRIOR = SimplePowerLawPrior(n_points=16)\n")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"preset": "tiny", "model": SMALL.model.to_dict(), "border_tasks": 64, "eval_tasks": 8, "batch_size": 8}))
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--prior-file", f"{path}:PRIOR", "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["prior"]["params"]["n_points"] == 16
    assert main(["check-prior", "--prior-file", f"{path}:PRIOR", "--tasks", "8"]) == 0
    capsys.readouterr()
    assert main(["train", "--prior", "no_such_module_xyz:P", "--steps", "1", "--out", str(tmp_path / "r2")]) == 2
    assert "cannot import module" in capsys.readouterr().err
    assert main(["check-prior", "--prior", "curvecast.priors:nothing"]) == 2
    assert "no attribute" in capsys.readouterr().err


def test_curve_statistics_at_hand_computed_values():
    import numpy as np
    from curvecast.priors.fidelity import STATISTICS, curve_statistics

    x = np.arange(1.0, 41.0)
    y = -np.log(x / 40.0)  # a straight line in ln t, reaching 0 at the end
    stats = curve_statistics(x, y)
    # Rescaled by its range over t >= 0.2 (x >= 8): z = -ln t / ln 5, a slope of -1 / ln 5 everywhere.
    assert stats["mid_slope"] == pytest.approx(-1 / np.log(5), abs=1e-9)
    assert stats["late_slope"] == pytest.approx(-1 / np.log(5), abs=1e-9)
    assert stats["curvature"] == pytest.approx(0.0, abs=1e-9) and stats["final_drop"] == pytest.approx(0.0, abs=1e-9)
    assert stats["early_progress"] == pytest.approx(1 - np.log(5) / np.log(40), abs=1e-9)  # z(0.2) on the full range
    assert stats["noise"] == 0.0 and np.isnan(stats["noise_autocorr"])
    assert stats["non_monotone"] == 0.0 and stats["plateau_fraction"] == 0.0
    flipped = curve_statistics(x, -y, "max")
    assert all(flipped[k] == pytest.approx(stats[k], nan_ok=True) for k in STATISTICS)
    dropped = y.copy()
    dropped[-2:] -= 0.2 * np.log(5)  # the last two points fall 0.2 ln 5 below the trend
    # The last 5% is x = 38, 39, 40 (mean drop 0.4 ln 5 / 3); the late range grows to 1.2 ln 5.
    assert curve_statistics(x, dropped)["final_drop"] == pytest.approx((0.4 / 3) / 1.2, abs=1e-9)
    assert stats["end_rise"] == 0.0
    # Falls to its best, flat at 0 for x in 17..24 (so the running median is exact there), then rises.
    u_shape = np.maximum(np.abs(np.log(x / 20.0)) - np.log(1.2), 0.0)
    # Over t >= 0.2 (x >= 8) the range is ln(2.5 / 1.2) (at x = 8); the end sits ln(2 / 1.2) above the best.
    assert curve_statistics(x, u_shape)["end_rise"] == pytest.approx(np.log(2 / 1.2) / np.log(2.5 / 1.2), abs=1e-9)
    assert all(np.isnan(v) for v in curve_statistics(x[:5], y[:5]).values())  # too short


def test_compare_flags_statistics_in_the_prior_tails():
    import numpy as np
    from curvecast.priors.fidelity import STATISTICS, compare

    rng = np.random.default_rng(0)
    prior = {k: rng.normal(size=4000) for k in STATISTICS}
    real = {k: np.zeros(50) for k in STATISTICS}
    real["noise"] = np.full(50, 3.0)  # beyond the prior's 97.5% quantile (1.96)
    report = compare(prior, real)
    assert report["noise"]["in_tails"] and report["noise"]["share_above_prior_97.5%"] == 1.0
    assert not report["late_slope"]["in_tails"] and report["late_slope"]["percentile_of_real_median"] == pytest.approx(50, abs=3)


def test_cli_check_prior_against_a_curve_table(tmp_path, capsys):
    import numpy as np

    rows = ["source,curve_id,x,y,direction"]
    for i in range(6):
        for x in range(1, 31):
            rows.append(f"{'a' if i < 3 else 'b'},{i},{x},{2 + 3 * x ** -0.5 * (1 + 0.1 * i):.6f},min")
    table = tmp_path / "curves.csv"
    table.write_text("\n".join(rows) + "\n")
    assert main(["check-prior", "--prior", "simple", "--against", str(table), "--prior-tasks", "64", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["groups"]
    assert sorted(report) == ["a", "b"] and report["a"]["late_slope"]["n_real"] == 3
    assert np.isfinite(report["b"]["mid_slope"]["real_median"])
    plot = tmp_path / "fit.png"
    assert main(["check-prior", "--prior", "simple", "--against", str(table), "--prior-tasks", "64", "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 1000 and "late_slope" in capsys.readouterr().out
    assert main(["check-prior", "--against", str(tmp_path / "none.csv")]) == 2
    assert main(["check-prior", "--plot", str(plot)]) == 2
    # The same table with semicolons (a European spreadsheet export) is read the same way.
    semicolons = tmp_path / "curves_semicolon.csv"
    semicolons.write_text("\n".join(r.replace(",", ";") for r in rows) + "\n")
    assert main(["check-prior", "--prior", "simple", "--against", str(semicolons), "--prior-tasks", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"] == report


def test_finetune_onto_a_finer_bar_grid_starts_from_the_same_predictions(tmp_path):
    from curvecast.pfn import PFN
    from curvecast.pfn.checkpoint import load_model
    from curvecast.training.loop import build_prior, make_batch
    from curvecast.training.warm_start import warm_start

    source = tmp_path / "source"
    train(SMALL.replace(out_dir=str(source)))
    coarse, _ = load_model(source)
    finer_config = ModelConfig(**{**SMALL.model.to_dict(), "n_bars": 2 + 3 * (SMALL.model.n_bars - 2)})  # each interior bar split 3 ways
    fine = PFN(finer_config, torch.linspace(-1.0, 1.0, finer_config.n_bars + 1))
    record = warm_start(fine, str(source))
    assert record["refined_bars"] == {"from": 32, "to": 92}
    borders, refined = coarse.bar_distribution.borders, fine.bar_distribution.borders
    assert torch.equal(refined[:2], borders[:2]) and torch.equal(refined[-2:], borders[-2:])
    assert torch.allclose(refined[1:-2:3], borders[1:-2])  # old interior borders kept, two new ones between each pair
    assert torch.allclose(refined[2], borders[1] + (borders[2] - borders[1]) / 3)
    inp, target, mask = make_batch(build_prior(SMALL), SMALL, torch.Generator().manual_seed(0), torch.device("cpu"), 4)
    coarse.eval(), fine.eval()
    with torch.no_grad():
        lc, lf = coarse(inp), fine(inp)
        y = target.clamp(-1e4, 1e4)
        assert torch.allclose(coarse.bar_distribution.log_prob(lc, y)[mask], fine.bar_distribution.log_prob(lf, y)[mask], atol=1e-4)
        assert torch.allclose(coarse.bar_distribution.cdf(lc, y)[mask], fine.bar_distribution.cdf(lf, y)[mask], atol=1e-5)
        q = torch.tensor([0.05, 0.5, 0.95])
        assert torch.allclose(coarse.bar_distribution.icdf(lc, q)[mask], fine.bar_distribution.icdf(lf, q)[mask], atol=1e-4)
    uneven = PFN(ModelConfig(**{**SMALL.model.to_dict(), "n_bars": 50}), torch.linspace(-1.0, 1.0, 51))
    with pytest.raises(CheckpointError, match=r"2 \+ m"):
        warm_start(uneven, str(source))


class TransformingPrior:
    """A prior holding a function: its record must not carry the function's per-process memory address."""

    def __init__(self):
        self.n_points = 8
        self.transform = lambda y: y


def test_prior_records_tell_priors_apart_and_match_the_same_prior_anywhere(tmp_path):
    x = np.arange(1.0, 11.0)
    a = prior_record(CurveBank([(x, 2.0 + x**-0.5, "min")], n_points=10))
    b = prior_record(CurveBank([(x, 3.0 + x**-0.7, "min")], n_points=10))
    assert a != b and a == prior_record(CurveBank([(x, 2.0 + x**-0.5, "min")], n_points=10))
    record = prior_record(TransformingPrior())
    assert "<lambda>" in record["params"]["transform"] and record == prior_record(TransformingPrior())
    # The same prior file moved elsewhere loads under the same module name, so its run resumes from anywhere.
    code = textwrap.dedent('''
        import dataclasses
        from curvecast.priors import SimplePowerLawPrior

        @dataclasses.dataclass(frozen=True)
        class FilePrior:
            def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
                return SimplePowerLawPrior().sample(n_tasks, generator=generator, device=device, n_points=n_points)
    ''')
    for name in ("one.py", "two.py"):
        (tmp_path / name).write_text(code)
    one, two = (prior_record(load_prior(file=f"{tmp_path / name}:FilePrior")) for name in ("one.py", "two.py"))
    assert one == two


def test_resume_on_a_bank_of_other_curves_is_refused_and_says_what_differs(tmp_path):
    x = np.arange(1.0, 17.0)
    bank = CurveBank([(x, 2.0 + x**-0.5, "min"), (x, 1.0 + x**-0.3, "min")], n_points=16)
    other = CurveBank([(x, 3.0 + x**-0.7, "min"), (x, 1.0 + x**-0.3, "min")], n_points=16)
    config = SMALL.replace(out_dir=str(tmp_path / "run"), prior_overrides={"n_points": 16})
    train(config, prior=bank)
    with pytest.raises(InvalidConfigError, match=r"parameters \['curves_sha256'\] differ"):
        train(config.replace(steps=5), prior=other, resume=True)
    assert train(config.replace(steps=5), prior=bank, resume=True).steps == 5


def test_curve_tables_need_curve_ids_and_may_open_with_comments(tmp_path):
    from curvecast.priors.fidelity import read_curve_groups

    rows = ["curve_id,x,y"] + [f"{i},{x},{2 + 3 * x ** -0.5 * (1 + 0.1 * i):.6f}" for i in range(2) for x in range(1, 11)]
    (tmp_path / "commented.csv").write_text("# exported from my tracker\n" + "\n".join(rows) + "\n")
    groups = read_curve_groups(tmp_path / "commented.csv")
    assert [len(c) for c in groups.values()] == [2] and groups["commented"][1][0].tolist() == list(range(1, 11))
    import pandas as pd

    pd.DataFrame({"source": ["s"] * 4, "x": [1, 2, 1, 2], "y": [3.0, 2.0, 4.0, 3.0]}).to_parquet(tmp_path / "anonymous.parquet")
    with pytest.raises(InvalidCurveError, match="no curve_id"):
        read_curve_groups(tmp_path / "anonymous.parquet")
    with pytest.raises(InvalidConfigError, match="positive int"):
        read_curve_groups(tmp_path / "commented.csv", max_curves=0)
    with pytest.raises(SystemExit):
        main(["check-prior", "--against", str(tmp_path / "commented.csv"), "--max-curves", "-1"])


def _constant_batch(n_tasks, generator, *, direction=None, x_shift=0.0, n_points=8, runs=2):
    x = torch.arange(n_points, dtype=torch.float32).expand(n_tasks, runs, n_points).clone() + x_shift
    y = 7.0 + 0.01 * torch.rand(n_tasks, runs, n_points, generator=generator)
    config = torch.zeros(n_tasks, runs, len(CONFIG_FIELDS))
    d = torch.ones(n_tasks, dtype=torch.int8) if direction is None else direction(n_tasks)
    return TaskBatch(x, y, torch.ones_like(x, dtype=torch.bool), config, torch.zeros_like(config, dtype=torch.bool), d)


class _Adversarial:
    """A prior breaking one rule, picked by ``kind``."""

    def __init__(self, kind):
        self.kind, self.n_points = kind, 8

    def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
        if self.kind == "uint8_direction":
            return _constant_batch(n_tasks, generator, direction=lambda n: torch.full((n,), 255, dtype=torch.uint8))
        if self.kind == "negative_x":
            return _constant_batch(n_tasks, generator, x_shift=-1000.0)
        if self.kind == "fixed_task_count":
            return _constant_batch(16, generator)
        if self.kind == "numpy_global_rng":
            np.random.rand()
            return _constant_batch(n_tasks, generator)
        if self.kind == "single_points":
            return _constant_batch(n_tasks, generator, n_points=1, runs=1)
        raise AssertionError(self.kind)


@pytest.mark.parametrize(
    "kind, match",
    [
        ("uint8_direction", "signed integer or float"),
        ("negative_x", "x must be >= 0"),
        ("fixed_task_count", "asked for 17 tasks, got 16"),
        ("numpy_global_rng", "global numpy RNG"),
        ("single_points", "nothing to predict"),
    ],
)
def test_check_prior_catches_priors_that_would_fail_later(kind, match):
    with pytest.raises(PriorCheckError, match=match):
        check_prior(_Adversarial(kind))


def test_check_prior_arguments_and_extreme_mixture_weights():
    from curvecast.pfn.bar_distribution import BarDistribution

    from curvecast.errors import DeviceUnavailableError

    with pytest.raises(InvalidConfigError, match="n_tasks must be a positive int"):
        check_prior(SimplePowerLawPrior(), n_tasks=0)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError):
            check_prior(SimplePowerLawPrior(), device="cuda")
    mix = Mixture([(SimplePowerLawPrior(n_points=16), 1e308), (ConstantPrior(n_points=16), 1e308)])
    torch.testing.assert_close(mix.weights, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert mix.sample(4, generator=torch.Generator().manual_seed(0)).n_tasks == 4
    with pytest.raises(InvalidConfigError, match="must be finite"):
        BarDistribution(torch.tensor([-float("inf"), 0.0, 1.0, 2.0, float("inf")]))


def test_the_default_prior_never_repeats_an_x_within_a_run():
    from curvecast import priors

    for seed in range(3):
        batch = priors.default().sample(256, generator=torch.Generator().manual_seed(seed))
        both = batch.point_mask[..., 1:] & batch.point_mask[..., :-1]
        assert not ((batch.x[..., 1:] == batch.x[..., :-1]) & both).any()
