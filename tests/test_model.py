"""PFN model: attention semantics, checkpoints, joint sampling."""

import json
import math

import pytest
import torch

from curvecast.errors import CheckpointError, CheckpointNotFoundError, InvalidConfigError, InvalidCurveError, ShapeError
from curvecast.pfn import PFN, ModelConfig, encode, load_model, sample_joint, save_model
from curvecast.pfn.sampling import _anchor_order
from curvecast.priors.batch import CONFIG_FIELDS

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64, n_bars=16, max_runs=4)


def make_model(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PFN(CFG, torch.linspace(-4, 4, CFG.n_bars + 1)).eval()


def make_input(b=2, n=10, n_ctx=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(1, n + 1, dtype=torch.float32).expand(b, n) * 10
    y = 2.0 + (x + 1) ** -0.5 + 0.01 * torch.randn(b, n, generator=g)
    is_context = (torch.arange(n) < n_ctx).expand(b, n)
    valid = torch.ones(b, n, dtype=torch.bool)
    run_id = torch.zeros(b, n, dtype=torch.long)
    config = torch.zeros(b, n, len(CONFIG_FIELDS))
    inp, norm = encode(x, y, is_context, valid, run_id, config, config.bool(), torch.ones(b))
    return inp, norm


def test_forward_shape_and_finiteness():
    inp, _ = make_input()
    logits = make_model()(inp)
    assert logits.shape == (2, 10, CFG.n_bars)
    assert torch.isfinite(logits).all()


def test_queries_see_context_only():
    model = make_model()
    inp, _ = make_input()
    base = model(inp)
    # Changing one query token's x must not change any other token's prediction.
    features = inp.features.clone()
    features[:, 7, 0] += 3.0
    moved = model(type(inp)(features, inp.run_id, inp.z, inp.is_context, inp.valid))
    others = [i for i in range(10) if i != 7]
    torch.testing.assert_close(moved[:, others], base[:, others])
    assert not torch.allclose(moved[:, 7], base[:, 7])
    # A query's z is never read; a context token's z is.
    z = inp.z.clone()
    z[:, 8] = 123.0
    torch.testing.assert_close(model(inp.with_context(z, inp.is_context)), base)
    z = inp.z.clone()
    z[:, 1] += 1.0
    assert not torch.allclose(model(inp.with_context(z, inp.is_context))[:, 5], base[:, 5])


def test_encode_needs_context_in_every_task():
    x = torch.ones(2, 3)
    config = torch.zeros(2, 3, len(CONFIG_FIELDS))
    ctx = torch.tensor([[True, False, False], [False, False, False]])
    with pytest.raises(InvalidCurveError, match="context"):
        encode(x, x, ctx, x.bool(), x.long(), config, config.bool(), torch.ones(2))


def test_encode_rejects_bad_shapes():
    x = torch.zeros(2, 5)
    config = torch.zeros(2, 5, len(CONFIG_FIELDS))
    with pytest.raises(ShapeError):
        encode(x, torch.zeros(2, 4), x.bool(), x.bool(), x.long(), config, config.bool(), torch.ones(2))


def test_model_config_validation():
    with pytest.raises(InvalidConfigError, match="divisible"):
        ModelConfig(d_model=30, n_heads=4)
    with pytest.raises(InvalidConfigError, match="n_bars"):
        ModelConfig(n_bars=2)
    with pytest.raises(InvalidConfigError, match="borders"):
        PFN(CFG, torch.linspace(0, 1, 5))


def test_checkpoint_round_trip(tmp_path):
    model = make_model(seed=3)
    save_model(tmp_path / "ckpt", model, prior={"class": "test", "params": {}})
    loaded, config = load_model(tmp_path / "ckpt")
    assert config["model"] == CFG.to_dict()
    inp, _ = make_input()
    torch.testing.assert_close(loaded(inp), model(inp), rtol=0, atol=0)
    loaded_file, _ = load_model(tmp_path / "ckpt" / "model.safetensors")
    torch.testing.assert_close(loaded_file(inp), model(inp), rtol=0, atol=0)
    assert not list((tmp_path / "ckpt").glob("*.tmp"))  # atomic writes leave no temporaries


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint"):
        load_model(tmp_path / "missing")
    folder = tmp_path / "ckpt"
    save_model(folder, make_model())
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CheckpointError, match="not a curvecast checkpoint"):
        load_model(folder)
    save_model(folder, make_model())
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_model(folder)
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]  # a checkpoint written before checksums: the reader itself refuses garbage
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_model(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointNotFoundError, match="incomplete"):
        load_model(folder)


def test_anchor_order_spreads_over_queries_in_x_order():
    t = torch.tensor([[0.1, 0.2, 0.9, 0.5, 0.7, 0.3, 0.8]])
    is_query = torch.tensor([[False, False, True, True, True, True, True]])
    # queries in x order: 0.3 (idx 5), 0.5 (3), 0.7 (4), 0.8 (6), 0.9 (2); 3 anchors at ranks 0, 2, 4
    assert _anchor_order(t, is_query, 3).tolist() == [[5, 4, 2]]
    # a task with fewer queries than another uses each once and pads with -1
    two = torch.cat([t, t])
    mixed = torch.cat([is_query, torch.tensor([[False, True, True, False, False, False, False]])])
    # 4 anchors over 5 queries sit at ranks 0, 1, 3, 4; over 2 queries at ranks 0, 0, 1, 1
    assert _anchor_order(two, mixed, 4).tolist() == [[5, 3, 6, 2], [1, -1, 2, -1]]


def test_sample_joint_shapes_determinism_and_anchors():
    model = make_model()
    inp, _ = make_input(b=2, n=10, n_ctx=4)
    is_query = ~inp.is_context
    t = inp.features[..., 0]
    s1 = sample_joint(model, inp, is_query, t, 5, generator=torch.Generator().manual_seed(0), max_sequential=3)
    s2 = sample_joint(model, inp, is_query, t, 5, generator=torch.Generator().manual_seed(0), max_sequential=3)
    assert s1.shape == (5, 2, 10)
    torch.testing.assert_close(s1, s2)
    assert torch.isfinite(s1).all()
    assert (s1[:, ~is_query] == 0).all()
    assert s1[:, is_query].std(0).min() > 0  # samples differ


def test_forward_chunked_equals_one_pass_and_leaves_invalid_tokens_out():
    model = make_model()
    inp, _ = make_input(b=2, n=12, n_ctx=4)
    full = model(inp)
    # Blocks of 2 queries (the gather path) give every token the one-pass logits.
    torch.testing.assert_close(model.forward_chunked(inp, max_queries=2), full)
    # Mostly invalid queries (as in a joint-sampling pass) are left out; the valid tokens keep their logits,
    # since queries read the context only.
    valid = inp.valid.clone()
    valid[0, 5:] = False
    valid[1, [4, 6, 7, 8, 9, 10, 11]] = False
    sparse = type(inp)(inp.features, inp.run_id, inp.z, inp.is_context, valid)
    torch.testing.assert_close(model.forward_chunked(sparse)[valid], full[valid])
    # No query at all: the context tokens' logits, in one pass.
    alone = type(inp)(inp.features, inp.run_id, inp.z, inp.is_context, inp.is_context.clone())
    torch.testing.assert_close(model.forward_chunked(alone)[inp.is_context], full[inp.is_context])


def test_sample_joint_draws_as_full_passes_would(monkeypatch):
    """Each anchor pass reads only the context and that anchor; the draws are those of passes over every token."""
    model = make_model()
    inp, _ = make_input(b=2, n=12, n_ctx=3)
    is_query, t = ~inp.is_context, inp.features[..., 0]
    fast = sample_joint(model, inp, is_query, t, 4, generator=torch.Generator().manual_seed(1), max_sequential=4)
    monkeypatch.setattr(model, "forward_chunked", lambda batch, max_queries=1024: model(batch))
    slow = sample_joint(model, inp, is_query, t, 4, generator=torch.Generator().manual_seed(1), max_sequential=4)
    torch.testing.assert_close(fast, slow)


def test_checkpoint_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    save_model(tmp_path / "ckpt", make_model())
    mask = os.umask(0)
    os.umask(mask)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((tmp_path / "ckpt" / name).stat().st_mode) == 0o666 & ~mask


def test_config_that_does_not_match_the_weights_is_a_checkpoint_error(tmp_path):
    folder = tmp_path / "ckpt"
    save_model(folder, make_model())
    config = json.loads((folder / "config.json").read_text())
    config["model"]["d_ff"] = 128
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match the model config"):
        load_model(folder)


def test_schedule_features_at_hand_computed_points():
    from curvecast.pfn.encoding import schedule_features
    from curvecast.priors.batch import config_index

    x = torch.tensor([50.0, 90.0, 100.0, 150.0])
    config = torch.zeros(4, len(CONFIG_FIELDS))
    mask = torch.zeros_like(config, dtype=torch.bool)
    for name, value in (("total_steps", 100.0), ("schedule", 3.0), ("cooldown_steps", 20.0)):  # wsd, last 20% decays
        config[:, config_index(name)] = value
        mask[:, config_index(name)] = True
    f = schedule_features(x, config, mask)
    # u / 2, length known, eta, S1 = u - A(u), A(u) / A(1) with A(u) = 0.2 q^2 / 2 for decay progress q.
    expected = torch.tensor(
        [
            [0.25, 1.0, 1.0, 0.5, 0.0, 1.0],
            [0.45, 1.0, 0.5, 0.9 - 0.2 * 0.25 / 2, 0.25, 1.0],
            [0.5, 1.0, 0.0, 0.9, 1.0, 1.0],
            [0.75, 1.0, 0.0, 0.9, 1.0, 1.0],  # past the planned end: the schedule stays at its end
        ]
    )
    torch.testing.assert_close(f, expected, rtol=0.0, atol=1e-6)
    no_schedule = mask.clone()
    no_schedule[:, config_index("schedule")] = False
    torch.testing.assert_close(schedule_features(x, config, no_schedule)[:, 2:], torch.zeros(4, 4))
    assert schedule_features(x, config, torch.zeros_like(mask)).abs().sum() == 0  # nothing known


def test_schedule_encoder_starts_as_no_effect_and_old_checkpoints_skip_it(tmp_path):
    import dataclasses

    model = make_model()
    inp, _ = make_input()
    with torch.no_grad():
        base = model(inp)
        shifted = model(dataclasses.replace(inp, schedule=torch.rand_like(inp.schedule)))
    torch.testing.assert_close(base, shifted)
    save_model(tmp_path, model)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["model"]["read_schedule"]  # as written before the schedule encoder existed (and before checksums)
    del config["weights_sha256"]
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("schedule_encoder")}
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    old, _ = load_model(tmp_path)
    assert not old.config.read_schedule and not hasattr(old, "schedule_encoder")


def test_hparam_kernel_equals_an_explicit_attention_bias():
    """The folded kernel gives what a float bias ``-b_h |c_i - c_j|^2`` on the attention logits gives."""
    import torch.nn.functional as F

    from curvecast.pfn.model import Block, HparamKernelColumns

    torch.manual_seed(0)
    block = Block(ModelConfig(d_model=32, n_heads=4, d_ff=64, max_runs=4))
    with torch.no_grad():
        block.hparam_bandwidth.copy_(torch.tensor([0.0, 1.0, 3.0, 10.0]))
    b, n = 2, 10
    h, coords = torch.randn(b, n, 32), torch.rand(b, n, 8) - 0.5
    key_mask = torch.rand(b, 1, 1, n) < 0.7
    key_mask[..., 0] = True
    with torch.no_grad():
        out = block(h, key_mask, HparamKernelColumns(coords))
        q, k, v = (t.view(b, n, 4, 8).transpose(1, 2) for t in block.qkv(block.ln_attn(h)).split(32, dim=-1))
        bias = -block.hparam_bandwidth[None, :, None, None] * torch.cdist(coords, coords).square()[:, None]
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.masked_fill(~key_mask, float("-inf")))
        expected = h + block.proj(a.transpose(1, 2).reshape(b, n, 32))
        expected = expected + block.mlp(block.ln_mlp(expected))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    # Bandwidth 0 (a fresh model, or a warm start from one without the kernel) changes nothing.
    with torch.no_grad():
        block.hparam_bandwidth.zero_()
        torch.testing.assert_close(block(h, key_mask, HparamKernelColumns(coords)), block(h, key_mask, None), atol=1e-5, rtol=1e-5)


def test_checkpoints_without_the_hparam_kernel_load_without_it(tmp_path):
    model = make_model()
    save_model(tmp_path, model)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["hparam_attention"] is True
    del config["model"]["hparam_attention"]  # as written before the kernel existed
    del config["weights_sha256"]
    state = {k: v for k, v in model.state_dict().items() if "hparam_bandwidth" not in k}
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    old, _ = load_model(tmp_path)
    assert not old.config.hparam_attention and not hasattr(old.blocks[0], "hparam_bandwidth")


def test_run_roughness_at_hand_computed_values():
    from curvecast.pfn.model import run_roughness

    z = torch.tensor([[0.0, 1.0, 4.0, 9.0, 5.0, 5.0, 5.0, 0.0, 7.0]])
    ctx = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0, 1]], dtype=torch.bool)
    run_id = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 2]])
    r = run_roughness(z, ctx, run_id, max_runs=4)
    quadratic = math.log10(2.0 + 1e-6) / 3  # second differences 2 and 2
    flat = math.log10(1e-6) / 3  # second difference 0
    torch.testing.assert_close(r[0, :4, 0], torch.full((4,), quadratic))
    torch.testing.assert_close(r[0, 4:8, 0], torch.full((4,), flat))  # the query token 7 gets its run's value
    assert r[0, :8, 1].tolist() == [1.0] * 8
    assert r[0, 8].tolist() == [0.0, 0.0]  # a run of one point has no second difference
    # A triple that crosses runs counts for neither: run 0's roughness ignores the jump from 9 to 5.
    mixed = run_roughness(torch.tensor([[0.0, 1.0, 2.0, 50.0]]), torch.ones(1, 4, dtype=torch.bool), torch.tensor([[0, 0, 0, 1]]), max_runs=2)
    torch.testing.assert_close(mixed[0, 0, 0], torch.tensor(math.log10(1e-6) / 3))


def test_roughness_encoder_starts_as_no_effect_and_is_off_in_older_configs(tmp_path):
    rough_config = ModelConfig(**{**CFG.to_dict(), "read_roughness": True})
    base = make_model()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        rough = PFN(rough_config, base.bar_distribution.borders).eval()
    missing, unexpected = rough.load_state_dict(base.state_dict(), strict=False)
    assert all(k.startswith("roughness_encoder") for k in missing) and missing and not unexpected
    inp, _ = make_input()
    with torch.no_grad():
        torch.testing.assert_close(rough(inp), base(inp))
    save_model(tmp_path, base)
    assert not load_model(tmp_path)[0].config.read_roughness
