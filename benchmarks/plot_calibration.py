"""Temperature against spread calibration on the README's example, as a figure.

    python benchmarks/plot_calibration.py --out docs/calibration.png [--model DIR]

The example is the first half of a modded-nanogpt validation-loss curve (``examples/nanogpt_val_loss.csv``;
the run ended at step 9472 with 3.278). Panels: the predictive median, mean and 90% band over the second half
of the horizon with (left) the logits divided by a temperature of 1.4, the calibration shipped before, and
(right) the model's own calibration (a spread factor about the median), each without and with the run's
schedule (``total_steps=9536``, ``schedule="wsd"``, ``cooldown_steps=3814``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import curvecast

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nanogpt_val_loss.csv"
SCHEDULE = {"total_steps": 9536, "schedule": "wsd", "cooldown_steps": 3814}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/calibration.png")
    ap.add_argument("--model", help="checkpoint folder (default: the shipped model)")
    args = ap.parse_args(argv)
    data = np.loadtxt(EXAMPLE, delimiter=",", skiprows=1)
    x, y = data[:, 0], data[:, 1]
    queries = np.linspace(x[-1], 9536, 40)[1:]
    calibrated = curvecast.load(args.model)
    settings = {
        "logits / temperature 1.4 (before)": curvecast.load(args.model, temperature=1.4, spread=1.0),
        f"spread {calibrated.spread_for('min'):g} about the median (now)": calibrated,
    }
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    for ax, (title, model) in zip(axes, settings.items()):
        for config, colour, label in ((None, "C0", "no config"), (SCHEDULE, "C3", "wsd schedule known")):
            pred = model.predict(x, y, queries, config=config)
            low, high = pred.interval(0.9)
            ax.fill_between(queries, low, high, color=colour, alpha=0.15)
            ax.plot(queries, pred.median, color=colour, lw=1.8, label=f"{label}: median, 90% band")
            ax.plot(queries, pred.mean, color=colour, lw=1, ls="--", label=f"{label}: mean")
            print(f"{title:38} {label:20} median {pred.median[-1]:.3f} mean {pred.mean[-1]:.3f} 90% ({low[-1]:.3f}, {high[-1]:.3f})")
        ax.plot(x, y, "k.", ms=4, label="observed")
        ax.plot([9472], [3.278], "k*", ms=10, label="final loss (3.278)")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylim(3.0, 4.0)
    axes[0].set_ylabel("validation loss")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
