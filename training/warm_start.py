"""Start training from the weights of a trained model (``TrainConfig.init``, ``curvecast train --init``).

Fine-tuning and growing a model both start here: every tensor whose name and shape match is copied; a
run-id table with more rows than the source's keeps the source's rows and draws the rest fresh; parts the
source lacks (e.g. the free-hyperparameter encoder of a model saved before it existed) keep their fresh
initialisation, which starts as "no effect". The bar-distribution grid is the source's, so its head keeps
its meaning. A model may ask for a finer grid than the source's: ``n_bars = 2 + m (K - 2)`` for the source's
``K`` bars splits each interior bar into ``m`` equal bars (the two tails stay), and the head's rows are copied
with ``log m`` taken off each split bar's logit, so the refined model starts with exactly the source's
predictive distribution and fine-tuning can sharpen it below the old bar width (see :func:`refine_bars`).
A model may also be deeper than the source (``model.n_layers``): each transformer block the source lacks starts
with its two residual outputs (attention projection, second MLP layer) at zero, so it passes its input through
unchanged and the deeper model starts with exactly the source's predictions (zero-initialised residual branches,
as in Goyal et al. 2017 and Fixup), while fine-tuning grows the new blocks' contribution.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from curvecast.errors import CheckpointError
from curvecast.pfn.checkpoint import read_config, read_verified_weights
from curvecast.pfn.model import PFN

__all__ = ["warm_start", "resolve_init", "refine_bars"]

_GROWABLE = ("run_embedding.weight",)
#: A new block's residual outputs: zero, so the block starts as the identity.
_RESIDUAL_OUTPUTS = ("proj.weight", "proj.bias", "mlp.2.weight", "mlp.2.bias")


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
    source = read_verified_weights(path)
    _check_shapes_fit(path, source_config.get("model") or {}, model.config)
    target = model.state_dict()
    n_bars = source["bar_distribution.borders"].numel() - 1
    refined_from = None
    if n_bars != model.config.n_bars:
        factor, rest = divmod(model.config.n_bars - 2, n_bars - 2)
        if rest or factor < 2:
            raise CheckpointError(
                f"cannot start from '{path}': it has n_bars={n_bars} but this config asks for {model.config.n_bars}; "
                f"set model.n_bars to {n_bars} (the bucket grid is inherited) or to 2 + m * {n_bars - 2} for an integer "
                f"m >= 2 (each interior bar split m ways)"
            )
        source = refine_bars(source, factor)
        refined_from = n_bars
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
    new_blocks = sorted(i for i in range(len(model.blocks)) if f"blocks.{i}.qkv.weight" not in source)
    for i in new_blocks:
        for suffix in _RESIDUAL_OUTPUTS:
            target[f"blocks.{i}.{suffix}"].zero_()
    model.bar_distribution.borders.copy_(source["bar_distribution.borders"])
    record = {"from": str(path), "copied": len(copied), "grown": grown, "fresh": fresh}
    if new_blocks:
        record["new_blocks"] = new_blocks
    if refined_from is not None:
        record["refined_bars"] = {"from": refined_from, "to": model.config.n_bars}
    return record


#: Architecture fields whose every value changes tensor shapes that cannot be copied (n_bars, n_layers and
#: max_runs may differ: the grid is refined, blocks and run ids are added).
_FIXED_FIELDS = ("d_model", "n_heads", "d_ff")


def _check_shapes_fit(path: Path, source: dict[str, Any], config: Any) -> None:
    """One error naming every fixed architecture field in which ``config`` differs from the source's."""
    differ = {k: (source[k], getattr(config, k)) for k in _FIXED_FIELDS if k in source and source[k] != getattr(config, k)}
    if differ:
        listed = ", ".join(f"{k} {theirs} (this config: {ours})" for k, (theirs, ours) in differ.items())
        raise CheckpointError(
            f"cannot start from '{path}': its architecture has {listed}; drop --preset (--init with no --preset and no "
            "--config takes the source's architecture: the finetune preset), or set these in --config's \"model\""
        )


def refine_bars(weights: dict[str, torch.Tensor], factor: int) -> dict[str, torch.Tensor]:
    """A PFN's weights with every interior bar of its grid split into ``factor`` equal bars.

    Bar ``k`` of probability ``p_k`` and width ``w_k`` becomes ``factor`` bars of width ``w_k / factor``, each
    with logit ``l_k - log factor``: the softmax normalizer, hence every density, CDF and quantile, is
    unchanged, while the head can now put mass on a fraction of the old bar. The two tail buckets (half-normal
    tails whose scale is their width) are kept as they are. Returns a new dict; ``weights`` is not changed.
    """
    if factor < 1:
        raise CheckpointError(f"refine_bars needs a factor >= 1, got {factor}")
    borders = weights["bar_distribution.borders"]
    n_bars = borders.numel() - 1
    # Interior bars 1 .. K-2 span borders[1] .. borders[K-1]; split each at factor - 1 evenly spaced points.
    left, right = borders[1:-2], borders[2:-1]  # (K - 2)
    steps = torch.arange(factor, dtype=borders.dtype) / factor  # factor
    inner = (left[:, None] + (right - left)[:, None] * steps[None, :]).reshape(-1)  # (K - 2) * factor
    new_borders = torch.cat([borders[:1], inner, borders[-2:]])
    # Head rows: tail 0, each interior row repeated factor times, tail K-1.
    rows = torch.cat([torch.zeros(1, dtype=torch.long), torch.arange(1, n_bars - 1).repeat_interleave(factor), torch.tensor([n_bars - 1])])
    shift = torch.full((rows.numel(),), math.log(factor), dtype=weights["head.bias"].dtype)
    shift[0] = shift[-1] = 0.0
    out = dict(weights)
    out["bar_distribution.borders"] = new_borders
    out["head.weight"] = weights["head.weight"][rows].clone()
    out["head.bias"] = weights["head.bias"][rows] - shift
    return out
