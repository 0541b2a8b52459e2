"""Read curves from CSV or JSON files (what ``curvecast predict FILE ...`` and ``curvecast scaling`` take).

CSV: two columns ``x,y`` (more columns are fine when a header names ``x`` and ``y``); the header line is
optional; blank lines and lines starting with ``#`` are skipped; empty cells and ``nan`` become NaN (and are
dropped with a warning at prediction time).

Long CSV (several runs in one file): a header with ``run``, ``x`` and ``y`` columns; every other column is
the run's config (``n_params``, ``lr``, ``dropout``, ``optimizer``, ...): numbers or text, one value per run
(cells may be left empty on all but one row of the run). A row with empty ``x`` and ``y`` declares a run
that has not started (its config only).

JSON: ``{"x": [...], "y": [...]}`` with optional ``"direction"`` and ``"config"``, or a list of
``[x, y]`` pairs.

Tables (``curvecast scaling``): a CSV with a header naming the model size (``N``, ``n_params`` or
``params``), the tokens (``D``, ``n_tokens`` or ``tokens``) and the final loss (``loss``, ``L`` or ``y``),
optionally ``lr`` and ``batch_size``; other columns are kept for filtering.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from curvecast.errors import InvalidCurveError

__all__ = ["CurveFile", "read_run_files", "read_table"]


@dataclass(frozen=True)
class CurveFile:
    """What a curve file holds."""

    x: list[float]
    y: list[float]
    direction: str | None = None  # only JSON files can say
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""


def _number(cell: str, path: Path, line: int) -> float:
    cell = cell.strip()
    if cell == "" or cell.lower() in ("nan", "na", "null", "none"):
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise InvalidCurveError(f"{path}, line {line}: {cell!r} is not a number; the file needs numeric x,y columns") from None


def _read_csv(path: Path, rows: list[tuple[int, list[str]]]) -> CurveFile:
    if not rows:
        raise InvalidCurveError(f"{path} holds no rows; write one 'x,y' pair per line")
    x_col, y_col = 0, 1
    first_line, first = rows[0]
    try:
        [float(c) for c in first[:2]]
    except ValueError:  # a header
        names = [c.strip().lower() for c in first]
        if "x" in names and "y" in names:
            x_col, y_col = names.index("x"), names.index("y")
        elif len(names) < 2:
            raise InvalidCurveError(f"{path}: the header {first!r} needs two columns, x and y") from None
        rows = rows[1:]
    xs, ys = [], []
    for line, row in rows:
        if len(row) <= max(x_col, y_col):
            raise InvalidCurveError(f"{path}, line {line}: expected at least {max(x_col, y_col) + 1} comma-separated columns, got {row!r}")
        xs.append(_number(row[x_col], path, line))
        ys.append(_number(row[y_col], path, line))
    return CurveFile(xs, ys)


def _read_json(path: Path, text: str) -> CurveFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidCurveError(f"{path} is not valid JSON ({exc})") from None
    if isinstance(data, list):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in data):
            raise InvalidCurveError(f"{path}: a JSON list must hold [x, y] pairs")
        return CurveFile([p[0] for p in data], [p[1] for p in data])
    if not isinstance(data, dict) or "x" not in data or "y" not in data:
        raise InvalidCurveError(f'{path}: expected {{"x": [...], "y": [...]}} (optionally "direction" and "config") or a list of [x, y] pairs')
    unknown = sorted(set(data) - {"x", "y", "direction", "config"})
    if unknown:
        raise InvalidCurveError(f"{path}: unknown keys {unknown}; allowed: x, y, direction, config")
    if not isinstance(data["x"], list) or not isinstance(data["y"], list):
        raise InvalidCurveError(f'{path}: "x" and "y" must be lists of numbers')
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidCurveError(f'{path}: "config" must be an object such as {{"total_steps": 10000}}')
    xs = [math.nan if v is None else v for v in data["x"]]
    ys = [math.nan if v is None else v for v in data["y"]]
    return CurveFile(xs, ys, data.get("direction"), config)


def _cell(cell: str) -> Any:
    """A config cell: a number where it reads as one, else the text (``true``/``false`` as bools)."""
    text = cell.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _read_long_csv(path: Path, header: list[str], rows: list[tuple[int, list[str]]]) -> list[CurveFile]:
    names = [c.strip() for c in header]
    lower = [c.lower() for c in names]
    for needed in ("run", "x", "y"):
        if lower.count(needed) != 1:
            raise InvalidCurveError(f"{path}: a file of several runs needs exactly one {needed!r} column in its header, got {names}")
    i_run, i_x, i_y = lower.index("run"), lower.index("x"), lower.index("y")
    runs: dict[str, dict[str, Any]] = {}
    for line, row in rows:
        if len(row) != len(names):
            raise InvalidCurveError(f"{path}, line {line}: expected {len(names)} columns ({', '.join(names)}), got {len(row)}")
        run = row[i_run].strip()
        if not run:
            raise InvalidCurveError(f"{path}, line {line}: the run column is empty; name the run of every row")
        entry = runs.setdefault(run, {"x": [], "y": [], "config": {}})
        x_cell, y_cell = row[i_x].strip(), row[i_y].strip()
        if x_cell or y_cell:
            entry["x"].append(_number(x_cell, path, line))
            entry["y"].append(_number(y_cell, path, line))
        for j, key in enumerate(names):
            if j in (i_run, i_x, i_y) or not row[j].strip():
                continue
            value = _cell(row[j])
            if key in entry["config"] and entry["config"][key] != value:
                raise InvalidCurveError(
                    f"{path}, line {line}: run {run!r} has {key}={entry['config'][key]!r} on an earlier row and {value!r} here; "
                    "a config column holds one value per run"
                )
            entry["config"][key] = value
    return [CurveFile(e["x"], e["y"], None, e["config"], name) for name, e in runs.items()]


def read_run_files(paths: list[str | Path]) -> list[CurveFile]:
    """Runs from one or more files: a long CSV (``run`` column) gives several, any other file one (named
    after the file). Run names must be unique."""
    out: list[CurveFile] = []
    for p in paths:
        path = Path(p)
        _check_file(path)
        text = _read_text(path)
        if path.suffix.lower() == ".json":
            out.append(replace(_read_json(path, text), name=path.stem))
            continue
        rows = _csv_rows(path, text)
        if rows and "run" in [c.strip().lower() for c in rows[0][1]]:
            out.extend(_read_long_csv(path, rows[0][1], rows[1:]))
        else:
            out.append(replace(_read_csv(path, rows), name=path.stem))
    names = [r.name for r in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidCurveError(f"run names {repeated} appear more than once; give each file (or run) its own name")
    return out


_TABLE_COLUMNS = {
    "n_params": ("n_params", "n", "params", "parameters"),
    "n_tokens": ("n_tokens", "d", "tokens"),
    "loss": ("loss", "l", "y", "final_loss"),
    "lr": ("lr", "learning_rate"),
    "batch_size": ("batch_size", "bs", "batch"),
}


def read_table(path: str | Path, where: dict[str, str] | None = None) -> dict[str, list[float]]:
    """A scaling table: ``n_params``, ``n_tokens``, ``loss`` (and ``lr``, ``batch_size`` if present) columns.

    ``where`` keeps the rows whose named columns hold the given text (e.g. ``{"dataset": "rw"}``).
    """
    path = Path(path)
    _check_file(path)
    rows = _csv_rows(path, _read_text(path))
    if len(rows) < 2:
        raise InvalidCurveError(f"{path} needs a header and at least one row")
    names = [c.strip() for c in rows[0][1]]
    lower = [c.lower() for c in names]
    index: dict[str, int] = {}
    for key, aliases in _TABLE_COLUMNS.items():
        found = [lower.index(a) for a in aliases if a in lower]
        if found:
            index[key] = found[0]
        elif key in ("n_params", "n_tokens", "loss"):
            raise InvalidCurveError(f"{path}: no {key} column; name it one of {list(aliases)} (header: {names})")
    where = where or {}
    for key in where:
        if key.lower() not in lower:
            raise InvalidCurveError(f"{path}: --where names column {key!r}, which the header lacks ({names})")
    out: dict[str, list[float]] = {k: [] for k in index}
    for line, row in rows[1:]:
        if len(row) != len(names):
            raise InvalidCurveError(f"{path}, line {line}: expected {len(names)} columns, got {len(row)}")
        if any(row[lower.index(k.lower())].strip() != v for k, v in where.items()):
            continue
        for key, j in index.items():
            out[key].append(_number(row[j], path, line))
    if not out["loss"]:
        raise InvalidCurveError(f"{path}: no rows left" + (f" after --where {where}" if where else ""))
    return out


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InvalidCurveError(f"'{path}' is a directory; pass a CSV or JSON file")
    if not path.is_file():
        raise InvalidCurveError(f"no such file: '{path}'")


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise InvalidCurveError(f"{path} is not a text file; pass a CSV or JSON file") from None


def _csv_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    return [(i + 1, row) for i, row in enumerate(csv.reader(text.splitlines())) if row and not row[0].lstrip().startswith("#")]
