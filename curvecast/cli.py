"""The ``curvecast`` command line.

Subcommands:

- ``curvecast train``: pretrain a PFN on a prior (``--preset`` or ``--config``), optionally ``--resume``.
- ``curvecast check-prior``: run the prior conformance check and measure sampling throughput.
- ``curvecast plot-prior``: draw a few tasks from a prior into a PNG, to see what the model learns from.
- ``curvecast plot-run``: plot a training run's losses from its ``metrics.jsonl``.

User mistakes print one ``error:`` line (no stack trace) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from curvecast.errors import CheckpointNotFoundError, CurvecastError, InvalidConfigError

__all__ = ["main"]


def _train(args: argparse.Namespace) -> int:
    from curvecast.training.config import load_config, preset
    from curvecast.training.loop import train

    config = load_config(args.config) if args.config else preset(args.preset)
    overrides = {
        "steps": args.steps,
        "seed": args.seed,
        "out_dir": args.out,
        "device": args.device,
        "batch_size": args.batch_size,
        "time_limit_s": args.time_limit,
    }
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    if args.no_progress:
        config = config.replace(progress=False)
    result = train(config, resume=args.resume)
    summary = {
        "run_dir": str(result.run_dir),
        "steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 2),
        **{k: v for k, v in result.final_metrics.items() if k.startswith("eval_") or k == "loss"},
    }
    print(json.dumps(summary, indent=2))
    return 0


def _check_prior(args: argparse.Namespace) -> int:
    from curvecast.priors import check_prior, named
    from curvecast.priors.benchmark import curves_per_second

    prior = named(args.prior)
    check_prior(prior, n_tasks=args.tasks)
    rate = curves_per_second(prior, n_points=100)
    print(f"{type(prior).__name__}: conformance check passed; {rate:,.0f} curves of 100 points per second on cpu")
    return 0


def _check_png(path: str) -> None:
    if not path.lower().endswith(".png"):
        raise InvalidConfigError(f"--out must name a .png file, got {path!r}")


def _plot_prior(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from curvecast.priors import named

    _check_png(args.out)
    prior = named(args.prior)
    batch = prior.sample(args.tasks, generator=torch.Generator().manual_seed(args.seed))
    cols = min(3, args.tasks)
    rows = -(-args.tasks // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for task, ax in zip(range(batch.n_tasks), axes.flat):
        for run in range(batch.n_runs):
            m = batch.point_mask[task, run]
            if m.any():
                ax.plot(batch.x[task, run, m].numpy(), batch.y[task, run, m].numpy(), ".-", ms=3, lw=1)
        kind = "loss-like (min)" if int(batch.direction[task]) > 0 else "accuracy-like (max)"
        ax.set_title(f"task {task}: {int(batch.run_mask[task].sum())} runs, {kind}", fontsize=9)
        ax.set_xlabel("x")
    for ax in list(axes.flat)[batch.n_tasks :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


def _plot_run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from curvecast.training.loop import read_metrics

    _check_png(args.out)
    path = Path(args.run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise CheckpointNotFoundError(f"no metrics.jsonl in '{args.run_dir}'; pass the --out folder of a training run")
    rows = read_metrics(path)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), lw=0.8, alpha=0.6, label="training loss (NLL)")
    for key, label in (("eval_prior_nll", "eval: fresh prior samples"), ("eval_real_nll", "eval: shipped real curves")):
        points = [(r["step"], r[key]) for r in rows if key in r]
        if points:
            ax.plot(*zip(*points), "o-", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("negative log density (normalized units)")
    ax.set_title(str(args.run_dir))
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curvecast", description="Bayesian learning-curve extrapolation with prior-data fitted networks.")
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="pretrain a PFN on a prior", description="Pretrain a PFN on synthetic curves from a prior.")
    source = tr.add_mutually_exclusive_group()
    source.add_argument("--preset", default="tiny", help="named preset: tiny (CPU, ~1 min), small (CPU), default (GPU); default: tiny")
    source.add_argument("--config", help="JSON file of TrainConfig fields (may name a \"preset\" to start from)")
    tr.add_argument("--steps", type=int, help="optimizer steps (overrides the preset's length)")
    tr.add_argument("--seed", type=int, help="random seed")
    tr.add_argument("--out", help="run folder (weights, config.json, metrics.jsonl)")
    tr.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    tr.add_argument("--batch-size", type=int, help="tasks per step per process")
    tr.add_argument("--time-limit", type=float, metavar="SECONDS", help="stop with a checkpoint after this many seconds (resume later)")
    tr.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(func=_train)

    ck = sub.add_parser("check-prior", help="run the prior conformance check and measure sampling speed")
    ck.add_argument("--prior", choices=["default", "simple"], default="default")
    ck.add_argument("--tasks", type=int, default=64, help="tasks per checked batch")
    ck.set_defaults(func=_check_prior)

    pl = sub.add_parser("plot-prior", help="plot a few tasks sampled from a prior")
    pl.add_argument("--prior", choices=["default", "simple"], default="default")
    pl.add_argument("--tasks", type=int, default=6)
    pl.add_argument("--seed", type=int, default=0)
    pl.add_argument("--out", default="prior.png", help="PNG file to write")
    pl.set_defaults(func=_plot_prior)

    pr = sub.add_parser("plot-run", help="plot the training and evaluation losses of a run folder")
    pr.add_argument("run_dir", help="the --out folder of `curvecast train`")
    pr.add_argument("--out", default="training.png", help="PNG file to write")
    pr.set_defaults(func=_plot_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except CurvecastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable run folder, full disk, ...
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
