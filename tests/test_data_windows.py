"""`data pull --source original`: TissueNet v1.1 (placed by hand) and LIVECell (from a stand-in of its bucket on
127.0.0.1), cut by SegGal into the paper's 256 x 256 windows; the readers give the cut of the originals."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from skimage.exposure import equalize_adapthist

from seggal.cli import main
from seggal.data.livecell import open_livecell
from seggal.data.pull import is_authentic, read_manifest
from seggal.data.synthetic import write_livecell, write_tissuenet_npz
from seggal.data.tasks import load_task
from seggal.data.tissuenet import open_tissuenet
from seggal.zoo import download
from zoo_server import Server, server  # noqa: F401 — the zoo tests' 127.0.0.1 server and its fixture

BUCKET = "/LIVECell_dataset_2021"


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "seggal"))
    monkeypatch.setattr(download, "RETRIES", 1)


def paper_pixels(crop: np.ndarray) -> np.ndarray:
    """The paper's normalisation of one window, written out from its Methods text: per channel, the 0.1 / 99.9
    percentiles (numpy.percentile), min-max, then CLAHE."""
    out = np.zeros(crop.shape, np.float32)
    for c in range(crop.shape[2]):
        plane = crop[:, :, c].astype(np.float32)  # float32 arithmetic, as csbdeep's normalize (CLAHE's bins magnify
        lo, hi = np.percentile(plane, 0.1), np.percentile(plane, 99.9)  # a float64 rounding difference)
        scaled = np.clip((plane - lo) / (hi - lo), 0, 1)
        out[:, :, c] = equalize_adapthist(scaled)
    return out


def same_cut(window: np.ndarray, original: np.ndarray) -> None:
    """``window`` holds the instances of ``original`` (same crop) renumbered 1..n: consecutive ids and a one-to-one
    map between the two numberings."""
    ids = np.unique(window[window > 0])
    assert len(ids) > 0 and list(ids) == list(range(1, len(ids) + 1))
    assert np.array_equal(window > 0, original > 0)
    pairs = {(int(a), int(b)) for a, b in zip(window[window > 0], original[original > 0])}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def corners_of(name: str) -> tuple[int, int]:
    y, x = name.rsplit("_y", 1)[1].removesuffix(".tif").split("_x")
    return int(y), int(x)


def test_tissuenet_v11_placed_by_hand_is_cut_into_the_papers_windows(tmp_path, capsys):
    shapes = {"train": (1, (320, 320)), "val": (1, (256, 256)), "test": (2, (256, 256))}
    for split, (n, shape) in shapes.items():  # placed by hand where the licence message says (the dataset folder)
        write_tissuenet_npz(tmp_path / "tissuenet" / f"tissuenet_v1.1_{split}.npz", n, shape, ("Lung", "Colon"), 3)
    assert main(["data", "pull", "tissuenet", "--source", "original", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "tissuenet"
    manifest = read_manifest(folder)
    assert sorted(manifest["files"]) == [f"original/tissuenet_v1.1_{s}.npz" for s in ("test", "train", "val")]
    assert is_authentic(manifest)  # TissueNet v1.1 placed by hand counts as the distributor's
    assert sorted(manifest["derived"]) == [f"tissuenet_{s}_256x256_seggal.npz" for s in ("test", "train", "val")]
    assert manifest["preprocessing"]["clahe"] is True and manifest["preprocessing"]["step"] == 192
    original = open_tissuenet(folder / "original" / "tissuenet_v1.1_train.npz")
    train = open_tissuenet(folder / "tissuenet_train_256x256_seggal.npz")
    assert train.layout == "paper" and train.X.shape == (4, 256, 256, 2) and train.y.shape == (4, 256, 256, 2)
    assert [corners_of(n) for n in train.filenames] == [(0, 0), (0, 64), (64, 0), (64, 64)]  # flush with the edge
    assert all("synthetic" in n for n in train.filenames)  # the stand-in's platform marks its windows
    for k, name in enumerate(train.filenames):
        y0, x0 = corners_of(name)
        crop = np.asarray(original.X[0, y0:y0 + 256, x0:x0 + 256])
        assert np.allclose(train.image(k).pixels, paper_pixels(crop), atol=1e-5)
        for target in ("whole_cell", "nuclei"):
            same_cut(train.labels(k, target), original.labels(0, target)[y0:y0 + 256, x0:x0 + 256])
    view = load_task(tmp_path / "tissuenet", "nuclei-dual", "test")  # the task reads the windows, not the originals
    assert view.source.endswith("tissuenet_test_256x256_seggal.npz") and len(view) == 2
    stamp = (folder / "tissuenet_test_256x256_seggal.npz").stat().st_mtime_ns
    assert main(["data", "pull", "tissuenet", "--source", "original", "--out", str(tmp_path)]) == 0
    assert (folder / "tissuenet_test_256x256_seggal.npz").stat().st_mtime_ns == stamp  # a finished cut is kept


def _bucket(server: Server, tmp_path: Path, monkeypatch) -> None:
    """LIVECell's three jsons and images.zip (stand-ins in its layout) served as its S3 bucket serves them."""
    monkeypatch.setenv("SEGGAL_LIVECELL_URL", server.url)
    source = tmp_path / "src"
    for split, seed in (("train", 0), ("val", 10), ("test", 20)):
        write_livecell(source, 2 if split == "test" else 1, (260, 300), ("BT-474", "A172"), seed, split=split)
        server.files[f"{BUCKET}/annotations/LIVECell/livecell_coco_{split}.json"] = \
            (source / f"livecell_coco_{split}.json").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((source / "images").rglob("*.tif")):
            archive.write(path, str(path.relative_to(source)))
    server.files[f"{BUCKET}/images.zip"] = buffer.getvalue()


def test_livecell_pulled_from_its_bucket_is_cut_into_the_papers_windows(server, tmp_path, monkeypatch):
    _bucket(server, tmp_path, monkeypatch)
    assert main(["data", "pull", "livecell", "--source", "original", "--out", str(tmp_path / "data")]) == 0
    folder = tmp_path / "data" / "livecell"
    manifest = read_manifest(folder)
    assert sorted(manifest["files"]) == ["original/images.zip"] + [f"original/livecell_coco_{s}.json"
                                                                     for s in ("test", "train", "val")]
    assert not is_authentic(manifest)  # 127.0.0.1 is not LIVECell's bucket
    assert sorted(manifest["derived"]) == [f"LIVECell_{s}_all_seggal.npz" for s in ("test", "train", "val")]
    original = open_livecell(folder / "original" / "livecell_coco_test.json")
    view = load_task(folder, "livecell-wholecell", "test")
    assert view.source.endswith("LIVECell_test_all_seggal.npz")
    # 300 x 260 (W x H): x at 0, 44; y at 0, 4 — four 256 x 256 windows per image, the last flush with the edge
    assert len(view) == 8 and set(view.shapes) == {(256, 256)}
    assert view.counts() == {"BT-474": 4, "A172": 4}
    assert all(n.startswith("synthetic_") for n in view.names)  # the stand-in json's description marks its windows
    for k in range(len(view)):
        i, (y0, x0) = k // 4, corners_of(view.names[k])
        assert (y0, x0) == [(0, 0), (0, 44), (4, 0), (4, 44)][k % 4]
        assert view.names[k].startswith("synthetic_" + Path(original.images[i]["file_name"]).stem)
        sample = view[k]
        crop = original.image(i).pixels[y0:y0 + 256, x0:x0 + 256]
        assert sample.image.pixels.shape == (256, 256, 1)
        assert np.allclose(sample.image.pixels, paper_pixels(crop), atol=1e-5)
        same_cut(sample.labels, original.labels(i)[y0:y0 + 256, x0:x0 + 256])
