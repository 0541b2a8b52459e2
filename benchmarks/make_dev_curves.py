"""Regenerate ``curvecast/data/dev_curves.json``: a few small real curves shipped for evaluation and tests.

Run from the repository root with the shared data beside the checkout:

    python benchmarks/make_dev_curves.py --data ../shared/data/realcurves

Picks, per source, the first curves (sorted by id) with at least 16 points, keeping at most 64 points each.
Sources and licences are recorded per curve; see ``curvecast/data/README.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

SOURCES = {
    # file: (licence, curves to take, metric filter)
    "modded_nanogpt.parquet": ("MIT (KellerJordan/modded-nanogpt)", 3, None),
    "lcdb.parquet": ("MIT (LCDB 1.0, PyPI lcdb)", 3, "valid_accuracy_seedmean"),
    "pythia.parquet": ("Apache-2.0 (EleutherAI/pythia)", 3, "lambada_openai_acc"),
    "gemstones.parquet": ("MIT (mcleish7/gemstone-scaling-laws)", 3, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/realcurves", help="folder of the realcurves parquet files")
    parser.add_argument("--out", default="curvecast/data/dev_curves.json")
    args = parser.parse_args()
    curves = []
    for file, (licence, n_take, metric) in SOURCES.items():
        frame = pd.read_parquet(Path(args.data) / file)
        if metric is not None:
            frame = frame[frame.metric_name == metric]
        taken = 0
        for (curve_id, metric_name), points in sorted(frame.groupby(["curve_id", "metric_name"]), key=lambda kv: kv[0]):
            if len(points) < 16 or taken >= n_take or points.y.nunique() < 4:
                continue
            points = points.sort_values("x")
            if len(points) > 64:
                points = points.iloc[:: -(-len(points) // 64)]
            config = json.loads(points.config.iloc[0] or "{}")
            curves.append(
                {
                    "source": points.source.iloc[0],
                    "curve_id": curve_id,
                    "metric_name": metric_name,
                    "direction": points.direction.iloc[0],
                    "licence": licence,
                    "total_steps": config.get("total_steps"),
                    "x": [float(v) for v in points.x],
                    "y": [float(v) for v in points.y],
                }
            )
            taken += 1
    Path(args.out).write_text(json.dumps(curves, indent=1) + "\n")
    print(f"wrote {len(curves)} curves to {args.out}")


if __name__ == "__main__":
    main()
