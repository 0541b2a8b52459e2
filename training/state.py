"""Resumable training state (model, optimizer, RNG, step) as one safetensors file, without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from curvecast.errors import CheckpointError, CheckpointNotFoundError, InvalidConfigError
from curvecast.pfn.checkpoint import atomic_save_tensors

__all__ = ["save_state", "load_state", "state_path"]


def state_path(run_dir: Path, rank: int = 0) -> Path:
    return run_dir / ("state.safetensors" if rank == 0 else f"state-rank{rank}.safetensors")


def save_state(path: Path, *, step: int, generator: torch.Generator, model: torch.nn.Module | None, optimizer: torch.optim.Optimizer | None, world_size: int) -> None:
    """Write the state needed to continue exactly from ``step`` (model/optimizer only on rank 0).

    Besides the prior's generator this keeps torch's global RNG (dropout draws from it) and, on CUDA, the
    device's RNG.
    """
    tensors: dict[str, torch.Tensor] = {"generator_state": generator.get_state(), "torch_rng_state": torch.get_rng_state()}
    if generator.device.type == "cuda":
        tensors["cuda_rng_state"] = torch.cuda.get_rng_state(generator.device)
    meta: dict[str, str] = {"step": str(step), "device_type": generator.device.type, "world_size": str(world_size)}
    if model is not None:
        tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
    if optimizer is not None:
        opt = optimizer.state_dict()
        for index, slots in opt["state"].items():
            for name, value in slots.items():
                tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value)
        meta["param_groups"] = json.dumps(opt["param_groups"])
    atomic_save_tensors(path, tensors, metadata=meta)


def load_step(path: Path) -> int:
    """The step a training state file was saved at (read from its header, without loading its tensors)."""
    with safe_open(str(path), framework="pt") as f:
        return int((f.metadata() or {})["step"])


def load_state(
    path: Path, *, generator: torch.Generator | None, model: torch.nn.Module | None, optimizer: torch.optim.Optimizer | None, world_size: int, device_type: str
) -> int:
    """Restore what :func:`save_state` wrote (the parts not passed as None); returns the saved step.

    The run must continue on the same kind of device with the same number of processes, or the random
    streams (and so the run) would differ; anything else is refused.
    """
    if not path.exists():
        raise CheckpointNotFoundError(f"cannot resume: '{path}' does not exist (no checkpoint was written in this run folder yet); drop --resume to start afresh")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot read training state '{path}': {exc}") from None
    saved_device, saved_world = meta.get("device_type", device_type), int(meta.get("world_size", world_size))
    if saved_device != device_type or saved_world != world_size:
        raise InvalidConfigError(
            f"cannot resume: the run was saved on {saved_device} with {saved_world} process(es), this resume runs on {device_type} "
            f"with {world_size}; resume with the same --device and process count, or train into a new --out folder"
        )
    if generator is not None:
        generator.set_state(tensors["generator_state"])
        torch.set_rng_state(tensors["torch_rng_state"])
        if "cuda_rng_state" in tensors:
            torch.cuda.set_rng_state(tensors["cuda_rng_state"], generator.device)
    if model is not None:
        model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is not None:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return int(meta["step"])
