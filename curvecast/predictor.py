"""Load a trained PFN and predict the rest of partial curves with it.

>>> import curvecast
>>> model = curvecast.load()                      # the shipped default model, offline
>>> pred = model.predict(x, y, x_query, direction="min")
>>> pred.median, pred.interval(0.9), pred.sample(100, seed=0)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from curvecast.curve import Bounds, Curve, Direction, as_curve, check_direction, check_queries, clean_curve, clean_points, resolve_bounds
from curvecast.errors import CheckpointError, CheckpointNotFoundError, CurvecastError, CurvecastWarning, InvalidConfigError, InvalidCurveError
from curvecast.pfn.bar_distribution import BarDistribution
from curvecast.pfn.checkpoint import load_model
from curvecast.pfn.encoding import PFNInput, encode
from curvecast.pfn.model import PFN
from curvecast.pfn.normalization import Normalization
from curvecast.prediction import JointSampler, Prediction, RunPredictions, ZMap, means, quantiles
from curvecast.priors.batch import CONFIG_FIELDS, N_HPARAMS, SCHEDULES, config_index
from curvecast.run import CleanRun, HparamSlots, Run, check_enough_context, clean_runs, distance_to_nearest
from curvecast.scaling import ISOFLOP_KEY, isoflop_profile

__all__ = ["Predictor", "load", "default_model_path", "far_factor", "prior_limits", "prequential_cut"]

_FALLBACK_CONTEXT = 64
#: Padded tokens per forward pass of predict_many (curves x longest curve), about 130 MB of logits on CPU.
_TOKEN_BUDGET = 131_072
#: Cooldown lengths (fractions of the run) a ``wsd`` run with ``total_steps`` but no ``cooldown_steps`` is
#: predicted under; its forecast is their mixture. From the short cooldowns of Hagele et al. (2024) to the
#: 40-70% of modded-nanogpt's records: an unknown cooldown is a range, not the single 20% the encoding assumes.
DEFAULT_WSD_COOLDOWNS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Context curves that replicate a predicted run's setting (other seeds) are read from this fraction of their
#: last observed x on. Their early phase says nothing about the seed-to-seed scatter of the end, yet it sets the
#: y scale the network reads in (q10-q90 of the points read): without it that scale is about 8 times smaller on
#: modded-nanogpt's seeds, so their scatter spans that many more of the output grid's bars. Chosen on validation
#: seeds of modded-nanogpt (0.2-0.3 alike; BENCHMARKS.md, "Seed replicates read late").
DEFAULT_REPLICATE_FROM = 0.2
#: The most readings :func:`load`'s ``table_ensemble`` (and ``runs_ensemble``) mixes (each costs a forward pass).
MAX_ID_ENSEMBLE = 64
#: A held-out point's log density in the cooldown backtest is floored here, so that one point outside a
#: hypothesis' bounds lowers its weight without zeroing it.
_BACKTEST_LOGPDF_FLOOR = -20.0
_I_SCHEDULE, _I_TOTAL, _I_COOLDOWN, _I_WARMUP = (config_index(name) for name in ("schedule", "total_steps", "cooldown_steps", "warmup_steps"))
_WSD = SCHEDULES.index("wsd")


def prequential_cut(n_points: int) -> int:
    """How many of ``n_points`` observed points a prequential backtest reads (the first half, at least 3);
    the rest are the points it predicts. Shared by the ``wsd`` cooldown weights and ``benchmarks/spread_shapes.py``."""
    return max(3, (n_points + 1) // 2)


def _setting(runs: list[CleanRun], slots: HparamSlots, i: int) -> bytes:
    """Run ``i``'s setting as a hashable key: its config vector and free-hyperparameter slots (replicates share it)."""
    return np.concatenate([runs[i].config, slots.values[i]]).tobytes()


@dataclass(frozen=True)
class _Task:
    """One token sequence: its runs, which of each run's points the model reads, and each run's queries."""

    runs: list[CleanRun]
    context: list[np.ndarray]  # per run, indices into run.x of the points read
    queries: list[np.ndarray]  # per run, x values to predict at (possibly none)
    hparams: np.ndarray  # R x N_HPARAMS
    hparam_mask: np.ndarray  # R x N_HPARAMS
    sign: int
    bounds: tuple[float, float]
    named: bool = False  # label predictions with their run's name
    table: bool = False  # a scaling table's rows (runs read at their end): queries take the table temperature
    ladder: bool = False  # the table holds a sweep's finished runs (scaling.fit_runs): its own temperature where given
    run_ids: np.ndarray | None = None  # the id each run's tokens carry (None: 0, 1, ..., R - 1); see Predictor._id_ensembles

    @property
    def n_context(self) -> int:
        return sum(c.size for c in self.context)

    def run_id(self, r: int) -> int:
        """The id the tokens of run ``r`` carry."""
        return r if self.run_ids is None else int(self.run_ids[r])

    @property
    def n_tokens(self) -> int:
        return self.n_context + sum(q.size for q in self.queries)


SHIPPED_MODELS = ("default", "bo", "tables")


def default_model_path(name: Literal["default", "bo", "tables"] = "default") -> Path:
    """Folder of a model shipped inside the package: ``curvecast/models/default`` (single curves and runs
    read together), ``curvecast/models/bo`` (what :mod:`curvecast.bo` loads) or ``curvecast/models/tables``
    (what :mod:`curvecast.scaling` loads: scaling tables of finished runs). Each folder's README says why it
    is a model of its own."""
    if name not in SHIPPED_MODELS:
        raise InvalidConfigError(f"shipped models are {', '.join(map(repr, SHIPPED_MODELS))}; got {name!r}")
    return Path(str(resources.files("curvecast") / "models" / name))


def shipped_model_or_default(name: Literal["bo", "tables"]) -> Path | None:
    """The folder of the shipped model ``name`` where this build carries its weights, else None (what
    :func:`load` reads as the default model)."""
    path = default_model_path(name)
    return path if (path / "model.safetensors").is_file() else None


def _check_factor(name: str, value: Any) -> float:
    """A calibration factor: a positive finite number, else :class:`InvalidConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise InvalidConfigError(f"{name} must be a positive finite number (1 = as trained), got {value!r}")
    return float(value)


def _check_ensemble(name: str, members: Any, seed: Any, what: str) -> tuple[int, int]:
    """``(members, seed)`` of an id ensemble (``table_ensemble``, ``runs_ensemble``), else :class:`InvalidConfigError`."""
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= MAX_ID_ENSEMBLE:
        raise InvalidConfigError(
            f"{name} is how many times {what} is read, each time with its runs' ids drawn anew (an int from 1 to "
            f"{MAX_ID_ENSEMBLE}, e.g. 8; 1 reads it once), got {members!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidConfigError(f"{name}_seed seeds the run ids of the readings of {what}: an int >= 0, got {seed!r}")
    return int(members), int(seed)


def _check_spread(spread: Any) -> float | dict[str, float]:
    """``spread`` as a float, or as ``{"min": a, "max": b}`` when given per direction."""
    if not isinstance(spread, Mapping):
        return _check_factor("spread", spread)
    if set(spread) != {"min", "max"}:
        raise InvalidConfigError(
            f"spread per direction needs exactly the keys 'min' (losses) and 'max' (accuracies), e.g. {{'min': 1.2, 'max': 1.6}}; got keys {sorted(map(str, spread))}"
        )
    factors = {d: _check_factor(f"spread[{d!r}]", spread[d]) for d in ("min", "max")}
    return factors["min"] if factors["min"] == factors["max"] else factors


def _spread_rule(name: str, value: Any, threshold: str, meaning: str, example: str) -> Mapping[str, Any] | None:
    """A spread rule ``{threshold: ..., "spread": ...}`` with exactly those keys, or ``None`` for off (``None`` or
    ``False``); the threshold's own check is the caller's."""
    if value is None or value is False:
        return None
    if not isinstance(value, Mapping) or set(value) != {threshold, "spread"}:
        raise InvalidConfigError(
            f"{name} needs exactly the keys '{threshold}' ({meaning}) and 'spread' (the factor), e.g. {example}, or None / False for off; got {value!r}"
        )
    return value


def _check_few_points(value: Any) -> dict[str, float] | None:
    """``spread_few_points`` as ``{"below": int, "spread": float}``, or ``None`` (off; ``False`` also means off)."""
    rule = _spread_rule("spread_few_points", value, "below", "single curves with fewer observed points than this", "{'below': 6, 'spread': 1.4}")
    if rule is None:
        return None
    below = rule["below"]
    if isinstance(below, bool) or not isinstance(below, int) or below < 2:
        raise InvalidConfigError(f"spread_few_points['below'] must be an int of at least 2 (a count of observed points), got {below!r}")
    return {"below": int(below), "spread": _check_factor("spread_few_points['spread']", rule["spread"])}


def _check_far(value: Any) -> dict[str, float] | None:
    """``spread_far`` as ``{"beyond": float, "spread": float}``, or ``None`` (off; ``False`` also means off)."""
    rule = _spread_rule(
        "spread_far", value, "beyond", "queries past this multiple of the last observed x start to widen, to 'spread' ten times further out",
        "{'beyond': 20, 'spread': 1.6}",
    )
    if rule is None:
        return None
    beyond = rule["beyond"]
    if isinstance(beyond, bool) or not isinstance(beyond, (int, float)) or not 1 <= beyond < float("inf"):
        raise InvalidConfigError(f"spread_far['beyond'] must be a finite number of at least 1 (a multiple of the last observed x), got {beyond!r}")
    return {"beyond": float(beyond), "spread": _check_factor("spread_far['spread']", rule["spread"])}


def far_factor(reach: np.ndarray | torch.Tensor, beyond: float, spread: float) -> np.ndarray | torch.Tensor:
    """The extra spread of single-curve queries at ``reach`` = x / (last observed x): 1 up to ``beyond``, then
    rising linearly in log10(reach) to ``spread`` at ``10 * beyond``, and ``spread`` past it. A ramp, not a
    step, so a fan chart's band does not jump where the rule starts."""
    if isinstance(reach, torch.Tensor):
        ramp = (torch.log10(reach.clamp_min(1e-300) / beyond)).clamp(0.0, 1.0)
    else:
        ramp = np.clip(np.log10(np.maximum(np.asarray(reach, dtype=np.float64), 1e-300) / beyond), 0.0, 1.0)
    return 1.0 + (spread - 1.0) * ramp


#: Keys of a ``temperature_runs`` given per kind of predicted run.
RUN_KINDS = ("observed", "unobserved")
#: The optional key of a ``temperature_runs`` mapping for scaling-table rows (:mod:`curvecast.scaling`).
TABLE_KIND = "table"
#: The ``temperature_runs`` key of a table made of a sweep's finished runs (``curvecast.scaling.fit_runs``).
LADDER_KIND = "ladder"


def _check_runs_temperature(value: Any) -> float | dict[str, float]:
    """``temperature_runs`` as a float, or as ``{"observed": a, "unobserved": b}`` (optionally with ``"table": c``
    and ``"ladder": d``) when given per kind of run."""
    if not isinstance(value, Mapping):
        return _check_factor("temperature_runs", value)
    if not set(RUN_KINDS) <= set(value) <= {*RUN_KINDS, TABLE_KIND, LADDER_KIND}:
        raise InvalidConfigError(
            "temperature_runs per kind of run needs the keys 'observed' (runs with points) and 'unobserved' "
            "(runs not started, table rows to predict), and may add 'table' (scaling-table rows apart) and 'ladder' "
            "(rows of a table of a sweep's finished runs, scaling.fit_runs), "
            f"e.g. {{'observed': 1.1, 'unobserved': 0.8}}; got keys {sorted(map(str, value))}"
        )
    factors = {k: _check_factor(f"temperature_runs[{k!r}]", value[k]) for k in value}
    return factors["observed"] if len(set(factors.values())) == 1 else factors


def load(
    path: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    temperature: float | None = None,
    temperature_runs: float | Mapping[str, float] | None = None,
    spread: float | Mapping[str, float] | None = None,
    spread_few_points: Mapping[str, float] | Literal[False] | None = None,
    spread_far: Mapping[str, float] | Literal[False] | None = None,
    spread_isoflop: float | None = None,
    wsd_cooldowns: Sequence[float] | None = None,
    context_runs: int | None = None,
    max_runs: int | None = None,
    replicate_from: float | None = None,
    table_rows_inside: int | Literal[False] | None = None,
    table_ensemble: int | None = None,
    table_ensemble_seed: int = 0,
    runs_ensemble: int | None = None,
    runs_ensemble_seed: int = 0,
) -> "Predictor":
    """Load a model for prediction.

    Args:
        path: a checkpoint folder (``model.safetensors`` + ``config.json``, e.g. a ``curvecast train`` run
            folder) or its weights file; ``None`` or ``"default"`` loads the default model shipped with the package,
            ``"bo"`` and ``"tables"`` the other shipped models (:func:`default_model_path`; a folder of one of these
            names is passed as ``"./default"``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (a GPU if there is one).
        temperature: divides the bar-distribution logits of single-curve predictions (``> 1`` widens the
            predictive distributions); ``None`` takes the checkpoint's ``calibration.temperature``, or 1.
            Given alone, it applies to predictions from several runs too (``temperature=1`` is the raw network).
        temperature_runs: the same for predictions conditioned on other runs (``runs=``, ``predict_runs``,
            scaling laws); a mapping ``{"observed": a, "unobserved": b}`` gives runs with observed points
            and runs not started (new settings, table rows to predict) their own factors, and an optional
            ``"table": c`` gives the rows a scaling table predicts (:mod:`curvecast.scaling`) theirs. ``None`` takes
            ``temperature`` if given, else the checkpoint's ``calibration.temperature_runs``, else its
            ``calibration.temperature``, or 1.
        spread: scales single-curve predictive distributions about their medians (``> 1`` widens every
            central interval by that factor, tails included, without the tail inflation of a temperature; an
            interval end past the bar grid's outer borders, far out, moves further:
            :meth:`~curvecast.pfn.BarDistribution.stretch`);
            a mapping ``{"min": a, "max": b}`` gives losses (``direction="min"``) and accuracies
            (``"max"``) their own factors. ``None`` takes the checkpoint's ``calibration.spread``, or 1.
            ``temperature=1, spread=1`` is the raw network.
        spread_few_points: ``{"below": n, "spread": s}``: single curves with fewer than ``n`` observed points
            (as read: a run longer than the model's context is thinned first) take the factor ``s`` instead of ``spread`` (forecasts from a handful of points are too narrow at the
            factor that suits longer prefixes; measured on real curves, see BENCHMARKS.md). ``False`` turns it
            off. ``None`` takes the checkpoint's ``calibration.spread_few_points`` when ``spread`` is ``None``
            too, and is off when ``spread`` is given (an explicit spread then applies to every curve).
        spread_far: ``{"beyond": b, "spread": s}``: single-curve queries far past the observed points widen
            further, by a factor that is 1 up to ``b`` times the last observed x and rises linearly in log x to
            ``s`` at ``10 b`` times it (:func:`far_factor`), on top of the curve's spread (forecasts hundreds of
            times past the observed x, such as benchmark accuracies read from log-spaced early checkpoints, are
            too narrow; measured on real curves, see BENCHMARKS.md). ``False`` turns it off. ``None`` takes
            the checkpoint's ``calibration.spread_far`` when ``spread`` is ``None`` too, and is off when
            ``spread`` is given.
        spread_isoflop: scales the predictive distributions of an isoFLOP profile read as a table
            (:func:`curvecast.scaling.isoflop_profile`) about their medians. ``None`` takes the checkpoint's
            ``calibration.spread_isoflop`` (chosen on isoFLOP profiles the real-curve benchmark does not score,
            ``benchmarks/calibrate.py --isoflop-spread``), or 1.
        wsd_cooldowns: cooldown lengths (fractions of the run, each in ``(0, 1)``) under which a run with
            ``schedule="wsd"`` and ``total_steps`` but no ``cooldown_steps`` is predicted: the forecast is
            their mixture, weighted by how well each predicts the second half of the observed points from the
            first (single curves with at least 4 points read; equal weights otherwise). ``None`` takes the
            checkpoint's ``calibration.wsd_cooldowns``, else :data:`DEFAULT_WSD_COOLDOWNS`; one value is a
            point assumption. Giving ``cooldown_steps`` is better still.
        context_runs: most distinct settings (configs) whose curves (runs with two or more observed points)
            are read as context beside the runs being predicted: the nearest in size, tokens, batch size, lr
            and free hyperparameters, with every replicate of a kept setting. ``None`` takes the checkpoint's
            ``calibration.context_runs``, else the most curves the model saw in training.
        max_runs: most runs (scaling-table rows included) read in one pass, at most the architecture's
            ``ModelConfig.max_runs``. ``None`` takes the checkpoint's ``calibration.max_runs``, else the most
            runs of a training task.
        replicate_from: context curves with exactly the setting (config and free hyperparameters, at least one
            of them given) of a run being predicted, i.e. its other seeds, are read from this fraction of their
            last observed x on, in ``[0, 1)``; ``0`` reads them whole. ``None`` takes the checkpoint's
            ``calibration.replicate_from``, else :data:`DEFAULT_REPLICATE_FROM`.
        table_rows_inside: most rows a scaling table's prediction reads (the nearest) when every point it
            predicts lies inside the table, in the convex hull of its rows' (log N, log D): the network pools a
            row towards the rest of the table, so an interpolation reads its neighbours only, while an
            extrapolation reads up to ``max_runs`` (:meth:`curvecast.scaling.ScalingLaw.predict`). ``False``
            reads up to ``max_runs`` always; ``None`` takes the checkpoint's ``calibration.table_rows_inside``,
            else ``False``.
        table_ensemble: how many times a scaling table (:mod:`curvecast.scaling`, isoFLOP profiles, the table
            reading of :func:`curvecast.scaling.predict_final`) is read, each time with its rows' run ids drawn
            anew, the readings mixed with equal weights (ensembling over label assignments, as TabPFN does). The
            network reads any assignment of ids (they were drawn at random in training), but not identically, so
            one reading depends on which row carries which id; a mixture much less (``benchmarks/calibrate.py
            --table-ensemble``). Each reading costs a forward pass. ``None`` takes the checkpoint's
            ``calibration.table_ensemble``, else 1.
        table_ensemble_seed: seeds the run ids of those readings (0: the first reading keeps the ids 0, 1, ...,
            in the table's own row order, by N, then D, then loss); another seed, other draws.
        runs_ensemble: the same for a prediction from several runs that is not a table's (``runs=``,
            ``predict_runs``, the runs half of :func:`curvecast.scaling.predict_final`): how many readings, each
            with the runs' ids drawn anew, are mixed (``benchmarks/calibrate.py --runs-ensemble``). Single curves
            are read once. ``None`` takes the checkpoint's ``calibration.runs_ensemble``, else 1.
        runs_ensemble_seed: seeds those ids (0: the first reading keeps the ids 0, 1, ... of the runs read, in the
            order they were given); another seed, other draws.

    Nothing is downloaded: the default model is part of the installed package.
    """
    if isinstance(path, str) and path in SHIPPED_MODELS:  # as --init takes them; a folder of that name is "./default"
        path = default_model_path(path)  # type: ignore[arg-type]
    if path is None:
        path = default_model_path()
    if path == default_model_path() and not (path / "model.safetensors").is_file():
        raise CheckpointNotFoundError(
            f"the default model is missing from the installed package ('{path}'); reinstall curvecast, or pass the path of a trained model"
        )
    model, config = load_model(path, device=device)
    return Predictor(
        model,
        config,
        path=Path(path),
        temperature=temperature,
        temperature_runs=temperature_runs,
        spread=spread,
        spread_few_points=spread_few_points,
        spread_far=spread_far,
        spread_isoflop=spread_isoflop,
        wsd_cooldowns=wsd_cooldowns,
        context_runs=context_runs,
        max_runs=max_runs,
        replicate_from=replicate_from,
        table_rows_inside=table_rows_inside,
        table_ensemble=table_ensemble,
        table_ensemble_seed=table_ensemble_seed,
        runs_ensemble=runs_ensemble,
        runs_ensemble_seed=runs_ensemble_seed,
    )


_LIMIT_KEYS = ("n_points", "max_runs", "max_curve_runs", "max_task_points")


def prior_limits(record: Mapping[str, Any]) -> dict[str, int]:
    """The task sizes a checkpoint's prior (its ``config.json`` record) trained the model on.

    ``n_points``, ``max_runs``, ``max_curve_runs``, ``max_task_points`` of the prior's parameters; for a
    mixture, the largest of its components' (a curve bank's one-run tasks set only ``n_points``). Keys no
    component sets are left out, so the predictor falls back to what the architecture allows.
    """
    if "components" in record:
        limits: dict[str, int] = {}
        for component in record["components"]:
            for key, value in prior_limits(component).items():
                limits[key] = max(value, limits.get(key, value))
        return limits
    params = record.get("params") or {}
    return {key: int(params[key]) for key in _LIMIT_KEYS if isinstance(params.get(key), (int, float)) and not isinstance(params.get(key), bool)}


def _is_isoflop(config: Any) -> bool:
    return isinstance(config, Mapping) and ISOFLOP_KEY in config


class Predictor:
    """A trained PFN ready to extrapolate curves (made by :func:`load`).

    Attributes:
        model: the :class:`~curvecast.pfn.PFN`.
        config: the checkpoint's ``config.json`` (architecture, prior, how it was trained).
        path: where it was loaded from.
        max_context: most observed points read per run; longer runs are thinned evenly (keeping the
            first and the last point), because the model was trained on runs of at most this length.
        max_runs: most runs read in one pass: ``calibration.max_runs`` (chosen on validation hold-outs, up to
            the architecture's ``ModelConfig.max_runs``), else the most runs of a training task.
        max_curve_runs: most runs with two or more points, observed and asked for together, read in one pass (the
            most curves of a training task); runs with at most one point (table rows, a run not started asked
            for its final value alone) count only towards ``max_runs``.
        context_runs: most distinct settings among the context-only curves read, nearest first
            (``calibration.context_runs``: the network pools the context curves towards their average, so
            a larger run is predicted from its nearest sizes better than from a whole ladder).
        max_task_points: most observed points read in one pass, over all runs (runs are thinned to fit).
        temperature: the bar-distribution logits of single-curve predictions are divided by it before
            anything is computed from them.
        temperature_runs: the same for predictions whose context holds more than one run (a float, or one
            factor per kind of predicted run, ``{"observed": a, "unobserved": b}``, optionally with
            ``"table": c`` for scaling-table rows and ``"ladder": d`` for those of a table of a sweep's finished
            runs; :meth:`runs_temperature`).
        spread: single-curve predictive distributions are then scaled about their medians by this factor (a
            float), or by one factor per direction (``{"min": a, "max": b}``; :meth:`spread_for`).
        spread_few_points: ``{"below": n, "spread": s}`` or ``None``: single curves with fewer than ``n``
            observed points are scaled by ``s`` instead (:meth:`spread_for`).
        spread_far: ``{"beyond": b, "spread": s}`` or ``None``: single-curve queries past ``b`` times the last
            observed x widen further (:func:`far_factor`).
        wsd_cooldowns: cooldown fractions mixed over for ``wsd`` runs whose ``cooldown_steps`` is unknown.
        replicate_from: context curves replicating a predicted run's setting (its other seeds) are read from
            this fraction of their last observed x on (:data:`DEFAULT_REPLICATE_FROM`).
        table_rows_inside: most rows a scaling-table prediction reads when its points lie inside the table
            (``None``: as many as ``max_runs`` allows; :func:`load`).
        table_ensemble: readings of a scaling table mixed, each with the rows' run ids drawn anew (:func:`load`).
        table_ensemble_seed: the seed of those draws (:func:`load`).
        runs_ensemble: readings of a prediction from several runs (not a table's) mixed, each with the runs' ids
            drawn anew (:func:`load`).
        runs_ensemble_seed: the seed of those draws (:func:`load`).
    """

    def __init__(
        self,
        model: PFN,
        config: dict[str, Any],
        *,
        path: Path | None = None,
        temperature: float | None = None,
        temperature_runs: float | Mapping[str, float] | None = None,
        spread: float | Mapping[str, float] | None = None,
        spread_few_points: Mapping[str, float] | Literal[False] | None = None,
        spread_far: Mapping[str, float] | Literal[False] | None = None,
        spread_isoflop: float | None = None,
        wsd_cooldowns: Sequence[float] | None = None,
        context_runs: int | None = None,
        max_runs: int | None = None,
        replicate_from: float | None = None,
        table_rows_inside: int | Literal[False] | None = None,
        table_ensemble: int | None = None,
        table_ensemble_seed: int = 0,
        runs_ensemble: int | None = None,
        runs_ensemble_seed: int = 0,
    ) -> None:
        self.model = model.eval()
        self.config = config
        self.path = path
        for key in ("prior", "calibration"):
            if config.get(key) is not None and not isinstance(config[key], Mapping):
                raise CheckpointError(
                    f"the checkpoint config's {key!r} must be a JSON object, got {type(config[key]).__name__}; "
                    f"restore the checkpoint's config.json (or remove the {key!r} entry)"
                )
        prior_params = prior_limits(config.get("prior") or {})
        self.max_context = int(prior_params.get("n_points", _FALLBACK_CONTEXT))
        calibration = config.get("calibration") or {}
        trained_runs = min(int(prior_params.get("max_runs", model.config.max_runs)), model.config.max_runs)
        if max_runs is None:
            max_runs = calibration.get("max_runs", trained_runs)
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or not 1 <= max_runs <= model.config.max_runs:
            raise InvalidConfigError(
                f"max_runs must be an int from 1 to the architecture's {model.config.max_runs} (ModelConfig.max_runs), got {max_runs!r}"
            )
        self.max_runs = int(max_runs)
        self.max_curve_runs = min(int(prior_params.get("max_curve_runs", trained_runs)), self.max_runs)
        task_points = prior_params.get("max_task_points")
        self.max_task_points = int(task_points) if task_points else trained_runs * self.max_context
        if temperature_runs is None:
            temperature_runs = temperature if temperature is not None else calibration.get("temperature_runs", calibration.get("temperature", 1.0))
        if temperature is None:
            temperature = calibration.get("temperature", 1.0)
        if spread_few_points is None and spread is None:
            spread_few_points = calibration.get("spread_few_points")
        if spread_far is None and spread is None:
            spread_far = calibration.get("spread_far")
        if spread is None:
            spread = calibration.get("spread", 1.0)
        self.spread_few_points: dict[str, float] | None = _check_few_points(spread_few_points)
        self.spread_far: dict[str, float] | None = _check_far(spread_far)
        self.temperature = _check_factor("temperature", temperature)
        self.temperature_runs: float | dict[str, float] = _check_runs_temperature(temperature_runs)
        self.spread: float | dict[str, float] = _check_spread(spread)
        self.spread_isoflop = _check_factor("spread_isoflop", calibration.get("spread_isoflop", 1.0) if spread_isoflop is None else spread_isoflop)
        if wsd_cooldowns is None:
            wsd_cooldowns = calibration.get("wsd_cooldowns", DEFAULT_WSD_COOLDOWNS)
        fractions = np.asarray(wsd_cooldowns, dtype=np.float64).reshape(-1) if not isinstance(wsd_cooldowns, (str, bytes)) else np.array([np.nan])
        if fractions.size == 0 or not ((fractions > 0) & (fractions < 1)).all():
            raise InvalidConfigError(f"wsd_cooldowns are fractions of the run, each strictly between 0 and 1 (e.g. [0.1, 0.2, 0.4]), got {wsd_cooldowns!r}")
        self.wsd_cooldowns = tuple(float(f) for f in fractions)
        if context_runs is None:
            context_runs = calibration.get("context_runs", self.max_curve_runs)
        if isinstance(context_runs, bool) or not isinstance(context_runs, int) or context_runs < 1:
            raise InvalidConfigError(f"context_runs must be a positive int (the most context curves read per pass), got {context_runs!r}")
        self.context_runs = min(int(context_runs), self.max_curve_runs)
        if replicate_from is None:
            replicate_from = calibration.get("replicate_from", DEFAULT_REPLICATE_FROM)
        if isinstance(replicate_from, bool) or not isinstance(replicate_from, (int, float)) or not 0 <= replicate_from < 1:
            raise InvalidConfigError(
                f"replicate_from is the fraction of a seed replicate's x range skipped, in [0, 1) (e.g. 0.2; 0 reads it whole), got {replicate_from!r}"
            )
        self.replicate_from = float(replicate_from)
        if table_rows_inside is None:
            table_rows_inside = calibration.get("table_rows_inside") or False
        if table_rows_inside is not False and (isinstance(table_rows_inside, bool) or not isinstance(table_rows_inside, int) or table_rows_inside < 1):
            raise InvalidConfigError(
                f"table_rows_inside is the most rows an interpolation in a scaling table reads (a positive int, e.g. 12) or False, got {table_rows_inside!r}"
            )
        self.table_rows_inside: int | None = None if table_rows_inside is False else min(int(table_rows_inside), self.max_runs)
        self.table_ensemble, self.table_ensemble_seed = _check_ensemble(
            "table_ensemble", calibration.get("table_ensemble", 1) if table_ensemble is None else table_ensemble, table_ensemble_seed, "a scaling table"
        )
        self.runs_ensemble, self.runs_ensemble_seed = _check_ensemble(
            "runs_ensemble", calibration.get("runs_ensemble", 1) if runs_ensemble is None else runs_ensemble, runs_ensemble_seed, "a prediction from several runs"
        )

    def runs_temperature(self, *, observed: bool, table: bool = False, ladder: bool = False) -> float:
        """The logit temperature of a run predicted from other runs: one with observed points (``observed``)
        or one not started (a new setting, a table row to predict); a row a scaling table predicts
        (``table``) takes the ``"table"`` factor where one is given, else that of runs not started; a row of a
        table of a sweep's finished runs (``ladder`` too) takes the ``"ladder"`` factor where one is given."""
        if isinstance(self.temperature_runs, float):
            return self.temperature_runs
        if table and ladder and LADDER_KIND in self.temperature_runs:
            return self.temperature_runs[LADDER_KIND]
        if table and TABLE_KIND in self.temperature_runs:
            return self.temperature_runs[TABLE_KIND]
        return self.temperature_runs["observed" if observed else "unobserved"]

    def spread_for(self, direction: Direction, n_observed: int | None = None) -> float:
        """The spread factor of single-curve predictions of a ``direction`` (``"min"`` or ``"max"``) metric, from
        ``n_observed`` observed points (``None``: as many as :attr:`spread_few_points` needs to stay out of it)."""
        check_direction(direction)
        few = self.spread_few_points
        if few is not None and n_observed is not None and n_observed < few["below"]:
            return few["spread"]
        return self.spread if isinstance(self.spread, float) else self.spread[direction]

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
        runs: Sequence[Run] | None = None,
        bounds: Bounds = "auto",
    ) -> Prediction:
        """Predictive distribution of one partial run at ``x_query``, optionally given other runs.

        Args:
            x: ``n`` observed x (steps, epochs, tokens, samples; ``>= 0``), any spacing, any order. With
                ``runs``, ``n`` may be 0..2 (a run not started, or barely).
            y: ``n`` observed metric values, any scale and sign.
            x_query: ``m`` x values to predict at (beyond the observed range, or inside it).
            direction: ``"min"`` for losses and errors, ``"max"`` for accuracies and scores.
            config: what is known about the run: any of ``n_params``, ``n_tokens``, ``batch_size``,
                ``lr``, ``warmup_steps``, ``total_steps``, ``cooldown_steps`` (the last three in units of
                x) and ``schedule`` (``"constant"``, ``"cosine"``, ``"linear"``, ``"wsd"``); any other key
                is a free hyperparameter (it matters when ``runs`` give other values of it). A config
                ``{"isoflop": C}`` (and optionally ``flops_per_param_token``) marks an isoFLOP profile: x are
                model sizes, y the final losses of runs trained with ``C`` FLOPs, predicted as a table of runs
                (:func:`curvecast.scaling.isoflop_profile`).
            runs: other runs of the same setup (:class:`~curvecast.Run`: finished, partial or with only a
                config); the prediction is conditioned on them in one forward pass. Of the runs with curves,
                those of the :attr:`context_runs` settings nearest to this run are read (see :func:`load`).
            bounds: ``"auto"`` (accuracies in [0, 1] stay in [0, 1]), ``None``, or ``(low, high)``.

        Returns:
            A :class:`~curvecast.Prediction`. Input rules (NaN dropped, sorting, repeated x) are in
            :mod:`curvecast.curve`, those for ``runs`` in :mod:`curvecast.run`; bad input raises a
            :class:`~curvecast.errors.CurvecastError`.
        """
        if _is_isoflop(config):
            if runs is not None:
                raise InvalidConfigError(
                    f"config[{ISOFLOP_KEY!r}] marks an isoFLOP profile, which is predicted alone; for several profiles or other "
                    "runs, pass all the finished runs as one table to curvecast.scaling.fit(n_params, n_tokens, loss)"
                )
            return self._predict_isoflop(x, y, x_query, direction=direction, config=config, bounds=bounds)  # type: ignore[arg-type]
        if runs is None:
            curve = clean_curve(x, y, x_query, direction=direction, config=config, bounds=bounds)
            run = CleanRun(x=curve.x, y=curve.y, config=curve.config)
            task = self._single_run_task(run, curve.x_query, curve.sign, curve.bounds)
            return self._predict_tasks([task])[0][0]
        x_query = check_queries(x_query)
        if isinstance(runs, (str, bytes, Mapping, Run)) or not isinstance(runs, Sequence):
            raise InvalidCurveError(f"runs must be a list of curvecast.Run, got {type(runs).__name__}")
        cleaned, slots = clean_runs([Run(x, y, config, name="target"), *runs], direction=direction, duplicates="drop")
        queries = [x_query] + [np.empty(0)] * (len(cleaned) - 1)
        return self._predict_group(cleaned, slots, queries, direction=direction, bounds=bounds)[0]

    def predict_runs(
        self,
        runs: Sequence[Run],
        x_query: Any,
        *,
        direction: Direction = "min",
        bounds: Bounds = "auto",
    ) -> RunPredictions:
        """Predict several runs of one setup (observed or not) in one forward pass.

        Args:
            runs: the runs (:class:`~curvecast.Run`; at most :attr:`max_runs`), each with its observed
                points (possibly none) and config; free hyperparameters are scaled over these runs.
            x_query: x values to predict every run at (``m``), or one array per run; a run given an empty
                array is read as context only, and its place in the result holds ``None``.
            direction: ``"min"`` or ``"max"``, shared by all runs.
            bounds: as in :meth:`predict`, decided from all runs' observations.

        Returns:
            :class:`~curvecast.RunPredictions`: one :class:`~curvecast.Prediction` per run, in order (``None``
            for a run with no queries), whose ``sample`` draws all runs' trajectories jointly.
        """
        cleaned, slots = clean_runs(runs, direction=direction, duplicates="error")
        n = len(cleaned)
        per_run = isinstance(x_query, (list, tuple)) and len(x_query) == n and all(np.ndim(q) == 1 for q in x_query)
        if per_run:
            queries = [check_queries(q, name=f"x_query[{i}]", allow_empty=True) for i, q in enumerate(x_query)]
        else:
            queries = [check_queries(x_query)] * n
        if not any(q.size for q in queries):
            raise InvalidCurveError("x_query gives no run anything to predict; pass at least one x value")
        curves = sum(r.x.size + q.size > 1 for r, q in zip(cleaned, queries))
        if n > self.max_runs or curves > self.max_curve_runs:
            raise InvalidCurveError(
                f"{n} runs ({curves} of them curves) to predict, but the model reads at most {self.max_runs} runs, "
                f"{self.max_curve_runs} of them curves (runs with two or more points, observed or asked for), in one pass; ask runs not "
                "started for one x each (their final value), or predict them in groups (predict(..., runs=...) picks the runs "
                "that inform each one most)"
            )
        return self._predict_group(cleaned, slots, queries, direction=direction, bounds=bounds, named=True)

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
        """Predict many independent curves in batches (curves of similar length share a batch).

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
        if curves is None or isinstance(curves, (str, bytes, Mapping, Curve)) or not isinstance(curves, Iterable):
            raise InvalidCurveError(
                f"predict_many takes a list of curves (curvecast.Curve, dicts with x, y, x_query, or (x, y, x_query) tuples), "
                f"got {type(curves).__name__}; for one curve use predict()"
            )
        tasks: list[_Task] = []
        where: list[int] = []  # the item each task belongs to
        isoflop: dict[int, Prediction] = {}  # items that are isoFLOP profiles, predicted as tables
        for i, item in enumerate(curves):
            try:
                c: Curve = as_curve(item, direction=direction, config=config, bounds=bounds)
                if _is_isoflop(c.config):
                    isoflop[i] = self._predict_isoflop(c.x, c.y, c.x_query, direction=c.direction, config=c.config, bounds=c.bounds)  # type: ignore[arg-type]
                    continue
                curve = clean_curve(c.x, c.y, c.x_query, direction=c.direction, config=c.config, bounds=c.bounds)
            except CurvecastError as exc:  # name the culprit in a long list
                raise type(exc)(f"curve {i}: {exc}") from None
            run = CleanRun(x=curve.x, y=curve.y, config=curve.config)
            tasks.append(self._single_run_task(run, curve.x_query, curve.sign, curve.bounds, warn=False))
            where.append(i)
        thinned = sum(t.context[0].size < t.runs[0].x.size for t in tasks)
        if thinned:
            warnings.warn(
                f"{thinned} of {len(tasks)} curves hold more than {self.max_context} observed points, the model's context per run; "
                "they were thinned evenly (first and last kept)",
                CurvecastWarning,
                stacklevel=2,
            )
        # Curves of similar length share a forward pass, and a pass holds at most batch_size curves and about
        # _TOKEN_BUDGET padded tokens, so short curves are not padded to a long one.
        order = sorted(range(len(tasks)), key=lambda i: tasks[i].n_tokens)
        batches: list[list[int]] = []
        passes = 0
        for i in order:
            width = self._n_cooldown_variants(tasks[i])  # an unknown wsd cooldown runs once per hypothesis
            if batches and len(batches[-1]) < batch_size and (passes + width) * tasks[i].n_tokens <= _TOKEN_BUDGET:
                batches[-1].append(i)
                passes += width
            else:
                batches.append([i])
                passes = width
        out: list[Prediction | None] = [None] * (len(tasks) + len(isoflop))
        for i, pred in isoflop.items():
            out[i] = pred
        for chunk in tqdm(batches, desc="predict", unit="batch", disable=not progress or len(batches) < 2):
            for i, preds in zip(chunk, self._predict_tasks([tasks[i] for i in chunk])):
                out[where[i]] = preds[0]
        return out  # type: ignore[return-value]

    def _predict_isoflop(self, x: Any, y: Any, x_query: Any, *, direction: Any, config: Mapping[str, Any], bounds: Any) -> Prediction:
        """An isoFLOP profile (``config[ISOFLOP_KEY]`` = its FLOP budget, x = model sizes) read as a table of
        finished runs: :func:`curvecast.scaling.isoflop_profile`."""
        extra = sorted(k for k, v in config.items() if k not in (ISOFLOP_KEY, "flops_per_param_token") and v is not None)
        if extra:
            raise InvalidConfigError(
                f"config[{ISOFLOP_KEY!r}] marks an isoFLOP profile (x = model size), whose config takes only {ISOFLOP_KEY!r} and "
                f"'flops_per_param_token'; it also holds {extra}. Drop them, or pass the runs with their settings as a table "
                "to curvecast.scaling.fit"
            )
        if check_direction(direction) != 1:
            raise InvalidConfigError("an isoFLOP profile is a loss at each model size; predict it with direction='min'")
        if not (bounds is None or (isinstance(bounds, str) and bounds == "auto")):
            raise InvalidConfigError("an isoFLOP profile's losses take no bounds; leave bounds at 'auto' or pass None")
        sizes, losses = clean_points(x, y, min_points=3)
        return isoflop_profile(
            sizes,
            losses,
            check_queries(x_query),
            flops=config[ISOFLOP_KEY],
            flops_per_param_token=6.0 if config.get("flops_per_param_token") is None else config["flops_per_param_token"],
            model=self,
        )

    # -- building token sequences -------------------------------------------------------------------

    def _thin(self, n: int, keep: int) -> np.ndarray:
        """Indices of ``keep`` of ``n`` points, evenly spread, first and last kept."""
        if n <= keep:
            return np.arange(n)
        return np.unique(np.round(np.linspace(0, n - 1, keep)).astype(np.int64))

    def _single_run_task(self, run: CleanRun, x_query: np.ndarray, sign: int, bounds: tuple[float, float], *, warn: bool = True) -> _Task:
        context = self._thin(run.x.size, self.max_context)
        if context.size < run.x.size and warn:
            warnings.warn(
                f"read {context.size} of the curve's {run.x.size} observed points (thinned evenly, first and last kept): "
                f"the model's context holds {self.max_context} points per run",
                CurvecastWarning,
                stacklevel=3,
            )
        empty = np.zeros((1, N_HPARAMS))
        return _Task([run], [context], [x_query], empty, empty.astype(bool), sign, bounds)

    def _choose_runs(self, runs: list[CleanRun], slots: HparamSlots, queries: list[np.ndarray], *, warn: bool = True) -> list[int]:
        """Indices of the runs to read: every run with queries, then the context-only runs nearest to them
        (log10 of size, tokens, batch size and lr, and the free hyperparameters), up to :attr:`max_runs` runs
        of which at most :attr:`max_curve_runs` have two or more points (the most the model saw in training).
        Context curves come from the :attr:`context_runs` nearest distinct settings only (all replicates of a
        kept setting are read); runs left out by that choice raise no warning, those left out for capacity do."""
        targets = [i for i, q in enumerate(queries) if q.size]
        others = [i for i, q in enumerate(queries) if not q.size and runs[i].x.size]
        if len(targets) > self.max_runs:
            raise InvalidCurveError(f"{len(targets)} runs to predict, but the model reads at most {self.max_runs} runs in one pass")
        configs = np.stack([r.config for r in runs])
        if targets and others:
            distance = distance_to_nearest(configs[others], configs[targets], slots.values[others], slots.values[targets])
        else:
            distance = np.zeros(len(others))
        curves = sum(runs[i].x.size + queries[i].size > 1 for i in targets)
        keep = []
        settings: set[bytes] = set()  # distinct configs among the context curves kept
        dropped = []  # left out for the model's capacity (not by the calibrated context_runs choice)
        chosen_settings = self.context_runs if self.context_runs < self.max_curve_runs else math.inf
        for j in np.argsort(distance, kind="stable"):
            i = others[j]
            is_curve = runs[i].x.size > 1
            setting = _setting(runs, slots, i)
            if is_curve and setting not in settings and len(settings) >= chosen_settings:
                continue
            if len(targets) + len(keep) >= self.max_runs or (is_curve and curves >= self.max_curve_runs):
                dropped.append(i)
                continue
            keep.append(i)
            curves += is_curve
            if is_curve:
                settings.add(setting)
        dropped.sort()
        if dropped and warn:
            names = ", ".join(runs[i].name for i in dropped[:12]) + (" ..." if len(dropped) > 12 else "")
            warnings.warn(
                f"the model reads at most {self.max_runs} runs ({self.max_curve_runs} with curves) in one pass: kept the {len(keep)} "
                f"finished or partial runs nearest to the runs to predict (in size, tokens, batch size, lr and free hyperparameters) "
                f"and left out {len(dropped)}: {names}",
                CurvecastWarning,
                stacklevel=4,
            )
        return sorted(targets + keep)

    def _replicates_late(self, runs: list[CleanRun], slots: HparamSlots, queries: list[np.ndarray], kept: list[int]) -> list[CleanRun]:
        """The runs ``kept``, each context curve that replicates a predicted run's setting cut to its points from
        :attr:`replicate_from` of its last x on (at least its last two). A setting told by nothing (no config
        key, no free hyperparameter) is not taken for a replicate: such runs may differ in what was not said."""
        targets = {_setting(runs, slots, i) for i in kept if queries[i].size and (np.isfinite(runs[i].config).any() or slots.mask[i].any())}
        chosen = []
        for i in kept:
            run = runs[i]
            if self.replicate_from > 0 and not queries[i].size and run.x.size > 2 and _setting(runs, slots, i) in targets:
                start = min(int(np.searchsorted(run.x, self.replicate_from * run.x[-1])), run.x.size - 2)
                run = replace(run, x=run.x[start:], y=run.y[start:])
            chosen.append(run)
        return chosen

    def _budget_points(self, runs: list[CleanRun], *, warn: bool = True) -> list[np.ndarray]:
        """Indices of the points read of each run: all, unless the runs hold more than :attr:`max_task_points`
        (or a run more than :attr:`max_context`); then every run keeps up to the same share, thinned evenly."""
        sizes = [r.x.size for r in runs]
        share = self.max_context
        while share > 1 and sum(min(n, share) for n in sizes) > self.max_task_points:
            share -= 1
        context = [self._thin(n, share) for n in sizes]
        read, total = sum(c.size for c in context), sum(sizes)
        if read < total and warn:
            warnings.warn(
                f"read {read} of the runs' {total} observed points: runs longer than {share} points were thinned evenly "
                f"(first and last kept) to fit the model's context ({self.max_task_points} points per pass, {self.max_context} per run)",
                CurvecastWarning,
                stacklevel=4,
            )
        return context

    def _predict_group(
        self,
        runs: list[CleanRun],
        slots: HparamSlots,
        queries: list[np.ndarray],
        *,
        direction: Direction,
        bounds: Bounds,
        named: bool = False,
        warn: bool = True,
        table: bool = False,
        ladder: bool = False,
    ) -> RunPredictions:
        """Predict the runs with queries, reading the others as context; one :class:`RunPredictions` (with
        ``None`` for runs that have no queries) in the order of ``runs``. ``warn=False`` leaves out the
        warnings about runs and points not read (for callers that subsample on purpose); ``table`` marks a
        scaling table's rows, ``ladder`` a table of a sweep's finished runs (:meth:`runs_temperature`)."""
        sign = check_direction(direction)
        check_enough_context(runs)
        all_y = np.concatenate([r.y for r in runs])
        resolved = resolve_bounds(bounds, all_y, sign)
        kept = self._choose_runs(runs, slots, queries, warn=warn)
        chosen = self._replicates_late(runs, slots, queries, kept)
        check_enough_context(chosen)
        task = _Task(
            runs=chosen,
            context=self._budget_points(chosen, warn=warn),
            queries=[queries[i] for i in kept],
            hparams=slots.values[kept],
            hparam_mask=slots.mask[kept],
            sign=sign,
            bounds=resolved,
            named=named,
            table=table,
            ladder=ladder,
        )
        (preds, joint, positions) = self._predict_tasks([task], with_joint=True)[0]
        by_run = dict(zip(kept, zip(preds, positions)))
        pairs = [by_run.get(i, (None, None)) for i in range(len(runs))]
        return RunPredictions([p for p, _ in pairs], joint, [q if p is not None else None for p, q in pairs])

    # -- an unknown wsd cooldown ----------------------------------------------------------------------

    @staticmethod
    def _cooldown_unknown(run: CleanRun) -> bool:
        """A ``wsd`` run of known length whose cooldown length is not given."""
        c = run.config
        return bool(c[_I_SCHEDULE] == _WSD and np.isfinite(c[_I_TOTAL]) and c[_I_TOTAL] > 0 and not np.isfinite(c[_I_COOLDOWN]))

    def _any_cooldown_unknown(self, task: _Task) -> bool:
        return any(self._cooldown_unknown(run) for run in task.runs)

    def _n_cooldown_variants(self, task: _Task) -> int:
        """How many passes :meth:`_cooldown_variants` makes of ``task``."""
        return len(self.wsd_cooldowns) if self._any_cooldown_unknown(task) else 1

    def _cooldown_variants(self, task: _Task) -> list[_Task]:
        """``task`` once per cooldown hypothesis of :attr:`wsd_cooldowns` (each unknown cooldown set to that
        fraction of its run, at most the run after its warmup), or ``[task]`` when every cooldown is known."""
        if not self._any_cooldown_unknown(task):
            return [task]
        variants = []
        for fraction in self.wsd_cooldowns:
            runs = []
            for run in task.runs:
                if self._cooldown_unknown(run):
                    config = run.config.copy()
                    warmup = config[_I_WARMUP] if np.isfinite(config[_I_WARMUP]) else 0.0
                    # As in the prior, a cooldown never reaches into the warmup.
                    config[_I_COOLDOWN] = min(fraction * config[_I_TOTAL], max(config[_I_TOTAL] - warmup, 0.0))
                    run = replace(run, config=config)
                runs.append(run)
            variants.append(replace(task, runs=runs))
        return variants

    def _id_ensembles(self, groups: list[list[_Task]], log_weights: list[np.ndarray]) -> tuple[list[list[_Task]], list[np.ndarray]]:
        """Each task of several runs as its variants read ``table_ensemble`` times (a scaling table) or
        ``runs_ensemble`` times (other runs), with the runs' ids drawn anew (with seed 0, the first member keeps
        ids 0, 1, ...), their log weights shared out equally. The network was trained with ids drawn at random per
        task, so it reads any assignment, but not identically: one reading depends on which run carries which id.
        The mixture depends on it far less (BENCHMARKS.md, "Run ids"). Single curves are read once."""
        id_space = self.model.config.max_runs
        out_groups, out_weights = [], []
        for group, weights in zip(groups, log_weights, strict=True):
            task = group[0]
            members, seed = (self.table_ensemble, self.table_ensemble_seed) if task.table else (self.runs_ensemble, self.runs_ensemble_seed)
            if (len(task.runs) < 2 and not task.table) or (members == 1 and seed == 0):
                out_groups.append(group)
                out_weights.append(weights)
                continue
            out_groups.append([
                replace(variant, run_ids=None if seed == m == 0 else np.random.default_rng([seed, m]).permutation(id_space)[: len(variant.runs)])
                for variant in group for m in range(members)
            ])
            out_weights.append(np.repeat(weights, members) - math.log(members))
        return out_groups, out_weights

    def _cooldown_log_weights(self, groups: list[list[_Task]]) -> list[np.ndarray]:
        """Log weights of the cooldown hypotheses of each task (one group of variants per task).

        Equal, unless the task is one curve with at least 4 points read: then each hypothesis predicts the
        second half of the points read from the first half, in one forward pass for all groups, and its
        weight is proportional to the likelihood of what was observed (prequential, Dawid 1984), each point's
        log density floored at ``_BACKTEST_LOGPDF_FLOOR``."""
        out = [np.full(len(g), -math.log(len(g))) for g in groups]
        backtests: list[_Task] = []
        held_out: list[tuple[int, np.ndarray]] = []
        for i, variants in enumerate(groups):
            task = variants[0]
            if len(variants) == 1 or len(task.runs) != 1 or task.context[0].size < 4:
                continue
            read = task.context[0]
            cut = prequential_cut(read.size)
            backtests += [replace(v, context=[read[:cut]], queries=[v.runs[0].x[read[cut:]]]) for v in variants]
            held_out.append((i, task.runs[0].y[read[cut:]]))
        if not backtests:
            return out
        preds = iter(self._predict_tasks(backtests, mix_cooldowns=False))
        for i, y in held_out:
            loglik = np.array([np.maximum(next(preds)[0].logpdf(y), _BACKTEST_LOGPDF_FLOOR).sum() for _ in groups[i]])
            out[i] = loglik - np.logaddexp.reduce(loglik)
        return out

    # -- the forward pass ---------------------------------------------------------------------------

    def _encode_tasks(self, tasks: list[_Task]) -> tuple[PFNInput, Normalization, torch.Tensor, list[list[np.ndarray]]]:
        """Tokens of ``tasks`` padded to one length: ``(inputs, normalization, x of every token, query positions)``;
        the query positions hold, per task and run, the token indices of that run's queries."""
        dev = self.device
        b = len(tasks)
        n_tokens = max(t.n_tokens for t in tasks)
        x = np.zeros((b, n_tokens))
        y = np.zeros((b, n_tokens))
        is_context = np.zeros((b, n_tokens), dtype=bool)
        valid = np.zeros((b, n_tokens), dtype=bool)
        run_id = np.zeros((b, n_tokens), dtype=np.int64)
        config = np.full((b, n_tokens, len(CONFIG_FIELDS)), np.nan)
        hparams = np.zeros((b, n_tokens, N_HPARAMS))
        hparam_mask = np.zeros((b, n_tokens, N_HPARAMS), dtype=bool)
        query_pos: list[list[np.ndarray]] = []  # per task, per run: token positions of its queries
        for i, task in enumerate(tasks):
            k = 0
            for r, (run, idx) in enumerate(zip(task.runs, task.context)):
                sl = slice(k, k + idx.size)
                x[i, sl], y[i, sl], run_id[i, sl], config[i, sl] = run.x[idx], run.y[idx], task.run_id(r), run.config
                hparams[i, sl], hparam_mask[i, sl] = task.hparams[r], task.hparam_mask[r]
                k += idx.size
            is_context[i, :k] = True
            positions = []
            for r, (run, q) in enumerate(zip(task.runs, task.queries)):
                sl = slice(k, k + q.size)
                x[i, sl], run_id[i, sl], config[i, sl] = q, task.run_id(r), run.config
                hparams[i, sl], hparam_mask[i, sl] = task.hparams[r], task.hparam_mask[r]
                positions.append(np.arange(k, k + q.size))
                k += q.size
            valid[i, :k] = True
            query_pos.append(positions)
        config_t = torch.from_numpy(config)
        x_t, y_t = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        direction = torch.tensor([t.sign for t in tasks], dtype=torch.float64, device=dev)
        inp, norm = encode(
            x_t,
            y_t,
            torch.from_numpy(is_context).to(dev),
            torch.from_numpy(valid).to(dev),
            torch.from_numpy(run_id).to(dev),
            torch.nan_to_num(config_t, nan=0.0).to(dev),
            torch.isfinite(config_t).to(dev),
            direction,
            hparams=torch.from_numpy(hparams).to(dev),
            hparam_mask=torch.from_numpy(hparam_mask).to(dev),
        )
        return inp, norm, x_t, query_pos

    def _temperatures(self, tasks: list[_Task], query_pos: list[list[np.ndarray]], n_tokens: int) -> torch.Tensor:
        """``B x L`` logit temperature of every token: ``temperature`` for single curves; for several runs,
        each run's queries by whether that run has observed points (:meth:`runs_temperature`)."""
        temps = np.empty((len(tasks), n_tokens))
        for i, task in enumerate(tasks):
            if len(task.runs) == 1:
                temps[i] = self.temperature
                continue
            temps[i] = self.runs_temperature(observed=True)
            for read, positions in zip(task.context, query_pos[i], strict=True):
                temps[i, positions] = self.runs_temperature(observed=read.size > 0, table=task.table, ladder=task.ladder)
        return torch.from_numpy(temps).float().to(self.device)

    @torch.inference_mode()
    def _predict_tasks(self, tasks: list[_Task], *, with_joint: bool = False, mix_cooldowns: bool = True) -> list[Any]:
        """One forward pass over ``tasks``. Returns per task the list of its runs' predictions (``None`` for
        runs without queries); with ``with_joint``, per task ``(predictions, joint sampler, query positions)``.
        A task with an unknown ``wsd`` cooldown is run once per hypothesis and its predictive distributions
        are their weighted mixture (:meth:`_cooldown_log_weights`); its joint samples take their dependence
        across x from the likeliest hypothesis and their marginals from the mixture."""
        dev = self.device
        b = len(tasks)
        groups = [self._cooldown_variants(task) if mix_cooldowns else [task] for task in tasks]
        log_weights = self._cooldown_log_weights(groups)
        groups, log_weights = self._id_ensembles(groups, log_weights)
        variants = [v for group in groups for v in group]
        ends = np.cumsum([len(group) for group in groups])
        rows_of = [list(range(end - len(group), end)) for group, end in zip(groups, ends)]
        rep = [rows[int(np.argmax(w))] for rows, w in zip(rows_of, log_weights)]  # the likeliest hypothesis of each task
        inp, norm, x_t, query_pos = self._encode_tasks(variants)
        logits = self.model.forward_chunked(inp).float()  # B' x L x K
        logits = logits / self._temperatures(variants, query_pos, logits.shape[1])[..., None]
        # Summaries only at the query tokens: B x M, padded by repeating each task's first query.
        all_q = [np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for p in query_pos]
        n_query = max(1, max(q.size for q in all_q))
        q_index = torch.zeros(len(variants), n_query, dtype=torch.long, device=dev)
        for i, q in enumerate(all_q):
            if q.size:
                q_index[i] = torch.from_numpy(q).to(dev)[torch.arange(n_query, device=dev).clamp_max(q.size - 1)]
        q_logits = logits.gather(1, q_index[..., None].expand(-1, -1, logits.shape[-1]))  # B' x M x K
        bar = self.model.bar_distribution
        spreads = torch.tensor(
            [self.spread_for("min" if t.sign > 0 else "max", int(t.context[0].size)) if len(t.runs) == 1 else 1.0 for t in variants], device=dev
        )
        factors = spreads[:, None].expand(q_logits.shape[:-1])
        if self.spread_far is not None:
            single = torch.tensor([len(t.runs) == 1 for t in variants], device=dev)
            reach = norm.x_forward(x_t).gather(1, q_index).float()  # B' x M: query x / last observed x
            factors = torch.where(single[:, None], factors * far_factor(reach, **self.spread_far), factors)
        stretched = factors != 1.0
        if bool(stretched.any()):  # only the query rows are read from here on
            bounds = torch.tensor([t.bounds for t in variants], dtype=torch.float64, device=dev)  # B' x 2
            z_bounds = ZMap.build(norm.y_loc.double(), norm.y_scale.double(), norm.sign.double(), bounds[:, 0], bounds[:, 1])
            wider = bar.stretch(q_logits, factors, low=z_bounds.z_low.float(), high=z_bounds.z_high.float())
            q_logits = torch.where(stretched[..., None], wider, q_logits)
        if len(variants) > b:  # mixtures over cooldown hypotheses (the variants share their tokens and normalization)
            log_p = torch.log_softmax(q_logits, dim=-1)
            q_logits = torch.stack(
                [torch.logsumexp(log_p[rows] + torch.from_numpy(w).float().to(dev)[:, None, None], dim=0) for rows, w in zip(rows_of, log_weights)]
            )  # B x M x K
            index = torch.tensor(rep, device=dev)
            inp, norm, x_t = inp.map(lambda v: v[index]), norm.index(index), x_t[index]
            query_pos, all_q = [query_pos[j] for j in rep], [all_q[j] for j in rep]
        y_low = torch.tensor([t.bounds[0] for t in tasks], dtype=torch.float64, device=dev)
        y_high = torch.tensor([t.bounds[1] for t in tasks], dtype=torch.float64, device=dev)
        zmap = ZMap.build(norm.y_loc.double(), norm.y_scale.double(), norm.sign.double(), y_low, y_high)
        mean = means(bar, q_logits, zmap).cpu().numpy()  # B x M
        median = quantiles(bar, q_logits, zmap, torch.tensor([0.5], dtype=torch.float64))[..., 0].cpu().numpy()
        t = norm.x_forward(x_t)
        cpu_bar = bar if dev.type == "cpu" else BarDistribution(bar.borders.cpu())
        out: list[Any] = []
        for i, task in enumerate(tasks):
            length = task.n_tokens
            for name, values in (("mean", mean[i, : all_q[i].size]), ("median", median[i, : all_q[i].size])):
                if not np.isfinite(values).all():  # never hand back NaN: this is a bug, not bad input
                    raise FloatingPointError(f"the model produced a non-finite {name}; please report this with the input curve")
            inp_i = inp.map(lambda v: v[i : i + 1, :length])
            t_i = t[i : i + 1, :length].float()
            base = JointSampler(
                model=self.model,
                inp=inp_i,
                is_query=torch.zeros(1, length, dtype=torch.bool, device=dev),
                t=t_i,
                query_index=torch.zeros(0, dtype=torch.long),
                low=zmap.z_low[i].float().to(dev),
                high=zmap.z_high[i].float().to(dev),
            )
            preds: list[Prediction | None] = []
            offset = 0
            for run, q, pos in zip(task.runs, task.queries, query_pos[i]):
                if not q.size:
                    preds.append(None)
                    continue
                m = slice(offset, offset + q.size)
                offset += q.size
                preds.append(
                    Prediction(
                        x=q.copy(),
                        logits=q_logits[i, m].cpu(),
                        zmap=zmap.index(i).cpu(),
                        bar=cpu_bar,
                        mean=mean[i, m].copy(),
                        median=median[i, m].copy(),
                        observed_x=run.x,
                        observed_y=run.y,
                        bounds=task.bounds,
                        n_context=task.n_context,
                        sampler=base.at(pos),
                        run=run.name if task.named else None,
                    )
                )
            if with_joint:
                out.append((preds, base.at(all_q[i]), [torch.from_numpy(p) for p in query_pos[i]]))
            else:
                out.append(preds)
        return out
