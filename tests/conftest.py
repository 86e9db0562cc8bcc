"""Fixtures shared by several test modules."""

import pytest

from seggal.backends.stardist import _quiet_tensorflow
from seggal.data.synthetic import synthetic_tissue
from seggal.image import ChannelSpec, Image, Sample

# Some tests import stardist / tensorflow themselves (to compare with SegGal's backend); TensorFlow loaded
# before Triton crashes the process at the first torch optimiser, so load them in the order the StarDist
# backend does for the product.
_quiet_tensorflow()


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    """Two synthetic 64 x 64 nuclear-channel training samples (Breast, seeds 0 and 1) with nuclei labels."""
    out = []
    for seed in range(2):
        pixels, nuclei, _ = synthetic_tissue((64, 64), "Breast", seed=seed)
        out.append(Sample(Image(pixels, ChannelSpec(0, None)), nuclei))
    return out
