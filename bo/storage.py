"""Where an optimisation's trials live: one SQLite file (or memory), safe against crashes and shared by workers.

SQLite (Python's own ``sqlite3``) gives what a tuning loop needs without a server: every ``tell`` is a
committed transaction, so a loop killed with ``kill -9`` loses nothing it was told; ``ask`` runs inside an
exclusive write transaction, so workers on one machine (or a shared local disk) never get the same trial.

Tables: ``meta`` (the study: search space, direction, budgets, seed), ``trials`` (config, budget asked,
state), ``points`` (observed ``x``, ``y`` per trial; one value per x, the latest wins) and ``asks`` (every
budget handed out, for the cost accounting).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from curvecast.errors import StorageError

__all__ = ["TrialState", "TrialRecord", "Storage"]

TrialState = Literal["running", "paused", "complete", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    config TEXT NOT NULL,
    budget REAL NOT NULL,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    x REAL NOT NULL,
    y REAL NOT NULL,
    PRIMARY KEY (trial_id, x)
);
CREATE TABLE IF NOT EXISTS asks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    from_budget REAL NOT NULL,
    to_budget REAL NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass
class TrialRecord:
    """A trial as stored: its config, the budget it was last asked to reach, its state and its points."""

    id: int
    config: dict[str, Any]
    budget: float
    state: TrialState
    source: str  # "ask" or "add"
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def reached(self) -> float:
        """Largest x observed (0 before any point)."""
        return float(self.x[-1]) if self.x.size else 0.0


def _header(path: Path) -> bytes:
    """A file's first 16 bytes (an SQLite database's magic string)."""
    with path.open("rb") as f:
        return f.read(16)


class Storage:
    """An SQLite database of one study.

    Args:
        path: a file (created if missing; ``.db`` or ``.sqlite`` by convention), or ``None`` for memory.
        timeout: seconds a worker waits for another's write transaction before giving up.
    """

    def __init__(self, path: str | Path | None, *, timeout: float = 120.0) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None:
            if self.path.is_dir():
                raise StorageError(f"storage '{self.path}' is a directory; give a file path such as '{self.path / 'study.db'}'")
            if self.path.exists() and self.path.stat().st_size and _header(self.path) != b"SQLite format 3\x00":
                raise StorageError(f"storage '{self.path}' exists but is not an SQLite database; give a new file name")
        if self.path is not None and not self.path.parent.is_dir():
            raise StorageError(f"storage '{self.path}': the folder '{self.path.parent}' does not exist; create it first")
        target = ":memory:" if self.path is None else str(self.path)
        try:
            # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE) where they matter.
            self.conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, check_same_thread=False)
            tables = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                raise StorageError(
                    f"storage '{self.path}' is an SQLite database of something else (tables {sorted(tables)[:5]}); give a new file name"
                )
            if self.path is not None:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"storage '{self.path}' cannot be used ({exc}); give a new file name, or restore the file") from None
        self._depth = 0
        # One connection serves every thread of this process: a transaction holds the lock until it ends, so
        # two threads never join each other's transaction (nested calls of one thread do).
        self._lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An exclusive write transaction (nested calls of the same thread join the outer one); committed on success."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"storage '{self.path}' cannot be written ({exc}); restore the file or use a new one") from None
            self._depth = 1
            try:
                yield
            except sqlite3.DatabaseError as exc:  # a damaged file: say so in curvecast's terms
                self.conn.execute("ROLLBACK")
                raise StorageError(f"storage '{self.path}' cannot be read ({exc}); restore the file or use a new one") from None
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    # -- the study --------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])

    # -- trials -----------------------------------------------------------------------------------

    def add_trial(self, config: dict[str, Any], budget: float, state: TrialState, source: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO trials (config, budget, state, source, created) VALUES (?, ?, ?, ?, ?)",
                (json.dumps(config), float(budget), state, source, time.time()),
            )
            return int(cur.lastrowid)

    def update_trial(self, trial_id: int, *, budget: float | None = None, state: TrialState | None = None) -> None:
        with self.transaction():
            if budget is not None:
                self.conn.execute("UPDATE trials SET budget = ? WHERE id = ?", (float(budget), trial_id))
            if state is not None:
                self.conn.execute("UPDATE trials SET state = ? WHERE id = ?", (state, trial_id))

    def record_ask(self, trial_id: int, from_budget: float, to_budget: float) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO asks (trial_id, from_budget, to_budget, created) VALUES (?, ?, ?, ?)",
                (trial_id, float(from_budget), float(to_budget), time.time()),
            )

    def add_points(self, trial_id: int, x: np.ndarray, y: np.ndarray) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO points (trial_id, x, y) VALUES (?, ?, ?)",
                [(trial_id, float(a), float(b)) for a, b in zip(x, y)],
            )

    def trial(self, trial_id: int) -> TrialRecord | None:
        rows = self._load("WHERE id = ?", (int(trial_id),))
        return rows[0] if rows else None

    def trials(self) -> list[TrialRecord]:
        return self._load("", ())

    def n_asks(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM asks").fetchone()[0])

    def budget_used(self) -> float:
        """Total budget handed out by ``ask`` (each ask counts the increase over the trial's previous budget)."""
        return float(self.conn.execute("SELECT COALESCE(SUM(to_budget - from_budget), 0) FROM asks").fetchone()[0])

    def ask_history(self) -> list[tuple[int, float, float]]:
        """``(trial_id, from_budget, to_budget)`` of every ask, in order."""
        return [(int(a), float(b), float(c)) for a, b, c in self.conn.execute("SELECT trial_id, from_budget, to_budget FROM asks ORDER BY id")]

    def _load(self, where: str, args: tuple) -> list[TrialRecord]:
        records = {}
        for tid, config, budget, state, source in self.conn.execute(f"SELECT id, config, budget, state, source FROM trials {where} ORDER BY id", args):
            records[tid] = TrialRecord(int(tid), json.loads(config), float(budget), state, source)
        if not records:
            return []
        points: dict[int, list[tuple[float, float]]] = {}
        ids = list(records)
        query = "SELECT trial_id, x, y FROM points" + (" WHERE trial_id = ?" if where else "") + " ORDER BY trial_id, x"
        for tid, x, y in self.conn.execute(query, (ids[0],) if where else ()):
            points.setdefault(int(tid), []).append((x, y))
        for tid, pts in points.items():
            if tid in records:
                arr = np.asarray(pts, dtype=np.float64)
                records[tid].x, records[tid].y = arr[:, 0], arr[:, 1]
        return list(records.values())
