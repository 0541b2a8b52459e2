"""The small set of real curves shipped in the package, as a :class:`TaskBatch` for evaluation."""

from __future__ import annotations

import json
from importlib import resources

import torch
from torch import Tensor

from curvecast.priors.batch import CONFIG_FIELDS, TaskBatch, config_index

__all__ = ["load_dev_curves"]


def load_dev_curves(*, max_points: int = 64, observed_fraction: float = 0.5, device: torch.device | str = "cpu") -> tuple[TaskBatch, Tensor] | None:
    """Shipped real curves as single-run tasks, and which points count as observed.

    Curves longer than ``max_points`` are thinned evenly. The first ``observed_fraction`` of each curve's
    points is context; the rest is to be predicted. Returns None if the data file is missing.

    Returns:
        The batch (``T x 1 x P``) and ``is_context`` (``T x 1 x P`` bool).
    """
    try:
        text = resources.files("curvecast").joinpath("data/dev_curves.json").read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    curves = json.loads(text)
    n = len(curves)
    x = torch.zeros(n, 1, max_points, dtype=torch.float64)
    y = torch.zeros(n, 1, max_points, dtype=torch.float64)
    mask = torch.zeros(n, 1, max_points, dtype=torch.bool)
    context = torch.zeros_like(mask)
    config = torch.zeros(n, 1, len(CONFIG_FIELDS), dtype=torch.float64)
    config_mask = torch.zeros(n, 1, len(CONFIG_FIELDS), dtype=torch.bool)
    direction = torch.ones(n, dtype=torch.int8)
    for i, curve in enumerate(curves):
        cx, cy = torch.tensor(curve["x"], dtype=torch.float64), torch.tensor(curve["y"], dtype=torch.float64)
        if cx.numel() > max_points:
            keep = torch.linspace(0, cx.numel() - 1, max_points).round().long()
            cx, cy = cx[keep], cy[keep]
        m = cx.numel()
        x[i, 0, :m], y[i, 0, :m], mask[i, 0, :m] = cx, cy, True
        x[i, 0, m:], y[i, 0, m:] = cx[-1], cy[-1]
        context[i, 0, : max(1, int(round(observed_fraction * m)))] = True
        direction[i] = 1 if curve["direction"] == "min" else -1
        if curve.get("total_steps"):
            config[i, 0, config_index("total_steps")] = float(curve["total_steps"])
            config_mask[i, 0, config_index("total_steps")] = True
    batch = TaskBatch(x.float(), y.float(), mask, config.float(), config_mask, direction)
    return batch.to(device), context.to(device)
