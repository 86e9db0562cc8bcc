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

import os
from pathlib import Path

import pandas as pd

from seggal.errors import SegGalError
from seggal.schema import read_table, validate_table

#: The results folder: SEGGAL_RESULTS when set; else, in an installed wheel, the copy of the project's
#: ``results/`` packaged as ``seggal/_results/`` (see pyproject.toml); else the checkout's ``results/``.
_PACKAGED_RESULTS = Path(__file__).resolve().parent / "_results"
RESULTS_DIR = Path(os.environ.get("SEGGAL_RESULTS") or (
    _PACKAGED_RESULTS if _PACKAGED_RESULTS.is_dir() else _PACKAGED_RESULTS.parent.parent / "results"))
PUBLISHED_SCORES = RESULTS_DIR / "published" / "scores.csv"

#: Column → kind of value (:mod:`seggal.schema`) of a scores table.
SCORE_SCHEMA = {
    "task": "task", "dataset": "task-field", "modality": "task-field", "target": "task-field",
    "input_channels": "task-field", "training_set": "set", "method_id": "method", "method": "method-name",
    "accuracy": "score", "usability": "score", "training_hours": "set-amount", "source": "text",
}
SCORE_COLUMNS = tuple(SCORE_SCHEMA)
#: No two rows of a scores table share these.
SCORE_KEYS = ("task", "training_set", "method_id")


def load_scores(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read and validate a scores table (default: the published one) → DataFrame of :data:`SCORE_COLUMNS`.

    Every problem raises :class:`SegGalError` naming the file, the line (header = line 1) and the column.
    """
    path = Path(path) if path is not None else PUBLISHED_SCORES
    if not path.is_file():
        raise SegGalError(f"{path}: results table not found")
    return validate_table(path, read_table(path), SCORE_SCHEMA, SCORE_KEYS)


def all_tissue_scores(scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Only the models trained on every tissue / cell type (``training_set == 'All'``)."""
    scores = load_scores() if scores is None else scores
    return scores[scores["training_set"] == "All"].reset_index(drop=True)
