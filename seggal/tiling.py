"""Tiled inference: run any :class:`~seggal.backends.base.Segmenter` over the paper's sliding windows
and stitch the instances into one label image.

The merge gives every window a *core*: along each axis the image is split at the midpoints of the
overlaps between consecutive windows, so the cores tile the image exactly. A window keeps only the
instances whose bounding-box centre lies in its core; every other instance is left to the window that
owns it. With 256-pixel windows at 192-pixel steps the overlap is at least 64 pixels, so a cell no more
than 64 pixels tall and wide

* is whole inside the window that owns its centre (the core ends >= 32 px inside the window), and
* is never kept as a fragment by another window (a fragment cut by a window edge has its centre
  within 32 px of that edge, outside the core),

so the stitched image has each such cell exactly once and uncut — an oracle segmenter reproduces the
ground truth. Larger cells may be cut at a window edge (each piece kept by at most one window); use a
bigger ``window`` for them. Predictions from different windows that still collide (imperfect models)
are resolved deterministically: windows are written in raster order, a later instance only takes free
pixels and is dropped when fewer than half of its pixels are free.

Memory: only the output canvas ((H, W) int32) and one window's prediction live at a time.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from seggal.backends.base import Prediction, Segmenter
from seggal.errors import SegGalError
from seggal.image import Image, as_labels
from seggal.preprocess import STEP, WINDOW, window_starts


def _cores(length: int, size: int, step: int) -> list[tuple[int, float, float]]:
    """(start, core_lo, core_hi) per window along one axis; cores split overlaps at their midpoints."""
    starts = window_starts(length, size, step)
    bounds = [0.0] + [(a + prev + size) / 2 for prev, a in zip(starts, starts[1:])] + [float(length)]
    return [(a, bounds[i], bounds[i + 1]) for i, a in enumerate(starts)]


def _owned(labels: np.ndarray, y0: int, x0: int, ycore: tuple[float, float], xcore: tuple[float, float]) -> np.ndarray:
    """Boolean per label value (index 0 = background, False): bounding-box centre inside the core."""
    from scipy.ndimage import find_objects

    keep = np.zeros(int(labels.max()) + 1, bool)
    for value, box in enumerate(find_objects(labels), start=1):
        if box is None:
            continue
        cy = y0 + (box[0].start + box[0].stop - 1) / 2
        cx = x0 + (box[1].start + box[1].stop - 1) / 2
        keep[value] = ycore[0] <= cy < ycore[1] and xcore[0] <= cx < xcore[1]
    return keep


def segment_tiled(
    segmenter: Segmenter,
    image: Image,
    window: int = WINDOW,
    step: int = STEP,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 8,
) -> Prediction:
    """Segment ``image`` window by window and stitch the instances (see the module docstring).

    Windows are cut from the image, never padded: an image smaller than ``window`` is segmented whole
    in one call. They go to :meth:`Segmenter.predict_batch` ``batch_size`` at a time, so memory stays
    bounded by one batch of windows plus the output canvas.

    The segmenter normalises each window itself (its preprocessing record), as the paper normalised each
    crop. ``progress(done, total)`` is called after
    each window. Returns a :class:`Prediction` of the image's (H, W): labels int32 numbered 1..n in
    placement order, scores (n,) float32 taken from the window that kept each instance.
    """
    if step > window:
        raise SegGalError(f"tiled inference: step {step} is larger than the window {window}; pixels would be skipped")
    if batch_size < 1:
        raise SegGalError(f"tiled inference: batch size must be at least 1, got {batch_size}")
    height, width = image.shape
    ys, xs = _cores(height, window, step), _cores(width, window, step)
    windows = [(y, x) for y in ys for x in xs]
    canvas = np.zeros((height, width), np.int32)
    scores: list[np.ndarray] = []
    placed = 0
    for start in range(0, len(windows), batch_size):
        batch = windows[start : start + batch_size]
        tiles = [Image(np.ascontiguousarray(image.pixels[y0 : y0 + window, x0 : x0 + window]), image.channels,
                       f"{image.name}[{y0}:{y0 + window}, {x0}:{x0 + window}]") for (y0, *_), (x0, *_) in batch]
        preds = segmenter.predict_batch(tiles)
        if len(preds) != len(tiles):
            raise SegGalError(f"{type(segmenter).__name__} returned {len(preds)} predictions for {len(tiles)} windows")
        for done, (((y0, *ycore), (x0, *xcore)), tile, pred) in enumerate(zip(batch, tiles, preds), start=start + 1):
            labels = as_labels(pred.labels, f"{tile.name}: prediction of {type(segmenter).__name__}")
            if labels.shape != tile.shape:
                raise SegGalError(f"{tile.name}: segmenter returned labels of shape {labels.shape}, expected {tile.shape}")
            n = int(labels.max())
            tile_scores = np.asarray(pred.scores, np.float32).ravel()
            if tile_scores.size < n:
                raise SegGalError(f"{tile.name}: segmenter returned {tile_scores.size} scores for labels up to {n}")
            keep = _owned(labels, y0, x0, tuple(ycore), tuple(xcore))
            region = canvas[y0 : y0 + labels.shape[0], x0 : x0 + labels.shape[1]]  # a view: writes land in canvas
            free = (region == 0) & keep[labels]
            total_px = np.bincount(labels.ravel(), minlength=n + 1)
            free_px = np.bincount(labels[free], minlength=n + 1)
            keep &= 2 * free_px >= total_px
            kept = np.flatnonzero(keep)
            lut = np.zeros(n + 1, np.int32)
            lut[kept] = np.arange(placed + 1, placed + len(kept) + 1, dtype=np.int32)
            write = free & keep[labels]
            region[write] = lut[labels[write]]
            scores.append(tile_scores[kept - 1])
            placed += len(kept)
            if progress is not None:
                progress(done, len(windows))
    return Prediction(canvas, np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32))


def segment_image(segmenter: Segmenter, image: Image, progress: Callable[[int, int], None] | None = None,
                  window: int | None = None) -> Prediction:
    """Segment ``image``: directly when it fits in one window, else with :func:`segment_tiled`.

    The window and step are the segmenter's :attr:`~seggal.backends.base.Segmenter.preprocessing` (the
    paper's 256 / 192 unless its checkpoint records others); a ``window`` given here overrides the window
    and steps by 3/4 of it (the paper's overlap). ``progress(done, total)`` is called per window (once for
    a single window).
    """
    record = segmenter.preprocessing
    step = record.step if window is None else max(1, window * STEP // WINDOW)
    window = record.window if window is None else window
    if max(image.shape) <= window:
        prediction = segmenter.predict(image)
        if progress is not None:
            progress(1, 1)
        return prediction
    return segment_tiled(segmenter, image, window=window, step=step, progress=progress)
