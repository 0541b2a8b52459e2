"""Choose the calibration temperatures of a model on real curves that the benchmarks do not score.

    python benchmarks/calibrate.py --model runs/cpu                       # print the table, suggest a temperature
    python benchmarks/calibrate.py --model curvecast/models/default --write   # also store it in config.json
    python benchmarks/calibrate.py --spread --by-direction --json spread.json   # a spread for losses, one for accuracies
    python benchmarks/calibrate.py --few-points --write   # after --spread: own factor for curves of few observed points
    python benchmarks/calibrate.py --far --grid 1.2 1.4 1.6 1.8 2.0 2.5 3.0 --write   # after --few-points: queries far past the data widen more
    python benchmarks/calibrate.py --runs --model curvecast/models/default --write   # the temperature of multi-run predictions
    python benchmarks/calibrate.py --runs --by-observed --write   # one for runs not started, one for runs observed a while
    python benchmarks/calibrate.py --cooldowns --model curvecast/models/default --write   # cooldowns of wsd runs
    python benchmarks/calibrate.py --context-runs --model curvecast/models/default --write   # context curves read per pass
    python benchmarks/calibrate.py --max-runs --model curvecast/models/default --write   # runs (table rows) read per pass
    python benchmarks/calibrate.py --ladders --grid 0.6 0.7 0.8 0.9 1.0 --write   # tables of a sweep's finished runs
    python benchmarks/calibrate.py --runs-ensemble --write   # readings of a multi-run prediction mixed over run ids
    python benchmarks/calibrate.py --pool-weight --write   # predict_final: a ladder run's own forecast against its sweep's table
    python benchmarks/calibrate.py --isoflop-spread --write   # isoFLOP profiles read as tables: their stretch
    python benchmarks/calibrate.py --all --model runs/gpu/run             # a newly trained model: every choice, in order, written

The PFN is trained on the prior; on real curves its predictive distributions can be too sharp or too wide.
One scalar ``T`` divides the bar-distribution logits at prediction time (``T > 1`` widens). To choose ``T``
without peeking, this script uses the validation split: the usable curves of each source in
``../shared/data/realcurves`` that ``benchmarks/realcurves.py`` does not select with its default
``--max-curves 300 --seed 0`` (so only sources with more than 300 usable curves contribute), at most
``--max-curves`` of them per source (a seeded random subset). Each curve is observed for its first 20, 40 and
60% and the rest predicted, as in the benchmark. For every ``T`` in ``--grid`` it reports the mean NLL with
each point capped at ``NLL_CAP`` (one flat-context curve cannot dominate) and the 90% coverage, and picks the
``T`` whose central 90% intervals cover closest to 90% of the held-out points (mean over sources and
fractions; ties go to the lower capped NLL). Coverage, not NLL: the lowest mean NLL is pulled by whichever
source the model misreads most (modded-nanogpt's final cooldown drops, which no temperature can foresee,
asked for T = 1.8 and much wider bands everywhere else).

With ``--spread`` it chooses ``spread`` instead, at temperature 1: single-curve predictive distributions are
scaled about their medians (:meth:`curvecast.pfn.BarDistribution.stretch`), which widens every central
interval by the same factor without the temperature's side effect: dividing the logits lifts the far, wide,
nearly empty buckets towards uniform, so the 95% quantile jumps to a diverging run's level late in the
horizon and the mean leaves the band. The rule is the benchmark's own criterion on the validation split:
the most (source, fraction) cells whose 90% coverage lies in [0.85, 0.95], ties to the smallest factor
(sharpness subject to calibration, Gneiting et al. 2007). With ``--by-direction`` the same rule runs twice, over
the cells of losses (direction ``min``) and of accuracies (``max``) apart, and ``spread`` becomes
``{"min": a, "max": b}``: bounded, noisy benchmark accuracies and smooth losses need different widening.

With ``--few-points`` (after ``--spread``) it chooses ``spread_few_points``: whether single curves with fewer than
``below`` observed points (a candidate of ``--few-below``) take their own factor from ``--grid``, the other curves
keeping the calibrated ``spread``. Forecasts from three to five points are too narrow at the factor that suits
longer prefixes, on every validation source (BENCHMARKS.md). The rule: the most cells in band, then the lowest
mean capped NLL, and "off" on ties. Writing a new ``spread`` drops an earlier ``spread_few_points``.

With ``--far`` (after ``--few-points``) it chooses ``spread_far``: whether single-curve queries far past the observed
points widen further, by :func:`curvecast.predictor.far_factor` (1 up to ``beyond`` times the last observed x, then
rising linearly in log x to the factor at ten times ``beyond``), on top of the calibrated spread and few-points factor.
Benchmark accuracies read from log-spaced early checkpoints (Pythia's 0, 1, 2, 4, ..., 512 steps, asked for step
143,000) are forecast hundreds of times past their last observed x, with bands too narrow at the factor that suits
nearer queries. Candidates: every ``beyond`` of ``--far-beyond`` with every factor of ``--grid``; the rule is
``--few-points``'s (most cells in band, then the lowest mean capped NLL, "off" on ties). Writing a new
``spread_few_points`` (or ``spread``) drops an earlier ``spread_far``.

With ``--runs`` it chooses ``temperature_runs``, the temperature of predictions conditioned on other runs,
on hold-outs that ``benchmarks/scaling.py`` does not score: in each of its groups the benchmark predicts the
three largest models (budgets) from the smaller ones, or three seeds drawn per record; the validation split
predicts the 4th to 6th largest (from the strictly smaller ones), or three other seeds, at observed fractions 0
and 0.2, with each target's NLL capped at ``NLL_CAP``. With ``--by-observed`` the same rule runs twice, over the
cells of held-out runs not started (fraction 0: new sizes; and every table cell: a row to predict has no
points) and of curves observed for their first 20%, and ``temperature_runs`` becomes ``{"observed": a, "unobserved": b}``: the network's bands for a run it has
seen part of and for one it has not can err in opposite directions; with ``--without-tables`` as well, the scaling
tables' cells are left out of both kinds and the model's ``"table"`` factor is kept. With ``--tables`` the rule runs over the
cells of the scaling tables alone (Porian's isoFLOP table, Gadre's overtraining table) and adds ``"table": c`` to
``temperature_runs``, the other kinds keeping the model's factors: a row to predict from other finished runs is
a task of its own, whose bands can err where curves' do not.

With ``--context-runs`` it chooses ``context_runs``, the most distinct settings (configs) among the context curves a
multi-run prediction reads, nearest to the predicted run first (replicates of a kept setting are all read): on
the same hold-outs as ``--runs``, at the model's ``temperature_runs``, for every value in ``--context-grid``, the
lowest mean capped NLL over the (source, fraction) cells, ties to the larger value (fewer runs left out). The
network pools the context curves it reads: given a ladder of sizes it predicts a larger one near their
average, so its nearest sizes alone predict it better (measured in BENCHMARKS.md). Choose ``temperature_runs``
again after it.

With ``--max-runs`` it chooses ``max_runs``, the most runs (scaling-table rows included) a multi-run prediction
reads, on the same hold-outs and by the same rule, ties to the smaller value; candidates above the architecture's
``ModelConfig.max_runs`` are dropped. A model trained on tasks of at most 32 runs may read more rows than it was
trained on: on Porian's isoFLOP hold-outs the fine-tuned default model's capped NLL improves from -0.31 to -0.40
when it reads 48 (BENCHMARKS.md).

With ``--replicate-from`` it chooses ``replicate_from``: context curves with exactly the setting of the run being
predicted (its other seeds) are read from this fraction of their last x on. On the same hold-outs as ``--runs``
(only seed records have such replicates: modded-nanogpt's three other seeds per record), for every value in
``--replicate-grid``, the lowest mean capped NLL, ties to the smaller value (0 reads them whole). The seeds' early
phase says nothing about where a seed ends beside the others, but it sets the y scale the network reads in.

With ``--cooldowns`` it chooses ``wsd_cooldowns``, the cooldown lengths a ``wsd`` run of unknown cooldown is
predicted under (their mixture, :func:`curvecast.load`): the grids ``0.1, 0.2, ..., hi`` for ``hi`` in
``--cooldown-ends``, scored on the validation curves of the sources whose runs record ``total_steps`` and whose
schedule family ``--schedule`` names (modded-nanogpt's records: wsd), at 20, 40 and 60% observed. The rule:
most cells with 90% coverage in [0.85, 0.95], as for the spread, but ties go to the lower mean capped NLL (a
longer grid is not a sharper forecast, so "smallest" has no meaning there).

With ``--ladders`` it chooses the tables model's ``temperature_runs["ladder"]``: the temperature of a table made of a
sweep's finished runs (``scaling.fit_runs``), on the ``--runs`` hold-outs of the size ladders not started, the mean
90% coverage closest to 0.9 over ``--grid`` (``--runs --tables``'s rule); scaling tables keep their ``"table"``
factor. About 2 minutes. Choose ``--pool-weight`` after it.

With ``--pool-weight`` it chooses ``pool_weight`` of the tables model (``--table-model``, default the shipped one):
the weights :func:`curvecast.scaling.predict_final` gives a size ladder run's own forecast (``predict(...,
runs=...)``) against the ladder's finished runs read as a table (``fit_runs``) at 0, 20 and 50% of the run's x
seen (linear between), on the ``--runs`` hold-outs of the ladders (Gemstones, Pythia; Gadre's ladders are too
short to have them) seen for 0, 20 and 50% of their points, the lowest mean capped NLL, ties to smaller weights;
and ``pool_weight_replicates`` the same way on the seed hold-outs (modded-nanogpt), for a run whose setting's other
seeds are in the sweep. About 7 minutes on 2 idle CPU cores (measured: ladders and seeds). Not part of ``--all``: it
writes the tables model, which a newly trained default model does not replace.

With ``--isoflop-spread`` it chooses ``spread_isoflop``: the stretch, about their medians, of the forecasts of an
isoFLOP profile read as a table (``predict(..., config={"isoflop": C})``, ``scaling.isoflop_profile``). The only
isoFLOP profiles of the development set are Porian et al.'s, which the real-curve benchmark scores, so the validation
profiles are made: Gemstones' constant-LR runs read at ``D = C / 6N`` tokens at 12 budgets from 3e19 to 2.5e20 FLOPs,
for their train loss and two validation losses (:func:`constant_lr_isoflop_profiles`, Kaplan et al. 2020's envelope).
Scored with the benchmark's protocol (the first ``max(3, round(f n))`` sizes seen, f = 0.2, 0.4, 0.6); of every factor
in ``--isoflop-grid`` and 1 (off), the most cells in band, then the lowest mean capped NLL, off on ties. About 50 s.
The last step of ``--all``: the profiles are read at the table temperature ``--runs --tables`` chooses.

With ``--table-ensemble`` it chooses the tables model's ``table_ensemble``: how many readings of a scaling table, each
with the rows' run ids drawn anew, :func:`curvecast.load` mixes. The network was trained with ids drawn at random per
task, so it reads any assignment, but not identically: one reading depends on which row carries which id, which says
nothing about the table. Each candidate of ``--ensemble-grid`` reads the validation hold-outs that read a table (the
scaling tables' and the size ladders' runs not started) with two seeds of the ids; the choice is the smallest value
whose forecasts' medians move by at most ``ID_TOLERANCE`` of the target's scale between them (median over a cell's
targets, mean over cells). Capped NLL and coverage are printed beside it. Choose ``--runs --tables``, ``--ladders`` and
``--pool-weight`` again after it. About 3 minutes.

``--runs-ensemble`` does the same for the model's ``runs_ensemble``: predictions from several runs that are not a
table's (``predict(..., runs=...)``, ``predict_runs``), on the ``--runs`` hold-outs of the curve sources (Gemstones,
Pythia, modded-nanogpt; Gadre's ladders are too short to have them). Choose the read limits (``--context-runs``,
``--max-runs``, ``--replicate-from``), ``--runs --by-observed --without-tables`` and the tables model's
``--pool-weight`` again after it. About 1 minute.

``--check-exact`` chooses nothing: per validation cell it compares the single-curve predictions of the model as
calibrated with the raw network's, widened by the same factors exactly, as ``--spread``, ``--few-points`` and
``--far`` score them (the model re-bins its stretch onto the bar distribution's grid). About 25 s.

``--all`` calibrates a newly trained model in one call and writes every choice into its ``config.json``:
``--spread`` (over ``SPREAD_GRID``), ``--few-points`` (over the same grid), ``--far`` (over ``FAR_GRID``), ``--cooldowns``, ``--runs``,
``--runs-ensemble`` (over ``ENSEMBLE_GRID``), ``--context-runs`` (at that ``temperature_runs`` and those readings),
``--max-runs``, ``--replicate-from``, ``--runs --by-observed --without-tables`` (over ``RUNS_GRID``, at those read limits), ``--runs --tables`` (over ``TABLE_GRID``), ``--table-rows-inside`` and ``--isoflop-spread`` (over
``ISOFLOP_GRID``), each reading the choices before it.
About 10 minutes on 2 idle CPU cores (6.3 measured on the previous shipped model before ``--max-runs``
existed, which it reproduced: spread 1.6, cooldowns 0.1..0.9, temperature_runs 0.9, context_runs 3; ``--max-runs``
adds 72 s, measured on the shipped model; ``--few-points`` 20 s; ``--replicate-from`` about 3 minutes, with another job
on the same cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

import curvecast
from curvecast.pfn.checkpoint import CONFIG_FILE, atomic_write_text, read_config
from curvecast.predictor import LADDER_KIND, MAX_ID_ENSEMBLE, TABLE_KIND, default_model_path, far_factor


def _load_sibling(module_name: str, filename: str):
    """A script of benchmarks/ (no package) as a module, loaded once under ``module_name``."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, Path(__file__).resolve().with_name(filename))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


rc = _load_sibling("realcurves_benchmark", "realcurves.py")
BENCHMARK_MAX_CURVES, BENCHMARK_SEED = 300, 0
#: The validation split's defaults (``--max-curves``, ``--seed``).
VALIDATION_MAX_CURVES, VALIDATION_SEED = 100, 1


def validation_run_tasks(sc, group, fraction: float, seed: int) -> list:
    """Hold-outs of ``group`` that ``benchmarks/scaling.py`` does not score (see the module docstring)."""
    n = sc.N_HOLDOUT
    if isinstance(group, sc.TableGroup):
        return [sc.TableTask(group, b, c, s, t, fraction) for b, c, s, t in sc.budget_holdouts(group.flops, group.n_params, fraction, n_holdout=2 * n)[n:]]
    if group.seeds:
        scored = {t for t, _ in sc.seed_holdouts(len(group.runs), sc.holdout_rng(seed, group.name))}
        rest = [i for i in range(len(group.runs)) if i not in scored]
        picked = np.random.default_rng(seed + 1).permutation(rest)[:n] if len(group.runs) - 1 >= sc.MIN_CONTEXT else []
        pairs = [(int(t), np.delete(np.arange(len(group.runs)), t)) for t in picked]
    else:
        sizes = np.array([r.n_params for r in group.runs], dtype=np.float64)
        pairs = []
        for target in np.argsort(-sizes, kind="stable")[n : 2 * n]:
            context = np.flatnonzero(sizes < sizes[target])
            if context.size >= sc.MIN_CONTEXT:
                pairs.append((int(target), context))
    tasks = []
    for target, context in pairs:
        n_obs = sc.observed_count(len(group.runs[target].x), fraction)
        if n_obs < len(group.runs[target].x):
            tasks.append(sc.CurveTask(group, target, tuple(int(i) for i in context), fraction, n_obs))
    return tasks


def validation_run_cells(sc, data: Path) -> dict[tuple[str, float], list]:
    """The hold-outs of :func:`validation_run_tasks` of every source of ``benchmarks/scaling.py``, per (source, fraction)."""
    cells = {}
    for source in sc.SOURCES:
        groups = sc.load_groups(data.resolve(), source)
        for fraction in sc.FRACTIONS:
            made = [t for g in groups for t in validation_run_tasks(sc, g, fraction, BENCHMARK_SEED)]
            if made:
                cells[(source, fraction)] = made
    return cells


def run_records(sc, model: curvecast.Predictor, source: str, method: str, tasks: Sequence, seed: int = BENCHMARK_SEED) -> list[dict]:
    """benchmarks/scaling.py's per-target records (those with an NLL) of ``method`` on ``tasks``, ``model`` also
    reading the tables (``table_model``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
        outcomes = sc.method_outcomes(method, tasks, model, seed, source, table_model=model)
    return [r for task, o in zip(tasks, outcomes) if o is not None for r in sc.target_records(source, method, task, o) if "nll" in r]


def records_summary(rows: Sequence[dict]) -> dict[str, float]:
    """Capped mean NLL, 90% coverage and count of :func:`run_records` rows."""
    return {
        "nll_capped": float(np.mean([min(r["nll"], rc.NLL_CAP) for r in rows])),
        "coverage90": float(np.mean([r["covered"] for r in rows])),
        "n": len(rows),
    }


def evaluate_runs(sc, model: curvecast.Predictor, source: str, tasks: Sequence, seed: int) -> dict[str, float]:
    """Capped mean NLL and 90% coverage of multi-run predictions on ``tasks`` (benchmarks/scaling.py's metrics)."""
    return records_summary(run_records(sc, model, source, "multi", tasks, seed))


def stored_calibration(model_path: str | Path) -> dict:
    """The ``calibration`` of the checkpoint's config.json as stored (the Predictor holds what a call overrode)."""
    return json.loads((Path(model_path) / CONFIG_FILE).read_text()).get("calibration") or {}


def store_calibration(model_path: str | Path, entries: dict, drop: Sequence[str] = ()) -> Path:
    """Merge ``entries`` into the ``calibration`` of the checkpoint's config.json (and remove the keys in
    ``drop``); returns the file written."""
    path = Path(model_path) / CONFIG_FILE
    config = json.loads(path.read_text())
    calibration = config.get("calibration") or {}
    calibration.update(entries)
    for key in drop:
        calibration.pop(key, None)
    config["calibration"] = calibration
    atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path


#: What a chosen spread writes besides itself: the spread replaces the single-curve temperature.
SPREAD_REPLACES_TEMPERATURE = {"temperature": 1.0, "temperature_how": "1 (raw logits): the spread factor calibrates single-curve predictions"}


#: What a newly written spread removes: the temperature's scores, and a few-points factor chosen beside the old spread.
SPREAD_DROPS = ("temperature_validation", "spread_few_points", "spread_few_points_how", "spread_few_points_validation",
                "spread_far", "spread_far_how", "spread_far_validation")
#: What a newly written few-points factor removes: the far factor was chosen on top of the old one.
FAR_KEYS = ("spread_far", "spread_far_how", "spread_far_validation")


#: The multi-run temperatures ``--all`` tries per kind of curve (``--runs --by-observed --without-tables``).
RUNS_GRID = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25)
#: The table temperatures ``--all`` tries (``--runs --tables``): the shipped model's choice, 0.8, was made over this grid.
TABLE_GRID = (0.6, 0.7, 0.8, 0.9, 1.0)


#: The read limits ``--table-rows-inside`` tries (the model's ``max_runs``, 48, reads as many as it can).
TABLE_ROWS_GRID = (8, 12, 16, 24, 32, 48)


#: What a newly written single ``temperature_runs`` removes: the record of a table factor it replaces.
TABLE_FACTOR_KEYS = ("temperature_runs_table_how", "temperature_runs_table_validation")


def write_choice(model_path: str | Path, key: str, value, how: str, validation: dict, *, extra: dict | None = None, drop: Sequence[str] = ()) -> None:
    """``--write``: store ``calibration.{key}`` with how it was chosen (``{key}_how``) and its validation scores
    (``{key}_validation``), plus ``extra`` entries and without the keys in ``drop``; say so on stderr."""
    path = store_calibration(model_path, {key: value, f"{key}_how": how, f"{key}_validation": validation, **(extra or {})}, drop)
    print(f"wrote calibration.{key} = {value} to {path}", file=sys.stderr)


def validation_curves(curves: Sequence, max_curves: int, seed: int) -> list:
    """Usable curves the benchmark leaves out (its own selection rule and seed), at most ``max_curves``."""
    scored = {(c.curve_id, c.metric_name) for c in rc.select_curves(curves, BENCHMARK_MAX_CURVES, BENCHMARK_SEED)}
    rest = [c for c in curves if rc.usable(c) and (c.curve_id, c.metric_name) not in scored]
    if len(rest) <= max_curves:
        return rest
    index = np.random.default_rng(seed).choice(len(rest), size=max_curves, replace=False)
    return [rest[i] for i in sorted(index)]


def evaluate(model: curvecast.Predictor, tasks: Sequence, schedules: dict[str, str] | None = None) -> dict[str, float]:
    """Capped mean NLL and 90% coverage of ``model`` on ``tasks`` (realcurves.py's metrics)."""
    preds = model.predict_many([rc.curvecast_curve(t, schedules) for t in tasks])
    metrics = []
    for task, p in zip(tasks, preds):
        q = p.quantile([0.05, 0.95])
        pred = rc.Prediction(logpdf=p.logpdf(task.y_query), median=p.median, q05=q[0], q95=q[1])
        metrics.append(rc.curve_metrics(task, pred))
    summary = rc.aggregate(metrics)
    return {"nll_capped": summary["nll_capped"], "nll": summary["nll"], "coverage90": summary["coverage90"], "n": summary["n_curves"]}


def evaluate_spreads(model: curvecast.Predictor, tasks: Sequence, grid: Sequence[float]) -> dict[float, dict[str, float]]:
    """:func:`evaluate` for every spread factor ``s`` in ``grid`` from one forward pass at ``s = 1``: scaling
    a distribution about its median ``m`` moves its quantiles to ``m + s (q - m)`` and its log density to
    ``logpdf((y - m) / s + m) - log s``. (The model's own stretch re-bins this onto its bucket grid and then
    renormalises within the bounds, so the benchmark's figures differ slightly.)"""
    preds = model.predict_many([rc.curvecast_curve(t) for t in tasks])
    out = {}
    for factor in grid:
        summary = rc.aggregate([scaled_metrics(task, p, factor) for task, p in zip(tasks, preds, strict=True)])
        out[factor] = {"nll_capped": summary["nll_capped"], "nll": summary["nll"], "coverage90": summary["coverage90"], "n": summary["n_curves"]}
    return out


def scaled_metrics(task, prediction, factor: float) -> dict[str, float]:
    """``rc.curve_metrics`` of ``prediction`` (made at spread 1) scaled about its median by ``factor``."""
    m = prediction.median
    q = prediction.quantile([0.05, 0.95])
    logpdf = prediction.logpdf((task.y_query - m) / factor + m) - np.log(factor)
    return rc.curve_metrics(task, rc.Prediction(logpdf=logpdf, median=m, q05=m + factor * (q[0] - m), q95=m + factor * (q[1] - m)))


#: Candidate thresholds of ``--few-points``: single curves with fewer observed points than this get their own factor.
FEW_POINTS_BELOW = (4, 5, 6, 8)


def best_rule(cells: dict, candidates: Sequence, metrics_of) -> tuple[Any, dict]:
    """Of ``candidates`` (``None``, off, first), the rule whose per-curve metrics (``metrics_of(row, rule)`` for each
    row of each cell of ``cells``) put the most (source, fraction) cells' 90% coverage in band, then the lower mean
    capped NLL (to 4 decimals), then off; and every candidate's (cells in band, mean capped NLL)."""
    def score(rule):
        summaries = [rc.aggregate([metrics_of(row, rule) for row in rows]) for rows in cells.values()]
        in_band = sum(rc.COVERAGE_TARGET[0] <= s["coverage90"] <= rc.COVERAGE_TARGET[1] for s in summaries)
        return in_band, float(np.mean([s["nll_capped"] for s in summaries]))

    scores = {rule: score(rule) for rule in candidates}
    best = min(candidates, key=lambda rule: (-scores[rule][0], round(scores[rule][1], 4), rule is not None))
    return best, scores


def validation_predictions(args: argparse.Namespace, model: curvecast.Predictor):
    """Per (source, fraction) cell of the validation split: the cell, its tasks and ``model``'s predictions."""
    for source, curves in rc.load_curves(args.data).items():
        chosen = validation_curves(curves, args.max_curves, args.seed)
        for fraction in rc.FRACTIONS:
            tasks = rc.make_tasks(chosen, fraction)
            if not tasks:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                preds = model.predict_many([rc.curvecast_curve(t) for t in tasks], progress=False)
            yield (source, fraction), tasks, preds


def report_rules(cells: dict, choose, key: str, label) -> tuple[Any, dict] | None:
    """``choose()`` (a :func:`best_rule` choice over ``cells``) with one printed line per candidate rule, named by
    ``label(rule)`` (or "off"); ``None`` (after saying why) when the validation split has no cells."""
    if not cells:
        print("no validation tasks: every source is scored whole by the benchmark", file=sys.stderr)
        return None
    best, scores = choose()
    for rule in scores:
        name = "off" if rule is None else label(rule)
        print(f"{key} {name:<16} cells in [0.85, 0.95]: {scores[rule][0]}  mean capped nll {scores[rule][1]:.4f}" + ("   <- chosen" if rule == best else ""))
    return best, scores


def few_points_rule(cells: dict, below_grid: Sequence[int], factors: Sequence[float]) -> tuple[tuple[int, float] | None, dict]:
    """The ``--few-points`` choice over ``cells`` ((source, fraction) -> per curve ``(n_observed, calibrated factor,
    {factor: rc.curve_metrics})``): returns the best rule ``(below, factor)`` or ``None`` (off), and every
    candidate's (cells in band, mean capped NLL), by :func:`best_rule`."""
    candidates = [None] + [(below, factor) for below in below_grid for factor in factors]
    return best_rule(cells, candidates, lambda row, rule: row[2][rule[1] if rule and row[0] < rule[0] else row[1]])


def choose_few_points(args: argparse.Namespace) -> int:
    """``--few-points``: on the validation split, whether single curves with fewer than ``below`` observed points
    should take their own spread factor (``calibration.spread_few_points``), the other curves keeping the
    model's calibrated ``spread``. Of every ``(below, factor)`` pair and "off", the most cells in band, then the
    lowest mean capped NLL; "off" wins ties."""
    calibrated = curvecast.load(args.model, spread_few_points=False)
    model = curvecast.load(args.model, temperature=1.0, spread=1.0)
    factors = sorted(set(args.grid) | {calibrated.spread_for(d) for d in DIRECTIONS})
    cells = {
        cell: [(task.n_obs, calibrated.spread_for(task.direction), {f: scaled_metrics(task, p, f) for f in factors}) for task, p in zip(tasks, preds, strict=True)]
        for cell, tasks, preds in validation_predictions(args, model)
    }
    chosen = report_rules(cells, lambda: few_points_rule(cells, args.few_below, args.grid), "spread_few_points", lambda rule: f"below {rule[0]}: {rule[1]:g}")
    if chosen is None:
        return 1
    best, scores = chosen
    if args.write:
        value = None if best is None else {"below": best[0], "spread": best[1]}
        how = (
            "benchmarks/calibrate.py --few-points: single curves with fewer than `below` observed points take `spread`, the rest "
            "the calibrated spread; of every (below, factor) pair and off, the most cells with 90% coverage in [0.85, 0.95], then "
            f"the lowest mean capped NLL, off on ties; below in {list(args.few_below)}, factors {args.grid}, on validation curves the "
            f"real-curve benchmark does not score ({sorted({s for s, _ in cells})}, up to {args.max_curves} per source, seed {args.seed})"
        )
        validation = {("off" if r is None else f"{r[0]}:{r[1]:g}"): {"cells_in_band": v[0], "capped_nll": v[1]} for r, v in scores.items()}
        write_choice(model.path, "spread_few_points", value, how, validation, drop=FAR_KEYS)
    return 0


#: Candidate ``beyond`` of ``--far``: multiples of the last observed x where the extra widening starts.
FAR_BEYOND = (5.0, 10.0, 20.0, 30.0, 50.0, 100.0)
#: Candidate factors of ``--far`` (reached ten times past ``beyond``).
FAR_GRID = (1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0)


#: ``--isoflop-spread``: the budgets (FLOPs) and Gemstones metrics of the validation isoFLOP profiles, and the factors tried.
ISOFLOP_BUDGETS = tuple(float(c) for c in np.geomspace(3e19, 2.5e20, 12))
ISOFLOP_METRICS = ("train_loss", "val_loss_dclm", "val_loss_fineweb_edu")
ISOFLOP_GRID = (1.2, 1.4, 1.6, 1.8, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0)
ISOFLOP_SOURCE = "gemstones_isoflop"


def constant_lr_isoflop_profiles(data: Path, budgets: Sequence[float] = ISOFLOP_BUDGETS) -> list:
    """isoFLOP profiles read off Gemstones' constant-LR runs: at each budget ``C``, every model's loss at ``D = C / 6N``
    tokens (linear in log D between its checkpoints), for the models whose curve reaches ``D``, sorted by size; one
    ``rc.RealCurve`` (x = N, config ``{"C": C}``) per budget and metric. The Kaplan et al. 2020 envelope, not runs
    decayed to each length: a proxy for real isoFLOP profiles, made from curves the real-curve benchmark scores as
    learning curves, never as profiles."""
    sc = _load_sibling("scaling_benchmark", "scaling.py")
    curves = []
    for group in sc.load_groups(data.resolve(), "gemstones"):  # one per (group, metric): runs with their size, x sorted
        kind, metric = group.name.split("/", 1)
        if metric not in ISOFLOP_METRICS or kind == "lr_ablation":
            continue
        models = [(run.n_params, group.tokens(run.x), run.y) for run in group.runs]
        for budget in budgets:
            points = sorted(
                (n, float(np.interp(np.log(budget / (6 * n)), np.log(tokens), loss)))
                for n, tokens, loss in models if tokens[0] <= budget / (6 * n) <= tokens[-1]
            )
            if len(points) >= rc.MIN_POINTS:
                x, y = (np.array(v) for v in zip(*points))
                curves.append(rc.RealCurve(ISOFLOP_SOURCE, f"{ISOFLOP_SOURCE}:{metric}:C={budget:.3g}", metric, "min",
                                           json.dumps({"C": budget}), x, y))
    return [c for c in curves if rc.usable(c)]


def choose_isoflop_spread(args: argparse.Namespace) -> int:
    """``--isoflop-spread``: ``spread_isoflop`` on :func:`constant_lr_isoflop_profiles`, scored as the real-curve
    benchmark scores Porian et al.'s profiles; of every factor and 1 (off), the most cells in band, then the lowest
    mean capped NLL, off on ties."""
    model = curvecast.load(args.model, spread_isoflop=1.0)
    curves = constant_lr_isoflop_profiles(args.data)
    factors = sorted(set(args.isoflop_grid) - {1.0})
    cells = {}
    for fraction in rc.FRACTIONS:
        tasks = rc.make_tasks(curves, fraction)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
            preds = model.predict_many([rc.curvecast_curve(t, isoflop={ISOFLOP_SOURCE: "C"}) for t in tasks], progress=False)
        cells[(ISOFLOP_SOURCE, fraction)] = [{f: scaled_metrics(t, p, f) for f in [1.0, *factors]} for t, p in zip(tasks, preds, strict=True)]
    print(f"{len(curves)} isoFLOP profiles from Gemstones' constant-LR runs ({len(ISOFLOP_BUDGETS)} budgets x {len(ISOFLOP_METRICS)} metrics)", file=sys.stderr)
    chosen = report_rules(cells, lambda: best_rule(cells, [None, *factors], lambda row, rule: row[1.0 if rule is None else rule]), "spread_isoflop", lambda r: f"{r:g}")
    if chosen is None:
        return 1
    best, scores = chosen
    for fraction in rc.FRACTIONS:
        rows = cells[(ISOFLOP_SOURCE, fraction)]
        print(f"  f={fraction}: coverage90 " + "  ".join(f"{f:g}: {rc.aggregate([r[f] for r in rows])['coverage90']:.3f}" for f in [1.0, *factors]), file=sys.stderr)
    if args.write:
        how = (
            "benchmarks/calibrate.py --isoflop-spread: of every factor and off (1), the most cells with 90% coverage in [0.85, 0.95], then "
            f"the lowest mean capped NLL, off on ties; factors {factors}, on {len(curves)} isoFLOP profiles read off Gemstones' constant-LR "
            f"runs (budgets 3e19..2.5e20 FLOPs, {list(ISOFLOP_METRICS)}), observed for the first 20/40/60% of sizes as the real-curve "
            "benchmark observes Porian et al.'s, which it scores"
        )
        validation = {("off" if r is None else f"{r:g}"): {"cells_in_band": v[0], "capped_nll": v[1]} for r, v in scores.items()}
        write_choice(model.path, "spread_isoflop", 1.0 if best is None else float(best), how, validation)
    return 0


def query_reach(task) -> np.ndarray:
    """x of each held-out point over the last observed x, after :func:`rc.curvecast_curve`'s shift to x >= 0
    (what the predictor reads as ``x / x_ref``)."""
    shift = min(float(task.x_obs[0]), 0.0)
    return (task.x_query - shift) / max(float(task.x_obs[-1]) - shift, 1e-300)


def far_rule(cells: dict, beyond_grid: Sequence[float], factors: Sequence[float]) -> tuple[tuple[float, float] | None, dict]:
    """The ``--far`` choice over ``cells`` ((source, fraction) -> per curve ``{rule: rc.curve_metrics}``, the key
    ``None`` for off): returns the best rule ``(beyond, factor)`` or ``None``, and every candidate's (cells in
    band, mean capped NLL). The same order as ``--few-points``: most cells in band, then the lower capped NLL (to
    4 decimals), then off."""
    candidates = [None] + [(float(beyond), float(factor)) for beyond in beyond_grid for factor in factors if factor != 1.0]
    return best_rule(cells, candidates, lambda metrics, rule: metrics[rule])


def choose_far(args: argparse.Namespace) -> int:
    """``--far``: on the validation split, whether single-curve queries far past the observed points should widen
    further (``calibration.spread_far``, :func:`curvecast.predictor.far_factor`), on top of the model's calibrated
    ``spread`` and ``spread_few_points``. Of every ``(beyond, factor)`` pair and "off", the most cells in band,
    then the lowest mean capped NLL; "off" wins ties."""
    model = curvecast.load(args.model, spread_far=False)  # the checkpoint's spread and few-points factor, no far factor

    def metrics(task, prediction) -> dict:
        reach = query_reach(task)
        rules = {(float(b), float(f)): far_factor(reach, b, f) for b in args.far_beyond for f in args.grid if f != 1.0}
        return {None: scaled_metrics(task, prediction, 1.0), **{rule: scaled_metrics(task, prediction, factor) for rule, factor in rules.items()}}

    cells = {cell: [metrics(task, p) for task, p in zip(tasks, preds, strict=True)] for cell, tasks, preds in validation_predictions(args, model)}
    chosen = report_rules(cells, lambda: far_rule(cells, args.far_beyond, args.grid), "spread_far", lambda rule: f"beyond {rule[0]:g}: {rule[1]:g}")
    if chosen is None:
        return 1
    best, scores = chosen
    if args.json:
        args.json.write_text(json.dumps({"scores": {("off" if r is None else f"{r[0]:g}:{r[1]:g}"): v for r, v in scores.items()},
                                         "chosen": None if best is None else list(best)}, indent=2) + "\n")
    if args.write:
        value = None if best is None else {"beyond": best[0], "spread": best[1]}
        how = (
            "benchmarks/calibrate.py --far: single-curve queries past `beyond` times the last observed x widen further, by a factor "
            "rising linearly in log x from 1 there to `spread` ten times further out, on top of the calibrated spread and few-points "
            "factor; of every (beyond, factor) pair and off, the most cells with 90% coverage in [0.85, 0.95], then the lowest mean "
            f"capped NLL, off on ties; beyond in {list(args.far_beyond)}, factors {args.grid}, on validation curves the real-curve "
            f"benchmark does not score ({sorted({s for s, _ in cells})}, up to {args.max_curves} per source, seed {args.seed})"
        )
        validation = {("off" if r is None else f"{r[0]:g}:{r[1]:g}"): {"cells_in_band": v[0], "capped_nll": v[1]} for r, v in scores.items()}
        write_choice(model.path, "spread_far", value, how, validation)
    return 0


def calibrated_factors(model: curvecast.Predictor, task) -> np.ndarray:
    """The spread factor ``model`` gives each held-out point of ``task`` (a single curve): its direction's spread or
    the few-points factor, times the far-queries factor at the point's reach (what the rules above score)."""
    factor = np.full(task.x_query.shape, model.spread_for(task.direction, task.n_obs), dtype=np.float64)
    if model.spread_far is not None:
        factor = factor * far_factor(query_reach(task), **model.spread_far)
    return factor


def check_exact(args: argparse.Namespace) -> int:
    """``--check-exact``: does the model apply the spread factors as the rules above scored them? They score a
    factor ``s`` exactly (quantiles ``m + s (q - m)``, :func:`scaled_metrics`); the model re-bins its stretch onto the
    bar distribution's grid and keeps the outer buckets' tails (``BarDistribution.stretch``). Per validation cell:
    the 90% coverage and mean capped NLL of the model as calibrated, and of the raw network (temperature 1, spread 1)
    with the same factors applied exactly. It chooses nothing and writes nothing to the model."""
    calibrated = curvecast.load(args.model)
    raw = curvecast.load(args.model, temperature=1.0, spread=1.0)
    rows = []
    applied_cells = {cell: preds for cell, _, preds in validation_predictions(args, calibrated)}
    for cell, tasks, preds in validation_predictions(args, raw):
        applied = rc.aggregate([scaled_metrics(t, p, 1.0) for t, p in zip(tasks, applied_cells[cell], strict=True)])
        exact = rc.aggregate([scaled_metrics(t, p, calibrated_factors(calibrated, t)) for t, p in zip(tasks, preds, strict=True)])
        row = {"source": cell[0], "fraction": cell[1], "n": applied["n_curves"]}
        for name, summary in (("applied", applied), ("exact", exact)):
            row.update({f"{name}_coverage90": summary["coverage90"], f"{name}_nll_capped": summary["nll_capped"]})
        rows.append(row)
        print(f"{cell[0]:>16} f={cell[1]:.1f}: cov90 applied {row['applied_coverage90']:.3f} exact {row['exact_coverage90']:.3f}   "
              f"capped nll applied {row['applied_nll_capped']:7.3f} exact {row['exact_nll_capped']:7.3f}")
    if not rows:
        print("no validation tasks: every source is scored whole by the benchmark", file=sys.stderr)
        return 1
    worst = max(abs(r["applied_coverage90"] - r["exact_coverage90"]) for r in rows)
    in_band = {k: sum(rc.COVERAGE_TARGET[0] <= r[f"{k}_coverage90"] <= rc.COVERAGE_TARGET[1] for r in rows) for k in ("applied", "exact")}
    print(f"cells in [0.85, 0.95]: applied {in_band['applied']}, exact {in_band['exact']} of {len(rows)}; largest coverage gap {worst:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"cells": rows, "cells_in_band": in_band, "largest_coverage_gap": worst}, indent=2) + "\n")
    return 0


def summarize_grid(table: Sequence[dict], key: str, grid: Sequence) -> tuple[dict, dict, dict]:
    """Per candidate ``grid`` value (``row[key]``) over its (source, fraction) cells: mean capped NLL, mean 90%
    coverage and the number of cells whose coverage lies in [0.85, 0.95]."""
    def rows(value):
        return [r for r in table if r[key] == value]
    score = {v: float(np.mean([r["nll_capped"] for r in rows(v)])) for v in grid}
    coverage = {v: float(np.mean([r["coverage90"] for r in rows(v)])) for v in grid}
    in_band = {v: sum(0.85 <= r["coverage90"] <= 0.95 for r in rows(v)) for v in grid}
    return score, coverage, in_band


def write_table(path: Path | None, table: Sequence[dict], chosen, **summaries: dict) -> None:
    """``--json``: the per-cell table, the per-candidate summaries and the choice."""
    if path:
        path.write_text(json.dumps({"table": list(table), **summaries, "chosen": chosen}, indent=2) + "\n")


#: The spread factors ``--all`` scores (the shipped model's spread was chosen over the same grid).
SPREAD_GRID = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8)
#: Directions ``--spread --by-direction`` calibrates apart: losses and errors (min), accuracies (max).
DIRECTIONS = rc.DIRECTIONS


def calibrate_all(args: argparse.Namespace) -> int:
    """``--all``: every calibration choice in order, each written before the next reads the model."""
    common = (["--model", args.model] if args.model else []) + ["--data", str(args.data), "--max-curves", str(args.max_curves),
                                                                "--seed", str(args.seed), "--write"]
    steps = (
        ["--spread", "--grid", *map(str, SPREAD_GRID)],
        ["--few-points", "--grid", *map(str, SPREAD_GRID)],
        ["--far", "--grid", *map(str, FAR_GRID)],
        ["--cooldowns", "--cooldown-ends", *map(str, args.cooldown_ends)],
        ["--runs"],
        ["--runs-ensemble", "--ensemble-grid", *map(str, ENSEMBLE_GRID)],  # the read limits and temperatures below read it
        ["--context-runs", "--context-grid", *map(str, args.context_grid)],
        ["--max-runs", "--max-runs-grid", *map(str, args.max_runs_grid)],
        ["--replicate-from", "--replicate-grid", *map(str, args.replicate_grid)],
        ["--runs", "--by-observed", "--without-tables", "--grid", *map(str, RUNS_GRID)],
        ["--runs", "--tables", "--grid", *map(str, TABLE_GRID)],
        ["--table-rows-inside", "--table-rows-grid", *map(str, TABLE_ROWS_GRID)],
        ["--isoflop-spread", "--isoflop-grid", *map(str, ISOFLOP_GRID)],  # reads the table temperature chosen above
    )
    for step in steps:
        print(f"calibrate.py {' '.join(step)}", file=sys.stderr)
        code = main(common + step)
        if code:
            return code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=rc.DEFAULT_DATA)
    parser.add_argument("--grid", type=float, nargs="+", default=[0.9, 1.0, 1.1, 1.25, 1.4, 1.6])
    parser.add_argument("--max-curves", type=int, default=VALIDATION_MAX_CURVES, help="validation curves per source")
    parser.add_argument("--seed", type=int, default=VALIDATION_SEED)
    parser.add_argument("--runs", action="store_true", help="choose temperature_runs (multi-run predictions) instead")
    parser.add_argument("--spread", action="store_true", help="choose the spread factor (temperature 1) instead of a temperature")
    parser.add_argument("--by-direction", action="store_true",
                        help="with --spread: one factor for losses (direction min) and one for accuracies (max), each by the same rule over its own cells")
    parser.add_argument("--by-observed", action="store_true",
                        help="with --runs: one temperature for held-out runs not started (fraction 0) and one for runs observed for a while")
    parser.add_argument("--without-tables", action="store_true",
                        help="with --runs --by-observed: leave the scaling tables' cells out of both kinds and keep the model's table factor")
    parser.add_argument("--tables", action="store_true",
                        help="with --runs: a temperature for the rows scaling tables predict, over the tables' cells alone; the other kinds keep theirs")
    parser.add_argument("--few-points", action="store_true",
                        help="choose spread_few_points: whether single curves with few observed points take their own spread factor (after --spread)")
    parser.add_argument("--few-below", type=int, nargs="+", default=list(FEW_POINTS_BELOW), help="with --few-points: the candidate point counts")
    parser.add_argument("--far", action="store_true",
                        help="choose spread_far: whether single-curve queries far past the observed x widen further (after --spread and --few-points)")
    parser.add_argument("--far-beyond", type=float, nargs="+", default=list(FAR_BEYOND), help="with --far: the candidate multiples of the last observed x")
    parser.add_argument("--cooldowns", action="store_true", help="choose wsd_cooldowns, the cooldown lengths mixed over for wsd runs of unknown cooldown")
    parser.add_argument("--cooldown-ends", type=float, nargs="+", default=[0.4, 0.5, 0.6, 0.7, 0.8, 0.9], help="with --cooldowns: the candidate grids 0.1..END")
    parser.add_argument("--schedule", action="append", default=[], metavar="SOURCE=NAME",
                        help="with --cooldowns: the schedule family of a source's runs (default: modded_nanogpt=wsd)")
    parser.add_argument("--context-runs", action="store_true", help="choose context_runs, the most settings of context curves read per multi-run prediction")
    parser.add_argument("--context-grid", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12], help="with --context-runs: the candidate values")
    parser.add_argument("--max-runs", action="store_true", help="choose max_runs, the most runs (table rows included) read per multi-run prediction")
    parser.add_argument("--max-runs-grid", type=int, nargs="+", default=[32, 40, 48], help="with --max-runs: the candidate values")
    parser.add_argument("--replicate-from", action="store_true",
                        help="choose replicate_from, the share of a seed replicate's x range skipped when it is read as context")
    parser.add_argument("--replicate-grid", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5],
                        help="with --replicate-from: the candidate values, each in [0, 1)")
    parser.add_argument("--table-rows-inside", action="store_true",
                        help="choose table_rows_inside, the most rows a scaling-table prediction inside the table reads")
    parser.add_argument("--table-rows-grid", type=int, nargs="+", default=list(TABLE_ROWS_GRID), help="with --table-rows-inside: the candidate values")
    parser.add_argument("--ladders", action="store_true",
                        help="choose temperature_runs['ladder'] of the tables model: tables of a sweep's finished runs (scaling.fit_runs)")
    parser.add_argument("--pool-weight", action="store_true",
                        help="choose pool_weight, the weight of a ladder run's own forecast in scaling.predict_final's pool, per observed fraction (written to the tables model)")
    parser.add_argument("--pool-grid", type=float, nargs="+", default=list(POOL_GRID), help="with --pool-weight: the candidate weights")
    parser.add_argument("--isoflop-spread", action="store_true",
                        help="choose spread_isoflop: the stretch of isoFLOP-profile forecasts, on profiles read off Gemstones' constant-LR runs")
    parser.add_argument("--isoflop-grid", type=float, nargs="+", default=list(ISOFLOP_GRID), help="with --isoflop-spread: the candidate factors")
    parser.add_argument("--table-model", help="with --pool-weight or --ladders: the tables model (default: the shipped one)")
    parser.add_argument("--table-ensemble", action="store_true",
                        help="choose the tables model's table_ensemble: the fewest readings of a table whose mixture hardly depends on the run ids drawn")
    parser.add_argument("--runs-ensemble", action="store_true",
                        help="choose the model's runs_ensemble: the fewest readings of a prediction from several runs whose mixture hardly depends on the run ids drawn")
    parser.add_argument("--ensemble-grid", type=int, nargs="+", default=list(ENSEMBLE_GRID), help="with --table-ensemble or --runs-ensemble: the candidate values")
    parser.add_argument("--check-exact", action="store_true",
                        help="compare the model's single-curve spread as applied with the same factors applied exactly, as the rules score them (chooses nothing)")
    parser.add_argument("--all", action="store_true",
                        help="a newly trained model: --spread, --few-points, --far, --cooldowns, --runs, --runs-ensemble, --context-runs, --max-runs, "
                        "--replicate-from, --runs --by-observed, --runs --tables, --table-rows-inside, --isoflop-spread in turn, each written")
    parser.add_argument("--write", action="store_true", help="store the chosen temperature in the model's config.json")
    parser.add_argument("--json", type=Path, help="write the table as JSON")
    args = parser.parse_args(argv)

    if args.runs + args.spread + args.few_points + args.far + args.cooldowns + args.context_runs + args.max_runs + args.replicate_from + args.table_rows_inside + args.pool_weight + args.ladders + args.isoflop_spread + args.check_exact + args.table_ensemble + args.runs_ensemble + args.all > 1:
        parser.error("--all, --runs, --spread, --few-points, --far, --cooldowns, --context-runs, --max-runs, --replicate-from, "
                     "--table-rows-inside, --ladders, --pool-weight, --isoflop-spread, --table-ensemble, --runs-ensemble and --check-exact are exclusive")
    if args.pool_weight and not all(0.0 <= w <= 1.0 for w in args.pool_grid):
        parser.error("--pool-grid weights lie in [0, 1]")
    if args.by_direction and not args.spread:
        parser.error("--by-direction goes with --spread")
    if args.by_observed and not args.runs:
        parser.error("--by-observed goes with --runs")
    if args.without_tables and not args.by_observed:
        parser.error("--without-tables goes with --runs --by-observed")
    if args.tables and (not args.runs or args.by_observed):
        parser.error("--tables goes with --runs, without --by-observed")
    if args.all:
        if args.json:
            parser.error("--all writes each choice into the model's config.json; --json goes with one choice at a time")
        return calibrate_all(args)
    if args.check_exact:
        return check_exact(args)
    if args.table_ensemble or args.runs_ensemble:
        if not all(1 <= m <= MAX_ID_ENSEMBLE for m in args.ensemble_grid):
            parser.error(f"--ensemble-grid values lie in 1..{MAX_ID_ENSEMBLE}")
        return choose_ensemble(args, "table_ensemble" if args.table_ensemble else "runs_ensemble")
    if args.few_points:
        return choose_few_points(args)
    if args.isoflop_spread:
        return choose_isoflop_spread(args)
    if args.far:
        return choose_far(args)
    if args.cooldowns:
        return choose_cooldowns(args)
    if args.context_runs:
        return choose_context_runs(args)
    if args.max_runs:
        return choose_max_runs(args)
    if args.replicate_from:
        return choose_replicate_from(args)
    if args.table_rows_inside:
        return choose_table_rows_inside(args)
    if args.pool_weight:
        return choose_pool_weight(args)
    if args.ladders:
        return choose_ladder_temperature(args)
    model = curvecast.load(args.model, temperature=1.0, spread=1.0)
    tasks = {}
    if args.runs:
        sc = _load_sibling("scaling_benchmark", "scaling.py")
        tasks = validation_run_cells(sc, args.data)
        if args.tables or args.without_tables:  # score only the cells the choice reads
            tasks = {cell: made for cell, made in tasks.items() if (cell[0] in sc.TABLE_SOURCES) == args.tables}
    else:
        for source, curves in rc.load_curves(args.data).items():
            chosen = validation_curves(curves, args.max_curves, args.seed)
            for fraction in rc.FRACTIONS:
                made = rc.make_tasks(chosen, fraction)
                if made:
                    tasks[(source, fraction)] = made
    if not tasks:
        print("no validation tasks: every source is scored whole by the benchmark", file=sys.stderr)
        return 1
    print(f"validation split: {sorted({s for s, _ in tasks})}, {sum(len(t) for t in tasks.values())} tasks", file=sys.stderr)
    key = "temperature_runs" if args.runs else "spread" if args.spread else "temperature"
    table = []
    if args.spread:
        for (source, fraction), cell in tasks.items():
            parts = {d: [t for t in cell if t.direction == d] for d in DIRECTIONS} if args.by_direction else {"both": cell}
            for direction, part in parts.items():
                if not part:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                    for factor, scores in evaluate_spreads(model, part, args.grid).items():
                        table.append({"temperature": factor, "source": source, "fraction": fraction, "direction": direction, **scores})
                        print(f"spread={factor:<5g} {source:>16} f={fraction:.1f} {direction:>4}: capped nll {scores['nll_capped']:7.3f}  cov90 {scores['coverage90']:.3f}  n {scores['n']}")
        if args.by_direction:
            return write_spread_by_direction(args, model, table, sorted({s for s, _ in tasks}))
    else:
        for temperature in args.grid:
            setattr(model, key, float(temperature))
            for (source, fraction), cell in tasks.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                    scores = evaluate_runs(sc, model, source, cell, BENCHMARK_SEED) if args.runs else evaluate(model, cell)
                table.append({"temperature": temperature, "source": source, "fraction": fraction, **scores})
                print(f"{key}={temperature:<5g} {source:>16} f={fraction:.1f}: capped nll {scores['nll_capped']:7.3f}  cov90 {scores['coverage90']:.3f}  n {scores['n']}")
    if args.by_observed:
        return write_runs_by_observed(args, model, table, sorted({s for s, _ in tasks}))
    if args.tables:
        return write_runs_for_tables(args, model, table, sorted({s for s, _ in tasks}))
    if args.spread:
        best, score, coverage, in_band = report_grid(args, table, key, lambda score, coverage, in_band: choose_spread(in_band, args.grid))
    else:
        best, score, coverage, in_band = report_grid(args, table, key, lambda score, coverage, in_band: closest_coverage(score, coverage, args.grid))
    if args.write:
        split = (
            f"hold-outs benchmarks/scaling.py does not score ({sorted({s for s, _ in tasks})})"
            if args.runs
            else f"validation curves the real-curve benchmark does not score ({sorted({s for s, _ in tasks})}, up to {args.max_curves} per source, seed {args.seed})"
        )
        rule = "most cells with 90% coverage in [0.85, 0.95], then the smallest factor," if args.spread else "mean 90% coverage closest to 0.9"
        flag = " --runs" if args.runs else " --spread" if args.spread else ""
        write_choice(
            model.path, key, best, f"benchmarks/calibrate.py{flag}: {rule} over the grid {args.grid} on {split}",
            {"capped_nll": score, "coverage90": coverage, "cells_in_band": in_band},
            extra=SPREAD_REPLACES_TEMPERATURE if args.spread else None,
            drop=SPREAD_DROPS if args.spread else TABLE_FACTOR_KEYS if args.runs else [],
        )
    return 0


def report_grid(args: argparse.Namespace, table: Sequence[dict], label: str, choose) -> tuple[float, dict, dict, dict]:
    """Summarize ``table`` over ``args.grid`` (:func:`summarize_grid`), choose with ``choose(score, coverage,
    in_band)``, print one line per value (the choice marked) and write ``--json``; returns the choice and the
    three summaries."""
    score, coverage, in_band = summarize_grid(table, "temperature", args.grid)
    best = choose(score, coverage, in_band)
    for t in args.grid:
        print(f"{label}={t:<5g} mean capped nll {score[t]:.4f}  mean cov90 {coverage[t]:.3f}  cells in [0.85, 0.95]: {in_band[t]}" + ("   <- chosen" if t == best else ""))
    write_table(args.json, table, best, score=score, coverage=coverage)
    return best, score, coverage, in_band


def choose_spread(in_band: dict, grid: Sequence[float]) -> float:
    """Sharpness subject to calibration (Gneiting et al. 2007): of the factors with the most cells in band
    (``in_band``, from :func:`summarize_grid`), the smallest; the mean coverage would let one misread source
    (modded-nanogpt's cooldowns) widen all."""
    return min(grid, key=lambda t: (-in_band[t], t))


def choose_by_group(args: argparse.Namespace, table: Sequence[dict], groups: dict[str, list[dict]], choose, label: str) -> tuple[dict, dict] | None:
    """``choose(score, coverage, in_band)`` (the :func:`summarize_grid` of a group's cells) per group of ``table``'s
    cells; prints each group's grid and writes ``--json``. ``None`` (after saying which) when a group has no cells."""
    chosen, validation = {}, {}
    for name, rows in groups.items():
        if not rows:
            print(f"no validation cells of {name!r}", file=sys.stderr)
            return None
        score, coverage, in_band = summarize_grid(rows, "temperature", args.grid)
        chosen[name] = choose(score, coverage, in_band)
        validation[name] = {"capped_nll": score, "coverage90": coverage, "cells_in_band": in_band}
        for t in args.grid:
            print(f"{name} {label}={t:<5g} mean capped nll {score[t]:.4f}  mean cov90 {coverage[t]:.3f}  cells in [0.85, 0.95]: {in_band[t]}"
                  + ("   <- chosen" if t == chosen[name] else ""))
    if args.json:
        args.json.write_text(json.dumps({"table": list(table), "validation": validation, "chosen": chosen}, indent=2) + "\n")
    return chosen, validation


def write_spread_by_direction(args: argparse.Namespace, model: curvecast.Predictor, table: Sequence[dict], sources: Sequence[str]) -> int:
    """``--spread --by-direction``: :func:`choose_spread` per direction, over that direction's cells."""
    groups = {d: [r for r in table if r["direction"] == d] for d in DIRECTIONS}
    result = choose_by_group(args, table, groups, lambda score, coverage, in_band: choose_spread(in_band, args.grid), "spread")
    if result is None:
        return 1
    chosen, validation = result
    if args.write:
        how = (
            "benchmarks/calibrate.py --spread --by-direction: per direction (min: losses, max: accuracies), most cells "
            f"with 90% coverage in [0.85, 0.95], then the smallest factor, over the grid {args.grid} on that direction's "
            f"validation curves the real-curve benchmark does not score ({sources}, up to {args.max_curves} per source, seed {args.seed})"
        )
        write_choice(model.path, "spread", chosen, how, validation, extra=SPREAD_REPLACES_TEMPERATURE, drop=SPREAD_DROPS)
    return 0


def closest_coverage(score: dict, coverage: dict, grid: Sequence[float]) -> float:
    """The temperature whose mean 90% coverage is closest to 0.9, ties to the lower mean capped NLL."""
    return min(grid, key=lambda t: (round(abs(coverage[t] - 0.9), 3), score[t]))


def write_runs_by_observed(args: argparse.Namespace, model: curvecast.Predictor, table: Sequence[dict], sources: Sequence[str]) -> int:
    """``--runs --by-observed``: :func:`closest_coverage` apart over the cells whose held-out runs are not
    started (fraction 0, and every cell of a scaling table: its rows to predict have no points) and those
    observed for a while (curves at fraction > 0). With ``--without-tables`` the tables' cells are left out of
    both groups and a ``"table"`` factor the model has is kept: the tables' rows take that factor, not these."""
    tables = _load_sibling("scaling_benchmark", "scaling.py").TABLE_SOURCES
    without_tables = getattr(args, "without_tables", False)
    if without_tables:
        table = [r for r in table if r["source"] not in tables]
        sources = [s for s in sources if s not in tables]
    unobserved = [r for r in table if r["fraction"] == 0 or r["source"] in tables]
    groups = {"unobserved": unobserved, "observed": [r for r in table if r not in unobserved]}
    result = choose_by_group(args, table, groups, lambda score, coverage, in_band: closest_coverage(score, coverage, args.grid), "temperature_runs")
    if result is None:
        return 1
    chosen, validation = result
    if args.write:
        kept = {}
        if without_tables:
            current = stored_calibration(model.path).get("temperature_runs")
            if isinstance(current, dict) and TABLE_KIND in current:
                kept = {TABLE_KIND: current[TABLE_KIND]}
        cells = "curves at fraction 0" if without_tables else "fraction 0 and table rows"
        how = (
            f"benchmarks/calibrate.py --runs --by-observed{' --without-tables' if without_tables else ''}: per kind of held-out run "
            f"(unobserved: {cells}; observed: curves at fraction 0.2), mean 90% coverage closest to 0.9 over the grid {args.grid} on "
            f"hold-outs benchmarks/scaling.py does not score ({list(sources)})" + ("; the table factor as it was" if kept else "")
        )
        write_choice(model.path, "temperature_runs", {**chosen, **kept}, how, validation, drop=() if kept else TABLE_FACTOR_KEYS)
    return 0


def write_runs_for_tables(args: argparse.Namespace, model: curvecast.Predictor, table: Sequence[dict], sources: Sequence[str]) -> int:
    """``--runs --tables``: :func:`closest_coverage` over the scaling tables' cells; the choice is stored as the
    ``"table"`` factor of ``temperature_runs`` beside the model's factors for curves."""
    how = (
        "benchmarks/calibrate.py --runs --tables: the table factor, mean 90% coverage closest to 0.9 over the grid "
        f"{args.grid} on the scaling tables' hold-outs benchmarks/scaling.py does not score ({list(sources)}); the curves' factors as they were"
    )
    return choose_runs_factor(args, model.path, table, TABLE_KIND, how)


def choose_runs_factor(args: argparse.Namespace, model_path: str | Path, table: Sequence[dict], kind: str, how: str) -> int:
    """:func:`closest_coverage` over ``table``'s cells, printed; with ``--write`` stored as ``temperature_runs[kind]``."""
    best, score, coverage, in_band = report_grid(
        args, table, f"temperature_runs[{kind!r}]", lambda score, coverage, in_band: closest_coverage(score, coverage, args.grid)
    )
    if args.write:
        store_runs_factor(model_path, kind, best, how, {"capped_nll": score, "coverage90": coverage, "cells_in_band": in_band})
    return 0


def other_runs_factors(model_path: str | Path, kind: str) -> dict[str, float]:
    """The stored ``temperature_runs`` as factors per kind of run, without ``kind``'s."""
    current = stored_calibration(model_path).get("temperature_runs", 1.0)
    factors = dict(current) if isinstance(current, dict) else dict.fromkeys(("observed", "unobserved"), float(current))
    factors.pop(kind, None)
    return factors


def store_runs_factor(model_path: str | Path, kind: str, value: float, how: str, validation: dict) -> None:
    """Store ``temperature_runs[kind]`` beside the model's other factors, with how it was chosen and its scores."""
    store_calibration(model_path, {"temperature_runs": {**other_runs_factors(model_path, kind), kind: value},
                                   f"temperature_runs_{kind}_how": how, f"temperature_runs_{kind}_validation": validation})
    print(f"wrote calibration.temperature_runs[{kind!r}] = {value} to {model_path}", file=sys.stderr)


def cooldown_grid(end: float) -> list[float]:
    """``0.1, 0.2, ..., end``."""
    return [round(0.1 * k, 2) for k in range(1, int(round(end * 10)) + 1)]


def choose_cooldowns(args: argparse.Namespace) -> int:
    """``--cooldowns``: score each candidate grid on the validation split of the sources with a known
    schedule family, print the table, and with ``--write`` store the chosen grid (see the module docstring)."""
    schedules = dict(item.split("=", 1) for item in args.schedule) or {"modded_nanogpt": "wsd"}
    tasks = {}
    for source, curves in rc.load_curves(args.data, sources=list(schedules)).items():
        chosen = validation_curves(curves, args.max_curves, args.seed)
        for fraction in rc.FRACTIONS:
            made = [t for t in rc.make_tasks(chosen, fraction) if rc.run_config(t.curve, 0.0, schedules)]
            if made:
                tasks[(source, fraction)] = made
    if not tasks:
        print(f"no validation curves with total_steps in {sorted(schedules)}", file=sys.stderr)
        return 1
    print(f"validation split: {sorted({s for s, _ in tasks})}, {sum(len(t) for t in tasks.values())} tasks", file=sys.stderr)
    table = []
    model = curvecast.load(args.model)
    for end in args.cooldown_ends:
        model.wsd_cooldowns = tuple(cooldown_grid(end))
        for (source, fraction), cell in tasks.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                scores = evaluate(model, cell, schedules)
            table.append({"end": end, "source": source, "fraction": fraction, **scores})
            print(f"cooldowns 0.1..{end:<4g} {source:>16} f={fraction:.1f}: capped nll {scores['nll_capped']:7.3f}  cov90 {scores['coverage90']:.3f}  n {scores['n']}")
    ends = args.cooldown_ends
    score, _, in_band = summarize_grid(table, "end", ends)
    best = min(ends, key=lambda e: (-in_band[e], score[e]))
    for e in ends:
        print(f"cooldowns 0.1..{e:<4g} mean capped nll {score[e]:.4f}  cells in [0.85, 0.95]: {in_band[e]}" + ("   <- chosen" if e == best else ""))
    write_table(args.json, table, best, score=score)
    if args.write:
        how = (
            f"benchmarks/calibrate.py --cooldowns: most cells with 90% coverage in [0.85, 0.95], then the lower capped NLL, over the grids "
            f"0.1..END for END in {ends} on validation curves the real-curve benchmark does not score ({sorted({s for s, _ in tasks})}, "
            f"schedules {schedules}, up to {args.max_curves} per source, seed {args.seed})"
        )
        validation = {"capped_nll": {str(e): score[e] for e in ends}, "cells_in_band": {str(e): in_band[e] for e in ends}}
        write_choice(model.path, "wsd_cooldowns", cooldown_grid(best), how, validation)
    return 0


def choose_context_runs(args: argparse.Namespace) -> int:
    """``--context-runs``: score each candidate on the multi-run validation hold-outs, print the table, and with
    ``--write`` store the chosen value (see the module docstring)."""
    grid = sorted(set(args.context_grid))
    if grid[0] < 1:
        print(f"--context-grid values must be positive ints, got {grid}", file=sys.stderr)
        return 2

    def apply(model: curvecast.Predictor, value: int) -> None:
        model.context_runs = min(value, model.max_curve_runs)

    return choose_read_limit(args, curvecast.load(args.model), "context_runs", grid, apply, ties_to_larger=True)


def choose_max_runs(args: argparse.Namespace) -> int:
    """``--max-runs``: the same for ``max_runs``, the most runs (table rows included) read per pass; candidates
    above the architecture's ``ModelConfig.max_runs`` are dropped, ties go to the smaller value (the trained size)."""
    architecture = int(read_config(args.model or default_model_path())["model"]["max_runs"])
    grid = sorted({v for v in args.max_runs_grid if 1 <= v <= architecture})
    if not grid:
        print(f"--max-runs-grid needs values from 1 to the architecture's {architecture}, got {args.max_runs_grid}", file=sys.stderr)
        return 2
    # loaded at the architecture's limit, so a max_runs calibrated before does not cap the curves it trained on
    model = curvecast.load(args.model, max_runs=architecture)
    curve_runs = model.max_curve_runs

    def apply(model: curvecast.Predictor, value: int) -> None:
        model.max_runs = value
        model.max_curve_runs = min(curve_runs, value)

    return choose_read_limit(args, model, "max_runs", grid, apply, ties_to_larger=False)


def choose_replicate_from(args: argparse.Namespace) -> int:
    """``--replicate-from``: the same for ``replicate_from``, ties to the smaller value (0 reads seeds whole)."""
    grid = sorted(set(args.replicate_grid))
    if grid[0] < 0 or grid[-1] >= 1:
        print(f"--replicate-grid values must lie in [0, 1), got {grid}", file=sys.stderr)
        return 2

    def apply(model: curvecast.Predictor, value: float) -> None:
        model.replicate_from = float(value)

    return choose_read_limit(args, curvecast.load(args.model), "replicate_from", grid, apply, ties_to_larger=False)


#: Groups of each shared scaling table that ``benchmarks/table_interpolation.py --shared`` scores (the first by
#: name) and that ``--table-rows-inside`` therefore skips; of the rest it reads ``TABLE_VALIDATION_GROUPS`` each.
TABLE_SCORED_GROUPS = 3
TABLE_VALIDATION_GROUPS = 4


def choose_table_rows_inside(args: argparse.Namespace) -> int:
    """``--table-rows-inside``: the most rows a scaling-table prediction reads when its points lie inside the
    table. Every row of the validation tables (:func:`table_interpolation.validation_tables`) is left out in turn
    and predicted from the others at each value of ``--table-rows-grid``; the lowest mean capped NLL of the
    left-out rows wins, ties to the larger value (the largest, ``max_runs``, is the same as off)."""
    ti = _load_sibling("table_interpolation_benchmark", "table_interpolation.py")
    tables = ti.validation_tables(TABLE_SCORED_GROUPS, TABLE_VALIDATION_GROUPS, args.seed, args.data)
    model = curvecast.load(args.model)
    grid = sorted({min(int(v), model.max_runs) for v in args.table_rows_grid})
    print(f"validation tables: {len(tables)}, {sum(len(t) for t in tables.values())} rows", file=sys.stderr)
    score, coverage = {}, {}
    for value in grid:
        model.table_rows_inside = value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
            frame = pd.concat([ti.leave_one_out(table, model) for table in tables.values()])
        result = ti.scores(frame)
        score[value], coverage[value] = result["nll_capped"], result["coverage90"]
    best = min(grid, key=lambda v: (round(score[v], 4), -v))
    for v in grid:
        print(f"table_rows_inside={v:<3} mean capped nll {score[v]:.4f}  cov90 {coverage[v]:.3f}" + ("   <- chosen" if v == best else ""))
    if args.write:
        how = (
            "benchmarks/calibrate.py --table-rows-inside: the lowest mean capped NLL (ties to the larger value) of every row left out in "
            f"turn and predicted from the rest, over {grid}, on scaling tables benchmarks/table_interpolation.py does not score ({sorted(tables)})"
        )
        write_choice(model.path, "table_rows_inside", best, how, {"capped_nll": {str(v): score[v] for v in grid},
                                                                   "coverage90": {str(v): coverage[v] for v in grid}})
    return 0


def choose_ladder_temperature(args: argparse.Namespace) -> int:
    """``--ladders``: the tables model's ``temperature_runs["ladder"]``, the temperature of a table made of a sweep's
    finished runs (:func:`curvecast.scaling.fit_runs`): on the ``--runs`` hold-outs of the size ladders not started
    (fraction 0; ``benchmarks/scaling.py``'s method ``table``), each value of ``--grid``, :func:`closest_coverage`
    (mean 90% coverage closest to 0.9, ties to the lower mean capped NLL), as ``--runs --tables`` chooses the table
    factor on scaling tables. Written beside the model's other factors."""
    sc = _load_sibling("scaling_benchmark", "scaling.py")
    model = curvecast.load(args.table_model) if args.table_model else curvecast.scaling.load_table_predictor()
    cells = {cell: made for cell, made in validation_run_cells(sc, args.data).items() if cell[1] == 0.0 and cell[0] not in sc.TABLE_SOURCES}
    factors = other_runs_factors(model.path, LADDER_KIND)
    table = []
    for temperature in args.grid:
        model.temperature_runs = {**factors, LADDER_KIND: float(temperature)}
        for (source, fraction), tasks in cells.items():
            rows = run_records(sc, model, source, "table", tasks)
            if not rows:
                continue
            scores = records_summary(rows)
            table.append({"temperature": temperature, "source": source, "fraction": fraction, **scores})
            print(f"ladder temperature={temperature:<5g} {source:>16}: capped nll {scores['nll_capped']:7.3f}  cov90 {scores['coverage90']:.3f}  n {scores['n']}")
    how = (
        "benchmarks/calibrate.py --ladders: the factor of tables of a sweep's finished runs (scaling.fit_runs), mean 90% coverage "
        f"closest to 0.9 over the grid {args.grid} on the size ladders' runs not started, hold-outs benchmarks/scaling.py does not "
        f"score ({sorted({r['source'] for r in table})}); the other factors as they were"
    )
    return choose_runs_factor(args, model.path, table, LADDER_KIND, how)


#: Candidate values of ``--table-ensemble`` and ``--runs-ensemble``, and the most a forecast may move when the readings'
#: run ids are drawn with another seed (|median shift| in units of each target's scale; median over a cell, mean over
#: cells) for a value to count as settled.
ENSEMBLE_GRID = (1, 4, 8, 16, 32)
ID_TOLERANCE = 0.01


def table_cells(sc, data: Path) -> dict[tuple[str, float, str], list]:
    """Per (source, fraction, method): the validation hold-outs that read a table, the scaling tables' (``multi``) and
    the size ladders' runs not started (``table``, a sweep's final values read by ``scaling.fit_runs``)."""
    cells = {}
    for (source, fraction), tasks in validation_run_cells(sc, data).items():
        if source in sc.TABLE_SOURCES:
            cells[(source, fraction, "multi")] = tasks
        elif fraction == 0.0:
            cells[(source, fraction, "table")] = tasks
    return cells


def ensemble_choice(validation: dict[str, dict[str, float]], grid: Sequence[int]) -> int:
    """The smallest of ``grid`` whose ``validation[str(value)]["id_shift"]`` is at most ``ID_TOLERANCE``; the largest
    of ``grid`` when none is."""
    settled = [m for m in grid if validation[str(m)]["id_shift"] <= ID_TOLERANCE]
    return min(settled) if settled else max(grid)


def runs_cells(sc, data: Path) -> dict[tuple[str, float, str], list]:
    """Per (source, fraction, ``multi``): the validation hold-outs predicted from other runs that are not a table's."""
    return {(source, fraction, "multi"): tasks for (source, fraction), tasks in validation_run_cells(sc, data).items() if source not in sc.TABLE_SOURCES}


def choose_ensemble(args: argparse.Namespace, key: Literal["table_ensemble", "runs_ensemble"]) -> int:
    """``--table-ensemble`` / ``--runs-ensemble``: the tables model's ``table_ensemble`` (how many readings of a table,
    each with its rows' run ids drawn anew, are mixed), or the model's ``runs_ensemble`` (the same for predictions from
    several runs that are not a table's). Not a fit to the data: one reading depends on which run carries which id,
    which says nothing about the runs. On the validation hold-outs of that kind (tables: the scaling tables' and size
    ladders' runs not started; runs: the ``--runs`` hold-outs of the curve sources), each candidate is read with two
    seeds of the ids (``*_ensemble_seed`` 0 and 1); the choice is the smallest value whose forecasts' medians move by at
    most ``ID_TOLERANCE`` of the targets' scale between the two (the median over a cell's targets, the mean over
    cells). Capped NLL and coverage (seed 0) are reported beside it."""
    sc = _load_sibling("scaling_benchmark", "scaling.py")
    if key == "table_ensemble":
        path = args.table_model or curvecast.scaling.table_model_path()
        cells, what = table_cells(sc, args.data), "that read a table"
    else:
        path = args.model or default_model_path()
        cells, what = runs_cells(sc, args.data), "predicted from other runs that are not a table's"
    cells = {cell: tasks for cell, tasks in cells.items() if tasks}
    validation = {}
    for members in args.ensemble_grid:
        readings = [curvecast.load(path, **{key: int(members), f"{key}_seed": seed}) for seed in (0, 1)]
        nll, coverage, shift = [], [], []
        for cell, tasks in cells.items():
            rows, other = (run_records(sc, model, cell[0], cell[2], tasks) for model in readings)  # the same targets, in the same order
            if not rows:
                continue
            summary = records_summary(rows)
            nll.append(summary["nll_capped"])
            coverage.append(summary["coverage90"])
            # the median over targets: a ladder of a metric that never moved has a scale near 0 (scaling.py's floor)
            shift.append(float(np.median([abs(r["median"] - o["median"]) / r["scale"] for r, o in zip(rows, other, strict=True)])))
            print(f"{key}={members:<3d} {cell[0]:>16} f={cell[1]:.1f} {cell[2]:>5}: capped nll {nll[-1]:7.3f}  cov90 {coverage[-1]:.3f}  "
                  f"id shift {shift[-1]:.4f}  n {len(rows)}")
        if not nll:
            print(f"no validation hold-outs {what}", file=sys.stderr)
            return 1
        validation[str(members)] = {"capped_nll": float(np.mean(nll)), "coverage90": float(np.mean(coverage)), "id_shift": float(np.mean(shift))}
    chosen = ensemble_choice(validation, args.ensemble_grid)
    for m in args.ensemble_grid:
        v = validation[str(m)]
        print(f"{key} {m:<3d} mean capped nll {v['capped_nll']:.4f}  mean cov90 {v['coverage90']:.3f}  id shift {v['id_shift']:.4f}"
              + ("   <- chosen" if m == chosen else ""))
    if args.json:
        args.json.write_text(json.dumps({"validation": validation, "chosen": chosen}, indent=2) + "\n")
    if args.write:
        how = (
            f"benchmarks/calibrate.py --{key.replace('_', '-')}: the smallest number of readings (each with the runs' ids drawn anew) whose "
            f"forecasts' medians move by at most {ID_TOLERANCE} of the target's scale (median over a cell's targets, mean over cells) "
            f"when the ids are drawn with another seed, over {list(args.ensemble_grid)}, on the hold-outs benchmarks/scaling.py does not "
            f"score {what} ({sorted({c[0] for c in cells})}); capped NLL and coverage reported"
        )
        write_choice(path, key, int(chosen), how, validation)
    return 0


#: The hold-outs ``--pool-weight`` scores (fractions of each run's points observed, as in ``benchmarks/scaling.py``),
#: the fractions of the run's x where its rule places anchors (what ``scaling.pool_weight`` reads), and the weights tried.
POOL_TASK_FRACTIONS = (0.0, 0.2, 0.5)
POOL_ANCHORS = (0.0, 0.2, 0.5)
POOL_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def pool_components(sc, model: curvecast.Predictor, table_model: curvecast.Predictor, task) -> tuple | None:
    """The two forecasts :func:`curvecast.scaling.predict_final` pools for ``task`` (the run's own forecast given
    the context runs, and the context runs read as a table: a ladder's sizes, or a setting's other seeds); None for
    a ladder run of unknown size or a failure."""
    group = task.group
    if not group.seeds and not np.isfinite(task.run.n_params):
        return None
    target, runs = sc.placed_runs(task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
        try:
            pooled = curvecast.scaling.predict_final(
                target, runs, task.x_final, direction=group.direction, model=model, table_model=table_model, weight=1.0, points=group.points
            )
        except (curvecast.errors.CurvecastError, ValueError):
            return None
    return tuple(pooled.components)


def monotone_rules(grid: Sequence[float], n_anchors: int) -> list[tuple[float, ...]]:
    """Every non-decreasing choice of ``n_anchors`` weights from ``grid`` (more of a run seen never weighs its own
    forecast less)."""
    if n_anchors == 0:
        return [()]
    return [(w, *rest) for w in grid for rest in monotone_rules([v for v in grid if v >= w], n_anchors - 1)]


def pooled_nll(item: dict, weight: float) -> float:
    """The capped NLL (scale units) of the pool of ``item``'s two forecasts with the run's own weighted ``weight``."""
    terms = [np.log(w) + lp for w, lp in ((weight, item["logpdf_own"]), (1.0 - weight, item["logpdf_table"])) if w > 0]
    logpdf = float(np.logaddexp.reduce(terms)) + np.log(item["scale"])
    return min(-logpdf, rc.NLL_CAP) if np.isfinite(logpdf) else rc.NLL_CAP


#: The rules ``--pool-weight`` chooses: the tables model's calibration key, and which hold-outs score it.
POOL_RULES = {"pool_weight": "ladders", "pool_weight_replicates": "seeds"}


def choose_pool_weight(args: argparse.Namespace) -> int:
    """``--pool-weight``: the rules by which :func:`curvecast.scaling.predict_final` weighs a run's own forecast
    against its sweep's table reading: one weight at each fraction of the run's x in ``POOL_ANCHORS``, linear
    between (:func:`curvecast.scaling.pool_weight`); ``pool_weight`` for size ladders, ``pool_weight_replicates``
    for runs whose setting's other seeds are in the sweep. Scored on the hold-outs of ``--runs`` (the 4th to 6th
    largest run of each size ladder, from the strictly smaller ones, or three seeds per record that
    ``benchmarks/scaling.py`` does not score) with ``POOL_TASK_FRACTIONS`` of their points seen, each task weighted
    by the rule at its own fraction of x seen (Pythia's and Gadre's checkpoints are log-spaced early: a fifth of the
    points is a twelfth of the steps or less). Every non-decreasing choice of anchor weights from ``--pool-grid``
    is tried; the lowest mean capped NLL over the (source, fraction) cells wins, ties to the smaller weights. Written
    to the tables model's calibration (``--table-model``, default the shipped one) as ``{"fractions": [...],
    "weights": [...]}``."""
    from curvecast.pooling import pool

    sc = _load_sibling("scaling_benchmark", "scaling.py")
    model = curvecast.load(args.model)
    table_model = curvecast.load(args.table_model) if args.table_model else curvecast.scaling.load_table_predictor()
    cells: dict[str, dict[tuple[str, float], list[dict]]] = {kind: {} for kind in POOL_RULES.values()}
    for source in sc.SOURCES:
        if source in sc.TABLE_SOURCES:
            continue
        for group in sc.load_groups(args.data.resolve(), source):
            for fraction in POOL_TASK_FRACTIONS:
                for task in validation_run_tasks(sc, group, fraction, BENCHMARK_SEED):
                    parts = pool_components(sc, model, table_model, task)
                    if parts is None:
                        continue
                    y = float(task.y_true[0])
                    cells["seeds" if group.seeds else "ladders"].setdefault((source, fraction), []).append({
                        "parts": parts, "y": y, "scale": float(task.scale[0]),
                        "seen": float(task.x_obs[-1] / task.x_final) if task.n_obs else 0.0,
                        "logpdf_own": float(parts[0].logpdf(y)[0]), "logpdf_table": float(parts[1].logpdf(y)[0]),
                    })
    table, chosen = [], {}
    for key, kind in POOL_RULES.items():
        if not cells[kind]:
            print(f"{key}: no {kind} hold-outs", file=sys.stderr)
            continue
        best, rows = choose_pool_rule(cells[kind], sorted(set(args.pool_grid)), pool)
        chosen[key] = {"fractions": list(POOL_ANCHORS), "weights": list(best)}
        table += [{"key": key, **r} for r in rows]
        print(f"{key} = {chosen[key]}")
    write_table(args.json, table, chosen)
    if args.write:
        for key, rule in chosen.items():
            how = (
                f"benchmarks/calibrate.py --pool-weight: the own forecast's weights at {list(POOL_ANCHORS)} of the run's x seen "
                f"(non-decreasing, from {sorted(set(args.pool_grid))}) with the lowest mean capped NLL over the (source, fraction) cells, "
                f"ties to the smaller, on {POOL_RULES[key]} hold-outs benchmarks/scaling.py does not score (the 4th-6th largest run of each "
                f"size ladder, or three seeds per record) seen for {list(POOL_TASK_FRACTIONS)} of their points"
            )
            validation = {f"{r['rule']}/{r['source']}/{r['fraction']}": {k: r[k] for k in ("weights", "nll_capped", "coverage90", "n")}
                          for r in table if r["key"] == key}
            write_choice(table_model.path, key, rule, how, validation)
    return 0


def choose_pool_rule(cells: dict[tuple[str, float], list[dict]], grid: Sequence[float], pool) -> tuple[tuple[float, ...], list[dict]]:
    """The best non-decreasing anchor weights for ``cells`` (see :func:`choose_pool_weight`), and the scores of it
    and of three reference rules per cell, printed."""
    print(f"validation hold-outs: { {f'{s} f={f}': len(v) for (s, f), v in sorted(cells.items())} }", file=sys.stderr)

    def scores(weights: tuple[float, ...]) -> dict[tuple[str, float], float]:
        rule = {"fractions": list(POOL_ANCHORS), "weights": list(weights)}
        return {cell: float(np.mean([pooled_nll(it, curvecast.scaling.pool_weight(it["seen"], rule)) for it in items])) for cell, items in cells.items()}

    candidates = monotone_rules(grid, len(POOL_ANCHORS))
    mean_score = {w: float(np.mean(list(scores(w).values()))) for w in candidates}
    best = min(candidates, key=lambda w: (round(mean_score[w], 4), w))
    shown = {"table alone": (0.0,) * len(POOL_ANCHORS), "own forecast alone": (1.0,) * len(POOL_ANCHORS),
             "default (the fraction seen)": tuple(POOL_ANCHORS), "chosen": best}
    rows = []
    for label, weights in shown.items():
        rule = {"fractions": list(POOL_ANCHORS), "weights": list(weights)}
        per_cell = scores(weights)
        for (source, fraction), items in sorted(cells.items()):
            covered = []
            for it in items:
                w = curvecast.scaling.pool_weight(it["seen"], rule)
                low, high = pool(it["parts"], [w, 1.0 - w]).interval(0.9)
                covered.append(bool(low[0] <= it["y"] <= high[0]))
            rows.append({"rule": label, "weights": list(weights), "source": source, "fraction": fraction,
                         "nll_capped": per_cell[source, fraction], "coverage90": float(np.mean(covered)), "n": len(items)})
        cells_text = "  ".join(f"{r['source']} f={r['fraction']} {r['nll_capped']:.3f}/{r['coverage90']:.2f}" for r in rows if r["rule"] == label)
        print(f"{label:<28} {list(weights)}  mean capped nll {float(np.mean(list(per_cell.values()))):.4f}   {cells_text}")
    return best, rows


def choose_read_limit(args: argparse.Namespace, model: curvecast.Predictor, key: str, grid: Sequence[float], apply, *, ties_to_larger: bool) -> int:
    """Score each ``grid`` value of the read limit ``key`` (set on ``model`` by ``apply``) on the multi-run
    validation hold-outs at the model's ``temperature_runs``, print the table, pick the lowest mean capped NLL
    (ties by ``ties_to_larger``) and with ``--write`` store it in the model's calibration."""
    sc = _load_sibling("scaling_benchmark", "scaling.py")
    tasks = validation_run_cells(sc, args.data)
    print(f"validation split: {sorted({s for s, _ in tasks})}, {sum(len(t) for t in tasks.values())} tasks", file=sys.stderr)
    table = []
    for value in grid:
        apply(model, value)
        for (source, fraction), cell in tasks.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", curvecast.errors.CurvecastWarning)
                scores = evaluate_runs(sc, model, source, cell, BENCHMARK_SEED)
            table.append({key: value, "source": source, "fraction": fraction, **scores})
            print(f"{key}={value!s:<4} {source:>16} f={fraction:.1f}: capped nll {scores['nll_capped']:7.3f}  cov90 {scores['coverage90']:.3f}  n {scores['n']}")
    score, coverage, _ = summarize_grid(table, key, grid)
    best = min(grid, key=lambda v: (round(score[v], 4), -v if ties_to_larger else v))
    for v in grid:
        print(f"{key}={v!s:<4} mean capped nll {score[v]:.4f}  mean cov90 {coverage[v]:.3f}" + ("   <- chosen" if v == best else ""))
    write_table(args.json, table, best, score=score, coverage=coverage)
    if args.write:
        how = (
            f"benchmarks/calibrate.py --{key.replace('_', '-')}: the lowest mean capped NLL (ties to the {'larger' if ties_to_larger else 'smaller'} value) "
            f"over {list(grid)} at temperature_runs {model.temperature_runs} on hold-outs benchmarks/scaling.py does not score ({sorted({s for s, _ in tasks})})"
        )
        validation = {"capped_nll": {str(v): score[v] for v in grid}, "coverage90": {str(v): coverage[v] for v in grid}}
        write_choice(model.path, key, best, how, validation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
