"""Exports round-trip through the libraries that read them (pycocotools, roifile, tifffile)."""

import io
import json
import zipfile

import numpy as np
import pytest
import tifffile

from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.export import cell_csv, label_tiff, outlines, roi_zip, to_coco, to_geojson


@pytest.fixture(scope="module")
def cells():
    labels = synthetic_tissue((96, 120), "Colon", seed=2)[2]
    labels[:, 110:] = 0
    labels[:, 110:113] = 9999  # a strip spanning the full height: RLE runs continue across columns
    labels[40:44, 0:3] = 500  # at the left border
    return labels


def test_label_tiff_round_trip(cells):
    back = tifffile.imread(io.BytesIO(label_tiff(cells)))
    assert np.array_equal(back, cells)


def test_coco_rle_decodes_back_to_every_mask(cells):
    from pycocotools import mask as mask_utils

    coco = json.loads(json.dumps(to_coco(cells, image_id=7, file_name="x.tif", scores=np.arange(1, 10000) / 1e4)))
    ids = [a["id"] for a in coco["annotations"]]
    assert sorted(ids) == [int(v) for v in np.unique(cells) if v]
    for ann in coco["annotations"]:
        mask = cells == ann["id"]
        assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), mask)
        assert ann["area"] == mask.sum() and ann["image_id"] == 7
        ys, xs = np.nonzero(mask)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        assert ann["score"] == pytest.approx(ann["id"] / 1e4)
    assert coco["images"][0] == {"id": 7, "file_name": "x.tif", "height": 96, "width": 120}


def test_coco_loads_in_pycocotools(cells):
    from pycocotools.coco import COCO

    api = COCO()
    api.dataset = to_coco(cells)
    api.createIndex()
    first = api.loadAnns(api.getAnnIds(imgIds=[1]))[0]
    assert np.array_equal(api.annToMask(first).astype(bool), cells == first["id"])


def _rasterise(points, shape):
    from skimage.draw import polygon2mask

    # corner coordinates (x, y) → pixel-centre (row, col)
    return polygon2mask(shape, np.stack([points[:, 1] - 0.5, points[:, 0] - 0.5], axis=1))


def test_outlines_trace_the_cells(cells):
    lines = outlines(cells)
    assert set(lines) == {int(v) for v in np.unique(cells) if v}
    ious = []
    for index, points in lines.items():
        assert np.array_equal(points[0], points[-1])
        mask, drawn = cells == index, _rasterise(points, cells.shape)
        ious.append((mask & drawn).sum() / (mask | drawn).sum())
    assert np.median(ious) > 0.8 and min(ious) > 0.3


def test_roi_zip_reads_back_in_roifile(cells, tmp_path):
    import roifile

    path = tmp_path / "RoiSet.zip"
    path.write_bytes(roi_zip(cells))
    rois = roifile.roiread(path)
    n = len(np.unique(cells)) - 1
    assert len(rois) == n == len(zipfile.ZipFile(path).namelist())
    by_name = {r.name: r for r in rois}
    roi = by_name["cell_09999"]
    coords = roi.coordinates()
    assert coords[:, 0].min() == pytest.approx(110, abs=0.6) and coords[:, 0].max() == pytest.approx(113, abs=0.6)
    assert coords[:, 1].min() == pytest.approx(0, abs=0.6) and coords[:, 1].max() == pytest.approx(96, abs=0.6)


def test_geojson_is_a_qupath_feature_collection(cells):
    doc = json.loads(json.dumps(to_geojson(cells, object_type="detection", classification="Nucleus")))
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == len(np.unique(cells)) - 1
    feature = doc["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    ring = np.array(feature["geometry"]["coordinates"][0])
    assert ring.shape[1] == 2 and np.array_equal(ring[0], ring[-1]) and len(ring) >= 4
    props = feature["properties"]
    assert props["objectType"] == "detection" and props["classification"]["name"] == "Nucleus"
    label = props["measurements"]["label"]
    assert props["measurements"]["area"] == (cells == label).sum()
    assert len({f["id"] for f in doc["features"]}) == len(doc["features"])
    with pytest.raises(SegGalError):
        to_geojson(cells, object_type="polygon")


def test_exports_refuse_non_integer_labels():
    with pytest.raises(SegGalError, match="integer"):
        to_coco(np.full((4, 4), 0.5))


def test_coco_needs_a_score_per_instance(cells):
    with pytest.raises(SegGalError, match="scores"):
        to_coco(cells, scores=np.ones(3))


def test_cell_csv_has_one_row_per_cell(cells):
    import pandas as pd

    table = pd.read_csv(io.StringIO(cell_csv(cells)))
    assert list(table.columns[:6]) == ["label", "size", "convexity", "elongation", "centroid_y", "centroid_x"]
    assert sorted(table["label"]) == [int(v) for v in np.unique(cells) if v]
    row = table.set_index("label").loc[9999]
    assert row["size"] == (cells == 9999).sum() and row["centroid_x"] == pytest.approx(111.0)


def test_cell_csv_with_intensities_and_pixel_size(cells):
    import pandas as pd

    pixels = np.random.default_rng(0).random(cells.shape + (1,)) * 50
    table = pd.read_csv(io.StringIO(cell_csv(cells, pixel_size_um=2.0, intensities=pixels,
                                             channel_names=["Hoechst"]))).set_index("label")
    cell = cells == 500
    assert table.loc[500, "area_um2"] == pytest.approx(cell.sum() * 4.0)
    assert table.loc[500, "mean_Hoechst"] == pytest.approx(pixels[cell, 0].mean())
    assert table.loc[500, "integrated_Hoechst"] == pytest.approx(pixels[cell, 0].sum())
