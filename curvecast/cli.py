"""The ``curvecast`` command line.

Subcommands:

- ``curvecast predict``: extrapolate a partial curve from a CSV/JSON file with the shipped (or a given) model;
  with several files (or a long CSV with a ``run`` column) the runs inform each other, ``--target`` picks one.
- ``curvecast scaling``: compute-optimal model size, tokens and loss for FLOP budgets from a table of runs.
- ``curvecast train``: pretrain a PFN on a prior (``--preset`` or ``--config``), optionally ``--resume``.
- ``curvecast check-prior``: run the prior conformance check and measure sampling throughput.
- ``curvecast plot-prior``: draw a few tasks from a prior into a PNG, to see what the model learns from.
- ``curvecast plot-run``: plot a training run's losses from its ``metrics.jsonl``.

User mistakes print one ``error:`` line (no stack trace) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from curvecast.errors import CheckpointNotFoundError, CurvecastError, InvalidConfigError

if TYPE_CHECKING:
    from curvecast.prediction import Prediction

__all__ = ["main"]


def _prior_from_args(args: argparse.Namespace) -> object:
    """The prior named by ``--prior`` / ``--prior-file`` (built-in ``default`` when neither is given)."""
    from curvecast.priors import load_prior

    if args.prior_file is not None:
        return load_prior(file=args.prior_file)
    return load_prior(args.prior or "default")


def _train(args: argparse.Namespace) -> int:
    from curvecast.training.config import finetune, load_config, preset
    from curvecast.training.loop import train

    if args.config:  # with --init and no "preset" in it, the file adjusts the finetune preset, like --init alone
        config = load_config(args.config, base=finetune(args.init) if args.preset is None and args.init is not None else None)
    elif args.preset is None and args.init is not None:
        config = finetune(args.init)  # the source's architecture, so its weights fit
    else:
        config = preset(args.preset or "tiny")
    prior = None
    if args.prior in ("default", "simple"):
        if args.prior != config.prior:
            config = config.replace(prior=args.prior, prior_overrides={})  # the overrides belong to the other prior
    elif args.prior is not None or args.prior_file is not None:
        prior = _prior_from_args(args)
    overrides = {
        "steps": args.steps,
        "seed": args.seed,
        "out_dir": args.out,
        "device": args.device,
        "batch_size": args.batch_size,
        "time_limit_s": args.time_limit,
        "init": args.init,
        "checkpoint_every": args.checkpoint_every,
    }
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    if args.no_progress:
        config = config.replace(progress=False)
    result = train(config, prior=prior, resume=args.resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun only rank 0 reports, so stdout holds one JSON summary
    summary = {
        "run_dir": str(result.run_dir),
        "steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 2),
        **{k: v for k, v in result.final_metrics.items() if k.startswith("eval_") or k == "loss"},
    }
    print(json.dumps(summary, indent=2))
    return 0


def _check_prior(args: argparse.Namespace) -> int:
    from curvecast.priors import check_prior
    from curvecast.priors.benchmark import curves_per_second

    prior = _prior_from_args(args)
    if args.plot and not args.against:
        raise InvalidConfigError("--plot draws the comparison with real curves; add --against FILE")
    if args.plot:
        _check_png(args.plot, "--plot")
    check_prior(prior, n_tasks=args.tasks)
    if args.against:
        return _compare_prior(prior, args)
    rate = curves_per_second(prior, n_points=None)  # at the prior's own length: what check_prior sampled
    print(f"{type(prior).__name__}: conformance check passed; {rate:,.0f} curves per second on cpu (at its own curve length)")
    return 0


def _compare_prior(prior: object, args: argparse.Namespace) -> int:
    from curvecast.priors import fidelity

    groups = fidelity.read_curve_groups(args.against, max_curves=args.max_curves)
    prior_stats = fidelity.prior_statistics(prior, n_tasks=args.prior_tasks)
    real = {name: fidelity.real_statistics(curves) for name, curves in groups.items()}
    report = {name: fidelity.compare(prior_stats, stats) for name, stats in real.items()}
    if args.plot:
        fidelity.plot_comparison(prior_stats, real, args.plot, title=f"{type(prior).__name__} against {Path(args.against).name}")
    if args.json:
        print(json.dumps({"prior": type(prior).__name__, "against": str(args.against), "groups": report}, indent=2))
        return 0
    print(f"{type(prior).__name__}: conformance check passed. Real curves of {args.against} among the prior's curves:")
    print("(pct: percentile of the real median among prior curves; tails: share of real curves beyond the prior's 2.5-97.5%)")
    for name, stats in report.items():
        print(f"\n{name} ({len(groups[name])} curves)")
        print(f"  {'statistic':<18}{'real median':>12}{'prior median':>13}{'pct':>6}{'tails':>7}")
        for stat, row in stats.items():
            tails = row["share_below_prior_2.5%"] + row["share_above_prior_97.5%"]
            flag = "  <- in the prior's tails" if row["in_tails"] else ""
            print(f"  {stat:<18}{row['real_median']:>12.4f}{row['prior_median']:>13.4f}{row['percentile_of_real_median']:>6.0f}{tails:>7.0%}{flag}")
    if args.plot:
        print(f"\nwrote {args.plot}")
    return 0


def _query_points(start: float, until: float, points: int, log_spacing: bool, what: str = "the last observed x") -> "list[float]":
    import numpy as np

    if not math.isfinite(until):
        raise InvalidConfigError(f"--until must be a finite number, got {until}")
    if not until > start:
        raise InvalidConfigError(f"--until must lie beyond {what} ({start:g}), got {until:g}")
    if points < 1:
        raise InvalidConfigError(f"--points must be >= 1, got {points}")
    if log_spacing and start > 0:
        return np.geomspace(start, until, points + 1)[1:].tolist()
    return np.linspace(start, until, points + 1)[1:].tolist()


def _last_x(values: "list[float]") -> float | None:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return max(finite) if finite else None


def _print_table(pred: "Prediction", title: str) -> None:
    from curvecast.prediction import DEFAULT_QUANTILES

    qs = pred.quantile(DEFAULT_QUANTILES)
    print(title)
    header = ["x", "mean", *(f"q{q:g}" if q != 0.5 else "median" for q in DEFAULT_QUANTILES)]
    print("  ".join(f"{h:>11}" for h in header))
    for j, xq in enumerate(pred.x):
        row = [xq, pred.mean[j], *qs[:, j]]
        print("  ".join(f"{v:>11.5g}" for v in row))


def _p_better(pred: "Prediction", best: float, direction: str) -> float:
    return float(pred.cdf(best)[-1]) if direction == "min" else float(1.0 - pred.cdf(best)[-1])


def _predict(args: argparse.Namespace) -> int:
    import warnings

    import curvecast
    from curvecast.curve_file import read_run_files

    if args.plot:
        _check_png(args.plot, "--plot")
    if args.plot_samples < 0:
        raise InvalidConfigError(f"--plot-samples must be >= 0, got {args.plot_samples}")
    if args.plot_samples and not args.plot:
        raise InvalidConfigError("--plot-samples draws on the fan chart; add --plot OUT.png")
    data = read_run_files(args.file, x_column=args.x, y_column=args.y)
    names = [r.name for r in data]
    if args.target is not None and args.target not in names:
        raise InvalidConfigError(f"--target {args.target!r} names no run; the runs are {names}")
    said = {r.direction for r in data if r.direction}
    if args.direction is None and len(said) > 1:
        raise InvalidConfigError(
            f"the files say different directions ({', '.join(f'{r.name}: {r.direction}' for r in data if r.direction)}), from their "
            "y column names or JSON; runs read together track one metric: pass --direction min or --direction max"
        )
    direction = args.direction or next(iter(said), None) or "min"
    single = len(data) == 1
    if args.isoflop is not None and not single:
        raise InvalidConfigError(
            f"--isoflop reads one isoFLOP profile, got {len(data)} runs; for profiles at several budgets, write them as one "
            "table (n_params, n_tokens, loss) and run `curvecast scaling TABLE.csv`"
        )
    if args.tokens_per_x is not None and not args.final:
        raise InvalidConfigError("--tokens-per-x places runs for --final: add --final, or drop --tokens-per-x")
    if args.tokens_per_x is not None and not (math.isfinite(args.tokens_per_x) and args.tokens_per_x > 0):
        raise InvalidConfigError(f"--tokens-per-x must be a positive number (e.g. 4194304 tokens per step), got {args.tokens_per_x:g}")
    if args.points_are_runs and not args.final:
        raise InvalidConfigError("--points-are-runs says how --final's table reads the sweep; add --final (and --target)")
    if args.final and (single or args.plot or args.isoflop is not None):
        raise InvalidConfigError(
            "--final forecasts one run's final value from the other runs of its sweep read as a scaling table: give the "
            "sweep (several files, or a long CSV with a run column) and --target, without --plot or --isoflop"
        )
    if single:
        targets = names
    elif args.target is not None:
        targets = [args.target]
    else:  # every run that has not reached --until yet
        targets = [r.name for r in data if (_last_x(r.x) or 0.0) < args.until]
        if not targets:
            raise InvalidConfigError(f"every run already reaches --until {args.until:g}; raise --until or name a --target")
        if args.final and len(targets) > 1:
            raise InvalidConfigError(f"--final forecasts one run; {len(targets)} runs stop short of --until {args.until:g}: name one with --target")
    queries = {}
    for r in data:
        if r.name in targets:
            last = _last_x(r.x)
            if single and last is None:
                raise curvecast.errors.InvalidCurveError(f"{args.file[0]} holds no finite x values")
            what = f"the last observed x of run {r.name!r}" if not single else "the last observed x"
            queries[r.name] = _query_points(last if last is not None else 0.0, args.until, 1 if args.final else args.points, args.log_x, what)
    model = curvecast.load(args.model, device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", curvecast.errors.CurvecastWarning)
        runs = []
        for r in data:
            config = dict(r.config)
            if r.name in targets:
                given = {"total_steps": args.total_steps, "schedule": args.schedule, "cooldown_steps": args.cooldown_steps,
                         "warmup_steps": args.warmup_steps, "isoflop": args.isoflop}
                config.update({k: v for k, v in given.items() if v is not None})
            if args.tokens_per_x is not None and "n_tokens" not in config:  # --final places runs by the tokens they end at
                end = args.until if r.name in targets else _last_x(r.x)
                if end is not None:
                    config["n_tokens"] = end * args.tokens_per_x
            runs.append(curvecast.Run(r.x, r.y, config or None, name=r.name))
        if single:
            preds = [model.predict(data[0].x, data[0].y, queries[names[0]], direction=direction, config=runs[0].config)]
        elif args.final:
            target = runs[names.index(targets[0])]
            others = [run for run in runs if run.name != target.name]
            points = "all" if args.points_are_runs else "last"
            preds = [curvecast.scaling.predict_final(target, others, args.until, direction=direction, model=model, points=points)]
        elif len(targets) == 1:
            target = runs[names.index(targets[0])]
            others = [run for run in runs if run.name != target.name]
            pred = model.predict(target.x, target.y, queries[target.name], direction=direction, config=target.config, runs=others)
            preds = [pred]
        else:
            all_preds = model.predict_runs(runs, [queries.get(r.name, []) for r in runs], direction=direction)
            preds = [p for p in all_preds if p is not None]
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    observed = [v for r in data for v in r.y if math.isfinite(v)]
    best = min(observed) if direction == "min" else max(observed)
    if args.plot:
        _plot_forecast(args, data, targets, preds, direction)
    word = "below" if direction == "min" else "above"
    where = "the best observed value" if single else "the best value observed in any run"
    if args.json:
        out = []
        for name, pred in zip(targets, preds):
            d = pred.to_dict()
            d["p_final_better_than_best_observed"] = _p_better(pred, best, direction)
            d.setdefault("run", name)
            out.append(d)
        print(json.dumps(out[0] if single else {"runs": out}, indent=2))
    else:
        for name, pred in zip(targets, preds):
            n_obs = pred.observed_x.size
            span = f", x {pred.observed_x.min():g} .. {pred.observed_x.max():g}" if n_obs else ""
            label = args.file[0] if single else f"run {name}"
            context = "" if single else f" (given {len(data) - 1} other run(s))"
            if args.final:
                own, table = pred.weights
                context = f" (final value: its own forecast weighted {own:.2f}, the {len(data) - 1} other runs read as a table {table:.2f})"
            _print_table(pred, f"{label}: {n_obs} observed points{span}, direction {direction}{context}")
            print(f"P(y at x = {pred.x[-1]:g} ends {word} {where}, {best:.5g}) = {_p_better(pred, best, direction):.2f}")
            if not single:
                print()
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _plot_forecast(args: argparse.Namespace, data: list, targets: list[str], preds: list, direction: str) -> None:
    import numpy as np
    from matplotlib.figure import Figure

    from curvecast.prediction import set_x_scale

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if len(preds) == 1:
        for r in data:
            if r.name != targets[0] and r.x:
                ax.plot(r.x, r.y, color="0.6", lw=0.8, label="other runs" if "other runs" not in ax.get_legend_handles_labels()[1] else None)
        preds[0].plot(ax, n_samples=args.plot_samples)
        if args.isoflop is not None:  # model sizes: always on a log axis, however narrow the span
            ax.set_xscale("log")
            ax.set_xlabel("model size N (parameters)")
            ax.set_ylabel("final loss")
        title = Path(args.file[0]).name if len(data) == 1 else f"run {targets[0]}"
    else:
        if args.plot_samples:
            print("note: --plot-samples draws paths for one run's chart (--target RUN); the chart of several runs shows their bands", file=sys.stderr)
        for i, (name, pred) in enumerate(zip(targets, preds)):
            color = f"C{i % 10}"
            lower, upper = pred.interval(0.9)
            if pred.x.size == 1:  # one x: a bar and a marker (a band over one x has no width)
                ax.vlines(pred.x, lower, upper, color=color, alpha=0.4, lw=6)
                ax.plot(pred.x, pred.median, "D", color=color, ms=5, label=f"{name}: median, 90%")
            else:
                ax.fill_between(pred.x, lower, upper, color=color, alpha=0.2, lw=0)
                ax.plot(pred.x, pred.median, color=color, lw=1.5, label=f"{name}: median, 90%")
            if pred.observed_x.size:
                ax.plot(pred.observed_x, pred.observed_y, ".", color=color, ms=3)
        for r in data:
            if r.name not in targets and r.x:
                ax.plot(r.x, r.y, color="0.6", lw=0.8)
        set_x_scale(ax, np.concatenate([np.concatenate([p.observed_x, p.x]) for p in preds]))
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(fontsize="x-small", loc="best")
        title = f"{len(preds)} runs"
    ax.set_title(f"{title}: forecast to x = {args.until:g}")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)


def _scaling(args: argparse.Namespace) -> int:
    import warnings

    import curvecast
    from curvecast.curve_file import read_table

    if args.plot:
        _check_png(args.plot, "--plot")
    where = {}
    for item in args.where or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidConfigError(f"--where takes COLUMN=VALUE, got {item!r}")
        where[key.strip()] = value.strip()
    table = read_table(args.table, where)
    model = curvecast.load(args.model, device=args.device) if args.model else curvecast.scaling.load_table_predictor(device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", curvecast.errors.CurvecastWarning)
        law = curvecast.scaling.fit(
            table["n_params"], table["n_tokens"], table["loss"], lr=table.get("lr"), batch_size=table.get("batch_size"), model=model
        )
        optima = law.optimum(
            list(args.flops), flops_per_param_token=args.flops_per_param_token, n_samples=args.samples, seed=args.seed, method=args.method
        )
        if args.plot:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(7, 4.5))
            law.plot(
                list(args.flops), fig.subplots(), flops_per_param_token=args.flops_per_param_token, n_samples=args.samples, seed=args.seed, method=args.method
            )
            fig.gca().set_title(f"{Path(args.table).name}: {len(table['loss'])} runs")
            fig.tight_layout()
            fig.savefig(args.plot, dpi=110)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"runs": len(table["loss"]), "optima": [o.to_dict() for o in optima]}, indent=2))
    else:
        how = {"isoflop": "its isoFLOP profiles' minima extrapolated", "pfn": "the model's predicted isoFLOP curves"}[optima[0].method]
        print(f"{args.table}: {len(table['loss'])} runs; compute-optimal runs (median [5%, 95%]; sizes from {how}):")
        extra = [name for name in ("lr", "batch_size") if name in optima[0].samples]
        header = ["FLOPs", "n_params", "n_tokens", "loss", *extra]
        print("  ".join(f"{h:>34}" if h != "FLOPs" else f"{h:>10}" for h in header))
        for o in optima:
            cells = [f"{o.flops:>10.3g}"]
            for name in header[1:]:
                lo, mid, hi = o.quantile(name, [0.05, 0.5, 0.95])
                cells.append(f"{mid:>10.4g} [{lo:>9.4g}, {hi:>9.4g}]".rjust(34))
            print("  ".join(cells))
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _positive_int(text: str) -> int:
    """argparse type of a count flag: an int >= 1 (argparse names the flag in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _check_png(path: str, flag: str = "--out") -> None:
    if not path.lower().endswith(".png"):
        raise InvalidConfigError(f"{flag} must name a .png file, got {path!r}")
    folder = Path(path).parent
    if not folder.is_dir():  # checked before the work, so a typo does not cost the results
        raise InvalidConfigError(f"{flag} {path!r}: the folder '{folder}' does not exist; create it or pick another path")


def _plot_prior(args: argparse.Namespace) -> int:
    # matplotlib's Figure, not pyplot: a caller's backend and open figures stay as they are
    import torch
    from matplotlib.figure import Figure

    _check_png(args.out)
    prior = _prior_from_args(args)
    batch = prior.sample(args.tasks, generator=torch.Generator().manual_seed(args.seed))
    cols = min(3, args.tasks)
    rows = -(-args.tasks // cols)
    fig = Figure(figsize=(4.6 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for task, ax in zip(range(batch.n_tasks), axes.flat):
        for run in range(batch.n_runs):
            m = batch.point_mask[task, run]
            if m.any():
                ax.plot(batch.x[task, run, m].numpy(), batch.y[task, run, m].numpy(), ".-", ms=3, lw=1)
        kind = "loss-like (min)" if int(batch.direction[task]) > 0 else "accuracy-like (max)"
        n_runs = int(batch.run_mask[task].sum())
        ax.set_title(f"task {task}: {n_runs} run{'s' if n_runs != 1 else ''}, {kind}", fontsize=9)
        ax.set_xlabel("x")
        ax.xaxis.get_major_locator().set_params(nbins=4)  # long step counts: fewer, wider tick labels
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    for ax in list(axes.flat)[batch.n_tasks :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


def _plot_run(args: argparse.Namespace) -> int:
    # A Figure, not pyplot: a caller's backend and open figures stay as they are.
    from matplotlib.figure import Figure

    from curvecast.training.loop import read_metrics

    _check_png(args.out)
    path = Path(args.run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise CheckpointNotFoundError(f"no metrics.jsonl in '{args.run_dir}'; pass the --out folder of a training run")
    rows = read_metrics(path)
    if not rows:
        raise CheckpointNotFoundError(f"'{path}' holds no logged step yet; plot the run once it has logged (every log_every steps)")
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if train:
        ax.plot(*zip(*train), "-" if len(train) > 1 else "o", lw=0.8, alpha=0.6, label="training loss (NLL)")
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


def _add_prior_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--prior",
        metavar="NAME|MODULE:ATTR",
        help=f"the prior to {verb}: default or simple (built in), or an importable prior object, class or factory, e.g. mypkg.priors:RLReturns",
    )
    group.add_argument("--prior-file", metavar="FILE.py:NAME", help=f"the prior to {verb}, from a Python file: a prior object, class or factory named NAME")


def _parser() -> argparse.ArgumentParser:
    from curvecast import __version__

    parser = argparse.ArgumentParser(prog="curvecast", description="Bayesian learning-curve extrapolation with prior-data fitted networks.")
    parser.add_argument("--version", action="version", version=f"curvecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    pd = sub.add_parser(
        "predict",
        help="extrapolate partial curves (CSV or JSON files); several runs inform each other",
        description=(
            "Predict the rest of a partial curve: quantiles at points up to --until, optionally a fan chart. With several "
            "files (one run each) or a long CSV with a run column, every run informs the others; --target picks the run to forecast."
        ),
    )
    pd.add_argument(
        "file",
        nargs="+",
        help="CSV with x,y columns (header optional), JSON {\"x\": [...], \"y\": [...]}, or a long CSV with run,x,y and config columns",
    )
    pd.add_argument("--x", metavar="COLUMN", help="the CSV column holding x (default: x, or step/epoch/iteration/tokens/...)")
    pd.add_argument("--y", metavar="COLUMN", help="the CSV column holding y (default: y, or loss/accuracy/error/...)")
    pd.add_argument("--target", metavar="RUN", help="the run to forecast (a file's name without extension, or a run column value); default: every run short of --until")
    pd.add_argument("--until", type=float, required=True, metavar="X", help="predict up to this x")
    pd.add_argument("--points", type=int, default=10, metavar="K", help="query points between the last observed x and --until (default 10)")
    pd.add_argument("--direction", choices=["min", "max"], help="min: lower is better (loss); max: higher is better (accuracy); default: what a CSV's y column name "
                    "(accuracy, acc, score, reward, ...: max; loss, error, ppl, ...: min) or a JSON file's direction says, else min")
    pd.add_argument("--plot", metavar="OUT.png", help="write a fan chart to this PNG file")
    pd.add_argument("--plot-samples", type=int, default=0, metavar="N", help="draw N sampled trajectories on the fan chart")
    pd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pd.add_argument("--log-x", action="store_true", help="space the query points evenly in log x")
    pd.add_argument("--isoflop", type=float, metavar="C", help="the file is an isoFLOP profile at C FLOPs: x = model size, y = final losses; "
                    "its points are read as a table of finished runs (D = C / 6N); use with --log-x")
    pd.add_argument("--total-steps", type=float, metavar="X", help="the forecast runs' planned length, in units of x (sharpens the forecast near the end)")
    pd.add_argument("--schedule", choices=["constant", "cosine", "linear", "wsd"], help="the forecast runs' LR schedule (with --total-steps: a decay ahead moves the forecast)")
    pd.add_argument("--cooldown-steps", type=float, metavar="X", help="length of the final LR decay of a wsd schedule, in units of x (unknown: the forecast mixes cooldowns of 10%%..90%% of --total-steps)")
    pd.add_argument("--warmup-steps", type=float, metavar="X", help="length of the LR warmup, in units of x")
    pd.add_argument("--final", action="store_true",
                    help="forecast only the target's value at --until, its own forecast pooled with the other (finished) runs read as a "
                         "scaling table: every run's config needs n_params and n_tokens (curvecast.scaling.predict_final)")
    pd.add_argument("--tokens-per-x", type=float, metavar="K",
                    help="with --final, for runs whose config has no n_tokens: n_tokens = K times the run's last x (the target's: --until)")
    pd.add_argument("--points-are-runs", action="store_true",
                    help="with --final, every point of every run is a finished run's final value (one size trained to several token "
                         "counts, each decayed on its own): all points join the table, not only each run's last")
    pd.add_argument("--model", help="checkpoint folder to use instead of the shipped default model (or a shipped model's name: default, bo, tables)")
    pd.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    pd.set_defaults(func=_predict)

    sc = sub.add_parser(
        "scaling",
        help="compute-optimal N, D and loss for FLOP budgets from a table of finished runs",
        description="Read a table of finished runs (N, D, final loss) and print the compute-optimal model size, tokens and loss per FLOP budget, with quantiles.",
    )
    sc.add_argument("table", help="CSV with columns N (or n_params), D (or n_tokens) and loss; optional lr, batch_size")
    sc.add_argument("--flops", type=float, action="append", required=True, metavar="C", help="a FLOP budget (repeat for several)")
    sc.add_argument("--where", action="append", metavar="COLUMN=VALUE", help="keep only rows whose COLUMN holds VALUE, as text or as the same number (repeatable)")
    sc.add_argument("--flops-per-param-token", type=float, default=6.0, metavar="K", help="C = K N D (default 6)")
    sc.add_argument("--samples", type=int, default=256, help="posterior draws per budget (default 256)")
    sc.add_argument("--seed", type=int, default=0, help="seed of the draws")
    sc.add_argument("--method", choices=["auto", "isoflop", "pfn"], default="auto",
                    help="how the optimal size is found: the table's isoFLOP profiles extrapolated (isoflop; what auto picks when the "
                         "table holds 4 or more), or the argmin of the model's predicted isoFLOP curve (pfn)")
    sc.add_argument("--plot", metavar="OUT.png", help="write loss against N with each budget's predicted isoFLOP curve and optimum")
    sc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sc.add_argument("--model", help="checkpoint folder to use instead of the shipped tables model (curvecast/models/tables), or a shipped model's name")
    sc.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    sc.set_defaults(func=_scaling)

    tr = sub.add_parser("train", help="pretrain a PFN on a prior", description="Pretrain a PFN on synthetic curves from a prior.")
    source = tr.add_mutually_exclusive_group()
    source.add_argument(
        "--preset",
        help="named preset: tiny (CPU, ~1 min), small (CPU), cpu (the shipped model, 14,000 more steps), default (GPU), finetune (the shipped "
        "model, 1,000 more steps); default: tiny, or finetune with --init",
    )
    source.add_argument("--config", help="JSON file of TrainConfig fields (may name a \"preset\" to start from)")
    tr.add_argument("--steps", type=int, help="optimizer steps (overrides the preset's length)")
    tr.add_argument("--seed", type=int, help="random seed")
    tr.add_argument("--out", help="run folder (weights, config.json, metrics.jsonl)")
    tr.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    tr.add_argument("--batch-size", type=int, help="tasks per step per process")
    tr.add_argument("--time-limit", type=float, metavar="SECONDS", help="stop with a checkpoint after this many seconds (resume later)")
    tr.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    tr.add_argument("--overwrite", action="store_true", help="replace the model, checkpoint and metrics already in --out (without it, training refuses)")
    tr.add_argument("--checkpoint-every", type=int, metavar="N", help="write a resumable checkpoint every N steps (never less often than a tenth of the run)")
    tr.add_argument("--init", metavar="default|DIR", help="start from a trained model's weights: the shipped one (default) or a checkpoint folder")
    _add_prior_arguments(tr, "train on")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(func=_train)

    ck = sub.add_parser(
        "check-prior",
        help="run the prior conformance check and measure sampling speed; with --against, compare it with real curves",
        description=(
            "Check that a prior follows the rules training relies on. With --against FILE, also compare its curves with real "
            "ones on summary statistics that matter for extrapolation (late slope, curvature, end-of-run drop, noise, plateaus, "
            "non-monotone phases, a rise at the end) and say where real curves sit in the prior's tails."
        ),
    )
    _add_prior_arguments(ck, "check")
    ck.add_argument("--tasks", type=_positive_int, default=64, help="tasks per checked batch (default 64)")
    ck.add_argument("--against", metavar="FILE", help="real curves: a parquet/CSV table with x, y, curve_id (and source) columns, or a curve file")
    ck.add_argument("--prior-tasks", type=_positive_int, default=512, help="tasks drawn from the prior for the comparison (default 512)")
    ck.add_argument("--max-curves", type=_positive_int, default=300, help="real curves per source, a seeded random subset (default 300)")
    ck.add_argument("--plot", metavar="OUT.png", help="write histograms of the prior's and the real curves' statistics")
    ck.add_argument("--json", action="store_true", help="print the comparison as JSON")
    ck.set_defaults(func=_check_prior)

    pl = sub.add_parser("plot-prior", help="plot a few tasks sampled from a prior")
    _add_prior_arguments(pl, "plot")
    pl.add_argument("--tasks", type=_positive_int, default=6, help="tasks to draw (default 6)")
    pl.add_argument("--seed", type=int, default=0, help="seeds the draw (default 0)")
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
