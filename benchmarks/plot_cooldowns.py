"""An unknown WSD cooldown on the README's example, as a figure.

    python benchmarks/plot_cooldowns.py --out docs/wsd_cooldowns.png [--model DIR]

The example is the first half of a modded-nanogpt validation-loss curve (``examples/nanogpt_val_loss.csv``;
the run ended at step 9472 with 3.278, after a linear LR decay over its last 3814 of 9536 steps). Told
``total_steps=9536, schedule="wsd"`` but not the cooldown length, curvecast used to assume a cooldown of 20% of
the run; it now mixes the forecasts under cooldowns of 10%, 20%, ..., 90% (``wsd_cooldowns``), weighted by how
well each predicted the second half of the observed points from the first. The left panel shows the median and
90% band of both, and of the forecast given the true ``cooldown_steps``. The right panel does the same for a
short modded-nanogpt run (``--data``, default ``../shared/data/realcurves``: the first run, in curve-id order, of
9 evaluations whose later points the 20% assumption's band misses, 3 of them observed as at f = 0.2); its true
cooldown is not in the data. Half of modded-nanogpt's benchmark curves are this short.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import curvecast
from curvecast.predictor import DEFAULT_WSD_COOLDOWNS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nanogpt_val_loss.csv"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "realcurves"
WSD = {"total_steps": 9536, "schedule": "wsd"}


def panel(ax, x, y, queries, total, truth, cooldown, forecasts) -> None:
    """Observed points, each forecast's median and 90% band, and the truth (points or a star)."""
    wsd = {"total_steps": total, "schedule": "wsd"}
    ax.plot(x, y, "k.", label="observed")
    for label, (model, given, color) in forecasts.items():
        config = {**wsd, "cooldown_steps": cooldown} if given else wsd
        if given and cooldown is None:
            continue
        pred = model.predict(x, y, queries, config=config)
        low, high = pred.interval(0.9)
        ax.fill_between(queries, low, high, color=color, alpha=0.15, lw=0)
        ax.plot(queries, pred.median, color=color, lw=1.8, label=f"{label}: median, 90% band")
        inside = np.mean((truth[1] >= np.interp(truth[0], queries, low)) & (truth[1] <= np.interp(truth[0], queries, high)))
        print(f"  {label}: median at {queries[-1]:g} = {pred.median[-1]:.3f}, 90% band [{low[-1]:.3f}, {high[-1]:.3f}], truth inside at {inside:.0%} of its points")
    ax.plot(*truth, "k*" if len(truth[0]) == 1 else "kx", ms=10 if len(truth[0]) == 1 else 6, label="what the run did")
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/wsd_cooldowns.png")
    ap.add_argument("--model", help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the real-curve parquet files")
    args = ap.parse_args(argv)
    data = np.loadtxt(EXAMPLE, delimiter=",", skiprows=1)
    x, y = data[:, 0], data[:, 1]
    mixed = curvecast.load(args.model)
    forecasts = {
        "cooldown unknown, 20% assumed (before)": (curvecast.load(args.model, wsd_cooldowns=[0.2]), False, "C0"),
        f"cooldown unknown, mixture over {min(mixed.wsd_cooldowns):g}..{max(mixed.wsd_cooldowns):g} (now)": (mixed, False, "C3"),
        "cooldown_steps given": (mixed, True, "C2"),
    }
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    print("README example:")
    panel(axes[0], x, y, np.linspace(x[-1], 9536, 40)[1:], 9536, ([9472.0], [3.278]), 3814, forecasts)
    axes[0].set_ylim(2.5, 4.0)
    axes[0].set_title("README example: 19 of 38 evaluations seen")
    import pandas as pd

    frame = pd.read_parquet(args.data / "modded_nanogpt.parquet")
    before = forecasts["cooldown unknown, 20% assumed (before)"][0]
    for curve_id, curve in frame.groupby("curve_id", sort=True):
        if len(curve) != 9:
            continue
        curve = curve.sort_values("x")
        cx, cy = curve["x"].to_numpy(float), curve["y"].to_numpy(float)
        low, high = before.predict(cx[:3], cy[:3], cx[3:], config={"total_steps": cx[-1], "schedule": "wsd"}).interval(0.9)
        if np.any((cy[3:] < low) | (cy[3:] > high)):
            break
    print(f"{curve_id}:")
    panel(axes[1], cx[:3], cy[:3], np.linspace(cx[2], cx[-1], 40)[1:], cx[-1], (cx[3:], cy[3:]), None, forecasts)
    axes[1].set_ylim(cy[-1] - 1.0, cy[1] + 0.5)
    axes[1].set_title("a short modded-nanogpt run: 3 of 9 evaluations seen")
    axes[0].legend(fontsize="x-small", loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out} (default grid when the checkpoint names none: {DEFAULT_WSD_COOLDOWNS})")


if __name__ == "__main__":
    main()
