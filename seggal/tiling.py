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

The two halves are public so that :mod:`seggal.distributed` runs the same code on blocks of windows:
:func:`owned_windows` (predict, keep owned instances; parallel) and :func:`place` (write in raster
order; a cheap sequential pass), which is why the distributed result equals this one.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from seggal.backends.base import Prediction, Segmenter
from seggal.errors import SegGalError
from seggal.image import Image, as_labels
from seggal.preprocess import STEP, WINDOW, window_starts

#: One window of :func:`window_grid`: ((y0, core_y_lo, core_y_hi), (x0, core_x_lo, core_x_hi)).
Window = tuple[tuple[int, float, float], tuple[int, float, float]]


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


def window_grid(height: int, width: int, window: int = WINDOW, step: int = STEP) -> list[Window]:
    """The windows covering an (height, width) image in raster order, each with its core (see the module
    docstring): ``((y0, core_y_lo, core_y_hi), (x0, core_x_lo, core_x_hi))``."""
    if step > window:
        raise SegGalError(f"tiled inference: step {step} is larger than the window {window}; pixels would be skipped")
    ys, xs = _cores(height, window, step), _cores(width, window, step)
    return [(y, x) for y in ys for x in xs]


def owned_windows(
    segmenter: Segmenter,
    image: Image,
    windows: Sequence[Window],
    window: int = WINDOW,
    origin: tuple[int, int] = (0, 0),
    batch_size: int = 8,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Predict ``windows`` (from :func:`window_grid`, in image coordinates) and yield, in order,
    ``(y0, x0, labels, scores)`` per window: labels (h, w) int32 holding only the instances whose centre
    lies in the window's core, renumbered 1..k in the segmenter's order; scores (k,) float32.

    ``image`` may be a crop of the whole image whose top-left pixel sits at ``origin``; windows are cut
    from it, named ``"{image.name}[y0:y1, x0:x1]"`` in whole-image coordinates. They go to
    :meth:`Segmenter.predict_batch` ``batch_size`` at a time.
    """
    if batch_size < 1:
        raise SegGalError(f"tiled inference: batch size must be at least 1, got {batch_size}")
    oy, ox = origin
    for start in range(0, len(windows), batch_size):
        batch = windows[start : start + batch_size]
        tiles = [Image(np.ascontiguousarray(image.pixels[y0 - oy : y0 - oy + window, x0 - ox : x0 - ox + window]),
                       image.channels, f"{image.name}[{y0}:{y0 + window}, {x0}:{x0 + window}]")
                 for (y0, *_), (x0, *_) in batch]
        preds = segmenter.predict_batch(tiles)
        if len(preds) != len(tiles):
            raise SegGalError(f"{type(segmenter).__name__} returned {len(preds)} predictions for {len(tiles)} windows")
        for ((y0, *ycore), (x0, *xcore)), tile, pred in zip(batch, tiles, preds):
            labels = as_labels(pred.labels, f"{tile.name}: prediction of {type(segmenter).__name__}")
            if labels.shape != tile.shape:
                raise SegGalError(f"{tile.name}: segmenter returned labels of shape {labels.shape}, expected {tile.shape}")
            n = int(labels.max())
            tile_scores = np.asarray(pred.scores, np.float32).ravel()
            if tile_scores.size < n:
                raise SegGalError(f"{tile.name}: segmenter returned {tile_scores.size} scores for labels up to {n}")
            kept = np.flatnonzero(_owned(labels, y0, x0, tuple(ycore), tuple(xcore)))
            lut = np.zeros(n + 1, np.int32)
            lut[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
            yield y0, x0, lut[labels], tile_scores[kept - 1]


def place(region: np.ndarray, labels: np.ndarray, scores: np.ndarray, placed: int) -> np.ndarray:
    """Write one window's owned instances (``labels`` (h, w) int32 numbered 1..k, from
    :func:`owned_windows`) into ``region``, the (h, w) view of the canvas under the window, in place.

    An instance only takes free pixels and is dropped when fewer than half of its pixels are free; kept
    instances get ids ``placed + 1 …`` in order. Returns the scores of the kept instances.
    """
    k = len(scores)
    free = (region == 0) & (labels > 0)
    total_px = np.bincount(labels.ravel(), minlength=k + 1)
    free_px = np.bincount(labels[free], minlength=k + 1)
    keep = (total_px > 0) & (2 * free_px >= total_px)
    keep[0] = False
    kept = np.flatnonzero(keep)
    lut = np.zeros(k + 1, np.int32)
    lut[kept] = np.arange(placed + 1, placed + len(kept) + 1, dtype=np.int32)
    write = free & keep[labels]
    region[write] = lut[labels[write]]
    return scores[kept - 1]


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
    crop. ``progress(done, total)`` is called after each window. Returns a :class:`Prediction` of the image's (H, W): labels int32 numbered 1..n in
    placement order, scores (n,) float32 taken from the window that kept each instance.
    """
    windows = window_grid(*image.shape, window, step)
    canvas = np.zeros(image.shape, np.int32)
    scores: list[np.ndarray] = []
    placed = 0
    owned = owned_windows(segmenter, image, windows, window, batch_size=batch_size)
    for done, (y0, x0, labels, tile_scores) in enumerate(owned, start=1):
        region = canvas[y0 : y0 + labels.shape[0], x0 : x0 + labels.shape[1]]  # a view: writes land in canvas
        scores.append(place(region, labels, tile_scores, placed))
        placed += len(scores[-1])
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
