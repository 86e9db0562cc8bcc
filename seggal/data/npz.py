"""Lazy ``.npz`` reading: members memory-mapped one at a time, and a streamed ``.npz`` writer.

An ``.npz`` is a zip of ``.npy`` members and ``np.load`` reads a member whole, so :func:`open_arrays`
memory-maps them instead: an uncompressed member is mapped in place inside the zip; a compressed one
(``np.savez_compressed``) is streamed once into a cached ``.npy`` (``$SEGGAL_CACHE``, default
``~/.cache/seggal``) and mapped from there. Nothing is unpickled.

Each member's ``.npy`` header is read from the zip stream first: shapes and dtypes are checked by the
caller, the size the header promises must match the archive's, and a compressed member is unpacked only when
that size is within :func:`max_unpack_bytes` (``$SEGGAL_MAX_NPZ_BYTES``) and the cache's free disk space. A
failed unpacking leaves nothing in the cache.

:class:`NpzWriter` writes the other way round without holding the arrays in memory: each member is an
``.npy`` memory map filled window by window, stored uncompressed (so :func:`open_arrays` maps it in place),
and the ``.npz`` appears atomically when it is closed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.io import npy_header

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes), see APPNOTE 4.3.7


def cache_dir() -> Path:
    """Where compressed ``.npz`` members are unpacked for memory mapping (``$SEGGAL_CACHE``)."""
    return Path(os.environ.get("SEGGAL_CACHE", Path.home() / ".cache" / "seggal"))


def max_unpack_bytes() -> int:
    """Largest compressed ``.npz`` member SegGal unpacks into the cache, in bytes (``$SEGGAL_MAX_NPZ_BYTES``,
    default 16 GiB: TissueNet v1.1's largest member is 5.4 GB)."""
    return int(os.environ.get("SEGGAL_MAX_NPZ_BYTES", 16 * 2**30))


@dataclass(frozen=True)
class Member:
    """What the ``.npy`` header of an npz member says: ``shape``, ``dtype``, ``fortran`` order, and
    ``start``, the number of bytes before the data (so the member holds ``start + nbytes`` bytes)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    start: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def _read_member_header(path: Path, archive: zipfile.ZipFile, key: str) -> Member:
    """Read the ``.npy`` header of member ``key`` from the zip stream (a few hundred bytes, never the data)
    and check that the size it promises is what the archive holds."""
    where = f"{path}: array {key!r}"
    info = archive.getinfo(f"{key}.npy")
    try:
        with archive.open(info) as stream:
            shape, fortran, dtype = npy_header(stream, where)
            member = Member(tuple(int(d) for d in shape), dtype, fortran, stream.tell())
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise SegGalError(f"{where}: corrupt zip entry ({type(exc).__name__}: {exc})") from exc
    if info.compress_type != zipfile.ZIP_STORED and member.start + member.nbytes > max_unpack_bytes():
        raise SegGalError(
            f"{where} would unpack to {member.start + member.nbytes:,} bytes, more than the limit of "
            f"{max_unpack_bytes():,} (SEGGAL_MAX_NPZ_BYTES raises it); nothing was unpacked"
        )
    return member


def _check_fits(path: Path, key: str, member: Member, info: zipfile.ZipInfo) -> None:
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


def _mapped_member(path: Path, archive: zipfile.ZipFile, key: str, member: Member) -> np.ndarray:
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


def strings(path: Path, key: str, n: int) -> tuple[str, ...]:
    """A small (N,) string member, read whole (these are a few kB), checked for length ``n``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            values = npz[key]
    except ValueError as exc:  # object arrays need pickle, which SegGal refuses
        raise SegGalError(f"{path}: {key!r} cannot be read without unpickling ({exc})") from exc
    if values.ndim != 1 or len(values) != n:
        raise SegGalError(f"{path}: {key!r} has shape {values.shape}, expected ({n},) to match X")
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist())


def check_pair(path: Path, X: Member, y: Member, what: str = "images") -> None:
    """What both data sets' ``X`` (pixels) and ``y`` (labels) must share: the number of ``what`` and their
    size (the first three axes), and numeric dtypes; :class:`SegGalError` naming ``path`` otherwise."""
    if X.shape[:3] != y.shape[:3]:
        raise SegGalError(f"{path}: X {X.shape} and y {y.shape} differ in number of {what} or size")
    if X.dtype.kind not in "iuf":
        raise SegGalError(f"{path}: X has dtype {X.dtype}; expected numbers")
    if y.dtype.kind not in "iuf":
        raise SegGalError(f"{path}: y has dtype {y.dtype}; labels must be integers")


def open_arrays(path: str | os.PathLike, required: Sequence[str], arrays: Sequence[str],
                check: Callable[[Path, dict[str, Member]], None], hint: str = "") -> tuple[set[str], dict[str, np.ndarray]]:
    """Open the ``.npz`` at ``path`` without reading its data → (its member names, {name: read-only memory map}
    for each of ``arrays``). ``required`` members must be there (else :class:`SegGalError` naming ``hint``);
    ``check(path, headers)`` validates the ``arrays``' shapes and dtypes before anything is unpacked."""
    path = Path(path)
    if not path.is_file():
        raise SegGalError(f"{path}: file not found")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise SegGalError(f"{path}: not an .npz file ({exc})") from exc
    with archive:
        keys = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
        missing = [k for k in required if k not in keys]
        if missing:
            raise SegGalError(f"{path}: missing key(s) {', '.join(missing)}; {hint} "
                              f"(found: {', '.join(sorted(keys)) or 'none'})")
        headers = {key: _read_member_header(path, archive, key) for key in arrays}
        check(path, headers)  # before anything is unpacked
        for key, member in headers.items():
            _check_fits(path, key, member, archive.getinfo(f"{key}.npy"))
        return keys, {key: _mapped_member(path, archive, key, member) for key, member in headers.items()}


class NpzWriter:
    """Write an uncompressed ``.npz`` member by member without holding it in memory.

    ``NpzWriter(path, {"X": ((N, H, W, C), np.float32), …})`` opens one ``.npy`` memory map per member in a
    staging folder beside ``path`` (``writer["X"][i] = …``); :meth:`close` adds the small ``extra`` arrays
    (e.g. ``tissue_list``), zips everything (stored, ZIP64) into a temporary file and moves it onto
    ``path`` with ``os.replace``; :meth:`abort` (or an exception inside ``with``) leaves nothing.
    """

    def __init__(self, path: str | os.PathLike, members: dict[str, tuple[tuple[int, ...], object]]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".incomplete", dir=self.path.parent))
        self._maps = {key: np.lib.format.open_memmap(self._staging / f"{key}.npy", "w+", np.dtype(dtype), tuple(shape))
                      for key, (shape, dtype) in members.items()}

    def __getitem__(self, key: str) -> np.ndarray:
        return self._maps[key]

    def close(self, extra: dict[str, np.ndarray] | None = None) -> Path:
        """Finish the file (``extra``: small arrays written whole, never object arrays) → ``path``."""
        for key, value in (extra or {}).items():
            value = np.asarray(value)
            if value.dtype == object:
                raise SegGalError(f"{self.path}: {key!r} would need pickle; give strings or numbers")
            np.save(self._staging / f"{key}.npy", value, allow_pickle=False)
        for memmap in self._maps.values():
            memmap.flush()
        self._maps.clear()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
                for member in sorted(self._staging.glob("*.npy")):
                    out.write(member, member.name)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        self._maps.clear()
        shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.abort()


__all__ = ["cache_dir", "max_unpack_bytes", "Member", "open_arrays", "strings", "NpzWriter"]
