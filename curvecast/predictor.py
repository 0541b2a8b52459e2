"""Load a trained PFN and predict the rest of partial curves with it.

>>> import curvecast
>>> model = curvecast.load()                      # the shipped default model, offline
>>> pred = model.predict(x, y, x_query, direction="min")
>>> pred.median, pred.interval(0.9), pred.sample(100, seed=0)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from curvecast.curve import Bounds, CleanCurve, Curve, Direction, as_curve, clean_curve
from curvecast.errors import CheckpointNotFoundError, InvalidConfigError
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.pfn.checkpoint import load_model
from curvecast.pfn.encoding import encode
from curvecast.pfn.model import PFN
from curvecast.prediction import JointSampler, Prediction, ZMap, means, quantiles
from curvecast.priors.batch import CONFIG_FIELDS

__all__ = ["Predictor", "load", "default_model_path"]

_FALLBACK_CONTEXT = 64


def default_model_path() -> Path:
    """Folder of the model shipped inside the package (``curvecast/models/default``)."""
    return Path(str(resources.files("curvecast") / "models" / "default"))


def load(path: str | Path | None = None, *, device: str | torch.device = "cpu", temperature: float | None = None) -> "Predictor":
    """Load a model for prediction.

    Args:
        path: a checkpoint folder (``model.safetensors`` + ``config.json``, e.g. a ``curvecast train`` run
            folder) or its weights file; ``None`` loads the default model shipped with the package.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"``.
        temperature: divides the bar-distribution logits (``> 1`` widens the predictive distributions);
            ``None`` takes the checkpoint's ``calibration.temperature`` (1.25 for the shipped model), or 1.

    Nothing is downloaded: the default model is part of the installed package.
    """
    if path is None:
        path = default_model_path()
        if not (path / "model.safetensors").is_file():
            raise CheckpointNotFoundError(
                f"the default model is missing from the installed package ('{path}'); reinstall curvecast, or pass the path of a trained model"
            )
    model, config = load_model(path, device=device)
    return Predictor(model, config, path=Path(path), temperature=temperature)


class Predictor:
    """A trained PFN ready to extrapolate curves (made by :func:`load`).

    Attributes:
        model: the :class:`~curvecast.pfn.PFN`.
        config: the checkpoint's ``config.json`` (architecture, prior, how it was trained).
        path: where it was loaded from.
        max_context: most observed points read per curve; longer curves are thinned evenly (keeping the
            first and the last point), because the model was trained on curves of at most this length.
        temperature: the bar-distribution logits are divided by it before anything is computed from them.
    """

    def __init__(self, model: PFN, config: dict[str, Any], *, path: Path | None = None, temperature: float | None = None) -> None:
        self.model = model.eval()
        self.config = config
        self.path = path
        prior_params = (config.get("prior") or {}).get("params") or {}
        self.max_context = int(prior_params.get("n_points", _FALLBACK_CONTEXT))
        if temperature is None:
            temperature = (config.get("calibration") or {}).get("temperature", 1.0)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < float("inf"):
            raise InvalidConfigError(f"temperature must be a positive finite number (1 = as trained), got {temperature!r}")
        self.temperature = float(temperature)

    @property
    def device(self) -> torch.device:
        return self.model.bar_distribution.borders.device

    def __repr__(self) -> str:
        return f"Predictor({self.model.num_parameters():,} parameters, path='{self.path}', device={self.device})"

    def predict(
        self,
        x: Any,
        y: Any,
        x_query: Any,
        *,
        direction: Direction = "min",
        config: Mapping[str, Any] | None = None,
        runs: Any = None,
        bounds: Bounds = "auto",
    ) -> Prediction:
        """Predictive distribution of one partial curve at ``x_query``.

        Args:
            x: ``n`` observed x (steps, epochs, tokens, samples; ``>= 0``), any spacing, any order.
            y: ``n`` observed metric values, any scale and sign.
            x_query: ``m`` x values to predict at (beyond the observed range, or inside it).
            direction: ``"min"`` for losses and errors, ``"max"`` for accuracies and scores.
            config: what is known about the run: any of ``n_params``, ``n_tokens``, ``batch_size``,
                ``lr``, ``warmup_steps``, ``total_steps``, ``cooldown_steps`` (the last three in units of
                x) and ``schedule`` (``"constant"``, ``"cosine"``, ``"linear"``, ``"wsd"``).
            runs: other runs of the same setup; not supported yet (raises ``NotImplementedError``).
            bounds: ``"auto"`` (accuracies in [0, 1] stay in [0, 1]), ``None``, or ``(low, high)``.

        Returns:
            A :class:`~curvecast.Prediction`. Input rules (NaN dropped, sorting, repeated x) are in
            :mod:`curvecast.curve`; bad input raises a :class:`~curvecast.errors.CurvecastError`.
        """
        if runs is not None:
            raise NotImplementedError("predicting from other runs of the same setup (runs=...) is not available yet; pass runs=None")
        curve = clean_curve(x, y, x_query, direction=direction, config=config, bounds=bounds)
        return self._predict_clean([curve])[0]

    def predict_many(
        self,
        curves: Iterable[Any],
        *,
        direction: Direction = "min",
        config: Mapping[str, Any] | None = None,
        bounds: Bounds = "auto",
        batch_size: int = 256,
        progress: bool = False,
    ) -> list[Prediction]:
        """Predict many curves in batches (ragged lengths are padded internally).

        Args:
            curves: items that are :class:`~curvecast.Curve`, dicts with ``x``, ``y``, ``x_query`` (and
                optionally ``direction``, ``config``, ``bounds``), or ``(x, y, x_query)`` tuples.
            direction, config, bounds: defaults for items that do not set their own.
            batch_size: curves per forward pass.
            progress: show a progress bar.

        Returns:
            One :class:`~curvecast.Prediction` per curve, in order.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        cleaned: list[CleanCurve] = []
        for i, item in enumerate(curves):
            c: Curve = as_curve(item, direction=direction, config=config, bounds=bounds)
            try:
                cleaned.append(clean_curve(c.x, c.y, c.x_query, direction=c.direction, config=c.config, bounds=c.bounds))
            except ValueError as exc:  # name the culprit in a long list
                raise type(exc)(f"curve {i}: {exc}") from None
        out: list[Prediction] = []
        starts = range(0, len(cleaned), batch_size)
        for start in tqdm(starts, desc="predict", unit="batch", disable=not progress or len(starts) < 2):
            out.extend(self._predict_clean(cleaned[start : start + batch_size]))
        return out

    def _context_indices(self, n: int) -> np.ndarray:
        if n <= self.max_context:
            return np.arange(n)
        return np.unique(np.round(np.linspace(0, n - 1, self.max_context)).astype(np.int64))

    @torch.inference_mode()
    def _predict_clean(self, curves: list[CleanCurve]) -> list[Prediction]:
        dev = self.device
        b = len(curves)
        ctx_idx = [self._context_indices(c.x.size) for c in curves]
        lengths = [idx.size + c.x_query.size for idx, c in zip(ctx_idx, curves)]
        n_tokens = max(lengths)
        x = np.zeros((b, n_tokens))
        y = np.zeros((b, n_tokens))
        is_context = np.zeros((b, n_tokens), dtype=bool)
        valid = np.zeros((b, n_tokens), dtype=bool)
        config = np.full((b, len(CONFIG_FIELDS)), np.nan)
        for i, (c, idx) in enumerate(zip(curves, ctx_idx)):
            nc, m = idx.size, c.x_query.size
            x[i, :nc], y[i, :nc], x[i, nc : nc + m] = c.x[idx], c.y[idx], c.x_query
            is_context[i, :nc] = True
            valid[i, : nc + m] = True
            config[i] = c.config
        config_t = torch.from_numpy(config)[:, None, :].expand(b, n_tokens, -1)
        x_t, y_t = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        direction = torch.tensor([c.sign for c in curves], dtype=torch.float64, device=dev)
        inp, norm = encode(
            x_t,
            y_t,
            torch.from_numpy(is_context).to(dev),
            torch.from_numpy(valid).to(dev),
            torch.zeros(b, n_tokens, dtype=torch.long, device=dev),
            torch.nan_to_num(config_t, nan=0.0).to(dev),
            torch.isfinite(config_t).to(dev),
            direction,
        )
        logits = self.model(inp).float() / self.temperature  # B x L x K
        # Summaries only at the query tokens: B x M, padded by repeating each curve's first query.
        n_query = max(c.x_query.size for c in curves)
        q_index = torch.zeros(b, n_query, dtype=torch.long, device=dev)
        for i, (c, idx) in enumerate(zip(curves, ctx_idx)):
            q_index[i] = idx.size + torch.arange(n_query, device=dev).clamp_max(c.x_query.size - 1)
        q_logits = logits.gather(1, q_index[..., None].expand(-1, -1, logits.shape[-1]))  # B x M x K
        bar = self.model.bar_distribution
        y_low = torch.tensor([c.bounds[0] for c in curves], dtype=torch.float64, device=dev)
        y_high = torch.tensor([c.bounds[1] for c in curves], dtype=torch.float64, device=dev)
        zmap = ZMap.build(norm.y_loc.double(), norm.y_scale.double(), norm.sign.double(), y_low, y_high)
        mean = means(bar, q_logits, zmap).cpu().numpy()  # B x M
        median = quantiles(bar, q_logits, zmap, torch.tensor([0.5], dtype=torch.float64))[..., 0].cpu().numpy()
        t = norm.x_forward(x_t)
        cpu_bar = bar if dev.type == "cpu" else BarDistribution(bar.borders.cpu())
        out = []
        for i, (c, idx) in enumerate(zip(curves, ctx_idx)):
            nc, m = idx.size, c.x_query.size
            q = slice(nc, nc + m)
            for name, values in (("mean", mean[i, :m]), ("median", median[i, :m])):
                if not np.isfinite(values).all():  # never hand back NaN: this is a bug, not bad input
                    raise FloatingPointError(f"the model produced a non-finite {name}; please report this with the input curve")
            is_query = torch.zeros(1, nc + m, dtype=torch.bool, device=dev)
            is_query[0, q] = True
            sampler = JointSampler(
                model=self.model,
                inp=type(inp)(*(v[i : i + 1, : nc + m] for v in (inp.features, inp.run_id, inp.z, inp.is_context, inp.valid))),
                is_query=is_query,
                t=t[i : i + 1, : nc + m].float(),
                query_slice=q,
            )
            out.append(
                Prediction(
                    x=c.x_query.copy(),
                    logits=q_logits[i, :m].cpu(),
                    zmap=zmap.index(i).cpu(),
                    bar=cpu_bar,
                    mean=mean[i, :m].copy(),
                    median=median[i, :m].copy(),
                    observed_x=c.x,
                    observed_y=c.y,
                    bounds=c.bounds,
                    n_context=int(nc),
                    sampler=sampler,
                )
            )
        return out
