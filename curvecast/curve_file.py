"""Read a partial curve from a CSV or JSON file (what ``curvecast predict FILE`` takes).

CSV: two columns ``x,y`` (more columns are fine when a header names ``x`` and ``y``); the header line is
optional; blank lines and lines starting with ``#`` are skipped; empty cells and ``nan`` become NaN (and are
dropped with a warning at prediction time).

JSON: ``{"x": [...], "y": [...]}`` with optional ``"direction"`` and ``"config"``, or a list of
``[x, y]`` pairs.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curvecast.errors import InvalidCurveError

__all__ = ["CurveFile", "read_curve_file"]


@dataclass(frozen=True)
class CurveFile:
    """What a curve file holds."""

    x: list[float]
    y: list[float]
    direction: str | None = None  # only JSON files can say
    config: dict[str, Any] = field(default_factory=dict)


def _number(cell: str, path: Path, line: int) -> float:
    cell = cell.strip()
    if cell == "" or cell.lower() in ("nan", "na", "null", "none"):
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise InvalidCurveError(f"{path}, line {line}: {cell!r} is not a number; the file needs numeric x,y columns") from None


def _read_csv(path: Path, text: str) -> CurveFile:
    rows = [(i + 1, row) for i, row in enumerate(csv.reader(text.splitlines())) if row and not row[0].lstrip().startswith("#")]
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


def read_curve_file(path: str | Path) -> CurveFile:
    """Read ``path`` (``.json`` as JSON, anything else as CSV)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidCurveError(f"no such file: '{path}'")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise InvalidCurveError(f"{path} is not a text file; pass a CSV (x,y per line) or JSON file") from None
    return _read_json(path, text) if path.suffix.lower() == ".json" else _read_csv(path, text)
