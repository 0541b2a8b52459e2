"""How early do loss curves make their progress, and how far do they then leave their early power law? Real against prior.

    python benchmarks/early_phase.py                                   # real loss curves, then the shipped synthetic prior
    python benchmarks/early_phase.py --prior 'tau_end_range=[10, 1e5]' --json benchmarks/results/early_phase.json
    python benchmarks/early_phase.py --by-component gemstones --json benchmarks/results/early_phase_components.json

Two statistics per loss curve (direction ``min``, at least ``MIN_POINTS`` points):

* ``early_progress`` (:mod:`curvecast.priors.fidelity`): the share of the curve's total improvement made by 20%
  of its x range;
* ``departure``: a power law ``y = a + b t^-c`` fitted to the points in the first 20% of the x range
  (``realcurves.fit_power_law``, the benchmark's baseline, at least 5 points), extrapolated to the last x;
  ``(extrapolation - last y) / range of y`` (positive: the curve ended below its early power law).

A network trained on a prior whose curves often leave their early trend has to hedge that any smooth real curve
might too, so its bands are wide where real curves are predictable. The prior is the shipped model's synthetic
prior (``CurvePrior`` with its ``prior_overrides``) restricted to single-run loss tasks, with ``--prior``
overrides on top (JSON values).

``--by-component SOURCE`` asks where a forecast's room for late change comes from: among config-less prior runs
(what the network sees for a curve given without a config) whose first 20% looks as clean a power law as SOURCE's
loss curves (RMS residual of the early fit at most the 90% quantile of SOURCE's), the share that end more than
``DEPARTURE`` of their range below the early power law (late gains) or above it (late slowdowns), for every
progress family x LR schedule.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from curvecast import priors
from curvecast.pfn.checkpoint import read_config
from curvecast.predictor import default_model_path
from curvecast.priors import SCHEDULES
from curvecast.priors.families import FAMILY_NAMES
from curvecast.priors.fidelity import curve_statistics

HERE = Path(__file__).resolve().parent
MIN_POINTS = 20
#: Share of the x range the early power law is fitted to.
EARLY = 0.2
#: A curve "leaves its early power law" when it ends more than this share of its range away from it.
DEPARTURE = 0.1


def _load_sibling(module_name: str, filename: str):
    """A script of benchmarks/ (no package) as a module, loaded once under ``module_name``."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HERE / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


rc = _load_sibling("realcurves_benchmark", "realcurves.py")


def early_power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One power-law fit to the first ``EARLY`` of the x range, two statistics (NaN where it cannot be fitted):

    * ``context_residual``: its RMS residual over the points it was fitted to, in units of their range (how clean
      a power law the observed part looks);
    * ``departure``: its signed miss at the last x, in units of the curve's range (positive: the curve ended below).

    Points that repeat the previous x (prior runs logged in rounded steps) are dropped: a power law needs distinct x."""
    nan = float("nan")
    distinct = np.concatenate([[True], np.diff(x) > 0])
    x, y = x[distinct], y[distinct]
    early = x <= x[0] + EARLY * (x[-1] - x[0])
    if early.sum() < 5 or np.ptp(y[early]) <= 1e-9 * max(1.0, float(np.abs(y).max())) or np.ptp(y) <= 0:
        return nan, nan
    try:
        fit = rc.fit_power_law(x[early], y[early])
    except ValueError:
        return nan, nan
    mean = rc.power_law_gaussian(fit, x[early], np.concatenate([x[early], x[-1:]]))[0]
    residual = float(np.sqrt(np.mean((mean[:-1] - y[early]) ** 2)) / np.ptp(y[early]))
    miss = (float(mean[-1]) - float(y[-1])) / float(np.ptp(y)) if np.isfinite(mean[-1]) else nan
    return residual, miss


def departure(x: np.ndarray, y: np.ndarray) -> float:
    """:func:`early_power_law`'s ``departure`` alone."""
    return early_power_law(x, y)[1]


def context_residual(x: np.ndarray, y: np.ndarray) -> float:
    """:func:`early_power_law`'s ``context_residual`` alone."""
    return early_power_law(x, y)[0]


def summarize(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    progress = np.array([curve_statistics(x, y, "min")["early_progress"] for x, y in curves])
    miss = np.array([departure(x, y) for x, y in curves])
    miss = miss[np.isfinite(miss)]
    q10, q50, q90 = np.nanquantile(progress, [0.1, 0.5, 0.9])
    return {
        "n_curves": len(curves),
        "early_progress_q10": float(q10),
        "early_progress_median": float(q50),
        "early_progress_q90": float(q90),
        "n_fitted": int(miss.size),
        "departure_median_abs": float(np.median(np.abs(miss))) if miss.size else float("nan"),
        "share_departing": float(np.mean(np.abs(miss) > DEPARTURE)) if miss.size else float("nan"),
    }


def real_losses(data: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    out = {}
    for source, curves in rc.load_curves(data).items():
        losses = [(c.x, c.y) for c in curves if c.direction == "min" and rc.usable(c) and len(c.x) >= MIN_POINTS]
        if losses:
            out[source] = losses
    return out


@functools.cache
def _shipped_prior_overrides() -> dict:
    return read_config(default_model_path())["training"]["train"]["prior_overrides"]


def prior_losses(overrides: dict, n_tasks: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    fields = {**_shipped_prior_overrides(), "p_max_direction": 0.0, "p_table": 0.0, "p_single_run": 1.0, **overrides}
    batch = priors.named("default", **fields).sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    out = []
    for t in range(n_tasks):
        mask = batch.point_mask[t, 0]
        if int(mask.sum()) >= MIN_POINTS:
            out.append((batch.x[t, 0][mask].double().numpy(), batch.y[t, 0][mask].double().numpy()))
    return out


def by_component(reference: Sequence[tuple[np.ndarray, np.ndarray]], overrides: dict, n_tasks: int, seed: int) -> dict:
    """Among config-less prior loss runs whose first 20% looks as clean a power law as ``reference``'s (context
    residual at most its 90% quantile), the share that end more than ``DEPARTURE`` of their range below the early
    power law (a late gain the forecast must leave room for) and above it (a late slowdown), per progress family x
    LR schedule (one-hot weights)."""
    threshold = float(np.nanquantile([context_residual(x, y) for x, y in reference], 0.9))
    table = {}
    for fi, family in enumerate(FAMILY_NAMES):
        for si, schedule in enumerate(SCHEDULES):
            one_hot = {
                "family_weights": [float(j == fi) for j in range(len(FAMILY_NAMES))],
                "schedule_weights": [float(j == si) for j in range(len(SCHEDULES))],
                "p_config_known": 0.0,
            }
            fitted = [early_power_law(x, y) for x, y in prior_losses({**overrides, **one_hot}, n_tasks, seed)]
            miss = np.array([m for residual, m in fitted if residual <= threshold])
            miss = miss[np.isfinite(miss)]
            table[f"{family} / {schedule}"] = {
                "n_smooth": int(miss.size),
                "late_gain": float(np.mean(miss > DEPARTURE)) if miss.size else float("nan"),
                "late_slowdown": float(np.mean(miss < -DEPARTURE)) if miss.size else float("nan"),
            }
    return {"context_residual_threshold": threshold, "cells": table}


def component_table(result: dict) -> str:
    lines = [
        f"Config-less prior loss runs with a clean early power law (context residual <= {result['context_residual_threshold']:.4f}):",
        f"share ending > {DEPARTURE} of their range below / above it, and runs counted.",
        "",
        "| family | " + " | ".join(SCHEDULES) + " |",
        "|---|" + "---|" * len(SCHEDULES),
    ]
    for family in FAMILY_NAMES:
        cells = [result["cells"][f"{family} / {schedule}"] for schedule in SCHEDULES]
        lines.append(f"| {family} | " + " | ".join(f"{c['late_gain']:.2f} / {c['late_slowdown']:.2f} ({c['n_smooth']})" for c in cells) + " |")
    return "\n".join(lines)


def row(name: str, s: dict[str, float]) -> str:
    return (
        f"| {name} | {s['n_curves']} | {s['early_progress_q10']:.2f} / {s['early_progress_median']:.2f} / {s['early_progress_q90']:.2f} "
        f"| {s['departure_median_abs']:.3f} | {s['share_departing']:.2f} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=rc.DEFAULT_DATA)
    parser.add_argument("--prior", nargs="*", default=[], metavar="FIELD=VALUE", help="CurvePrior fields to override (JSON values)")
    parser.add_argument("--tasks", type=int, default=600, help="prior tasks drawn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--by-component",
        metavar="SOURCE",
        help="also break late departures of config-less prior runs down by family x schedule, among runs whose early part "
        "looks as clean a power law as SOURCE's loss curves (e.g. gemstones)",
    )
    parser.add_argument("--component-tasks", type=int, default=250, help="prior tasks per family x schedule cell")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.prior)}
    results: dict[str, dict] = {"real": {}, "prior": {}}
    print(f"| loss curves | n | early progress q10 / median / q90 | median \\|departure\\| | share departing > {DEPARTURE} |")
    print("|---|---|---|---|---|")
    real = real_losses(args.data)
    for source, curves in real.items():
        results["real"][source] = s = summarize(curves)
        print(row(source, s), flush=True)
    variants = {"shipped prior": {}, **({f"shipped prior + {overrides}": overrides} if overrides else {})}
    for name, fields in variants.items():
        results["prior"][name] = s = summarize(prior_losses(fields, args.tasks, args.seed))
        print(row(name, s), flush=True)
    if args.by_component:
        if args.by_component not in real:
            parser.error(f"--by-component {args.by_component}: no loss curves of that source in {args.data} (have: {sorted(real)})")
        results["by_component"] = by_component(real[args.by_component], overrides, args.component_tasks, args.seed)
        print()
        print(component_table(results["by_component"]))
    if args.json:
        args.json.write_text(json.dumps({"overrides": overrides, "tasks": args.tasks, "seed": args.seed, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
