"""The one image model and the one label model that flow through SegGal.

* An image is an :class:`Image`: ``pixels`` of shape (H, W, C), dtype float32, plus a
  :class:`ChannelSpec` saying which channel is nuclear and which is membrane / cytoplasm (whole cell).
* A label image is a plain ``numpy.ndarray`` of shape (H, W), dtype int32: 0 = background,
  1..n = instances. :func:`as_labels` validates and converts anything that claims to be one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seggal.errors import SegGalError

INPUT_CHANNELS = ("dual", "nuclear", "whole_cell")


@dataclass(frozen=True)
class ChannelSpec:
    """Which channel of an (H, W, C) image is nuclear and which is membrane / cytoplasm.

    ``None`` means the channel is absent. At least one must be given and they must differ.
    """

    nuclear: int | None = 0
    membrane: int | None = 1

    def __post_init__(self) -> None:
        if self.nuclear is None and self.membrane is None:
            raise SegGalError("channel spec: give a nuclear channel, a membrane channel, or both")
        for name in ("nuclear", "membrane"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
                raise SegGalError(f"channel spec: {name} channel must be a non-negative integer, got {value!r}")
        if self.nuclear is not None and self.nuclear == self.membrane:
            raise SegGalError(f"channel spec: nuclear and membrane are both channel {self.nuclear}")

    @property
    def input_channels(self) -> str:
        """The paper's name for this input: ``dual``, ``nuclear`` or ``whole_cell``."""
        if self.nuclear is not None and self.membrane is not None:
            return "dual"
        return "nuclear" if self.nuclear is not None else "whole_cell"

    @classmethod
    def for_input(cls, input_channels: str) -> "ChannelSpec":
        """The spec of a task's model input, channels packed in the order nuclear, membrane."""
        specs = {"dual": cls(0, 1), "nuclear": cls(0, None), "whole_cell": cls(None, 0)}
        if input_channels not in specs:
            raise SegGalError(f"unknown input channels {input_channels!r}; expected one of {INPUT_CHANNELS}")
        return specs[input_channels]


@dataclass(frozen=True)
class Image:
    """An image ready for SegGal: ``pixels`` (H, W, C) float32, finite, with its channel spec."""

    pixels: np.ndarray
    channels: ChannelSpec = ChannelSpec()
    name: str = ""

    def __post_init__(self) -> None:
        where = f" ({self.name})" if self.name else ""
        px = self.pixels
        if not isinstance(px, np.ndarray) or px.ndim != 3:
            shape = getattr(px, "shape", None)
            raise SegGalError(f"image{where}: expected an (H, W, C) array, got shape {shape}")
        if px.dtype != np.float32:
            raise SegGalError(f"image{where}: expected float32 pixels, got {px.dtype}")
        if px.shape[0] == 0 or px.shape[1] == 0:
            raise SegGalError(f"image{where}: empty image of shape {px.shape}")
        for name in ("nuclear", "membrane"):
            index = getattr(self.channels, name)
            if index is not None and index >= px.shape[2]:
                raise SegGalError(
                    f"image{where}: {name} channel {index} does not exist; the image has {px.shape[2]} channel(s)"
                )
        if not np.isfinite(px).all():
            raise SegGalError(f"image{where}: contains NaN or infinite pixels")

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.pixels.shape[:2]

    def model_input(self) -> np.ndarray:
        """The channels a model sees, packed nuclear first then membrane: (H, W, 1 or 2) float32."""
        order = [i for i in (self.channels.nuclear, self.channels.membrane) if i is not None]
        return np.ascontiguousarray(self.pixels[:, :, order])


def as_labels(array: np.ndarray, name: str = "labels") -> np.ndarray:
    """Validate a label image and return it as (H, W) int32 (0 = background).

    Accepts any integer dtype, bool, or a float array whose values are whole numbers; a trailing or
    leading singleton axis is squeezed. Raises :class:`SegGalError` naming ``name`` otherwise.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:-1])
    if arr.ndim != 2:
        raise SegGalError(f"{name}: a label image must be 2-D (H, W), got shape {arr.shape}")
    if arr.size == 0:
        raise SegGalError(f"{name}: empty label image of shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int32)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            raise SegGalError(f"{name}: labels must be integers, got non-integer {arr.dtype} values")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise SegGalError(f"{name}: labels must be integers, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise SegGalError(f"{name}: labels must be >= 0 (0 = background), found {int(arr.min())}")
    if arr.max() > np.iinfo(np.int32).max:
        raise SegGalError(f"{name}: label values exceed int32")
    return arr.astype(np.int32, copy=False)


@dataclass(frozen=True)
class Sample:
    """One annotated example: an image and its ground-truth label image ((H, W) int32, 0 = background)."""

    image: Image
    labels: np.ndarray
