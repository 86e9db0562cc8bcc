"""TissueNet ``.npz`` files, read lazily one image at a time.

Two layouts, told apart by their keys (both have ``X``, ``y`` and ``tissue_list``):

* TissueNet v1.1 as deepcell distributes it (``tissuenet_v1.1_{train,val,test}.npz``): ``X``
  (N, H, W, 2) channel 0 nuclear, 1 membrane / cytoplasm; ``y`` (N, H, W, 2) channel 0 whole-cell
  labels, 1 nuclear labels; ``tissue_list`` and ``platform_list`` (N,).
* The paper's preprocessed 256 x 256 files: ``X``, ``y`` (same channel order: X 0 nuclear, 1 whole
  cell; y 0 whole cell, 1 nuclear), ``filenames`` and ``tissue_list``.

An ``.npz`` is a zip of ``.npy`` members and ``np.load`` reads a member whole, so :func:`open_tissuenet`
memory-maps ``X`` and ``y`` instead: an uncompressed member is mapped in place inside the zip; a
compressed one (``np.savez_compressed``) is streamed once into a cached ``.npy``
(``$SEGGAL_CACHE``, default ``~/.cache/seggal``) and mapped from there. Nothing is unpickled.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image, as_labels

#: What each channel of X and y holds (identical in both layouts).
CHANNELS = {"X": ("nuclear", "membrane / cytoplasm (whole cell)"), "y": ("whole-cell labels", "nuclear labels")}
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes), see APPNOTE 4.3.7


def cache_dir() -> Path:
    """Where compressed ``.npz`` members are unpacked for memory mapping (``$SEGGAL_CACHE``)."""
    return Path(os.environ.get("SEGGAL_CACHE", Path.home() / ".cache" / "seggal"))


def _npy_header(handle, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read an ``.npy`` header from ``handle`` (left at the first data byte): shape, fortran, dtype."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(handle)
    except ValueError as exc:
        raise SegGalError(f"{where}: not a valid .npy member ({exc})") from exc
    if dtype.hasobject:
        raise SegGalError(f"{where}: holds Python objects (dtype {dtype}); SegGal never unpickles data")
    return shape, fortran, dtype


def _mapped_member(path: Path, archive: zipfile.ZipFile, key: str) -> np.ndarray:
    """Memory-map member ``key`` of the npz ``archive`` read-only (see the module docstring)."""
    where = f"{path}: array {key!r}"
    info = archive.getinfo(f"{key}.npy")
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as handle:
            handle.seek(info.header_offset)
            fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
            if fields[0] != b"PK\x03\x04":
                raise SegGalError(f"{where}: corrupt zip entry")
            handle.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
            shape, fortran, dtype = _npy_header(handle, where)
            offset = handle.tell()
        return np.memmap(path, dtype, "r", offset, shape, "F" if fortran else "C")
    stat = path.stat()
    target = cache_dir() / "npz" / f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}" / f"{key}.npy"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        with archive.open(info) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 16 * 2**20)
        partial.replace(target)
    with open(target, "rb") as handle:
        _npy_header(handle, where)
    return np.load(target, mmap_mode="r", allow_pickle=False)


@dataclass(frozen=True)
class TissueNet:
    """An opened TissueNet ``.npz``: ``X`` / ``y`` memory-mapped, metadata in memory.

    ``X`` (N, H, W, 2) and ``y`` (N, H, W, 2) as in the file; ``tissues`` (N,) str; ``platforms`` or
    ``filenames`` (N,) str when the file has them; ``layout`` is ``"deepcell"`` or ``"paper"``.
    """

    path: Path
    layout: str
    X: np.ndarray
    y: np.ndarray
    tissues: tuple[str, ...]
    platforms: tuple[str, ...] | None = None
    filenames: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def _index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise SegGalError(f"{self.path}: image {i} does not exist; the file holds {len(self)} images")
        return i % len(self)

    def name(self, i: int) -> str:
        """A readable name for image ``i``: its file name in the paper's layout, else ``file[i]``."""
        i = self._index(i)
        return self.filenames[i] if self.filenames else f"{self.path.name}[{i}]"

    def image(self, i: int) -> Image:
        """Image ``i``: (H, W, 2) float32, channel 0 nuclear, 1 membrane; only this image is read."""
        i = self._index(i)
        pixels = np.array(self.X[i], dtype=np.float32)
        if not np.isfinite(pixels).all():
            raise SegGalError(f"{self.path}: X[{i}] contains NaN or infinite pixels")
        return Image(pixels, ChannelSpec(nuclear=0, membrane=1), self.name(i))

    def labels(self, i: int, target: str) -> np.ndarray:
        """Ground truth of image ``i`` for ``target`` ``"nuclei"`` or ``"whole_cell"``: (H, W) int32."""
        channel = {"whole_cell": 0, "nuclei": 1}.get(target)
        if channel is None:
            raise SegGalError(f"unknown target {target!r}; expected 'nuclei' or 'whole_cell'")
        i = self._index(i)
        return as_labels(np.asarray(self.y[i, :, :, channel]), f"{self.path}: y[{i}] ({target} labels)")

    def info(self) -> dict:
        """Summary for ``seggal data info``: counts per tissue, shapes, dtypes and channel meaning."""
        tissues, counts = np.unique(np.array(self.tissues), return_counts=True)
        return {
            "path": str(self.path),
            "dataset": "TissueNet",
            "layout": {"deepcell": "TissueNet v1.1 (deepcell)", "paper": "paper's preprocessed"}[self.layout],
            "n_images": len(self),
            "tissues": {str(t): int(c) for t, c in zip(tissues, counts)},
            "platforms": _counts(self.platforms),
            "image_shape": [int(s) for s in self.X.shape[1:]],
            "X": {"shape": list(self.X.shape), "dtype": str(self.X.dtype), "channels": list(CHANNELS["X"])},
            "y": {"shape": list(self.y.shape), "dtype": str(self.y.dtype), "channels": list(CHANNELS["y"])},
        }


def _counts(values: tuple[str, ...] | None) -> dict[str, int] | None:
    if values is None:
        return None
    names, counts = np.unique(np.array(values), return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts)}


def _strings(path: Path, key: str, n: int) -> tuple[str, ...]:
    """A small (N,) string member, read whole (these are a few kB), checked for length ``n``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            values = npz[key]
    except ValueError as exc:  # object arrays need pickle, which SegGal refuses
        raise SegGalError(f"{path}: {key!r} cannot be read without unpickling ({exc})") from exc
    if values.ndim != 1 or len(values) != n:
        raise SegGalError(f"{path}: {key!r} has shape {values.shape}, expected ({n},) to match X")
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist())


def open_tissuenet(path: str | os.PathLike) -> TissueNet:
    """Open a TissueNet ``.npz`` (either layout) without reading its images; validates keys, shapes, dtypes."""
    path = Path(path)
    if not path.is_file():
        raise SegGalError(f"{path}: file not found")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise SegGalError(f"{path}: not an .npz file ({exc})") from exc
    with archive:
        keys = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
        missing = [k for k in ("X", "y", "tissue_list") if k not in keys]
        if missing:
            raise SegGalError(
                f"{path}: missing key(s) {', '.join(missing)}; a TissueNet .npz has X, y, tissue_list "
                f"and platform_list or filenames (found: {', '.join(sorted(keys)) or 'none'})"
            )
        X, y = _mapped_member(path, archive, "X"), _mapped_member(path, archive, "y")
    if X.ndim != 4 or X.shape[-1] != 2:
        raise SegGalError(f"{path}: X has shape {X.shape}; expected (N, H, W, 2) [nuclear, membrane]")
    if y.ndim != 4 or y.shape[-1] != 2:
        raise SegGalError(f"{path}: y has shape {y.shape}; expected (N, H, W, 2) [whole-cell, nuclear labels]")
    if X.shape[:3] != y.shape[:3]:
        raise SegGalError(f"{path}: X {X.shape} and y {y.shape} differ in number of images or size")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)) or X.dtype == bool:
        raise SegGalError(f"{path}: X has dtype {X.dtype}; expected numbers")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)) or y.dtype == bool:
        raise SegGalError(f"{path}: y has dtype {y.dtype}; labels must be integers")
    n = int(X.shape[0])
    tissues = _strings(path, "tissue_list", n)
    platforms = _strings(path, "platform_list", n) if "platform_list" in keys else None
    filenames = _strings(path, "filenames", n) if "filenames" in keys else None
    layout = "paper" if filenames is not None else "deepcell"
    return TissueNet(path, layout, X, y, tissues, platforms, filenames)
