"""Dilation and erosion sweeps (the paper's Figure 5): grow nuclei into cells, shrink cells into nuclei.

Three operations, each for px = 0, 1, …, N pixels:

* ``expand(nuclei, px, method="binary")`` — the paper's per-instance ``scipy.ndimage.binary_dilation``
  (default cross structuring element, ``px`` iterations, so a city-block ball of radius ``px``, not a
  Euclidean disk). The dilated instances are written into one label image in ascending label order,
  so **where dilated nuclei overlap, the higher label wins** (it was written last); a dilated nucleus
  may therefore also cover pixels of a lower-labelled neighbour. :func:`paper_dilate` is that loop.
* ``expand(nuclei, px, method="expand")`` — Xenium-style growth that stops at neighbours
  (``skimage.segmentation.expand_labels``: each background pixel within Euclidean distance ``px``
  takes its nearest nucleus' label; original pixels never change).
* ``erode(cells, px)`` — the paper's per-instance ``scipy.ndimage.binary_erosion`` (cross, ``px``
  iterations, outside the image counts as background). Instances never overlap, so there is no rule
  to choose; cells that vanish are dropped. :func:`paper_erode` is that loop.

A sweep needs every step, and the per-step loops cost one dilation per instance per step. The
``*_steps`` generators derive all steps from one transform instead, exactly (tests compare them with
the loops pixel for pixel):

* binary dilation: "highest label whose city-block ball of radius k covers the pixel" is a maximum
  filter of the label image over that ball, and the ball of radius k is the cross applied k times.
  So step k = one 3×3-cross maximum filter of step k-1 (zero outside the image; an image is a
  rectangle, so city-block paths never leave it and clipping changes nothing).
* expand: one ``distance_transform_edt(labels == 0, return_indices=True)`` — exactly what
  ``expand_labels`` computes for every call — then step k keeps the pixels at distance <= k.
* erosion: a pixel survives k per-instance erosions iff every pixel within city-block distance k is in
  its instance. With E = the pixels that touch (4-neighbour) another label, background or the image
  edge, that depth is 1 + the city-block distance to E, so one ``distance_transform_cdt(taxicab)``
  gives every step.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import as_labels
from seggal.metrics import METRICS, accumulate, label_pairs, match_image, summarize

MODES = ("dilate", "erode")
DILATION_METHODS = ("binary", "expand")
SWEEP_COLUMNS = ("px", *METRICS)
#: Largest step a sweep accepts (the paper goes to 10; Xenium's 15 µm is ~30 px at 0.5 µm/px).
MAX_PX = 100


def _check_px(px: int, name: str = "px") -> int:
    if isinstance(px, bool) or not isinstance(px, (int, np.integer)) or not 0 <= px <= MAX_PX:
        raise SegGalError(f"{name} must be a whole number of pixels in 0..{MAX_PX}, got {px!r}")
    return int(px)


def _cross_maximum(labels: np.ndarray) -> np.ndarray:
    """``ndimage.maximum_filter(labels, footprint=3x3 cross, mode="constant", cval=0)`` for labels >= 0,
    written as four shifted ``np.maximum`` calls because that is ~5x faster than the generic filter."""
    out = labels.copy()
    np.maximum(out[1:], labels[:-1], out=out[1:])
    np.maximum(out[:-1], labels[1:], out=out[:-1])
    np.maximum(out[:, 1:], labels[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], labels[:, 1:], out=out[:, :-1])
    return out


def dilation_steps(nuclei: np.ndarray, max_px: int, method: str = "binary") -> Iterator[np.ndarray]:
    """Yield ``expand(nuclei, k, method)`` for k = 0..max_px: (H, W) int32 label images."""
    from scipy import ndimage

    labels = as_labels(nuclei, "nuclei")
    max_px = _check_px(max_px, "max_px")
    if method == "binary":
        step = labels.copy()
        yield step
        for _ in range(max_px):
            step = _cross_maximum(step)
            yield step
    elif method == "expand":
        if not labels.any():
            for _ in range(max_px + 1):
                yield labels.copy()
            return
        distance, indices = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        nearest = labels[tuple(indices)]
        for k in range(max_px + 1):
            yield np.where(distance <= k, nearest, 0)
    else:
        raise SegGalError(f"unknown dilation method {method!r}; expected one of {DILATION_METHODS}")


def erosion_steps(cells: np.ndarray, max_px: int) -> Iterator[np.ndarray]:
    """Yield ``erode(cells, k)`` for k = 0..max_px: (H, W) int32 label images."""
    from scipy import ndimage

    labels = as_labels(cells, "cells")
    max_px = _check_px(max_px, "max_px")
    padded = np.pad(labels, 1, constant_values=-1)  # outside the image differs from every label
    centre = padded[1:-1, 1:-1]
    edge = (
        (padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
        | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre)
    )
    depth = ndimage.distance_transform_cdt(~edge, metric="taxicab") + 1  # erosions a pixel survives
    for k in range(max_px + 1):
        yield np.where(depth > k, labels, 0).astype(np.int32)


def _last(steps: Iterator[np.ndarray]) -> np.ndarray:
    for step in steps:
        pass
    return step


def expand(nuclei: np.ndarray, px: int, method: str = "binary") -> np.ndarray:
    """Nuclei grown by ``px`` pixels → (H, W) int32 (see the module docstring for the two methods)."""
    return _last(dilation_steps(nuclei, px, method))


def erode(cells: np.ndarray, px: int) -> np.ndarray:
    """Cells shrunk by ``px`` per-instance binary erosions → (H, W) int32."""
    return _last(erosion_steps(cells, px))


# --------------------------------------------------------------------------------------------------
# the paper's per-instance loops: the reference for tests and bench/bench_sweeps.py


def _windows(labels: np.ndarray, margin: int):
    """(label, window slices) per instance: its bounding box grown by ``margin``, clipped to the image."""
    from scipy import ndimage

    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None:
            yield label, tuple(
                slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(box, labels.shape)
            )


def paper_dilate(nuclei: np.ndarray, px: int) -> np.ndarray:
    """The paper's loop: per instance ``binary_dilation`` (cross, ``px`` iterations), written in
    ascending label order. Each instance is dilated inside its bounding box grown by ``px``, which
    holds its whole dilation, so the result equals dilating over the full image (tested)."""
    from scipy import ndimage

    labels = as_labels(nuclei, "nuclei")
    px = _check_px(px)
    out = np.zeros_like(labels)
    for label, window in _windows(labels, px):
        mask = labels[window] == label
        grown = ndimage.binary_dilation(mask, iterations=px) if px else mask  # iterations=0 would mean "until stable"
        out[window][grown] = label
    return out


def paper_erode(cells: np.ndarray, px: int) -> np.ndarray:
    """The paper's loop: per instance ``binary_erosion`` (cross, ``px`` iterations, border 0), inside
    the instance's bounding box (pixels outside it are not in the instance, so nothing changes)."""
    from scipy import ndimage

    labels = as_labels(cells, "cells")
    px = _check_px(px)
    out = np.zeros_like(labels)
    for label, window in _windows(labels, 0):
        mask = labels[window] == label
        kept = ndimage.binary_erosion(mask, iterations=px) if px else mask
        out[window][kept] = label
    return out


# --------------------------------------------------------------------------------------------------
# scoring


def sweep(
    masks,
    gt,
    mode: str = "dilate",
    method: str = "binary",
    max_px: int = 10,
    names: Sequence[str] | None = None,
    scores=None,
):
    """Score every step 0..max_px of a dilation (nuclei → whole cells) or erosion (cells → nuclei).

    ``masks`` / ``gt``: one (H, W) label image each or equal-length sequences. ``scores``: the masks'
    per-cell confidences as :func:`seggal.metrics.evaluate` takes them; every step keeps them (a grown or
    shrunk cell keeps its label), so step 0 equals ``evaluate(gt, masks, scores)``. ``method`` applies to
    ``mode="dilate"`` (``binary`` or ``expand``); erosion is per-instance binary only. Returns a
    DataFrame with columns px, mAP, AP50, AP75, AR50, AR75, accuracy (one row per step).
    """
    import pandas as pd

    if mode not in MODES:
        raise SegGalError(f"unknown sweep mode {mode!r}; expected one of {MODES}")
    if method not in DILATION_METHODS:
        raise SegGalError(f"unknown dilation method {method!r}; expected one of {DILATION_METHODS}")
    if mode == "erode" and method != "binary":
        raise SegGalError("erosion is per-instance binary erosion only; use method='binary'")
    max_px = _check_px(max_px, "max_px")
    images = label_pairs(gt, masks, scores, names)
    n_steps = max_px + 1
    scores: list[list[np.ndarray]] = [[] for _ in range(n_steps)]
    matched: list[list[np.ndarray]] = [[] for _ in range(n_steps)]
    n_gt = 0
    for truth, mask, score in images:  # one image at a time: memory stays at one image's steps
        steps = dilation_steps(mask, max_px, method) if mode == "dilate" else erosion_steps(mask, max_px)
        for k, step in enumerate(steps):
            m = match_image(truth, step, score)
            scores[k].append(m.det_scores)
            matched[k].append(m.matched)
        n_gt += int(np.count_nonzero(np.bincount(truth.ravel())[1:]))
    if n_gt == 0:
        raise SegGalError("the ground truth holds no instances; COCO metrics are undefined")
    rows = [{"px": k} | summarize(*accumulate(scores[k], matched[k], n_gt)) for k in range(n_steps)]
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def best_step(df, metric: str = "accuracy") -> int:
    """The px of the best row of a :func:`sweep` table (the smallest px on ties)."""
    if metric not in SWEEP_COLUMNS[1:]:
        raise SegGalError(f"unknown metric {metric!r}; expected one of {SWEEP_COLUMNS[1:]}")
    if len(df) == 0:
        raise SegGalError("empty sweep table")
    ordered = df.sort_values("px", kind="mergesort")
    return int(ordered["px"].iloc[int(np.argmax(ordered[metric].to_numpy()))])
