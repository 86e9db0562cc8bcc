"""``data pull``: fetch the benchmark's test data — the paper's preprocessed sets or the originals — into a folder.

Sources (``results/published/datasets.csv``, provenance in ``results/README.md``):

* ``paper`` — the paper's preprocessed 256 x 256 windows (``X``, ``y``, ``filenames``, ``tissue_list``), one
  public Google Drive folder per dataset; listed with :func:`seggal.zoo.download.drive_folder_files` and fetched
  file by file with :func:`seggal.zoo.download.fetch_file` (progress, resumption, SHA-256);
* ``original`` — TissueNet v1.1 from deepcell (behind a licence acceptance: never downloaded, placed by hand
  and checked) and LIVECell from its public S3 bucket (``SEGGAL_LIVECELL_URL`` overrides the bucket's URL), kept
  in ``<dataset>/original/`` and then cut by SegGal into the paper's preprocessed layout as the paper did
  (:mod:`seggal.data.windows`: 256 x 256 windows every 192 pixels, percentile normalisation, CLAHE), beside them.

A dataset lands in ``<out>/<dataset lower-case>/`` with a manifest :data:`MANIFEST` (JSON: dataset, source,
location, date, ``files`` {relative path: {"sha256", "url"}} — what was downloaded or placed by hand — and, for
``original``, ``derived`` {file: {"sha256", "from"}} and ``preprocessing``, the cut), written last and atomically: a
folder without it is an interrupted pull, and pulling again resumes it (complete files are kept, partial ones
continued, finished cuts kept).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from seggal.errors import SegGalError
from seggal.results import RESULTS_DIR

DATASETS_TABLE = RESULTS_DIR / "published" / "datasets.csv"
MANIFEST = "seggal-data.json"
#: Subfolder of a dataset's folder holding the originals (``--source original``).
ORIGINALS = "original"
SOURCES = ("paper", "original")
DATASETS = {"tissuenet": "TissueNet", "livecell": "LIVECell"}
LIVECELL_URL_ENV = "SEGGAL_LIVECELL_URL"
DEFAULT_LIVECELL_URL = "https://livecell-dataset.s3.eu-central-1.amazonaws.com"
#: The files TissueNet v1.1 unpacks to (what a hand-placed download must provide).
TISSUENET_FILES = tuple(f"tissuenet_v1.1_{split}.npz" for split in ("train", "val", "test"))
#: ``bar(name[, unit])`` → a ``(done, total)`` progress callback for the file ``name``, counting bytes (``"B"``, the
#: default) or ``unit`` (the cut counts windows).
Bars = Callable[..., Callable[[int, "int | None"], None]]


def dataset_name(name: str) -> str:
    """``tissuenet`` / ``TissueNet`` → ``TissueNet``; SegGalError for anything else."""
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise SegGalError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None


def sources(dataset: str, source: str) -> list[dict]:
    """The rows of :data:`DATASETS_TABLE` for ``dataset`` and ``source``."""
    if source not in SOURCES:
        raise SegGalError(f"unknown data source {source!r}; expected one of {', '.join(SOURCES)}")
    table = pd.read_csv(DATASETS_TABLE, dtype=str, keep_default_na=False)
    rows = table[(table["dataset"] == dataset_name(dataset)) & (table["source"] == source)].to_dict("records")
    if not rows:
        raise SegGalError(f"{DATASETS_TABLE}: no {source} source for {dataset}")
    return rows


def livecell_base() -> str:
    """LIVECell's bucket URL (``SEGGAL_LIVECELL_URL``, default :data:`DEFAULT_LIVECELL_URL`)."""
    return os.environ.get(LIVECELL_URL_ENV, DEFAULT_LIVECELL_URL).rstrip("/")


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The pull manifest of a dataset folder, or None when there is none (not pulled, or interrupted)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegGalError(f"{path}: not valid JSON ({exc})") from None


def is_authentic(manifest: dict | None) -> bool:
    """Whether a manifest says the data came from the published source itself: every file fetched from
    Google Drive's or LIVECell's real address, or TissueNet v1.1 placed by hand from deepcell. A pull from any
    other address (a mirror, a test server) is not."""
    from seggal.zoo.download import DEFAULT_DRIVE_URL

    if not manifest or not manifest.get("files"):
        return False
    real = (DEFAULT_DRIVE_URL + "/", DEFAULT_LIVECELL_URL + "/", "hand:")
    return all(str(f.get("url", "")).startswith(real) for f in manifest["files"].values())


def _write_manifest(folder: Path, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, folder / MANIFEST)


def _tissuenet_by_hand(row: dict, folder: Path) -> dict:
    """TissueNet v1.1 placed by hand in ``folder`` (or the dataset folder above it, then moved in): unpack its zip
    if that is what is there, check the three files."""
    from seggal.provenance import sha256_file
    from seggal.zoo.download import unpack_zip

    for name in (row["file"], *TISSUENET_FILES):
        if (folder.parent / name).is_file() and not (folder / name).exists():
            os.replace(folder.parent / name, folder / name)
    archive = folder / row["file"]
    if archive.is_file() and not all((folder / f).is_file() for f in TISSUENET_FILES):
        unpacked = unpack_zip(archive)
        for path in unpacked.rglob("*.npz"):
            os.replace(path, folder / path.name)
    missing = [f for f in TISSUENET_FILES if not (folder / f).is_file()]
    if missing:
        raise SegGalError(
            f"TissueNet v1.1 needs a licence step SegGal cannot take for you: sign in at {row['location']}, accept "
            f"the licence, download {row['file']} and put it (or the unzipped {', '.join(TISSUENET_FILES)}) in "
            f"{folder}, then run this command again to check it and record its checksums (missing: {', '.join(missing)})")
    return {f"{folder.name}/{f}": {"sha256": sha256_file(folder / f), "url": f"hand:{row['location']}"}
            for f in TISSUENET_FILES}


def pull_dataset(dataset: str, source: str, out: str | os.PathLike, bar: Bars | None = None) -> Path:
    """Fetch ``dataset`` (``tissuenet`` / ``livecell``) from ``source`` into ``<out>/<dataset>/`` → that folder
    (module docstring). Errors are :class:`SegGalError` (no network, licence step missing, corrupt file)."""
    from seggal.data.windows import RECORD, cut_dataset
    from seggal.provenance import sha256_file
    from seggal.zoo.download import drive_folder_files, drive_url, fetch_file, unpack_zip

    name = dataset_name(dataset)
    rows = sources(name, source)
    folder = Path(out) / name.lower()
    store = folder / ORIGINALS if source == "original" else folder
    store.mkdir(parents=True, exist_ok=True)
    prefix = f"{ORIGINALS}/" if source == "original" else ""
    files: dict[str, dict] = {}
    for row in rows:
        if row["kind"] == "licence":
            files |= _tissuenet_by_hand(row, store)
            continue
        if row["kind"] == "drive-folder":
            how = (f"download the Drive folder {drive_url('folder', row['location'])} by hand into {store} and run "
                   "this command again")
            targets = [(path, drive_url("file", file_id)) for path, file_id in drive_folder_files(row["location"])]
        else:
            how = f"download {livecell_base()}/{row['location']} by hand into {store} and run this command again"
            targets = [(row["file"], f"{livecell_base()}/{row['location']}")]
        for path, url in targets:
            target = store / path
            fetched = fetch_file(url, target.parent, sha256=row["sha256"], name=target.name,
                                 progress=bar(path) if bar else None, how=how)
            files[prefix + path] = {"sha256": fetched.sha256, "url": url}
            if target.suffix == ".zip" and row["kind"] == "url" and not target.with_suffix("").is_dir():
                unpack_zip(target)
    manifest = {"dataset": name, "source": source, "location": rows[0]["location"], "date": time.strftime("%Y-%m-%d"),
                "files": files}
    if source == "original":
        cut = cut_dataset(name, store, folder, bar)
        manifest["derived"] = {path: {"sha256": sha256_file(folder / path), "from": original}
                               for path, original in cut.items()}
        manifest["preprocessing"] = RECORD
    _write_manifest(folder, manifest)
    return folder
