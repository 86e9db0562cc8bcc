"""The inputs the paper's test scripts fed, computed here with numpy, scikit-image and the methods' own
packages rather than SegGal's code.

The paper's data sets (Methods, "Image preprocessing") hold 256 x 256 windows normalised per channel to
their 0.1 / 99.9 percentiles (numpy.percentile, clipped to [0, 1]) and then equalised with CLAHE
(skimage.exposure.equalize_adapthist), stored as float32.
"""

import numpy as np
from skimage.exposure import equalize_adapthist


def dataset_window(pixels: np.ndarray) -> np.ndarray:
    """(H, W, C) raw pixels → (H, W, C) float32 as the paper's preprocessed data sets hold them."""
    out = []
    for c in range(pixels.shape[2]):
        channel = pixels[:, :, c].astype(np.float32)
        lo, hi = np.percentile(channel, 0.1), np.percentile(channel, 99.9)
        out.append(equalize_adapthist(np.clip((channel - lo) / (hi - lo), 0, 1)))
    return np.stack(out, -1).astype(np.float32)
