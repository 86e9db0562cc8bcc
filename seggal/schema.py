"""One validator for SegGal's CSV tables: the published scores (:mod:`seggal.results`) and the run tables
(:mod:`seggal.runs`).

A *schema* maps each column to the kind of value it holds; :func:`validate_table` checks a table read as
strings (:func:`read_table`) cell by cell, in column order, and returns it typed. Every problem is a
:class:`SegGalError` naming the file, the line (header = line 1) and the column (:func:`fail`).

Kinds (a cell may look at the columns before it in its row):

=============== ======================================================================================
kind            a valid cell
=============== ======================================================================================
``method``      a registry method id (:func:`seggal.methods.get_method`), or one of ``declared``
``method-name`` the paper's name of the row's ``method_id``
``task``        a task id or alias (:func:`seggal.tasks.get_task`) → stored as the task id
``task-field``  the row's task's attribute of the column's name (``dataset``, ``target`` …)
``dataset``     ``TissueNet`` or ``LIVECell``
``set``         ``All`` or a tissue / cell type of the row's task (:func:`seggal.tasks.check_training_set`)
``tissue``      a tissue / cell type of the row's ``dataset``
``int``         a whole number >= 0 (``int?``: may be empty → missing)
``score``       a number in [0, 1]
``amount``      a number >= 0 (``amount?``: may be empty → NaN)
``set-amount``  a number >= 0; empty (NaN) only where the row's ``training_set`` is not ``All``
``text``        anything
a tuple         one of its words
=============== ======================================================================================
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Collection, Mapping, Sequence

import pandas as pd

from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.tasks import LIVECELL_CELL_TYPES, TISSUENET_TISSUES, check_training_set, get_task

#: Tissues / cell types of each dataset.
DATASET_SETS = {"TissueNet": TISSUENET_TISSUES, "LIVECell": LIVECELL_CELL_TYPES}


class _Invalid(Exception):
    """A cell's problem, before :func:`validate_table` adds where it is."""


def fail(path: Path, line: int | None, column: str, message: str) -> SegGalError:
    """The error for a problem at ``path``, ``line`` (None: the whole file) and ``column``."""
    where = f"{path}" + (f", line {line}" if line is not None else "") + f", column {column!r}"
    return SegGalError(f"{where}: {message}")


def read_table(path) -> pd.DataFrame:
    """A CSV file (a path or a text buffer) as a DataFrame of strings (empty cells are ``""``); SegGalError when it is not one."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SegGalError(f"{path}: not a readable CSV table ({exc})") from None


def _number(raw: str, low: float, high: float, empty_ok: bool) -> float:
    if raw == "":
        if empty_ok:
            return math.nan
        raise _Invalid("value is missing")
    try:
        value = float(raw)
    except ValueError:
        raise _Invalid(f"{raw!r} is not a number") from None
    if not low <= value <= high:
        raise _Invalid(f"{value} is outside [{low}, {high}]")
    return value


def _cell(column: str, kind: object, raw: str, row: Mapping[str, object], declared: Collection[str]) -> object:
    """The typed value of one cell (``row``: the row's cells checked so far); _Invalid otherwise."""
    if isinstance(kind, tuple):
        if raw not in kind:
            raise _Invalid(f"{raw!r} is not one of {', '.join(kind)}")
        return raw
    try:
        if kind == "method":
            if raw not in declared:
                get_method(raw)
            return raw
        if kind == "method-name":
            name = get_method(str(row["method_id"])).name
            if raw != name:
                raise _Invalid(f"{raw!r} is not the paper's name of {row['method_id']} ({name!r})")
            return raw
        if kind == "task":
            return get_task(raw).id
        if kind == "task-field":
            task = get_task(str(row["task"]))
            if raw != getattr(task, column):
                raise _Invalid(f"{raw!r} does not match task {task.id} ({getattr(task, column)!r})")
            return raw
        if kind == "set":
            return check_training_set(str(row["task"]), raw)
    except SegGalError as exc:
        hint = " (or declare it under 'methods' in run.json)" if kind == "method" else ""
        raise _Invalid(f"{exc}{hint}") from None
    if kind == "dataset":
        if raw not in DATASET_SETS:
            raise _Invalid(f"{raw!r} is not one of {', '.join(DATASET_SETS)}")
        return raw
    if kind == "tissue":
        dataset = str(row["dataset"])
        if raw not in DATASET_SETS[dataset]:
            raise _Invalid(f"{raw!r} is not a {dataset} tissue / cell type")
        return raw
    if kind in ("int", "int?"):
        value = _number(raw, 0, math.inf, kind == "int?")
        if not math.isnan(value) and not value.is_integer():
            raise _Invalid(f"{raw!r} is not a whole number")
        return value
    if kind == "score":
        return _number(raw, 0.0, 1.0, False)
    if kind in ("amount", "amount?"):
        return _number(raw, 0.0, math.inf, kind == "amount?")
    if kind == "set-amount":
        return _number(raw, 0.0, math.inf, row["training_set"] != "All")
    if kind == "text":
        return raw
    raise ValueError(f"schema: unknown kind {kind!r} of column {column!r}")  # a programming error


def validate_table(path: Path, raw: pd.DataFrame, schema: Mapping[str, object], keys: Sequence[str],
                   declared: Collection[str] = ()) -> pd.DataFrame:
    """Check ``raw`` (read as strings, :func:`read_table`) against ``schema`` → a DataFrame with exactly the
    schema's columns, typed (numbers float, ``int`` int64, ``int?`` Int64), no two rows alike in ``keys``.
    ``declared``: method ids accepted besides the registry's. ``path`` names the file in errors."""
    missing = [c for c in schema if c not in raw.columns]
    if missing:
        raise fail(path, 1, missing[0], f"column is missing (needed: {', '.join(schema)})")
    rows = []
    for line, row in enumerate(raw.to_dict("records"), start=2):
        checked: dict[str, object] = {}
        for column, kind in schema.items():
            try:
                checked[column] = _cell(column, kind, str(row[column]).strip(), checked, declared)
            except _Invalid as exc:
                raise fail(path, line, column, str(exc)) from None
        rows.append(checked)
    table = pd.DataFrame(rows, columns=list(schema))
    dup = table.duplicated(list(keys))
    if dup.any():
        line = int(dup.to_numpy().nonzero()[0][0]) + 2
        raise fail(path, line, keys[-1], f"duplicate row for {', '.join(keys)}")
    for column, kind in schema.items():
        if kind in ("int", "int?"):
            table[column] = table[column].astype("Int64" if kind == "int?" else "int64")
    return table
