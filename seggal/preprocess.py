"""The paper's preprocessing (Methods, "Image preprocessing"), exactly:

1. crop each image (and its labels) to 256 x 256 sliding windows at 192-pixel steps (75 % of the
   window), left to right and top to bottom, until the whole image is covered
   (:func:`sliding_windows`, :func:`crop`);
2. per channel, normalise with the 0.1 / 99.9 percentiles from ``numpy.percentile``:
   ``(V - p0.1) / (p99.9 - p0.1)``, clipped to [0, 1] (:func:`percentile_normalize`);
3. Contrast Limited Adaptive Histogram Equalisation, ``skimage.exposure.equalize_adapthist``
   (:func:`clahe`).

:func:`preprocess` applies steps 2 and 3 to an :class:`~seggal.image.Image`.
"""

from __future__ import annotations

import numpy as np

from seggal.errors import SegGalError
from seggal.image import Image

WINDOW = 256
STEP = 192


def _per_channel(pixels: np.ndarray, what: str) -> np.ndarray:
    """View ``pixels`` (H, W) or (H, W, C) as (H, W, C) float32, refusing anything else."""
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SegGalError(f"{what}: expected an (H, W) or (H, W, C) image, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise SegGalError(f"{what}: unsupported pixel type {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def percentile_normalize(pixels: np.ndarray, low: float = 0.1, high: float = 99.9) -> np.ndarray:
    """Per-channel ``(V - p_low) / (p_high - p_low)`` clipped to [0, 1], percentiles from numpy.percentile.

    ``pixels``: (H, W) or (H, W, C), any real dtype → float32 of the same shape. A channel whose two
    percentiles coincide (a flat channel) becomes all zeros.
    """
    if not 0 <= low < high <= 100:
        raise SegGalError(f"percentile normalisation: need 0 <= low < high <= 100, got low={low}, high={high}")
    arr = _per_channel(pixels, "percentile normalisation")
    out = np.empty(arr.shape, np.float32)
    for c in range(arr.shape[2]):
        lo, hi = np.percentile(arr[:, :, c], [low, high])
        out[:, :, c] = (arr[:, :, c] - lo) / (hi - lo) if hi > lo else 0.0
    np.clip(out, 0.0, 1.0, out=out)
    return out.reshape(np.shape(pixels))


def clahe(pixels: np.ndarray) -> np.ndarray:
    """Per-channel CLAHE (``skimage.exposure.equalize_adapthist`` with its defaults).

    ``pixels``: (H, W) or (H, W, C) with values in [0, 1] (normalise first) → float32, same shape.
    """
    from skimage.exposure import equalize_adapthist

    arr = _per_channel(pixels, "CLAHE")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise SegGalError("CLAHE: pixel values must lie in [0, 1]; apply percentile_normalize first")
    out = np.empty(arr.shape, np.float32)
    for c in range(arr.shape[2]):
        channel = arr[:, :, c]
        # equalize_adapthist divides by the range; a flat channel stays flat instead.
        out[:, :, c] = equalize_adapthist(channel) if channel.max() > channel.min() else channel
    return out.reshape(np.shape(pixels))


def preprocess(image: Image) -> Image:
    """The paper's intensity preprocessing: percentile normalisation then CLAHE, every channel.

    Returns a new :class:`Image` with the same channels and name, pixels float32 in [0, 1].
    """
    return Image(clahe(percentile_normalize(image.pixels)), image.channels, image.name)


def window_starts(length: int, size: int, step: int) -> list[int]:
    """Window starts along one axis: 0, step, 2 step, … and a last one flush with the edge."""
    if length <= size:
        return [0]
    return list(range(0, length - size, step)) + [length - size]


def sliding_windows(height: int, width: int, size: int = WINDOW, step: int = STEP) -> list[tuple[int, int]]:
    """Top-left corners (y0, x0) of the windows that cover an image, row by row, left to right.

    Windows start every ``step`` pixels; the last one on each axis is flush with the image edge, so
    every pixel is covered and no window leaves the image. An axis shorter than ``size`` gets a single
    window at 0 that runs past the edge (:func:`crop` pads it).
    """
    if size < 1 or step < 1 or step > size:
        raise SegGalError(f"sliding windows: need 1 <= step <= size, got size={size}, step={step}")
    if height < 1 or width < 1:
        raise SegGalError(f"sliding windows: empty image of shape ({height}, {width})")
    return [(y, x) for y in window_starts(height, size, step) for x in window_starts(width, size, step)]


def crop(array: np.ndarray, y0: int, x0: int, size: int = WINDOW) -> np.ndarray:
    """The ``size`` x ``size`` window at (y0, x0) of an (H, W, …) array, zero-padded at the bottom /
    right where the image is smaller than the window. Returns a copy with the array's dtype."""
    window = np.asarray(array)[y0 : y0 + size, x0 : x0 + size]
    pad = [(0, size - window.shape[0]), (0, size - window.shape[1])] + [(0, 0)] * (window.ndim - 2)
    return np.pad(window, pad) if any(p[1] for p in pad[:2]) else window.copy()
