"""Turning a device name into a ``torch.device`` this machine really has."""

from __future__ import annotations

import torch

from curvecast.errors import DeviceUnavailableError, InvalidConfigError

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` are checked against the machine."""
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InvalidConfigError(f"unknown device {name!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
    if device.type not in ("cpu", "cuda"):
        raise InvalidConfigError(f"device {name!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
