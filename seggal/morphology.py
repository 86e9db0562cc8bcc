"""Cell morphology as the paper's Methods define it: size, convexity and elongation per instance.

For each instance of an (H, W) label image:

* ``size`` — its pixel count (``skimage.measure.regionprops`` ``area``);
* boundary — the instance's sub-pixel outline, ``skimage.measure.find_contours`` of its mask at level
  0.5 (the mask zero-padded so outlines close; a cell with holes or several pieces has several closed
  contours, all of which are its boundary);
* ``convexity`` = r_convex / r_cell: the perimeter of the convex hull of the boundary points
  (``scipy.spatial.ConvexHull``, whose ``area`` is the perimeter in 2-D) over the boundary's length
  (sum of the contours' segment lengths, computed here with numpy). In (0, 1] for a one-piece cell;
  1 for a rectangle, about 0.95 for a digitised disk (its outline keeps the pixel steps);
* ``elongation`` = e_b / e_a: the smaller over the larger eigenvalue of the covariance of the boundary
  points (``np.cov``, ``np.linalg.eigvalsh``; each closed contour's repeated end point dropped). In
  (0, 1]; 1 for a round cell, near 0 for a long thin one (the paper's "larger elongation = rounder").

Only the perimeter sum and the eigenvalue ratio are written here; outlines, hulls, centroids and sizes
come from scikit-image and scipy. :func:`summarize` and :func:`tissue_summary` give the per-image and
per-tissue means that ``morphology.csv`` and the Figure 3b regression use.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import as_labels

CELL_COLUMNS = ("label", "size", "convexity", "elongation", "centroid_y", "centroid_x")
SUMMARY_COLUMNS = ("n_cells", "size", "elongation", "convexity")


def _shape_measures(mask: np.ndarray) -> tuple[float, float]:
    """(convexity, elongation) of one instance's (h, w) bool mask."""
    from scipy.spatial import ConvexHull
    from skimage.measure import find_contours

    contours = find_contours(np.pad(mask, 1).astype(np.uint8), 0.5)
    perimeter = sum(float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum()) for c in contours)
    points = np.concatenate([c[:-1] for c in contours])  # closed contours repeat their first point
    hull_perimeter = ConvexHull(points).area
    e_small, e_large = np.linalg.eigvalsh(np.cov(points, rowvar=False))
    return hull_perimeter / perimeter, e_small / e_large


def cell_table(labels: np.ndarray, name: str = "labels", pixel_size_um: float | None = None):
    """One row per instance → DataFrame with columns label, size, convexity, elongation, centroid_y,
    centroid_x (int label and size, float the rest; empty table when there are no instances).

    With ``pixel_size_um`` (the side of a pixel in µm, e.g. :attr:`seggal.formats.LazyImage.pixel_size_um`
    from the file's metadata) a column ``area_um2`` = size x pixel_size_um² is added."""
    import pandas as pd
    from skimage.measure import regionprops

    labels = as_labels(labels, name)
    rows = []
    for region in regionprops(labels):
        convexity, elongation = _shape_measures(region.image)
        cy, cx = region.centroid
        rows.append((region.label, int(region.area), convexity, elongation, cy, cx))
    table = pd.DataFrame(rows, columns=list(CELL_COLUMNS))
    table = table.astype({"label": np.int64, "size": np.int64, "convexity": float, "elongation": float,
                          "centroid_y": float, "centroid_x": float})
    if pixel_size_um is not None:
        if not pixel_size_um > 0:
            raise SegGalError(f"{name}: pixel size must be positive, got {pixel_size_um}")
        table["area_um2"] = table["size"] * float(pixel_size_um) ** 2
    return table


def summarize(table) -> dict:
    """Means over the cells of a :func:`cell_table` → {n_cells, size, elongation, convexity} (NaN if none)."""
    n = len(table)
    out = {"n_cells": n}
    for column in SUMMARY_COLUMNS[1:]:
        out[column] = float(table[column].mean()) if n else float("nan")
    return out


def image_summaries(label_images: Sequence[np.ndarray], names: Sequence[str] | None = None):
    """Per-image means → DataFrame with columns image, n_cells, size, elongation, convexity."""
    import pandas as pd

    names = list(names) if names is not None else [f"image {i}" for i in range(len(label_images))]
    if len(names) != len(label_images):
        raise SegGalError(f"{len(names)} name(s) for {len(label_images)} label image(s)")
    rows = [{"image": n} | summarize(cell_table(lab, n)) for n, lab in zip(names, label_images)]
    return pd.DataFrame(rows, columns=["image", *SUMMARY_COLUMNS])


def tissue_summary(label_images: Sequence[np.ndarray], tissues: Sequence[str]):
    """Per-tissue means over all cells of that tissue's images (cells pooled, so an image weighs by its
    cell count) → DataFrame with columns tissue, n_images, n_cells, size, elongation, convexity."""
    import pandas as pd

    if len(tissues) != len(label_images):
        raise SegGalError(f"{len(tissues)} tissue name(s) for {len(label_images)} label image(s)")
    tables: dict[str, list] = {}
    for i, (labels, tissue) in enumerate(zip(label_images, tissues)):
        tables.setdefault(tissue, []).append(cell_table(labels, f"image {i} ({tissue})"))
    rows = [
        {"tissue": tissue, "n_images": len(parts)} | summarize(pd.concat(parts, ignore_index=True))
        for tissue, parts in tables.items()
    ]
    return pd.DataFrame(rows, columns=["tissue", "n_images", *SUMMARY_COLUMNS])
