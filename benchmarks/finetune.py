"""Fine-tuning the shipped model on a narrow custom prior, against the shipped model and training from scratch.

    python benchmarks/finetune.py --steps 600 --json-out benchmarks/results/finetune.json

The narrow prior is ``examples/plateau_prior.py:PlateauAccuracyPrior`` (accuracy that sits at chance, then
rises suddenly), loaded the way ``--prior-file`` loads it. Three models are scored on the same held-out
tasks from that prior (seed 10,000, never seen in training):

- ``shipped``: the shipped default model, as is;
- ``finetuned``: the shipped model after ``--steps`` steps on the prior (``curvecast train --init default``);
- ``scratch``: the same architecture trained from random weights for the same number of steps (same batch
  size, so the same time: both wall times are reported), at the higher learning rate training from scratch
  needs (``--scratch-lr``).

Scores: ``nll`` is the mean negative log density of the held-out points under the training split (normalised
units, as ``eval_prior_nll`` in training); ``final_*`` forecast each task's first run from its first
``--observed`` fraction (the public ``Predictor.predict``, raw network: temperature 1): the median's absolute
error at the run's last point, the mean log density of the true last value, and how often the 90% interval
holds it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import curvecast
from curvecast.priors import load_prior
from curvecast.training import finetune, train
from curvecast.training.loop import make_batch, nll_from_logits

PRIOR_FILE = str(Path(__file__).resolve().parent.parent / "examples" / "plateau_prior.py") + ":PlateauAccuracyPrior"


def _scores(predictor: "curvecast.Predictor", prior, config, n_tasks: int, observed: float) -> dict[str, float]:
    generator = torch.Generator().manual_seed(10_000)
    inp, target, mask = make_batch(prior, config, generator, torch.device("cpu"), n_tasks)
    with torch.no_grad():
        logits = predictor.model(inp)
    nll = float(nll_from_logits(predictor.model.bar_distribution, logits, target, mask))
    batch = prior.sample(n_tasks, generator=torch.Generator().manual_seed(10_001))
    errors, log_densities, covered = [], [], []
    for task in range(n_tasks):
        m = batch.point_mask[task, 0]
        x, y = batch.x[task, 0, m].numpy(), batch.y[task, 0, m].numpy()
        k = max(2, int(round(observed * len(x))))
        pred = predictor.predict(x[:k], y[:k], [x[-1]], direction="max", bounds=(0.0, 1.0))
        errors.append(abs(float(pred.median[-1]) - y[-1]))
        log_densities.append(float(pred.logpdf([y[-1]])[-1]))
        low, high = pred.interval(0.9)
        covered.append(low[-1] <= y[-1] <= high[-1])
    return {
        "nll": nll,
        "final_median_abs_error": float(np.mean(errors)),
        "final_log_density": float(np.mean(log_densities)),
        "final_coverage_90": float(np.mean(covered)),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=600, help="training steps of both the fine-tuned and the from-scratch model")
    ap.add_argument("--scratch-lr", type=float, default=1e-3)
    ap.add_argument("--tasks", type=int, default=256, help="held-out tasks")
    ap.add_argument("--observed", type=float, default=0.4, help="observed fraction of each forecast run")
    ap.add_argument("--out", help="keep the two run folders here (default: a temporary folder)")
    ap.add_argument("--json-out", help="write the results as JSON to this file")
    args = ap.parse_args(argv)

    prior = load_prior(file=PRIOR_FILE)
    base = finetune("default").replace(steps=args.steps, progress=False, eval_every=max(1, args.steps // 4))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        arms = {
            "finetuned": base.replace(out_dir=str(root / "finetuned")),
            "scratch": base.replace(out_dir=str(root / "scratch"), init=None, lr=args.scratch_lr, warmup_steps=100),
        }
        results: dict = {"prior": PRIOR_FILE.rsplit("/", 1)[-1], "steps": args.steps, "tasks": args.tasks, "observed": args.observed}
        predictor = curvecast.load(temperature=1.0)
        results["shipped"] = {"wall_time_s": 0.0, **_scores(predictor, prior, base, args.tasks, args.observed)}
        print("shipped", json.dumps(results["shipped"]), flush=True)
        for name, config in arms.items():
            started = time.perf_counter()
            train(config, prior=prior)
            wall = time.perf_counter() - started
            predictor = curvecast.load(config.out_dir, temperature=1.0)
            results[name] = {"wall_time_s": wall, **_scores(predictor, prior, base, args.tasks, args.observed)}
            print(name, json.dumps(results[name]), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
