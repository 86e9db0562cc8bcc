"""Run results folders: what a SegGal run (or the synthetic demo) measured, validated on the way in and out.

A run folder (``results/demo/``, ``results/runs/<name>/``) holds ``run.json`` and up to four tables; a
missing table reads as an empty one with the right columns.

``run.json``
    ``{"name", "kind", "date", "commit", "hardware", "description"}`` with ``kind`` one of :data:`KINDS`;
    optional ``"methods"``: ``{method_id: description}`` declaring ids that are not in the registry (the
    synthetic demo's stand-in "methods"), so that a typo in a real method id is still an error.
``per_tissue.csv``
    method_id, task, training_set, test_set (``All`` or a tissue / cell type), n_images, mAP, AP50, AP75,
    AR50, AR75, accuracy.
``sweeps.csv``
    method_id, task, tissue, mode (``dilate`` | ``erode``), variant (``binary`` | ``expand``), px, mAP …
    accuracy. ``task`` is the task whose predictions were dilated / eroded; the scores compare them with
    the other target's ground truth (whole cell for ``dilate``, nuclei for ``erode``).
``morphology.csv``
    dataset, tissue, n_train_images, n_cells, size, elongation, convexity (per-tissue means).
``timings.csv``
    method_id, task, training_set, hours, standardised_hours, batch_size, epochs, iterations,
    n_train_images, hardware.

Every problem raises :class:`SegGalError` naming the file, the line (header = line 1) and the column.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.metrics import METRICS
from seggal.provenance import DIRTY
from seggal.results import RESULTS_DIR, SCORE_COLUMNS, all_tissue_scores, load_scores
from seggal.schema import fail, read_table, validate_table
from seggal.tasks import TASKS

KINDS = ("synthetic-demo", "seggal-run", "published")
META_KEYS = ("name", "kind", "date", "commit", "hardware", "description")
PUBLISHED_SOURCE = "Published figures: Wang et al. 2024, bioRxiv (results/published/scores.csv)"

#: Column → kind of value (:mod:`seggal.schema`), per table.
TABLES: dict[str, dict[str, object]] = {
    "per_tissue": {"method_id": "method", "task": "task", "training_set": "set", "test_set": "set",
                   "n_images": "int", **{m: "score" for m in METRICS}},
    "sweeps": {"method_id": "method", "task": "task", "tissue": "set", "mode": ("dilate", "erode"),
               "variant": ("binary", "expand"), "px": "int", **{m: "score" for m in METRICS}},
    "morphology": {"dataset": "dataset", "tissue": "tissue", "n_train_images": "int", "n_cells": "int",
                   "size": "amount", "elongation": "score", "convexity": "score"},
    "timings": {"method_id": "method", "task": "task", "training_set": "set", "hours": "amount",
                "standardised_hours": "amount?", "batch_size": "int?", "epochs": "int?", "iterations": "int?",
                "n_train_images": "int?", "hardware": "text"},
}
KEYS = {
    "per_tissue": ("method_id", "task", "training_set", "test_set"),
    "sweeps": ("method_id", "task", "tissue", "mode", "variant", "px"),
    "morphology": ("dataset", "tissue"),
    "timings": ("method_id", "task", "training_set"),
}


@dataclass(frozen=True)
class Run:
    """One validated run folder. Tables are DataFrames with exactly the columns of :data:`TABLES`."""

    folder: Path
    meta: dict
    per_tissue: pd.DataFrame
    sweeps: pd.DataFrame
    morphology: pd.DataFrame
    timings: pd.DataFrame

    @property
    def synthetic(self) -> bool:
        return self.meta["kind"] == "synthetic-demo"

    @property
    def source(self) -> str:
        """One line naming where the numbers come from, for chart titles and captions."""
        m = self.meta
        what = "SYNTHETIC DEMO, not benchmark results" if self.synthetic else f"SegGal run {m['name']!r}"
        commit = m["commit"][:10] + (DIRTY if m["commit"].endswith(DIRTY) else "")
        return f"{what} ({m['date']}, commit {commit}, {m['hardware']})"

    def method_name(self, method_id: str) -> str:
        """The paper's name of a registry method, or the id of a method declared in run.json."""
        return method_id if method_id in self.meta.get("methods", {}) else get_method(method_id).name


def _check_meta(path: Path, meta: object) -> dict:
    if not isinstance(meta, dict):
        raise SegGalError(f"{path}: must hold a JSON object with keys {', '.join(META_KEYS)}")
    for key in META_KEYS:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise SegGalError(f"{path}: key {key!r} is missing or not a non-empty string")
    if meta["kind"] not in KINDS:
        raise SegGalError(f"{path}: kind {meta['kind']!r} is not one of {', '.join(KINDS)}")
    methods = meta.get("methods", {})
    if not isinstance(methods, dict) or not all(isinstance(v, str) for v in methods.values()):
        raise SegGalError(f"{path}: 'methods' must map method ids to descriptions")
    return meta


def empty_table(name: str) -> pd.DataFrame:
    """An empty table with the columns of ``TABLES[name]``."""
    return pd.DataFrame(columns=list(TABLES[name]))


def load_run(folder: str | os.PathLike) -> Run:
    """Read and validate a run folder → :class:`Run` (a missing table is an empty one)."""
    folder = Path(folder)
    meta_path = folder / "run.json"
    if not meta_path.is_file():
        raise SegGalError(f"{folder}: not a run folder (no run.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegGalError(f"{meta_path}: not valid JSON ({exc})") from None
    meta = _check_meta(meta_path, meta)
    declared = meta.get("methods", {})
    tables = {}
    for name in TABLES:
        path = folder / f"{name}.csv"
        tables[name] = (validate_table(path, read_table(path), TABLES[name], KEYS[name], declared) if path.is_file()
                       else empty_table(name))
    return Run(folder=folder, meta=meta, **tables)


def write_run(folder: str | os.PathLike, meta: dict, **tables: pd.DataFrame) -> Run:
    """Validate ``meta`` and the given tables (names of :data:`TABLES`), write them, return the loaded run.

    Tables are validated exactly as :func:`load_run` reads them, before anything is written; extra
    columns are dropped, missing ones are an error naming the file that would have been written (a
    table with no rows and no columns is written as an empty table).
    """
    folder = Path(folder)
    unknown = [name for name in tables if name not in TABLES]
    if unknown:
        raise SegGalError(f"unknown run table {unknown[0]!r}; known tables: {', '.join(TABLES)}")
    meta = _check_meta(folder / "run.json", dict(meta))
    texts = {}
    for name, table in tables.items():
        path = folder / f"{name}.csv"
        if table.empty and len(table.columns) == 0:
            table = empty_table(name)
        missing = [c for c in TABLES[name] if c not in table.columns]
        if missing:
            raise fail(path, 1, missing[0], f"column is missing (needed: {', '.join(TABLES[name])})")
        text = table[list(TABLES[name])].to_csv(index=False, float_format="%.10g")
        validate_table(path, read_table(io.StringIO(text)), TABLES[name], KEYS[name], meta.get("methods", {}))
        texts[name] = text
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for name, text in texts.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return load_run(folder)


def find_runs(root: str | os.PathLike | None = None) -> list[Path]:
    """Run folders under a results folder: ``demo/`` and ``runs/*/`` that hold a run.json, sorted."""
    root = Path(root) if root is not None else RESULTS_DIR
    candidates = [root / "demo", *sorted((root / "runs").glob("*"))]
    return [p for p in candidates if (p / "run.json").is_file()]


def run_scores(run: Run, metric: str = "accuracy") -> pd.DataFrame:
    """A run's whole-test-set scores as a published-scores table (:data:`seggal.results.SCORE_COLUMNS`).

    One row per method × task (every task present, NaN where the run has no score), from the
    ``per_tissue`` rows trained and tested on ``All``; the ``accuracy`` column holds ``metric``.
    ``usability`` is the published score for the paper's methods (NaN otherwise: a run does not measure
    it); ``training_hours`` is the run's ``standardised_hours`` (NaN when it has no timing), so that
    :func:`seggal.ranking.rank_table` ranks it exactly as it ranks the published table.
    """
    if metric not in METRICS:
        raise SegGalError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    whole = run.per_tissue[(run.per_tissue["training_set"] == "All") & (run.per_tissue["test_set"] == "All")]
    hours = run.timings[run.timings["training_set"] == "All"].set_index(["method_id", "task"])["standardised_hours"]
    usability = all_tissue_scores(load_scores()).drop_duplicates("method_id").set_index("method_id")["usability"]
    scores = whole.set_index(["method_id", "task"])[metric]
    rows = []
    for method_id in dict.fromkeys(whole["method_id"]):
        for task in TASKS:
            key = (method_id, task.id)
            rows.append({
                "task": task.id, "dataset": task.dataset, "modality": task.modality, "target": task.target,
                "input_channels": task.input_channels, "training_set": "All", "method_id": method_id,
                "method": run.method_name(method_id), "accuracy": float(scores.get(key, math.nan)),
                "usability": float(usability.get(method_id, math.nan)),
                "training_hours": float(hours.get(key, math.nan)), "source": run.source,
            })
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


__all__ = ["KINDS", "TABLES", "PUBLISHED_SOURCE", "Run", "load_run", "write_run", "find_runs",
           "run_scores", "empty_table"]
