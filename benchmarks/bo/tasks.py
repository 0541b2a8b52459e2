"""Benchmark tasks for the BO loop: real tabular learning curves (LCDB) and a live scikit-learn MLP task.

A task exposes what every method needs at equal cost: the search space, the budget steps, ``points(config,
budget)`` (the curve observed up to ``budget``), ``final(config)`` (the value at the full budget, for
regret) and the cost model: training from budget ``a`` to ``b`` costs ``b - a`` (runs resume).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curvecast import bo

REALCURVES = Path(__file__).resolve().parents[3] / "shared" / "data" / "realcurves"


def _key(config: dict[str, Any]) -> tuple:
    return tuple(sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in config.items()))


@dataclass
class Task:
    name: str
    space: dict[str, Any]
    budgets: np.ndarray
    direction: str

    @property
    def max_budget(self) -> float:
        return float(self.budgets[-1])

    @property
    def sign(self) -> int:
        return 1 if self.direction == "min" else -1

    def points(self, config: dict[str, Any], budget: float) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def final(self, config: dict[str, Any]) -> float:
        _, y = self.points(config, self.max_budget)
        return float(y[-1])


# -- LCDB ----------------------------------------------------------------------------------------------


@dataclass
class LCDBTask(Task):
    """Choose a learner for one OpenML dataset; fidelity = training-set size (LCDB anchors), accuracy."""

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def points(self, config: dict[str, Any], budget: float) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.curves[config["learner"]]
        keep = x <= budget * (1 + 1e-9)
        return x[keep], y[keep]

    @property
    def best_final(self) -> float:
        finals = [float(y[-1]) for _, y in self.curves.values()]
        return min(finals) if self.sign > 0 else max(finals)


def lcdb_tasks(n_datasets: int = 8, *, min_learners: int = 15, path: Path | None = None) -> list[LCDBTask]:
    """The first ``n_datasets`` LCDB datasets (by OpenML id) with at least ``min_learners`` learners whose
    accuracy curve reaches the dataset's largest anchor and whose best final accuracy beats the median
    learner's by at least 0.01 (so choosing matters). Budgets are the anchors every learner has."""
    import pandas as pd

    frame = pd.read_parquet(path or REALCURVES / "lcdb.parquet")
    frame = frame[frame.metric_name.str.contains("accuracy")]
    tasks = []
    groups = sorted(frame.group.unique(), key=lambda g: int(g.split(":")[0].removeprefix("openml")))
    for group in groups:
        sub = frame[frame.group == group]
        curves = {}
        for _, c in sub.groupby("curve_id"):
            learner = json.loads(c.config.iloc[0])["learner"]
            c = c.sort_values("x")
            curves[learner] = (c.x.to_numpy(float), c.y.to_numpy(float))
        top = max(float(x[-1]) for x, _ in curves.values())
        curves = {k: v for k, v in curves.items() if math.isclose(v[0][-1], top) and len(v[0]) >= 4}
        if len(curves) < min_learners:
            continue
        finals = np.array([y[-1] for _, y in curves.values()])
        if finals.max() - np.median(finals) < 0.01:
            continue
        anchors = sorted(set.intersection(*(set(x.tolist()) for x, _ in curves.values())))
        if len(anchors) < 4:
            continue
        anchors = np.asarray(anchors)
        curves = {k: (x[np.isin(x, anchors)], y[np.isin(x, anchors)]) for k, (x, y) in curves.items()}
        space = {"learner": bo.Categorical(sorted(curves))}
        tasks.append(LCDBTask(f"lcdb:{group}", space, anchors, "max", curves))
        if len(tasks) == n_datasets:
            break
    return tasks


# -- live: scikit-learn MLP on the bundled digits data -------------------------------------------------


class LiveMLPTask(Task):
    """Tune an MLP (5 hyperparameters of mixed type) on scikit-learn's bundled digits data; fidelity =
    epochs (one ``partial_fit`` pass each), metric = validation log-loss (finer-grained than the error rate,
which moves in steps of 1/540 on this split). Training is real and deterministic
    (fixed split, ``random_state=0``); a config's run is kept and resumed, so asking for more epochs of
    the same config continues it, as a checkpoint would."""

    def __init__(self, max_epochs: int = 20) -> None:
        space = {
            "learning_rate_init": bo.Float(1e-4, 3e-1, log=True),
            "alpha": bo.Float(1e-6, 1e-1, log=True),
            "hidden": bo.Int(8, 256, log=True),
            "activation": bo.Categorical(["relu", "tanh", "logistic"]),
            "batch_size": bo.Int(16, 512, log=True),
        }
        super().__init__("live:digits-mlp", space, np.arange(1.0, max_epochs + 1.0), "min")
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        data = load_digits()
        x_train, x_val, y_train, y_val = train_test_split(data.data, data.target, test_size=0.3, random_state=0, stratify=data.target)
        scaler = StandardScaler().fit(x_train)
        self.data = (scaler.transform(x_train), scaler.transform(x_val), y_train, y_val)
        self.runs: dict[tuple, tuple[Any, list[float]]] = {}
        self.epochs_trained = 0

    def points(self, config: dict[str, Any], budget: float) -> tuple[np.ndarray, np.ndarray]:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        key = _key(config)
        if key not in self.runs:
            clf = MLPClassifier(
                hidden_layer_sizes=(int(config["hidden"]),),
                activation=config["activation"],
                alpha=float(config["alpha"]),
                batch_size=int(config["batch_size"]),
                learning_rate_init=float(config["learning_rate_init"]),
                random_state=0,
            )
            self.runs[key] = (clf, [])
        clf, errors = self.runs[key]
        x_train, x_val, y_train, y_val = self.data
        classes = np.unique(y_train)
        while len(errors) < int(round(budget)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.partial_fit(x_train, y_train, classes=classes)
            self.epochs_trained += 1
            errors.append(float(log_loss(y_val, clf.predict_proba(x_val), labels=classes)))
        n = int(round(budget))
        return np.arange(1.0, n + 1.0), np.asarray(errors[:n])
