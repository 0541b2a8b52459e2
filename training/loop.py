"""The pretraining loop: prior samples -> context/query split -> PFN -> bar-distribution NLL.

Single process by default; under ``torchrun`` (``WORLD_SIZE > 1``) it runs DistributedDataParallel, each
rank drawing its own prior samples from its own generator. Rank 0 writes the run folder:
``model.safetensors`` + ``config.json`` (a loadable model), ``state.safetensors`` (for ``--resume``) and
``metrics.jsonl`` (one JSON object per logged step).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from tqdm.auto import tqdm

from curvecast import priors
from curvecast.device import resolve_device
from curvecast.errors import CheckpointError, InvalidConfigError, TrainingDivergedError
from curvecast.pfn.bar_distribution import BarDistribution, borders_from_samples
from curvecast.pfn.checkpoint import CONFIG_FILE, WEIGHTS_FILE, atomic_write_text, save_model
from curvecast.pfn.encoding import PFNInput, encode_task_batch
from curvecast.pfn.model import PFN
from curvecast.priors.batch import TaskBatch
from curvecast.priors.check import check_prior
from curvecast.priors.loading import prior_record, record_difference
from curvecast.training.config import TrainConfig
from curvecast.training.dev_curves import load_dev_curves
from curvecast.training.split import sample_split
from curvecast.training.state import load_state, load_step, save_state, state_path
from curvecast.training.warm_start import warm_start

__all__ = ["train", "TrainResult", "build_prior", "make_batch", "nll_from_logits", "optimizer_step"]


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left behind."""

    run_dir: Path
    model: PFN
    steps: int
    final_metrics: dict[str, Any]
    wall_time_s: float


def build_prior(config: TrainConfig) -> Any:
    """The prior object named by ``config.prior``, with ``config.prior_overrides`` applied."""
    return priors.named(config.prior, **config.prior_overrides)


def make_batch(prior: Any, config: TrainConfig, generator: torch.Generator, device: torch.device, n_tasks: int) -> tuple[PFNInput, Tensor, Tensor]:
    """Sample ``n_tasks`` tasks and split them: tokens, normalized targets ``T x L``, loss mask ``T x L``."""
    batch: TaskBatch = prior.sample(n_tasks, generator=generator, device=device)
    split = sample_split(batch, generator, config.split, max_runs=config.model.max_runs)
    enc = encode_task_batch(batch, split.is_context, split.run_id, normalize_on=split.prefix)
    return enc.inp, enc.target, split.loss_mask.reshape(batch.n_tasks, -1).gather(1, enc.token_index)


def _param_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices that are not embeddings; ``lr_scale`` from ``config.lr_multipliers``
    (the first matching name prefix)."""
    groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        decays = param.ndim >= 2 and "embedding" not in name
        scale = next((float(f) for prefix, f in config.lr_multipliers.items() if name.startswith(prefix)), 1.0)
        groups.setdefault((decays, scale), []).append(param)
    return [
        {"params": params, "weight_decay": config.weight_decay if decays else 0.0, "lr_scale": scale}
        for (decays, scale), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))
    ]


def nll_from_logits(bar: BarDistribution, logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean negative log density of ``target`` (``B x L``) at ``mask`` tokens under ``logits``."""
    log_p = bar.log_prob(logits.float(), target.clamp(-1e4, 1e4))
    return -torch.where(mask, log_p, torch.zeros_like(log_p)).sum() / mask.sum().clamp_min(1)


def optimizer_step(
    net: torch.nn.Module,
    model: PFN,
    optimizer: torch.optim.Optimizer,
    batch: tuple[PFNInput, Tensor, Tensor],
    *,
    amp: bool,
    grad_clip: float,
) -> tuple[Tensor, Tensor]:
    """One step on ``batch`` (tokens, targets, loss mask): ``net`` is ``model`` or its DDP wrapper.

    Returns the loss and the gradient norm before clipping.
    """
    inp, target, mask = batch
    with torch.autocast(target.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = net(inp)
    loss = nll_from_logits(model.bar_distribution, logits, target, mask)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach(), grad_norm


def _lr_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def _compute_borders(prior: Any, config: TrainConfig, device: torch.device) -> Tensor:
    # Same seed on every rank, so all ranks agree on the grid.
    generator = torch.Generator(device=device).manual_seed(config.seed + 1_000_003)
    _, target, mask = make_batch(prior, config, generator, device, config.border_tasks)
    return borders_from_samples(target[mask].float().cpu(), config.model.n_bars)


@torch.no_grad()
def _evaluate(model: PFN, eval_sets: dict[str, tuple[PFNInput, Tensor, Tensor]], amp: bool, device: torch.device) -> dict[str, float]:
    model.eval()
    out = {}
    for name, (inp, target, mask) in eval_sets.items():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(inp)
        out[f"eval_{name}_nll"] = float(nll_from_logits(model.bar_distribution, logits, target, mask))
    model.train()
    return out


def _setup_distributed(config: TrainConfig) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(config.device)
    if world == 1:
        return 0, 1, device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return rank, world, device


# Settings that may change between an interrupted run and its resumption.
_RESUME_MAY_CHANGE = {"steps", "progress", "time_limit_s", "out_dir", "device", "log_every", "eval_every", "checkpoint_every", "amp"}


def _check_resumable(run_dir: Path, config: TrainConfig, prior: Any) -> None:
    """Refuse to resume a run folder with a config or prior that would not continue the same run."""
    path = run_dir / CONFIG_FILE
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
        stored = saved["training"]["train"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise CheckpointError(f"cannot resume: '{path}' is unreadable or holds no training record; train into a new --out folder") from None
    current_prior = prior_record(prior)
    if saved.get("prior") is not None and saved["prior"] != current_prior:
        raise InvalidConfigError(
            f"cannot resume '{run_dir}': the prior differs from the one the run was trained on ({record_difference(saved['prior'], current_prior)}); "
            "resume with the same prior and parameters, or train into a new --out folder"
        )
    current = json.loads(json.dumps(config.to_dict()))
    changed = sorted(k for k in current if k not in _RESUME_MAY_CHANGE and k in stored and stored[k] != current[k])
    if changed:
        raise InvalidConfigError(
            f"cannot resume '{run_dir}': {changed} differ from the run's config.json; resume with the same preset/config "
            f"(only {sorted(_RESUME_MAY_CHANGE)} may change), or train into a new --out folder"
        )


def _stored_training(run_dir: Path, key: str) -> Any:
    """``key`` of the training record of a run folder's ``config.json`` (``None`` if there is none)."""
    try:
        return json.loads((run_dir / CONFIG_FILE).read_text())["training"].get(key)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None


def _out_of_time(started: float, limit_s: float, world: int, device: torch.device) -> bool:
    """Whether the time limit has passed; under DDP rank 0's clock decides for all ranks."""
    over = time.perf_counter() - started > limit_s
    if world == 1:
        return over
    flag = torch.tensor([float(over)], device=device)
    dist.broadcast(flag, 0)
    return bool(flag.item())


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``metrics.jsonl``; a line torn by a crash mid-write (or any non-row) is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def train(config: TrainConfig, *, prior: Any = None, resume: bool = False, overwrite: bool = False, stop_after: int | None = None) -> TrainResult:
    """Pretrain a PFN on prior samples as ``config`` says; returns the trained model and its run folder.

    ``prior`` is any object that passes :func:`~curvecast.priors.check_prior` (checked first; a failure raises
    :class:`~curvecast.errors.PriorCheckError`); by default the built-in prior ``config.prior`` names, with
    ``config.prior_overrides``. To fine-tune the shipped model on it, set ``config.init`` (see
    :func:`~curvecast.training.finetune`). A run folder that already holds a model or a checkpoint is
    refused unless ``resume`` (continue it) or ``overwrite`` (start over, replacing it). With ``resume=True``
    the run continues from ``config.out_dir``'s last checkpoint; with the same config and seed it reproduces
    the uninterrupted run's losses (exactly on CPU). ``stop_after`` ends this session after that many total
    steps (writing a checkpoint), e.g. to fit a time slot; resume later.
    """
    rank, world, device = _setup_distributed(config)
    # Training draws dropout masks from torch's global RNG (seeded per run, and kept for --resume); the
    # caller's global RNG comes back as it was.
    tf32 = torch.backends.cuda.matmul.allow_tf32  # _train allows TF32 matmuls on CUDA; the caller's setting comes back
    try:
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            return _train(config, prior, resume, overwrite, stop_after, rank, world, device)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _checkpointed(run_dir: Path) -> bool:
    """Whether a run folder holds a checkpoint (a run stopped before its first one left metrics at most)."""
    return any(p.exists() for p in (run_dir / CONFIG_FILE, run_dir / WEIGHTS_FILE, state_path(run_dir)))


def _clear_run(run_dir: Path) -> None:
    """Remove a run folder's checkpoint, so that an overwriting run stopped before its own first checkpoint
    leaves nothing --resume would continue (the old run's weights with the new run's metrics)."""
    for path in (run_dir / CONFIG_FILE, run_dir / WEIGHTS_FILE, *run_dir.glob("state*.safetensors")):
        path.unlink(missing_ok=True)


def _train(
    config: TrainConfig, prior: Any, resume: bool, overwrite: bool, stop_after: int | None, rank: int, world: int, device: torch.device
) -> TrainResult:
    run_dir = Path(config.out_dir)
    if resume and overwrite:
        raise InvalidConfigError("resume continues the run in the folder and overwrite replaces it: pass one of them")
    if run_dir.exists() and not run_dir.is_dir():
        raise InvalidConfigError(f"--out '{run_dir}' is a file; the run needs a folder: pick another --out path")
    metrics_path = run_dir / "metrics.jsonl"
    if not resume and not overwrite and rank == 0 and _checkpointed(run_dir):
        raise InvalidConfigError(
            f"'{run_dir}' already holds a training run; continue it with --resume (resume=True), replace it with "
            "--overwrite (overwrite=True), or pick another --out folder"
        )
    if prior is None:
        prior = build_prior(config)
    else:
        check_prior(prior, device=device)
    amp = config.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    borders = _compute_borders(prior, config, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = PFN(config.model, borders)
    # On --resume the weights come from the run's state; its config.json keeps the record of the first start.
    init_record = _stored_training(run_dir, "init") if resume else (warm_start(model, config.init) if config.init is not None else None)
    model = model.to(device)
    optimizer = torch.optim.AdamW(_param_groups(model, config), lr=config.lr, betas=(0.9, 0.95))
    generator = torch.Generator(device=device).manual_seed(config.seed * 7919 + rank)
    # Dropout draws from torch's global RNG: seed it too (per rank), and the state file keeps it for --resume.
    torch.manual_seed(config.seed * 7919 + rank + 1)

    eval_generator = torch.Generator(device=device).manual_seed(config.seed + 2_000_003)
    eval_sets = {"prior": make_batch(prior, config, eval_generator, device, config.eval_tasks)}
    dev = load_dev_curves(max_points=getattr(prior, "n_points", 64), device=device)
    if dev is not None:
        dev_batch, dev_context = dev
        enc = encode_task_batch(dev_batch, dev_context)
        loss_mask = (dev_batch.point_mask & ~dev_context).reshape(dev_batch.n_tasks, -1).gather(1, enc.token_index)
        eval_sets["real"] = (enc.inp, enc.target, loss_mask)

    start_step = 0
    if resume:
        _check_resumable(run_dir, config, prior)
        # Every rank restores rank 0's weights and optimizer moments, and its own generator.
        where = {"world_size": world, "device_type": device.type}
        start_step = load_state(state_path(run_dir, 0), generator=generator if rank == 0 else None, model=model, optimizer=optimizer, **where)
        if rank > 0:
            load_state(state_path(run_dir, rank), generator=generator, model=None, optimizer=None, **where)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            _clear_run(run_dir)
        kept = [row for row in read_metrics(metrics_path) if row["step"] <= start_step] if resume else []
        atomic_write_text(metrics_path, "".join(json.dumps(row) + "\n" for row in kept))

    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    record = {
        "train": config.to_dict(),
        "world_size": world,
        "device": str(device),
        "hardware": _hardware(device),
        "torch_version": torch.__version__,
        "n_parameters": model.num_parameters(),
        "init": init_record,
    }
    started = time.perf_counter()
    # Wall time over every session of the run (this one's alone is wall_time_s_this_session).
    earlier_s = _stored_training(run_dir, "wall_time_s") if resume else None
    earlier_s = float(earlier_s) if isinstance(earlier_s, (int, float)) else 0.0
    last: dict[str, Any] = {}
    window_start = time.perf_counter()
    window_tokens = torch.zeros((), dtype=torch.long, device=device)
    bar = tqdm(total=config.steps, initial=start_step, disable=not (config.progress and rank == 0), desc="train", unit="step", dynamic_ncols=True)
    model.train()
    end_step = config.steps if stop_after is None else min(config.steps, stop_after)
    # Never checkpoint less often than a tenth of the run, so a killed short run can still resume.
    checkpoint_every = max(1, min(config.checkpoint_every, config.steps // 10))

    def progress_record(steps_done: int) -> dict[str, Any]:
        session_s = time.perf_counter() - started
        return {
            **record,
            "steps_done": steps_done,
            "tasks_seen": steps_done * config.batch_size * world,
            "wall_time_s_this_session": session_s,
            "wall_time_s": earlier_s + session_s,
            "last_metrics": last,
        }

    def _one_step(step: int) -> int:
        nonlocal window_start, window_tokens
        lr = _lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        batch = make_batch(prior, config, generator, device, config.batch_size)
        loss, grad_norm = optimizer_step(net, model, optimizer, batch, amp=amp, grad_clip=config.grad_clip)
        window_tokens += batch[0].valid.sum() * world  # stays on the device: no sync per step
        done = step + 1
        row: dict[str, Any] | None = None
        logging, saving = done % config.log_every == 0 or done == config.steps, done % checkpoint_every == 0 or done == end_step
        if (logging or saving) and not bool(torch.isfinite(loss)):  # checked only here: a GPU sync
            restart = (
                f"the last checkpoint, step {load_step(state_path(run_dir))}, holds the last finite state"
                if state_path(run_dir).exists()
                else "no checkpoint was written yet"
            )
            raise TrainingDivergedError(
                f"training loss is {float(loss)} at step {done}; lower the learning rate (config \"lr\") or raise "
                f"\"warmup_steps\", and start again with --overwrite or into a new --out folder ({restart})"
            )
        if logging:
            loss_value = float(loss)
            if world > 1:
                reduced = loss.clone()
                dist.all_reduce(reduced)
                loss_value = float(reduced) / world
            now = time.perf_counter()
            row = {
                "step": done,
                "loss": loss_value,
                "lr": lr,
                "grad_norm": float(grad_norm),
                "tokens_per_s": float(window_tokens) / max(now - window_start, 1e-9),
                "elapsed_s": now - started,
            }
            window_start, window_tokens = now, torch.zeros((), dtype=torch.long, device=device)
            bar.set_postfix(loss=f"{loss_value:.3f}")
        if done % config.eval_every == 0 or done == config.steps:
            row = {**(row or {"step": done}), **_evaluate(model, eval_sets, amp, device)}
        if row is not None and rank == 0:
            last.update(row)
            with metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
        bar.update(1)
        if saving:
            _checkpoint(run_dir, rank, done, model, optimizer, generator, prior, progress_record(done))
        return done

    done = start_step
    try:
        for step in range(start_step, end_step):
            done = _one_step(step)
            if config.time_limit_s is not None and done < end_step and _out_of_time(started, config.time_limit_s, world, device):
                if done % checkpoint_every:
                    _checkpoint(run_dir, rank, done, model, optimizer, generator, prior, progress_record(done))
                if rank == 0:
                    print(f"time limit of {config.time_limit_s:g} s reached after step {done}; continue with --resume", file=sys.stderr)
                break
    except KeyboardInterrupt:
        if rank == 0:
            if state_path(run_dir).exists():
                print(f"\ninterrupted; continue from the last checkpoint in {run_dir} with --resume", file=sys.stderr)
            else:
                print("\ninterrupted before the first checkpoint; start again (same --out) to train afresh", file=sys.stderr)
        raise
    finally:
        bar.close()
    wall = time.perf_counter() - started
    if world > 1:
        dist.barrier()
    return TrainResult(run_dir=run_dir, model=model.eval(), steps=done, final_metrics=last, wall_time_s=wall)


def _checkpoint(run_dir: Path, rank: int, step: int, model: PFN, optimizer: torch.optim.Optimizer, generator: torch.Generator, prior: Any, record: dict[str, Any]) -> None:
    save_state(
        state_path(run_dir, rank),
        step=step,
        generator=generator,
        model=model if rank == 0 else None,
        optimizer=optimizer if rank == 0 else None,
        world_size=record["world_size"],
    )
    if rank == 0:
        save_model(run_dir, model, prior=prior_record(prior), extra={"training": record})
