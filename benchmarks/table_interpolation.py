"""Can the network interpolate a scaling table? Leave-one-out on finished runs, against linear interpolation.

    python benchmarks/table_interpolation.py                                  # the bundled Porian example, 3 s
    python benchmarks/table_interpolation.py --max-runs 8 16 32 48 --shared    # + Porian's and Gadre's tables

``benchmarks/scaling.py`` asks tables to extrapolate (a held-out larger budget). This asks the easier question a
user asks of a table every day, "how would a run between these end?": each row in turn is left out and predicted
by ``curvecast.scaling.fit`` on the others (``law.predict`` at its own N and D). Two baselines that read only its
neighbours: linear interpolation of the loss in ``(log10 N, log10 D)`` (scipy's ``LinearNDInterpolator``, rows
outside the others' convex hull left out of its column) and the nearest row's loss in that plane. Scores per
table and by the row's tokens per parameter ``D/N``: median ``|median - loss|`` (nats), the bias (median of
``median - loss``) and 90% coverage. ``--max-runs`` scores the network reading at most that many runs per pass
(``curvecast.load(max_runs=...)``: the rows nearest to the query are kept), which shows how much it pools a
row towards the rest of the table. Measured in BENCHMARKS.md ("Interpolating a scaling table").

Tables: ``examples/porian_isoflop.csv`` (bundled); with ``--shared``, also every setting of
``../shared/data/realcurves/porian2024_isoflop_table.csv`` and every (dataset, val_set) group of
``gadre2024_overtraining_table.csv`` (``--max-groups`` of each, the first by name).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import LinearNDInterpolator

import curvecast
from curvecast.errors import CurvecastWarning

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "porian_isoflop.csv"
SHARED = HERE.parent.parent / "shared" / "data" / "realcurves"
#: Bins of tokens per parameter the scores are split by.
DN_BINS = ((0.0, 1.0), (1.0, 10.0), (10.0, np.inf))
PORIAN_SETTING = ["dataset", "hparams", "warmup", "decay", "param_count", "val", "file"]


def load_tables(shared: bool, max_groups: int) -> dict[str, pd.DataFrame]:
    """Name -> table with columns ``N``, ``D``, ``loss`` (rows with a non-finite or non-positive entry dropped)."""
    tables = {"example: porian_isoflop.csv": pd.read_csv(EXAMPLE, comment="#")}
    if shared:
        porian = pd.read_csv(SHARED / "porian2024_isoflop_table.csv")
        for key, part in list(porian.groupby(PORIAN_SETTING, sort=True))[:max_groups]:
            tables["porian: " + "/".join(map(str, key))] = part
        gadre = pd.read_csv(SHARED / "gadre2024_overtraining_table.csv")
        for key, part in list(gadre.groupby(["dataset", "val_set"], sort=True))[:max_groups]:
            tables["gadre: " + "/".join(map(str, key))] = part
    out = {}
    for name, table in tables.items():
        t = table[["N", "D", "loss"]].astype(float)
        out[name] = t[np.isfinite(t).all(axis=1) & (t > 0).all(axis=1)].reset_index(drop=True)
    return out


def leave_one_out(table: pd.DataFrame, model: curvecast.Predictor) -> pd.DataFrame:
    """One row per table row: its D/N, loss, the network's median and 90% interval from the other rows, and the
    two neighbour baselines."""
    n, d, loss = (table[c].to_numpy() for c in ("N", "D", "loss"))
    plane = np.c_[np.log10(n), np.log10(d)]
    rows = []
    for i in range(loss.size):
        rest = np.arange(loss.size) != i
        pred = curvecast.scaling.fit(n[rest], d[rest], loss[rest], model=model).predict([n[i]], [d[i]])
        low, high = (float(v[0]) for v in pred.interval(0.9))
        linear = float(LinearNDInterpolator(plane[rest], loss[rest])(*plane[i]))
        nearest = float(loss[rest][np.argmin(((plane[rest] - plane[i]) ** 2).sum(axis=1))])
        rows.append({"dn": d[i] / n[i], "loss": loss[i], "median": float(pred.median[0]), "covered": low <= loss[i] <= high,
                     "linear": linear, "nearest": nearest})
    return pd.DataFrame(rows)


def scores(frame: pd.DataFrame) -> dict[str, float]:
    """Median absolute errors (network, linear interpolation where defined, nearest row), bias and coverage."""
    inside = frame["linear"].notna()
    return {
        "n": int(len(frame)),
        "err": float((frame["median"] - frame["loss"]).abs().median()),
        "bias": float((frame["median"] - frame["loss"]).median()),
        "coverage90": float(frame["covered"].mean()),
        "linear_err": float((frame["linear"] - frame["loss"])[inside].abs().median()) if inside.any() else float("nan"),
        "nearest_err": float((frame["nearest"] - frame["loss"]).abs().median()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="curvecast model path (default: the shipped model)")
    parser.add_argument("--max-runs", type=int, nargs="+", default=[None], help="runs read per pass (default: the model's)")
    parser.add_argument("--shared", action="store_true", help="also the Porian and Gadre tables of ../shared/data/realcurves")
    parser.add_argument("--max-groups", type=int, default=3, help="with --shared: settings of each table, the first by name")
    parser.add_argument("--json", type=Path, help="write every score here")
    args = parser.parse_args(argv)
    if args.shared and not SHARED.is_dir():
        parser.error(f"--shared reads {SHARED}, which is not there")
    tables = load_tables(args.shared, args.max_groups)
    results = []
    for max_runs in args.max_runs:
        model = curvecast.load(args.model, max_runs=max_runs)
        start = time.perf_counter()
        frames = []
        for name, table in tables.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CurvecastWarning)
                frame = leave_one_out(table, model)
            frames.append(frame.assign(table=name))
            results.append({"max_runs": model.max_runs, "table": name, "bin": "all", **scores(frame)})
        every = pd.concat(frames)
        for lo, hi in DN_BINS:
            part = every[(every["dn"] >= lo) & (every["dn"] < hi)]
            if len(part):
                results.append({"max_runs": model.max_runs, "table": "all tables", "bin": f"D/N {lo:g}-{hi:g}", **scores(part)})
        results.append({"max_runs": model.max_runs, "table": "all tables", "bin": "all", **scores(every)})
        print(f"max_runs {model.max_runs}: {len(every)} rows left out in turn, {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print("| max_runs | table | rows | n | network err | bias | cov90 | linear interp. err | nearest row err |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['max_runs']} | {r['table']} | {r['bin']} | {r['n']} | {r['err']:.3f} | {r['bias']:+.3f} | {r['coverage90']:.2f} | "
              f"{r['linear_err']:.3f} | {r['nearest_err']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model or "default", "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
