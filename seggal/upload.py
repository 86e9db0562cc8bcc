"""What the Segment page does with a user's files, as pure functions (no Streamlit here).

* :func:`decode` — uploaded bytes + file name → the file's raw array (pages or scenes, pixels, pixel type
  and decoded bytes checked from the header, decompression bombs refused), every failure a
  :class:`SegGalError` naming the file. TIFF / PNG / JPG through :mod:`seggal.io`; CZI, LIF and ND2
  through their bioio readers (:func:`seggal.formats.read_upload`, from a temporary copy removed at once).
* :func:`n_planes` / :func:`to_pixels` — a Z-stack or multi-page file → one chosen plane; any 2-D image
  with 1-3 channels ((C, H, W) or (H, W, C), 8/16-bit or float) → (H, W, C) float32, blank images refused.
  :func:`load_plane` does both and keeps only the chosen float32 plane (what a session stores).
* :func:`limits` — the upload limits in words, for the page; :func:`cli_command` — the command line that
  segments a file the page cannot take (too large).
* :func:`file_metadata` — the channel names and pixel size (µm) an uploaded TIFF's or microscope file's
  metadata carries.
* :func:`intensity_warning` — why an uploaded "ground truth" looks like an intensity image, not labels.
* :func:`default_mapping` / :func:`make_image` — the channel mapping (which channel is nuclear, which is
  membrane) → a :class:`seggal.image.Image` carrying the channels a task's model reads.
* :func:`preview_rgb` (and :func:`preview_description`, its caption), :func:`overlay`, :func:`error_rgb`, :func:`downsample` — what the page shows:
  (H, W, 3) uint8 RGB pictures.
* :func:`downloads` — the result files (label TIFF, COCO json, GeoJSON, per-cell CSV, ImageJ ROI zip) as
  bytes.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seggal.errors import SegGalError
from seggal.formats import BIOIO_SUFFIXES, read_upload, upload_metadata
from seggal.image import ChannelSpec, Image, as_labels
from seggal.io import MAX_BYTES, MAX_PAGES, MAX_PIXELS, FileMetadata, read_array, tiff_metadata, to_hwc

#: Image and label file types the page accepts (st.file_uploader's ``type``).
UPLOAD_TYPES = ("tif", "tiff", "png", "jpg", "jpeg")
#: Microscope files the page also accepts as images (not as labels), read by bioio's plugins.
MICROSCOPE_TYPES = tuple(suffix.lstrip(".") for suffix in BIOIO_SUFFIXES)
#: Colour of each error-map class (Okabe-Ito palette, distinguishable with colour-blindness).
ERROR_CLASSES = {
    1: ("true positive", (0, 158, 115)),
    2: ("false positive", (213, 94, 0)),
    3: ("false negative", (86, 180, 233)),
}
OUTLINE_COLOUR = (255, 64, 32)  # red-orange: stands out on green membranes and blue nuclei
HIGHLIGHT_COLOUR = (255, 0, 255)


def decode(data: bytes, file_name: str) -> np.ndarray:
    """Decode an uploaded TIFF / PNG / JPG / CZI / LIF / ND2 (``data``, named ``file_name``) into its raw
    numpy array (a microscope file: (C, H, W) or (Z, C, H, W), see :func:`seggal.formats.read_upload`).

    The pixel count is checked from the header before any pixel is decoded (:data:`seggal.io.MAX_PIXELS`).
    Raises :class:`SegGalError` naming the file for anything else than a readable image of those types.
    """
    suffix = Path(file_name).suffix.lower().lstrip(".")
    if suffix not in UPLOAD_TYPES + MICROSCOPE_TYPES:
        raise SegGalError(f"{file_name}: unsupported file type {suffix or '(none)'}; upload one of "
                          f"{', '.join(UPLOAD_TYPES + MICROSCOPE_TYPES).upper()}")
    if not data:
        raise SegGalError(f"{file_name}: the file is empty")
    if suffix in MICROSCOPE_TYPES:
        return read_upload(bytes(data), file_name)[0]
    try:
        return read_array(bytes(data), file_name)
    except SegGalError as err:
        from PIL import Image as PILImage

        # seggal.io wraps PIL's own bomb guard (which fires at twice PIL's limit) in a generic
        # "cannot read" message; say what it means.
        if isinstance(err.__cause__, PILImage.DecompressionBombError):
            raise SegGalError(f"{file_name}: the header claims more pixels than the limit of {MAX_PIXELS:,} "
                              "(a possible decompression bomb); nothing was decoded") from None
        raise


def limits(upload_mb: int) -> str:
    """The upload limits in words: ``upload_mb`` (Streamlit's ``server.maxUploadSize``) and SegGal's own
    caps from :mod:`seggal.io`."""
    side = int(MAX_PIXELS ** 0.5)
    return (f"Files up to {upload_mb} MB; images up to {MAX_PIXELS:,} pixels per plane ({side} × {side}), "
            f"{MAX_PAGES:,} TIFF pages or scenes and {MAX_BYTES / 2**20:,.0f} MiB once decoded.")


def cli_command(file_name: str, large: bool = False) -> str:
    """The ``seggal segment`` command line for the file called ``file_name`` (labels written beside it as
    ``<stem>_labels.tif``); ``large``: on a local Dask cluster, block by block (:mod:`seggal.distributed`)."""
    stem = Path(file_name).name.split(".")[0] or "image"
    command = f"python -m seggal segment {shlex.quote(file_name)} --out {shlex.quote(stem + '_labels.tif')}"
    return command + (" --cluster local" if large else "")


def file_metadata(data: bytes, file_name: str) -> FileMetadata:
    """Channel names and pixel size of an uploaded TIFF (:func:`seggal.io.tiff_metadata`) or CZI / LIF / ND2
    (:func:`seggal.formats.upload_metadata`: the channels :func:`decode` keeps). Other files, or unreadable
    metadata, → an empty :class:`~seggal.io.FileMetadata` (the pixels are checked by :func:`decode`)."""
    suffix = Path(file_name).suffix.lower().lstrip(".")
    try:
        if suffix in MICROSCOPE_TYPES:
            return upload_metadata(bytes(data), file_name)
        return tiff_metadata(data) if suffix in ("tif", "tiff") else FileMetadata()
    except SegGalError:
        return FileMetadata()


def intensity_warning(labels: np.ndarray, name: str = "ground truth") -> str | None:
    """Why an (H, W) "label image" looks like an intensity image (a raw micrograph uploaded as ground
    truth), or ``None`` when it looks like labels.

    In a label image each cell is one value: neighbouring cell pixels differ only on the borders between
    touching cells (a few % of neighbour pairs) and a value forms one or a few connected pieces. In an
    intensity image neighbouring pixels differ almost everywhere, mostly by small steps, and each value
    is scattered over many pieces. Flagged when neighbours differ in more than half of all pairs of
    non-zero pixels *and* values are fragmented (over 2 pieces per value on average) or more numerous than
    one per 9 foreground pixels (cells smaller than 3 x 3)."""
    from skimage.measure import label as connected

    labels = as_labels(labels, name)
    steps = []
    for a, b in ((labels[:, 1:], labels[:, :-1]), (labels[1:], labels[:-1])):
        both = (a > 0) & (b > 0)
        steps.append(np.abs(a[both].astype(np.int64) - b[both]))
    steps = np.concatenate(steps)
    values = n_cells(labels)
    if not steps.size or not values:
        return None
    differing = steps[steps > 0]
    touching = differing.size / steps.size
    pieces = int(connected(labels, background=0, connectivity=1).max()) / values
    foreground = int(np.count_nonzero(labels))
    if touching <= 0.5 or (pieces <= 2 and values <= foreground / 9):
        return None
    return (f"{name} looks like an intensity image, not a label image: neighbouring pixels differ in "
            f"{touching:.0%} of places (median step {float(np.median(differing)):g}), its {values:,} distinct "
            f"values are scattered over {pieces:.0f} separate pieces each on average. A label image gives each "
            "cell one value, with 0 as background. Scores against it are meaningless — upload the annotation "
            "(mask) instead.")


def _is_stack(arr: np.ndarray) -> bool:
    """A stack of 2-D planes along axis 0: (Z, H, W, C), (Z, C, H, W) or (Z, H, W) with Z > 3 and no
    short channel axis at the end (tifffile puts pages first)."""
    return arr.ndim == 4 or (arr.ndim == 3 and min(arr.shape[0], arr.shape[-1]) > 3)


def n_planes(arr: np.ndarray) -> int:
    """How many 2-D planes a decoded file holds (1 for a plain image with or without channels)."""
    return int(arr.shape[0]) if _is_stack(arr) else 1


def to_pixels(arr: np.ndarray, name: str, plane: int = 0) -> np.ndarray:
    """A decoded file → (H, W, C) float32, 1 <= C <= 3, raw intensities.

    ``plane`` (0-based) picks one plane of a stack (:func:`n_planes`). Channels that are exact copies
    of the first (a grey image saved as RGB) are collapsed into one. Refuses (``SegGalError``) NaN or
    infinite pixels, more than 4 dimensions and a blank image (every pixel equal).
    """
    arr = np.asarray(arr)
    if arr.ndim > 4:
        raise SegGalError(f"{name}: {arr.ndim}-D data of shape {arr.shape}; SegGal segments 2-D images")
    if _is_stack(arr):
        if not 0 <= plane < arr.shape[0]:
            raise SegGalError(f"{name}: plane {plane + 1} does not exist; the stack has {arr.shape[0]} planes")
        arr = arr[plane].copy()  # the plane alone: a float32 result must not keep the whole stack alive
    pixels = to_hwc(arr, name)
    if pixels.shape[2] == 0:
        raise SegGalError(f"{name}: the image has no channels (shape {arr.shape})")
    if pixels.shape[2] > 1 and all(np.array_equal(pixels[:, :, 0], pixels[:, :, c]) for c in range(1, pixels.shape[2])):
        pixels = np.ascontiguousarray(pixels[:, :, :1])
    low, high = float(pixels.min()), float(pixels.max())
    if low == high:
        raise SegGalError(f"{name}: the image is blank (every pixel is {low:g}); nothing to segment")
    return pixels


def load_plane(data: bytes, file_name: str, plane: int = 0) -> tuple[np.ndarray, int]:
    """An uploaded file → (plane ``plane`` as (H, W, C) float32 pixels, number of planes in the file).

    Only the chosen plane outlives the call (the decoded file is dropped); see :func:`decode` and
    :func:`to_pixels`."""
    try:
        raw = decode(data, file_name)
    except SegGalError as err:
        if "limit" not in str(err):
            raise
        raise SegGalError(f"{err}. Too large for the page: segment it with the command line, block by block: "
                          f"{cli_command(file_name, large=True)}") from None
    return to_pixels(raw, file_name, plane), n_planes(raw)


def read_ground_truth(data: bytes, file_name: str, shape: tuple[int, int]) -> np.ndarray:
    """An uploaded label image → (H, W) int32 (0 = background), checked against the image's ``shape``."""
    labels = as_labels(decode(data, file_name), file_name)
    if labels.shape != tuple(shape):
        raise SegGalError(f"{file_name}: labels of shape {labels.shape} do not match the image's {tuple(shape)}")
    if labels.max() == 0:
        raise SegGalError(f"{file_name}: the label image has no cells (all background)")
    return labels


def n_cells(labels: np.ndarray) -> int:
    """How many instances an (H, W) label image holds (distinct non-zero values)."""
    return int(np.count_nonzero(np.unique(labels)))


def default_mapping(pixels: np.ndarray, input_channels: str = "dual") -> tuple[int | None, int | None]:
    """A first guess of (nuclear, membrane) channel indices for (H, W, C) pixels, skipping blank channels.

    One channel: the membrane / whole-cell channel when the task reads only that (``input_channels``
    ``whole_cell``: LIVECell phase contrast, whole-cell stains), else nuclear. Two or more: channel 0
    nuclear, channel 1 membrane (TissueNet's order).
    """
    live = [c for c in range(pixels.shape[2]) if pixels[:, :, c].max() > pixels[:, :, c].min()] or [0]
    if len(live) == 1:
        return (None, live[0]) if input_channels == "whole_cell" else (live[0], None)
    return live[0], live[1]


def _reads(input_channels: str) -> tuple[bool, bool]:
    """(needs a nuclear channel, needs a membrane channel) for a task's input."""
    return input_channels in ("dual", "nuclear"), input_channels in ("dual", "whole_cell")


def fitting_task(task_id: str, nuclear: int | None, membrane: int | None) -> str:
    """``task_id`` when the mapped channels give it what it reads, else the first task (registry order)
    they do; ``task_id`` again when none fits."""
    from seggal.tasks import TASKS, get_task

    def fits(task) -> bool:
        wants_nuclear, wants_membrane = _reads(task.input_channels)
        return (nuclear is not None or not wants_nuclear) and (membrane is not None or not wants_membrane)

    current = get_task(task_id)
    return current.id if fits(current) else next((t.id for t in TASKS if fits(t)), current.id)


def make_image(pixels: np.ndarray, nuclear: int | None, membrane: int | None, input_channels: str,
               name: str = "") -> Image:
    """The :class:`Image` a task's model reads: ``input_channels`` (``dual`` / ``nuclear`` / ``whole_cell``,
    see :class:`seggal.tasks.Task`) picks which of the mapped ``nuclear`` / ``membrane`` channels are used.

    Raises :class:`SegGalError` when the task needs a channel that is not mapped.
    """
    if input_channels not in ("dual", "nuclear", "whole_cell"):
        raise SegGalError(f"unknown input channels {input_channels!r}")
    needs_nuclear, needs_membrane = _reads(input_channels)
    where = name or "image"
    if needs_nuclear and nuclear is None:
        raise SegGalError(f"{where}: this task reads a nuclear channel; choose which channel is nuclear")
    if needs_membrane and membrane is None:
        raise SegGalError(f"{where}: this task reads a membrane / cytoplasm channel; choose which channel it is")
    if needs_nuclear and needs_membrane and nuclear == membrane:
        raise SegGalError(f"{where}: this task reads two different channels, but nuclear and membrane are both "
                          f"channel {nuclear + 1}; map two channels or pick a single-channel task")
    spec = ChannelSpec(nuclear if needs_nuclear else None, membrane if needs_membrane else None)
    return Image(pixels, spec, name)


def _stretch(channel: np.ndarray, low: float, high: float) -> np.ndarray:
    """One (H, W) channel → [0, 1] float32 between its ``low`` and ``high`` percentiles."""
    from seggal.preprocess import percentile_normalize

    return percentile_normalize(channel, low, high)


def preview_rgb(pixels: np.ndarray, nuclear: int | None = None, membrane: int | None = None,
                low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """(H, W, C) pixels → (H, W, 3) uint8 with percentile contrast per channel.

    With both channels mapped: membrane green, nuclear blue (TissueNet's colours); otherwise the one
    mapped channel (or channel 0) in grey (:func:`preview_description` says which).
    """
    if nuclear is not None and membrane is not None and nuclear != membrane:
        rgb = np.zeros(pixels.shape[:2] + (3,), np.float32)
        rgb[:, :, 1] = _stretch(pixels[:, :, membrane], low, high)
        nuc = _stretch(pixels[:, :, nuclear], low, high)
        rgb[:, :, 2] = nuc
        rgb[:, :, 0] = 0.25 * nuc  # a touch of red keeps pure blue readable on a dark screen
    else:
        index = next((c for c in (membrane, nuclear) if c is not None), 0)
        rgb = np.repeat(_stretch(pixels[:, :, index], low, high)[:, :, None], 3, axis=2)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def preview_description(nuclear: int | None, membrane: int | None, channel_label=None) -> str:
    """What :func:`preview_rgb` shows for this mapping, in words; ``channel_label(index) -> str`` names a
    channel (default ``channel <index + 1>``)."""
    label = channel_label or (lambda c: f"channel {c + 1}")
    if nuclear is not None and membrane is not None and nuclear != membrane:
        return f"nuclear ({label(nuclear)}) blue, membrane ({label(membrane)}) green"
    if membrane is not None:
        return f"membrane ({label(membrane)}) in grey"
    if nuclear is not None:
        return f"nuclear ({label(nuclear)}) in grey"
    return f"{label(0)} in grey (no channel mapped)"


def downsample(array: np.ndarray, max_side: int = 1024) -> np.ndarray:
    """Every k-th pixel of an (H, W, …) array so that its longer side is at most ``max_side``
    (label-safe: no interpolation). Returns the array itself when it is small enough."""
    step = -(-max(array.shape[:2]) // max_side)
    return array if step <= 1 else np.ascontiguousarray(array[::step, ::step])


def _blend(rgb: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], opacity: float) -> None:
    """In place: ``rgb[mask] = (1 - opacity) * rgb[mask] + opacity * colour``."""
    rgb[mask] = ((1 - opacity) * rgb[mask] + opacity * np.asarray(colour, np.float32)).round()


def overlay(rgb: np.ndarray, labels: np.ndarray, style: str = "outlines", opacity: float = 0.5,
            highlight: int | None = None) -> np.ndarray:
    """Draw a label image over an (H, W, 3) uint8 picture → (H, W, 3) uint8.

    ``style`` ``"outlines"`` (each cell's inner boundary, red-orange) or ``"filled"`` (each cell a colour
    from ``skimage.color.label2rgb``), blended with ``opacity`` in [0, 1]. ``highlight`` (a label value)
    gets a thick magenta outline at full opacity.
    """
    from skimage.color import label2rgb
    from skimage.segmentation import find_boundaries

    labels = as_labels(labels)
    if labels.shape != rgb.shape[:2]:
        raise SegGalError(f"overlay: labels {labels.shape} and picture {rgb.shape[:2]} differ in size")
    if not 0 <= opacity <= 1:
        raise SegGalError(f"overlay: opacity must lie in [0, 1], got {opacity}")
    if style == "filled":
        # label2rgb picks the colours; it would grey the picture underneath, so the blend is done here.
        colours = label2rgb(labels, bg_label=0).astype(np.float32) * 255
        cells = labels > 0
        out = rgb.astype(np.float32)
        out[cells] = ((1 - opacity) * out[cells] + opacity * colours[cells]).round()
    elif style == "outlines":
        out = rgb.astype(np.float32)
        _blend(out, find_boundaries(labels, mode="inner"), OUTLINE_COLOUR, opacity)
    else:
        raise SegGalError(f"overlay: unknown style {style!r}; use 'outlines' or 'filled'")
    if highlight:
        cell = labels == highlight
        _blend(out, cell, HIGHLIGHT_COLOUR, 0.35)
        _blend(out, find_boundaries(cell, mode="thick"), HIGHLIGHT_COLOUR, 1.0)
    return out.astype(np.uint8)


def error_rgb(rgb: np.ndarray, errors: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """Colour an error map (:func:`seggal.metrics.error_map`: 0 background, 1 TP, 2 FP, 3 FN) over an
    (H, W, 3) uint8 picture, shown in grey so that only the classes carry colour
    (:data:`ERROR_CLASSES`) → (H, W, 3) uint8."""
    out = np.repeat(rgb.astype(np.float32).mean(axis=2, keepdims=True), 3, axis=2)
    for value, (_, colour) in ERROR_CLASSES.items():
        _blend(out, errors == value, colour, opacity)
    return out.astype(np.uint8)


@dataclass(frozen=True)
class Download:
    """One file offered for download."""

    file_name: str
    data: bytes
    mime: str


def downloads(labels: np.ndarray, name: str, scores: np.ndarray | None = None, table=None) -> dict[str, Download]:
    """The result files (via :mod:`seggal.export`) for a label image segmented from the image called
    ``name``, with optional per-instance ``scores`` (n,): ``tiff`` (label TIFF), ``coco`` (COCO json,
    RLE), ``geojson`` (QuPath: File ▸ Import objects), ``csv`` (one row per cell: ``table``, a
    :func:`seggal.morphology.cell_table` already computed with intensities / µm², else the morphology
    alone), ``roi`` (ImageJ ROI zip) and, with ``scores``, ``scores`` (the TIFF's ``.scores.csv`` sidecar,
    so ``seggal evaluate`` ranks the cells as the page did)."""
    from seggal import export
    from seggal.io import encode_scores, scores_path

    labels = as_labels(labels)
    stem = Path(name).stem or "image"
    coco = export.to_coco(labels, 1, name or "image.tif", scores)
    files = {
        "tiff": Download(f"{stem}_labels.tif", export.label_tiff(labels), "image/tiff"),
        "coco": Download(f"{stem}_coco.json", json.dumps(coco).encode(), "application/json"),
        "geojson": Download(f"{stem}_cells.geojson", json.dumps(export.to_geojson(labels)).encode(),
                            "application/geo+json"),
        "csv": Download(f"{stem}_cells.csv", (export.cell_csv(labels) if table is None
                                               else table.to_csv(index=False)).encode(), "text/csv"),
        "roi": Download(f"{stem}_rois.zip", export.roi_zip(labels), "application/zip"),
    }
    if scores is not None:
        files["scores"] = Download(scores_path(files["tiff"].file_name).name, encode_scores(scores), "text/csv")
    return files
