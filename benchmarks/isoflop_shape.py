"""Are the prior's isoFLOP profiles shaped like real ones? A prior-predictive check of scaling-table tasks.

    python benchmarks/isoflop_shape.py                                              # the shipped model's prior
    python benchmarks/isoflop_shape.py --prior 'tau_end_range=[30, 1e6]'            # ... as its last fine-tune drew it
    python benchmarks/isoflop_shape.py --prior 'tau_end_range=[0.3, 3]' --json shape.json

An isoFLOP profile is the final loss of models of growing size N trained at one compute budget C (D = C / 6N).
Real ones (Porian et al. 2024, ``../shared/data/realcurves/porian2024_isoflop_table.csv``) are U-shaped, and
steeply so on the right: past the compute-optimal size the runs see few tokens per parameter and their loss
climbs back towards an untrained model's. Per profile of at least 3 sizes this script measures whether its
lowest loss is inside it (U-shaped), how many decades of N lie left and right of that lowest point, and, for the
U-shaped ones, the right end's rise over the minimum divided by the left end's (``rise_ratio``: above 1, the
right arm is the steeper). The prior's profiles come from ``CurvePrior`` tables with the isoFLOP design only
(``p_table=1``, ``table_design_weights=[1, 0, 0]``), loss tasks, the shipped model's ``prior_overrides`` and
``--prior`` overrides on top (JSON values), grouped by budget. Where the real statistics sit in the prior's tails,
the network has not been taught such tables (BENCHMARKS.md, "What is left": where Porian's profiles miss).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from curvecast import priors
from curvecast.pfn.checkpoint import read_config
from curvecast.predictor import default_model_path
from curvecast.priors.batch import CONFIG_FIELDS

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLE = REPO_ROOT / "../shared/data/realcurves/porian2024_isoflop_table.csv"
#: Columns that, with the budget C, name one of Porian's isoFLOP profiles.
PORIAN_SETTING = ["dataset", "hparams", "warmup", "decay", "param_count", "val", "file", "C"]
#: The prior slice: scaling tables with the isoFLOP design, losses only.
ISOFLOP_SLICE = {"p_table": 1.0, "table_design_weights": [1.0, 0.0, 0.0], "p_max_direction": 0.0}
MIN_SIZES = 3


def profile_stats(n_params: np.ndarray, loss: np.ndarray) -> dict[str, float | bool]:
    """Shape of one isoFLOP profile (sizes in any order): ``u_shaped`` (its lowest loss is neither the smallest
    nor the largest size), ``decades_left`` / ``decades_right`` (log10 of the size span on either side of the
    lowest loss) and ``rise_ratio`` ((loss at the largest size - min) / (loss at the smallest size - min); NaN
    unless U-shaped)."""
    order = np.argsort(n_params)
    n, y = np.asarray(n_params, dtype=np.float64)[order], np.asarray(loss, dtype=np.float64)[order]
    k = int(np.argmin(y))
    u_shaped = 0 < k < len(y) - 1
    return {
        "u_shaped": bool(u_shaped),
        "decades_left": float(np.log10(n[k] / n[0])),
        "decades_right": float(np.log10(n[-1] / n[k])),
        "rise_ratio": float((y[-1] - y[k]) / (y[0] - y[k])) if u_shaped else float("nan"),
    }


def real_profiles(path: Path) -> pd.DataFrame:
    """:func:`profile_stats` of every profile of Porian's isoFLOP table with at least ``MIN_SIZES`` sizes."""
    table = pd.read_csv(path)
    return pd.DataFrame([profile_stats(g["N"].to_numpy(), g["loss"].to_numpy()) for _, g in table.groupby(PORIAN_SETTING) if len(g) >= MIN_SIZES])


def prior_profiles(overrides: dict, n_tasks: int, seed: int) -> pd.DataFrame:
    """:func:`profile_stats` of every budget (rows sharing 6 N D to 0.1 decade) of ``n_tasks`` prior isoFLOP tables."""
    prior = priors.named("default", **{**overrides, **ISOFLOP_SLICE})
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(seed))
    i_n, i_d = CONFIG_FIELDS.index("n_params"), CONFIG_FIELDS.index("n_tokens")
    rows = []
    for t in range(batch.n_tasks):
        runs = batch.run_mask[t].bool()
        n, d = batch.config[t, runs, i_n].double().numpy(), batch.config[t, runs, i_d].double().numpy()
        points = batch.point_mask[t, runs].bool()
        final = np.array([float(batch.y[t, runs][r][points[r]][-1]) for r in range(int(runs.sum()))])
        budget = np.round(np.log10(6.0 * n * d), 1)
        for c in np.unique(budget):
            same = budget == c
            if same.sum() >= MIN_SIZES:
                rows.append(profile_stats(n[same], final[same]))
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> dict[str, float]:
    """Share of U-shaped profiles, median decades left and right of the minimum, and the rise ratio's quartiles."""
    ratio = frame["rise_ratio"].dropna()
    quartiles = ratio.quantile([0.25, 0.5, 0.75]).tolist() if len(ratio) else [float("nan")] * 3
    return {
        "profiles": int(len(frame)),
        "u_shaped": float(frame["u_shaped"].mean()),
        "decades_left": float(frame["decades_left"].median()),
        "decades_right": float(frame["decades_right"].median()),
        "rise_ratio_q25": quartiles[0],
        "rise_ratio_median": quartiles[1],
        "rise_ratio_q75": quartiles[2],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="Porian's isoFLOP table (CSV)")
    parser.add_argument("--prior", nargs="*", default=[], metavar="FIELD=VALUE", help="CurvePrior fields to override (JSON values)")
    parser.add_argument("--tasks", type=int, default=1024, help="prior tasks drawn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args(argv)
    if not args.table.is_file():
        parser.error(f"no table at {args.table}: the real-curve data set is expected in ../shared/data/realcurves; pass --table")
    overrides = {**read_config(default_model_path())["training"]["train"]["prior_overrides"]}
    overrides.update({k: json.loads(v) for k, v in (item.split("=", 1) for item in args.prior)})
    results = {"porian": summary(real_profiles(args.table)), "prior": summary(prior_profiles(overrides, args.tasks, args.seed))}
    print("| | profiles | U-shaped | decades left / right of the minimum | rise ratio, median (25-75%) |")
    print("|---|---|---|---|---|")
    for name, s in results.items():
        print(f"| {name} | {s['profiles']} | {s['u_shaped']:.2f} | {s['decades_left']:.2f} / {s['decades_right']:.2f} | "
              f"{s['rise_ratio_median']:.2f} ({s['rise_ratio_q25']:.2f}-{s['rise_ratio_q75']:.2f}) |")
    if args.json:
        args.json.write_text(json.dumps({"overrides": overrides, "tasks": args.tasks, "seed": args.seed, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
