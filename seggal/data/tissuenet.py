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

Each member's ``.npy`` header is read from the zip stream first: shapes and dtypes are validated, the size
it promises must match the archive's, and a compressed member is unpacked only when that size is within
:func:`max_unpack_bytes` (``$SEGGAL_MAX_NPZ_BYTES``) and the cache's free disk space. A failed unpacking
leaves nothing in the cache.
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image, as_labels
from seggal.io import npy_header

#: What each channel of X and y holds (identical in both layouts).
CHANNELS = {"X": ("nuclear", "membrane / cytoplasm (whole cell)"), "y": ("whole-cell labels", "nuclear labels")}
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes), see APPNOTE 4.3.7


def cache_dir() -> Path:
    """Where compressed ``.npz`` members are unpacked for memory mapping (``$SEGGAL_CACHE``)."""
    return Path(os.environ.get("SEGGAL_CACHE", Path.home() / ".cache" / "seggal"))


def max_unpack_bytes() -> int:
    """Largest compressed ``.npz`` member SegGal unpacks into the cache, in bytes (``$SEGGAL_MAX_NPZ_BYTES``,
    default 16 GiB: TissueNet v1.1's largest member is 5.4 GB)."""
    return int(os.environ.get("SEGGAL_MAX_NPZ_BYTES", 16 * 2**30))


@dataclass(frozen=True)
class _Member:
    """What the ``.npy`` header of an npz member says: ``shape``, ``dtype``, ``fortran`` order, and
    ``start``, the number of bytes before the data (so the member holds ``start + nbytes`` bytes)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    start: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def _read_member_header(path: Path, archive: zipfile.ZipFile, key: str) -> _Member:
    """Read the ``.npy`` header of member ``key`` from the zip stream (a few hundred bytes, never the data)
    and check that the size it promises is what the archive holds."""
    where = f"{path}: array {key!r}"
    info = archive.getinfo(f"{key}.npy")
    try:
        with archive.open(info) as stream:
            shape, fortran, dtype = npy_header(stream, where)
            member = _Member(tuple(int(d) for d in shape), dtype, fortran, stream.tell())
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise SegGalError(f"{where}: corrupt zip entry ({type(exc).__name__}: {exc})") from exc
    if info.compress_type != zipfile.ZIP_STORED and member.start + member.nbytes > max_unpack_bytes():
        raise SegGalError(
            f"{where} would unpack to {member.start + member.nbytes:,} bytes, more than the limit of "
            f"{max_unpack_bytes():,} (SEGGAL_MAX_NPZ_BYTES raises it); nothing was unpacked"
        )
    return member


def _check_fits(path: Path, key: str, member: _Member, info: zipfile.ZipInfo) -> None:
    """Refuse a member whose header and archive sizes disagree, and one the cache's disk cannot hold."""
    where, size = f"{path}: array {key!r}", member.start + member.nbytes
    if info.compress_type != zipfile.ZIP_STORED:
        folder = next(p for p in (cache_dir(), *cache_dir().parents) if p.exists())
        free = shutil.disk_usage(folder).free
        if size > free:
            raise SegGalError(f"{where} needs {size:,} bytes in {cache_dir()} to unpack, but only {free:,} are free "
                              "(set SEGGAL_CACHE to a larger disk); nothing was unpacked")
    if size != info.file_size:
        raise SegGalError(f"{where}: its header promises {size:,} bytes but the archive holds {info.file_size:,} "
                          "(the file is corrupt: data does not match the header)")


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, where: str) -> None:
    """Stream a compressed member into ``target`` through a temporary file; on any failure nothing stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
    try:
        with archive.open(info) as src, open(partial, "xb") as dst:
            shutil.copyfileobj(src, dst, 16 * 2**20)
        partial.replace(target)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        try:
            target.parent.rmdir()  # only when empty
        except OSError:
            pass
        if isinstance(exc, (zipfile.BadZipFile, EOFError, OSError, zlib.error)):
            raise SegGalError(f"{where}: cannot unpack ({type(exc).__name__}: {exc}); nothing was kept") from exc
        raise


def _mapped_member(path: Path, archive: zipfile.ZipFile, key: str, member: _Member) -> np.ndarray:
    """Memory-map member ``key`` of the npz ``archive`` read-only (see the module docstring); ``member``
    is its checked header (:func:`_read_member_header`, :func:`_check_fits`)."""
    where = f"{path}: array {key!r}"
    info = archive.getinfo(f"{key}.npy")
    order = "F" if member.fortran else "C"
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as handle:
            handle.seek(info.header_offset)
            fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise SegGalError(f"{where}: corrupt zip entry")
        offset = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1] + member.start
        return np.memmap(path, member.dtype, "r", offset, member.shape, order)
    stat = path.stat()
    target = cache_dir() / "npz" / f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}" / f"{key}.npy"
    if not target.is_file() or target.stat().st_size != info.file_size:  # absent, or left by an older SegGal
        _unpack(archive, info, target, where)
    return np.memmap(target, member.dtype, "r", member.start, member.shape, order)


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


def _check_layout(path: Path, X: _Member, y: _Member) -> None:
    """Shapes and dtypes of X and y as both layouts have them (module docstring)."""
    if len(X.shape) != 4 or X.shape[-1] != 2:
        raise SegGalError(f"{path}: X has shape {X.shape}; expected (N, H, W, 2) [nuclear, membrane]")
    if len(y.shape) != 4 or y.shape[-1] != 2:
        raise SegGalError(f"{path}: y has shape {y.shape}; expected (N, H, W, 2) [whole-cell, nuclear labels]")
    if X.shape[:3] != y.shape[:3]:
        raise SegGalError(f"{path}: X {X.shape} and y {y.shape} differ in number of images or size")
    if X.dtype.kind not in "iuf":
        raise SegGalError(f"{path}: X has dtype {X.dtype}; expected numbers")
    if y.dtype.kind not in "iuf":
        raise SegGalError(f"{path}: y has dtype {y.dtype}; labels must be integers")


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
        X, y = _read_member_header(path, archive, "X"), _read_member_header(path, archive, "y")
        _check_layout(path, X, y)  # before anything is unpacked
        for key, member in (("X", X), ("y", y)):
            _check_fits(path, key, member, archive.getinfo(f"{key}.npy"))
        X, y = _mapped_member(path, archive, "X", X), _mapped_member(path, archive, "y", y)
    n = int(X.shape[0])
    tissues = _strings(path, "tissue_list", n)
    platforms = _strings(path, "platform_list", n) if "platform_list" in keys else None
    filenames = _strings(path, "filenames", n) if "filenames" in keys else None
    layout = "paper" if filenames is not None else "deepcell"
    return TissueNet(path, layout, X, y, tissues, platforms, filenames)
