"""Genuine CZI files for the tests, written by Zeiss's libCZI (``pylibCZIrw``): channel names and pixel
size in the file's own XML metadata, as a microscope writes them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def czi_bytes(pixels: np.ndarray, axes: str = "CYX", names: list[str] | None = None,
              pixel_um: float | None = None) -> bytes:
    """``pixels`` (axes among T, Z, C then Y, X; uint8 / uint16 / float32) as the bytes of a CZI file;
    ``names``: one per channel; ``pixel_um``: µm per pixel."""
    from pylibCZIrw import czi as pyczi

    assert axes.endswith("YX") and pixels.ndim == len(axes)
    loops = axes[:-2]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.czi"
        with pyczi.create_czi(str(path), exist_ok=True) as writer:
            for index in np.ndindex(*pixels.shape[:-2]):
                plane = {"T": 0, "Z": 0, "C": 0, **dict(zip(loops, index))}
                writer.write(data=np.ascontiguousarray(pixels[index]), plane=plane)
            writer.write_metadata(document_name="seggal test",
                                  channel_names=dict(enumerate(names)) if names else None,
                                  scale_x=pixel_um * 1e-6 if pixel_um else 0.0,
                                  scale_y=pixel_um * 1e-6 if pixel_um else 0.0)
        return path.read_bytes()
