"""How much a model uses free hyperparameters: NLL on prior tasks with the true ones, zeroed, or shuffled.

    python benchmarks/hparam_use.py default curvecast/models/bo

Tasks come from ``priors.default()`` with free hyperparameters in every task (``p_free_hparams=1``, half of
them pure sweeps) and the split of the shipped models' training (``--preset cpu``, 30% unobserved runs), 4
batches of 64 tasks, seed 0. A model that reads the hyperparameters scores better with the true ones than
with them zeroed (no slots used) or shuffled across tasks (slots from another task's runs).
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
        scores = {"true": 0.0, "zeroed": 0.0, "shuffled": 0.0}
        for _ in range(args.batches):
            inp, target, mask = make_batch(prior, cfg, generator, torch.device("cpu"), 64)
            shuffled = inp.hparams[torch.randperm(inp.hparams.shape[0], generator=generator)]
            with torch.no_grad():
                for name, hparams in (("true", inp.hparams), ("zeroed", torch.zeros_like(inp.hparams)), ("shuffled", shuffled)):
                    logits = model(dataclasses.replace(inp, hparams=hparams))
                    scores[name] += float(nll_from_logits(model.bar_distribution, logits, target, mask)) / args.batches
        scores["gain_over_zeroed"] = scores["zeroed"] - scores["true"]
        out[path] = scores
        print(path, json.dumps({k: round(v, 4) for k, v in scores.items()}))
    return out


if __name__ == "__main__":
    main()
