"""The shipped model reproduces its recorded predictions (guards numerical drift in the predict path).

Regenerate ``tests/data/reference_predictions.json`` with ``benchmarks/make_reference_predictions.py`` only
when the shipped weights change on purpose.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

import curvecast

REFERENCE = Path(__file__).resolve().parent / "data" / "reference_predictions.json"


def test_shipped_model_matches_reference_predictions():
    reference = json.loads(REFERENCE.read_text())
    model = curvecast.load()
    sha = hashlib.sha256((model.path / "model.safetensors").read_bytes()).hexdigest()
    assert sha == reference["weights_sha256"], "the shipped weights changed: regenerate the reference file"
    assert model.temperature == reference["temperature"], "the shipped calibration changed: regenerate the reference file"
    for case in reference["cases"]:
        pred = model.predict(case["x"], case["y"], case["x_query"], direction=case["direction"], config=case.get("config"))
        np.testing.assert_allclose(pred.quantile(case["levels"]), case["quantiles"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(pred.mean, case["mean"], rtol=1e-4, atol=1e-6)


def test_shipped_model_matches_reference_predictions_given_other_runs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_reference_predictions", REFERENCE.parents[2] / "benchmarks" / "make_reference_predictions.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    reference = json.loads(REFERENCE.read_text())
    model = curvecast.load()
    assert model.temperature_runs == reference["temperature_runs"], "the shipped calibration changed: regenerate the reference file"
    assert model.runs_ensemble == reference["runs_ensemble"], "the shipped calibration changed: regenerate the reference file"
    case = reference["runs_case"]
    assert {k: case[k] for k in ("runs", "target", "x_query", "direction")} == maker.reference_runs()
    pred = maker.predict_reference_runs(model, case)
    np.testing.assert_allclose(pred.quantile(case["levels"]), case["quantiles"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred.mean, case["mean"], rtol=1e-4, atol=1e-6)
