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

A model imported from the paper (:mod:`seggal.zoo.formats`) must see its input as that method's own test
script fed it, which can add steps after the data set's. The record holds them as optional fields, applied
in this fixed order (each one only when set; a record without them is exactly the one above):

4. ``method_normalisation`` — a second per-channel percentile normalisation, ``(V - p_low) / (p_high -
   p_low)``, clipped to [0, 1] only when ``clip`` (:class:`Percentiles`; csbdeep's ``normalize``, Cellpose's
   ``normalize99``);
5. ``levels`` — values as the integer files the script read held them, ``floor(levels V) / levels`` (the
   8-bit PNGs and integer TIFFs of 255 V: 255; float TIFFs cast to integers: 1);
6. ``channel_order`` — the network's input channels, in order, each ``nuclear``, ``membrane`` or ``zeros``
   (Cellpose and SAM arrange their inputs by it; the other networks take (nuclear, membrane) only);
7. ``diameter`` — Cellpose: the cell diameter the script passed, so Cellpose rescales the image by
   ``diam_mean / diameter`` before its network.

Steps 2-5 run in :func:`seggal.backends.base.network_input`; 6-7 in the backends that honour them
(:attr:`seggal.backends.base.Segmenter.honours`); :func:`seggal.backends.build` refuses a record whose
steps the method's backend cannot apply. ``source`` says where the pipeline was read (a script's path).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from seggal.errors import SegGalError

WINDOW = 256
STEP = 192


#: Names a network input channel may have in :attr:`Preprocessing.channel_order`.
CHANNEL_NAMES = ("nuclear", "membrane", "zeros")
#: The input every network takes unless its backend honours ``channel_order`` (:func:`seggal.backends.base.network_input`).
NETWORK_ORDER = ("nuclear", "membrane")


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise SegGalError(f"preprocessing: {name} must be a number, got {value!r}")
    return float(value)


def _check_percentiles(low, high, what: str = "") -> None:
    """:class:`SegGalError` unless ``low`` and ``high`` are numbers with 0 <= low < high <= 100 (``what``: the
    field they belong to, for the message)."""
    prefix = f"{what} " if what else ""
    _number(low, f"{prefix}low")
    _number(high, f"{prefix}high")
    if not 0 <= low < high <= 100:
        raise SegGalError(f"preprocessing: {prefix}{'needs' if what else 'need'} 0 <= low < high <= 100, "
                          f"got low={low}, high={high}")


@dataclass(frozen=True)
class Percentiles:
    """A per-channel percentile normalisation ``(V - p_low) / (p_high - p_low)``, clipped to [0, 1] when ``clip``."""

    low: float
    high: float
    clip: bool = False

    def __post_init__(self) -> None:
        _check_percentiles(self.low, self.high, "method_normalisation")
        if not isinstance(self.clip, bool):
            raise SegGalError(f"preprocessing: method_normalisation clip must be true or false, got {self.clip!r}")


@dataclass(frozen=True)
class Preprocessing:
    """How a model's input is prepared: percentile normalisation ``low`` / ``high`` (per channel, into
    [0, 1]), then CLAHE when ``clahe``; images larger than ``window`` are segmented in ``window``-pixel
    windows every ``step`` pixels. An imported model's test-script steps follow (module docstring):
    ``method_normalisation``, ``levels``, ``channel_order``, ``diameter``; ``source`` names the script.
    Invalid values raise :class:`SegGalError`."""

    low: float = 0.1
    high: float = 99.9
    clahe: bool = False
    window: int = WINDOW
    step: int = STEP
    method_normalisation: Percentiles | None = None
    levels: int | None = None
    channel_order: tuple[str, ...] | None = None
    diameter: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        _check_percentiles(self.low, self.high)
        if not isinstance(self.clahe, bool):
            raise SegGalError(f"preprocessing: clahe must be true or false, got {self.clahe!r}")
        if self.levels is not None and (isinstance(self.levels, bool) or not isinstance(self.levels, int)
                                        or not 1 <= self.levels <= 65535):
            raise SegGalError(f"preprocessing: levels must be an integer from 1 to 65535, got {self.levels!r}")
        for name in ("window", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SegGalError(f"preprocessing: {name} must be a positive integer, got {value!r}")
        if self.step > self.window:
            raise SegGalError(f"preprocessing: step {self.step} is larger than the window {self.window}")
        if self.method_normalisation is not None and not isinstance(self.method_normalisation, Percentiles):
            raise SegGalError(f"preprocessing: method_normalisation must be a Percentiles record, "
                              f"got {self.method_normalisation!r}")
        order = self.channel_order
        if order is not None:
            if isinstance(order, (str, bytes)) or not isinstance(order, (tuple, list)) or not 1 <= len(order) <= 3 \
                    or any(name not in CHANNEL_NAMES for name in order) or set(order) == {"zeros"}:
                raise SegGalError(f"preprocessing: channel_order must list 1 to 3 of {', '.join(CHANNEL_NAMES)} "
                                  f"(not only zeros), got {order!r}")
            object.__setattr__(self, "channel_order", tuple(order))
        if self.diameter is not None and _number(self.diameter, "diameter") <= 0:
            raise SegGalError(f"preprocessing: diameter must be positive, got {self.diameter!r}")
        if not isinstance(self.source, str):
            raise SegGalError(f"preprocessing: source must be text, got {self.source!r}")

    def to_dict(self) -> dict:
        """The ``config.json`` form: ``{"normalisation": "percentile", "per_channel": true, "low", "high",
        "clahe", "window", "step"}`` and, only when set, the test-script steps (``method_normalisation``
        as ``{"low", "high", "clip"}``, ``levels``, ``channel_order`` as a list, ``diameter``, ``source``)."""
        record = {"normalisation": "percentile", "per_channel": True, "low": self.low, "high": self.high,
                  "clahe": self.clahe, "window": self.window, "step": self.step}
        if self.method_normalisation is not None:
            record["method_normalisation"] = asdict(self.method_normalisation)
        if self.levels is not None:
            record["levels"] = self.levels
        if self.channel_order is not None:
            record["channel_order"] = list(self.channel_order)
        if self.diameter is not None:
            record["diameter"] = self.diameter
        if self.source:
            record["source"] = self.source
        return record

    @classmethod
    def from_dict(cls, record: Mapping | None, where: str = "preprocessing") -> "Preprocessing":
        """The record of a ``config.json`` (``None`` → :data:`DEFAULT`); fields it lacks take the
        defaults (a record written before the test-script steps existed reads as before). Unknown
        fields, another normalisation or wrong types raise :class:`SegGalError`."""
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
            second = fields.get("method_normalisation")
            if second is not None:
                if not isinstance(second, Mapping) or set(second) - {"low", "high", "clip"} \
                        or not {"low", "high"} <= set(second):
                    raise SegGalError(f"preprocessing: method_normalisation must be {{\"low\", \"high\"[, \"clip\"]}}, "
                                      f"got {second!r}")
                fields["method_normalisation"] = Percentiles(**second)
            if isinstance(fields.get("channel_order"), list):
                fields["channel_order"] = tuple(fields["channel_order"])
            return cls(**fields)
        except SegGalError as exc:
            raise SegGalError(f"{where}: {exc}") from None

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Steps 2-5 (module docstring) on ``pixels`` ((H, W) or (H, W, C), any real dtype) → float32 of
        the same shape, in [0, 1] unless an unclipped ``method_normalisation`` leaves it."""
        out = percentile_normalize(pixels, self.low, self.high)
        if self.clahe:
            out = clahe(out)
        if self.method_normalisation is not None:
            second = self.method_normalisation
            out = percentile_normalize(out, second.low, second.high, clip=second.clip)
        if self.levels is not None:
            out = np.floor(np.clip(out, 0.0, 1.0) * np.float32(self.levels)) / np.float32(self.levels)
        return out.astype(np.float32, copy=False)


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


def percentile_normalize(pixels: np.ndarray, low: float = 0.1, high: float = 99.9, clip: bool = True) -> np.ndarray:
    """Per-channel ``(V - p_low) / (p_high - p_low)``, clipped to [0, 1] when ``clip``, percentiles from
    numpy.percentile.

    ``pixels``: (H, W) or (H, W, C), any real dtype → float32 of the same shape. A channel whose two
    percentiles coincide (a flat channel) becomes all zeros.
    """
    if not 0 <= low < high <= 100:
        raise SegGalError(f"percentile normalisation: need 0 <= low < high <= 100, got low={low}, high={high}")
    arr = _per_channel(pixels, "percentile normalisation")
    out = np.empty(arr.shape, np.float32)
    for c in range(arr.shape[2]):
        # one percentile at a time on float32: float32 values and arithmetic, as csbdeep's and Cellpose's normalisers
        lo, hi = np.percentile(arr[:, :, c], low), np.percentile(arr[:, :, c], high)
        out[:, :, c] = (arr[:, :, c] - lo) / (hi - lo) if hi > lo else 0.0
    if clip:
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
