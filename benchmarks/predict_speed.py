"""Inference speed of the predict API: one curve, and a batch of curves, each 50 observed + 50 query points;
and joint samples (``Prediction.sample``) of one long curve's future.

Targets (issue 3): one curve in under 30 ms on a 2-core CPU; 1,000 curves batched in under 10 s on CPU.
Joint sampling has no target; it is timed so that its cost stays linear in the number of query points (each
of its passes reads the context plus the points it draws, see ``curvecast.pfn.sample_joint``).

    python benchmarks/predict_speed.py --device cpu --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

import curvecast


def make_curves(n: int, seed: int = 0) -> list[curvecast.Curve]:
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n):
        x = np.linspace(1.0, 50.0, 50) * rng.uniform(1, 1000)
        y = rng.uniform(0.5, 3) + rng.uniform(0.5, 5) * (x / x[0]) ** -rng.uniform(0.2, 1.0) + rng.normal(0, 0.01, 50)
        curves.append(curvecast.Curve(x, y, np.linspace(x[-1] * 1.02, x[-1] * 2.0, 50)))
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=50, help="timed single-curve calls")
    parser.add_argument("--batch-curves", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=256, help="curves per forward pass in predict_many")
    parser.add_argument("--sample-queries", type=int, default=5000, help="query points of the joint-sampling timing")
    parser.add_argument("--samples", type=int, default=20, help="joint sample paths drawn in that timing")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()

    model = curvecast.load(args.model, device=args.device)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    one = make_curves(1)[0]
    for _ in range(5):  # warm-up
        model.predict(one.x, one.y, one.x_query)
    times = []
    for _ in range(args.repeats):
        sync()
        start = time.perf_counter()
        pred = model.predict(one.x, one.y, one.x_query)
        _ = pred.quantile([0.05, 0.95])
        sync()
        times.append(time.perf_counter() - start)
    curves = make_curves(args.batch_curves, seed=1)
    sync()
    start = time.perf_counter()
    preds = model.predict_many(curves, batch_size=args.batch_size)
    _ = [p.quantile([0.05, 0.95]) for p in preds]
    sync()
    batch_s = time.perf_counter() - start
    x_long = np.arange(1.0, 65.0)  # the most points a single curve is read at, so no thinning warning
    long = model.predict(x_long, 3.0 + 5.0 * x_long**-0.5, np.linspace(66.0, 2000.0, args.sample_queries))
    sync()
    start = time.perf_counter()
    long.sample(args.samples, seed=0)
    sync()
    sample_s = time.perf_counter() - start
    result = {
        "device": str(model.device),
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "single_curve_ms_median": 1000 * statistics.median(times),
        "single_curve_ms_p90": 1000 * float(np.quantile(times, 0.9)),
        "batch_curves": args.batch_curves,
        "batch_total_s": batch_s,
        "batch_curves_per_s": args.batch_curves / batch_s,
        "sample_queries": args.sample_queries,
        "sample_paths": args.samples,
        "sample_s": sample_s,
        "model_parameters": model.model.num_parameters(),
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:26s} {value:.4g}" if isinstance(value, float) else f"{key:26s} {value}")


if __name__ == "__main__":
    main()
