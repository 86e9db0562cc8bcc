"""The Segment page's one-click examples: an image with its ground truth that ships with the project.

* ``synthetic-tissue`` — a TissueNet-like two-channel field made by :mod:`seggal.data.synthetic`
  (marked *synthetic*: not a real tissue), with its whole-cell ground truth.
* ``dsb2018-nuclei`` — a real fluorescence image of nuclei and its annotation from the 2018 Data Science
  Bowl (BBBC038v1, CC0 1.0), as the ``stardist`` package ships it (``stardist/data/images``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seggal.errors import SegGalError


@dataclass(frozen=True)
class Example:
    """An example image: ``pixels`` (H, W, C) float32, its channel mapping, ground truth (H, W) int32,
    the task it illustrates and where it comes from."""

    key: str
    title: str
    pixels: np.ndarray
    nuclear: int | None
    membrane: int | None
    ground_truth: np.ndarray
    task: str
    source: str
    synthetic: bool

    @property
    def file_name(self) -> str:
        return f"example-{self.key}.tif"


EXAMPLES = {
    "synthetic-tissue": "Synthetic tissue (TissueNet-like, 2 channels, whole cells) — synthetic",
    "dsb2018-nuclei": "Real nuclei (2018 Data Science Bowl, 1 channel) — shipped with stardist",
}


def _synthetic_tissue() -> Example:
    from seggal.data.synthetic import synthetic_tissue

    pixels, _, whole_cell = synthetic_tissue((256, 256), tissue="Breast", seed=0)
    return Example("synthetic-tissue", EXAMPLES["synthetic-tissue"], pixels, 0, 1, whole_cell,
                   "tissuenet-wholecell-dual",
                   "synthetic: made by seggal.data.synthetic.synthetic_tissue(tissue='Breast', seed=0); "
                   "not a real image", True)


def stardist_images() -> Path:
    """The folder of example images inside the installed ``stardist`` package (not imported: no TensorFlow)."""
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        raise SegGalError("example 'dsb2018-nuclei' needs the stardist package, which is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


def _dsb2018_nuclei() -> Example:
    from seggal.io import read_image, read_labels

    folder = stardist_images()
    pixels = read_image(folder / "img2d.tif")
    labels = read_labels(folder / "mask2d.tif")
    return Example("dsb2018-nuclei", EXAMPLES["dsb2018-nuclei"], pixels, 0, None, labels, "tissuenet-nuclei-nuclear",
                   "real: 2018 Data Science Bowl image and annotation (BBBC038v1, Caicedo et al., Nature Methods "
                   "2019; licence CC0 1.0), as shipped in the stardist package (BSD-3-Clause)", False)


def load_example(key: str = "synthetic-tissue") -> Example:
    """The example called ``key`` (one of :data:`EXAMPLES`)."""
    loaders = {"synthetic-tissue": _synthetic_tissue, "dsb2018-nuclei": _dsb2018_nuclei}
    if key not in loaders:
        raise SegGalError(f"unknown example {key!r}; choose one of {', '.join(EXAMPLES)}")
    return loaders[key]()
