"""seggal.morphology: size, convexity and elongation per cell, and their summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seggal.errors import SegGalError
from seggal.morphology import CELL_COLUMNS, cell_table, image_summaries, summarize, tissue_summary


def disk(shape, cy, cx, r):
    yy, xx = np.indices(shape)
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_round_square_thin_and_concave_cells():
    labels = np.zeros((60, 80), np.int32)
    labels[disk(labels.shape, 15, 15, 10)] = 3
    labels[5:15, 40:50] = 7  # square
    labels[40:42, 5:75] = 8  # thin bar
    labels[25:35, 40:70] = 9  # a C: a box with a notch cut from its right side
    labels[28:32, 55:70] = 0
    table = cell_table(labels).set_index("label")
    assert list(table.index) == [3, 7, 8, 9]  # labels with gaps kept
    assert table.loc[7, "size"] == 100 and table.loc[8, "size"] == 140
    assert table.loc[3, "size"] == disk(labels.shape, 15, 15, 10).sum()
    # a digitised disk's outline has pixel steps, so it is a little longer than its hull
    assert table.loc[3, "elongation"] > 0.95 and 0.9 < table.loc[3, "convexity"] < 1
    assert table.loc[7, "elongation"] == pytest.approx(1.0) and table.loc[7, "convexity"] == pytest.approx(1.0)
    assert table.loc[8, "elongation"] < 0.01  # long and thin
    assert table.loc[9, "convexity"] < 0.85  # the notch makes it concave
    assert ((table.convexity > 0) & (table.convexity <= 1 + 1e-12)).all()
    assert ((table.elongation > 0) & (table.elongation <= 1 + 1e-12)).all()


def test_measures_are_rotation_invariant_and_centroids_are_pixel_means():
    rng = np.random.default_rng(0)
    labels = np.zeros((40, 40), np.int32)
    for label in range(1, 6):
        cy, cx = rng.integers(6, 34, 2)
        labels[disk(labels.shape, cy, cx, rng.integers(2, 6)) & (labels == 0)] = label
    table = cell_table(labels)
    turned = cell_table(np.rot90(labels))
    for column in ("size", "convexity", "elongation"):
        np.testing.assert_allclose(table[column], turned[column], rtol=1e-9)
    for row in table.itertuples():
        ys, xs = np.nonzero(labels == row.label)
        assert row.centroid_y == pytest.approx(ys.mean()) and row.centroid_x == pytest.approx(xs.mean())


def test_empty_image_table_and_summaries():
    empty = cell_table(np.zeros((8, 8), np.int32))
    assert list(empty.columns) == list(CELL_COLUMNS) and len(empty) == 0
    assert summarize(empty)["n_cells"] == 0 and np.isnan(summarize(empty)["size"])
    a = np.zeros((20, 20), np.int32)
    a[2:6, 2:6] = 1
    a[10:18, 10:12] = 2
    b = np.zeros((20, 20), np.int32)
    b[5:15, 5:15] = 4
    per_image = image_summaries([a, b], ["a", "b"])
    assert list(per_image.n_cells) == [2, 1] and per_image.loc[0, "size"] == pytest.approx(16)
    tissues = tissue_summary([a, b, b], ["Colon", "Breast", "Colon"])
    colon = tissues.set_index("tissue").loc["Colon"]
    pooled = pd.concat([cell_table(a), cell_table(b)])
    assert colon.n_images == 2 and colon.n_cells == 3
    assert colon["size"] == pytest.approx(pooled["size"].mean())
    assert colon.elongation == pytest.approx(pooled.elongation.mean())


def test_bad_input():
    with pytest.raises(SegGalError, match="2-D"):
        cell_table(np.ones((3, 4, 4), np.int32))
    with pytest.raises(SegGalError, match="tissue"):
        tissue_summary([np.ones((4, 4), np.int32)], ["Colon", "Breast"])


def test_intensities_per_channel_and_area_in_square_micrometres():
    labels = np.zeros((20, 20), np.int32)
    labels[2:6, 2:8] = 3
    labels[10:18, 10:13] = 7
    rng = np.random.default_rng(1)
    pixels = rng.random((20, 20, 2)) * 100
    table = cell_table(labels, pixel_size_um=0.5, intensities=pixels, channel_names=["DAPI", ""]).set_index("label")
    assert {"mean_DAPI", "integrated_DAPI", "mean_channel_2", "integrated_channel_2"} <= set(table.columns)
    for label in (3, 7):
        cell = labels == label
        assert table.loc[label, "mean_DAPI"] == pytest.approx(pixels[cell, 0].mean())
        assert table.loc[label, "integrated_channel_2"] == pytest.approx(pixels[cell, 1].sum())
        assert table.loc[label, "area_um2"] == pytest.approx(cell.sum() * 0.25)
    grey = cell_table(labels, intensities=pixels[:, :, 0])  # (H, W): one channel, named by position
    assert grey.set_index("label").loc[7, "mean_channel_1"] == pytest.approx(pixels[labels == 7, 0].mean())
    with pytest.raises(SegGalError, match="do not match"):
        cell_table(labels, intensities=pixels[:10])
    with pytest.raises(SegGalError, match="channel name"):
        cell_table(labels, intensities=pixels, channel_names=["DAPI"])
