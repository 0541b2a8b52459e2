"""Is a model calibrated on the prior it was trained on? PIT coverage on training-format tasks, by band width.

    python benchmarks/prior_pit.py                                        # the shipped model
    python benchmarks/prior_pit.py --models curvecast/models/default runs/finetune --json pit.json --plot pit.png

Tasks are drawn exactly as training draws them (``curvecast.training.loop.make_batch``: the shipped model's
synthetic prior and split policy, every kind of task: sweeps, ladders, tables, single curves, with and
without configs), and every query token is scored: its NLL in normalized units and whether its value falls
inside the central 10%, 20%, ..., 90% intervals (the table prints 50% and 90%, ``--plot`` draws them all). A
model that had learned its prior's posterior would cover each level on average, and on any group of tokens
chosen by what the model itself predicts, such as the width of its 90% band. Tokens are grouped by that width in bars of the first model's grid (``--span-edges``), so the table
says whether sharp predictions are calibrated, and every model is scored on the same tokens. A second table
groups the query tokens of single-run tasks by how many observed points their run has (``POINT_EDGES``): are
forecasts from a handful of points calibrated on the prior, as they are not on real curves (BENCHMARKS.md)?

``realcurves.py`` and ``prior_coverage.py`` score single curves through the public API; this script scores the
network itself on its training distribution, the baseline every real-curve number is measured against.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from curvecast.pfn.checkpoint import load_model
from curvecast.training.config import finetune
from curvecast.training.loop import build_prior, make_batch

#: Edges of the band-width groups, in bars of the first model's grid.
SPAN_EDGES = (0, 6, 12, 25, 50, 100_000)
#: Edges of the groups by how many observed points the token's own run has (0: a run not started).
POINT_EDGES = (0, 1, 3, 4, 6, 11, 10**9)
#: Central-interval levels scored (the reliability figure's x axis); the table prints ``TABLE_LEVELS``.
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TABLE_LEVELS = (0.5, 0.9)
#: Each token's NLL is also reported capped here (as ``realcurves.py`` caps points): the prior's rare far
#: targets (divergences) otherwise dominate the mean.
NLL_CAP = 10.0


def coverage_by_span(inside: np.ndarray, span: np.ndarray, edges: Sequence[int]) -> list[dict]:
    """Per group ``edges[i] <= span < edges[i+1]``: its token count and the mean of each column of ``inside``
    (``tokens x levels``, booleans); groups without tokens are left out."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        chosen = (span >= lo) & (span < hi)
        if chosen.any():
            rows.append({"span": [int(lo), int(hi)], "n": int(chosen.sum()), "coverage": inside[chosen].mean(axis=0).tolist()})
    return rows


def run_points(run_id: torch.Tensor, is_context: torch.Tensor, max_runs: int) -> torch.Tensor:
    """``B x L``: how many observed (context) tokens each token's run has in its task."""
    ids = run_id.clamp(0, max_runs - 1)
    counts = torch.zeros(run_id.shape[0], max_runs, dtype=torch.long).scatter_add_(1, ids, is_context.long())
    return counts.gather(1, ids)


def single_run(run_id: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``B``: whether every valid token of a task belongs to one run."""
    first = run_id[:, :1]
    return ((run_id == first) | ~valid).all(dim=1)


@torch.no_grad()
def score(model_paths: Sequence[str], *, tasks: int, seed: int, batch: int = 32, edges: Sequence[int] = SPAN_EDGES) -> dict:
    """NLL and central-interval coverage of each model on the same ``tasks`` training-format tasks."""
    config = finetune("default")
    prior = build_prior(config)
    models = [load_model(path)[0].eval() for path in model_paths]
    generator = torch.Generator().manual_seed(seed)
    q = torch.tensor([(1 - level) / 2 for level in LEVELS] + [(1 + level) / 2 for level in LEVELS])
    nll: list[list[np.ndarray]] = [[] for _ in models]
    inside: list[list[np.ndarray]] = [[] for _ in models]
    spans: list[np.ndarray] = []
    points: list[np.ndarray] = []
    alone: list[np.ndarray] = []
    for start in range(0, tasks, batch):
        inp, target, mask = make_batch(prior, config, generator, torch.device("cpu"), min(batch, tasks - start))
        y = target.clamp(-1e4, 1e4)[mask]  # tokens
        points.append(run_points(inp.run_id, inp.is_context, models[0].config.max_runs)[mask].numpy())
        alone.append(single_run(inp.run_id, inp.valid)[:, None].expand_as(mask)[mask].numpy())
        for i, model in enumerate(models):
            bar = model.bar_distribution
            logits = model(inp)[mask]  # tokens x n_bars
            nll[i].append((-bar.log_prob(logits, y)).numpy())
            bounds = bar.icdf(logits, q)  # tokens x 2 len(LEVELS): lower ends, then upper ends
            lo, hi = bounds[:, : len(LEVELS)], bounds[:, len(LEVELS) :]
            inside[i].append(((y[:, None] > lo) & (y[:, None] < hi)).numpy())
            if i == 0:
                outer = torch.stack([lo[:, -1], hi[:, -1]], dim=-1).contiguous()
                spans.append((torch.searchsorted(bar.borders, outer[:, 1]) - torch.searchsorted(bar.borders, outer[:, 0])).numpy())
    span, point, one = np.concatenate(spans), np.concatenate(points), np.concatenate(alone)
    results = []
    for path, n, c in zip(model_paths, nll, inside, strict=True):
        n, c = np.concatenate(n), np.concatenate(c)
        results.append({
            "model": str(path), "nll": float(n.mean()), "nll_capped": float(np.minimum(n, NLL_CAP).mean()), "coverage": c.mean(axis=0).tolist(),
            "by_span": coverage_by_span(c, span, edges),
            "by_points_single_run": coverage_by_span(c[one], point[one], POINT_EDGES),
        })
    return {"tasks": tasks, "seed": seed, "levels": list(LEVELS), "tokens": int(span.size), "span_edges": list(edges), "point_edges": list(POINT_EDGES), "results": results}


def span_label(span: Sequence[int]) -> str:
    """``"12–25"``, or ``"50+"`` for a group whose upper edge is the default's unbounded one (more bars than
    any grid has); a smaller last edge is a real bound, since wider bands fall outside every group."""
    return f"{span[0]}+" if span[1] >= SPAN_EDGES[-1] else f"{span[0]}–{span[1]}"


def table(record: dict) -> str:
    shown = [i for i, level in enumerate(record["levels"]) if level in TABLE_LEVELS]
    levels = " / ".join(f"{record['levels'][i]:.0%}" for i in shown)
    lines = [f"{record['tokens']} query tokens of {record['tasks']} training-format tasks (seed {record['seed']}); coverage {levels}", ""]
    head = "| 90% band width, bars of the first model | tokens | " + " | ".join(Path(r["model"]).name for r in record["results"]) + " |"
    lines += [head, "|" + "---|" * (2 + len(record["results"]))]
    first = record["results"][0]["by_span"]
    for g, group in enumerate(first):
        cells = []
        for result in record["results"]:
            cells.append(" / ".join(f"{result['by_span'][g]['coverage'][i]:.3f}" for i in shown))
        lines.append(f"| {span_label(group['span'])} | {group['n']} | " + " | ".join(cells) + " |")
    lines.append("| all | {} | ".format(record["tokens"]) + " | ".join(" / ".join(f"{r['coverage'][i]:.3f}" for i in shown) + f" (capped NLL {r['nll_capped']:.4f})" for r in record["results"]) + " |")
    if "by_points_single_run" not in record["results"][0]:
        return "\n".join(lines)
    lines += ["", f"Single-run tasks only, by the run's observed points; coverage {levels}", "", "| observed points | tokens | " + " | ".join(Path(r["model"]).name for r in record["results"]) + " |",
              "|" + "---|" * (2 + len(record["results"]))]
    for g, group in enumerate(record["results"][0]["by_points_single_run"]):
        lo, hi = group["span"]
        label = f"{lo}+" if hi >= POINT_EDGES[-1] else (str(lo) if hi == lo + 1 else f"{lo}–{hi - 1}")
        cells = [" / ".join(f"{r['by_points_single_run'][g]['coverage'][i]:.3f}" for i in shown) for r in record["results"]]
        lines.append(f"| {label} | {group['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(record: dict, path: Path) -> None:
    """Reliability figure: observed against nominal central-interval coverage, one panel per model, one line
    per band-width group (a calibrated model lies on the diagonal; above it, too wide)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = record["results"]
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.0), squeeze=False, sharey=True)
    for ax, result in zip(axes[0], results, strict=True):
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for group in result["by_span"]:
            ax.plot(record["levels"], group["coverage"], marker="o", ms=3, label=f"{span_label(group['span'])} bars ({group['n']})")
        ax.plot(record["levels"], result["coverage"], color="k", lw=2, label="all tokens")
        ax.set(title=Path(result["model"]).name, xlabel="nominal central interval", xlim=(0, 1), ylim=(0, 1))
    axes[0][0].set_ylabel("share of targets inside")
    axes[0][0].legend(fontsize=7, title="90% band width", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["curvecast/models/default"], help="model folders; the first one's bars group the tokens")
    parser.add_argument("--tasks", type=int, default=256, help="training-format tasks drawn")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--span-edges", type=int, nargs="+", default=list(SPAN_EDGES), help="group edges, in bars")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--plot", type=Path, help="write the reliability figure here (PNG)")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    if len(args.span_edges) < 2 or any(b <= a for a, b in zip(args.span_edges[:-1], args.span_edges[1:], strict=True)):
        parser.error("--span-edges needs two or more increasing values")
    record = score(args.models, tasks=args.tasks, seed=args.seed, edges=args.span_edges)
    print(table(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    if args.plot:
        plot(record, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
