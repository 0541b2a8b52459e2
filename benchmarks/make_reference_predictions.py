"""Regenerate ``tests/data/reference_predictions.json``: the shipped model's predictions on fixed inputs.

``tests/test_reference_predictions.py`` compares the shipped model's output with this file, so numerical
drift (a changed kernel, dtype, normalization or encoding) fails a test. Rerun this script only when the
shipped model is retrained on purpose, and commit the new file with the new weights.

    python benchmarks/make_reference_predictions.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import curvecast

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference_predictions.json"
LEVELS = [0.05, 0.5, 0.95]


def reference_inputs() -> list[dict]:
    """Fixed, hand-written curves (no randomness): a loss, an accuracy, a log-spaced curve with a config."""
    x1 = np.linspace(100.0, 2000.0, 20)
    x2 = np.arange(1.0, 16.0)
    x3 = np.geomspace(10.0, 1e4, 12)
    return [
        {"x": x1.tolist(), "y": (2.0 + 3.0 * (x1 / 100.0) ** -0.5).round(6).tolist(), "x_query": [2500.0, 4000.0, 8000.0], "direction": "min"},
        {"x": x2.tolist(), "y": (0.9 - 0.5 * x2**-0.8).round(6).tolist(), "x_query": [20.0, 40.0], "direction": "max"},
        {
            "x": x3.tolist(),
            "y": (1e3 * (1.0 + 4.0 * (x3 / 10.0) ** -0.3)).round(3).tolist(),
            "x_query": [2e4, 5e4, 1e5],
            "direction": "min",
            "config": {"total_steps": 1e5, "schedule": "cosine"},
        },
    ]


def reference_runs() -> dict:
    """A fixed sweep (no randomness): three finished runs of growing size with a free hyperparameter, and the
    target, a larger run observed for five points."""
    x = np.linspace(100.0, 2000.0, 12)
    runs = [
        {"x": x.tolist(), "y": (2.0 + 0.3 * k + 3.0 * (x / 100.0) ** -0.5).round(6).tolist(), "config": {"n_params": 1e7 * 4.0 ** (3 - k), "dropout": 0.1 * k}}
        for k in range(1, 4)
    ]
    target = {"x": x[:5].tolist(), "y": (2.0 + 3.0 * (x[:5] / 100.0) ** -0.5).round(6).tolist(), "config": {"n_params": 6.4e8, "dropout": 0.0}}
    return {"runs": runs, "target": target, "x_query": [2000.0, 4000.0], "direction": "min"}


def predict_reference_runs(model: curvecast.Predictor, case: dict) -> curvecast.Prediction:
    runs = [curvecast.Run(r["x"], r["y"], r["config"]) for r in case["runs"]]
    t = case["target"]
    return model.predict(t["x"], t["y"], case["x_query"], direction=case["direction"], config=t["config"], runs=runs)


def main() -> None:
    model = curvecast.load()
    cases = []
    for case in reference_inputs():
        pred = model.predict(case["x"], case["y"], case["x_query"], direction=case["direction"], config=case.get("config"))
        cases.append({**case, "levels": LEVELS, "quantiles": pred.quantile(LEVELS).tolist(), "mean": pred.mean.tolist()})
    runs_case = reference_runs()
    pred = predict_reference_runs(model, runs_case)
    runs_case.update({"levels": LEVELS, "quantiles": pred.quantile(LEVELS).tolist(), "mean": pred.mean.tolist()})
    sha = hashlib.sha256((model.path / "model.safetensors").read_bytes()).hexdigest()
    reference = {
        "weights_sha256": sha,
        "temperature": model.temperature,
        "temperature_runs": model.temperature_runs,
        "runs_ensemble": model.runs_ensemble,
        "cases": cases,
        "runs_case": runs_case,
    }
    OUT.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
