"""Scaling laws from a table of finished runs, predicted by the PFN.

>>> law = curvecast.scaling.fit(n_params, n_tokens, loss)      # final losses of finished runs
>>> law.predict([1e9], [2e10]).interval(0.9)                    # the loss of a run not trained yet
>>> best = law.optimum(1e21)                                    # compute-optimal N, D and loss, with quantiles
>>> best.n_params, best.interval("n_params", 0.9)
>>> law = curvecast.scaling.fit_runs(sweep)                      # a sweep's finished curves: their final values

A table row is a run observed only at its end: one point at ``x`` = its tokens, with ``n_params`` and
``n_tokens`` (and ``lr``, ``batch_size`` where given) in its config. The shipped models were trained on
tasks drawn that way (isoFLOP designs, size x token grids, broken power laws in N, unique data running
out), so ``fit`` runs no optimiser: the posterior over the loss surface is what the network returns for
any ``(N, D)`` given the table, in one forward pass.

Which network reads the table: :func:`load_table_predictor`, the shipped ``curvecast/models/tables`` (the
default model fine-tuned on runs read together, scaling tables weighted up; its README says why it is a model
of its own and what it was measured to gain), unless ``model=`` names another. A single isoFLOP profile
(:func:`isoflop_profile`) is read by the default model, which forecasts such short profiles better.

What the model reads: at most ``Predictor.max_runs`` runs per pass (48 for the shipped models). New points
are predicted in groups of :data:`GROUP` (8); every group of one call reads the same table rows: all of them
if they fit beside a group, else the ones nearest to any of the points (in log N, log D, log lr and log
batch size) that fit: 40 beside a full group, 47 beside a single point (for the shipped models). Any number of
points can be asked for; samples are joint within a group and independent across groups. A point's prediction
depends a little on the others asked for with it: the points of a group are read as runs not started, each under a
run id drawn at random, and which ids they draw depends on the group (measured: medians move by up to 5% of the 90%
band's width when 8 points are permuted); reading the table ``table_ensemble`` times with fresh ids (4 for the
shipped tables model) averages that out, more readings more so. :meth:`ScalingLaw.optimum`
places its final grid of :data:`GROUP` sizes in one group, so its samples of the loss along the isoFLOP
curve are joint, and the distribution of the argmin is the posterior of the compute-optimal size.

Tables that hold isoFLOP profiles (at least :data:`MIN_PROFILES` budgets, each with 3 or more sizes and its
lowest loss inside them) get a second, more accurate optimum by default: the profiles' own minima, extrapolated
as a power law in the budget (Hoffmann et al. 2022, approach 2) with a Bayesian linear regression's predictive
interval; the loss there still comes from the network (:meth:`ScalingLaw.optimum`, ``method``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from scipy import stats
from scipy.spatial import Delaunay, QhullError

from curvecast.curve import Direction, check_direction, clean_points, config_vector
from curvecast.errors import CurvecastWarning, InvalidConfigError, InvalidCurveError, ShapeError
from curvecast.prediction import GroupedSampler, Prediction, ZMap, check_interval_level, check_seed
from curvecast.priors.batch import config_index
from curvecast.run import CleanRun, Run, check_runs_agree, distance_to_nearest, encode_hparams

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from curvecast.pooling import PooledPrediction
    from curvecast.predictor import Predictor

__all__ = ["fit", "fit_runs", "RunPoints", "predict_final", "pool_weight", "DEFAULT_POOL_WEIGHT", "isoflop_profile", "load_table_predictor", "table_model_path", "ScalingLaw", "Optimum", "GROUP", "MIN_PROFILES", "ISOFLOP_KEY"]

#: New points predicted per forward pass (and the size of the optimum's joint grid).
GROUP = 8
_COARSE = 24  # sizes scanned (marginals only) to find where the optimum lies
#: How far beyond the table's sizes and token counts ``optimum`` and ``plot`` search (a factor).
REACH = 3.0
_LEVELS = (0.05, 0.5, 0.95)
#: Fewest isoFLOP profiles (budgets with an interior minimum) for the profile method of ``optimum``.
MIN_PROFILES = 4
#: Rows whose budgets ``k N D`` differ by less than this relative amount form one isoFLOP profile.
BUDGET_TOLERANCE = 0.01
#: The config key that marks a single curve as an isoFLOP profile (x = model size, value = the FLOP budget):
#: ``predict(N, loss, N_query, config={ISOFLOP_KEY: C})`` routes it to :func:`isoflop_profile`.
ISOFLOP_KEY = "isoflop"


def _column(name: str, values: Any, n: int | None = None, *, positive: bool = True) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise InvalidCurveError(f"{name} must be numbers, got a string")
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidCurveError(f"{name} must hold numbers only; convert it to floats first") from None
    if n is not None and array.size != n:
        raise ShapeError(f"{name} has {array.size} values but the table has {n} rows; give one value per row")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidCurveError(f"{name}[{bad}] is {array[bad]}; every value must be finite (drop the row or fix it)")
    if positive and (array <= 0).any():
        bad = int(np.flatnonzero(array <= 0)[0])
        raise InvalidCurveError(f"{name}[{bad}] is {array[bad]:g}; {name} must be > 0 (model sizes, token counts, lr and batch sizes are positive)")
    return array


def table_model_path() -> Path | None:
    """The folder of the shipped model for scaling tables (``curvecast/models/tables``), or None (the default
    model) where a build lacks it."""
    from curvecast.predictor import shipped_model_or_default

    return shipped_model_or_default("tables")


def load_table_predictor(*, device: str | torch.device = "cpu") -> Predictor:
    """The shipped model for scaling tables (``curvecast/models/tables``, see its README), or the default
    model where a build lacks it. :func:`fit` uses it unless given ``model=`` (:func:`isoflop_profile` reads a
    single profile with the default model)."""
    from curvecast.predictor import load

    return load(table_model_path(), device=device)


def fit(
    n_params: Any,
    n_tokens: Any,
    loss: Any,
    *,
    lr: Any = None,
    batch_size: Any = None,
    model: "Predictor | None" = None,
    direction: Direction = "min",
) -> "ScalingLaw":
    """A posterior over the loss surface ``L(N, D)`` given the final losses of finished runs.

    Args:
        n_params: ``n`` model sizes ``N`` (> 0).
        n_tokens: ``n`` training token counts ``D`` (> 0).
        loss: ``n`` final losses (finite).
        lr: optional ``n`` peak learning rates (> 0); with them, :meth:`ScalingLaw.optimum` also says the best lr.
        batch_size: optional ``n`` batch sizes (> 0); likewise.
        model: the predictor to use (default: :func:`load_table_predictor`, the shipped tables model).
        direction: ``"min"`` for losses (the default), ``"max"`` for a metric that grows with scale (accuracy);
            :meth:`ScalingLaw.optimum` needs a loss.

    Returns:
        A :class:`ScalingLaw`. Nothing is optimised here; predictions are forward passes.
    """
    check_direction(direction)
    n_params = _column("n_params", n_params)
    n = n_params.size
    n_tokens = _column("n_tokens", n_tokens, n)
    loss = _column("loss", loss, n, positive=False)
    lr = None if lr is None else _column("lr", lr, n)
    batch_size = None if batch_size is None else _column("batch_size", batch_size, n)
    if n < 3:
        raise InvalidCurveError(f"a scaling law needs at least 3 finished runs, got {n}")
    columns = [c for c in (n_params, n_tokens, loss, lr, batch_size) if c is not None]
    _, first, counts = np.unique(np.stack(columns, axis=1), axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():  # seeds of one setting differ in loss; a row repeated exactly is most likely a copy
        repeated = sorted(int(i) for i in first[counts > 1])
        warnings.warn(
            f"rows {repeated[:5]}{' ...' if len(repeated) > 5 else ''} appear more than once with the same size, tokens and loss; "
            "each copy counts as a run of its own: drop the copies if they are not separate runs",
            CurvecastWarning,
            stacklevel=2,
        )
    if model is None:
        model = load_table_predictor()
    return ScalingLaw(n_params=n_params, n_tokens=n_tokens, loss=loss, lr=lr, batch_size=batch_size, model=model, direction=direction)


def _placed_run(run: Any, label: str, placed_by: str) -> tuple[str, dict[str, Any], np.ndarray, np.ndarray]:
    """``run``'s name (``label`` where it has none), config and cleaned points (sorted by x, non-finite points
    dropped with a warning), checked to be a :class:`~curvecast.Run` whose config gives ``n_params`` and
    ``n_tokens``, what places it in a scaling table (``placed_by`` says who does, for the error)."""
    if not isinstance(run, Run):
        raise InvalidConfigError(f"{label} is a {type(run).__name__}; pass curvecast.Run(x, y, config) objects")
    name = run.name or label
    config = dict(run.config or {})
    for key in ("n_params", "n_tokens"):
        if config.get(key) is None:
            raise InvalidConfigError(
                f"run {name!r} has no {key!r} in its config; {placed_by}: give both, e.g. "
                "Run(x, y, {'n_params': 1.2e8, 'n_tokens': 2.4e9})"
            )
    try:
        x, y = clean_points(run.x, run.y, min_points=0)
    except ValueError as exc:  # name the run in a long list
        raise type(exc)(f"run {name!r}: {exc}") from None
    return name, config, x, y


#: How :func:`fit_runs` reads a run: ``"last"``, its last point is its final value (a run's earlier points were taken
#: at learning rates not yet decayed); ``"all"``, every point is the final value of a run stopped there (a token
#: sweep of one size, each point trained and decayed on its own, as in Gadre et al. 2024's overtraining grid).
RunPoints = Literal["last", "all"]


def fit_runs(runs: Sequence[Run], *, direction: Direction = "min", model: Predictor | None = None, points: RunPoints = "last") -> ScalingLaw:
    """A scaling law from finished training runs: each run's last observed value is its final value, read as a
    row of a scaling table (:func:`fit`) at its config's ``n_params`` and ``n_tokens``.

    This answers "how would a run of another size (or length) end?" from a sweep of finished curves: given
    a size ladder's curves, ``fit_runs(runs).predict(n_params=4 * largest, n_tokens=...)`` is the final value of
    a run not started yet. ``predict(..., runs=...)`` forecasts a whole trajectory instead, and is the one to
    use for a run already under way. Measured on real size ladders (``benchmarks/scaling.py``, column
    ``table``): for the largest run held out and not started, reading the ladder's final values as a table
    predicts its final value better than ``predict(..., runs=...)`` (Gemstones, Pythia, Gadre et al.).
    Only the runs' ends are read by default: a run's earlier points were taken at learning rates not yet decayed,
    so they are not the final values of shorter runs. Such a table is read at the model's
    ``temperature_runs["ladder"]`` where it has one (the shipped tables model: 0.8, chosen on size ladders'
    hold-outs the benchmark does not score by ``benchmarks/calibrate.py --ladders``; scaling tables keep their
    ``"table"`` factor, 0.8). Where every point of a run is itself a finished run's final value (``points="all"``:
    one size trained to several token counts, each with its own schedule), each point is a row at
    ``n_tokens * x / x_last``, and the table is read as a scaling table (its ``"table"`` factor), which it is.

    Args:
        runs: at least 3 :class:`~curvecast.Run` (3 rows, with ``points="all"``), each finished, with at least one observed point, and a config
            giving ``n_params`` and ``n_tokens`` (the tokens the run trained on); ``lr`` and ``batch_size`` are
            read where every run gives them.
        direction: ``"min"`` (loss) or ``"max"`` (a metric that grows, such as accuracy).
        model: the predictor (default: the shipped tables model).
        points: ``"last"`` (default): each run's last point is its one row; ``"all"``: every point is a row, at
            ``n_tokens * x / x_last`` tokens (x > 0), for runs whose every point ended a run of its own.

    Returns:
        A :class:`ScalingLaw` over the runs' final values.

    Raises:
        InvalidConfigError: a run's config lacks ``n_params`` or ``n_tokens``; ``points`` is not ``"last"`` or ``"all"``.
        InvalidCurveError: a run has no finite observed value, or (``points="all"``) a point at x <= 0; fewer than 3
            runs are given; the runs mix x units. A run whose ``direction`` differs from the call's is an
            :class:`InvalidConfigError`; a run given twice (same points and config) is dropped with a warning.
    """
    if points not in ("last", "all"):
        raise InvalidConfigError(f"points must be 'last' (each run's final value) or 'all' (every point ended a run of its own), got {points!r}")
    runs = list(runs)
    columns: dict[str, list[float]] = {"n_params": [], "n_tokens": [], "loss": [], "lr": [], "batch_size": []}
    placed = [_placed_run(run, f"runs[{i}]", "fit_runs places each run by its size and the tokens it trained on") for i, run in enumerate(runs)]
    check_runs_agree(runs, direction=direction)
    seen: dict[tuple, str] = {}
    for name, config, x, y in placed:
        key = (x.tobytes(), y.tobytes(), tuple(sorted((k, repr(v)) for k, v in config.items())))
        if key in seen:  # the same run twice would count its final value twice
            warnings.warn(f"run {name!r} repeats run {seen[key]!r} (same points and config); it was dropped", CurvecastWarning, stacklevel=2)
            continue
        seen[key] = name
        if y.size == 0:
            raise InvalidCurveError(f"run {name!r} has no finite observed value; fit_runs reads each run's final value")
        if points == "all":
            if x[0] <= 0:
                raise InvalidCurveError(
                    f"run {name!r} has a point at x = {x[0]:g}; points='all' places each point at n_tokens * x / x_last tokens, so x must "
                    "be > 0 (tokens or steps counted from 1): drop that point, or read the run's final value alone (points='last')"
                )
            tokens, losses = float(config["n_tokens"]) * x / x[-1], y
        else:  # clean_points sorted by x: the last point is the final value, at the tokens the config gives
            tokens, losses = np.array([float(config["n_tokens"])]), y[-1:]
        columns["n_params"] += [config["n_params"]] * tokens.size
        columns["n_tokens"] += tokens.tolist()
        columns["loss"] += losses.tolist()
        columns["lr"] += [config.get("lr")] * tokens.size
        columns["batch_size"] += [config.get("batch_size")] * tokens.size
    optional = {k: columns[k] for k in ("lr", "batch_size") if all(v is not None for v in columns[k])}
    law = fit(columns["n_params"], columns["n_tokens"], columns["loss"], model=model, direction=direction, **optional)
    return replace(law, ladder=points == "last")


#: Where a tables model's calibration has no ``pool_weight``: the run's own forecast weighs the fraction of the
#: run observed (nothing for a run not started, all of it for a finished one).
DEFAULT_POOL_WEIGHT: dict[str, list[float]] = {"fractions": [0.0], "weights": [0.0]}


def pool_weight(fraction: float, rule: dict[str, Any] | None = None) -> float:
    """The weight of a run's own forecast in :func:`predict_final`'s pool, for a run observed up to ``fraction``
    of its final x: ``rule`` (``{"fractions": [...], "weights": [...]}``, anchors chosen on validation
    hold-outs, e.g. the tables model's ``calibration.pool_weight``) interpolated linearly, and from its last
    anchor linearly to 1 at a finished run (``fraction`` 1). ``None`` takes :data:`DEFAULT_POOL_WEIGHT`."""
    rule = DEFAULT_POOL_WEIGHT if rule is None else rule
    fractions = [float(f) for f in rule["fractions"]]
    weights = [float(w) for w in rule["weights"]]
    if fractions[-1] < 1.0:
        fractions, weights = fractions + [1.0], weights + [1.0]
    return float(np.interp(min(max(float(fraction), 0.0), 1.0), fractions, weights))


def predict_final(
    target: Run,
    runs: Sequence[Run],
    x_final: float,
    *,
    direction: Direction = "min",
    model: Predictor | None = None,
    table_model: Predictor | None = None,
    weight: float | None = None,
    points: RunPoints = "last",
) -> PooledPrediction:
    """How will ``target`` end? The predictive distribution of its value at ``x_final``, given a sweep of
    finished ``runs`` (a size ladder, runs of other lengths): the run's own forecast, ``model.predict(...,
    runs=runs)``, pooled with the sweep read as a scaling table (:func:`fit_runs` at the run's ``n_params`` and
    ``n_tokens``).

    The two err in different places: the table reading follows the sweep's trend in size and tokens (a run
    not started is predicted from it alone), and the run's own forecast follows what the run has shown. The
    weight of the run's own forecast rises with the fraction observed (``x`` of its last observed point /
    ``x_final``), by the rule stored in the tables model (``calibration.pool_weight``, chosen on hold-outs
    ``benchmarks/scaling.py`` does not score: ``benchmarks/calibrate.py --pool-weight``; :func:`pool_weight`).
    Where some of ``runs`` sit at the target's own ``n_params`` and ``n_tokens`` (other seeds of its setting), the
    table reads them as replicates of its final value, and ``calibration.pool_weight_replicates`` applies.

    Args:
        target: the run to forecast (:class:`~curvecast.Run`; its ``x``, ``y`` may be empty for a run not
            started). Its config gives ``n_params`` and ``n_tokens``, the tokens it will have trained on at
            ``x_final``, plus anything else ``predict`` reads (``total_steps``, ``lr``, ...).
        runs: at least 3 finished runs of the sweep, each with ``n_params`` and ``n_tokens`` (:func:`fit_runs`);
            not ``target`` itself.
        x_final: the x (in the runs' own units, e.g. steps) at which the target ends.
        direction: ``"min"`` (loss) or ``"max"`` (a metric that grows, such as accuracy).
        model: the predictor of the run's own forecast (default: :func:`curvecast.load`, the shipped model).
        table_model: the predictor that reads the table (default: :func:`load_table_predictor`).
        weight: the own forecast's weight in [0, 1], overriding the rule (0: the table reading alone).
        points: how the table reads the runs (:func:`fit_runs`): ``"last"``, their final values; ``"all"``, every
            point as a finished run's final value (a token sweep per size), the target's observed points included
            (at ``n_tokens * x / x_final`` tokens).

    Returns:
        A :class:`~curvecast.pooling.PooledPrediction` at the one query ``x_final`` (``median``, ``quantile``,
        ``interval``, ``logpdf``, ``cdf``, ``sample``, like a :class:`~curvecast.Prediction`): ``components`` are
        the run's own forecast and the table reading (whose ``x`` is ``n_tokens``), ``weights`` theirs.

    Raises:
        InvalidConfigError: ``target`` is not a Run or lacks ``n_params`` / ``n_tokens``, or is among ``runs`` (by
            identity or name); ``x_final`` is not a positive number past the target's last observed x; ``weight``
            outside [0, 1].
    """
    from curvecast.pooling import pool
    from curvecast.predictor import load

    name, config, x_seen, y_seen = _placed_run(
        target, "target", "predict_final places it in the sweep by its size and the tokens it will have trained on at x_final"
    )
    x_end = _positive_scalar("x_final", x_final)
    runs = list(runs)
    if any(run is target or (target.name is not None and getattr(run, "name", None) == target.name) for run in runs):
        raise InvalidConfigError(
            f"run {name!r} is among the sweep's runs; pass the other runs only: its own points are read as its forecast's, and "
            "a run under way read as a table row would pass its last point off as a final value"
        )
    if x_seen.size and x_seen[-1] > x_end:
        raise InvalidConfigError(f"x_final ({x_end:g}) lies before run {name!r}'s last observed x ({x_seen[-1]:g}); pass the x at which the run ends")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0):
        raise InvalidConfigError(f"weight is the run's own forecast's share of the pool, in [0, 1] (e.g. 0.6), got {weight!r}")
    table_runs = runs
    if points == "all" and x_seen.size:  # its points so far are finished runs of its size too
        seen = Run(x_seen, y_seen, {**config, "n_tokens": float(config["n_tokens"]) * float(x_seen[-1]) / x_end}, name=name)
        table_runs = [*runs, seen]
    law = fit_runs(table_runs, direction=direction, model=table_model, points=points)
    extra = {key: config[key] for key in ("lr", "batch_size") if getattr(law, key) is not None and config.get(key) is not None}
    table = law.predict([config["n_params"]], [config["n_tokens"]], **extra)
    if weight is None:
        fraction = float(x_seen[-1] / x_end) if x_seen.size else 0.0
        calibration = law.model.config.get("calibration") or {}
        replicates = bool(np.any(np.isclose(law.n_params, float(config["n_params"]), rtol=1e-9) & np.isclose(law.n_tokens, float(config["n_tokens"]), rtol=1e-9)))
        weight = pool_weight(fraction, calibration.get("pool_weight_replicates" if replicates else "pool_weight"))
    own = (model if model is not None else load()).predict(target.x, target.y, [x_end], direction=direction, config=target.config, runs=runs)
    return pool([own, table], [float(weight), 1.0 - float(weight)])


def isoflop_profile(
    n_params: Any,
    loss: Any,
    n_params_query: Any,
    *,
    flops: float,
    flops_per_param_token: float = 6.0,
    model: Predictor | None = None,
) -> Prediction:
    """The rest of an isoFLOP profile: final losses at model sizes not trained yet, at one FLOP budget.

    Every point of an isoFLOP profile is a finished run of ``N`` parameters trained on ``D = flops / (k N)``
    tokens (``k`` = ``flops_per_param_token``), so the profile is a table of runs (:func:`fit`), not a learning
    curve: read as a curve, its rise past the compute-optimal size looks like an upturn the model has no
    reason to expect. Measured on the Porian et al. isoFLOP profiles (BENCHMARKS.md, "isoFLOP profiles read
    as tables"), reading them as tables lowers the median final error below the last observed value's.

    Args:
        n_params: ``n >= 3`` model sizes of the finished runs (> 0).
        loss: their ``n`` final losses.
        n_params_query: ``m`` model sizes to predict (> 0).
        flops: the profile's FLOP budget ``C`` (> 0).
        flops_per_param_token: ``k`` in ``C = k N D`` (6 for dense transformers, Kaplan et al. 2020).
        model: the predictor to use (default: :func:`curvecast.load`, the shipped default model: on Porian et al.'s
            177 single profiles it forecasts better than the tables model, which reads whole tables better;
            BENCHMARKS.md, "Scaling tables read by a model of their own").

    Returns:
        A :class:`~curvecast.Prediction` of the final loss at ``n_params_query`` (its ``x`` is ``n_params_query``).
    """
    flops = _positive_scalar("flops", flops)
    k = _positive_scalar("flops_per_param_token", flops_per_param_token)
    n_params = _column("n_params", n_params)
    query = _column("n_params_query", n_params_query)
    if n_params.size < 3:
        raise InvalidCurveError(f"an isoFLOP profile needs at least 3 observed model sizes to be read as a table, got {n_params.size}")
    if query.size == 0:
        raise InvalidCurveError("nothing to predict: pass at least one model size in n_params_query")
    if model is None:
        from curvecast.predictor import load

        model = load()
    law = replace(fit(n_params, flops / (k * n_params), loss, model=model), spread=model.spread_isoflop)
    points = [law._config(float(n), flops / (k * float(n)), None, None) for n in query]
    return law._predict_points(points, flops / (k * query), shown_x=query, shown_observed_x=n_params)


def _stretched(zmap: ZMap, median: np.ndarray, mean: np.ndarray, factor: float) -> tuple[ZMap, np.ndarray]:
    """The map of ``median + factor * (Y - median)`` at each query (``m``-long fields), and the mean it moves to.

    Exact, tails included: the predictive distribution is an affine image of the network's, so stretching it is
    a new ``loc`` and ``scale`` per query. (The bar distribution's own stretch, which single curves take, re-bins
    onto its grid and keeps the outer buckets' tail shape, which undercuts a large factor far out.) A table's
    bounds are open, so the truncation bounds in z stay as they are."""
    m = torch.as_tensor(median, dtype=zmap.loc.dtype)
    stretched = ZMap(m + factor * (zmap.loc - m), factor * zmap.scale, zmap.sign, zmap.z_low, zmap.z_high)
    return stretched, median + factor * (mean - median)


def _positive_scalar(name: str, value: Any) -> float:
    """A budget or ``flops_per_param_token``: a finite number > 0 (6 for dense transformers, for the latter)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or value <= 0:
        hint = " (6 for dense transformers)" if name == "flops_per_param_token" else ""
        raise InvalidConfigError(f"{name} must be a finite number > 0{hint}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Optimum:
    """The compute-optimal run for one FLOP budget, as a posterior.

    Attributes:
        flops: the budget ``C``.
        n_params, n_tokens, loss: posterior medians of the optimal size, its tokens ``C / (k N)`` and the
            loss there (``k`` = ``flops_per_param_token``, 6 by default).
        lr, batch_size: posterior medians of the best lr and batch size at that size (``None`` unless the
            table has them, and varies them).
        samples: posterior samples of each quantity (arrays of equal length), for any other summary.
        at_edge: the median optimum sits at the edge of the sizes searched (the table says little there).
        method: how the optimal size was found: ``"isoflop"`` (the table's isoFLOP profiles extrapolated) or
            ``"pfn"`` (the argmin of the network's predicted isoFLOP curve).
    """

    flops: float
    n_params: float
    n_tokens: float
    loss: float
    samples: dict[str, np.ndarray] = field(repr=False)
    lr: float | None = None
    batch_size: float | None = None
    at_edge: bool = False
    method: str = "pfn"

    def quantile(self, name: str, q: float | list[float]) -> np.ndarray:
        """Posterior quantiles of ``name`` (``"n_params"``, ``"n_tokens"``, ``"loss"``, ``"lr"``, ``"batch_size"``)."""
        if name not in self.samples:
            raise InvalidConfigError(f"no posterior for {name!r}; available: {sorted(self.samples)}")
        levels = np.asarray(q, dtype=np.float64)
        if not ((levels > 0) & (levels < 1)).all():
            raise InvalidConfigError(f"quantile levels must lie strictly between 0 and 1, got {q!r}")
        return np.quantile(self.samples[name], levels)

    def interval(self, name: str = "n_params", level: float = 0.9) -> tuple[float, float]:
        """Central ``level`` posterior interval of ``name``."""
        level = check_interval_level(level)
        low, high = self.quantile(name, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: medians and the 5%, 50% and 95% quantiles of every quantity."""
        out: dict[str, Any] = {"flops": self.flops, "at_edge": self.at_edge, "method": self.method}
        for name in self.samples:
            out[name] = float(np.median(self.samples[name]))
            out[f"{name}_quantiles"] = {f"{q:g}": float(v) for q, v in zip(_LEVELS, self.quantile(name, list(_LEVELS)))}
        return out


@dataclass(frozen=True)
class ScalingLaw:
    """The table of finished runs and the model that reads it (made by :func:`fit`).

    Attributes:
        n_params, n_tokens, loss: the table (``n`` rows).
        lr, batch_size: optional columns.
        model: the :class:`~curvecast.Predictor`.
        direction: ``"min"`` (a loss) or ``"max"`` (a metric that grows with scale; no :meth:`optimum`).
        ladder: the rows are a sweep's finished runs (:func:`fit_runs`): predictions take the model's
            ``temperature_runs["ladder"]`` where it has one (:meth:`~curvecast.Predictor.runs_temperature`).
        spread: predictions are stretched about their medians by this factor (1: as the network reads the
            table; :func:`isoflop_profile` sets the model's ``spread_isoflop``).
    """

    n_params: np.ndarray
    n_tokens: np.ndarray
    loss: np.ndarray
    lr: np.ndarray | None
    batch_size: np.ndarray | None
    model: "Predictor" = field(repr=False)
    direction: Direction = "min"
    ladder: bool = False
    spread: float = 1.0

    def __repr__(self) -> str:
        return (
            f"ScalingLaw({self.loss.size} runs, N {self.n_params.min():.3g}..{self.n_params.max():.3g}, "
            f"D {self.n_tokens.min():.3g}..{self.n_tokens.max():.3g}, loss {self.loss.min():.4g}..{self.loss.max():.4g})"
        )

    def _require_loss(self, what: str) -> None:
        if self.direction != "min":
            raise InvalidConfigError(
                f"{what} looks for the lowest loss, but this law was fitted with direction={self.direction!r}; "
                "fit the losses of the runs (direction='min') to find compute-optimal sizes"
            )

    def _config(self, n_params: float, n_tokens: float, lr: float | None, batch_size: float | None) -> np.ndarray:
        config = {"n_params": n_params, "n_tokens": n_tokens, "lr": lr, "batch_size": batch_size}
        return config_vector({k: v for k, v in config.items() if v is not None})

    def _rows(self) -> list[CleanRun]:
        """The table's rows as runs, in one order whatever order they were given in (by N, then D, then loss):
        the network reads each row under its run id, and one reading depends a little on which row has which."""
        rows = []
        for i in np.lexsort((self.loss, self.n_tokens, self.n_params)):
            lr = None if self.lr is None else float(self.lr[i])
            bs = None if self.batch_size is None else float(self.batch_size[i])
            config = self._config(float(self.n_params[i]), float(self.n_tokens[i]), lr, bs)
            rows.append(CleanRun(x=self.n_tokens[i : i + 1].copy(), y=self.loss[i : i + 1].copy(), config=config, name=f"row {i}"))
        return rows

    def predict(self, n_params: Any, n_tokens: Any, *, lr: Any = None, batch_size: Any = None) -> Prediction:
        """Predictive distribution of the final loss of runs not trained yet.

        Args:
            n_params: ``m`` model sizes (or one, broadcast).
            n_tokens: ``m`` token counts (or one, broadcast).
            lr, batch_size: optional, ``m`` values or one.

        Returns:
            A :class:`~curvecast.Prediction` over the ``m`` points (its ``x`` is ``n_tokens``): ``median``,
            ``quantile``, ``interval``, ``logpdf``, ``cdf`` and ``sample`` (joint within groups of :data:`GROUP`).
        """
        columns = {"n_params": n_params, "n_tokens": n_tokens, "lr": lr, "batch_size": batch_size}
        arrays = {k: _column(k, v) for k, v in columns.items() if v is not None}
        m = max(a.size for a in arrays.values())
        for k, a in arrays.items():
            if a.size not in (1, m):
                raise ShapeError(f"{k} has {a.size} values; give {m} (one per point) or one")
            arrays[k] = np.broadcast_to(a, (m,)).copy()
        if m == 0:
            raise InvalidCurveError("nothing to predict: pass at least one (n_params, n_tokens) point")
        points = [
            self._config(arrays["n_params"][j], arrays["n_tokens"][j], arrays.get("lr", [None] * m)[j], arrays.get("batch_size", [None] * m)[j])
            for j in range(m)
        ]
        return self._predict_points(points, arrays["n_tokens"])

    def _context_rows(self, points: list[np.ndarray]) -> list[CleanRun]:
        """The table rows every group of ``points`` reads: all of them if they fit beside a group, else those
        nearest to any of the points (log10 of N, D, lr, batch size), so that every group reads the same rows
        and predictions along a curve of points do not jump where one group ends."""
        rows = self._rows()
        room = self.model.max_runs - min(GROUP, len(points))
        inside = self.model.table_rows_inside
        if inside is not None and len(rows) > min(room, inside) and self._inside(points):  # the hull only where it limits
            room = min(room, inside)
        if len(rows) <= room:
            return rows
        distance = distance_to_nearest(np.stack([r.config for r in rows]), np.stack(points))
        keep = np.sort(np.argsort(distance, kind="stable")[:room])
        return [rows[i] for i in keep]

    def _inside(self, points: list[np.ndarray]) -> bool:
        """Whether every point lies inside the table: in the convex hull of its rows' (log10 N, log10 D). Rows
        on one line (a single isoFLOP profile, a size sweep at one token count) span no area: nothing is inside."""
        plane = np.log10(np.c_[self.n_params, self.n_tokens])
        try:
            hull = Delaunay(plane)
        except (QhullError, ValueError):
            return False
        query = np.log10(np.stack(points)[:, [config_index("n_params"), config_index("n_tokens")]])
        return bool((hull.find_simplex(query) >= 0).all())

    def _predict_points(
        self, points: list[np.ndarray], x: np.ndarray, *, shown_x: np.ndarray | None = None, shown_observed_x: np.ndarray | None = None
    ) -> Prediction:
        """One :class:`Prediction` of the final loss at run configs ``points`` (every group reads the same rows).
        ``x`` holds the points' token counts, the x the network reads; ``shown_x`` and ``shown_observed_x``
        replace it and the table's token counts as the Prediction's axis (an isoFLOP profile's is N)."""
        rows = self._context_rows(points)
        parts = []
        for start in range(0, len(points), GROUP):
            group = points[start : start + GROUP]
            queries = [CleanRun(x=np.empty(0), y=np.empty(0), config=c, name=f"point {start + j}") for j, c in enumerate(group)]
            runs = rows + queries
            slots = encode_hparams([{}] * len(runs))
            query_x = [np.empty(0)] * len(rows) + [x[start + j : start + j + 1] for j in range(len(group))]
            parts.append(self.model._predict_group(runs, slots, query_x, direction=self.direction, bounds=None, warn=False, table=True, ladder=self.ladder))
        preds = [p for part in parts for p in part if p is not None]
        zmap = ZMap(*(torch.cat([getattr(p._zmap, f).reshape(1) for p in preds]) for f in ("loc", "scale", "sign", "z_low", "z_high")))
        median, mean = np.concatenate([p.median for p in preds]), np.concatenate([p.mean for p in preds])
        if self.spread != 1.0:
            zmap, mean = _stretched(zmap, median, mean, self.spread)
        groups = []
        for part in parts:
            positions = torch.cat([pos for pos in part._positions if pos is not None])
            groups.append(replace(part._joint, query_index=positions))
        return Prediction(
            x=(x if shown_x is None else shown_x).astype(np.float64).copy(),
            logits=torch.cat([p._logits for p in preds]),
            zmap=zmap,
            bar=preds[0]._bar,
            mean=mean,
            median=median,
            observed_x=self.n_tokens if shown_observed_x is None else shown_observed_x,
            observed_y=self.loss,
            bounds=(-math.inf, math.inf),
            n_context=preds[0].n_context,
            sampler=GroupedSampler(tuple(groups)),
        )

    def _size_range(self, flops: float, k: float) -> tuple[float, float]:
        """Sizes searched for budget ``flops``: within :data:`REACH` of the table's sizes, and such that the
        tokens ``D = C / (k N)`` stay within :data:`REACH` of the table's token counts (the model extrapolates,
        but not far)."""
        low = max(self.n_params.min() / REACH, flops / (k * self.n_tokens.max() * REACH))
        high = min(self.n_params.max() * REACH, flops / (k * self.n_tokens.min() / REACH))
        if not high > low:
            raise InvalidConfigError(
                f"a budget of {flops:g} FLOPs is too far from the table's runs (N {self.n_params.min():.3g}..{self.n_params.max():.3g}, "
                f"D {self.n_tokens.min():.3g}..{self.n_tokens.max():.3g}): no size within {REACH:g}x of theirs has a token count within "
                f"{REACH:g}x of theirs; pass a budget nearer the table's (C = {k:g} N D)"
            )
        return low, high

    def optimum(
        self,
        flops: Any,
        *,
        flops_per_param_token: float = 6.0,
        n_samples: int = 256,
        seed: int | None = 0,
        method: Literal["auto", "isoflop", "pfn"] = "auto",
    ) -> Optimum | list[Optimum]:
        """The compute-optimal size, tokens and loss for a FLOP budget ``C = k N D`` (``k = 6``), as a posterior.

        ``method="isoflop"`` (what ``"auto"`` picks when the table holds at least :data:`MIN_PROFILES` isoFLOP
        profiles, see :meth:`isoflop_profiles`): each profile's minimum (the parabola in log N through its
        lowest row and their neighbours) is one point of ``log N_opt`` against ``log C``; a straight line
        through them (Hoffmann et al. 2022, approach 2) with a flat prior gives a Student-t posterior
        predictive at ``C``, with ``n - 2`` degrees of freedom. Its scale is the larger of the scatter of the
        parabola minima and of the best rows about the line (a new profile's best row is what one observes),
        and at least the table's size grid spacing over sqrt(12) (no profile locates its minimum more finely).
        The optimal sizes are drawn from it; the loss at each is read from a joint network sample over sizes
        spanning the central 90% of them. Measured on Porian et al.'s isoFLOP tables by ``benchmarks/scaling.py``.

        ``method="pfn"`` (``"auto"`` otherwise): a coarse scan of the predictive median along the isoFLOP curve (sizes and tokens up to :data:`REACH`
        times beyond the table's)
        finds where the optimum lies; then :data:`GROUP` sizes around it are predicted in one pass and
        sampled jointly: the argmin of each sampled loss-vs-size curve (refined by a parabola in log N) is one
        posterior draw of the optimal size, and its loss one draw of the optimal loss. Where the table has
        ``lr`` (or ``batch_size``), the same is done over a grid of learning rates (batch sizes) at the
        median optimal size.

        Args:
            flops: one budget or a list of budgets.
            flops_per_param_token: ``k`` in ``C = k N D``.
            n_samples: posterior draws.
            seed: seed of the draws (``None``: fresh randomness).
            method: ``"auto"``, ``"isoflop"`` (raises :class:`~curvecast.errors.InvalidCurveError` when the
                table has too few isoFLOP profiles) or ``"pfn"``.

        Returns:
            An :class:`Optimum` per budget (a list if ``flops`` is a list).
        """
        self._require_loss("optimum")
        many = np.ndim(flops) > 0
        try:
            budgets = _column("flops", flops)
        except InvalidCurveError:
            raise InvalidConfigError(f"flops (--flops) must be positive, finite FLOP budgets such as 2.56e19, got {flops!r}") from None
        k = _positive_scalar("flops_per_param_token", flops_per_param_token)
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 16:
            raise InvalidConfigError(f"n_samples (--samples) must be an int >= 16, got {n_samples!r}")
        if method not in ("auto", "isoflop", "pfn"):
            raise InvalidConfigError(f"method must be 'auto', 'isoflop' or 'pfn', got {method!r}")
        seed = check_seed(seed)
        profiles = None if method == "pfn" else self.isoflop_profiles(flops_per_param_token=k)
        if method == "isoflop" and len(profiles["log_flops"]) < MIN_PROFILES:
            raise InvalidCurveError(
                f"the isoflop method needs at least {MIN_PROFILES} isoFLOP profiles (budgets with 3 or more sizes and the lowest loss "
                f"inside them), the table has {len(profiles['log_flops'])}; add sizes around each budget's best, or use method='pfn' (--method pfn)"
            )
        use_profiles = profiles is not None and len(profiles["log_flops"]) >= MIN_PROFILES
        out = [
            self._profile_optimum(float(c), k, n_samples, seed, profiles) if use_profiles else self._optimum(float(c), k, n_samples, seed)
            for c in budgets
        ]
        return out if many else out[0]

    def isoflop_profiles(self, *, flops_per_param_token: float = 6.0) -> dict[str, np.ndarray]:
        """The table's isoFLOP profiles with an interior minimum: rows whose budgets ``k N D`` agree within
        :data:`BUDGET_TOLERANCE` form a profile (a size run more than once, with other seeds, counts once at its
        mean loss); one with 3 or more sizes whose lowest loss is not at its smallest or largest size counts. Returns arrays over those profiles: ``log_flops``, ``log_n_vertex``
        (the parabola's minimum in log N through the best row and its neighbours), ``log_n_best`` (the best
        row's size) and ``log_spacing`` (the median log-size step of the profile)."""
        self._require_loss("isoflop_profiles")
        log_c = np.log(flops_per_param_token * self.n_params * self.n_tokens)
        order = np.argsort(log_c, kind="stable")
        breaks = np.flatnonzero(np.diff(log_c[order]) > math.log1p(BUDGET_TOLERANCE)) + 1
        out: dict[str, list[float]] = {"log_flops": [], "log_n_vertex": [], "log_n_best": [], "log_spacing": []}
        for rows in np.split(order, breaks):
            # a size run more than once (seeds) counts once, at its mean loss
            u, which = np.unique(np.log(self.n_params[rows]), return_inverse=True)
            loss = np.bincount(which.reshape(-1), weights=self.loss[rows]) / np.bincount(which.reshape(-1))
            if u.size < 3:
                continue
            best = int(np.argmin(loss))
            if best in (0, u.size - 1):
                continue
            vertex, _ = _argmin_along(u, loss[None, :])
            out["log_flops"].append(float(np.mean(log_c[rows])))
            out["log_n_vertex"].append(float(vertex[0]))
            out["log_n_best"].append(float(u[best]))
            out["log_spacing"].append(float(np.median(np.diff(u))))
        return {name: np.array(values) for name, values in out.items()}

    def _profile_optimum(self, flops: float, k: float, n_samples: int, seed: int | None, profiles: dict[str, np.ndarray]) -> Optimum:
        """:meth:`optimum` by the isoFLOP profiles (see its docstring)."""
        low, high = self._size_range(flops, k)  # the same reach check as the network's method
        x, y, best = profiles["log_flops"], profiles["log_n_vertex"], profiles["log_n_best"]
        n = x.size
        slope, intercept = np.polyfit(x, y, 1)
        line = intercept + slope * x
        rss = max(float(np.sum((y - line) ** 2)), float(np.sum((best - line) ** 2)))
        scale = max(math.sqrt(rss / (n - 2)), float(np.median(profiles["log_spacing"])) / math.sqrt(12.0))
        x0 = math.log(flops)
        centred = x - x.mean()
        se = scale * math.sqrt(1.0 + 1.0 / n + (x0 - x.mean()) ** 2 / float(centred @ centred))
        rng = np.random.default_rng(seed)
        log_n = intercept + slope * x0 + se * stats.t.rvs(df=n - 2, size=n_samples, random_state=rng)
        n_opt = np.exp(log_n)
        # The loss at each drawn size: one joint network sample over sizes spanning the draws, read at that size.
        # (within the network's reach: a draw beyond it reads the loss at the nearest size searched).
        lo, hi = np.clip(np.quantile(log_n, [0.05, 0.95]), math.log(low), math.log(high))
        grid = np.linspace(lo, hi, GROUP) if hi > lo else np.full(GROUP, lo)
        paths = self.predict(np.exp(grid), flops / (k * np.exp(grid))).sample(n_samples, seed=seed)  # n x GROUP
        clipped = np.clip(log_n, grid[0], grid[-1])
        loss = np.array([np.interp(v, grid, path) for v, path in zip(clipped, paths)]) if hi > lo else paths[:, 0]
        n_med = float(np.median(n_opt))
        at_edge = not low <= n_med <= high
        edge = (
            f"the optimum for {flops:g} FLOPs ({n_med:.3g} parameters, from the table's isoFLOP profiles) lies beyond {REACH:g}x of the "
            "table's sizes or token counts, where the loss read from the network is an extrapolation; add runs nearer that size"
        )
        return self._posterior(flops, k, n_opt, loss, n_samples, seed, at_edge=at_edge, edge_warning=edge, method="isoflop")

    def _optimum(self, flops: float, k: float, n_samples: int, seed: int | None) -> Optimum:
        low, high = self._size_range(flops, k)
        coarse = np.geomspace(low, high, _COARSE)
        median = self.predict(coarse, flops / (k * coarse)).median
        best = int(np.argmin(median))
        step = math.log(high / low) / (_COARSE - 1)
        half = max(0.25 * math.log(10.0), 3 * step)
        centre = math.log(coarse[best])
        lo, hi = max(math.log(low), centre - half), min(math.log(high), centre + half)
        sizes = np.exp(np.linspace(lo, hi, GROUP))
        paths = self.predict(sizes, flops / (k * sizes)).sample(n_samples, seed=seed)  # n x GROUP, joint
        log_n, loss = _argmin_along(np.log(sizes), paths)
        n_opt = np.exp(log_n)
        at_edge = bool(np.median(log_n) <= math.log(low) + 0.5 * step or np.median(log_n) >= math.log(high) - 0.5 * step)
        edge = (
            f"the optimum for {flops:g} FLOPs lies at the edge of the sizes searched ({low:.3g}..{high:.3g}, up to {REACH:g}x beyond "
            "the table's sizes and token counts): the table says little about it; add runs nearer that size"
        )
        return self._posterior(flops, k, n_opt, loss, n_samples, seed, at_edge=at_edge, edge_warning=edge, method="pfn")

    def _posterior(
        self, flops: float, k: float, n_opt: np.ndarray, loss: np.ndarray, n_samples: int, seed: int | None, *, at_edge: bool, edge_warning: str, method: str
    ) -> Optimum:
        """The :class:`Optimum` from draws of the optimal size and its loss: tokens, the best lr and batch size at
        the median size where the table has them, and ``edge_warning`` when ``at_edge``."""
        samples = {"n_params": n_opt, "n_tokens": flops / (k * n_opt), "loss": loss}
        n_med = float(np.median(n_opt))
        for name, column in (("lr", self.lr), ("batch_size", self.batch_size)):
            if column is not None and np.ptp(column) == 0:
                warnings.warn(
                    f"every run of the table has {name} = {column[0]:g}, so it says nothing about the best {name}; the optimum "
                    f"leaves it out (Optimum.{name} is None): add runs at other values of {name} to have it",
                    CurvecastWarning,
                    stacklevel=4,
                )
            elif column is not None:
                samples[name] = self._best_setting(name, column, n_med, flops / (k * n_med), n_samples, seed)
        if at_edge:
            warnings.warn(edge_warning, CurvecastWarning, stacklevel=4)
        medians = {name: float(np.median(v)) for name, v in samples.items()}
        return Optimum(
            flops=flops,
            n_params=medians["n_params"],
            n_tokens=medians["n_tokens"],
            loss=medians["loss"],
            samples=samples,
            lr=medians.get("lr"),
            batch_size=medians.get("batch_size"),
            at_edge=at_edge,
            method=method,
        )

    def _best_setting(self, name: str, column: np.ndarray, n_params: float, n_tokens: float, n_samples: int, seed: int | None) -> np.ndarray:
        """Posterior draws of the best ``lr`` (or ``batch_size``) at one size and token count."""
        grid = np.geomspace(column.min() / 2.0, column.max() * 2.0, GROUP)
        lr = grid if name == "lr" else (None if self.lr is None else np.full(GROUP, float(np.median(self.lr))))
        bs = grid if name == "batch_size" else (None if self.batch_size is None else np.full(GROUP, float(np.median(self.batch_size))))
        points = [self._config(n_params, n_tokens, None if lr is None else lr[j], None if bs is None else bs[j]) for j in range(GROUP)]
        paths = self._predict_points(points, np.full(GROUP, n_tokens)).sample(n_samples, seed=seed)
        log_best, _ = _argmin_along(np.log(grid), paths)
        return np.exp(log_best)

    def plot(
        self,
        flops: Any = None,
        ax: "Axes | None" = None,
        *,
        flops_per_param_token: float = 6.0,
        n_samples: int = 256,
        seed: int | None = 0,
        method: Literal["auto", "isoflop", "pfn"] = "auto",
    ) -> "Axes":
        """Loss against model size: the table's runs, and for each budget in ``flops`` the predicted
        isoFLOP curve (median and 90% band) with the optimum and its 90% interval (``n_samples``, ``seed`` and
        ``method`` as in :meth:`optimum`, so the star is the optimum that call returns).

        Returns:
            The axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        k = flops_per_param_token
        compute = np.log10(k * self.n_params * self.n_tokens)
        points = ax.scatter(self.n_params, self.loss, s=14, c=compute, cmap="Greys", vmin=compute.min() - 1.0, label="finished runs", zorder=3)
        ax.figure.colorbar(points, ax=ax, label=f"log10 FLOPs ({k:g} N D) of the runs")
        budgets = [] if flops is None else list(_column("flops", flops))
        for i, c in enumerate(budgets):
            low, high = self._size_range(c, k)
            sizes = np.geomspace(low, high, 40)
            pred = self.predict(sizes, c / (k * sizes))
            lower, upper = pred.interval(0.9)
            color = f"C{i}"
            ax.fill_between(sizes, lower, upper, color=color, alpha=0.2, lw=0)
            ax.plot(sizes, pred.median, color=color, lw=1.5, label=f"C = {c:.3g} FLOPs")
            best = self.optimum(c, flops_per_param_token=k, n_samples=n_samples, seed=seed, method=method)
            lo, hi = best.interval("n_params", 0.9)
            ax.errorbar([best.n_params], [best.loss], xerr=[[best.n_params - lo], [hi - best.n_params]], fmt="*", ms=11, color=color, capsize=3)
        ax.set_xscale("log")
        ax.set_xlabel("model size N (parameters)")
        ax.set_ylabel("final loss")
        ax.legend(fontsize="small")
        return ax


def _argmin_along(u: np.ndarray, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``paths`` (``n x g`` values on the increasing grid ``u``, evenly spaced or not), the location
    and value of its minimum, refined by the parabola through the minimum and its neighbours (kept within them)."""
    j = np.argmin(paths, axis=1)
    rows = np.arange(paths.shape[0])
    u_best, y_best = u[j].astype(np.float64), paths[rows, j].astype(np.float64)
    inner = (j > 0) & (j < u.size - 1)
    if inner.any():
        r, c = rows[inner], j[inner]
        y0, y1, y2 = paths[r, c - 1], paths[r, c], paths[r, c + 1]
        left, right = u[c] - u[c - 1], u[c + 1] - u[c]
        # y = a (u - u[c])^2 + b (u - u[c]) + y1 through the three points
        a = (right * (y0 - y1) + left * (y2 - y1)) / (left * right * (left + right))
        b = (y2 - y1) / right - a * right
        safe = a * (left + right) ** 2 > 4e-12  # an upward parabola (for an even grid: y0 - 2 y1 + y2 > 1e-12)
        a_safe = np.where(safe, a, 1.0)
        shift = np.where(safe, -b / (2.0 * a_safe), 0.0)
        shift = np.clip(shift, -left, right)
        u_best[inner] = u[c] + shift
        y_best[inner] = np.where(safe, y1 + a_safe * shift**2 + b * shift, y1)
    return u_best, y_best
