"""Start training from the weights of a trained model (``TrainConfig.init``, ``curvecast train --init``).

Fine-tuning and growing a model both start here: every tensor whose name and shape match is copied; a
run-id table with more rows than the source's keeps the source's rows and draws the rest fresh; parts the
source lacks (e.g. the free-hyperparameter encoder of a model saved before it existed) keep their fresh
initialisation, which starts as "no effect". The bar-distribution grid is the source's, so its head keeps
its meaning; the number of bars must therefore match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from curvecast.errors import CheckpointError
from curvecast.pfn.checkpoint import read_config, read_weights
from curvecast.pfn.model import PFN

__all__ = ["warm_start", "resolve_init"]

_GROWABLE = ("run_embedding.weight",)


def resolve_init(init: str) -> Path:
    """``"default"`` is the model shipped with the package; anything else is a checkpoint path."""
    if init == "default":
        from curvecast.predictor import default_model_path

        return default_model_path()
    return Path(init)


@torch.no_grad()
def warm_start(model: PFN, init: str) -> dict[str, Any]:
    """Copy the weights of checkpoint ``init`` (``"default"`` or a path) into ``model``, in place.

    Returns a record of what was copied, grown and left fresh (it goes into the run's ``config.json``).
    Raises :class:`~curvecast.errors.CheckpointError` when the architectures do not fit.
    """
    path = resolve_init(init)
    source_config = read_config(path)
    source = read_weights(path)
    target = model.state_dict()
    n_bars = source["bar_distribution.borders"].numel() - 1
    if n_bars != model.config.n_bars:
        raise CheckpointError(
            f"cannot start from '{path}': it has n_bars={n_bars} but this config asks for {model.config.n_bars}; "
            f"set model.n_bars to {n_bars} (the bucket grid is inherited)"
        )
    copied, grown, fresh = [], [], []
    for name, tensor in target.items():
        if name not in source:
            fresh.append(name)
            continue
        value = source[name]
        if value.shape == tensor.shape:
            tensor.copy_(value)
            copied.append(name)
        elif name in _GROWABLE and value.shape[1:] == tensor.shape[1:] and value.shape[0] <= tensor.shape[0]:
            tensor[: value.shape[0]].copy_(value)
            grown.append(name)
        else:
            raise CheckpointError(
                f"cannot start from '{path}': its {name} has shape {tuple(value.shape)} but this model needs "
                f"{tuple(tensor.shape)}; use the source's architecture ({source_config.get('model')}) or train from scratch"
            )
    unused = sorted(set(source) - set(target))
    if unused:
        raise CheckpointError(f"cannot start from '{path}': this model has no place for its tensors {unused[:5]}; use the source's architecture")
    model.bar_distribution.borders.copy_(source["bar_distribution.borders"])
    return {"from": str(path), "copied": len(copied), "grown": grown, "fresh": fresh}
