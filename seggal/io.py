"""Read and write images and label images (TIFF, PNG, JPG, NPY) with safe limits.

Every reader returns the project's array conventions and raises :class:`SegGalError` naming the file
when the file is missing, unreadable, too large or of the wrong shape:

* :func:`read_image` → (H, W, C) float32 with C in 1..3 (raw intensities, not normalised).
* :func:`read_labels` → (H, W) int32, 0 = background.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from seggal.errors import SegGalError
from seggal.image import as_labels

#: Largest image SegGal reads, in pixels per plane (a 8192 x 8192 slide). Guards against decompression
#: bombs: the header is checked before any pixel is decoded.
MAX_PIXELS = int(os.environ.get("SEGGAL_MAX_PIXELS", 8192 * 8192))
MAX_CHANNELS = 3
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy")

Source = str | os.PathLike | bytes


def _name(source: Source, name: str | None) -> str:
    return name or (str(source) if not isinstance(source, bytes) else "uploaded file")


def _suffix(source: Source, name: str) -> str:
    return Path(name).suffix.lower() if isinstance(source, bytes) else Path(source).suffix.lower()


def _check_pixels(shape: tuple[int, ...], name: str) -> None:
    """Refuse a plane (the two largest axes) of more than MAX_PIXELS pixels, and a whole file (a
    compressed stack of many small planes is a decompression bomb too) of more than MAX_CHANNELS planes'
    worth."""
    dims = sorted(int(d) for d in shape)[-2:]
    plane = dims[0] * dims[1] if len(dims) == 2 else 0
    if plane > MAX_PIXELS:
        raise SegGalError(
            f"{name}: {plane:,} pixels per plane is more than the limit of {MAX_PIXELS:,} "
            "(set SEGGAL_MAX_PIXELS to raise it)"
        )
    total = int(np.prod(shape, dtype=np.float64))
    if total > MAX_PIXELS * MAX_CHANNELS:
        raise SegGalError(
            f"{name}: {total:,} values in all is more than {MAX_CHANNELS} planes at the limit of {MAX_PIXELS:,} "
            "pixels; SegGal segments one 2-D plane — save a smaller stack or a single plane"
        )


def read_array(source: Source, name: str | None = None) -> np.ndarray:
    """Decode a TIFF / PNG / JPG / NPY file (path or bytes) into its raw numpy array.

    The pixel count is checked from the header before decoding. Raises :class:`SegGalError`.
    """
    label = _name(source, name)
    suffix = _suffix(source, label)
    if suffix not in IMAGE_SUFFIXES:
        raise SegGalError(f"{label}: unsupported file type {suffix or '(none)'}; use one of {', '.join(IMAGE_SUFFIXES)}")
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise SegGalError(f"{label}: file not found")
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(handle) as tif:
                if not tif.series:
                    raise SegGalError(f"{label}: TIFF holds no image")
                series = tif.series[0]
                _check_pixels(series.shape, label)
                return series.asarray()
        if suffix == ".npy":
            arr = np.load(handle, allow_pickle=False, mmap_mode=None)
            _check_pixels(arr.shape, label)
            return arr
        from PIL import Image as PILImage

        PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS
        with PILImage.open(handle) as im:
            _check_pixels((im.height, im.width), label)
            if getattr(im, "n_frames", 1) > 1:
                raise SegGalError(f"{label}: multi-frame image ({im.n_frames} frames); save one plane")
            if im.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr"):
                im = im.convert("RGB")
            return np.asarray(im)
    except SegGalError:
        raise
    except Exception as exc:  # any decoder failure becomes one clear message
        raise SegGalError(f"{label}: cannot read as {suffix[1:].upper()} ({type(exc).__name__}: {exc})") from exc


def to_hwc(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """Bring a 2-D or 3-D image array to (H, W, C) float32 with 1 <= C <= 3.

    (C, H, W) is recognised when the first axis is short (<= 3) and the last is not. Stacks with more
    than three planes (Z-stacks, time series) are refused with a clear message.
    """
    arr = np.asarray(arr)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise SegGalError(f"{name}: unsupported pixel type {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim == 3:
        if arr.shape[-1] > MAX_CHANNELS and arr.shape[0] <= MAX_CHANNELS:
            arr = np.moveaxis(arr, 0, -1)
        if arr.shape[-1] > MAX_CHANNELS:
            raise SegGalError(
                f"{name}: shape {arr.shape} looks like a stack of {min(arr.shape[0], arr.shape[-1])} planes; "
                f"SegGal segments 2-D images with 1-{MAX_CHANNELS} channels — save one plane"
            )
    else:
        raise SegGalError(f"{name}: expected a 2-D image with 1-{MAX_CHANNELS} channels, got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise SegGalError(f"{name}: image of shape {arr.shape} is too small")
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise SegGalError(f"{name}: contains NaN or infinite pixels")
    return out


def read_image(source: Source, name: str | None = None) -> np.ndarray:
    """Read an image file (path or bytes) → (H, W, C) float32 raw intensities, 1 <= C <= 3."""
    label = _name(source, name)
    return to_hwc(read_array(source, label), label)


def read_labels(source: Source, name: str | None = None) -> np.ndarray:
    """Read a label image file (path or bytes) → (H, W) int32, 0 = background."""
    label = _name(source, name)
    return as_labels(read_array(source, label), label)


def encode_labels(labels: np.ndarray) -> bytes:
    """An (H, W) label image as zlib-compressed TIFF bytes (uint16 when it fits, else int32)."""
    import tifffile

    labels = as_labels(labels)
    out = labels.astype(np.uint16) if labels.max() <= np.iinfo(np.uint16).max else labels
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, out, compression="zlib")
    return buffer.getvalue()


def write_labels(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write an (H, W) label image as a zlib-compressed TIFF (see :func:`encode_labels`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_labels(labels))
    return path


#: Suffix of the sidecar that carries a label image's per-cell confidences (see :data:`seggal.metrics.RANKING_RULE`).
SCORES_SUFFIX = ".scores.csv"


def scores_path(labels_path: str | os.PathLike) -> Path:
    """The scores sidecar of a label-image file: ``cells_labels.tif`` → ``cells_labels.scores.csv``."""
    path = Path(labels_path)
    return path.with_name(path.stem + SCORES_SUFFIX)


def encode_scores(scores: np.ndarray) -> bytes:
    """Per-cell confidences (n,) (entry i = label i + 1) as CSV bytes: a ``label,score`` header, one row per label."""
    values = np.asarray(scores, np.float64).ravel()
    if not np.isfinite(values).all():
        raise SegGalError("scores must be finite numbers")
    rows = "".join(f"{i},{v!r}\n" for i, v in enumerate(values.tolist(), start=1))
    return ("label,score\n" + rows).encode()


def write_scores(labels_path: str | os.PathLike, scores: np.ndarray) -> Path:
    """Write ``scores`` as the sidecar of the label image at ``labels_path`` (:func:`scores_path`) → its path."""
    path = scores_path(labels_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_scores(scores))
    return path


def read_scores(labels_path: str | os.PathLike) -> np.ndarray | None:
    """The per-cell confidences stored beside a label image → (n,) float64 (entry i = label i + 1), or
    ``None`` when it has no sidecar. :class:`SegGalError` naming the sidecar when it is malformed."""
    path = scores_path(labels_path)
    if not path.is_file():
        return None
    if path.stat().st_size > 64 * MAX_PIXELS:  # a cell per pixel at most; never read more than that
        raise SegGalError(f"{path}: too large for a scores file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SegGalError(f"{path}: cannot read the scores file ({exc})") from None
    if not lines or lines[0].strip() != "label,score":
        raise SegGalError(f"{path}: a scores file starts with the header 'label,score'")
    values = []
    for line_no, line in enumerate(lines[1:], start=2):
        try:
            label, value = line.split(",")
            label, value = int(label), float(value)
        except ValueError:
            raise SegGalError(f"{path}, line {line_no}: expected 'label,score', got {line!r}") from None
        if label != len(values) + 1 or not np.isfinite(value):
            raise SegGalError(f"{path}, line {line_no}: labels must run 1, 2, 3 … with finite scores")
        values.append(value)
    return np.asarray(values, np.float64)
