"""Cost of qLogExpectedImprovement on PFNModel: 32 candidates at q = 1 and q = 2 (default sampler, 512 samples),
on a 6-run toy study.

    python benchmarks/bo/q_cost.py
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from botorch.acquisition.logei import qLogExpectedImprovement

from curvecast import bo

SPACE = {"lr": bo.Float(1e-4, 1e-1, log=True), "width": bo.Int(8, 128, log=True), "act": bo.Categorical(["relu", "tanh", "gelu"])}


def main() -> int:
    opt = bo.Optimizer(SPACE, max_budget=9, seed=0)
    for _ in range(6):
        trial = opt.ask()
        x = np.arange(1, int(trial.budget) + 1, dtype=float)
        opt.tell(trial.id, x, 0.3 + 0.4 * (math.log10(trial.config["lr"]) + 2.5) ** 2 + x**-0.7)
    model = opt.model()
    acquisition = qLogExpectedImprovement(model, best_f=model.best_f)
    for q in (1, 2):
        X = torch.rand(32, q, model.space.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            start = time.perf_counter()
            acquisition(X)
        print(f"q={q}: {time.perf_counter() - start:.2f} s for 32 candidates", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
