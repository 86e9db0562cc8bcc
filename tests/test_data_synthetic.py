"""The synthetic generator: exact ground truth, per-tissue morphology, realistic channels."""

import numpy as np
import pytest
from skimage.measure import regionprops
from skimage.segmentation import find_boundaries

from seggal.data.synthetic import synthetic_livecell, synthetic_tissue
from seggal.errors import SegGalError


def _mean_area_and_elongation(labels):
    props = [p for p in regionprops(labels) if p.area > 20 and p.axis_minor_length > 0]
    return np.mean([p.area for p in props]), np.mean([p.axis_major_length / p.axis_minor_length for p in props])


def test_deterministic_by_seed():
    a, b, c = synthetic_tissue((64, 80), "Breast", seed=5), synthetic_tissue((64, 80), "Breast", seed=5), synthetic_tissue((64, 80), "Breast", seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[2], c[2])
    assert np.array_equal(synthetic_livecell((64, 64), "BV-2", 1)[0], synthetic_livecell((64, 64), "BV-2", 1)[0])


def test_tissue_ground_truth_is_consistent():
    pixels, nuclei, cells = synthetic_tissue((128, 160), "Esophagus", seed=1)
    assert pixels.shape == (128, 160, 2) and pixels.dtype == np.float32 and nuclei.dtype == cells.dtype == np.int32
    inside = nuclei > 0
    assert np.array_equal(nuclei[inside], cells[inside])  # every nucleus inside its own cell
    assert set(np.unique(nuclei)) == set(np.unique(cells))  # every cell has a nucleus
    assert np.array_equal(np.unique(cells), np.arange(cells.max() + 1))
    # cells touch: horizontally adjacent pixels of two different cells
    left, right = cells[:, :-1], cells[:, 1:]
    assert ((left > 0) & (right > 0) & (left != right)).sum() > 50


def test_morphology_differs_per_tissue():
    small_round = _mean_area_and_elongation(synthetic_tissue((192, 192), "Lymph Node", 0)[2])
    large = _mean_area_and_elongation(synthetic_tissue((192, 192), "Pancreas", 0)[2])
    elongated = _mean_area_and_elongation(synthetic_tissue((192, 192), "Colon", 0)[2])
    assert large[0] > 2 * small_round[0]
    assert elongated[1] > small_round[1] + 0.3


def test_channels_show_nuclei_and_membranes_with_noise():
    pixels, nuclei, cells = synthetic_tissue((128, 128), "Breast", seed=2)
    nuclear, membrane = pixels[:, :, 0], pixels[:, :, 1]
    assert nuclear[nuclei > 0].mean() > 3 * nuclear[cells == 0].mean()
    edges = find_boundaries(cells, mode="inner")
    assert membrane[edges].mean() > 2 * membrane[(cells > 0) & ~edges & (nuclei == 0)].mean()
    assert nuclear[cells == 0].std() > 0  # noisy background, not flat
    # per-cell brightness varies
    means = [nuclear[nuclei == k].mean() for k in range(1, nuclei.max() + 1)]
    assert np.std(means) / np.mean(means) > 0.15


def test_livecell_phase_contrast():
    pixels, cells = synthetic_livecell((128, 128), "A172", seed=0)
    assert pixels.shape == (128, 128, 1) and pixels.dtype == np.float32 and cells.max() > 5
    halo = find_boundaries(cells, mode="outer") & (cells == 0)
    assert pixels[halo, 0].mean() > pixels[cells > 0, 0].mean() + 0.05
    neurons = _mean_area_and_elongation(synthetic_livecell((192, 192), "SH-SY5Y", 0)[1])
    microglia = _mean_area_and_elongation(synthetic_livecell((192, 192), "BV-2", 0)[1])
    assert neurons[1] > microglia[1] + 0.5


def test_unknown_names_and_bad_shapes():
    with pytest.raises(SegGalError, match="Breast"):
        synthetic_tissue((64, 64), "Liver")
    with pytest.raises(SegGalError, match="cell type"):
        synthetic_livecell((64, 64), "HeLa")
    with pytest.raises(SegGalError, match="shape"):
        synthetic_tissue((4, 64))


def test_nuclei_fields_span_magnifications():
    from seggal.data.synthetic import NUCLEUS_RADIUS_RANGE, synthetic_nuclei

    pixels, nuclei = synthetic_nuclei((128, 128), seed=3)
    assert pixels.shape == (128, 128, 1) and pixels.dtype == np.float32 and nuclei.dtype == np.int32
    assert np.array_equal(np.unique(nuclei), np.arange(nuclei.max() + 1))  # ids 1..n, no gaps
    assert pixels[nuclei > 0].mean() > 1.5 * pixels[nuclei == 0].mean()  # nuclei brighter than the background
    assert np.array_equal(synthetic_nuclei((64, 64), seed=3)[1], synthetic_nuclei((64, 64), seed=3)[1])
    for radius in (4.0, 12.0):  # the asked radius is what the nuclei measure (equivalent radius)
        areas = np.bincount(synthetic_nuclei((192, 192), seed=1, radius=radius)[1].ravel())[1:]
        assert 0.6 * radius < np.median(np.sqrt(areas / np.pi)) < 1.4 * radius
    drawn = [np.median(np.sqrt(np.bincount(synthetic_nuclei((128, 128), seed=s)[1].ravel())[1:] / np.pi))
             for s in range(12)]
    lo, hi = NUCLEUS_RADIUS_RANGE
    assert min(drawn) < lo * 2 and max(drawn) > hi / 2  # small and large nuclei both occur
    with pytest.raises(SegGalError, match="radius"):
        synthetic_nuclei((64, 64), radius=0)
