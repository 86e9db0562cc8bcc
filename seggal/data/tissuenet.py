"""TissueNet ``.npz`` files, read lazily one image at a time.

Two layouts, told apart by their keys (both have ``X``, ``y`` and ``tissue_list``):

* TissueNet v1.1 as deepcell distributes it (``tissuenet_v1.1_{train,val,test}.npz``): ``X``
  (N, H, W, 2) channel 0 nuclear, 1 membrane / cytoplasm; ``y`` (N, H, W, 2) channel 0 whole-cell
  labels, 1 nuclear labels; ``tissue_list`` and ``platform_list`` (N,).
* The paper's preprocessed 256 x 256 files: ``X``, ``y`` (same channel order: X 0 nuclear, 1 whole
  cell; y 0 whole cell, 1 nuclear), ``filenames`` and ``tissue_list``.

:func:`open_tissuenet` memory-maps ``X`` and ``y`` (:func:`seggal.data.npz.open_arrays`: an uncompressed member
in place, a compressed one unpacked once into ``$SEGGAL_CACHE``, sizes checked first); nothing is unpickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seggal.data.npz import Member, check_pair, open_arrays, strings
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image, as_labels

#: What each channel of X and y holds (identical in both layouts).
CHANNELS = {"X": ("nuclear", "membrane / cytoplasm (whole cell)"), "y": ("whole-cell labels", "nuclear labels")}


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


def _check_layout(path: Path, X: Member, y: Member) -> None:
    """Shapes and dtypes of X and y as both layouts have them (module docstring)."""
    if len(X.shape) != 4 or X.shape[-1] != 2:
        raise SegGalError(f"{path}: X has shape {X.shape}; expected (N, H, W, 2) [nuclear, membrane]")
    if len(y.shape) != 4 or y.shape[-1] != 2:
        raise SegGalError(f"{path}: y has shape {y.shape}; expected (N, H, W, 2) [whole-cell, nuclear labels]")
    check_pair(path, X, y)


def open_tissuenet(path: str | os.PathLike) -> TissueNet:
    """Open a TissueNet ``.npz`` (either layout) without reading its images; validates keys, shapes, dtypes."""
    path = Path(path)
    keys, arrays = open_arrays(path, ("X", "y", "tissue_list"), ("X", "y"),
                               lambda p, h: _check_layout(p, h["X"], h["y"]),
                               "a TissueNet .npz has X, y, tissue_list and platform_list or filenames")
    X, y = arrays["X"], arrays["y"]
    n = int(X.shape[0])
    tissues = strings(path, "tissue_list", n)
    platforms = strings(path, "platform_list", n) if "platform_list" in keys else None
    filenames = strings(path, "filenames", n) if "filenames" in keys else None
    layout = "paper" if filenames is not None else "deepcell"
    return TissueNet(path, layout, X, y, tissues, platforms, filenames)
