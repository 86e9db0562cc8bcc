"""seggal.sweeps: one-transform steps equal the paper's per-instance loops pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.segmentation import expand_labels

from seggal.errors import SegGalError
from seggal.metrics import evaluate
from seggal.sweeps import (
    SWEEP_COLUMNS,
    best_step,
    dilation_steps,
    erode,
    erosion_steps,
    expand,
    paper_dilate,
    paper_erode,
    sweep,
)


def full_image_loop(labels, px, op):
    """The paper's loop literally: each instance dilated / eroded over the whole image, ascending labels."""
    out = np.zeros_like(labels)
    for label in np.unique(labels[labels > 0]):
        mask = labels == label
        out[op(mask, iterations=px) if px else mask] = label
    return out


@st.composite
def label_images(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(3, 30)), draw(st.integers(3, 30)))
    n = draw(st.integers(0, 25))
    seeds = np.zeros(shape, np.int32)
    seeds[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = rng.permutation(n) + 1
    labels = expand_labels(seeds, draw(st.integers(0, 8)))
    if draw(st.booleans()):
        labels[rng.random(shape) < 0.15] = 0  # holes and fragments
    return labels


@settings(max_examples=60, deadline=None)
@given(label_images(), st.integers(0, 7))
def test_steps_equal_per_instance_loops(labels, max_px):
    for k, step in enumerate(dilation_steps(labels, max_px)):
        np.testing.assert_array_equal(step, full_image_loop(labels, k, ndimage.binary_dilation))
    for k, step in enumerate(dilation_steps(labels, max_px, "expand")):
        np.testing.assert_array_equal(step, expand_labels(labels, k))
    for k, step in enumerate(erosion_steps(labels, max_px)):
        np.testing.assert_array_equal(step, full_image_loop(labels, k, ndimage.binary_erosion))


@settings(max_examples=25, deadline=None)
@given(label_images(), st.integers(0, 6))
def test_windowed_reference_loops_equal_full_image_loops(labels, px):
    np.testing.assert_array_equal(paper_dilate(labels, px), full_image_loop(labels, px, ndimage.binary_dilation))
    np.testing.assert_array_equal(paper_erode(labels, px), full_image_loop(labels, px, ndimage.binary_erosion))


def test_overlap_rule_higher_label_wins_and_expand_stops_at_neighbours():
    labels = np.zeros((1, 9), np.int32)
    labels[0, 3] = 2
    labels[0, 5] = 1
    # binary: the dilations overlap; label 2 was written last, so it covers label 1's own pixel too
    np.testing.assert_array_equal(expand(labels, 2), [[0, 2, 2, 2, 2, 2, 1, 1, 0]])
    # expand_labels: each pixel goes to its nearest nucleus; original pixels never change
    np.testing.assert_array_equal(expand(labels, 2, "expand"), [[0, 2, 2, 2, 2, 1, 1, 1, 0]])
    # city-block ball, not a Euclidean disk (the two agree up to radius 2)
    dot = np.zeros((9, 9), np.int32)
    dot[4, 4] = 7
    assert expand(dot, 2).astype(bool).sum() == 13  # |dy| + |dx| <= 2
    assert expand(dot, 2, "expand").astype(bool).sum() == 13  # Euclidean radius 2 has 13 pixels too
    assert expand(dot, 3).astype(bool).sum() == 25 and expand(dot, 3, "expand").astype(bool).sum() == 29


def test_erode_drops_vanished_cells_and_image_edge_erodes():
    cells = np.zeros((6, 10), np.int32)
    cells[:, :5] = 1  # touches the image edge on three sides
    cells[1:4, 7:10] = 2
    one = erode(cells, 1)
    assert one[0].sum() == 0 and one[:, 0].sum() == 0  # edge pixels go
    assert (one[1:5, 1:4] == 1).all() and (one == 1).sum() == 12
    assert one[2, 8] == 2 and (one == 2).sum() == 1
    two = erode(cells, 2)
    assert (two == 1).sum() == 2 and not (two == 2).any()  # cell 2 vanished


def test_sweep_scores_each_step_like_evaluate_and_finds_the_best():
    rng = np.random.default_rng(0)
    seeds = np.zeros((48, 48), np.int32)
    seeds[rng.integers(0, 48, 12), rng.integers(0, 48, 12)] = np.arange(1, 13)
    cells = expand_labels(seeds, 6)
    nuclei = erode(cells, 3)
    table = sweep(nuclei, cells, mode="dilate", max_px=5)
    assert list(table.columns) == list(SWEEP_COLUMNS) and list(table.px) == list(range(6))
    for k in (0, 3, 5):
        direct = evaluate(cells, expand(nuclei, k))
        assert table.loc[k, "accuracy"] == pytest.approx(direct["accuracy"], abs=1e-12)
    assert best_step(table) == int(table.px[table.accuracy.idxmax()])
    assert table.accuracy.max() > table.accuracy[0]  # growing nuclei helps here
    back = sweep([cells, cells], [nuclei, nuclei], mode="erode", max_px=4)
    assert back.loc[3, "mAP"] == pytest.approx(evaluate(nuclei, erode(cells, 3))["mAP"], abs=1e-12)
    expand_table = sweep(nuclei, cells, method="expand", max_px=3)
    assert expand_table.loc[2, "AP50"] == pytest.approx(evaluate(cells, expand(nuclei, 2, "expand"))["AP50"])


def test_sweep_bad_input():
    a = np.ones((4, 4), np.int32)
    with pytest.raises(SegGalError, match="mode"):
        sweep(a, a, mode="grow")
    with pytest.raises(SegGalError, match="method"):
        sweep(a, a, method="disk")
    with pytest.raises(SegGalError, match="binary"):
        sweep(a, a, mode="erode", method="expand")
    with pytest.raises(SegGalError, match="max_px"):
        sweep(a, a, max_px=-1)
    with pytest.raises(SegGalError, match="shape"):
        sweep(a, np.ones((4, 5), np.int32))
    with pytest.raises(SegGalError, match="no instances"):
        sweep(a, np.zeros((4, 4), np.int32))
    with pytest.raises(SegGalError, match="metric"):
        best_step(sweep(a, a, max_px=1), metric="F1")
