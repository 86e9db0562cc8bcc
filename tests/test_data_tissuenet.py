"""TissueNet .npz readers: both layouts, lazy per-image reads, clear errors."""

import tracemalloc
import zipfile

import numpy as np
import pytest

from seggal.data.synthetic import synthetic_tissue, write_tissuenet_npz
from seggal.data.tissuenet import open_tissuenet
from seggal.errors import SegGalError


@pytest.fixture(scope="module")
def deepcell_file(tmp_path_factory):
    return write_tissuenet_npz(tmp_path_factory.mktemp("tn") / "tissuenet_v1.1_test.npz", 3, (48, 64), ["Lung", "Spleen"], seed=4)


def test_deepcell_layout_channels(deepcell_file):
    data = open_tissuenet(deepcell_file)
    assert data.layout == "deepcell" and len(data) == 3
    assert data.tissues == ("Lung", "Spleen", "Lung") and data.platforms == ("synthetic",) * 3
    pixels, nuclei, cells = synthetic_tissue((48, 64), "Spleen", seed=5)
    image = data.image(1)
    assert image.pixels.shape == (48, 64, 2) and image.channels.nuclear == 0 and image.channels.membrane == 1
    assert np.array_equal(image.pixels, pixels)
    assert np.array_equal(data.labels(1, "nuclei"), nuclei)  # y channel 1
    assert np.array_equal(data.labels(1, "whole_cell"), cells)  # y channel 0
    info = data.info()
    assert info["n_images"] == 3 and info["tissues"] == {"Lung": 2, "Spleen": 1}
    assert info["X"]["channels"][0] == "nuclear" and info["y"]["channels"][0] == "whole-cell labels"
    with pytest.raises(SegGalError, match="does not exist"):
        data.image(3)


def test_paper_layout_and_compressed_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "cache"))
    path = write_tissuenet_npz(tmp_path / "test_256.npz", 2, (32, 32), ["Colon"], seed=0, layout="paper")
    with np.load(path) as npz:
        arrays = dict(npz)
    np.savez_compressed(tmp_path / "compressed.npz", **arrays)
    for candidate in (path, tmp_path / "compressed.npz"):
        data = open_tissuenet(candidate)
        assert data.layout == "paper" and data.filenames[1].endswith(".tif")
        assert data.image(1).name == data.filenames[1]
        assert np.array_equal(data.labels(0, "nuclei"), arrays["y"][0, :, :, 1])
        assert isinstance(data.X, np.memmap)
    assert list((tmp_path / "cache" / "npz").iterdir())  # compressed members were unpacked once


def test_reading_one_image_does_not_load_the_file(tmp_path):
    n, h, w = 40, 256, 256
    X = np.random.default_rng(0).random((n, h, w, 2), dtype=np.float32)
    y = np.zeros((n, h, w, 2), np.int32)
    y[:, 10:20, 10:20] = 1
    path = tmp_path / "big.npz"
    np.savez(path, X=X, y=y, tissue_list=np.array(["Breast"] * n), platform_list=np.array(["MIBI"] * n))
    size = path.stat().st_size
    del X, y
    tracemalloc.start()
    data = open_tissuenet(path)
    image, labels = data.image(17), data.labels(17, "whole_cell")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert image.pixels.shape == (h, w, 2) and labels[15, 15] == 1
    assert peak < size / 20  # one image is 1/40 of each array; np.load would need the whole file


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_bad_files_name_the_file_and_the_fault(tmp_path):
    X = np.zeros((2, 8, 8, 2), np.float32)
    y = np.zeros((2, 8, 8, 2), np.int32)
    tissues = np.array(["Breast", "Lung"])
    with pytest.raises(SegGalError, match=r"no_y\.npz.*missing key\(s\) y"):
        open_tissuenet(_write(tmp_path / "no_y.npz", X=X, tissue_list=tissues))
    with pytest.raises(SegGalError, match=r"three\.npz: X has shape \(2, 8, 8, 3\)"):
        open_tissuenet(_write(tmp_path / "three.npz", X=np.zeros((2, 8, 8, 3)), y=y, tissue_list=tissues))
    with pytest.raises(SegGalError, match="differ"):
        open_tissuenet(_write(tmp_path / "mismatch.npz", X=X, y=np.zeros((2, 9, 8, 2), np.int32), tissue_list=tissues))
    with pytest.raises(SegGalError, match="tissue_list"):
        open_tissuenet(_write(tmp_path / "short.npz", X=X, y=y, tissue_list=tissues[:1]))
    with pytest.raises(SegGalError, match="unpickl"):
        open_tissuenet(_write(tmp_path / "objects.npz", X=X, y=y, tissue_list=np.array(["a", 1], dtype=object)))
    with pytest.raises(SegGalError, match="unpickl"):
        open_tissuenet(_write(tmp_path / "objects_y.npz", X=X, y=np.empty((2, 8, 8, 2), dtype=object), tissue_list=tissues))
    fractional = _write(tmp_path / "fractional.npz", X=X, y=y + 0.5, tissue_list=tissues)
    with pytest.raises(SegGalError, match=r"fractional\.npz: y\[0\].*integers"):
        open_tissuenet(fractional).labels(0, "nuclei")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(SegGalError, match="not an .npz"):
        open_tissuenet(tmp_path / "text.npz")
    with pytest.raises(SegGalError, match="not found"):
        open_tissuenet(tmp_path / "absent.npz")
    assert zipfile.is_zipfile(fractional)
