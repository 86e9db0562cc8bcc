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


def _bomb(path, shape, dtype="<f4", data_bytes=None, y_shape=None):
    """A deepcell-layout .npz whose compressed X header claims ``shape`` and holds ``data_bytes`` zero bytes
    of data (default: as many as the shape needs); y is (1, 8, 8, 2) zeros, or with ``y_shape`` a header
    claiming that shape over 16 bytes; tissue_list is valid."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("X.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": dtype, "fortran_order": False, "shape": shape})
            member.write(bytes(np.dtype(dtype).itemsize * int(np.prod(shape)) if data_bytes is None else data_bytes))
        with archive.open("y.npy", "w") as member:
            if y_shape is None:
                np.lib.format.write_array(member, np.zeros((1, 8, 8, 2), np.int32))
            else:
                np.lib.format.write_array_header_1_0(member, {"descr": "<i4", "fortran_order": False, "shape": y_shape})
                member.write(bytes(16))
        with archive.open("tissue_list.npy", "w") as member:
            np.lib.format.write_array(member, np.array(["Lung"]))
    return path


def _cached_files(cache):
    return [p for p in cache.rglob("*") if p.is_file()]


def test_npz_bomb_is_refused_from_its_header_before_anything_is_unpacked(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGGAL_MAX_NPZ_BYTES", str(64 * 2**10))
    path = _bomb(tmp_path / "bomb.npz", (1, 128, 128, 2))  # 128 KiB of zeros, deflated to a few hundred bytes
    assert path.stat().st_size < 2000
    with pytest.raises(SegGalError, match=r"bomb\.npz: array 'X' would unpack to 131,200 bytes.*SEGGAL_MAX_NPZ_BYTES"):
        open_tissuenet(path)
    assert _cached_files(tmp_path / "cache") == []
    claims = _bomb(tmp_path / "claims.npz", (10**9, 512, 512, 2), data_bytes=16)  # the header lies
    with pytest.raises(SegGalError, match=r"claims\.npz: array 'X' would unpack to .* bytes"):
        open_tissuenet(claims)
    assert _cached_files(tmp_path / "cache") == []


def test_npz_member_larger_than_the_free_disk_space_is_refused(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGGAL_MAX_NPZ_BYTES", str(2**62))  # only the disk limits this one
    free = shutil.disk_usage(tmp_path).free
    side = int(np.sqrt(free / 8)) + 1  # one (side, side, 2) float32 image needs more bytes than are free
    path = _bomb(tmp_path / "huge.npz", (1, side, side, 2), data_bytes=16, y_shape=(1, side, side, 2))
    with pytest.raises(SegGalError, match=r"huge\.npz: array 'X' needs .* bytes in .*cache.*free"):
        open_tissuenet(path)
    assert _cached_files(tmp_path / "cache") == []


def test_a_member_whose_data_does_not_match_its_header_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "cache"))
    short = _bomb(tmp_path / "short.npz", (1, 8, 8, 2), data_bytes=100)  # the header promises 512 bytes
    with pytest.raises(SegGalError, match=r"short\.npz: array 'X'.*(does not match|corrupt)"):
        open_tissuenet(short)
    assert _cached_files(tmp_path / "cache") == []
    three = _bomb(tmp_path / "three.npz", (1, 8, 8, 3))  # a wrong shape is refused before unpacking
    with pytest.raises(SegGalError, match=r"three\.npz: X has shape \(1, 8, 8, 3\)"):
        open_tissuenet(three)
    assert _cached_files(tmp_path / "cache") == []


def test_a_member_that_fails_while_unpacking_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    path = tmp_path / "damaged.npz"
    np.savez_compressed(path, X=rng.random((2, 64, 64, 2), dtype=np.float32), y=np.zeros((2, 64, 64, 2), np.int32),
                        tissue_list=np.array(["Lung", "Lung"]))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("X.npy")
    data = bytearray(path.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data[middle: middle + 64] = bytes(64)  # damage the deflated data after the .npy header
    path.write_bytes(bytes(data))
    with pytest.raises(SegGalError, match=r"damaged\.npz: array 'X'.*cannot unpack.*nothing was kept"):
        open_tissuenet(path)
    assert _cached_files(tmp_path / "cache") == []
