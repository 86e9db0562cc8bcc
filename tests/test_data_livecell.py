"""LIVECell reader: the authors' layout, the published files' quirks, clear errors."""

import json

import numpy as np
import pytest
import tifffile

from seggal.data.livecell import cell_type, open_livecell
from seggal.data.synthetic import synthetic_livecell, write_livecell
from seggal.errors import SegGalError


@pytest.fixture(scope="module")
def livecell(tmp_path_factory):
    folder = tmp_path_factory.mktemp("livecell")
    return write_livecell(folder, 3, (64, 80), ["A172", "SH-SY5Y"], seed=0)


def test_cell_type_from_file_name():
    assert cell_type("A172_Phase_A7_1_00d00h00m_1.tif") == "A172"
    assert cell_type("BT474_Phase_A3_2_00d04h00m_1.tif") == "BT-474"
    assert cell_type("images/SHSY5Y_Phase_B10_1_01d00h00m_3.tif") == "SH-SY5Y"
    assert cell_type("SkBr3_Phase_H3_2_03d00h00m_4.tif") == "SkBr3"
    assert cell_type("HeLa_Phase_X_1.tif") == "HeLa"  # unknown lines are kept as written


def test_whole_set_and_per_line_files(livecell):
    data = open_livecell(livecell)
    assert len(data) == 3 and data.cell_types == ["A172", "SH-SY5Y", "A172"]
    for i, line in enumerate(data.cell_types):
        pixels, cells = synthetic_livecell((64, 80), line, seed=i)
        labels = data.labels(i)
        assert labels.max() == cells.max()
        assert np.array_equal(labels > 0, cells > 0)  # polygons rasterise back onto the cells
        image = data.image(i)
        assert image.pixels.shape == (64, 80, 1) and image.channels.membrane == 0 and image.channels.nuclear is None
    info = data.info()
    assert info["tissues"] == {"A172": 2, "SH-SY5Y": 1} and info["missing_images"] == 0
    per_line = open_livecell(livecell.parent / "LIVECell_single_cells" / "shsy5y" / "test.json")
    assert len(per_line) == 1 and per_line.image_dir == livecell.parent / "images"
    assert np.array_equal(per_line.labels(0), data.labels(1))


def quirky_json(folder):
    """A json with the quirks of the published files, over one 32 x 40 image."""
    tifffile.imwrite(folder / "MCF7_Phase_E4_1_02d00h00m_2.tif", np.full((32, 40), 128, np.uint8))
    square = lambda x, y, s: [x, y, x + s, y, x + s, y + s, x, y + s]  # noqa: E731
    rle = np.zeros((32, 40), np.uint8)
    rle[20:30, 30:38] = 1
    from pycocotools import mask as mask_utils

    column_major = rle.T.ravel()
    change = np.flatnonzero(np.diff(np.r_[0, column_major, 0]))
    counts = np.diff(np.r_[0, change, rle.size]).tolist()
    annotations = {  # a dict keyed by string id, as in livecell_coco_*.json
        "7": {"id": 7, "image_id": 5, "segmentation": [square(2, 2, 6), square(12, 2, 4)], "category_id": 1},  # no area/iscrowd/bbox, two pieces
        "3": {"image_id": 5, "segmentation": [square(20, 2, 5)]},  # no id at all
        "9": {"id": 9, "image_id": 5, "segmentation": [[1, 1, 5, 5]]},  # degenerate: 2 points (a box to pycocotools)
        "11": {"id": 11, "image_id": 5, "segmentation": [square(4, 4, 6)]},  # overlaps id 7
        "12": {"id": 12, "image_id": 5, "segmentation": {"size": [32, 40], "counts": counts}},  # uncompressed RLE
    }
    assert mask_utils.decode(mask_utils.frPyObjects({"size": [32, 40], "counts": counts}, 32, 40)).sum() == rle.sum()
    path = folder / "livecell_mcf7_test.json"
    path.write_text(json.dumps({
        "images": [{"id": 5, "file_name": "MCF7_Phase_E4_1_02d00h00m_2.tif", "width": 40, "height": 32}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cell"}],
    }))
    return path, rle


def test_published_quirks(tmp_path):
    path, rle = quirky_json(tmp_path)
    from pycocotools.coco import COCO

    with pytest.raises(TypeError):  # why the reader does not hand these files to pycocotools as they are
        COCO(str(path))
    data = open_livecell(path)
    labels = data.labels(0)
    values = [int(v) for v in np.unique(labels) if v]
    assert values == [1, 2, 3, 4]  # 7 (two pieces), 11, 12, then the id-less one; 9 skipped
    assert (labels[2:8, 2:8] == 1).all() and (labels[2:6, 12:16] == 1).all()  # both pieces of id 7
    assert (labels[2:7, 20:25] == 4).all()
    assert (labels[4:10, 4:10] == np.where((np.mgrid[4:10, 4:10] < 8).all(axis=0), 1, 2)).all()  # overlap: first owner keeps
    assert np.array_equal(labels == 3, rle.astype(bool))
    assert data.cell_types == ["MCF7"]


def test_missing_images_truncated_files_and_bad_records(tmp_path, livecell):
    data = open_livecell(livecell, images=tmp_path)
    assert data.info()["missing_images"] == 3
    with pytest.raises(SegGalError, match=r"A172_Phase_A1_1_00d00h00m_1\.tif.*not found"):
        data.image(0)
    truncated = tmp_path / "test.json"
    truncated.write_text(livecell.read_text()[:500])
    with pytest.raises(SegGalError, match="truncated"):
        open_livecell(truncated)
    record = json.loads(livecell.read_text())
    record["images"][0].pop("height")
    (tmp_path / "no_height.json").write_text(json.dumps(record))
    with pytest.raises(SegGalError, match=r"no_height\.json: images\[0\] lacks height"):
        open_livecell(tmp_path / "no_height.json")
    record = json.loads(livecell.read_text())
    record["images"][0]["width"] = 99
    (tmp_path / "wrong_size.json").write_text(json.dumps(record))
    with pytest.raises(SegGalError, match="80 x 64.*says 99 x 64"):
        open_livecell(tmp_path / "wrong_size.json", images=livecell.parent / "images").image(0)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(SegGalError, match="needs 'images' and 'annotations'"):
        open_livecell(tmp_path / "list.json")
    with pytest.raises(SegGalError, match="image folder not found"):
        open_livecell(livecell, images=tmp_path / "absent")


def test_paper_layout_npz_windows(tmp_path, capsys):
    from seggal.cli import main
    from seggal.data.livecell_npz import open_livecell_npz
    from seggal.data.synthetic import write_livecell_npz
    from seggal.data.tasks import load_task

    path = write_livecell_npz(tmp_path / "LIVECell_test_all.npz", 3, (32, 40), ["BT-474", "A172"], seed=2)
    with np.load(path) as npz:  # the layout the authors' scripts load: X (N, H, W, 1), y, tissue_list, filenames
        assert npz["X"].shape == (3, 32, 40, 1) and npz["y"].shape == (3, 32, 40, 1)
        assert list(npz["tissue_list"]) == ["BT474", "A172", "BT474"]
    data = open_livecell_npz(path)
    assert len(data) == 3 and data.cell_types == ("BT-474", "A172", "BT-474")  # the paper's text's spelling
    pixels, cells = synthetic_livecell((32, 40), "A172", seed=3)
    image = data.image(1)
    assert image.pixels.shape == (32, 40, 1) and image.channels.membrane == 0 and image.channels.nuclear is None
    assert np.array_equal(image.pixels, pixels) and np.array_equal(data.labels(1), cells)
    # the squeezed form, without filenames, reads the same
    with np.load(path) as npz:
        np.savez(tmp_path / "LIVECell_val_all.npz", X=npz["X"][..., 0], y=npz["y"][..., 0], tissue_list=npz["tissue_list"])
    squeezed = open_livecell_npz(tmp_path / "LIVECell_val_all.npz")
    assert squeezed.filenames is None and np.array_equal(squeezed.labels(1), cells)
    # a folder with both layouts: the task reads the paper's windows
    write_livecell(tmp_path, 2, (32, 40), ["A172"], seed=0)
    view = load_task(tmp_path, "livecell-wholecell", "test")
    assert view.source == str(path) and view.counts() == {"BT-474": 2, "A172": 1}
    assert np.array_equal(view[1].labels, cells)
    assert main(["data", "info", str(path)]) == 0
    assert "paper's preprocessed" in capsys.readouterr().out
    np.savez(tmp_path / "LIVECell_train_all.npz", X=np.zeros((1, 8, 8, 2)), y=np.zeros((1, 8, 8, 1), np.int32),
             tissue_list=np.array(["A172"]))
    with pytest.raises(SegGalError, match=r"X has shape \(1, 8, 8, 2\)"):
        open_livecell_npz(tmp_path / "LIVECell_train_all.npz")
