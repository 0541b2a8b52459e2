"""Throughput of the prior sampler and of PFN training steps.

    python benchmarks/throughput.py --device cpu --json
    python benchmarks/throughput.py --device cuda --json --preset default

Prints one JSON object with ``prior_curves_per_s`` (curves of 100 points from the default prior),
``train_tokens_per_s`` and ``train_steps_per_s`` for the chosen preset's model and batch, the share of that
time spent preparing batches (``batch_prep_fraction``: prior sampling, split and encoding) and, on GPU,
``model_flops_utilization`` against the card's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from curvecast import priors
from curvecast.priors.benchmark import curves_per_second
from curvecast.training.config import preset
from curvecast.device import resolve_device
from curvecast.training.loop import build_prior, make_batch, optimizer_step
from curvecast.pfn.model import PFN

# Dense bf16 peaks (no sparsity), for the utilisation estimate.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def model_flops_per_token(model: PFN, seq_len: int) -> float:
    """Training FLOPs per token: 6 x dense weights + attention score/value matmuls (x3 for backward)."""
    cfg = model.config
    dense = sum(p.numel() for n, p in model.named_parameters() if p.ndim == 2 and "embedding" not in n)
    attention = 2 * 2 * seq_len * cfg.d_model * cfg.n_layers
    return 6.0 * dense + 3.0 * attention


def train_throughput(preset_name: str, device: torch.device, steps: int, warmup: int) -> dict:
    config = preset(preset_name).replace(device=str(device))
    prior = build_prior(config)
    generator = torch.Generator(device=device).manual_seed(0)
    borders = torch.linspace(-5, 5, config.model.n_bars + 1)
    model = PFN(config.model, borders).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    amp = device.type == "cuda"

    def sync() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    tokens = 0
    seq_len = 0
    for i in range(warmup + steps):
        if i == warmup:
            start, tokens = sync(), 0
        batch = make_batch(prior, config, generator, device, config.batch_size)
        optimizer_step(model, model, optimizer, batch, amp=amp, grad_clip=config.grad_clip)
        tokens += batch[0].valid.numel()  # padded tokens cost compute too
        seq_len = batch[0].valid.shape[1]
    elapsed = sync() - start
    # Batch preparation (prior sampling, split, encoding) timed on its own, so the steps above stay unsynchronised.
    prep_start = sync()
    for _ in range(steps):
        make_batch(prior, config, generator, device, config.batch_size)
    batch_s = sync() - prep_start
    out = {
        "preset": preset_name,
        "n_parameters": model.num_parameters(),
        "batch_size": config.batch_size,
        "seq_len": seq_len,
        "train_steps_per_s": steps / elapsed,
        "train_tokens_per_s": tokens / elapsed,
        "batch_prep_fraction": batch_s / elapsed,
    }
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
        achieved = out["train_tokens_per_s"] * model_flops_per_token(model, seq_len)
        out["gpu"] = name
        out["model_tflops_per_s"] = achieved / 1e12
        if peak:
            out["model_flops_utilization"] = achieved / peak
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="curvecast prior and training throughput")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--preset", default=None, help="training preset to time (default: small on cpu, default on cuda)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps")
    parser.add_argument("--prior-tasks", type=int, default=None, help="tasks per prior batch (default: 20,000 on cpu, 200,000 on cuda)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    device = resolve_device(args.device)
    preset_name = args.preset or ("default" if device.type == "cuda" else "small")
    steps = args.steps or (50 if device.type == "cuda" else 10)
    result = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        # A GPU needs far bigger batches than the CPU to reach its throughput.
        "prior_curves_per_s": curves_per_second(priors.default(), n_points=100, device=device, n_tasks=args.prior_tasks or (200_000 if device.type == "cuda" else 20_000)),
        **train_throughput(preset_name, device, steps, warmup=3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value:,.1f}" if isinstance(value, float) else f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
