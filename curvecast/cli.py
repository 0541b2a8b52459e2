"""The ``curvecast`` command line.

Subcommands:

- ``curvecast predict``: extrapolate a partial curve from a CSV/JSON file with the shipped (or a given) model.
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


def _query_points(last_x: float, until: float, points: int, log_spacing: bool) -> "list[float]":
    import numpy as np

    if not until > last_x:
        raise InvalidConfigError(f"--until must lie beyond the last observed x ({last_x:g}), got {until:g}")
    if points < 1:
        raise InvalidConfigError(f"--points must be >= 1, got {points}")
    if log_spacing and last_x > 0:
        return np.geomspace(last_x, until, points + 1)[1:].tolist()
    return np.linspace(last_x, until, points + 1)[1:].tolist()


def _predict(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np

    import curvecast
    from curvecast.curve_file import read_curve_file
    from curvecast.prediction import DEFAULT_QUANTILES

    if args.plot:
        _check_png(args.plot, "--plot")
    data = read_curve_file(args.file)
    direction = args.direction or data.direction or "min"
    x_obs = np.asarray(data.x, dtype=float)
    finite_x = x_obs[np.isfinite(x_obs)]
    if finite_x.size == 0:
        raise curvecast.errors.InvalidCurveError(f"{args.file} holds no finite x values")
    x_query = _query_points(float(finite_x.max()), args.until, args.points, args.log_x)
    model = curvecast.load(args.model, device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", curvecast.errors.CurvecastWarning)
        config = dict(data.config)
        if args.total_steps is not None:
            config["total_steps"] = args.total_steps
        pred = model.predict(data.x, data.y, x_query, direction=direction, config=config or None)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        pred.plot(ax, n_samples=args.plot_samples)
        ax.set_title(f"{Path(args.file).name}: forecast to x = {args.until:g}")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    best = float(pred.observed_y.min() if direction == "min" else pred.observed_y.max())
    p_better = float(pred.cdf(best)[-1]) if direction == "min" else float(1.0 - pred.cdf(best)[-1])
    if args.json:
        out = pred.to_dict()
        out["p_final_better_than_best_observed"] = p_better
        print(json.dumps(out, indent=2))
    else:
        qs = pred.quantile(DEFAULT_QUANTILES)
        print(f"{args.file}: {pred.observed_x.size} observed points, x {pred.observed_x.min():g} .. {pred.observed_x.max():g}, direction {direction}")
        header = ["x", "mean", *(f"q{q:g}" if q != 0.5 else "median" for q in DEFAULT_QUANTILES)]
        print("  ".join(f"{h:>11}" for h in header))
        for j, xq in enumerate(pred.x):
            row = [xq, pred.mean[j], *qs[:, j]]
            print("  ".join(f"{v:>11.5g}" for v in row))
        word = "below" if direction == "min" else "above"
        print(f"P(y at x = {pred.x[-1]:g} ends {word} the best observed value {best:.5g}) = {p_better:.2f}")
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _check_png(path: str, flag: str = "--out") -> None:
    if not path.lower().endswith(".png"):
        raise InvalidConfigError(f"{flag} must name a .png file, got {path!r}")


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

    pd = sub.add_parser(
        "predict",
        help="extrapolate a partial curve (CSV or JSON file)",
        description="Predict the rest of a partial curve: quantiles at points up to --until, optionally a fan chart.",
    )
    pd.add_argument("file", help="CSV with x,y columns (header optional) or JSON {\"x\": [...], \"y\": [...]}")
    pd.add_argument("--until", type=float, required=True, metavar="X", help="predict up to this x")
    pd.add_argument("--points", type=int, default=10, metavar="K", help="query points between the last observed x and --until (default 10)")
    pd.add_argument("--direction", choices=["min", "max"], help="min: lower is better (loss; default); max: higher is better (accuracy)")
    pd.add_argument("--plot", metavar="OUT.png", help="write a fan chart to this PNG file")
    pd.add_argument("--plot-samples", type=int, default=0, metavar="N", help="draw N sampled trajectories on the fan chart")
    pd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pd.add_argument("--log-x", action="store_true", help="space the query points evenly in log x")
    pd.add_argument("--total-steps", type=float, metavar="X", help="the run's planned length, in units of x (sharpens the forecast near the end)")
    pd.add_argument("--model", help="checkpoint folder to use instead of the shipped default model")
    pd.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    pd.set_defaults(func=_predict)

    tr = sub.add_parser("train", help="pretrain a PFN on a prior", description="Pretrain a PFN on synthetic curves from a prior.")
    source = tr.add_mutually_exclusive_group()
    source.add_argument(
        "--preset", default="tiny", help="named preset: tiny (CPU, ~1 min), small (CPU), cpu (the shipped model's recipe), default (GPU); default: tiny"
    )
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
