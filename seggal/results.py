"""Load and validate SegGal's results tables.

The published per-model scores live in ``results/published/scores.csv`` (provenance in
``results/README.md``). One row per model of the paper's gallery:

=============== =================================================================================
column          meaning
=============== =================================================================================
task            task id of :mod:`seggal.tasks` (``tissuenet-nuclei-dual`` …)
dataset         ``TissueNet`` or ``LIVECell``
modality        ``fluorescence`` or ``phase_contrast``
target          ``nuclei`` or ``whole_cell``
input_channels  ``dual``, ``nuclear`` or ``whole_cell``
training_set    ``All`` or the single tissue / cell line the model was trained on
method_id       registry id (``swin-s``)
method          the paper's spelling (``Swin-S``)
accuracy        mean of mAP, AP50, AP75, AR50, AR75 on the whole test split, in [0, 1]
usability       the paper's *averaged normalised* usability score, in [0, 1] (already the mean of the
                three standard-normal-CDF-normalised manual scores; used as published)
training_hours  standardised training time T_s in hours; 0 for Segment Anything (not trained); empty for
                single-set models, whose times the paper does not publish
source          where the row comes from
=============== =================================================================================
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.tasks import get_task, training_sets

#: The results folder: SEGGAL_RESULTS when set; else, in an installed wheel, the copy of the project's
#: ``results/`` packaged as ``seggal/_results/`` (see pyproject.toml); else the checkout's ``results/``.
_PACKAGED_RESULTS = Path(__file__).resolve().parent / "_results"
RESULTS_DIR = Path(os.environ.get("SEGGAL_RESULTS") or (
    _PACKAGED_RESULTS if _PACKAGED_RESULTS.is_dir() else _PACKAGED_RESULTS.parent.parent / "results"))
PUBLISHED_SCORES = RESULTS_DIR / "published" / "scores.csv"

SCORE_COLUMNS = (
    "task", "dataset", "modality", "target", "input_channels", "training_set", "method_id", "method",
    "accuracy", "usability", "training_hours", "source",
)


def _fail(path: Path, line: int | None, column: str, message: str) -> SegGalError:
    where = f"{path}" + (f", line {line}" if line is not None else "") + f", column {column!r}"
    return SegGalError(f"{where}: {message}")


def _number(path: Path, line: int, column: str, raw: str, low: float, high: float, empty_ok: bool) -> float:
    if raw.strip() == "":
        if empty_ok:
            return math.nan
        raise _fail(path, line, column, "value is missing")
    try:
        value = float(raw)
    except ValueError:
        raise _fail(path, line, column, f"{raw!r} is not a number") from None
    if not (low <= value <= high):
        raise _fail(path, line, column, f"{value} is outside [{low}, {high}]")
    return value


def load_scores(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read and validate a scores table (default: the published one) → DataFrame of :data:`SCORE_COLUMNS`.

    Every problem raises :class:`SegGalError` naming the file, the line (header = line 1) and the column.
    """
    path = Path(path) if path is not None else PUBLISHED_SCORES
    if not path.is_file():
        raise SegGalError(f"{path}: results table not found")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in SCORE_COLUMNS if c not in raw.columns]
    if missing:
        raise _fail(path, 1, missing[0], f"column is missing (needed: {', '.join(SCORE_COLUMNS)})")
    rows = []
    for i, row in enumerate(raw.to_dict("records")):
        line = i + 2
        try:
            task = get_task(row["task"])
        except SegGalError as exc:
            raise _fail(path, line, "task", str(exc)) from None
        for column in ("dataset", "modality", "target", "input_channels"):
            if row[column] != getattr(task, column):
                raise _fail(path, line, column, f"{row[column]!r} does not match task {task.id} ({getattr(task, column)!r})")
        try:
            method = get_method(row["method_id"])
        except SegGalError as exc:
            raise _fail(path, line, "method_id", str(exc)) from None
        if row["method"] != method.name:
            raise _fail(path, line, "method", f"{row['method']!r} is not the paper's name of {method.id} ({method.name!r})")
        if row["training_set"] not in training_sets(task):
            raise _fail(path, line, "training_set", f"{row['training_set']!r} is not 'All' or a {task.dataset} tissue / cell type")
        single_set = row["training_set"] != "All"
        rows.append({
            **{c: row[c] for c in SCORE_COLUMNS},
            "accuracy": _number(path, line, "accuracy", row["accuracy"], 0.0, 1.0, False),
            "usability": _number(path, line, "usability", row["usability"], 0.0, 1.0, False),
            "training_hours": _number(path, line, "training_hours", row["training_hours"], 0.0, 1e5, single_set),
        })
    table = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    dup = table.duplicated(["task", "method_id", "training_set"], keep="first")
    if dup.any():
        line = int(dup.to_numpy().nonzero()[0][0]) + 2
        raise _fail(path, line, "method_id", "duplicate row for this task, method and training set")
    return table


def all_tissue_scores(scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Only the models trained on every tissue / cell type (``training_set == 'All'``)."""
    scores = load_scores() if scores is None else scores
    return scores[scores["training_set"] == "All"].reset_index(drop=True)
