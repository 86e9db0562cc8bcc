"""The catalogue of published models: ``results/published/models.csv`` (provenance in ``results/README.md``).

One row per model SegGal can fetch: the paper's 138 (``source`` = ``paper``, keyed exactly as
``results/published/scores.csv``: task, method_id, training_set) and the generalists offered beside them
(``source`` = ``generalist``; their ``training_set`` is the generalist's own name, e.g. ``cyto3``, so their
keys never collide with the paper's).

============== ===================================================================================
column         meaning
============== ===================================================================================
task …         task, dataset, modality, target, input_channels, training_set, method_id, method as in
               the scores table
source         ``paper`` or ``generalist`` (not from the paper)
format         the file format of the source (:data:`FORMATS`)
drive_kind     ``file`` or ``folder`` for a Google Drive link, empty for a plain URL
drive_id       the Drive file or folder id (paper rows)
url            the link as published
usage_guide    the authors' (or package's) instructions for the method
size_bytes     size of the download when known, else empty
sha256         SHA-256 of the download when known (checked on pull), else empty
extra_files    further files the converter needs beside the download, space-separated ``URL`` or
               ``URL#sha256=HEX`` (pip's hash fragment: the file's SHA-256 when known, checked on
               pull); each is saved under the last part of its URL's path. RF-Next's searched-structure
               json, at a pinned commit of the benchmark repository (:func:`extra_files`)
notes          caveats (e.g. a Drive link two rows share)
============== ===================================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping
from urllib.parse import unquote, urlsplit

import pandas as pd

from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.results import RESULTS_DIR, load_scores
from seggal.tasks import check_generalist_name, check_training_set, get_task

PUBLISHED_MODELS = RESULTS_DIR / "published" / "models.csv"
KEY = ("method_id", "task", "training_set")
COLUMNS = (
    "task", "dataset", "modality", "target", "input_channels", "training_set", "method_id", "method", "source",
    "format", "drive_kind", "drive_id", "url", "usage_guide", "size_bytes", "sha256", "extra_files", "notes",
)
SOURCES = ("paper", "generalist")
#: File formats of the sources, by the package that wrote them.
FORMATS = {
    "mmdet2": "MMDetection 2.28 checkpoint (.pth: meta + state_dict)",
    "cellpose2": "Cellpose 2 model file (the benchmark's Cellpose_BM fork)",
    "cellpose3": "Cellpose 3 model file",
    "stardist": "StarDist model folder (config.json, thresholds.json, Keras .h5 weights)",
    "sam": "Segment Anything checkpoint (.pth state dict)",
    "micro-sam": "micro-sam checkpoint (.pt: SAM state dict + decoder state)",
    "detectron2": "detectron2 checkpoint (.pth / .pkl)",
    "deepcell": "deepcell-tf Keras weights",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DRIVE_ID = re.compile(r"[-\w]{20,}")
_FILE_NAME = re.compile(r"[\w][-\w.]*")


@dataclass(frozen=True)
class ExtraFile:
    """A file the converter needs beside a row's download: ``url``, the ``name`` it is saved under (the last
    part of the URL's path) and its ``sha256`` ("" when not known)."""

    url: str
    name: str
    sha256: str


def extra_files(row: Mapping) -> tuple[ExtraFile, ...]:
    """The ``extra_files`` of a catalogue row (``URL`` or ``URL#sha256=HEX``, space-separated) → ExtraFile
    tuple (empty when the row has none); :class:`SegGalError` saying what is wrong with one."""
    out: list[ExtraFile] = []
    for item in (row.get("extra_files") or "").split():
        parts = urlsplit(item)
        sha256 = parts.fragment.removeprefix("sha256=") if parts.fragment.startswith("sha256=") else None
        name = unquote(PurePosixPath(parts.path).name)
        if parts.scheme != "https" or not parts.netloc:
            raise SegGalError(f"extra file {item!r} is not an https link")
        if (parts.fragment and sha256 is None) or (sha256 is not None and not _SHA256.fullmatch(sha256)):
            raise SegGalError(f"extra file {item!r}: its fragment must be '#sha256=' and 64 lower-case hex digits")
        if not _FILE_NAME.fullmatch(name) or name in {f.name for f in out}:
            raise SegGalError(f"extra file {item!r}: its URL must end in a file name of its own")
        out.append(ExtraFile(item.split("#", 1)[0], name, sha256 or ""))
    return tuple(out)


def _bad(path: Path, line: int, column: str, message: str) -> SegGalError:
    return SegGalError(f"{path}, line {line}, column {column!r}: {message}")


def load_catalogue(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the models table (default :data:`PUBLISHED_MODELS`) → DataFrame of :data:`COLUMNS`
    (all str; ``size_bytes`` an Int64 column, <NA> when unknown).

    Checks the schema, each row's task / method / training set (paper rows: a training set of the task;
    generalist rows: a name that is not one), the Drive columns, SHA-256, size and extra files, unique keys,
    and that the paper rows' keys are exactly those of the published scores table. Problems raise
    :class:`SegGalError` naming the file, line (header = 1) and column.
    """
    path = Path(path) if path is not None else PUBLISHED_MODELS
    if not path.is_file():
        raise SegGalError(f"{path}: models table not found")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise _bad(path, 1, missing[0], f"column is missing (needed: {', '.join(COLUMNS)})")
    table = table[list(COLUMNS)]
    seen: dict[tuple, int] = {}
    for i, row in enumerate(table.to_dict("records")):
        line = i + 2
        try:
            task = get_task(row["task"])
            method = get_method(row["method_id"])
        except SegGalError as exc:
            raise _bad(path, line, "task/method_id", str(exc)) from None
        parts = (task.dataset, task.modality, task.target, task.input_channels)
        if parts != (row["dataset"], row["modality"], row["target"], row["input_channels"]):
            raise _bad(path, line, "dataset", f"dataset/modality/target/input_channels do not match task {task.id}")
        if get_method(row["method"]) is not method:
            raise _bad(path, line, "method", f"{row['method']!r} is not {method.id}")
        if row["source"] not in SOURCES:
            raise _bad(path, line, "source", f"{row['source']!r} is not one of {', '.join(SOURCES)}")
        try:
            (check_training_set if row["source"] == "paper" else check_generalist_name)(task, row["training_set"])
        except SegGalError as exc:
            raise _bad(path, line, "training_set", f"{exc} (paper rows name a training set of the task, generalist "
                                                   "rows their own model name)") from None
        if row["format"] not in FORMATS:
            raise _bad(path, line, "format", f"{row['format']!r} is not one of {', '.join(FORMATS)}")
        if row["drive_kind"] not in ("", "file", "folder") or bool(row["drive_kind"]) != bool(row["drive_id"]):
            raise _bad(path, line, "drive_kind", "must be 'file' or 'folder' together with a drive_id, or both empty")
        if row["drive_id"] and not (_DRIVE_ID.fullmatch(row["drive_id"]) and row["drive_id"] in row["url"]):
            raise _bad(path, line, "drive_id", f"{row['drive_id']!r} is not a Drive id of the row's url")
        if not row["url"].startswith("https://"):
            raise _bad(path, line, "url", f"{row['url']!r} is not an https link")
        if row["sha256"] and not _SHA256.fullmatch(row["sha256"]):
            raise _bad(path, line, "sha256", f"{row['sha256']!r} is not 64 lower-case hex digits")
        if row["size_bytes"] and not row["size_bytes"].isdigit():
            raise _bad(path, line, "size_bytes", f"{row['size_bytes']!r} is not a number of bytes")
        try:
            extra_files(row)
        except SegGalError as exc:
            raise _bad(path, line, "extra_files", str(exc)) from None
        key = (method.id, task.id, row["training_set"])
        if key in seen:
            raise _bad(path, line, "training_set", f"{key} repeats line {seen[key]}")
        seen[key] = line
    table["size_bytes"] = pd.array([int(s) if s else None for s in table["size_bytes"]], dtype="Int64")
    scores = load_scores()
    paper = {k for k, s in seen.items() if table.loc[s - 2, "source"] == "paper"}
    published = set(zip(scores["method_id"], scores["task"], scores["training_set"]))
    if paper != published:
        extra, lacking = sorted(paper - published), sorted(published - paper)
        raise SegGalError(f"{path}: paper rows do not match the published scores "
                          f"(not in scores: {extra[:3]}; without a model row: {lacking[:3]})")
    return table


def usage_guides(table: pd.DataFrame | None = None) -> dict[str, str]:
    """method id → the authors' usage-guide URL, from the paper rows of the catalogue (default
    :func:`load_catalogue`); :class:`SegGalError` when a method's rows disagree or lack one."""
    table = load_catalogue() if table is None else table
    paper = table[table["source"] == "paper"]
    guides = paper.groupby("method_id")["usage_guide"].unique()
    bad = [m for m, links in guides.items() if len(links) != 1 or not links[0]]
    if bad:
        raise SegGalError(f"models table: the paper rows of {', '.join(bad)} do not share one usage guide")
    return {m: links[0] for m, links in guides.items()}


def find_entry(table: pd.DataFrame, method: str, task: str, training_set: str) -> dict:
    """The catalogue row of one model → dict; :class:`SegGalError` listing what exists for the method otherwise."""
    method_id, task_id = get_method(method).id, get_task(task).id
    hit = table[(table["method_id"] == method_id) & (table["task"] == task_id) & (table["training_set"] == training_set)]
    if hit.empty:
        known = table[(table["method_id"] == method_id) & (table["task"] == task_id)]["training_set"].tolist()
        raise SegGalError(f"no published {method_id} model for task {task_id} trained on {training_set!r}"
                          + (f"; known: {', '.join(known)}" if known else "; none is published for that task"))
    return hit.iloc[0].to_dict()
