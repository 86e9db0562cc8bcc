"""LIVECell in the paper's preprocessed layout: 256 x 256 windows in one ``.npz`` per split.

The paper's LIVECell folder (``results/published/datasets.csv``) holds ``LIVECell_{train,val,test}_all.npz``, as
the authors' benchmark scripts load them (github.com/BoomStarcuc/Cell-Segmentation-Benchmark, e.g.
``Mesmer/mesmer_livecell.py``, ``Cellpose_BM/data transformation/transform_livecell.py``):

* ``X`` (N, 256, 256, 1) phase contrast — the scripts ``squeeze`` it, so (N, H, W) is read too;
* ``y`` (N, 256, 256, 1) or (N, H, W) instance labels (the scripts cast them to int32);
* ``tissue_list`` (N,) the cell line, spelled without hyphens (``BT474``, ``SHSY5Y``, ``SKOV3``);
* ``filenames`` (N,) when present.

SegGal's own cut of the original LIVECell (:mod:`seggal.data.windows`) writes the same layout. ``X`` and ``y``
are memory-mapped (:func:`seggal.data.npz.open_arrays`); one window is read per call. Cell lines are reported as
the paper's text spells them (``BT-474``; :func:`seggal.data.livecell.cell_type`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seggal.data.livecell import cell_type
from seggal.data.npz import Member, check_pair, open_arrays, strings
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image, as_labels

#: The paper's file name of a split's windows (``split`` is train / val / test).
FILE_PATTERN = "LIVECell_{split}_all*.npz"


@dataclass(frozen=True)
class LiveCellWindows:
    """An opened LIVECell ``.npz`` in the paper's layout: ``X`` / ``y`` memory-mapped as in the file,
    ``cell_types`` (N,) spelled as the paper's text does, ``filenames`` (N,) when the file has them."""

    path: Path
    X: np.ndarray
    y: np.ndarray
    cell_types: tuple[str, ...]
    filenames: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def _index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise SegGalError(f"{self.path}: window {i} does not exist; the file holds {len(self)} windows")
        return i % len(self)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of every window."""
        return int(self.X.shape[1]), int(self.X.shape[2])

    def name(self, i: int) -> str:
        """Window ``i``'s file name when the file has them, else ``file[i]``."""
        i = self._index(i)
        return self.filenames[i] if self.filenames else f"{self.path.name}[{i}]"

    def image(self, i: int) -> Image:
        """Window ``i``: (H, W, 1) float32 phase contrast, channel spec whole-cell only."""
        i = self._index(i)
        pixels = np.array(self.X[i], dtype=np.float32).reshape(*self.shape, 1)
        if not np.isfinite(pixels).all():
            raise SegGalError(f"{self.path}: X[{i}] contains NaN or infinite pixels")
        return Image(pixels, ChannelSpec(nuclear=None, membrane=0), self.name(i))

    def labels(self, i: int) -> np.ndarray:
        """Ground truth of window ``i``: (H, W) int32."""
        i = self._index(i)
        return as_labels(np.asarray(self.y[i]).reshape(self.shape), f"{self.path}: y[{i}]")

    def info(self) -> dict:
        """Summary for ``seggal data info``."""
        types, counts = np.unique(np.array(self.cell_types or [""]), return_counts=True)
        return {
            "path": str(self.path),
            "dataset": "LIVECell",
            "layout": "paper's preprocessed",
            "n_images": len(self),
            "tissues": {str(t): int(c) for t, c in zip(types, counts)} if len(self) else {},
            "image_shape": list(self.shape),
            "X": {"shape": list(self.X.shape), "dtype": str(self.X.dtype), "channels": ["phase contrast (whole cell)"]},
            "y": {"shape": list(self.y.shape), "dtype": str(self.y.dtype), "channels": ["whole-cell labels"]},
        }


def _check(path: Path, headers: dict[str, Member]) -> None:
    X, y = headers["X"], headers["y"]
    for key, member in (("X", X), ("y", y)):
        if not (len(member.shape) == 3 or (len(member.shape) == 4 and member.shape[-1] == 1)):
            raise SegGalError(f"{path}: {key} has shape {member.shape}; expected (N, H, W, 1) or (N, H, W)")
    check_pair(path, X, y, "windows")


def open_livecell_npz(path: str | os.PathLike) -> LiveCellWindows:
    """Open a LIVECell ``.npz`` in the paper's layout without reading its windows; validates keys, shapes, dtypes."""
    path = Path(path)
    keys, arrays = open_arrays(path, ("X", "y", "tissue_list"), ("X", "y"), _check,
                               "the paper's LIVECell .npz has X, y, tissue_list (and filenames)")
    n = int(arrays["X"].shape[0])
    cell_types = tuple(cell_type(t) for t in strings(path, "tissue_list", n))
    filenames = strings(path, "filenames", n) if "filenames" in keys else None
    return LiveCellWindows(path, arrays["X"], arrays["y"], cell_types, filenames)


__all__ = ["FILE_PATTERN", "LiveCellWindows", "open_livecell_npz"]
