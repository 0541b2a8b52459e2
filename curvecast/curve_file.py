"""Read curves from CSV or JSON files (what ``curvecast predict FILE ...`` and ``curvecast scaling`` take).

CSV: two columns ``x,y`` (more columns are fine when a header names ``x`` and ``y``); the header line is
optional; blank lines and lines starting with ``#`` are skipped; empty cells and ``nan`` become NaN (and are
dropped with a warning at prediction time). A header's y column name sets the direction where it says which
way is better (``accuracy``, ``val_acc``, ``reward``: max; ``loss``, ``error``, ``ppl``: min;
:func:`direction_from_name`); ``--direction`` overrides it.

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
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from curvecast.curve import CONFIG_KEYS, REPLICATE_LABELS
from curvecast.errors import InvalidCurveError

__all__ = ["CurveFile", "csv_delimiter", "read_run_files", "read_table"]


@dataclass(frozen=True)
class CurveFile:
    """What a curve file holds."""

    x: list[float]
    y: list[float]
    direction: str | None = None  # a JSON file's "direction", or what a CSV's y column name says (direction_from_name)
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""


def _number(cell: str, path: Path, line: int, needs: str = "the file needs numeric x,y columns") -> float:
    cell = cell.strip()
    if cell == "" or cell.lower() in ("nan", "na", "null", "none"):
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise InvalidCurveError(f"{path}, line {line}: {cell!r} is not a number; {needs}") from None


def _same_cell(cell: str, wanted: str) -> bool:
    """``--where``'s match: the same text, or the same number written otherwise (1e17 and 1e+17)."""
    cell, wanted = cell.strip(), wanted.strip()
    if cell == wanted:
        return True
    try:
        return float(cell) == float(wanted)
    except ValueError:
        return False


#: Header names read as x or y when a file has no ``x``/``y`` columns (first match wins, in this order).
X_ALIASES = ("x", "step", "steps", "iteration", "iter", "epoch", "epochs", "tokens", "n_tokens", "samples", "train_size", "time")
Y_ALIASES = ("y", "loss", "val_loss", "valid_loss", "validation_loss", "eval_loss", "test_loss", "train_loss", "error", "err",
             "accuracy", "acc", "val_acc", "val_accuracy", "test_acc", "score", "metric", "value", "return", "reward")


#: Words in a y column's name that say which way is better (``val_accuracy``: higher; ``eval_loss``: lower).
HIGHER_IS_BETTER = frozenset({"acc", "accuracy", "score", "reward", "return", "auc", "f1", "top1", "top5", "bleu", "rouge", "iou", "map"})
LOWER_IS_BETTER = frozenset({"loss", "error", "err", "perplexity", "ppl", "nll", "mse", "rmse", "mae", "wer", "cer", "regret"})


def direction_from_name(name: str) -> str | None:
    """``"max"`` or ``"min"`` where a column's name says which way is better (its words, split at anything but
    letters and digits, hold a word of :data:`HIGHER_IS_BETTER` or :data:`LOWER_IS_BETTER` and not both), else ``None``."""
    words = set(re.split(r"[^a-z0-9]+", name.strip().lower()))
    higher, lower = bool(words & HIGHER_IS_BETTER), bool(words & LOWER_IS_BETTER)
    if higher == lower:
        return None
    return "max" if higher else "min"


def _pick(names: list[str], wanted: str | None, aliases: tuple[str, ...], what: str, path: Path) -> int | None:
    lower = [n.strip().lower() for n in names]
    if wanted is not None:
        if wanted.strip().lower() not in lower:
            raise InvalidCurveError(f"{path}: --{what} {wanted!r} is not a column of the header {names}")
        return lower.index(wanted.strip().lower())
    return next((lower.index(a) for a in aliases if a in lower), None)


def _read_csv(path: Path, rows: list[tuple[int, list[str]]], x_column: str | None = None, y_column: str | None = None) -> CurveFile:
    if not rows:
        raise InvalidCurveError(f"{path} holds no rows; write one 'x,y' pair per line")
    x_col, y_col = 0, 1
    direction = None
    width = None  # a header's column count, which every row must match
    first_line, first = rows[0]
    try:
        [float(c) for c in first[:2]]
    except ValueError:  # a header
        if len(first) < 2:
            raise InvalidCurveError(f"{path}: the header {first!r} needs two columns, x and y") from None
        x_found = _pick(first, x_column, X_ALIASES, "x", path)
        y_found = _pick(first, y_column, Y_ALIASES, "y", path)
        if x_found is None or y_found is None or x_found == y_found:
            if len(first) == 2 and x_column is None and y_column is None:
                x_found, y_found = 0, 1  # two named columns: x first, as in a headerless file
            else:
                raise InvalidCurveError(
                    f"{path}: cannot tell x and y apart in the header {first}; name them x and y, or pass --x COLUMN --y COLUMN"
                ) from None
        x_col, y_col = x_found, y_found
        direction = direction_from_name(first[y_col])
        width = len(first)
        rows = rows[1:]
    else:
        if x_column is not None or y_column is not None:
            raise InvalidCurveError(f"{path} has no header, so --x/--y cannot name columns; add a header line")
    xs, ys = [], []
    for line, row in rows:
        if width is not None and any(cell.strip() for cell in row[width:]):  # values past the header: which is x, which y?
            raise InvalidCurveError(f"{path}, line {line}: the header names {width} columns, this row has {len(row)} ({row!r}); fix the row")
        if len(row) <= max(x_col, y_col):
            raise InvalidCurveError(f"{path}, line {line}: expected at least {max(x_col, y_col) + 1} columns, got {row!r}")
        xs.append(_number(row[x_col], path, line))
        ys.append(_number(row[y_col], path, line))
    return CurveFile(xs, ys, direction)


def _json_numbers(values: Any, key: str, path: Path) -> list[float]:
    """A JSON list of numbers (``null`` for a missing value); anything else is a typed error naming the entry."""
    if not isinstance(values, list):
        raise InvalidCurveError(f'{path}: "{key}" must be a list of numbers')
    out = []
    for i, v in enumerate(values):
        if v is None:
            out.append(math.nan)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidCurveError(f'{path}: "{key}"[{i}] is {json.dumps(v)}, not a number; write plain numbers (null for a missing value)')
        else:
            out.append(float(v))
    return out


def _read_json(path: Path, text: str) -> CurveFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidCurveError(f"{path} is not valid JSON ({exc})") from None
    if isinstance(data, list):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in data):
            raise InvalidCurveError(f"{path}: a JSON list must hold [x, y] pairs")
        return CurveFile(_json_numbers([p[0] for p in data], "x", path), _json_numbers([p[1] for p in data], "y", path))
    if not isinstance(data, dict) or "x" not in data or "y" not in data:
        raise InvalidCurveError(f'{path}: expected {{"x": [...], "y": [...]}} (optionally "direction" and "config") or a list of [x, y] pairs')
    unknown = sorted(set(data) - {"x", "y", "direction", "config"})
    if unknown:
        raise InvalidCurveError(f"{path}: unknown keys {unknown}; allowed: x, y, direction, config")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidCurveError(f'{path}: "config" must be an object such as {{"total_steps": 10000}}')
    direction = data.get("direction")
    if direction not in (None, "min", "max"):
        raise InvalidCurveError(f'{path}: "direction" must be "min" or "max", got {json.dumps(direction)}')
    return CurveFile(_json_numbers(data["x"], "x", path), _json_numbers(data["y"], "y", path), direction, config)


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


def _read_long_csv(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], x_column: str | None = None, y_column: str | None = None
) -> list[CurveFile]:
    names = [c.strip() for c in header]
    lower = [c.lower() for c in names]
    for needed in ("run", "x", "y"):
        if lower.count(needed) > 1 or (needed == "run" and lower.count(needed) != 1):
            raise InvalidCurveError(f"{path}: a file of several runs needs exactly one {needed!r} column in its header, got {names}")
    i_run = lower.index("run")
    # x and y: the columns --x / --y name, else the ones called x and y, else the common names (step, loss, ...).
    i_x = _pick(names, x_column, tuple(a for a in X_ALIASES if a not in CONFIG_KEYS), "x", path)  # n_tokens is a run's config here
    i_y = _pick(names, y_column, Y_ALIASES, "y", path)
    if i_x is None or i_y is None or len({i_run, i_x, i_y}) < 3:
        raise InvalidCurveError(
            f"{path}: cannot tell the x and y columns of this file of several runs apart in its header {names}; name them x and y, "
            "or pass --x COLUMN --y COLUMN"
        )
    direction = direction_from_name(names[i_y])
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
    for j, key in enumerate(names):  # a free hyperparameter some runs give and another leaves empty: say which cell, not "keys differ"
        if j in (i_run, i_x, i_y) or key in CONFIG_KEYS or key in REPLICATE_LABELS:
            continue
        given = [run for run, e in runs.items() if key in e["config"]]
        empty = [run for run, e in runs.items() if key not in e["config"]]
        if given and empty:
            raise InvalidCurveError(
                f"{path}: column {key!r} is empty on every row of run(s) {empty} but set for {given[:3]}{' ...' if len(given) > 3 else ''}; "
                "a free hyperparameter needs a value for every run (the value the run uses, or will use if not started)"
            )
    return [CurveFile(e["x"], e["y"], direction, e["config"], name) for name, e in runs.items()]


def read_run_files(paths: list[str | Path], *, x_column: str | None = None, y_column: str | None = None) -> list[CurveFile]:
    """Runs from one or more files: a long CSV (``run`` column) gives several, any other file one (named
    after the file). Run names must be unique.

    A CSV's columns are found by header: ``x`` and ``y``, or the columns ``x_column`` / ``y_column`` name, or
    common names (:data:`X_ALIASES`, :data:`Y_ALIASES`: ``step``, ``epoch``, ``loss``, ``accuracy``, ...); a
    file without a header is read as x, y. Commas, semicolons and tabs all work as separators.
    """
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
            out.extend(_read_long_csv(path, rows[0][1], rows[1:], x_column, y_column))
        else:
            out.append(replace(_read_csv(path, rows, x_column, y_column), name=path.stem))
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

    ``where`` keeps the rows whose named columns hold the given text (e.g. ``{"dataset": "rw"}``), or the same
    number written otherwise (``{"C": "1e17"}`` keeps a cell ``1e+17``).
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
        if not all(_same_cell(row[lower.index(k.lower())], v) for k, v in where.items()):
            continue
        for key, j in index.items():
            value = _number(row[j], path, line, f"column {names[j]!r} ({key}) needs numbers")
            if not math.isfinite(value) or (key != "loss" and value <= 0):
                raise InvalidCurveError(
                    f"{path}, line {line}: column {names[j]!r} ({key}) holds {row[j].strip()!r}; "
                    + ("every cell needs a finite number" if key == "loss" else "model sizes, token counts, lr and batch sizes are positive numbers")
                    + ": fix the cell or drop the row"
                )
            out[key].append(value)
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
        return path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the header
    except UnicodeDecodeError:
        raise InvalidCurveError(f"{path} is not a text file; pass a CSV or JSON file") from None


def csv_delimiter(text: str) -> str:
    """Tab, semicolon or comma: the first that splits the first lines into the same number (> 1) of fields."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")][:20]
    for candidate in ("\t", ";", ","):
        counts = {len(row) for row in csv.reader(lines, delimiter=candidate)}
        if len(counts) == 1 and counts.pop() > 1:
            return candidate
    return ","


def _csv_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    rows = csv.reader(text.splitlines(), delimiter=csv_delimiter(text))
    return [(i + 1, row) for i, row in enumerate(rows) if row and not row[0].lstrip().startswith("#")]
