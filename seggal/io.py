"""Read and write images and label images (TIFF, PNG, JPG, NPY) with safe limits.

Every reader returns the project's array conventions and raises :class:`SegGalError` naming the file
when the file is missing, unreadable, too large or of the wrong shape:

* :func:`read_image` → (H, W, C) float32 with C in 1..3 (raw intensities, not normalised).
* :func:`read_labels` → (H, W) int32, 0 = background.

What a file's header says is checked before any pixel is decoded: pixels per plane
(:data:`MAX_PIXELS`), TIFF pages (:data:`MAX_PAGES`), pixel type (integer or floating point) and decoded
size in bytes (:data:`MAX_BYTES`). Writers replace their file atomically (:func:`write_atomic`).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Iterator

import numpy as np

from seggal.errors import SegGalError
from seggal.image import as_labels

#: Largest image SegGal reads, in pixels per plane (a 8192 x 8192 slide). Guards against decompression
#: bombs: the header is checked before any pixel is decoded.
MAX_PIXELS = int(os.environ.get("SEGGAL_MAX_PIXELS", 8192 * 8192))
MAX_CHANNELS = 3
#: Most pages a TIFF may hold: they are counted along the file's page chain (stopping one past the limit)
#: before tifffile builds its series, which takes minutes for tens of thousands of tiny pages. Also the
#: most scenes (series) of an uploaded microscope file (:func:`seggal.formats.read_upload`).
MAX_PAGES = int(os.environ.get("SEGGAL_MAX_PAGES", 1000))
#: Largest decoded file in bytes: by default the float32 size of the largest image SegGal reads
#: (MAX_CHANNELS planes of MAX_PIXELS pixels, 768 MiB), so that a float64 or complex file of that size is
#: refused from its header instead of being decoded to gigabytes.
MAX_BYTES = int(os.environ.get("SEGGAL_MAX_BYTES", MAX_PIXELS * MAX_CHANNELS * 4))
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


def check_header(shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    """Refuse, from a file's header alone, pixels that are not integers or floating point (``bool`` is
    kept for masks), too many pixels (:func:`_check_pixels`) and more than :data:`MAX_BYTES` once decoded."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise SegGalError(f"{name}: unsupported pixel type {dtype}; SegGal reads integer or floating-point "
                          "pixels — nothing was decoded")
    _check_pixels(shape, name)
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > MAX_BYTES:
        raise SegGalError(
            f"{name}: {tuple(int(d) for d in shape)} {dtype} pixels decode to {size:,} bytes, more than the limit "
            f"of {MAX_BYTES:,} (SEGGAL_MAX_BYTES); save it as float32 or 8/16-bit integers — nothing was decoded"
        )


def _check_pages(pages, name: str) -> None:
    """Refuse a TIFF of more than :data:`MAX_PAGES` pages, walking its page chain no further than that."""
    try:
        pages[MAX_PAGES]  # tifffile reads page offsets only up to the index asked for
    except IndexError:
        return
    raise SegGalError(f"{name}: more than {MAX_PAGES:,} pages; SegGal segments one 2-D plane — save fewer pages "
                      "(SEGGAL_MAX_PAGES raises the limit)")


def npy_header(handle, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read an ``.npy`` header from ``handle`` (left at the first data byte) → (shape, fortran order, dtype).

    Raises :class:`SegGalError` for a damaged header and for Python objects (never unpickled)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(handle)
    except ValueError as exc:
        raise SegGalError(f"{where}: not a valid .npy array ({exc})") from exc
    if dtype.hasobject:
        raise SegGalError(f"{where}: holds Python objects (dtype {dtype}); SegGal never unpickles data")
    return shape, fortran, dtype


def _pil_dtype(mode: str) -> np.dtype:
    """The numpy type of one band of a Pillow image ``mode``."""
    return np.dtype(np.int32 if mode == "I" else np.float32 if mode == "F" else
                    np.uint16 if mode.startswith("I;16") else np.uint8)


def read_array(source: Source, name: str | None = None) -> np.ndarray:
    """Decode a TIFF / PNG / JPG / NPY file (path or bytes) into its raw numpy array.

    The header is checked before decoding (pages, pixels, pixel type, decoded bytes; see the module
    docstring). Raises :class:`SegGalError`.
    """
    label = _name(source, name)
    suffix = _suffix(source, label)
    if suffix not in IMAGE_SUFFIXES:
        raise SegGalError(f"{label}: unsupported file type {suffix or '(none)'}; use one of {', '.join(IMAGE_SUFFIXES)}")
    if not isinstance(source, bytes) and not Path(source).is_file():
        what = "not a regular file (a device, pipe or socket)" if Path(source).exists() else "file not found"
        raise SegGalError(f"{label}: {what}")
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(handle) as tif:
                _check_pages(tif.pages, label)
                if not tif.series:
                    raise SegGalError(f"{label}: TIFF holds no image")
                series = tif.series[0]
                check_header(series.shape, series.dtype, label)
                return series.asarray()
        if suffix == ".npy":
            with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as stream:
                shape, _, dtype = npy_header(stream, label)
                check_header(shape, dtype, label)
                stream.seek(0)
                return np.lib.format.read_array(stream, allow_pickle=False)
        from PIL import Image as PILImage

        PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS
        with PILImage.open(handle) as im:
            bands = min(len(im.getbands()), MAX_CHANNELS)  # RGBA and CMYK are read as RGB
            check_header((im.height, im.width, bands), _pil_dtype(im.mode), label)
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
    out = arr.astype(np.float32, copy=False)  # float32 input is not copied (a view of the caller's array)
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


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A new temporary file in ``path``'s folder, open for binary writing (for writers that stream, e.g.
    ``tifffile``); on success it is synced and ``os.replace``-d onto ``path`` — a reader never sees a
    partial file, and an existing file or symlink at ``path`` is replaced, never written through — on
    any failure it is removed. An :class:`OSError` becomes :class:`SegGalError`."""
    import secrets

    path = Path(path)
    temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(temp, "xb") as handle:  # O_CREAT | O_EXCL: never opens an existing file or symlink
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SegGalError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` all at once through :func:`atomic_file`. Raises :class:`SegGalError`."""
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def write_labels(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write an (H, W) label image as a zlib-compressed TIFF (see :func:`encode_labels`), atomically
    (:func:`write_atomic`)."""
    return write_atomic(path, encode_labels(labels))


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
    return write_atomic(scores_path(labels_path), encode_scores(scores))


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


def read_json_object(path: str | os.PathLike) -> dict:
    """A JSON file holding one object → dict; :class:`SegGalError` naming the file when it is unreadable, not
    JSON, or not an object."""
    import json

    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SegGalError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SegGalError(f"{path} does not hold a JSON object")
    return value


#: µm in one unit of an ImageJ / TIFF length unit.
_UM_PER_UNIT = {"um": 1.0, "µm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
                "nm": 1e-3, "mm": 1e3, "cm": 1e4, "inch": 25400.0}


@dataclass(frozen=True)
class FileMetadata:
    """What a file says about its pixels: ``channel_names`` (one per channel, ``()`` when it names none)
    and ``pixel_size_um`` (the side of a pixel in µm, ``None`` when unknown)."""

    channel_names: tuple[str, ...] = ()
    pixel_size_um: float | None = None


def _ome_metadata(tif) -> FileMetadata:
    """Channel names and ``PhysicalSizeX`` (with its unit, read by ``ome-types``) of an OME-TIFF; empty when
    the OME-XML is malformed (the pixels may still be fine)."""
    from ome_types import from_xml

    try:
        pixels = from_xml(tif.ome_metadata).images[0].pixels
        names = tuple(channel.name or "" for channel in pixels.channels)
        size = float(pixels.physical_size_x_quantity.to("micrometer").magnitude) if pixels.physical_size_x else None
    except Exception:  # noqa: BLE001 — any malformed OME-XML is "no metadata", never a crash
        return FileMetadata()
    return FileMetadata(names if any(names) else (), size)


def _resolution_pixel_size(tif) -> float | None:
    """µm per pixel from the ImageJ ``unit`` + XResolution, or the TIFF ResolutionUnit (inch / cm); ``None``
    when the tags give no usable physical size."""
    tags = tif.pages[0].tags
    if "XResolution" not in tags:
        return None
    numerator, denominator = tags["XResolution"].value
    per_unit = numerator / denominator if denominator else 0.0  # pixels per unit
    unit = (tif.imagej_metadata or {}).get("unit")
    if unit is None:
        resolution_unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
        unit = {2: "inch", 3: "cm"}.get(resolution_unit)
    um = _UM_PER_UNIT.get(str(unit).strip().lower()) if unit is not None else None
    return um / per_unit if um is not None and per_unit > 0 else None


def tiff_metadata(file: str | os.PathLike | bytes | IO[bytes]) -> FileMetadata:
    """Channel names and pixel size stored in a TIFF (path, bytes or binary file object): OME-XML first, else
    the ImageJ / TIFF resolution tags for the pixel size. :class:`SegGalError` when it is no readable TIFF."""
    import tifffile

    source = io.BytesIO(file) if isinstance(file, bytes) else file
    try:
        with tifffile.TiffFile(source) as tif:
            found = _ome_metadata(tif) if tif.is_ome else FileMetadata()
            if found.pixel_size_um is None:
                found = FileMetadata(found.channel_names, _resolution_pixel_size(tif))
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise SegGalError(f"cannot read the metadata: not a readable TIFF ({exc})") from None
    size = found.pixel_size_um
    return found if size is None or (np.isfinite(size) and size > 0) else FileMetadata(found.channel_names)


def read_pixel_size(file: str | os.PathLike | bytes | IO[bytes]) -> float:
    """µm per pixel stored in a TIFF (:func:`tiff_metadata`); :class:`SegGalError` when the file is no TIFF or
    carries no physical pixel size (many do not: then ask for it)."""
    size = tiff_metadata(file).pixel_size_um
    if size is None:
        raise SegGalError("the image stores no usable pixel size: enter it (µm per pixel) by hand")
    return size

