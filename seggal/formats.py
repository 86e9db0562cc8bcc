"""Large and microscope image files, read and written lazily, a block at a time.

* OME-Zarr (``.zarr`` / ``.ome.zarr`` folders, NGFF 0.4 / 0.5): read with ``zarr`` (attributes, pixels),
  written with ``ome-zarr``'s writer;
* TIFF / BigTIFF: tifffile's zarr store (tiles or strips are decoded only when a block needs them);
  OME-TIFF metadata through ``bioio`` (``bioio-ome-tiff``);
* CZI, LIF, ND2: ``bioio`` and its reader plugins (``bioio-czi``, ``bioio-lif``, ``bioio-nd2``);
* PNG, JPG, NPY: :func:`seggal.io.read_array` (whole, with its pixel limits).

:func:`open_image` returns a :class:`LazyImage`: a small picklable description (path, (H, W), channel
names, pixel size in µm, pyramid scales) whose :meth:`LazyImage.read` decodes one (h, w, c) float32 box
of chosen channels; a process opens each file once (:func:`_array`). SegGal segments one 2-D plane:
time points and Z planes beyond the first must be absent (size 1), else :class:`SegGalError`.

Uploads (the Segment page): :func:`read_upload` / :func:`upload_metadata` decode a CZI, LIF or ND2 file
given as bytes through its bioio reader, from a copy in a temporary folder that is removed at once; the
caps of :mod:`seggal.io` (scenes, pixels, pixel type, decoded bytes) are checked from the header first.

Writers: :func:`write_labels_ome_zarr` (a label pyramid with the source's scales and units, written
from a zarr array level by level) and :func:`write_labels_tiff` (a tiled BigTIFF streamed tile by tile).
Both write into a temporary name beside the target and ``os.replace`` it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.io import IMAGE_SUFFIXES, FileMetadata, atomic_file, check_header

#: The bioio reader plugin of each microscope suffix: a file is handed to that reader alone, so that a
#: damaged file gets its reader's own reason.
BIOIO_READERS = {".czi": "bioio_czi", ".lif": "bioio_lif", ".nd2": "bioio_nd2"}
BIOIO_SUFFIXES = tuple(BIOIO_READERS)
ZARR_SUFFIXES = (".zarr",)
#: Every suffix SegGal's command line reads (``.ome.tif`` ends in ``.tif``).
SUFFIXES = IMAGE_SUFFIXES + BIOIO_SUFFIXES + ZARR_SUFFIXES


def is_zarr(path: str | os.PathLike) -> bool:
    """An OME-Zarr image: a ``*.zarr`` folder."""
    return Path(path).suffix.lower() in ZARR_SUFFIXES


def is_image_path(path: Path) -> bool:
    """A file or OME-Zarr folder that :func:`open_image` can try."""
    return is_zarr(path) or (path.is_file() and path.suffix.lower() in SUFFIXES)


@dataclass(frozen=True)
class LazyImage:
    """A 2-D multi-channel image on disk, read a box at a time.

    ``shape`` (H, W); ``axes`` of the level-0 array (e.g. ``"CYX"``, ``"TCZYX"``, ``"YXS"``);
    ``channel_names`` (one per channel, may be empty strings); ``pixel_size_um`` (Y/X pixel size in µm, or
    ``None``); ``scales``: per pyramid level the (y, x) scale of its pixels (OME-Zarr; one level otherwise).
    """

    path: str
    kind: str  # "ome-zarr", "tiff", "bioio" or "plain"
    shape: tuple[int, int]
    axes: str
    dtype: str
    channel_names: tuple[str, ...]
    pixel_size_um: float | None = None
    scales: tuple[tuple[float, float], ...] = ((1.0, 1.0),)
    attrs: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    def read(self, y0: int, y1: int, x0: int, x1: int, channels: Sequence[int]) -> np.ndarray:
        """Pixels [y0:y1, x0:x1] of ``channels`` → (h, w, len(channels)) float32 (raw intensities)."""
        for c in channels:
            if not 0 <= c < self.n_channels:
                raise SegGalError(f"{self.name}: channel {c} does not exist; the image has {self.n_channels} channel(s)")
        index = tuple(slice(y0, y1) if a == "Y" else slice(x0, x1) if a == "X" else list(channels) if a in "CS" else 0
                      for a in self.axes)
        block = _load(_array(self.path, self.kind), index)
        kept = [a for a in self.axes if a in "YXCS"]
        if not any(a in "CS" for a in kept):  # a single-channel array
            block, kept = block[..., None], kept + ["C"]
        channel_axis = next(i for i, a in enumerate(kept) if a in "CS")
        block = np.moveaxis(block, [kept.index("Y"), kept.index("X"), channel_axis], [0, 1, 2])
        out = np.asarray(block, np.float32)
        if not np.isfinite(out).all():
            raise SegGalError(f"{self.name}[{y0}:{y1}, {x0}:{x1}]: contains NaN or infinite pixels")
        return out


def _load(array, index: tuple):
    """``array[index]`` as numpy, for zarr / numpy arrays (one fancy index at most) and dask arrays."""
    fancy = [i for i, v in enumerate(index) if isinstance(v, list)]
    if fancy and not isinstance(array, np.ndarray):
        # zarr takes no list index mixed with slices: read the channels one by one
        axis = fancy[0]
        parts = [_load(array, index[:axis] + (c,) + index[axis + 1:]) for c in index[axis]]
        return np.stack(parts, axis=sum(1 for v in index[:axis] if not isinstance(v, int)))
    block = array[index]
    if hasattr(block, "compute"):
        block = block.compute(scheduler="synchronous")
    return np.asarray(block)


@functools.lru_cache(maxsize=16)
def _array(path: str, kind: str):
    """The level-0 pixel array of ``path``, opened once per process (numpy, zarr or dask slicing)."""
    if kind == "ome-zarr":
        import zarr

        return zarr.open_group(path, mode="r")[_ome_zarr_meta(path)["datasets"][0]]
    if kind == "tiff":
        import tifffile
        import zarr

        store = tifffile.imread(path, aszarr=True, series=0, level=0)
        return zarr.open(store, mode="r")
    if kind == "bioio":
        return _bioio(path).dask_data
    from seggal.io import read_array

    return read_array(path)


def _bioio(path: str, name: str | None = None):
    """``bioio.BioImage`` of ``path`` (named ``name`` in messages), through the reader of its suffix
    (:data:`BIOIO_READERS`; plugin discovery for others, e.g. OME-TIFF). Raises :class:`SegGalError`."""
    name = name or Path(path).name
    module = BIOIO_READERS.get(Path(path).suffix.lower())
    try:
        from bioio import BioImage

        return BioImage(path, reader=importlib.import_module(module).Reader) if module else BioImage(path)
    except Exception as exc:  # an unknown format, a missing plugin, a corrupt file
        # bioio lists each reader's refusal after "Readers attempted:"; the reader's own words are the reason
        reason = str(exc).split("Readers attempted:")[-1].strip().removeprefix("- ").replace(str(path), name)
        raise SegGalError(f"{name}: cannot read with {module or 'bioio'} ({type(exc).__name__}: {reason})") from exc


def _ome_zarr_meta(path: str) -> dict:
    """OME-Zarr multiscale metadata (NGFF 0.4 attributes or 0.5's ``ome`` key): axes, dataset paths,
    per-level (y, x) scales, channel names (``omero``) and axis units."""
    import zarr

    try:
        attrs = dict(zarr.open_group(path, mode="r").attrs)
    except Exception as exc:
        raise SegGalError(f"{path}: not an OME-Zarr image ({type(exc).__name__}: {exc})") from exc
    attrs = attrs.get("ome", attrs)
    if not attrs.get("multiscales"):
        raise SegGalError(f"{path}: no OME-Zarr multiscale image in this folder")
    multiscale = attrs["multiscales"][0]
    axes = [a["name"] if isinstance(a, dict) else a for a in multiscale.get("axes", [])]
    units = {a["name"]: a.get("unit") for a in multiscale.get("axes", []) if isinstance(a, dict)}
    scales = []
    for dataset in multiscale["datasets"]:
        scale = next((t["scale"] for t in dataset.get("coordinateTransformations", []) if t.get("type") == "scale"),
                     [1.0] * len(axes))
        scales.append(tuple(float(scale[axes.index(a)]) for a in ("y", "x")))
    names = [str(c.get("label", "")) for c in attrs.get("omero", {}).get("channels", [])]
    return {"axes": "".join(a.upper() for a in axes), "datasets": [d["path"] for d in multiscale["datasets"]],
            "scales": scales, "names": names, "units": units}


def _to_um(value: float | None, unit: str | None) -> float | None:
    factors = {None: 1.0, "micrometer": 1.0, "µm": 1.0, "um": 1.0, "nanometer": 1e-3, "nm": 1e-3,
               "millimeter": 1e3, "mm": 1e3}
    if value is None or unit not in factors:
        return None
    return float(value) * factors[unit]


def _channel_axes(axes: str, shape: Sequence[int], name: str) -> str:
    """Axes with the channel axis named ``C`` (or ``S``); refuses stacks beyond one 2-D plane."""
    axes = axes.upper()
    if "Y" not in axes or "X" not in axes:
        raise SegGalError(f"{name}: axes {axes!r} have no Y and X")
    others = [(i, a) for i, a in enumerate(axes) if a not in "YXCS" and shape[i] > 1]
    if others and not any(a in "CS" for a in axes) and len(others) == 1:  # an unnamed axis: the channels
        i, _ = others[0]
        axes = axes[:i] + "C" + axes[i + 1:]
        others = []
    if others:
        what = ", ".join(f"{a}={shape[i]}" for i, a in others)
        raise SegGalError(f"{name}: {what}; SegGal segments one 2-D plane — save a single time point / Z plane")
    return axes


def open_image(path: str | os.PathLike) -> LazyImage:
    """Describe the image at ``path`` without reading its pixels. Raises :class:`SegGalError`."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise SegGalError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    try:
        if is_zarr(path):
            meta = _ome_zarr_meta(str(path))
            array = _array.__wrapped__(str(path), "ome-zarr")
            axes = _channel_axes(meta["axes"], array.shape, name)
            n = array.shape[axes.index("C")] if "C" in axes else 1
            names = tuple(meta["names"]) if len(meta["names"]) == n else tuple("" for _ in range(n))
            scales = tuple(meta["scales"]) or ((1.0, 1.0),)
            pixel = _to_um(scales[0][1], meta["units"].get("x"))
            return LazyImage(str(path), "ome-zarr", _yx(array.shape, axes), axes, str(array.dtype), names, pixel, scales)
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                if not tif.series:
                    raise SegGalError(f"{name}: TIFF holds no image")
                series = tif.series[0]
                axes, shape, dtype, ome = series.axes, series.shape, str(series.dtype), tif.is_ome
            if len(shape) == 3 and not set(axes) <= set("TCZYXS"):  # tifffile guessed (pages): SegGal's convention
                axes = "YXC" if shape[-1] <= 3 < shape[0] else "CYX"
            axes = _channel_axes(axes, shape, name)
            n = shape[axes.index("C")] if "C" in axes else shape[axes.index("S")] if "S" in axes else 1
            names, pixel = tuple("" for _ in range(n)), None
            if ome:
                bio = _bioio(str(path))
                if len(bio.channel_names) == n:
                    names = tuple(str(c) for c in bio.channel_names)
                pixel = bio.physical_pixel_sizes.X
            return LazyImage(str(path), "tiff", _yx(shape, axes), axes, dtype, names, pixel)
        if suffix in BIOIO_SUFFIXES:
            bio = _bioio(str(path))
            shape = bio.dask_data.shape
            axes = _channel_axes(bio.dims.order, shape, name)
            names = tuple(str(c) for c in bio.channel_names)
            return LazyImage(str(path), "bioio", _yx(shape, axes), axes, str(bio.dtype), names,
                             bio.physical_pixel_sizes.X)
        if suffix in IMAGE_SUFFIXES:
            from seggal.io import read_array

            array = read_array(path)
            axes = {2: "YX", 3: "YXC" if array.shape[-1] <= array.shape[0] else "CYX"}.get(array.ndim)
            if axes is None:
                raise SegGalError(f"{name}: expected a 2-D image, got shape {array.shape}")
            n = array.shape[axes.index("C")] if "C" in axes else 1
            return LazyImage(str(path), "plain", _yx(array.shape, axes), axes, str(array.dtype), tuple("" for _ in range(n)))
    except SegGalError:
        raise
    except Exception as exc:  # any decoder failure is one clear message naming the file
        raise SegGalError(f"{name}: cannot read ({type(exc).__name__}: {exc})") from exc
    raise SegGalError(f"{name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUFFIXES)}")


@contextlib.contextmanager
def _opened_upload(data: bytes, file_name: str) -> Iterator:
    """Uploaded CZI / LIF / ND2 bytes opened with their bioio reader (:func:`_bioio`) from a copy in a
    temporary folder, which is removed on exit."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in BIOIO_READERS:
        raise SegGalError(f"{file_name}: not a microscope file; expected one of {', '.join(BIOIO_SUFFIXES)}")
    if not data:
        raise SegGalError(f"{file_name}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="seggal-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        bio = _bioio(str(path), file_name)
        try:
            yield bio
        except SegGalError:
            raise
        except Exception as exc:  # a header that opens but metadata or pixels that do not: a damaged file
            reason = str(exc).replace(str(path), file_name)
            raise SegGalError(f"{file_name}: cannot decode with {BIOIO_READERS[suffix]} "
                              f"({type(exc).__name__}: {reason})") from exc


@dataclass(frozen=True)
class _Layout:
    """What an upload's first scene holds, from its header: ``planes`` (Z), the channel axis (``C``, or
    ``S`` for RGB samples), the ``kept`` channel indices, their ``names`` and the pixel size (µm)."""

    planes: int
    axis: str
    kept: tuple[int, ...]
    names: tuple[str, ...]
    pixel_size_um: float | None

    @property
    def metadata(self) -> FileMetadata:
        """The kept channels' names (``()`` when the file names none) and the pixel size."""
        return FileMetadata(self.names if any(self.names) else (), self.pixel_size_um)


def _layout(bio, name: str) -> _Layout:
    """The :class:`_Layout` of an opened upload, refusing (``SegGalError``) more scenes than
    :data:`seggal.io.MAX_PAGES`, time series, and more than three channels unless the channel names
    say which is nuclear and which membrane (then those two are kept)."""
    from seggal.channel_names import suggest_channels
    from seggal.io import MAX_CHANNELS, MAX_PAGES

    scenes = len(bio.scenes)
    if scenes > MAX_PAGES:
        raise SegGalError(f"{name}: {scenes:,} scenes, more than the limit of {MAX_PAGES:,} (SEGGAL_MAX_PAGES); "
                          "nothing was decoded")
    sizes = dict(zip(bio.dims.order, bio.dims.shape))
    if sizes.get("T", 1) > 1:
        raise SegGalError(f"{name}: a time series of {sizes['T']} time points; SegGal segments one 2-D plane — "
                          "save a single time point")
    axis = "S" if sizes.get("S", 1) > 1 and sizes.get("C", 1) == 1 else "C"
    if sizes.get("S", 1) > 1 and axis == "C":
        raise SegGalError(f"{name}: {sizes['C']} channels of {sizes['S']} RGB samples each; save one channel layout")
    n = sizes.get(axis, 1)
    names = tuple(str(c) for c in bio.channel_names) if axis == "C" and len(bio.channel_names) == n else ("",) * n
    kept = tuple(range(n))
    if n > MAX_CHANNELS:
        nuclear, membrane = suggest_channels(names)
        if nuclear is None or membrane is None:
            raise SegGalError(f"{name}: {n} channels ({', '.join(names) if any(names) else 'unnamed'}) and their "
                              f"names do not say which is nuclear and which membrane; the page reads 1-{MAX_CHANNELS} "
                              "channels — segment it with the command line, naming the channels "
                              "(--nuclear-channel NAME --membrane-channel NAME)")
        kept = (nuclear, membrane)
    size = bio.physical_pixel_sizes.X
    pixel = float(size) if size is not None and np.isfinite(size) and size > 0 else None
    return _Layout(sizes.get("Z", 1), axis, kept, tuple(names[i] for i in kept), pixel)


def read_upload(data: bytes, file_name: str) -> tuple[np.ndarray, FileMetadata]:
    """An uploaded CZI / LIF / ND2 file (``data``, named ``file_name``) → (pixels, metadata).

    Pixels: the first scene as (C, H, W), or (Z, C, H, W) for a Z-stack, in the file's pixel type, with
    the channels of :func:`_layout`; metadata: those channels' names and the pixel size in µm. Scenes,
    pixels, pixel type and decoded bytes are checked from the header before any pixel is decoded
    (:func:`seggal.io.check_header`). Raises :class:`SegGalError` naming the file."""
    with _opened_upload(data, file_name) as bio:
        layout = _layout(bio, file_name)
        sizes = dict(zip(bio.dims.order, bio.dims.shape))
        check_header((layout.planes, len(layout.kept), sizes["Y"], sizes["X"]), bio.dtype, file_name)
        fixed = {d: 0 for d in bio.dims.order if d not in ("Z", layout.axis, "Y", "X")}
        pixels = np.asarray(bio.get_image_data(f"Z{layout.axis}YX", **{layout.axis: list(layout.kept)}, **fixed))
    return (pixels[0] if layout.planes == 1 else pixels), layout.metadata


def upload_metadata(data: bytes, file_name: str) -> FileMetadata:
    """The channel names and pixel size (µm) an uploaded CZI / LIF / ND2 file's header carries, for the
    channels :func:`read_upload` keeps; no pixel is decoded. Raises :class:`SegGalError`."""
    with _opened_upload(data, file_name) as bio:
        return _layout(bio, file_name).metadata


def _yx(shape: Sequence[int], axes: str) -> tuple[int, int]:
    return int(shape[axes.index("Y")]), int(shape[axes.index("X")])


def _replace_atomically(tmp: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(tmp, target)


def write_labels_ome_zarr(target: str | os.PathLike, labels, like: LazyImage | None = None,
                          attrs: dict | None = None) -> Path:
    """Write ``labels`` ((H, W) integer zarr / numpy array) as an OME-Zarr label pyramid at ``target``.

    The pyramid repeats ``like``'s levels (their scales relative to level 0; every level is the label
    image subsampled by nearest neighbour), its physical pixel size (µm) and ``attrs`` (stored under
    ``seggal``); without ``like`` it has one level of unit scale. Levels are written block by block from
    ``labels`` (dask), never whole in memory.
    """
    import dask.array as da
    import zarr
    from ome_zarr.writer import write_multiscale

    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    base = da.from_zarr(labels) if not isinstance(labels, (np.ndarray, da.Array)) else da.asarray(labels)
    base = base.rechunk((1024, 1024))
    scales = like.scales if like is not None else ((1.0, 1.0),)
    pixel = (like.pixel_size_um if like is not None else None) or 1.0
    unit = "micrometer" if like is not None and like.pixel_size_um else None
    pyramid, transforms = [], []
    for sy, sx in scales:
        fy, fx = max(1, round(sy / scales[0][0])), max(1, round(sx / scales[0][1]))
        pyramid.append(base[::fy, ::fx])
        transforms.append([{"type": "scale", "scale": [pixel * fy, pixel * fx]}])
    group = zarr.open_group(str(tmp), mode="w")
    axes = [{"name": "y", "type": "space", **({"unit": unit} if unit else {})},
            {"name": "x", "type": "space", **({"unit": unit} if unit else {})}]
    write_multiscale(pyramid, group, axes=axes, coordinate_transformations=transforms, name="labels")
    group.attrs["seggal"] = {**(attrs or {}), "source_channels": list(like.channel_names) if like else []}
    _replace_atomically(tmp, target)
    return target


def write_labels_tiff(target: str | os.PathLike, labels, pixel_size_um: float | None = None, tile: int = 256) -> Path:
    """Write ``labels`` ((H, W) integer zarr / numpy array) as a tiled, zlib-compressed BigTIFF, tile by
    tile (uint16 when every id fits, else int32); ``pixel_size_um`` goes into the resolution tags."""
    import tifffile

    target = Path(target)
    height, width = labels.shape
    peak = max((int(np.asarray(labels[y : y + 4096]).max(initial=0)) for y in range(0, height, 4096)), default=0)
    dtype = np.uint16 if peak <= np.iinfo(np.uint16).max else np.int32

    def tiles():
        for y in range(0, height, tile):
            band = np.asarray(labels[y : y + tile]).astype(dtype)
            for x in range(0, width, tile):
                out = np.zeros((tile, tile), dtype)
                part = band[:, x : x + tile]
                out[: part.shape[0], : part.shape[1]] = part
                yield out

    extra = {"resolution": (1e4 / pixel_size_um, 1e4 / pixel_size_um), "resolutionunit": "CENTIMETER"} if pixel_size_um else {}
    with atomic_file(target) as handle:
        tifffile.imwrite(handle, tiles(), shape=(height, width), dtype=dtype, tile=(tile, tile), bigtiff=True,
                         compression="zlib", **extra)
    return target
