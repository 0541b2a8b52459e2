"""Checkpoints: ``model.safetensors`` (weights) beside ``config.json`` (model config, prior, provenance).

Never pickled: weights go through safetensors, everything else is JSON. Files are written to a temporary
name in the same folder and moved into place with :func:`os.replace`, so a crash never leaves a torn file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import curvecast
from curvecast.device import resolve_device
from curvecast.errors import CheckpointError, CheckpointNotFoundError
from curvecast.pfn.model import PFN, ModelConfig

__all__ = [
    "WEIGHTS_FILE",
    "CONFIG_FILE",
    "FORMAT",
    "save_model",
    "load_model",
    "read_config",
    "read_weights",
    "read_verified_weights",
    "atomic_write_text",
    "atomic_save_tensors",
    "file_sha256",
]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "curvecast-pfn/1"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    _atomic(Path(path), lambda tmp: Path(tmp).write_text(text))


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save tensors as safetensors atomically (tensors are made contiguous and moved to CPU)."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _atomic(Path(path), lambda tmp: save_file(flat, tmp, metadata=metadata))


def save_model(directory: str | Path, model: PFN, *, prior: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory``; returns the folder."""
    directory = Path(directory)
    atomic_save_tensors(directory / WEIGHTS_FILE, model.state_dict(), metadata={"format": FORMAT})
    config = {
        "format": FORMAT,
        # Checked at load: a weights file changed after saving (truncated, overwritten) is refused.
        "weights_sha256": file_sha256(directory / WEIGHTS_FILE),
        "library_version": curvecast.__version__,
        "model": model.config.to_dict(),
        "prior": prior,
        "normalization": "per-task from context: t = x / max observed x; z = sign * (y - median) / spread (see curvecast.pfn.normalization)",
        **(extra or {}),
    }
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"no checkpoint at '{path}': pass a folder holding {WEIGHTS_FILE} and {CONFIG_FILE}, or the .safetensors file itself")
    if path.is_file() and (path.suffix != ".safetensors" or path.name.startswith("state")):
        raise CheckpointNotFoundError(
            f"'{path}' is not a model's weights file; pass the checkpoint folder ('{path.parent}') or its {WEIGHTS_FILE}"
        )
    directory = path if path.is_dir() else path.parent
    weights = directory / WEIGHTS_FILE if path.is_dir() else path
    for needed in (weights, directory / CONFIG_FILE):
        if not needed.exists():
            raise CheckpointNotFoundError(f"checkpoint '{path}' is incomplete: '{needed}' is missing (a finished run folder holds {WEIGHTS_FILE} and {CONFIG_FILE})")
    return weights, directory / CONFIG_FILE


def read_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder (or of the folder holding a weights file)."""
    _, config_path = _resolve(path)
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"'{config_path}' is not valid JSON ({exc}); re-export the checkpoint") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"'{config_path}' is not a curvecast checkpoint config (expected \"format\": \"{FORMAT}\")")
    return config


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint (folder or weights file), on the CPU."""
    weights, _ = _resolve(path)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot read weights '{weights}': {exc}. The file is corrupt or not a safetensors file") from None
    if "bar_distribution.borders" not in state:
        raise CheckpointError(f"'{weights}' holds no bar-distribution borders; it is not a curvecast PFN")
    return state


def read_verified_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """:func:`read_weights`, refused where the file does not match the SHA-256 its ``config.json`` records or
    holds NaN / infinite values (what :func:`load_model` and fine-tuning's ``--init`` read)."""
    weights, _ = _resolve(path)
    return _verified_weights(weights, read_config(path).get("weights_sha256"))


def _verified_weights(weights: Path, expected: str | None) -> dict[str, torch.Tensor]:
    if expected is not None and file_sha256(weights) != expected:
        raise CheckpointError(
            f"'{weights}' does not match the SHA-256 recorded in its config.json: the file was changed or damaged after "
            "saving; restore it (reinstall curvecast for the shipped model) or retrain"
        )
    state = read_weights(weights)
    bad = sorted(name for name, tensor in state.items() if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()))
    if bad:
        raise CheckpointError(f"'{weights}' holds NaN or infinite values in {bad[:5]}; the model diverged or the file is damaged")
    return state


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[PFN, dict[str, Any]]:
    """Load a PFN and its config from a checkpoint folder (or its ``model.safetensors``)."""
    weights, _ = _resolve(path)
    config = read_config(path)
    try:
        # Checkpoints written before free hyperparameters existed have no "read_hparams" and no such weights.
        # Likewise for schedule positions ("read_schedule") and the hyperparameter kernel ("hparam_attention").
        model_config = ModelConfig(**{"read_hparams": False, "read_schedule": False, "hparam_attention": False, **config["model"]})
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint config at '{path}' has no usable \"model\" section ({exc})") from None
    state = _verified_weights(weights, config.get("weights_sha256"))
    with torch.random.fork_rng(devices=[]):  # the weights are overwritten: leave the caller's global RNG alone
        model = PFN(model_config, state["bar_distribution.borders"])
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that disagree with the config
        raise CheckpointError(f"weights '{weights}' do not match the model config in config.json: {exc}") from None
    if missing or unexpected:
        raise CheckpointError(f"weights '{weights}' do not match the model config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(resolve_device(device)).eval(), config
