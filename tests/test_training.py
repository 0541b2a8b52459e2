"""Training pipeline: learning beats the prior marginal, exact resume, configs, CLI, DDP."""

import json
import os
import subprocess
import sys

import pytest
import torch

from curvecast.errors import CheckpointNotFoundError, InvalidConfigError
from curvecast.pfn import ModelConfig, encode_task_batch, load_model, sample_joint
from curvecast import priors
from curvecast.priors import SimplePowerLawPrior
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.training import TrainConfig, load_config, preset, train
from curvecast.training.loop import build_prior, make_batch, nll_from_logits

SIMPLE = TrainConfig(
    model=ModelConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, n_bars=48, max_runs=2),
    prior="simple",
    prior_overrides={"n_points": 24},
    steps=20,
    batch_size=16,
    lr=2e-3,
    warmup_steps=5,
    log_every=1,
    eval_every=10,
    eval_tasks=32,
    checkpoint_every=10,
    border_tasks=256,
    device="cpu",
    progress=False,
)


def read_metrics(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_simple(tmp_path_factory):
    """A tiny PFN trained for ~15 s on the simple power-law prior."""
    out = tmp_path_factory.mktemp("trained")
    config = SIMPLE.replace(steps=600, batch_size=32, warmup_steps=20, log_every=50, out_dir=str(out / "run"), eval_every=600, checkpoint_every=600, border_tasks=512)
    return config, train(config).model


@pytest.mark.slow
def test_tiny_pfn_beats_prior_marginal(trained_simple):
    config, model = trained_simple
    prior = build_prior(config)
    # The prior's marginal: bucket frequencies of the normalized targets (the best context-free predictor).
    counts_gen = torch.Generator().manual_seed(123)
    _, target, mask = make_batch(prior, config, counts_gen, torch.device("cpu"), 4096)
    bar: BarDistribution = model.bar_distribution
    edges = bar.borders[1:-1].contiguous()
    counts = torch.bincount(torch.searchsorted(edges, target[mask].contiguous(), right=True), minlength=bar.n_bars).float()
    marginal_logits = (counts + 1).log()
    fresh = torch.Generator().manual_seed(999)
    inp, target, mask = make_batch(prior, config, fresh, torch.device("cpu"), 512)
    with torch.no_grad():
        model_nll = float(nll_from_logits(bar, model(inp), target, mask))
        marginal_nll = float(nll_from_logits(bar, marginal_logits.expand(*target.shape, -1), target, mask))
    assert model_nll < marginal_nll - 0.5, (model_nll, marginal_nll)


def _correlation(samples, i, j):
    a, b = samples[:, :, i] - samples[:, :, i].mean(0), samples[:, :, j] - samples[:, :, j].mean(0)
    return (a * b).mean(0) / (a.std(0) * b.std(0))


@pytest.mark.slow
def test_joint_samples_are_coherent_trajectories(trained_simple):
    """A curve whose asymptote is uncertain moves as a whole: joint samples at two future points correlate,
    independent marginal draws do not."""
    _, model = trained_simple
    batch = SimplePowerLawPrior(n_points=24, min_points=24).sample(8, generator=torch.Generator().manual_seed(3))
    is_context = torch.zeros_like(batch.point_mask)
    is_context[..., :6] = True
    inp, _, _, _ = encode_task_batch(batch, is_context)
    is_query = inp.valid & ~inp.is_context
    joint = sample_joint(model, inp, is_query, inp.features[..., 0], 300, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        marginal = model.bar_distribution.sample(model(inp), 300, generator=torch.Generator().manual_seed(1)).permute(2, 0, 1)
    joint_corr = float(_correlation(joint, 12, 23).mean())
    marginal_corr = float(_correlation(marginal, 12, 23).mean())
    assert joint_corr > 0.15 and joint_corr > marginal_corr + 0.1, (joint_corr, marginal_corr)


def test_resume_reproduces_uninterrupted_losses(tmp_path):
    full = train(SIMPLE.replace(out_dir=str(tmp_path / "full")))
    interrupted = SIMPLE.replace(out_dir=str(tmp_path / "split"))
    train(interrupted, stop_after=10)
    assert [row["step"] for row in read_metrics(tmp_path / "split")][-1] == 10
    train(interrupted, resume=True)
    a, b = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "split")
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 21))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert a[-1]["eval_prior_nll"] == b[-1]["eval_prior_nll"]
    m1, _ = load_model(full.run_dir)
    m2, _ = load_model(tmp_path / "split")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        torch.testing.assert_close(v1, v2, rtol=0, atol=0, msg=k)


def test_run_folder_contents(tmp_path):
    result = train(SIMPLE.replace(steps=10, out_dir=str(tmp_path / "run")))
    folder = result.run_dir
    assert {"model.safetensors", "config.json", "metrics.jsonl", "state.safetensors"} <= {p.name for p in folder.iterdir()}
    rows = read_metrics(folder)
    assert all({"step", "loss"} <= row.keys() for row in rows)
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in rows)
    assert {"eval_prior_nll", "eval_real_nll"} <= rows[-1].keys()
    record = json.loads((folder / "config.json").read_text())
    assert record["training"]["train"]["steps"] == 10
    assert record["prior"]["class"].endswith("SimplePowerLawPrior")


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="drop --resume"):
        train(SIMPLE.replace(out_dir=str(tmp_path / "none")), resume=True)


def test_config_validation_and_files(tmp_path):
    with pytest.raises(InvalidConfigError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(InvalidConfigError, match="unknown preset"):
        preset("huge")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "tiny", "steps": 7, "model": {"d_model": 32}}))
    config = load_config(path)
    assert config.steps == 7 and config.model.d_model == 32 and config.model.n_layers == preset("tiny").model.n_layers
    path.write_text(json.dumps({"stepz": 7}))
    with pytest.raises(InvalidConfigError, match="unknown training config keys"):
        load_config(path)
    with pytest.raises(InvalidConfigError, match="has no fields"):
        build_prior(SIMPLE.replace(prior_overrides={"nonsense": 1}))


def test_cli_train_tiny_preset_on_default_prior(tmp_path, capsys):
    from curvecast.cli import main

    out = tmp_path / "tiny"
    assert main(["train", "--preset", "tiny", "--steps", "4", "--out", str(out), "--no-progress", "--seed", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 4 and summary["run_dir"] == str(out)
    model, config = load_model(out)
    assert config["training"]["train"]["seed"] == 3
    assert config["prior"]["class"].endswith("CurvePrior")


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    proc = subprocess.run([sys.executable, "-m", "curvecast", "train", "--config", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: training config") and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "curvecast", "train", "--device", "cuda", "--steps", "1", "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    if not torch.cuda.is_available():
        assert proc.returncode == 2 and "CUDA is not available" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_distributed_two_processes_gloo(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517", "-m", "curvecast"]
    args = ["train", "--preset", "tiny", "--out", str(out), "--no-progress", "--device", "cpu"]
    proc = subprocess.run(launch + args + ["--steps", "6"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["steps"] == 6  # one summary (rank 0's), not one per rank
    rows = read_metrics(out)
    assert rows[-1]["step"] == 6
    record = json.loads((out / "config.json").read_text())
    assert record["training"]["world_size"] == 2
    assert (out / "state-rank1.safetensors").exists()
    proc = subprocess.run(launch + args + ["--steps", "8", "--resume"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_metrics(out)][-1] == 8


def test_time_limit_stops_with_a_checkpoint_and_resume_finishes(tmp_path):
    config = SIMPLE.replace(out_dir=str(tmp_path / "timed"), checkpoint_every=1000, time_limit_s=1e-6)
    result = train(config)
    assert result.steps == 1  # the limit is checked after each finished step
    rows = read_metrics(tmp_path / "timed")
    assert [r["step"] for r in rows] == [1]
    result = train(config.replace(time_limit_s=None), resume=True)
    assert result.steps == 20
    assert [r["step"] for r in read_metrics(tmp_path / "timed")] == list(range(1, 21))
    with pytest.raises(InvalidConfigError, match="time_limit_s"):
        SIMPLE.replace(time_limit_s=0)


def test_resume_with_another_config_is_refused(tmp_path):
    config = SIMPLE.replace(steps=4, out_dir=str(tmp_path / "run"))
    train(config)
    with pytest.raises(InvalidConfigError, match=r"\['lr'\] differ"):
        train(config.replace(lr=1.0, steps=6), resume=True)
    assert train(config.replace(steps=6, log_every=2), resume=True).steps == 6  # length and logging may change


def test_bad_values_and_types_in_configs_are_clear_errors(tmp_path, capsys):
    from curvecast.cli import main

    with pytest.raises(InvalidConfigError, match="grad_clip"):
        SIMPLE.replace(grad_clip=-1.0)
    for bad in ({"steps": "abc"}, {"steps": 3.5}, {"amp": "no"}, {"model": {"d_model": "a"}}, {"split": {"p_full": "a"}}, {"split": {"p_thin": 2.0}}):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"preset": "tiny", **bad}))
        assert main(["train", "--config", str(path), "--out", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err, (bad, err)


def test_config_file_merges_prior_overrides_with_the_preset(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "tiny", "prior_overrides": {"n_points": 32}}))
    assert load_config(path).prior_overrides == {"max_runs": 3, "n_points": 32}
    path.write_text(json.dumps({"preset": "tiny", "prior": "simple"}))
    assert load_config(path).prior_overrides == {}


def test_resume_refuses_another_world_size(tmp_path):
    from curvecast.training.state import load_state, save_state

    generator = torch.Generator().manual_seed(0)
    save_state(tmp_path / "s.safetensors", step=3, generator=generator, model=None, optimizer=None, world_size=2)
    with pytest.raises(InvalidConfigError, match="2 process"):
        load_state(tmp_path / "s.safetensors", generator=generator, model=None, optimizer=None, world_size=1, device_type="cpu")
    assert load_state(tmp_path / "s.safetensors", generator=generator, model=None, optimizer=None, world_size=2, device_type="cpu") == 3


def test_resume_skips_a_torn_metrics_line_and_stays_exact_with_dropout(tmp_path):
    config = SIMPLE.replace(steps=8, checkpoint_every=4, model=SIMPLE.model.__class__(**{**SIMPLE.model.to_dict(), "dropout": 0.2}))
    train(config.replace(out_dir=str(tmp_path / "full")))
    split = config.replace(out_dir=str(tmp_path / "split"))
    train(split, stop_after=4)
    with (tmp_path / "split" / "metrics.jsonl").open("a") as f:
        f.write('{"step": 5, "lo')  # a crash mid-write
    train(split, resume=True)
    assert [r["loss"] for r in read_metrics(tmp_path / "full")] == [r["loss"] for r in read_metrics(tmp_path / "split")]


def test_diverging_training_stops_with_a_typed_error(tmp_path):
    from curvecast.errors import TrainingDivergedError

    with pytest.raises(TrainingDivergedError, match="training loss is"):
        train(SIMPLE.replace(lr=1e12, warmup_steps=0, grad_clip=1e30, out_dir=str(tmp_path / "nan")))


def test_split_anchors_lie_after_the_cut_and_normalization_ignores_them():
    from curvecast.pfn import Normalization
    from curvecast.training.split import SplitPolicy, sample_split

    prior = priors.named("default", max_runs=3, n_points=32)
    g = torch.Generator().manual_seed(3)
    batch = prior.sample(256, generator=g)
    split = sample_split(batch, g, SplitPolicy(p_anchors=1.0, anchor_keep=0.5, p_thin=0.0), max_runs=4)
    anchors = split.is_context & ~split.prefix
    assert anchors.any()
    # Every anchor comes after its run's observed prefix, and anchors are never targets.
    idx = torch.arange(batch.n_points)
    last_prefix = torch.where(split.prefix, idx, torch.full_like(idx, -1)).amax(-1, keepdim=True)
    assert bool((idx[None, None, :] > last_prefix)[anchors].all())
    assert not bool((split.loss_mask & split.is_context).any())
    # Statistics come from the prefix: the same as a split without anchors would give.
    inp, norm, _, _ = encode_task_batch(batch, split.is_context, split.run_id, normalize_on=split.prefix)
    flat = lambda v: v.reshape(batch.n_tasks, -1)  # noqa: E731
    expected = Normalization.from_context(flat(batch.x), flat(batch.y), flat(split.prefix), batch.direction)
    torch.testing.assert_close(norm.y_loc, expected.y_loc)
    torch.testing.assert_close(norm.x_ref, expected.x_ref)
    none = sample_split(batch, torch.Generator().manual_seed(3), SplitPolicy(p_anchors=0.0), max_runs=4)
    assert torch.equal(none.is_context, none.prefix)
    with pytest.raises(InvalidConfigError, match="p_anchors"):
        SplitPolicy(p_anchors=1.5)


def test_split_short_prefix_observes_two_to_max_points_and_is_off_by_default():
    from curvecast.training.split import SplitPolicy, sample_split

    prior = priors.named("default", max_runs=3, n_points=32)
    batch = prior.sample(256, generator=torch.Generator().manual_seed(5))
    plain = SplitPolicy(p_thin=0.0, p_anchors=0.0, p_full=0.0, p_unobserved=0.0)
    short = sample_split(batch, torch.Generator().manual_seed(6), SplitPolicy(p_thin=0.0, p_anchors=0.0, p_full=0.0, p_unobserved=0.0, p_short_prefix=1.0, short_prefix_max=4), max_runs=4)
    observed = short.is_context.sum(-1)[batch.run_mask & (batch.run_lengths > 4)]
    assert observed.min() >= 2 and observed.max() <= 4 and set(observed.tolist()) == {2, 3, 4}
    # p_short_prefix = 0 draws nothing extra: the split is the earlier one, bit for bit
    a = sample_split(batch, torch.Generator().manual_seed(6), plain, max_runs=4)
    b = sample_split(batch, torch.Generator().manual_seed(6), SplitPolicy(p_thin=0.0, p_anchors=0.0, p_full=0.0, p_unobserved=0.0, p_short_prefix=0.0), max_runs=4)
    assert torch.equal(a.is_context, b.is_context) and torch.equal(a.run_id, b.run_id)
    assert sample_split(batch, torch.Generator().manual_seed(6), plain, max_runs=4).is_context.sum(-1).float().mean() > observed.float().mean()
    with pytest.raises(InvalidConfigError, match="p_short_prefix"):
        SplitPolicy(p_short_prefix=-0.1)
    with pytest.raises(InvalidConfigError, match="short_prefix_max"):
        SplitPolicy(short_prefix_max=1)


def test_warm_start_copies_weights_grows_run_ids_and_refuses_other_shapes(tmp_path):
    from curvecast.errors import CheckpointError
    from curvecast.pfn import PFN
    from curvecast.pfn.checkpoint import read_weights
    from curvecast.training.warm_start import warm_start

    source = tmp_path / "source"
    train(SIMPLE.replace(out_dir=str(source), steps=4))
    weights = read_weights(source)
    grown = PFN(SIMPLE.model.__class__(**{**SIMPLE.model.to_dict(), "max_runs": 5}), torch.linspace(-3, 3, 49))
    record = warm_start(grown, str(source))
    assert record["grown"] == ["run_embedding.weight"] and record["fresh"] == []
    state = grown.state_dict()
    torch.testing.assert_close(state["run_embedding.weight"][:2], weights["run_embedding.weight"])
    torch.testing.assert_close(state["blocks.0.qkv.weight"], weights["blocks.0.qkv.weight"])
    torch.testing.assert_close(state["bar_distribution.borders"], weights["bar_distribution.borders"])
    # Continuing training from it starts where the source ended, not from scratch.
    resumed = train(SIMPLE.replace(out_dir=str(tmp_path / "child"), steps=2, init=str(source)))
    assert json.loads((tmp_path / "child" / "config.json").read_text())["training"]["init"]["copied"] > 10
    assert resumed.steps == 2
    with pytest.raises(CheckpointError, match="n_bars=48"):
        warm_start(PFN(SIMPLE.model.__class__(**{**SIMPLE.model.to_dict(), "n_bars": 32}), torch.linspace(-3, 3, 33)), str(source))
    with pytest.raises(CheckpointError, match=r"d_ff 128 \(this config: 64\).*drop --preset"):
        warm_start(PFN(SIMPLE.model.__class__(**{**SIMPLE.model.to_dict(), "d_ff": 64}), torch.linspace(-3, 3, 49)), str(source))
    with pytest.raises(CheckpointNotFoundError):
        warm_start(grown, str(tmp_path / "missing"))


def test_warm_start_into_a_deeper_model_starts_with_the_source_predictions(tmp_path):
    from curvecast.pfn import PFN
    from curvecast.pfn.checkpoint import read_config, read_weights
    from curvecast.training.loop import make_batch
    from curvecast.training.warm_start import warm_start

    source = tmp_path / "source"
    train(SIMPLE.replace(out_dir=str(source), steps=4))
    shallow = PFN(SIMPLE.model, torch.linspace(-3, 3, 49))
    shallow.load_state_dict(read_weights(source))
    layers = SIMPLE.model.n_layers
    deep = PFN(SIMPLE.model.__class__(**{**SIMPLE.model.to_dict(), "n_layers": layers + 2}), torch.linspace(-3, 3, 49))
    record = warm_start(deep, str(source))
    assert record["new_blocks"] == [layers, layers + 1]
    assert all(name.startswith((f"blocks.{layers}.", f"blocks.{layers + 1}.")) for name in record["fresh"])
    # the new blocks' residual outputs are zero and their other weights are not (so they can learn)
    new_block = deep.state_dict()
    assert all(float(new_block[f"blocks.{layers}.{part}"].abs().sum()) == 0.0 for part in ("proj.weight", "proj.bias", "mlp.2.weight", "mlp.2.bias"))
    assert float(new_block[f"blocks.{layers}.qkv.weight"].abs().sum()) > 0.0
    prior = priors.named(read_config(source)["training"]["train"]["prior"], n_points=16)
    inp, _, _ = make_batch(prior, SIMPLE, torch.Generator().manual_seed(3), torch.device("cpu"), 8)
    with torch.no_grad():
        torch.testing.assert_close(deep.eval()(inp), shallow.eval()(inp))
    # and fine-tuning trains the new blocks: their residual outputs leave zero
    child = tmp_path / "deep"
    train(SIMPLE.replace(out_dir=str(child), steps=3, init=str(source), model=deep.config))
    grown = read_weights(child)
    assert float(grown[f"blocks.{layers}.proj.weight"].abs().sum()) > 0.0


def test_lr_multipliers_scale_their_parameters_only():
    from curvecast.pfn.model import PFN, ModelConfig
    from curvecast.training.loop import _param_groups

    model = PFN(ModelConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, n_bars=8), torch.linspace(-3, 3, 9))
    groups = _param_groups(model, TrainConfig(lr_multipliers={"hparam_encoder": 10.0}))
    scaled = {id(p) for g in groups if g["lr_scale"] == 10.0 for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in scaled}
    assert names == {n for n, _ in model.named_parameters() if n.startswith("hparam_encoder")}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    # weight decay still only on non-embedding matrices
    assert all(g["weight_decay"] == 0.0 for g in groups if any(p.ndim < 2 for p in g["params"]))
    with pytest.raises(InvalidConfigError, match="lr_multipliers"):
        TrainConfig(lr_multipliers={"hparam_encoder": 0.0})


def test_recipe_variant_configs_load_and_name_their_changes():
    from pathlib import Path

    from curvecast.training import load_config

    for path in sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "configs").glob("*.json")):
        config = load_config(path)  # a bad field or value raises here
        assert config.model.n_bars >= 256, path
    rough = load_config(Path(__file__).resolve().parents[1] / "benchmarks" / "configs" / "gpu_roughness.json")
    assert rough.model.read_roughness and rough.model.n_bars == 1000 and rough.device != "cpu"


def test_overwrite_clears_the_old_checkpoint_before_the_new_run_writes_one(tmp_path, monkeypatch):
    from curvecast.training import loop

    out = tmp_path / "run"
    train(SIMPLE.replace(out_dir=str(out), steps=10))
    assert (out / "state.safetensors").exists()
    original = loop.optimizer_step
    calls = {"n": 0}

    def interrupted_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # a 20-step run checkpoints every 2 steps: this is before its first checkpoint
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "optimizer_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        train(SIMPLE.replace(out_dir=str(out), steps=20, seed=5), overwrite=True)
    monkeypatch.setattr(loop, "optimizer_step", original)
    # Nothing of the old run is left for --resume to continue under the new run's metrics.
    assert not (out / "state.safetensors").exists() and not (out / "config.json").exists()
    with pytest.raises(CheckpointNotFoundError, match="drop --resume"):
        train(SIMPLE.replace(out_dir=str(out), steps=20, seed=5), resume=True)
    # A folder left with metrics only (stopped before any checkpoint) starts afresh without --overwrite.
    result = train(SIMPLE.replace(out_dir=str(out), steps=4, seed=5))
    assert [row["step"] for row in read_metrics(out)] == [1, 2, 3, 4] and result.steps == 4


def test_train_leaves_the_callers_global_rng_as_it_was(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(SIMPLE.replace(out_dir=str(tmp_path / "run"), steps=2))
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_training_setup_errors_are_typed_and_early(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidConfigError, match="is a file"):
        train(SIMPLE.replace(out_dir=str(tmp_path / "afile"), steps=2))
    with pytest.raises(InvalidConfigError, match="seed must be an int from 0"):
        SIMPLE.replace(seed=10**16)
    with pytest.raises(InvalidConfigError, match="seed must be an int from 0"):
        SIMPLE.replace(seed=-1)


def test_diverging_before_any_checkpoint_says_to_start_again(tmp_path):
    from curvecast.errors import TrainingDivergedError

    out = tmp_path / "nan"
    with pytest.raises(TrainingDivergedError, match="--overwrite.*no checkpoint was written yet"):
        train(SIMPLE.replace(lr=1e12, warmup_steps=0, grad_clip=1e30, out_dir=str(out)))
    # What it says works: the folder holds no checkpoint, so a fresh start needs no flag at all.
    assert train(SIMPLE.replace(out_dir=str(out), steps=2)).steps == 2


def test_init_refuses_weights_that_fail_the_loaders_checks(tmp_path):
    from curvecast.errors import CheckpointError

    source, other = tmp_path / "source", tmp_path / "other"
    train(SIMPLE.replace(out_dir=str(source), steps=2))
    train(SIMPLE.replace(out_dir=str(other), steps=2, seed=1))
    (source / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="SHA-256"):
        train(SIMPLE.replace(out_dir=str(tmp_path / "child"), steps=2, init=str(source)))


def test_load_names_the_folder_when_given_another_file_of_it(tmp_path):
    import curvecast

    run = train(SIMPLE.replace(out_dir=str(tmp_path / "run"), steps=2)).run_dir
    for name in ("config.json", "state.safetensors", "metrics.jsonl"):
        with pytest.raises(CheckpointNotFoundError, match="pass the checkpoint folder"):
            curvecast.load(run / name)
    assert curvecast.load(run / "model.safetensors").path is not None


def test_a_corrupted_calibration_entry_is_a_checkpoint_error(tmp_path):
    import curvecast
    from curvecast.errors import CheckpointError

    run = train(SIMPLE.replace(out_dir=str(tmp_path / "run"), steps=2)).run_dir
    record = json.loads((run / "config.json").read_text())
    record["calibration"] = [1]
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="'calibration' must be a JSON object"):
        curvecast.load(run)


def test_resume_wall_time_adds_up_over_sessions(tmp_path):
    config = SIMPLE.replace(out_dir=str(tmp_path / "run"))
    train(config, stop_after=10)
    first = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    train(config, resume=True)
    second = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert first["wall_time_s"] == pytest.approx(first["wall_time_s_this_session"])
    assert second["wall_time_s"] == pytest.approx(first["wall_time_s"] + second["wall_time_s_this_session"])


def test_cli_config_without_preset_adjusts_the_finetune_preset_under_init(tmp_path):
    from curvecast.cli import main

    source = tmp_path / "source"
    train(SIMPLE.replace(out_dir=str(source), steps=2))
    (tmp_path / "ft.json").write_text(json.dumps({"steps": 2, "split": {"p_short_prefix": 0.1}}))
    assert main(["train", "--config", str(tmp_path / "ft.json"), "--init", str(source), "--out", str(tmp_path / "child"), "--no-progress"]) == 0
    stored = json.loads((tmp_path / "child" / "config.json").read_text())["training"]["train"]
    assert stored["model"] == SIMPLE.model.to_dict() and stored["prior"] == "simple" and stored["split"]["p_short_prefix"] == 0.1
