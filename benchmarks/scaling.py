"""Benchmark of runs that inform each other: predicting a larger run from smaller ones, on real curves and tables.

    python benchmarks/scaling.py                                              # every source, every method
    python benchmarks/scaling.py --sources gemstones porian --max-groups 3 --model runs/big
    python benchmarks/scaling.py --json scaling.json --markdown scaling.md --methods multi chinchilla

Data: ``../shared/data/realcurves/`` next to the repository (``--data`` to change it; its README describes the
files). Sources (``--sources``):

* ``gemstones`` (``gemstones.parquet``): a group is one ``(group, metric_name)`` (train loss, two validation
  losses, nine benchmark accuracies), a run one model; ``n_params`` is the config's ``params`` (the benchmark
  groups, which lack it, take it from the same model's loss runs); x = step, 4,194,304 tokens per step;
* ``pythia`` (``pythia.parquet``): a setup is ``(group, metric_name, deduped)``, its runs the standard models
  (``pythia-<size>`` and ``pythia-<size>-deduped``; variants such as ``pythia-1.4b-1MtokBS`` are left out);
  ``n_params`` from the size (``70m`` = 7e7); x = step, 2,097,152 tokens per step;
* ``gadre_curves`` (``gadre2024_overtraining.parquet``): a group is the ``group`` column (dataset:val_set), a
  run one model (``n_params`` = config ``N``), x = tokens; its points are the final losses of separately
  trained runs, so no point counts as warmup;
* ``modded_nanogpt`` (``modded_nanogpt.parquet``): a group is a record with at least 4 runs (seeds of one
  setup); the config gives ``total_steps``; size and tokens per step are not recorded;
* ``porian`` (``porian2024_isoflop_table.csv``): a setting is ``(dataset, hparams, warmup, decay, param_count,
  val, file)``, an isoFLOP design of ~10 budgets ``C`` with ~12 model sizes each; rows ``(N, D, loss)``;
* ``gadre`` (``gadre2024_overtraining_table.csv``): a group is ``(dataset, val_set)``; rows ``(N, D, loss)``.
  Every row has its own budget ``C``, so a held-out budget is one row and the observed fraction 0.2 has
  nothing left to predict there.

Protocol, per group:

* hold-outs: the run with the largest ``n_params``, then the 2nd and 3rd largest, each predicted from the runs
  strictly smaller than it (every run at least as large is removed), as long as at least ``MIN_CONTEXT`` = 3
  context runs remain. Tables hold out the largest budget ``C``, then the 2nd and 3rd, each from the rows of
  smaller budgets only. modded-nanogpt (seeds of one size) holds out up to 3 runs drawn with
  ``numpy.random.default_rng((seed, crc32(record name)))`` and predicts each from the other runs of its record;
* observed fraction 0 (nothing of the held-out run is seen) and 0.2 (its first ``max(1, round(0.2 n))`` points;
  for tables the ``max(1, round(0.2 n))`` smallest-N rows of the held-out budget are seen and join the context,
  its other rows are the targets). A held-out run with nothing left after its seen points is skipped;
* each held-out curve is scored on its final value (its last x), each table target row on its loss.

Methods (each gives, per target, the log density at the true value, the median and the 5% / 95% quantiles):

* ``multi``: curvecast given the context runs (``model.predict(x_obs, y_obs, [x_final], runs=[...])``, configs
  with ``n_params``, ``n_tokens`` = last x times tokens per step where known, and ``total_steps`` where the
  source records it); tables: ``curvecast.scaling.fit`` on the context rows, ``law.predict`` at the targets, with
  the model ``curvecast.scaling`` loads (the shipped tables model; ``--table-model``, or ``--model`` alone, for another);
* ``table``: for a held-out curve not started (fraction 0) in a size ladder, the context runs' final values read
  as a scaling table (``curvecast.scaling.fit_runs(runs, direction=...)``, the shipped tables model),
  ``law.predict`` at the held-out run's size and tokens; not applicable to runs already under way, to seeds of one
  size or to tables (whose ``multi`` is already a table reading);
* ``final``: for a held-out curve of a size ladder, not started or under way, ``curvecast.scaling.predict_final``:
  ``multi``'s forecast and ``table``'s reading pooled (a mixture), the forecast weighted by the fraction of the run's
  x observed as the tables model's ``calibration.pool_weight`` says (chosen on hold-outs this script does not score,
  ``benchmarks/calibrate.py --pool-weight``; for seeds of one setting, whose other seeds are replicates of its final
  value, ``calibration.pool_weight_replicates``; modded-nanogpt's records give no size or tokens, so every seed is
  placed at one placeholder size and its final step); curvecast's answer wherever it applies (``multi`` elsewhere);
* ``single``: curvecast on the held-out run's observed points alone (fraction 0.2, at least 3 observed points);
* ``power_law``: realcurves.py's saturating power law fitted to the held-out run's observed points (fraction 0.2,
  at least 3 observed points; with 3 it falls back to realcurves' last-value baseline, counted as fallbacks);
* ``chinchilla``: Hoffmann et al.'s approach 3, ``L = E + A / N^alpha + B / D^beta``, fitted to every
  ``(N, D, y)`` of the context (other runs' points past the first 10% of their x-range, plus the held-out
  run's observed points; for tables the context rows): see :func:`fit_chinchilla` and
  :func:`chinchilla_prediction`. "max" metrics are fitted as ``1 - y``. Where every context run has the same
  (or no) size, the N term is not identifiable and ``L = E + B / D^beta`` is fitted instead.

Metrics per (source, observed fraction, method), over targets, with ``scale`` = the held-out curve's range
(max - min over all its points; tables: the loss range of the held-out budget's rows), floored at ``1e-6 |y|``.
Where the held-out curve (budget) has a single point (row), its range would be that floor; the range over all
the group's runs (rows) stands in:

* ``nll``: mean of ``-(logpdf(y_true) + log(scale))`` (a non-finite log density counts as ``LOGPDF_FLOOR``
  in scale units, as in realcurves.py); ``nll_median``: their median;
* ``final_err``: median of ``|median - y_true| / scale``;
* ``coverage90``: fraction of targets with ``y_true`` in ``[q05, q95]``; ``n_targets``.

For porian settings at fraction 0, also whether the held-out budget's best size (the N of its lowest loss) lies
inside ``law.optimum(C).interval("n_params", 0.9)`` of the law fitted to the smaller budgets (``optimum_hit``).
curvecast's warnings (it thins or subsamples long contexts) are silenced and counted per target.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import shlex
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy import optimize, special, stats
from threadpoolctl import threadpool_limits
from tqdm import tqdm

import curvecast
from curvecast.errors import CurvecastError, CurvecastWarning


def _load_realcurves():
    """benchmarks/realcurves.py as a module (benchmarks/ is no package), loaded once under the name its tests use."""
    name = "realcurves_benchmark"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().with_name("realcurves.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


rc = _load_realcurves()
Prediction = rc.Prediction

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / "../shared/data/realcurves"
SOURCES = ("gemstones", "pythia", "porian", "gadre", "gadre_curves", "modded_nanogpt")
FILES = {
    "gemstones": "gemstones.parquet",
    "pythia": "pythia.parquet",
    "porian": "porian2024_isoflop_table.csv",
    "gadre": "gadre2024_overtraining_table.csv",
    "gadre_curves": "gadre2024_overtraining.parquet",
    "modded_nanogpt": "modded_nanogpt.parquet",
}
TABLE_SOURCES = ("porian", "gadre")
FRACTIONS = (0.0, 0.2)
METHODS = ("multi", "table", "final", "single", "power_law", "chinchilla")
#: Methods whose results are curvecast's answer in a cell (see :func:`answer_method`); the rest are compared with it.
CURVECAST_ANSWERS = ("final", "table", "multi")
TABLE_METHODS = ("multi", "chinchilla")
N_HOLDOUT = 3  # the largest, 2nd and 3rd largest runs (budgets) are held out in turn
MIN_CONTEXT = 3  # context runs (rows) a hold-out needs
MIN_MODDED_RUNS = 4
MIN_FIT_POINTS = 3  # observed points single and power_law need
GEMSTONES_TOKENS_PER_STEP = 4_194_304
PYTHIA_TOKENS_PER_STEP = 2_097_152
WARMUP_SKIP = 0.1  # chinchilla leaves out each context run's first 10% of x-range
LOGPDF_FLOOR = rc.LOGPDF_FLOOR
SCALE_RTOL = 1e-6
COVERAGE_TARGET = rc.COVERAGE_TARGET
OPTIMUM_LEVEL = 0.9
OPTIMUM_TARGET = COVERAGE_TARGET[0]  # hit rate the 90% optimum interval should reach on porian

HUBER_DELTA = 1e-3
SIGMA_FLOOR = 1e-3
N_BOOTSTRAP = 20
EXPONENT_BOUNDS = (0.0, 5.0)
GRID_LOG_COEF = (0.0, 10.0, 20.0)  # a' = log A and b' = log B
GRID_LOG_E = (-1.0, 1.0)  # e' = log E
GRID_EXPONENT = (0.25, 0.75)  # alpha and beta
LBFGS_OPTIONS = {"ftol": 1e-13, "gtol": 1e-10, "maxiter": 15000}  # tight: with delta = 1e-3 the loss is nearly L1
SCREEN_POINTS = 256  # the grid search runs on at most this many of the points ...
POLISH_STARTS = 3  # ... and its best solutions are then refined on all points


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CurveRun:
    """One run of a group: its curve (sorted by x), size (NaN when unknown) and planned length (if recorded)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    n_params: float = math.nan
    total_steps: float | None = None


@dataclass(frozen=True)
class CurveGroup:
    """Runs of one setup that differ in size (or, with ``seeds``, only in seed)."""

    source: str
    name: str
    direction: str  # "min" or "max"
    runs: tuple[CurveRun, ...]
    tokens_per_step: float | None  # None: unknown, n_tokens is not given and chinchilla's D is x itself
    warmup_skip: float = WARMUP_SKIP
    seeds: bool = False  # hold out random runs instead of the largest
    points: str = "last"  # "all": every point ended a run of its own (Gadre et al.'s token sweeps): what fit_runs reads

    def tokens(self, x: np.ndarray) -> np.ndarray:
        """Tokens seen at x (chinchilla's D): ``x * tokens_per_step``, or x where tokens per step is unknown."""
        return np.asarray(x, dtype=np.float64) * (self.tokens_per_step or 1.0)


@dataclass(frozen=True)
class TableGroup:
    """Finished runs of one setting: size, tokens, compute budget and final loss per row."""

    source: str
    name: str
    n_params: np.ndarray
    n_tokens: np.ndarray
    flops: np.ndarray
    loss: np.ndarray


@dataclass(frozen=True)
class CurveTask:
    """Predict the final value of run ``target`` of ``group`` from the ``context`` runs and its first ``n_obs`` points."""

    group: CurveGroup
    target: int
    context: tuple[int, ...]
    fraction: float
    n_obs: int

    @property
    def run(self) -> CurveRun:
        return self.group.runs[self.target]

    @property
    def context_runs(self) -> list[CurveRun]:
        return [self.group.runs[i] for i in self.context]

    @property
    def x_obs(self) -> np.ndarray:
        return self.run.x[: self.n_obs]

    @property
    def y_obs(self) -> np.ndarray:
        return self.run.y[: self.n_obs]

    @property
    def x_final(self) -> float:
        return float(self.run.x[-1])

    @property
    def y_true(self) -> np.ndarray:
        """The true final value (length 1): for scoring only."""
        return self.run.y[-1:]

    @property
    def scale(self) -> np.ndarray:
        """The held-out curve's range; for a one-point curve (gadre's largest models), the range over the group's runs."""
        y = self.run.y if self.run.y.size >= 2 else np.concatenate([r.y for r in self.group.runs])
        return np.array([curve_scale(y, float(self.run.y[-1]))])

    @property
    def labels(self) -> list[str]:
        return [self.run.name]


@dataclass(frozen=True)
class TableTask:
    """Predict the ``targets`` rows of budget ``flops`` from the rows of smaller budgets and the ``seen`` rows."""

    group: TableGroup
    flops: float
    context: np.ndarray  # rows of smaller budgets
    seen: np.ndarray  # rows of the held-out budget that are observed
    targets: np.ndarray  # rows of the held-out budget to predict
    fraction: float

    @property
    def fit_rows(self) -> np.ndarray:
        return np.concatenate([self.context, self.seen])

    @property
    def y_true(self) -> np.ndarray:
        return self.group.loss[self.targets]

    @property
    def scale(self) -> np.ndarray:
        budget = np.concatenate([self.seen, self.targets])
        reference = self.group.loss[budget] if budget.size >= 2 else self.group.loss
        return np.array([table_scale(reference, float(y)) for y in self.y_true])

    @property
    def labels(self) -> list[str]:
        g = self.group
        return [f"N={g.n_params[i]:.4g} D={g.n_tokens[i]:.4g}" for i in self.targets]


Task = CurveTask | TableTask


def curve_scale(y: np.ndarray, y_true: float) -> float:
    """Range of ``y``, floored at ``SCALE_RTOL * |y_true|`` (and at the smallest positive float)."""
    return max(float(np.ptp(y)), SCALE_RTOL * abs(y_true), np.finfo(float).tiny)


def table_scale(loss: np.ndarray, y_true: float) -> float:
    """Range of the reference losses (the held-out budget's rows, or the group's), floored as :func:`curve_scale`."""
    return curve_scale(np.asarray(loss, dtype=np.float64), y_true)


def read_points(path: Path) -> pd.DataFrame:
    """A real-curve parquet file, sorted by (group, curve_id, metric_name, x)."""
    frame = pd.read_parquet(path)
    return frame.sort_values(["group", "curve_id", "metric_name", "x"], kind="stable").reset_index(drop=True)


def iter_curves(frame: pd.DataFrame) -> Iterator[tuple[tuple[str, str, str], dict, str, np.ndarray, np.ndarray]]:
    """``((group, metric_name, curve_id), config, direction, x, y)`` per curve of a points frame, x sorted."""
    for (group, metric, curve_id), part in frame.groupby(["group", "metric_name", "curve_id"], sort=True):
        part = part.sort_values("x", kind="stable")
        x = part["x"].to_numpy(dtype=np.float64, copy=True)
        y = part["y"].to_numpy(dtype=np.float64, copy=True)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            yield (str(group), str(metric), str(curve_id)), json.loads(part["config"].iloc[0]), str(part["direction"].iloc[0]), x[ok], y[ok]


def _finite_number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _collect(curves: dict[tuple, list[CurveRun]], directions: dict[tuple, str], key: tuple, direction: str, run: CurveRun) -> None:
    curves.setdefault(key, []).append(run)
    directions[key] = direction


def gemstones_groups(frame: pd.DataFrame) -> list[CurveGroup]:
    """One group per (group, metric_name); runs without a known size (not even through their model name) are left out."""
    params_by_model: dict[str, float] = {}
    for config in frame.drop_duplicates("curve_id")["config"].map(json.loads):
        params = _finite_number(config.get("params"))
        if params is not None and "model" in config:
            params_by_model[str(config["model"])] = params
    curves: dict[tuple, list[CurveRun]] = {}
    directions: dict[tuple, str] = {}
    tokens_per_step: dict[tuple, float] = {}
    for (group, metric, curve_id), config, direction, x, y in iter_curves(frame):
        params = _finite_number(config.get("params")) or params_by_model.get(str(config.get("model")))
        if params is None:
            continue
        key = (group, metric)
        _collect(curves, directions, key, direction, CurveRun(curve_id, x, y, params))
        tokens_per_step[key] = _finite_number(config.get("tokens_per_step")) or tokens_per_step.get(key, GEMSTONES_TOKENS_PER_STEP)
    return [
        CurveGroup("gemstones", f"{group}/{metric}", directions[(group, metric)], tuple(runs), tokens_per_step[(group, metric)])
        for (group, metric), runs in curves.items()
    ]


_PYTHIA_MODEL = re.compile(r"^pythia-(?P<size>\d+(?:\.\d+)?[mb])(?P<deduped>-deduped)?$")


def pythia_size(size: str) -> float:
    """Parameters from a Pythia size string: ``"70m"`` -> 7e7, ``"1.4b"`` -> 1.4e9."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([mb])", size.strip().lower())
    if match is None:
        raise ValueError(f"not a Pythia size: {size!r}")
    return float(match.group(1)) * (1e6 if match.group(2) == "m" else 1e9)


def pythia_groups(frame: pd.DataFrame) -> list[CurveGroup]:
    """One setup per (group, metric_name, deduped), of the standard models only (no suffix after the size)."""
    curves: dict[tuple, list[CurveRun]] = {}
    directions: dict[tuple, str] = {}
    for (group, metric, curve_id), config, direction, x, y in iter_curves(frame):
        match = _PYTHIA_MODEL.match(str(config.get("model", "")))
        if match is None:
            continue
        deduped = bool(config.get("deduped", match.group("deduped") is not None))
        key = (group, metric, deduped)
        _collect(curves, directions, key, direction, CurveRun(curve_id, x, y, pythia_size(match.group("size"))))
    return [
        CurveGroup("pythia", f"{group}/{metric}/{'deduped' if deduped else 'standard'}", directions[(group, metric, deduped)],
                   tuple(runs), PYTHIA_TOKENS_PER_STEP)
        for (group, metric, deduped), runs in curves.items()
    ]


def gadre_curve_groups(frame: pd.DataFrame) -> list[CurveGroup]:
    """One group per ``group`` (dataset:val_set) and metric; x is tokens; no warmup to skip (final checkpoints)."""
    curves: dict[tuple, list[CurveRun]] = {}
    directions: dict[tuple, str] = {}
    for (group, metric, curve_id), config, direction, x, y in iter_curves(frame):
        params = _finite_number(config.get("N"))
        if params is not None:
            _collect(curves, directions, (group, metric), direction, CurveRun(curve_id, x, y, params))
    return [
        CurveGroup("gadre_curves", f"{group}/{metric}", directions[(group, metric)], tuple(runs), 1.0, warmup_skip=0.0, points="all")
        for (group, metric), runs in curves.items()
    ]


def modded_groups(frame: pd.DataFrame, min_runs: int = MIN_MODDED_RUNS) -> list[CurveGroup]:
    """One group per record with at least ``min_runs`` runs (seeds); size and tokens per step unknown."""
    curves: dict[tuple, list[CurveRun]] = {}
    directions: dict[tuple, str] = {}
    for (group, metric, curve_id), config, direction, x, y in iter_curves(frame):
        run = CurveRun(curve_id, x, y, math.nan, _finite_number(config.get("total_steps")))
        _collect(curves, directions, (group, metric), direction, run)
    return [
        CurveGroup("modded_nanogpt", f"{group}/{metric}", directions[(group, metric)], tuple(runs), None, seeds=True)
        for (group, metric), runs in curves.items()
        if len(runs) >= min_runs
    ]


PORIAN_KEYS = ("dataset", "hparams", "warmup", "decay", "param_count", "val", "file")
GADRE_KEYS = ("dataset", "val_set")


def table_groups(table: pd.DataFrame, keys: Sequence[str], source: str) -> list[TableGroup]:
    """One group per value of ``keys``; rows with a non-finite or non-positive N, D, C or loss are left out."""
    out = []
    for values, part in table.groupby(list(keys), sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        n, d, c, loss = (part[k].to_numpy(dtype=np.float64, copy=True) for k in ("N", "D", "C", "loss"))
        ok = np.isfinite(n) & np.isfinite(d) & np.isfinite(c) & np.isfinite(loss) & (n > 0) & (d > 0) & (c > 0)
        out.append(TableGroup(source, "/".join(str(v) for v in values), n[ok], d[ok], c[ok], loss[ok]))
    return out


def load_groups(data_dir: Path, source: str) -> list[CurveGroup] | list[TableGroup]:
    """Every group of one source, from its file in ``data_dir``."""
    path = data_dir / FILES[source]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: the real-curve data set is expected in ../shared/data/realcurves next to the "
            "repository; pass --data DIR to point elsewhere"
        )
    if source == "porian":
        return table_groups(pd.read_csv(path), PORIAN_KEYS, source)
    if source == "gadre":
        return table_groups(pd.read_csv(path), GADRE_KEYS, source)
    frame = read_points(path)
    builders: dict[str, Callable[[pd.DataFrame], list[CurveGroup]]] = {
        "gemstones": gemstones_groups,
        "pythia": pythia_groups,
        "gadre_curves": gadre_curve_groups,
        "modded_nanogpt": modded_groups,
    }
    return builders[source](frame)


def select_groups(groups: Sequence, max_groups: int | None, seed: int) -> list:
    """All groups, or a random ``max_groups`` of them (``default_rng(seed)``, in their original order)."""
    if max_groups is None or len(groups) <= max_groups:
        return list(groups)
    index = np.random.default_rng(seed).choice(len(groups), size=max_groups, replace=False)
    return [groups[i] for i in sorted(index)]


# ---------------------------------------------------------------------------------------- hold-outs


def observed_count(n_points: int, fraction: float) -> int:
    """Points (rows) of a held-out run (budget) that are seen: none at fraction 0, else ``max(1, round(f n))``."""
    if fraction <= 0:
        return 0
    return max(1, round(fraction * n_points))


def cascade_holdouts(sizes: Sequence[float], n_holdout: int = N_HOLDOUT, min_context: int = MIN_CONTEXT) -> list[tuple[int, np.ndarray]]:
    """``(target, context)`` for the largest, 2nd, ... ``n_holdout``-th largest size: context = the strictly smaller
    ones; hold-outs with fewer than ``min_context`` of them are skipped."""
    sizes = np.asarray(sizes, dtype=np.float64)
    out = []
    for target in np.argsort(-sizes, kind="stable")[:n_holdout]:
        context = np.flatnonzero(sizes < sizes[target])
        if context.size >= min_context:
            out.append((int(target), context))
    return out


def seed_holdouts(n_runs: int, rng: np.random.Generator, n_holdout: int = N_HOLDOUT, min_context: int = MIN_CONTEXT) -> list[tuple[int, np.ndarray]]:
    """``(target, context)`` for up to ``n_holdout`` runs drawn with ``rng``, each with all other runs as context."""
    if n_runs - 1 < min_context:
        return []
    targets = rng.choice(n_runs, size=min(n_holdout, n_runs), replace=False)
    return [(int(t), np.delete(np.arange(n_runs), t)) for t in targets]


def holdout_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of a seed group's hold-outs: ``default_rng((seed, crc32(name)))``, so it does not depend on
    which other groups run."""
    return np.random.default_rng((seed, zlib.crc32(name.encode())))


def curve_tasks(group: CurveGroup, fraction: float, seed: int = 0) -> list[CurveTask]:
    """The hold-outs of one curve group at one observed fraction (runs with nothing left to predict skipped)."""
    if group.seeds:
        pairs = seed_holdouts(len(group.runs), holdout_rng(seed, group.name))
    else:
        pairs = cascade_holdouts([r.n_params for r in group.runs])
    tasks = []
    for target, context in pairs:
        n_obs = observed_count(len(group.runs[target].x), fraction)
        if n_obs < len(group.runs[target].x):
            tasks.append(CurveTask(group, target, tuple(int(i) for i in context), fraction, n_obs))
    return tasks


def budget_holdouts(
    flops: Sequence[float], n_params: Sequence[float], fraction: float, n_holdout: int = N_HOLDOUT, min_context: int = MIN_CONTEXT
) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """``(budget, context, seen, targets)`` row indices for the largest ``n_holdout`` budgets.

    Context: the rows of strictly smaller budgets (at least ``min_context``); seen: the
    :func:`observed_count` smallest-N rows of the budget; targets: its other rows (a budget with none is skipped).
    """
    flops = np.asarray(flops, dtype=np.float64)
    n_params = np.asarray(n_params, dtype=np.float64)
    out = []
    for budget in np.unique(flops)[::-1][:n_holdout]:
        context = np.flatnonzero(flops < budget)
        if context.size < min_context:
            continue
        rows = np.flatnonzero(flops == budget)
        rows = rows[np.argsort(n_params[rows], kind="stable")]
        k = observed_count(rows.size, fraction)
        if rows.size - k >= 1:
            out.append((float(budget), context, rows[:k], rows[k:]))
    return out


def table_tasks(group: TableGroup, fraction: float) -> list[TableTask]:
    """The hold-outs of one table group at one observed fraction."""
    return [
        TableTask(group, budget, context, seen, targets, fraction)
        for budget, context, seen, targets in budget_holdouts(group.flops, group.n_params, fraction)
    ]


# ------------------------------------------------------------------------------------------- metrics


def target_metrics(pred: Prediction, y_true: np.ndarray, scale: np.ndarray) -> list[dict]:
    """Per target: ``nll`` (scale units; non-finite log density scored as ``LOGPDF_FLOOR``), ``err``, ``covered``,
    ``nonfinite``."""
    y_true = np.asarray(y_true, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    logpdf = np.asarray(pred.logpdf, dtype=np.float64) + np.log(scale)
    bad = ~np.isfinite(logpdf)
    logpdf = np.where(bad, LOGPDF_FLOOR, logpdf)
    median = np.asarray(pred.median, dtype=np.float64)
    err = np.where(np.isfinite(median), np.abs(median - y_true) / scale, np.inf)
    covered = (pred.q05 <= y_true) & (y_true <= pred.q95)
    return [
        {"nll": float(-logpdf[j]), "err": float(err[j]), "covered": bool(covered[j]), "nonfinite": bool(bad[j])}
        for j in range(y_true.size)
    ]


def aggregate(rows: Sequence[dict]) -> dict:
    """Over the scored targets (rows without an ``error``): mean and median NLL, median final error, coverage of
    the 90% interval, and counts (targets, non-finite densities, targets with curvecast warnings, power-law
    fallbacks, failed predictions)."""
    scored = [r for r in rows if r.get("error") is None]
    counts = {
        "n_targets": len(scored),
        "n_nonfinite": int(sum(r["nonfinite"] for r in scored)),
        "n_warned": int(sum(bool(r.get("warnings")) for r in rows)),
        "n_fallbacks": int(sum(bool(r.get("fallback")) for r in scored)),
        "n_errors": len(rows) - len(scored),
    }
    if not scored:
        nan = float("nan")
        return {"nll": nan, "nll_median": nan, "final_err": nan, "coverage90": nan, **counts}
    nll = np.array([r["nll"] for r in scored])
    return {
        "nll": float(nll.mean()),
        "nll_median": float(np.median(nll)),
        "final_err": float(np.median([r["err"] for r in scored])),
        "coverage90": float(np.mean([r["covered"] for r in scored])),
        **counts,
    }


# ---------------------------------------------------------------------------------------- chinchilla


def chinchilla_log_loss(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """``log L`` of ``L = E + A / N^alpha + B / D^beta``: ``theta = (a', b', e', alpha, beta)`` (``A = exp(a')``, ...),
    or ``(b', e', beta)`` for ``L = E + B / D^beta``."""
    return special.logsumexp(_terms(theta, log_n, log_d), axis=0)


def _terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    if len(theta) == 5:
        a, b, e, alpha, beta = theta
        return np.stack([a - alpha * log_n, b - beta * log_d, np.full(log_d.shape, e)])
    b, e, beta = theta
    return np.stack([b - beta * log_d, np.full(log_d.shape, e)])


def huber_objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float = HUBER_DELTA) -> tuple[float, np.ndarray]:
    """Sum of Huber losses of ``chinchilla_log_loss(theta) - log L``, and its gradient in ``theta``."""
    terms = _terms(theta, log_n, log_d)
    top = terms.max(axis=0)
    ex = np.exp(terms - top)
    total = ex.sum(axis=0)
    resid = top + np.log(total) - log_l
    weight = ex / total  # d LSE / d term
    abs_r = np.abs(resid)
    value = float(np.where(abs_r <= delta, 0.5 * resid * resid, delta * (abs_r - 0.5 * delta)).sum())
    psi = np.clip(resid, -delta, delta)
    if len(theta) == 5:
        grad = [psi @ weight[0], psi @ weight[1], psi @ weight[2], -(psi * weight[0]) @ log_n, -(psi * weight[1]) @ log_d]
    else:
        grad = [psi @ weight[0], psi @ weight[1], -(psi * weight[0]) @ log_d]
    return value, np.array(grad, dtype=np.float64)


def chinchilla_grid(with_n: bool) -> np.ndarray:
    """Starting points: every combination of ``GRID_LOG_COEF`` (a', b'), ``GRID_LOG_E`` and ``GRID_EXPONENT``
    (alpha, beta): 72 with the N term, 12 without. On 12 real contexts (porian, pythia, gemstones, gadre) this
    grid found the same minimum as the 243-start grid {0, 10, 20}^2 x {-1, 0, 1} x {0, 0.5, 1}^2, 3x faster."""
    if with_n:
        return np.array(list(itertools.product(GRID_LOG_COEF, GRID_LOG_COEF, GRID_LOG_E, GRID_EXPONENT, GRID_EXPONENT)))
    return np.array(list(itertools.product(GRID_LOG_COEF, GRID_LOG_E, GRID_EXPONENT)))


def _bounds(with_n: bool) -> list[tuple[float | None, float | None]]:
    return [(None, None)] * 3 + [EXPONENT_BOUNDS] * 2 if with_n else [(None, None)] * 2 + [EXPONENT_BOUNDS]


def _minimize(start: np.ndarray, data: tuple[np.ndarray, ...], with_n: bool) -> optimize.OptimizeResult:
    """One L-BFGS-B run of :func:`huber_objective` to convergence (``LBFGS_OPTIONS``), exponents in ``EXPONENT_BOUNDS``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return optimize.minimize(huber_objective, start, args=data, jac=True, method="L-BFGS-B", bounds=_bounds(with_n),
                                 options=LBFGS_OPTIONS)


@dataclass(frozen=True)
class ChinchillaFit:
    """A Chinchilla fit: best parameters, bootstrap refits, log-residual sigma, and how y maps to L."""

    theta: np.ndarray  # (a', b', e', alpha, beta), or (b', e', beta) without the N term
    bootstrap: np.ndarray  # B x len(theta), refits on runs resampled with replacement
    sigma: float  # RMS log residual on the fitted points, floored at SIGMA_FLOOR
    flip: bool  # fitted to L = 1 - y ("max" metrics)
    n_points: int

    @property
    def with_n(self) -> bool:
        return len(self.theta) == 5

    def coefficients(self) -> dict[str, float]:
        """E, A, B, alpha, beta of the best fit (A and alpha are NaN without the N term)."""
        if self.with_n:
            a, b, e, alpha, beta = self.theta
        else:
            (b, e, beta), a, alpha = self.theta, math.nan, math.nan
        return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": float(alpha), "beta": float(beta)}

    def log_loss(self, n_params: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
        """``K x m`` log L of the best fit (first row) and every bootstrap refit at ``m`` points."""
        log_n = np.log(np.asarray(n_params, dtype=np.float64)) if self.with_n else np.zeros(np.shape(n_tokens))
        log_d = np.log(np.asarray(n_tokens, dtype=np.float64))
        return np.stack([chinchilla_log_loss(t, log_n, log_d) for t in [self.theta, *self.bootstrap]])


def fit_chinchilla(
    n_params: Sequence[float],
    n_tokens: Sequence[float],
    y: Sequence[float],
    *,
    runs: Sequence | None = None,
    direction: str = "min",
    with_n: bool | None = None,
    n_bootstrap: int | None = None,
    seed: int = 0,
) -> ChinchillaFit:
    """Hoffmann et al.'s approach 3: minimise the Huber loss (delta ``HUBER_DELTA``) of
    ``LSE(a' - alpha log N, b' - beta log D, e') - log L`` with L-BFGS-B from a grid of starts.

    ``L = y`` ("min") or ``1 - y`` ("max"); points with a non-positive N, D or L are left out. L-BFGS-B runs to
    convergence from every start of :func:`chinchilla_grid`; with more than ``SCREEN_POINTS`` points it runs on a
    seeded subset of that many, and the ``POLISH_STARTS`` best solutions are then refined on all points. ``with_n=None`` fits the N term only where the points have two or more distinct
    sizes. Parameter uncertainty: ``n_bootstrap`` (default ``N_BOOTSTRAP``) refits, started from the best solution,
    on the runs (``runs``: one label per point; default: every point its own run) resampled with replacement.

    The optimiser runs with BLAS limited to one thread: scipy's L-BFGS-B calls BLAS on 5-vectors, and with
    OpenBLAS threads on a busy machine each call waited for them (75x slower fits, measured on 2 loaded cores).
    """
    n_bootstrap = N_BOOTSTRAP if n_bootstrap is None else n_bootstrap
    n_params = np.asarray(n_params, dtype=np.float64)
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    labels = np.arange(y.size) if runs is None else np.asarray(runs)
    flip = direction == "max"
    loss = 1.0 - y if flip else y
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(n_tokens) & np.isfinite(loss) & (n_tokens > 0) & (loss > 0)
        if with_n is None:
            sized = keep & np.isfinite(n_params) & (n_params > 0)
            with_n = np.unique(n_params[sized]).size >= 2
        if with_n:
            keep &= np.isfinite(n_params) & (n_params > 0)
    if keep.sum() < 2:
        raise ValueError(f"chinchilla needs at least 2 points with positive N, D and L, got {int(keep.sum())}")
    log_n = np.log(n_params[keep]) if with_n else np.zeros(int(keep.sum()))
    log_d, log_l, labels = np.log(n_tokens[keep]), np.log(loss[keep]), labels[keep]
    rng = np.random.default_rng(seed)
    screen = np.arange(log_l.size)
    if screen.size > SCREEN_POINTS:
        screen = np.sort(rng.choice(screen.size, size=SCREEN_POINTS, replace=False))
    groups = np.unique(labels)
    members = [np.flatnonzero(labels == g) for g in groups]
    data = (log_n, log_d, log_l)
    with threadpool_limits(limits=1, user_api="blas"):
        screened = sorted((_minimize(start, tuple(a[screen] for a in data), with_n) for start in chinchilla_grid(with_n)),
                          key=lambda r: r.fun)
        if screen.size < log_l.size:
            screened = sorted((_minimize(r.x, data, with_n) for r in screened[:POLISH_STARTS]), key=lambda r: r.fun)
        theta = screened[0].x
        bootstrap = []
        for _ in range(n_bootstrap):
            index = np.concatenate([members[i] for i in rng.integers(0, groups.size, size=groups.size)])
            bootstrap.append(_minimize(theta, tuple(a[index] for a in data), with_n).x)
    resid = chinchilla_log_loss(theta, log_n, log_d) - log_l
    sigma = max(float(np.sqrt(np.mean(resid**2))), SIGMA_FLOOR)
    bootstrap = np.array(bootstrap).reshape(n_bootstrap, theta.size)
    return ChinchillaFit(theta=theta, bootstrap=bootstrap, sigma=sigma, flip=flip, n_points=int(log_l.size))


def _mixture_log_quantiles(mu: np.ndarray, sigma: float, levels: np.ndarray, iterations: int = 80) -> np.ndarray:
    """``Q x m`` quantiles (of log L) of the equal-weight mixture of normals ``N(mu[k], sigma)`` (``mu``: K x m), by bisection."""
    levels = np.asarray(levels, dtype=np.float64)[:, None]
    lo = np.broadcast_to(mu.min(axis=0) - 10 * sigma, (levels.size, mu.shape[1])).copy()
    hi = np.broadcast_to(mu.max(axis=0) + 10 * sigma, (levels.size, mu.shape[1])).copy()
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        cdf = stats.norm.cdf((mid[:, None, :] - mu[None]) / sigma).mean(axis=1)
        below = cdf < levels
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def chinchilla_prediction(fit: ChinchillaFit, n_params: Sequence[float], n_tokens: Sequence[float], y_true: Sequence[float]) -> Prediction:
    """Predictive distribution at ``m`` points: an equal-weight mixture of log-normals, one per fit (the best and
    each bootstrap refit), centred on its predicted L, with log-scale ``fit.sigma``; mapped to ``y = 1 - L`` for
    "max" metrics."""
    mu = fit.log_loss(n_params, n_tokens)
    y_true = np.asarray(y_true, dtype=np.float64)
    loss_true = 1.0 - y_true if fit.flip else y_true
    with np.errstate(divide="ignore", invalid="ignore"):
        log_l = np.where(loss_true > 0, np.log(np.where(loss_true > 0, loss_true, 1.0)), -np.inf)
        components = stats.norm.logpdf(log_l[None], loc=mu, scale=fit.sigma)
        logpdf = special.logsumexp(components, axis=0) - math.log(mu.shape[0]) - log_l
    logpdf = np.where(loss_true > 0, logpdf, -np.inf)
    levels = np.array([0.95, 0.5, 0.05]) if fit.flip else np.array([0.05, 0.5, 0.95])
    low, median, high = np.exp(_mixture_log_quantiles(mu, fit.sigma, levels))
    if fit.flip:
        low, median, high = 1.0 - low, 1.0 - median, 1.0 - high
    return Prediction(logpdf=logpdf, median=median, q05=low, q95=high)


def chinchilla_curve_points(task: CurveTask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(N, D, y, run label)`` of a curve task's context: each context run's points past the first
    ``warmup_skip`` of its x-range, and the held-out run's observed points."""
    group = task.group
    parts = []
    for label, run in enumerate([*task.context_runs, task.run]):
        if label < len(task.context):
            x, y = run.x, run.y
            keep = x >= x[0] + group.warmup_skip * (x[-1] - x[0])
            x, y = x[keep], y[keep]
        else:
            x, y = task.x_obs, task.y_obs
        parts.append((np.full(x.size, run.n_params), group.tokens(x), y, np.full(x.size, label)))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


# ------------------------------------------------------------------------------------------- methods


@dataclass
class Outcome:
    """One method on one task: a prediction (None when it failed), and what happened on the way."""

    pred: Prediction | None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    info: dict = field(default_factory=dict)


@contextmanager
def quiet_curvecast() -> Iterator[list[str]]:
    """Silence :class:`CurvecastWarning` inside the block; the list it yields holds their messages afterwards.
    Other warnings are passed on."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CurvecastWarning)
        yield messages
    for w in caught:
        if issubclass(w.category, CurvecastWarning):
            messages.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _from_curvecast(pred, y_true: np.ndarray) -> Prediction:
    q = np.asarray(pred.quantile([0.05, 0.95]), dtype=np.float64)
    return Prediction(
        logpdf=np.asarray(pred.logpdf(np.asarray(y_true, dtype=np.float64)), dtype=np.float64),
        median=np.asarray(pred.median, dtype=np.float64),
        q05=q[0],
        q95=q[1],
    )


def run_config(group: CurveGroup, run: CurveRun) -> dict:
    """What curvecast is told about a run: ``n_params`` (where known), ``n_tokens`` = last x times tokens per
    step (where known) and ``total_steps`` (where the source records it)."""
    config: dict = {}
    if math.isfinite(run.n_params):
        config["n_params"] = float(run.n_params)
    if group.tokens_per_step:
        config["n_tokens"] = float(run.x[-1] * group.tokens_per_step)
    if run.total_steps is not None:
        config["total_steps"] = float(run.total_steps)
    return config


def _guarded(call: Callable[[], tuple[Prediction, dict]]) -> Outcome:
    """Run one model call with curvecast's warnings silenced and its errors caught into the outcome."""
    with quiet_curvecast() as messages:
        try:
            pred, info = call()
            outcome = Outcome(pred, info=info)
        except (CurvecastError, ValueError, np.linalg.LinAlgError) as exc:
            outcome = Outcome(None, error=f"{type(exc).__name__}: {exc}")
    outcome.warnings = list(dict.fromkeys(messages))
    return outcome


def multi_curve(model, task: CurveTask) -> Outcome:
    """curvecast conditioned on the context runs (the held-out run's observed points may be none)."""
    group = task.group

    def call():
        runs = [curvecast.Run(r.x, r.y, run_config(group, r), name=r.name) for r in task.context_runs]
        pred = model.predict(task.x_obs, task.y_obs, [task.x_final], direction=group.direction,
                             config=run_config(group, task.run), runs=runs)
        return _from_curvecast(pred, task.y_true), {"n_context_runs": len(runs)}

    return _guarded(call)


def single_curve(model, task: CurveTask) -> Outcome | None:
    """curvecast on the held-out run's observed points alone; None (N/A) with fewer than ``MIN_FIT_POINTS``."""
    if task.n_obs < MIN_FIT_POINTS:
        return None

    def call():
        pred = model.predict(task.x_obs, task.y_obs, [task.x_final], direction=task.group.direction,
                             config=run_config(task.group, task.run))
        return _from_curvecast(pred, task.y_true), {}

    return _guarded(call)


def power_law_curves(tasks: Sequence[CurveTask]) -> list[Outcome | None]:
    """realcurves.py's power law on each held-out run's observed points (N/A with fewer than ``MIN_FIT_POINTS``)."""
    usable = [i for i, t in enumerate(tasks) if t.n_obs >= MIN_FIT_POINTS]
    rc_tasks = []
    for i in usable:
        t = tasks[i]
        curve = rc.RealCurve(t.group.source, t.run.name, t.group.name, t.group.direction, "{}",
                             np.append(t.x_obs, t.x_final), np.append(t.y_obs, t.y_true))
        rc_tasks.append(rc.Task(curve, t.n_obs))
    out: list[Outcome | None] = [None] * len(tasks)
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", RuntimeWarning)
        preds = rc.predict_power_law(rc_tasks) if rc_tasks else []
    for i, pred in zip(usable, preds):
        out[i] = Outcome(pred, info={"fallback": bool(pred.fallback)})
    return out


def chinchilla_curve(task: CurveTask, seed: int) -> Outcome:
    """:func:`fit_chinchilla` on :func:`chinchilla_curve_points`, predicted at the held-out run's size and final tokens."""
    try:
        n, d, y, labels = chinchilla_curve_points(task)
        fit = fit_chinchilla(n, d, y, runs=labels, direction=task.group.direction, seed=seed)
        pred = chinchilla_prediction(fit, [task.run.n_params], task.group.tokens([task.x_final]), task.y_true)
        return Outcome(pred, info={"chinchilla": {**fit.coefficients(), "sigma": fit.sigma, "n_points": fit.n_points}})
    except (ValueError, np.linalg.LinAlgError) as exc:
        return Outcome(None, error=f"{type(exc).__name__}: {exc}")


def multi_table(model, task: TableTask) -> Outcome:
    """``curvecast.scaling.fit`` on the context rows, ``law.predict`` at the targets."""
    g, rows = task.group, task.fit_rows

    def call():
        law = curvecast.scaling.fit(g.n_params[rows], g.n_tokens[rows], g.loss[rows], model=model)
        pred = law.predict(g.n_params[task.targets], g.n_tokens[task.targets])
        return _from_curvecast(pred, task.y_true), {"n_context_runs": int(rows.size)}

    return _guarded(call)


def table_curve(model, task: CurveTask) -> Outcome | None:
    """``curvecast.scaling.fit_runs`` on the context runs (their final values as table rows), ``law.predict`` at
    the held-out run's size and final tokens; None (N/A) for a run already under way or a group of seeds."""
    group = task.group
    if task.n_obs > 0 or group.seeds or not math.isfinite(task.run.n_params):
        return None

    def call():
        runs = [curvecast.Run(r.x, r.y, run_config(group, r), name=r.name) for r in task.context_runs]
        law = curvecast.scaling.fit_runs(runs, direction=group.direction, model=model, points=group.points)
        pred = law.predict([task.run.n_params], group.tokens([task.x_final]))
        return _from_curvecast(pred, task.y_true), {"n_context_runs": len(runs)}

    return _guarded(call)


#: Where a group of seeds records no size or tokens (modded-nanogpt), ``final`` places every seed at this size and at
#: its own final x as its tokens: seeds of one record share both, which is all a table of replicates needs.
SEED_PLACEHOLDER_N_PARAMS = 1e8


def placed_config(group: CurveGroup, run: CurveRun) -> dict:
    """:func:`run_config`, with ``n_params`` and ``n_tokens`` filled in for seeds of a record that lacks them
    (:data:`SEED_PLACEHOLDER_N_PARAMS`, the run's last x)."""
    config = run_config(group, run)
    if group.seeds:
        config.setdefault("n_params", SEED_PLACEHOLDER_N_PARAMS)
        config.setdefault("n_tokens", float(run.x[-1]))
    return config


def placed_runs(task: CurveTask) -> tuple[curvecast.Run, list[curvecast.Run]]:
    """The held-out run (its observed points) and the context runs as ``predict_final`` reads them (:func:`placed_config`)."""
    group = task.group
    target = curvecast.Run(task.x_obs, task.y_obs, placed_config(group, task.run), name=task.run.name)
    return target, [curvecast.Run(r.x, r.y, placed_config(group, r), name=r.name) for r in task.context_runs]


def final_curve(model, table_model, task: CurveTask) -> Outcome | None:
    """``curvecast.scaling.predict_final``: the held-out run's own forecast given the context runs, pooled with
    the context runs read as a table (weights by the fraction of x observed, the tables model's calibration; other
    seeds of the run's setting are replicates of its final value); None (N/A) for a ladder run of unknown size."""
    group = task.group
    if not group.seeds and not math.isfinite(task.run.n_params):
        return None

    def call():
        target, runs = placed_runs(task)
        pred = curvecast.scaling.predict_final(
            target, runs, task.x_final, direction=group.direction, model=model, table_model=table_model, points=group.points
        )
        return _from_curvecast(pred, task.y_true), {"n_context_runs": len(runs), "pool_weights": pred.weights.tolist()}

    return _guarded(call)


def chinchilla_table(task: TableTask, seed: int) -> Outcome:
    """:func:`fit_chinchilla` on the context rows (each row its own run for the bootstrap)."""
    g, rows = task.group, task.fit_rows
    try:
        fit = fit_chinchilla(g.n_params[rows], g.n_tokens[rows], g.loss[rows], seed=seed)
        pred = chinchilla_prediction(fit, g.n_params[task.targets], g.n_tokens[task.targets], task.y_true)
        return Outcome(pred, info={"chinchilla": {**fit.coefficients(), "sigma": fit.sigma, "n_points": fit.n_points}})
    except (ValueError, np.linalg.LinAlgError) as exc:
        return Outcome(None, error=f"{type(exc).__name__}: {exc}")


def optimum_check(model, task: TableTask) -> dict:
    """Whether the held-out budget's best size lies in the 90% interval of ``law.optimum(C)`` of the smaller budgets."""
    g = task.group
    budget = np.concatenate([task.seen, task.targets])
    best_n = float(g.n_params[budget[np.argmin(g.loss[budget])]])
    record = {"source": g.source, "group": g.name, "flops": task.flops, "best_n": best_n}

    def call():
        law = curvecast.scaling.fit(g.n_params[task.context], g.n_tokens[task.context], g.loss[task.context], model=model)
        opt = law.optimum(task.flops)
        low, high = opt.interval("n_params", OPTIMUM_LEVEL)
        info = {"median_n": float(opt.n_params), "low_n": low, "high_n": high, "at_edge": bool(opt.at_edge), "method": opt.method}
        if opt.method != "pfn":  # the network's own argmin, for comparison
            pfn = law.optimum(task.flops, method="pfn")
            pfn_low, pfn_high = pfn.interval("n_params", OPTIMUM_LEVEL)
            info.update(pfn_median_n=float(pfn.n_params), pfn_low_n=pfn_low, pfn_high_n=pfn_high)
        return None, info

    outcome = _guarded(call)
    record.update(outcome.info)
    record["warnings"] = outcome.warnings
    record["error"] = outcome.error
    if outcome.error is None:
        record["hit"] = bool(record["low_n"] <= best_n <= record["high_n"])
        record["log10_ratio"] = math.log10(record["median_n"] / best_n)
        if "pfn_median_n" in record:
            record["pfn_hit"] = bool(record["pfn_low_n"] <= best_n <= record["pfn_high_n"])
            record["pfn_log10_ratio"] = math.log10(record["pfn_median_n"] / best_n)
    return record


# -------------------------------------------------------------------------------------------- running


def _per_task(fn: Callable[[Task], Outcome | None], tasks: Sequence[Task], desc: str) -> list[Outcome | None]:
    return [fn(t) for t in tqdm(tasks, desc=desc, leave=False, file=sys.stderr, disable=None)]


def method_outcomes(method: str, tasks: Sequence[Task], model, seed: int, desc: str, table_model=None) -> list[Outcome | None]:
    """One outcome per task (None: the method does not apply to it). ``table_model`` reads the ``table`` method's
    runs (default: ``model``)."""
    tables = bool(tasks) and isinstance(tasks[0], TableTask)
    if tables and method not in TABLE_METHODS:
        return [None] * len(tasks)
    if method == "multi":
        return _per_task(lambda t: multi_table(model, t) if tables else multi_curve(model, t), tasks, desc)
    if method == "table":
        return _per_task(lambda t: table_curve(table_model or model, t), tasks, desc)
    if method == "final":
        reader = table_model or curvecast.scaling.load_table_predictor()
        return _per_task(lambda t: final_curve(model, reader, t), tasks, desc)
    if method == "chinchilla":
        return _per_task(lambda t: chinchilla_table(t, seed) if tables else chinchilla_curve(t, seed), tasks, desc)
    if method == "single":
        return _per_task(lambda t: single_curve(model, t), tasks, desc)
    if method == "power_law":
        return power_law_curves(tasks)
    raise ValueError(f"unknown method {method!r}")


def target_records(source: str, method: str, task: Task, outcome: Outcome) -> list[dict]:
    """Per-target rows of one outcome: identifiers, truth, scale, prediction, metrics and what happened."""
    group = task.group
    base = {
        "source": source,
        "group": group.name,
        "fraction": task.fraction,
        "method": method,
        "holdout": task.run.name if isinstance(task, CurveTask) else f"C={task.flops:.4g}",
        "n_obs": task.n_obs if isinstance(task, CurveTask) else int(task.seen.size),
        "n_context": len(task.context) if isinstance(task, CurveTask) else int(task.context.size),
        "warnings": outcome.warnings,
        "error": outcome.error,
        **{k: v for k, v in outcome.info.items() if k != "fallback"},
        "fallback": bool(outcome.info.get("fallback", False)),
    }
    y_true, scale = task.y_true, task.scale
    scores = target_metrics(outcome.pred, y_true, scale) if outcome.pred is not None else [None] * y_true.size
    records = []
    for j, label in enumerate(task.labels):
        record = {**base, "target": label, "y_true": float(y_true[j]), "scale": float(scale[j])}
        if outcome.pred is not None:
            p = outcome.pred
            record.update({"logpdf": float(p.logpdf[j]), "median": float(p.median[j]), "q05": float(p.q05[j]),
                           "q95": float(p.q95[j]), **scores[j]})
        records.append(record)
    return records


def run_source(
    source: str, groups: Sequence, methods: Sequence[str], fractions: Sequence[float], model, seed: int, table_model=None
) -> tuple[list[dict], list[dict]]:
    """Per-target rows of every (fraction, method) of one source, and (porian) the optimum checks."""
    rows: list[dict] = []
    optima: list[dict] = []
    for fraction in fractions:
        if source in TABLE_SOURCES:
            tasks: list = [t for g in groups for t in table_tasks(g, fraction)]
        else:
            tasks = [t for g in groups for t in curve_tasks(g, fraction, seed)]
        for method in methods:
            start = time.perf_counter()
            outcomes = method_outcomes(method, tasks, model, seed, f"{source} f={fraction:g} {method}", table_model)
            mine = [r for task, o in zip(tasks, outcomes) if o is not None for r in target_records(source, method, task, o)]
            seconds = time.perf_counter() - start
            rows.extend(mine)
            if mine:
                s = aggregate(mine)
                print(f"{source:>15} f={fraction:.1f} {method:>10}: nll {fmt(s['nll']):>8}  final_err {fmt(s['final_err']):>7}  "
                      f"cov90 {fmt(s['coverage90'], 2):>5}  n {s['n_targets']}  ({seconds:.1f}s)", file=sys.stderr)
        if source == "porian" and fraction == 0 and "multi" in methods:
            optima.extend(optimum_check(model, t) for t in tqdm(tasks, desc="porian optimum", leave=False, file=sys.stderr, disable=None))
    return rows, optima


def summarize(rows: Sequence[dict]) -> list[dict]:
    """One aggregate per (source, fraction, method), in the order they ran."""
    by_key: dict[tuple, list[dict]] = {}
    for r in rows:
        by_key.setdefault((r["source"], r["fraction"], r["method"]), []).append(r)
    return [{"source": s, "fraction": f, "method": m, **aggregate(rs)} for (s, f, m), rs in by_key.items()]


def grouped(results: Sequence[dict]) -> dict[tuple[str, float], dict[str, dict]]:
    """Aggregates by (source, fraction), then by method."""
    out: dict[tuple[str, float], dict[str, dict]] = {}
    for r in results:
        out.setdefault((r["source"], r["fraction"]), {})[r["method"]] = r
    return out


TARGET_KEYS = ("nll", "final_err", "coverage")


def answer_method(by_method: dict[str, dict]) -> str | None:
    """curvecast's answer in one (source, fraction): ``final`` where it applies (a size ladder's run, not started or
    under way: how will it end, the question ``scaling.predict_final`` answers), else ``table`` (the same for a run not
    started, from an older results file), else ``multi``; None if none ran."""
    for method in CURVECAST_ANSWERS:
        r = by_method.get(method)
        if r is not None and r["n_targets"] > 0:
            return method
    return None


def targets_met(by_method: dict[str, dict]) -> dict[str, bool | None]:
    """The targets of curvecast's answer (:func:`answer_method`) for one (source, fraction): mean NLL and
    final_err below every method that is not an answer (``single`` and the fits) and has values (None when none
    does), coverage90 in ``COVERAGE_TARGET``; all None without an answer."""
    answer = answer_method(by_method)
    if answer is None:
        return {**dict.fromkeys(TARGET_KEYS), "answer": None}
    multi = by_method[answer]
    others = [r for m, r in by_method.items() if m not in CURVECAST_ANSWERS and r["n_targets"] > 0]
    out: dict[str, bool | None] = {}
    for key in ("nll", "final_err"):
        values = [r[key] for r in others if np.isfinite(r[key])]
        out[key] = bool(multi[key] < min(values)) if values else None
    out["coverage"] = bool(COVERAGE_TARGET[0] <= multi["coverage90"] <= COVERAGE_TARGET[1])
    out["answer"] = answer
    return out


def target_rows(results: Sequence[dict]) -> list[dict]:
    """One record per (source, fraction): which of the answer's targets are met (None: nothing to compare) and
    which method was the answer."""
    return [{"source": s, "fraction": f, **targets_met(by_method)} for (s, f), by_method in grouped(results).items()]


def optimum_summary(optima: Sequence[dict]) -> dict:
    """Hit rate of the optimum interval over the checks that ran, and the median |log10(median N / best N)|."""
    done = [o for o in optima if o.get("error") is None]
    if not done:
        return {"n": 0, "hits": 0, "hit_rate": float("nan"), "median_abs_log10_ratio": float("nan"), "n_errors": len(optima)}
    hits = sum(o["hit"] for o in done)
    out = {
        "n": len(done),
        "hits": int(hits),
        "hit_rate": hits / len(done),
        "median_abs_log10_ratio": float(np.median([abs(o["log10_ratio"]) for o in done])),
        "n_errors": len(optima) - len(done),
        "methods": sorted({o.get("method", "pfn") for o in done}),
    }
    compared = [o for o in done if "pfn_hit" in o]
    if compared:
        out["pfn_n"] = len(compared)
        out["pfn_hits"] = int(sum(o["pfn_hit"] for o in compared))
        out["pfn_median_abs_log10_ratio"] = float(np.median([abs(o["pfn_log10_ratio"]) for o in compared]))
    return out


# ------------------------------------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 3) -> str:
    """Fixed decimals, scientific notation for huge values, "–" for a missing one."""
    if value is None or not np.isfinite(value):
        return "–" if value is None or np.isnan(value) else str(value)
    return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.2e}"


def _mark(value: bool | None) -> str:
    return "–" if value is None else ("✓" if value else "✗")


def markdown_report(results: Sequence[dict], optima: Sequence[dict], rows: Sequence[dict], command: str, methods: Sequence[str], meta: dict) -> str:
    """The command, one table (source x fraction rows, per-method nll / err / cov), multi's targets, the porian
    optimum checks, and counts of warnings, fallbacks and errors."""
    lines = [
        "## Runs that inform each other (scaling)",
        "",
        "Regenerate with:",
        "",
        "```",
        # the run that wrote the reused rows first, so the block regenerates the section from scratch
        *([f"python benchmarks/scaling.py --methods {' '.join(meta['reused_methods'])} --json {meta['reused']}"] if meta.get("reused") else []),
        command,
        "```",
        "",
        (
            f"Per group the largest run (table: budget) is held out, then the 2nd and 3rd largest, each predicted from "
            f"strictly smaller ones (modded-nanogpt: up to 3 random seeds from the others; seed {meta['seed']}; up to "
            f"{meta['max_groups'] or 'all'} groups per source). f = observed fraction of the held-out run (budget). "
            "Each target is its final value (table: loss). `nll`: mean of −log density of y / scale, scale = the "
            "held-out curve's range (table: the held-out budget's loss range; for a single point or row, the group's "
            "range); `err`: median |median − y| / scale; "
            "`cov`: fraction of targets inside the central 90% interval. Best nll per row in bold; – = not applicable."
        ),
        "",
    ]
    header = ["source", "f", "n"] + [f"{m} {k}" for m in methods for k in ("nll", "err", "cov")]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table = grouped(results)
    for (source, fraction), by_method in table.items():
        nlls = {m: r["nll"] for m, r in by_method.items() if r["n_targets"] and np.isfinite(r["nll"])}
        best = min(nlls, key=nlls.get) if nlls else None
        cells = [source, f"{fraction:.1f}", str(max(r["n_targets"] for r in by_method.values()))]
        for m in methods:
            r = by_method.get(m)
            if r is None or r["n_targets"] == 0:
                cells += ["–", "–", "–"]
                continue
            nll = fmt(r["nll"])
            cells += [f"**{nll}**" if m == best else nll, fmt(r["final_err"]), fmt(r["coverage90"], 2)]
        lines.append("| " + " | ".join(cells) + " |")

    records = target_rows(results)
    lines += [
        "",
        "### Targets met",
        "",
        (
            "curvecast's answer (`final` for a size ladder's run, not started or under way, the question "
            "`scaling.predict_final` answers; `table` for one not started where `final` did not run; `multi` otherwise) against `single` and the fits, where they have values: mean NLL lower, "
            f"final_err lower; its coverage90 in [{COVERAGE_TARGET[0]}, {COVERAGE_TARGET[1]}]. ✓ met, ✗ missed, – "
            "nothing to compare."
        ),
        "",
        "| source | f | answer | nll | final_err | coverage90 |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(f"| {r['source']} | {r['fraction']:.1f} | {r['answer'] or '–'} | " + " | ".join(_mark(r[k]) for k in TARGET_KEYS) + " |")
    totals = []
    for k in TARGET_KEYS:
        judged = [r[k] for r in records if r[k] is not None]
        totals.append(f"{sum(judged)}/{len(judged)}")
    lines.append("| all | | | " + " | ".join(totals) + " |")

    if optima:
        s = optimum_summary(optima)
        met = s["n"] > 0 and s["hit_rate"] >= OPTIMUM_TARGET
        lines += [
            "",
            "### Compute-optimal size (porian, f = 0)",
            "",
            (
                f"Is the held-out budget's best size (N of its lowest loss) inside the {OPTIMUM_LEVEL:.0%} interval of "
                f"`law.optimum(C)`, the law fitted to the smaller budgets? Hit rate {s['hits']}/{s['n']} = "
                f"{fmt(s['hit_rate'], 2)} (target ≥ {OPTIMUM_TARGET}: {_mark(met if s['n'] else None)}); median "
                f"|log10(median N / best N)| = {fmt(s['median_abs_log10_ratio'], 2)}. Method: {', '.join(s.get('methods', []))}."
                + (
                    f" The network's own argmin (`method=\"pfn\"`) on the same checks: {s['pfn_hits']}/{s['pfn_n']}, median "
                    f"|log10| = {fmt(s['pfn_median_abs_log10_ratio'], 2)}."
                    if "pfn_n" in s
                    else ""
                )
                + (f" {s['n_errors']} checks failed." if s["n_errors"] else "")
            ),
            "",
            "| setting | C | best N | median N | 90% interval | hit |",
            "|---|---|---|---|---|---|",
        ]
        for o in optima:
            if o.get("error") is None:
                cells = [o["group"], f"{o['flops']:.3g}", f"{o['best_n']:.3g}", f"{o['median_n']:.3g}",
                         f"{o['low_n']:.3g} – {o['high_n']:.3g}", _mark(o["hit"]) + (" (edge)" if o["at_edge"] else "")]
            else:
                cells = [o["group"], f"{o['flops']:.3g}", f"{o['best_n']:.3g}", "error", o["error"], "–"]
            lines.append("| " + " | ".join(cells) + " |")

    notes = []
    for r in results:
        parts = []
        if r["n_warned"]:
            parts.append(f"{r['n_warned']} with curvecast warnings (context thinned or subsampled)")
        if r["n_fallbacks"]:
            parts.append(f"{r['n_fallbacks']} power-law fallbacks to last value (3 observed points)")
        if r["n_nonfinite"]:
            parts.append(f"{r['n_nonfinite']} zero or NaN densities (scored as NLL {-LOGPDF_FLOOR:g})")
        if r["n_errors"]:
            errors = sorted({x["error"] for x in rows if x["source"] == r["source"] and x["method"] == r["method"]
                             and x["fraction"] == r["fraction"] and x.get("error")})
            parts.append(f"{r['n_errors']} failed ({'; '.join(errors)[:300]})")
        if parts:
            notes.append(f"- {r['source']} f={r['fraction']:.1f} {r['method']}: " + ", ".join(parts) + ".")
    if notes:
        lines += ["", "Notes (targets of each row):", "", *notes]
    lines += [
        "",
        (
            f"Model: {meta.get('model_path') or '(none)'}"
            + (f"; tables: {meta['table_model_path']}" if meta.get("table_model_path") not in (None, meta.get("model_path")) else "")
            + f". Wall time {meta['wall_time_s']:.0f} s on {meta['platform']} "
            f"({meta['machine']}, {meta['cpu_count']} CPUs), torch {meta['torch_version']}, {meta['timestamp']}."
        ),
        "",
    ]
    return "\n".join(lines)


def json_safe(value: object) -> object:
    """NaN and inf as None, numpy scalars as Python numbers, so the JSON file is standard JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def reused_rows(path: Path, groups: dict[str, list], seed: int, methods: Sequence[str]) -> list[dict]:
    """The earlier run's per-target rows of methods not in ``methods``, for the sources and groups run now; the
    earlier run must have used the same seed and, for these sources, the same groups. Checked before anything
    runs, so a file that cannot be reused costs nothing."""
    earlier = json.loads(path.read_text())
    if "per_target" not in earlier:
        raise ValueError(
            "it holds no per-target rows (benchmarks/results/scaling.json is committed without them); reuse a file "
            "written by --json, e.g. python benchmarks/scaling.py --methods power_law chinchilla --json baselines.json"
        )
    meta = earlier["meta"]
    if meta["seed"] != seed:
        raise ValueError(f"it was run with --seed {meta['seed']}, this run with {seed}")
    for source, gs in groups.items():
        names = [g.name for g in gs]
        if meta["groups"].get(source) != names:
            raise ValueError(f"its {source} groups differ from this run's; rerun both with the same --sources/--max-groups/--seed")
    return [r for r in earlier["per_target"] if r["source"] in groups and r["method"] not in methods]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for the protocol.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of the real-curve files (default: ../shared/data/realcurves)")
    parser.add_argument("--model", default=None, help="curvecast model path (default: the shipped default model)")
    parser.add_argument("--table-model", default=None, metavar="PATH",
                        help="the model that reads the scaling tables (porian, gadre) and the table method's runs (default: "
                        "--model where given, else the shipped tables model that curvecast.scaling loads)")
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--max-groups", type=int, default=None, help="groups per source, a random subset (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the group subset, the seed hold-outs and the bootstrap")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers, per-target rows and metadata here")
    parser.add_argument("--markdown", type=Path, default=None, help="write a markdown section here")
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        metavar="JSON",
        help="take the per-target rows of the methods not run now from this earlier --json (same sources, groups and seed), "
        "e.g. to rerun curvecast without refitting the baselines",
    )
    parser.add_argument("--context-runs", type=int, default=None, metavar="N",
                        help="read the context curves of the N nearest settings (default: the model's calibration.context_runs)")
    parser.add_argument("--replicate-from", type=float, default=None, metavar="F",
                        help="read context curves of the held-out run's own setting (seeds) from F of their last x on "
                        "(default: the model's, curvecast.predictor.DEFAULT_REPLICATE_FROM; 0 reads them whole)")
    args = parser.parse_args(argv)
    if args.max_groups is not None and args.max_groups < 1:
        parser.error("--max-groups must be at least 1")
    if args.context_runs is not None and args.context_runs < 1:
        parser.error("--context-runs must be at least 1")
    if args.replicate_from is not None and not 0 <= args.replicate_from < 1:
        parser.error("--replicate-from must be in [0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    wall_start = time.perf_counter()
    command = shlex.join(["python", "benchmarks/scaling.py", *argv])
    data_dir = args.data.resolve()
    try:
        groups = {s: select_groups(load_groups(data_dir, s), args.max_groups, args.seed) for s in args.sources}
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    methods = [m for m in METHODS if m in args.methods]
    reused: list[dict] = []
    if args.reuse is not None:
        try:
            reused = reused_rows(args.reuse, groups, args.seed, methods)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: --reuse {args.reuse}: {exc}", file=sys.stderr)
            return 2
    model, model_meta = None, {"model": args.model, "model_path": None}
    if {"multi", "single", "table", "final"} & set(methods):
        try:
            model = curvecast.load(args.model, device="cpu", context_runs=args.context_runs, replicate_from=args.replicate_from)
        except CurvecastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        model_meta = {"model": args.model, "model_path": str(model.path), "model_repr": repr(model), "max_runs": model.max_runs,
                      "context_runs": model.context_runs, "replicate_from": model.replicate_from}
    table_model = model  # --model alone reads the tables too
    reads_tables = ("multi" in methods and set(groups) & set(TABLE_SOURCES)) or ({"table", "final"} & set(methods) and set(groups) - set(TABLE_SOURCES))
    if reads_tables and (args.table_model or args.model is None):
        try:
            table_model = curvecast.load(args.table_model, device="cpu") if args.table_model else curvecast.scaling.load_table_predictor()
        except CurvecastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if table_model is not None:
        model_meta.update(table_model_path=str(table_model.path), table_model_repr=repr(table_model))

    rows: list[dict] = []
    optima: list[dict] = []
    for source, source_groups in groups.items():
        source_model = table_model if source in TABLE_SOURCES else model
        source_rows, source_optima = run_source(source, source_groups, methods, FRACTIONS, source_model, args.seed, table_model)
        rows.extend(source_rows)
        optima.extend(source_optima)
    rows.extend(reused)
    reused_methods = [m for m in METHODS if m in {r["method"] for r in reused}]
    methods = [m for m in METHODS if m in methods or m in reused_methods]
    results = summarize(rows)
    wall = time.perf_counter() - wall_start

    import torch

    meta = {
        "command": command,
        **model_meta,
        "methods": methods,
        "sources": list(args.sources),
        "groups": {s: [g.name for g in gs] for s, gs in groups.items()},
        "data": str(data_dir),
        "max_groups": args.max_groups,
        "seed": args.seed,
        "reused": str(args.reuse) if args.reuse is not None else None,
        "reused_methods": reused_methods,
        "fractions": list(FRACTIONS),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": wall,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    columns = ["source", "fraction", "method", "nll", "nll_median", "final_err", "coverage90", "n_targets", "n_warned",
               "n_fallbacks", "n_nonfinite", "n_errors"]
    if results:
        with pd.option_context("display.width", 250, "display.max_rows", None, "display.float_format", fmt):
            print(pd.DataFrame(results)[columns].to_string(index=False))
    if optima:
        s = optimum_summary(optima)
        print(f"porian optimum: {s['hits']}/{s['n']} inside the {OPTIMUM_LEVEL:.0%} interval")
    if args.json:
        payload = {"meta": meta, "results": results, "targets": target_rows(results), "optimum": optima,
                   "optimum_summary": optimum_summary(optima) if optima else None, "per_target": rows}
        args.json.write_text(json.dumps(json_safe(payload), indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown_report(results, optima, rows, command, methods, meta))
    print(f"wall time {wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
