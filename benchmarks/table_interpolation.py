"""Can the network interpolate a scaling table? Leave-one-out on finished runs, against linear interpolation.

    python benchmarks/table_interpolation.py                                  # the bundled Porian example, 3 s
    python benchmarks/table_interpolation.py --max-runs 12 24 48 --inside 0 8 --shared    # + Porian's and Gadre's tables, 75 s

``benchmarks/scaling.py`` asks tables to extrapolate (a held-out larger budget). This asks the easier question a
user asks of a table every day, "how would a run between these end?": each row in turn is left out and predicted
by ``curvecast.scaling.fit`` on the others (``law.predict`` at its own N and D). Two baselines that read only its
neighbours: linear interpolation of the loss in ``(log10 N, log10 D)`` (scipy's ``LinearNDInterpolator``, rows
outside the others' convex hull left out of its column) and the nearest row's loss in that plane. Scores per
table and by the row's tokens per parameter ``D/N``: median ``|median - loss|`` (nats), the bias (median of
``median - loss``) and 90% coverage. ``--max-runs`` scores the network reading at most that many runs per pass
(``curvecast.load(max_runs=...)``: the rows nearest to the query are kept), which shows how much it pools a
row towards the rest of the table, and ``--inside`` the read limit for points inside the table
(``table_rows_inside``, 0 for off), which ``benchmarks/calibrate.py --table-rows-inside`` chooses on the tables
:func:`validation_tables` gives, never on these. Measured in BENCHMARKS.md ("Interpolating a scaling table").

Tables: ``examples/porian_isoflop.csv`` (bundled); with ``--shared``, also every setting of
``../shared/data/realcurves/porian2024_isoflop_table.csv`` and every (dataset, val_set) group of
``gadre2024_overtraining_table.csv`` (``--max-groups`` of each, the first by name).
"""

from __future__ import annotations

import argparse
import itertools
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
from curvecast.scaling import table_model_path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "porian_isoflop.csv"
SHARED = HERE.parent.parent / "shared" / "data" / "realcurves"
#: Bins of tokens per parameter the scores are split by.
DN_BINS = ((0.0, 1.0), (1.0, 10.0), (10.0, np.inf))
PORIAN_SETTING = ["dataset", "hparams", "warmup", "decay", "param_count", "val", "file"]
#: A left-out row's NLL counts at most this much (as in realcurves.py).
NLL_CAP = 10.0


def shared_groups(data: Path = SHARED) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """Per shared table (``porian``, ``gadre``), its (name, rows) groups sorted by name; Porian's setting that
    the bundled example was cut from is left out (the example stands for it)."""
    example = pd.read_csv(EXAMPLE, comment="#")
    porian = pd.read_csv(data / "porian2024_isoflop_table.csv")
    gadre = pd.read_csv(data / "gadre2024_overtraining_table.csv")
    return {
        "porian": [("porian: " + "/".join(map(str, k)), g) for k, g in porian.groupby(PORIAN_SETTING, sort=True)
                   if not g.merge(example, on=["C", "N", "D", "loss"]).shape[0]],
        "gadre": [("gadre: " + "/".join(map(str, k)), g) for k, g in gadre.groupby(["dataset", "val_set"], sort=True)],
    }


def clean(table: pd.DataFrame) -> pd.DataFrame:
    """Columns ``N``, ``D``, ``loss`` of rows whose entries are finite and positive."""
    t = table[["N", "D", "loss"]].astype(float)
    return t[np.isfinite(t).all(axis=1) & (t > 0).all(axis=1)].reset_index(drop=True)


def load_tables(shared: bool, max_groups: int) -> dict[str, pd.DataFrame]:
    """The scored tables, name -> :func:`clean` rows: the bundled example and, with ``shared``, the first
    ``max_groups`` groups by name of each shared table (:func:`validation_tables` holds out the rest)."""
    tables = {"example: porian_isoflop.csv": pd.read_csv(EXAMPLE, comment="#")}
    if shared:
        for groups in shared_groups().values():
            tables.update(groups[:max_groups])
    return {name: clean(table) for name, table in tables.items()}


def validation_tables(skip: int, count: int, seed: int = 0, data: Path = SHARED) -> dict[str, pd.DataFrame]:
    """Tables this benchmark does not score (``benchmarks/calibrate.py --table-rows-inside`` chooses on them):
    of each shared table's groups after the first ``skip``, ``count`` drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    out = {}
    for groups in shared_groups(data).values():
        rest = groups[skip:]
        for i in sorted(rng.choice(len(rest), size=min(count, len(rest)), replace=False)):
            out[rest[i][0]] = clean(rest[i][1])
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
        logpdf = float(pred.logpdf([loss[i]])[0])
        linear = float(LinearNDInterpolator(plane[rest], loss[rest])(*plane[i]))
        nearest = float(loss[rest][np.argmin(((plane[rest] - plane[i]) ** 2).sum(axis=1))])
        rows.append({"dn": d[i] / n[i], "loss": loss[i], "median": float(pred.median[0]), "covered": low <= loss[i] <= high,
                     "logpdf": logpdf, "linear": linear, "nearest": nearest})
    return pd.DataFrame(rows)


def scores(frame: pd.DataFrame) -> dict[str, float]:
    """Median absolute errors (network, linear interpolation where defined, nearest row), bias, coverage and
    the network's mean NLL (nats; each row's capped at ``NLL_CAP``)."""
    inside = frame["linear"].notna()
    return {
        "n": len(frame),
        "nll_capped": float(np.minimum(-frame["logpdf"], NLL_CAP).mean()),
        "err": float((frame["median"] - frame["loss"]).abs().median()),
        "bias": float((frame["median"] - frame["loss"]).median()),
        "coverage90": float(frame["covered"].mean()),
        "linear_err": float((frame["linear"] - frame["loss"])[inside].abs().median()) if inside.any() else float("nan"),
        "nearest_err": float((frame["nearest"] - frame["loss"]).abs().median()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="curvecast model path (default: the shipped tables model, what curvecast.scaling loads)")
    parser.add_argument("--max-runs", type=int, nargs="+", default=[None], help="runs read per pass (default: the model's)")
    parser.add_argument("--inside", type=int, nargs="+", default=[None],
                        help="table_rows_inside values to score, 0 for off (default: the model's)")
    parser.add_argument("--shared", action="store_true", help="also the Porian and Gadre tables of ../shared/data/realcurves")
    parser.add_argument("--max-groups", type=int, default=3, help="with --shared: settings of each table, the first by name")
    parser.add_argument("--json", type=Path, help="write every score here")
    args = parser.parse_args(argv)
    if args.shared and not SHARED.is_dir():
        parser.error(f"--shared reads {SHARED}, which is not there")
    tables = load_tables(args.shared, args.max_groups)
    results = []
    for max_runs, inside in itertools.product(args.max_runs, args.inside):
        model = curvecast.load(args.model or table_model_path(), max_runs=max_runs, table_rows_inside=False if inside == 0 else inside)
        limits = {"max_runs": model.max_runs, "inside": model.table_rows_inside}
        start = time.perf_counter()
        frames = []
        for name, table in tables.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CurvecastWarning)
                frame = leave_one_out(table, model)
            frames.append(frame.assign(table=name))
            results.append({**limits, "table": name, "bin": "all", **scores(frame)})
        every = pd.concat(frames)
        for lo, hi in DN_BINS:
            part = every[(every["dn"] >= lo) & (every["dn"] < hi)]
            if len(part):
                results.append({**limits, "table": "all tables", "bin": f"D/N {lo:g}-{hi:g}", **scores(part)})
        results.append({**limits, "table": "all tables", "bin": "all", **scores(every)})
        print(f"max_runs {model.max_runs}, table_rows_inside {model.table_rows_inside}: {len(every)} rows left out in turn, "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    print("| max_runs | table_rows_inside | table | rows | n | network err | bias | cov90 | NLL | linear interp. err | nearest row err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['max_runs']} | {r['inside'] or 'off'} | {r['table']} | {r['bin']} | {r['n']} | {r['err']:.3f} | {r['bias']:+.3f} | "
              f"{r['coverage90']:.2f} | {r['nll_capped']:.3f} | {r['linear_err']:.3f} | {r['nearest_err']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model or "tables", "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
