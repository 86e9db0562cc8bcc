"""What ``python -m seggal segment`` reads and writes, one policy for the in-process loop
(:mod:`seggal.cli.segment`) and the Dask engine (:mod:`seggal.distributed`).

* **Inputs** (:func:`list_inputs`): one image file, one OME-Zarr folder, or a folder whose image files
  (and ``*.zarr`` folders) are segmented in name order.
* **Outputs** (:func:`plan_outputs`): ``--out`` ending in ``.tif`` / ``.tiff`` / ``.zarr`` is the output
  of a single input; otherwise it is a folder receiving ``<stem>_labels.tif`` per image
  (``<stem>_labels.ome.zarr`` for an OME-Zarr input), the stem being the file name without its suffix
  and a trailing ``.ome``. Two images that would write the same output (compared case-blind) are refused
  before anything runs.
* **Scores sidecar**: beside every label output, :func:`seggal.io.scores_path` of it holds the per-cell
  confidences (``a_labels.tif`` → ``a_labels.scores.csv``; for an OME-Zarr output ``a_labels.ome.zarr``
  → ``a_labels.ome.scores.csv`` beside the folder, not inside it). An output counts as finished only
  when its sidecar is there too (it is written last).
* **Folders** are segmented to the end even when images fail; :func:`finish_folder` writes
  :data:`REPORT_NAME` in the output folder (:data:`REPORT_COLUMNS`, one row per image, status ``ok`` or
  ``failed`` with the reason) and raises :class:`SegGalError` (exit 2) when any failed. A single input
  that fails leaves no output behind. Every file is written atomically (:func:`seggal.io.write_atomic`:
  a temporary file in the same folder, then ``os.replace``; a symlink there is replaced, never written
  through).
* **Existing outputs**: the in-process loop replaces them; the Dask engine skips finished ones (output
  and sidecar present), so that a restarted job resumes (report reason :data:`ALREADY_WRITTEN`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from seggal.errors import SegGalError
from seggal.formats import SUFFIXES, is_image_path, is_zarr
from seggal.io import write_atomic

#: File, in the output folder, listing how each image of a folder went.
REPORT_NAME = "segment_report.csv"
#: Its columns: image file name, ``ok`` / ``failed``, output file name, number of instances, reason.
REPORT_COLUMNS = ("image", "status", "output", "instances", "reason")
#: Reason, in an ``ok`` row, of an image a resumed Dask job found finished and did not segment again.
ALREADY_WRITTEN = "already written"
#: ``--out`` suffixes naming the output of a single input (anything else is a folder).
OUTPUT_SUFFIXES = (".tif", ".tiff", ".zarr")


def is_folder(source: Path) -> bool:
    """A folder of images (an OME-Zarr folder is one image)."""
    return source.is_dir() and not is_zarr(source)


def list_inputs(source: Path) -> list[Path]:
    """The images of ``source``: itself (a file or an OME-Zarr folder), or a folder's image files and
    ``*.zarr`` folders sorted by name. :class:`SegGalError` when there is nothing to segment."""
    if is_folder(source):
        files = sorted(p for p in source.iterdir() if is_image_path(p))
        if not files:
            raise SegGalError(f"{source}: no image files ({', '.join(SUFFIXES)}) in this folder")
        return files
    if not source.exists():
        raise SegGalError(f"{source}: no such file or folder")
    if not (source.is_file() or is_zarr(source)):
        raise SegGalError(f"{source}: not a regular file or folder (a device, pipe or socket)")
    return [source]


def output_name(image: Path) -> str:
    """``a.tif`` → ``a_labels.tif``, ``a.ome.tif`` → ``a_labels.tif``, ``a.ome.zarr`` → ``a_labels.ome.zarr``."""
    stem = image.name[: -len(image.suffix)] if image.suffix else image.name
    stem = stem[:-4] if stem.lower().endswith(".ome") else stem
    return f"{stem}_labels{'.ome.zarr' if is_zarr(image) else '.tif'}"


def plan_outputs(files: list[Path], source: Path, out: Path) -> list[Path]:
    """The output path of each of ``files`` (from :func:`list_inputs`; see the module docstring).

    Raises :class:`SegGalError`, before anything is written, for a folder given a single-file ``--out``,
    an ``--out`` that is a file where a folder is needed (or a folder where a ``.tif`` is), and outputs
    that would collide."""
    if out.suffix.lower() in OUTPUT_SUFFIXES:
        if is_folder(source):
            raise SegGalError(f"--out {out}: a folder of images needs an output folder, not a {out.suffix} file")
        if out.is_dir() and not is_zarr(out):
            raise SegGalError(f"--out {out}: is a folder; give a {out.suffix} file name or a folder without the suffix")
        return [out]
    if out.exists() and not out.is_dir():
        raise SegGalError(f"--out {out}: exists and is not a folder")
    outputs = [out / output_name(f) for f in files]
    claims: dict[str, tuple[Path, list[Path]]] = {}
    for image, output in zip(files, outputs):  # casefolded: a.TIF and a.tif collide on macOS and Windows
        claims.setdefault(output.name.casefold(), (output, []))[1].append(image)
    clashes = [f"  {output}: {', '.join(i.name for i in images)}" for output, images in claims.values() if len(images) > 1]
    if clashes:
        raise SegGalError("\n".join([f"{source}: these images would write the same output file; rename or move "
                                     "all but one (nothing was segmented):", *clashes]))
    return outputs


def report_row(image: Path, output: Path | None = None, instances: int | None = None, reason: str = "") -> dict:
    """One row of the report: ``ok`` when ``output`` is given, else ``failed`` with ``reason``."""
    return {"image": image.name, "status": "ok" if output is not None else "failed",
            "output": output.name if output is not None else "", "instances": "" if instances is None else instances,
            "reason": reason}


def finish_folder(out: Path, rows: list[dict]) -> Path:
    """Write the report of a folder run (``out / REPORT_NAME``, atomically) → its path; raise
    :class:`SegGalError` naming it when any image failed."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=REPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    report = write_atomic(out / REPORT_NAME, text.getvalue().encode("utf-8"))
    failed = sum(r["status"] == "failed" for r in rows)
    if failed:
        raise SegGalError(f"{failed} of {len(rows)} images failed; the other outputs are in {out}, and "
                          f"{report} lists each image with the reason of each failure")
    print(f"report: {report}")
    return report
