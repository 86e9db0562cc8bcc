"""The paper's preprocessing (Methods, "Image preprocessing") and the record that carries it with the weights.

The paper:

1. crops each image to 256 x 256 sliding windows at 192-pixel steps (75 % of the window), left to right
   and top to bottom, until the whole image is covered (:func:`sliding_windows`; SegGal's tiled
   inference, :func:`seggal.tiling.segment_tiled`, runs a model window by window over these);
2. per channel, normalises with the 0.1 / 99.9 percentiles from ``numpy.percentile``:
   ``(V - p0.1) / (p99.9 - p0.1)``, clipped to [0, 1] (:func:`percentile_normalize`);
3. applies Contrast Limited Adaptive Histogram Equalisation, ``skimage.exposure.equalize_adapthist``
   (:func:`clahe`).

:class:`Preprocessing` records which of these a model was trained with — percentiles, CLAHE on / off,
window and step — and travels with its weights (``config.json`` ``"preprocessing"``,
:mod:`seggal.checkpoint`). Every segmenter carries one (:attr:`seggal.backends.base.Segmenter.preprocessing`):
:func:`seggal.backends.base.network_input` normalises each window with it (steps 2-3, per window as the
paper normalised each crop) in training and inference, and :func:`seggal.tiling.segment_image` cuts the
windows with its ``window`` / ``step`` (step 1). A checkpoint without a record gets :data:`DEFAULT`
(0.1 / 99.9, no CLAHE, 256 / 192: what SegGal did before the record existed); :data:`PAPER` adds CLAHE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from seggal.errors import SegGalError

WINDOW = 256
STEP = 192


@dataclass(frozen=True)
class Preprocessing:
    """How a model's input is prepared: percentile normalisation ``low`` / ``high`` (per channel, into
    [0, 1]), then CLAHE when ``clahe``; images larger than ``window`` are segmented in ``window``-pixel
    windows every ``step`` pixels. Invalid values raise :class:`SegGalError`."""

    low: float = 0.1
    high: float = 99.9
    clahe: bool = False
    window: int = WINDOW
    step: int = STEP

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise SegGalError(f"preprocessing: {name} must be a number, got {value!r}")
        if not 0 <= self.low < self.high <= 100:
            raise SegGalError(f"preprocessing: need 0 <= low < high <= 100, got low={self.low}, high={self.high}")
        if not isinstance(self.clahe, bool):
            raise SegGalError(f"preprocessing: clahe must be true or false, got {self.clahe!r}")
        for name in ("window", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SegGalError(f"preprocessing: {name} must be a positive integer, got {value!r}")
        if self.step > self.window:
            raise SegGalError(f"preprocessing: step {self.step} is larger than the window {self.window}")

    def to_dict(self) -> dict:
        """The ``config.json`` form: ``{"normalisation": "percentile", "per_channel": true, "low", "high",
        "clahe", "window", "step"}``."""
        return {"normalisation": "percentile", "per_channel": True, **asdict(self)}

    @classmethod
    def from_dict(cls, record: Mapping | None, where: str = "preprocessing") -> "Preprocessing":
        """The record of a ``config.json`` (``None`` → :data:`DEFAULT`); fields it lacks take the
        defaults. Unknown fields, another normalisation or wrong types raise :class:`SegGalError`."""
        if record is None:
            return DEFAULT
        if not isinstance(record, Mapping):
            raise SegGalError(f"{where}: expected an object, got {type(record).__name__}")
        fields = dict(record)
        if fields.pop("normalisation", "percentile") != "percentile" or fields.pop("per_channel", True) is not True:
            raise SegGalError(f"{where}: only per-channel percentile normalisation is supported, got {dict(record)}")
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        if unknown:
            raise SegGalError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**fields)
        except SegGalError as exc:
            raise SegGalError(f"{where}: {exc}") from None

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Normalise ``pixels`` ((H, W) or (H, W, C), any real dtype) → float32 in [0, 1], same shape."""
        out = percentile_normalize(pixels, self.low, self.high)
        return clahe(out) if self.clahe else out


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


def window_starts(length: int, size: int, step: int) -> list[int]:
    """Window starts along one axis: 0, step, 2 step, … and a last one flush with the edge."""
    if length <= size:
        return [0]
    return list(range(0, length - size, step)) + [length - size]


def sliding_windows(height: int, width: int, size: int = WINDOW, step: int = STEP) -> list[tuple[int, int]]:
    """Top-left corners (y0, x0) of the windows that cover an image, row by row, left to right.

    Windows start every ``step`` pixels; the last one on each axis is flush with the image edge, so
    every pixel is covered and no window leaves the image. An axis shorter than ``size`` gets a single
    window at 0 (the image is segmented whole along it).
    """
    if size < 1 or step < 1 or step > size:
        raise SegGalError(f"sliding windows: need 1 <= step <= size, got size={size}, step={step}")
    if height < 1 or width < 1:
        raise SegGalError(f"sliding windows: empty image of shape ({height}, {width})")
    return [(y, x) for y in window_starts(height, size, step) for x in window_starts(width, size, step)]


#: What a checkpoint without a preprocessing record was trained with (SegGal's normalisation before the record).
DEFAULT = Preprocessing()
#: The paper's preprocessing: 0.1 / 99.9 percentiles, then CLAHE; 256-pixel windows every 192 pixels.
PAPER = Preprocessing(clahe=True)
