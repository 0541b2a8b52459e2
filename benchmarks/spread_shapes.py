"""Can a post-hoc spread rule bring more real-curve cells into the 90% coverage band? Shapes of the rule, scored.

    python benchmarks/spread_shapes.py --json benchmarks/results/spread_shapes.json     # 7.5 min on 2 CPU cores shared with a training run

The shipped model scales each single-curve predictive distribution about its median by one factor (``spread``,
chosen by ``calibrate.py --spread`` on the validation split). This script asks whether a richer rule, still
chosen on the validation split only, would put more of the benchmark's (source, fraction) cells into
[0.85, 0.95]. One forward pass per (split, source, fraction) at spread 1; every rule below is then applied
analytically (a distribution scaled about its median by ``s`` has quantiles ``m + s (q - m)`` and log density
``logpdf((y - m) / s + m) - log s``; with one factor per side of the median, each side keeps its half of the mass):

* ``one factor``: the shipped rule, one ``s`` for every curve;
* ``per side``: one factor for the improvement side of the median (below it for losses, above for accuracies),
  one for the other side (a network that over- or under-rates late gains);
* groups, one factor each: ``length known`` (the run config gives ``total_steps``) / losses / accuracies;
  smooth losses / rough losses / accuracies (``roughness`` below / above ``SMOOTH``); smooth / rough curves;
* ``backtest`` (prequential, Dawid 1984): the curve's own first half of observed points predicts its second half
  (curves with at least ``BACKTEST_MIN_POINTS`` observed), and ``backtest`` = the factor that would have covered
  90% of those points (the 90% quantile of ``|y - median| / (q - median)``, ``q`` the 5% or 95% quantile on y's
  side); curves are grouped into terciles of it (cuts from the validation split; shorter curves form their own
  group), one factor each. If a curve's in-sample misses foretold its out-of-sample ones, calm curves (Gemstones)
  would get narrower bands and rough ones wider. The report gives the rank correlation of ``backtest`` with the
  factor each curve's forecast needed (the same quantile over its held-out points).

``roughness`` = the last-value baseline's point-noise estimate over the observed part
(``realcurves.local_noise``) / the observed range: it only reads the context, as a rule applied at prediction
time must. Each rule's factors are chosen by ``calibrate.py --spread``'s criterion, the most validation cells in
band, with ties to the lower mean capped NLL (a pair of factors has no "smallest"); a group's cells are its
(source, fraction) cells. The benchmark's cells
(``realcurves.py``'s 300 curves per source, seed 0) are scored with the chosen factors and never used to choose.
Finally, ``smallest factor``: each benchmark cell's coverage with every curve at ``GRID[0]``, to show cells no
spread rule can bring down into the band.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

import curvecast
from curvecast.predictor import prequential_cut

HERE = Path(__file__).resolve().parent
#: Spread factors each rule chooses from.
GRID = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6)
#: Roughness below which a curve counts as smooth (about a third of the benchmark's loss curves).
SMOOTH = 0.02
#: Fewest observed points for the prequential backtest (half of them predict the other half).
BACKTEST_MIN_POINTS = 6


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
cal = _load_sibling("calibrate_benchmark", "calibrate.py")


def needed_factor(y: np.ndarray, median: np.ndarray, q05: np.ndarray, q95: np.ndarray) -> float:
    """The smallest spread factor about the median that puts at least 90% of the points ``y`` inside the 90%
    interval (``q05``, ``q95``) scaled by it: the 90% quantile (inverted CDF) of each point's distance from the
    median in units of the interval's half on its side (infinite where that half is empty)."""
    y, median, q05, q95 = (np.asarray(v, dtype=np.float64) for v in (y, median, q05, q95))
    half = np.where(y > median, q95 - median, median - q05)
    distance = np.abs(y - median)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(half > 0, distance / half, np.where(distance > 0, np.inf, 0.0))
    return float(np.quantile(ratio, 0.9, method="inverted_cdf"))


def backtest_curves(curves: Sequence[curvecast.Curve]) -> dict[int, curvecast.Curve]:
    """Per curve with at least ``BACKTEST_MIN_POINTS`` observed points: its first half of them (at least 3,
    :func:`curvecast.predictor.prequential_cut`, as the predictor's own backtest) as the observed part and the
    rest as queries, with the same config."""
    out = {}
    for i, c in enumerate(curves):
        if c.x.size >= BACKTEST_MIN_POINTS:
            cut = prequential_cut(c.x.size)
            out[i] = curvecast.Curve(c.x[:cut], c.y[:cut], c.x[cut:], direction=c.direction, config=c.config)
    return out


def curve_rows(model: curvecast.Predictor, tasks: Sequence, split: str, source: str, fraction: float) -> list[dict]:
    """Per curve: what the rules read (direction, roughness, whether the length is known, the prequential
    ``backtest`` factor or ``None``), the factor its forecast needed, and, for every pair of factors
    (improvement side, other side), its 90% coverage and capped mean NLL in range units."""
    curves = [rc.curvecast_curve(t) for t in tasks]
    backtests = backtest_curves(curves)
    preds = model.predict_many(curves + list(backtests.values()), progress=False)
    backtest = {}
    for (i, c), p in zip(backtests.items(), preds[len(curves) :], strict=True):
        bq05, bq95 = p.quantile([0.05, 0.95])
        backtest[i] = needed_factor(curves[i].y[c.x.size :], p.median, bq05, bq95)
    rows = []
    for i, (task, p) in enumerate(zip(tasks, preds[: len(curves)], strict=True)):
        y, m = task.y_query, p.median
        q05, q95 = p.quantile([0.05, 0.95])
        # per factor: each point's log density with the whole distribution scaled by it
        logpdf = {s: p.logpdf((y - m) / s + m) - np.log(s) for s in GRID}
        below = y < m
        improve_below = task.direction == "min"
        observed_range = float(np.ptp(task.y_obs))
        row = {
            "split": split,
            "source": source,
            "fraction": fraction,
            "direction": task.direction,
            "roughness": rc.local_noise(task.y_obs) / observed_range if observed_range > 0 else float("inf"),
            "length_known": rc.run_config(task.curve, 0.0) is not None,
            "backtest": backtest.get(i),
            "needed": needed_factor(y, m, q05, q95),
            "coverage": {},
            "nll_capped": {},
        }
        for a, b in itertools.product(GRID, GRID):  # a: improvement side, b: the other
            s_low, s_high = (a, b) if improve_below else (b, a)
            scaled = rc.Prediction(
                logpdf=np.where(below, logpdf[s_low], logpdf[s_high]), median=m, q05=m + s_low * (q05 - m), q95=m + s_high * (q95 - m)
            )
            metrics = rc.curve_metrics(task, scaled)  # the benchmark's own coverage and capped NLL
            row["coverage"][(a, b)] = metrics["coverage"]
            row["nll_capped"][(a, b)] = metrics["nll_capped"]
        rows.append(row)
    return rows


def cells(rows: Sequence[dict], factors: Callable[[dict], tuple[float, float]]) -> dict[tuple[str, float], dict[str, float]]:
    """(source, fraction) -> mean coverage and capped NLL of its curves, each scored with ``factors(row)``."""
    out: dict[tuple[str, float], list] = {}
    for r in rows:
        key = factors(r)
        out.setdefault((r["source"], r["fraction"]), []).append((r["coverage"][key], r["nll_capped"][key]))
    return {k: {"coverage90": float(np.mean([c for c, _ in v])), "nll_capped": float(np.mean([n for _, n in v]))} for k, v in out.items()}


def in_band(table: dict) -> int:
    lo, hi = rc.COVERAGE_TARGET
    return sum(lo <= c["coverage90"] <= hi for c in table.values())


def choose(rows: Sequence[dict], candidates: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The candidate with the most validation cells in band, ties to the lower mean capped NLL."""
    def score(key):
        table = cells(rows, lambda r: key)
        return (-in_band(table), float(np.mean([c["nll_capped"] for c in table.values()])))
    return min(candidates, key=score)


SYMMETRIC = [(s, s) for s in GRID]
GROUPINGS: dict[str, Callable[[dict], str]] = {
    "length known / losses / accuracies": lambda r: "length known" if r["length_known"] else r["direction"],
    "smooth losses / rough losses / accuracies": lambda r: "max" if r["direction"] == "max" else ("smooth min" if r["roughness"] < SMOOTH else "rough min"),
    "smooth / rough": lambda r: "smooth" if r["roughness"] < SMOOTH else "rough",
}


def backtest_grouping(validation: Sequence[dict]) -> Callable[[dict], str]:
    """Terciles of ``backtest`` over the validation curves that have one; curves without one form their own group."""
    low, high = np.quantile([r["backtest"] for r in validation if r["backtest"] is not None], [1 / 3, 2 / 3])

    def group_of(r: dict) -> str:
        b = r["backtest"]
        if b is None:
            return "too short"
        return "calm" if b < low else ("middle" if b < high else "wide")

    return group_of


def backtest_correlation(rows: Sequence[dict]) -> dict[str, float]:
    """Spearman rank correlation of ``backtest`` with the factor each forecast needed, per split and source
    (and over all of a split's curves), where at least 10 curves have both."""
    out = {}
    for split in ("validation", "benchmark"):
        for source in sorted({r["source"] for r in rows}):
            pairs = [(r["backtest"], r["needed"]) for r in rows if r["split"] == split and r["source"] == source and r["backtest"] is not None]
            if len(pairs) >= 10:
                out[f"{split} {source}"] = float(spearmanr(*zip(*pairs, strict=True))[0])
        pairs = [(r["backtest"], r["needed"]) for r in rows if r["split"] == split and r["backtest"] is not None]
        if len(pairs) >= 10:
            out[f"{split} all"] = float(spearmanr(*zip(*pairs, strict=True))[0])
    return out


def evaluate_rules(rows: Sequence[dict]) -> dict[str, dict]:
    """Each rule's factors (chosen on the validation rows) and its benchmark cells."""
    val = [r for r in rows if r["split"] == "validation"]
    bench = [r for r in rows if r["split"] == "benchmark"]
    out = {}
    groupings = {**GROUPINGS, "backtest terciles (calm / middle / wide / too short)": backtest_grouping(val)}
    one = choose(val, SYMMETRIC)
    out["one factor"] = {"factors": {"all": one}, "rule": lambda r: one}
    sides = choose(val, list(itertools.product(GRID, GRID)))
    out["per side (improvement, other)"] = {"factors": {"all": sides}, "rule": lambda r: sides}
    for name, group_of in groupings.items():
        chosen = {g: choose([r for r in val if group_of(r) == g], SYMMETRIC) for g in sorted({group_of(r) for r in val})}
        # a group the validation split lacks keeps the one-factor choice
        out[name] = {"factors": chosen, "rule": lambda r, chosen=chosen, group_of=group_of: chosen.get(group_of(r), one)}
    smallest = (GRID[0], GRID[0])
    out[f"smallest factor ({GRID[0]}, not a rule)"] = {"factors": {"all": smallest}, "rule": lambda r: smallest}
    for entry in out.values():
        entry["validation"] = cells(val, entry["rule"])
        entry["benchmark"] = cells(bench, entry.pop("rule"))
    return out


def report(results: dict[str, dict]) -> str:
    lines = ["| rule | factors (chosen on validation) | validation cells in band | benchmark cells in band | benchmark mean capped NLL |", "|---|---|---|---|---|"]
    for name, e in results.items():
        factors = ", ".join(f"{g}: {a}" if a == b else f"{g}: {a} / {b}" for g, (a, b) in e["factors"].items())
        nll = np.mean([c["nll_capped"] for c in e["benchmark"].values()])
        lines.append(f"| {name} | {factors} | {in_band(e['validation'])} of {len(e['validation'])} | {in_band(e['benchmark'])} of {len(e['benchmark'])} | {nll:.3f} |")
    names = list(results)
    lines += ["", "Benchmark coverage per cell, by rule:", "", "| source | f | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for source, fraction in sorted(results[names[0]]["benchmark"]):
        covs = " | ".join(f"{results[n]['benchmark'][(source, fraction)]['coverage90']:.3f}" for n in names)
        lines.append(f"| {source} | {fraction} | {covs} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=rc.DEFAULT_DATA)
    parser.add_argument("--model", default=None, help="curvecast model path (default: the shipped model)")
    parser.add_argument("--sources", nargs="+", help="only these sources (default: all)")
    parser.add_argument("--json", type=Path, help="write the chosen factors and per-cell coverage here")
    args = parser.parse_args(argv)
    model = curvecast.load(args.model, device="cpu", spread=1.0)
    curves = rc.load_curves(args.data, args.sources)
    rows: list[dict] = []
    for split in ("benchmark", "validation"):
        for source, source_curves in curves.items():
            if split == "benchmark":
                chosen = rc.select_curves(source_curves, cal.BENCHMARK_MAX_CURVES, cal.BENCHMARK_SEED)
            else:
                chosen = cal.validation_curves(source_curves, cal.VALIDATION_MAX_CURVES, cal.VALIDATION_SEED)
            for fraction in rc.FRACTIONS:
                if chosen:
                    rows.extend(curve_rows(model, rc.make_tasks(chosen, fraction), split, source, fraction))
            print(f"{split} {source}: {len(chosen)} curves", file=sys.stderr, flush=True)
    results = evaluate_rules(rows)
    correlation = backtest_correlation(rows)
    print(report(results))
    print("\nRank correlation (Spearman) of the backtest factor with the factor the forecast needed:\n")
    print("\n".join(f"- {k}: {v:.2f}" for k, v in correlation.items()))
    if args.json:
        serial = {
            name: {
                "factors": {g: list(f) for g, f in e["factors"].items()},
                **{split: {f"{s} f={f}": c for (s, f), c in e[split].items()} for split in ("validation", "benchmark")},
            }
            for name, e in results.items()
        }
        args.json.write_text(
            json.dumps({"model": args.model or "default", "grid": GRID, "smooth": SMOOTH, "backtest_correlation": correlation, "rules": serial}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
