"""The BoTorch freeze-thaw loop: search spaces, the PFN as a BoTorch model, ask/tell, persistence, bad input."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import torch

import curvecast
from curvecast import Run, bo
from curvecast.errors import (
    CurvecastWarning,
    InvalidConfigError,
    InvalidCurveError,
    SearchSpaceError,
    ShapeError,
    StorageError,
    TrialStateError,
    UnknownTrialError,
)


@pytest.fixture(scope="module")
def predictor():
    return curvecast.load()


SPACE = {"lr": bo.Float(1e-4, 1e-1, log=True), "width": bo.Int(8, 128, log=True), "act": bo.Categorical(["relu", "tanh", "gelu"])}


def toy_objective(config, budget, state):
    """A deterministic learning curve whose end depends on the config (best near lr = 3e-3, relu)."""
    x = np.arange(1, int(round(budget)) + 1, dtype=float)
    final = 0.3 + 0.4 * (math.log10(config["lr"]) + 2.5) ** 2 + {"relu": 0.0, "tanh": 0.05, "gelu": 0.1}[config["act"]]
    return x, final + 1.0 * x**-0.7, (state or 0) + 1


def test_bo_loads_its_shipped_model():
    predictor = bo.load_bo_predictor()
    assert predictor.path.name == "bo" and (predictor.path / "README.md").is_file()
    assert predictor.model.config.read_hparams


# -- search spaces -------------------------------------------------------------------------------------


def test_space_encoding_by_hand():
    space = bo.SearchSpace(SPACE)
    assert space.dim == 1 + 1 + 3  # three categorical levels take one column each
    u = space.encode([{"lr": 1e-2, "width": 8, "act": "tanh"}])[0]
    assert u[0] == pytest.approx(2 / 3)  # log10: (-2 - -4) / (-1 - -4)
    # integers own equal shares: 8 sits in the middle of its share [7.5, 8.5] on the log scale
    assert u[1] == pytest.approx((math.log(8) - math.log(7.5)) / (math.log(128.5) - math.log(7.5)))
    assert list(u[2:]) == [0.0, 1.0, 0.0]
    assert space.decode(u[None]) == [{"lr": pytest.approx(1e-2), "width": 8, "act": "tanh"}]


def test_space_round_trip_and_two_level_categorical():
    space = bo.SearchSpace({"n": bo.Int(1, 4), "flag": bo.Categorical([False, True])})
    assert space.dim == 2
    configs = [{"n": n, "flag": f} for n in range(1, 5) for f in (False, True)]
    assert space.decode(space.encode(configs)) == configs
    # every integer gets a quarter of [0, 1]
    assert [space.decode([[u, 0.0]])[0]["n"] for u in (0.0, 0.24, 0.26, 0.74, 0.76, 1.0)] == [1, 1, 2, 3, 4, 4]
    sample = space.sample(16, seed=0)
    assert sample.shape == (16, 2) and set(np.unique(sample[:, 1])) <= {0.0, 1.0}
    np.testing.assert_array_equal(sample, space.sample(16, seed=0))


def test_space_bad_input():
    with pytest.raises(SearchSpaceError, match="empty"):
        bo.SearchSpace({})
    with pytest.raises(SearchSpaceError, match="low < high"):
        bo.Float(1.0, 1.0)
    with pytest.raises(SearchSpaceError, match="low > 0"):
        bo.Float(0.0, 1.0, log=True)
    with pytest.raises(SearchSpaceError, match="at least 2"):
        bo.Categorical(["adam"])
    with pytest.raises(SearchSpaceError, match="bo.Float"):
        bo.SearchSpace({"lr": (1e-4, 1e-1)})
    space = bo.SearchSpace(SPACE)
    with pytest.raises(SearchSpaceError, match="outside"):
        space.validate({"lr": 1.0, "width": 8, "act": "relu"})
    with pytest.raises(SearchSpaceError, match="missing"):
        space.validate({"lr": 1e-3})
    with pytest.raises(SearchSpaceError, match="outside"):
        space.validate({"lr": 1e-3, "width": 8, "act": "lion"})
    with pytest.warns(CurvecastWarning, match="not shown"):
        bo.SearchSpace({f"p{i}": bo.Float(0, 1) for i in range(10)})


# -- the BoTorch model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(predictor):
    space = bo.SearchSpace(SPACE)
    configs = space.decode(space.sample(5, seed=3))
    runs = []
    for i, c in enumerate(configs):
        x, y, _ = toy_objective(c, 3 + i, None)
        runs.append(Run(x, y, c))
    return bo.PFNModel(space, runs, target_budget=20, direction="min", predictor=predictor)


def test_posterior_shapes_and_orientation(model):
    X = torch.rand(4, 1, model.space.dim, dtype=torch.float64)
    post = model.posterior(X)
    assert post.mean.shape == (4, 1, 1) and post.variance.shape == (4, 1, 1)
    assert (post.variance > 0).all()
    # direction="min": outputs are negated losses, so the mean is below zero for these positive losses
    assert (post.mean < 0).all()
    q = post.quantile(torch.tensor([0.05, 0.95]))
    assert q.shape == (2, 4, 1, 1) and (q[0] < q[1]).all()
    s = post.rsample(torch.Size([8]))
    assert s.shape == (8, 4, 1, 1) and torch.isfinite(s).all()
    with pytest.raises(ShapeError, match="batch x q x 5"):
        model.posterior(torch.rand(3, 2))


def test_incumbents_are_the_best_values_seen_either_direction(predictor):
    from curvecast.bo.policy import _incumbents

    space = {"a": bo.Float(0.0, 1.0)}
    up = [Run([1, 2, 3], [0.1, 0.2, 0.3], {"a": 0.2}), Run([1, 2, 3], [0.5, 0.6, 0.7], {"a": 0.8})]
    maximize = bo.PFNModel(space, up, target_budget=10, direction="max", predictor=predictor)
    assert maximize.best_f == pytest.approx(0.7)  # oriented like the outputs: larger is better
    np.testing.assert_allclose(_incumbents(maximize, np.arange(1.0, 6.0)), [0.5, 0.6, 0.7, 0.7, 0.7])
    down = [Run([1, 2, 3], [-0.1, -0.2, -0.3], {"a": 0.2}), Run([1, 2, 3], [-0.5, -0.6, -0.7], {"a": 0.8})]
    minimize = bo.PFNModel(space, down, target_budget=10, direction="min", predictor=predictor)
    assert minimize.best_f == pytest.approx(0.7)  # -(-0.7)
    np.testing.assert_allclose(_incumbents(minimize, np.arange(1.0, 6.0)), [-0.5, -0.6, -0.7, -0.7, -0.7])
    # a run that starts late says nothing about the budgets before its first point
    late = [Run([5, 6, 7, 8], [0.9, 0.5, 0.3, 0.1], {"a": 0.2}), Run([1, 2, 3], [2.0, 1.8, 1.7], {"a": 0.8})]
    np.testing.assert_allclose(
        _incumbents(bo.PFNModel(space, late, target_budget=10, predictor=predictor), np.arange(1.0, 9.0)),
        [2.0, 1.8, 1.7, 0.1, 0.9, 0.5, 0.3, 0.1],
    )


def test_joint_samples_start_from_the_marginal_and_carry_gradients(model):
    torch.manual_seed(0)
    X = torch.rand(2, 2, model.space.dim, dtype=torch.float64, requires_grad=True)
    base = torch.randn(16, 2, 2, 1, dtype=torch.float64)
    joint = model.posterior(X).rsample_from_base_samples(torch.Size([16]), base)
    assert joint.shape == (16, 2, 2, 1)
    # the first point of a joint draw is a draw from its marginal: the same base sample gives the same value
    first = model.posterior(X[:, :1]).rsample_from_base_samples(torch.Size([16]), base[:, :, :1])
    torch.testing.assert_close(joint[:, :, 0], first[:, :, 0])
    joint.sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0


def test_botorch_acquisition_and_optimize_acqf(model):
    from botorch.acquisition import qLogExpectedImprovement
    from botorch.optim import optimize_acqf
    from botorch.sampling import SobolQMCNormalSampler

    acqf = qLogExpectedImprovement(model, best_f=model.best_f, sampler=SobolQMCNormalSampler(torch.Size([8]), seed=0))
    candidate, value = optimize_acqf(acqf, model.space.bounds, q=1, num_restarts=1, raw_samples=4, options={"maxiter": 3})
    assert candidate.shape == (1, model.space.dim) and torch.isfinite(value)
    assert ((candidate >= 0) & (candidate <= 1)).all()
    config = model.space.decode(candidate)[0]
    model.space.validate(config)


# -- ask / tell ----------------------------------------------------------------------------------------


def test_loop_is_reproducible_and_spends_its_budget(predictor):
    runs = []
    for _ in range(2):
        opt = bo.minimize(toy_objective, SPACE, max_budget=10, total_budget=30, seed=7, predictor=predictor, progress=False)
        runs.append([(t.config, t.budget, t.state) for t in opt.trials()])
        assert 30 <= opt.budget_used < 31
    assert runs[0] == runs[1]
    best = opt.best()
    assert best is not None and best.predicted is not None and np.isfinite(best.predicted)


def test_trial_states_and_budgets(predictor):
    opt = bo.Optimizer(SPACE, max_budget=4, seed=0, predictor=predictor)
    trial = opt.ask()
    assert trial.budget == 1.0 and trial.resume_from == 0.0 and trial.state == "running"
    assert opt.tell(trial.id, [0.5], [3.0]).state == "running"  # not at its budget yet
    assert opt.tell(trial.id, [1.0], [2.9]).state == "paused"
    stored = opt.trials()[0]
    np.testing.assert_array_equal(stored.x, [0.5, 1.0])
    with pytest.raises(TrialStateError, match="up to 1"):
        opt.tell(trial.id, [2.0], [1.0])
    with pytest.raises(UnknownTrialError, match="no trial with id 99"):
        opt.tell(99, [1.0], [1.0])
    full = opt.add({"lr": 1e-3, "width": 16, "act": "relu"}, [1, 2, 3, 4], [2.0, 1.5, 1.2, 1.1])
    assert full.state == "complete" and full.budget == 4.0
    with pytest.raises(TrialStateError, match="complete"):
        opt.tell(full.id, [4.0], [1.0])
    partial = opt.add({"lr": 1e-2, "width": 16, "act": "relu"}, [1, 2], [2.5, 2.0])
    assert partial.state == "paused" and partial.budget == 2.0
    with pytest.raises(SearchSpaceError, match="outside"):
        opt.add({"lr": 10.0, "width": 16, "act": "relu"}, [1], [1.0])
    with pytest.raises(InvalidCurveError, match="beyond max_budget"):
        opt.add({"lr": 1e-3, "width": 16, "act": "relu"}, [1, 8], [1.0, 0.9])
    # the imported finished run has the lowest observed end: it is recommended
    assert opt.best().id == full.id


def test_diverged_run_is_a_failed_trial_not_a_crash(predictor):
    opt = bo.Optimizer(SPACE, max_budget=4, seed=0, predictor=predictor)
    trial = opt.ask()
    with pytest.warns(CurvecastWarning, match="non-finite"):
        told = opt.tell(trial.id, [0.5, 1.0], [2.0, float("nan")])
    assert told.state == "failed" and list(told.x) == [0.5]
    with pytest.raises(TrialStateError, match="failed"):
        opt.tell(trial.id, [1.0], [1.0])
    assert opt.best() is None  # a failed trial is never recommended
    nxt = opt.ask()  # and the loop goes on
    assert nxt.id != trial.id


def test_finite_space_is_exhausted_not_repeated(predictor):
    space = {"act": bo.Categorical(["relu", "tanh"])}
    opt = bo.Optimizer(space, max_budget=2, seed=0, predictor=predictor, n_initial=2)
    seen = []
    with pytest.raises(bo.SearchExhausted):
        for _ in range(10):
            t = opt.ask()
            seen.append(t.config["act"])
            x, y, _ = toy_objective({"lr": 3e-3, **t.config}, t.budget, None)
            opt.tell(t.id, x, y)
    assert sorted(set(seen)) == ["relu", "tanh"] and len(opt.trials()) == 2


def test_search_exhausted_is_a_curvecast_error_that_generators_pass_on(predictor):
    from curvecast.errors import CurvecastError

    opt = bo.Optimizer({"act": bo.Categorical(["relu", "tanh"])}, max_budget=2, seed=0, predictor=predictor, n_initial=2)

    def trials():  # a StopIteration raised in here would surface as "generator raised StopIteration"
        while True:
            t = opt.ask()
            x, y, _ = toy_objective({"lr": 3e-3, **t.config}, t.budget, None)
            opt.tell(t.id, x, y)
            yield t

    with pytest.raises(bo.SearchExhausted, match="every configuration") as caught:
        list(trials())
    assert isinstance(caught.value, CurvecastError) and isinstance(caught.value, RuntimeError)


def test_bad_arguments():
    with pytest.raises(InvalidConfigError, match="max_budget"):
        bo.Optimizer(SPACE, max_budget=0)
    with pytest.raises(InvalidConfigError, match="budgets"):
        bo.Optimizer(SPACE, max_budget=10, budgets=[5, 3, 10])
    with pytest.raises(InvalidConfigError, match="last of budgets"):
        bo.Optimizer(SPACE, max_budget=10, budgets=[1, 5])
    with pytest.raises(SearchSpaceError, match="empty"):
        bo.Optimizer({}, max_budget=10)
    with pytest.raises(InvalidConfigError, match="total_budget"):
        bo.minimize(toy_objective, SPACE, max_budget=10, total_budget=float("inf"))


# -- persistence and workers ---------------------------------------------------------------------------


def test_storage_resumes_and_rejects_another_study(tmp_path, predictor):
    path = tmp_path / "study.db"
    opt = bo.Optimizer(SPACE, max_budget=6, seed=3, storage=path, predictor=predictor)
    t = opt.ask()
    opt.tell(t.id, *toy_objective(t.config, t.budget, None)[:2])
    again = bo.Optimizer(SPACE, max_budget=6, storage=path, predictor=predictor)
    assert again.seed == 3 and [r.id for r in again.trials()] == [t.id]
    np.testing.assert_array_equal(again.trials()[0].y, opt.trials()[0].y)
    with pytest.raises(StorageError, match="max_budget"):
        bo.Optimizer(SPACE, max_budget=7, storage=path, predictor=predictor)
    with pytest.raises(StorageError, match="seed"):
        bo.Optimizer(SPACE, max_budget=6, seed=4, storage=path, predictor=predictor)
    (tmp_path / "notes.db").write_text("not a database")
    with pytest.raises(StorageError, match="not an SQLite"):
        bo.Optimizer(SPACE, max_budget=6, storage=tmp_path / "notes.db")


def test_workers_sharing_a_storage_never_get_the_same_trial(tmp_path, predictor):
    path = tmp_path / "shared.db"
    bo.Optimizer(SPACE, max_budget=6, seed=0, storage=path, predictor=predictor)  # creates the study
    got: list[tuple[int, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        opt = bo.Optimizer(SPACE, max_budget=6, storage=path, predictor=predictor)
        for _ in range(4):
            t = opt.ask()
            with lock:
                got.append((t.id, t.budget))
            opt.tell(t.id, *toy_objective(t.config, t.budget, None)[:2])

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 8 and len(set(got)) == 8  # no (trial, budget) handed out twice


_LOOP = textwrap.dedent(
    """
    import math, os, sys
    import numpy as np
    from curvecast import bo
    space = {"lr": bo.Float(1e-4, 1e-1, log=True), "act": bo.Categorical(["relu", "tanh"])}
    log = open(sys.argv[2], "a")
    def objective(config, budget, state):
        x = np.arange(1, int(round(budget)) + 1, dtype=float)
        return x, 0.3 + (math.log10(config["lr"]) + 2.5) ** 2 + x ** -0.7
    def told(opt, trial):
        for t in opt.trials():
            if t.id == trial.id:
                log.write(" ".join(f"{t.id}:{float(a)!r}:{float(b)!r}" for a, b in zip(t.x, t.y)) + "\\n")
        log.flush(); os.fsync(log.fileno())
    bo.minimize(objective, space, max_budget=8, total_budget=float(sys.argv[3]), seed=1, storage=sys.argv[1], progress=False, callback=told)
    """
)


def test_kill_9_during_a_loop_loses_no_told_point(tmp_path):
    db, log, script = tmp_path / "study.db", tmp_path / "told.log", tmp_path / "loop.py"
    script.write_text(_LOOP)
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(log), "400"])
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 6):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines = log.read_text().splitlines()
    assert len(lines) >= 6
    space = {"lr": bo.Float(1e-4, 1e-1, log=True), "act": bo.Categorical(["relu", "tanh"])}
    opt = bo.Optimizer(space, max_budget=8, storage=db)
    stored = {(t.id, float(a)): float(b) for t in opt.trials() for a, b in zip(t.x, t.y)}
    for line in lines:
        for item in line.split():
            tid, a, b = item.split(":")
            assert stored[(int(tid), float(a))] == float(b)
    # the restarted loop goes on from the storage: same study, more budget spent, earlier points intact
    used = opt.budget_used
    subprocess.run([sys.executable, str(script), str(db), str(log), str(used + 6)], check=True, timeout=120)
    after = bo.Optimizer(space, max_budget=8, storage=db)
    assert after.budget_used >= used + 6
    stored_after = {(t.id, float(a)): float(b) for t in after.trials() for a, b in zip(t.x, t.y)}
    assert all(stored_after[k] == v for k, v in stored.items())


def _told(opt, n):
    for _ in range(n):
        t = opt.ask()
        x, y, _ = toy_objective(t.config, t.budget, None)
        opt.tell(t.id, x, y)


def test_tell_refuses_values_the_model_cannot_read_and_the_study_goes_on(predictor):
    opt = bo.Optimizer(SPACE, max_budget=9, seed=0, predictor=predictor)
    _told(opt, 3)
    t = opt.ask()
    with pytest.raises(InvalidCurveError, match="beyond what the model reads"):
        opt.tell(t.id, [t.budget], [3.4e38])
    with pytest.raises(InvalidCurveError, match="flat sequences"):
        opt.tell(t.id, [[1.0]], [[0.5]])
    with pytest.raises(UnknownTrialError):
        opt.tell(2**70, [1.0], [1.0])
    opt.tell(t.id, [t.budget], [0.9])
    assert opt.ask() is not None and opt.best() is not None
    with pytest.warns(CurvecastWarning, match="non-finite value"):
        assert opt.add({"lr": 1e-3, "width": 32, "act": "relu"}, [1.0, 2.0], [1.0, float("nan")]).state == "failed"


def test_a_trial_stopped_before_max_budget_is_paused_not_complete(predictor):
    opt = bo.Optimizer(SPACE, max_budget=9, seed=0, budgets=[1, 9], predictor=predictor)
    _told(opt, 3)
    t = opt.ask()
    for _ in range(20):  # until a trial is continued towards max_budget
        if t.budget >= 9:
            break
        x, y, _ = toy_objective(t.config, t.budget, None)
        opt.tell(t.id, x, y)
        t = opt.ask()
    assert t.budget == 9
    x, y, _ = toy_objective(t.config, t.budget, None)
    assert opt.tell(t.id, x[:2], y[:2], done=True).state == "paused"  # stopped at x = 2 of 9


def test_storage_refuses_other_files_and_spaces_that_differ_only_in_type(tmp_path, predictor):
    import sqlite3

    path = tmp_path / "s.db"
    opt = bo.Optimizer({"c": bo.Categorical([1.0, 2.0]), "x": bo.Float(0.0, 1.0)}, max_budget=5, seed=0, storage=path, predictor=predictor)
    opt.storage.close()
    with pytest.raises(StorageError, match="holds another study"):
        bo.Optimizer({"c": bo.Categorical([1, 2]), "x": bo.Float(0.0, 1.0)}, max_budget=5, storage=path, predictor=predictor)
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(StorageError, match="something else"):
        bo.Optimizer(SPACE, max_budget=5, storage=other, predictor=predictor)
    assert {n for (n,) in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")} == {"users"}  # left untouched
    (tmp_path / "garbage.db").write_bytes(b"SQLite format 3\x00" + b"\x01" * 4000)
    with pytest.raises(StorageError):
        bo.Optimizer(SPACE, max_budget=5, storage=tmp_path / "garbage.db", predictor=predictor)
    with pytest.raises(StorageError, match="does not exist"):
        bo.Optimizer(SPACE, max_budget=5, storage=tmp_path / "missing" / "s.db", predictor=predictor)
    numpy_bounds = bo.Optimizer({"a": bo.Int(np.int64(1), 10), "b": bo.Float(np.float32(0.1), 1.0)}, max_budget=5, storage=tmp_path / "np.db", predictor=predictor)
    assert numpy_bounds.ask() is not None


def test_threads_sharing_one_optimizer_never_get_the_same_trial(tmp_path, predictor):
    opt = bo.Optimizer(SPACE, max_budget=9, seed=0, storage=tmp_path / "t.db", predictor=predictor)
    _told(opt, 4)
    got, errors = [], []

    def worker():
        try:
            got.append(opt.ask().id)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(got)) == 3


def test_minimize_can_leave_other_workers_trials_running_and_calls_back_with_the_told_trial(tmp_path, predictor):
    path = tmp_path / "m.db"
    other = bo.Optimizer(SPACE, max_budget=9, seed=0, storage=path, predictor=predictor)
    _told(other, 3)
    running = other.ask()  # another worker is training it
    seen = []
    bo.minimize(toy_objective, SPACE, max_budget=9, total_budget=other.budget_used + 4, storage=path, predictor=predictor,
                progress=False, release_running=False, callback=lambda opt, trial: seen.append(trial))
    assert running.id not in {t.id for t in seen} and all(t.state != "running" for t in seen)
    model = other.model()
    with pytest.raises(InvalidConfigError, match="NaN or infinite"):
        model.posterior(torch.full((1, 1, model.space.dim), float("nan"), dtype=torch.float64))


def test_decoding_non_finite_points_is_an_error():
    space = bo.SearchSpace(SPACE)
    with pytest.raises(SearchSpaceError, match="NaN or infinite"):
        space.decode(np.full((1, space.dim), np.nan))


def test_categorical_choices_of_different_types_are_different_choices():
    choice = bo.Categorical([1, True, "1"])
    assert [choice.index(v) for v in (1, True, "1")] == [0, 1, 2]
    with pytest.raises(SearchSpaceError, match="repeat"):
        bo.Categorical([1, 2, 1])
