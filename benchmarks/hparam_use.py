"""How much a model uses free hyperparameters: NLL on prior tasks with the true ones, zeroed, or shuffled.

    python benchmarks/hparam_use.py default curvecast/models/bo

Tasks come from ``priors.default()`` with free hyperparameters in every task (``p_free_hparams=1``, half of
them pure sweeps) and the split of the shipped models' training (``--preset cpu``, 30% unobserved runs), 4
batches of 64 tasks, seed 0. A model that reads the hyperparameters scores better with the true ones than
with them zeroed (no slots used) or shuffled across tasks (slots from another task's runs).

``unobserved_*``: the same on the points of runs with no observed point (predicted from their config and
the other runs alone), where the hyperparameters are all that tells a pure sweep's runs apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

import curvecast
from curvecast.training import preset
from curvecast.training.loop import build_prior, make_batch, nll_from_logits
from curvecast.training.split import SplitPolicy


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="'default' or checkpoint folders")
    ap.add_argument("--batches", type=int, default=4)
    args = ap.parse_args(argv)
    base = preset("cpu")
    cfg = base.replace(
        prior_overrides={**base.prior_overrides, "p_free_hparams": 1.0, "p_pure_sweep": 0.5, "hparam_effect_range": (0.1, 2.0)},
        split=SplitPolicy(p_holdout_largest=0.3, p_unobserved=0.3),
    )
    prior = build_prior(cfg)
    out = {}
    for path in args.models:
        model = curvecast.load(None if path == "default" else path).model
        generator = torch.Generator().manual_seed(0)
        scores = {f"{part}{name}": 0.0 for part in ("", "unobserved_") for name in ("true", "zeroed", "shuffled")}
        for _ in range(args.batches):
            inp, target, mask = make_batch(prior, cfg, generator, torch.device("cpu"), 64)
            shuffled = inp.hparams[torch.randperm(inp.hparams.shape[0], generator=generator)]
            observed = inp.is_context & inp.valid
            seen_runs = torch.zeros(inp.run_id.shape[0], int(inp.run_id.max()) + 1, dtype=torch.bool)
            seen_runs.scatter_(1, torch.where(observed, inp.run_id, 0), observed)
            unobserved = mask & ~seen_runs.gather(1, inp.run_id)
            with torch.no_grad():
                for name, hparams in (("true", inp.hparams), ("zeroed", torch.zeros_like(inp.hparams)), ("shuffled", shuffled)):
                    logits = model(dataclasses.replace(inp, hparams=hparams))
                    scores[name] += float(nll_from_logits(model.bar_distribution, logits, target, mask)) / args.batches
                    scores[f"unobserved_{name}"] += float(nll_from_logits(model.bar_distribution, logits, target, unobserved)) / args.batches
        scores["gain_over_zeroed"] = scores["zeroed"] - scores["true"]
        scores["unobserved_gain_over_zeroed"] = scores["unobserved_zeroed"] - scores["unobserved_true"]
        out[path] = scores
        print(path, json.dumps({k: round(v, 4) for k, v in scores.items()}))
    return out


if __name__ == "__main__":
    main()
