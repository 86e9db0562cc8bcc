"""Scale-out engine: equal to in-process tiling (oracle), resumable, per-file failures, a real 2-process cluster."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from seggal.backends.base import Prediction, Segmenter
from seggal.distributed import (Recipe, connect, plan_blocks, run_cli, segment_file, segment_large)
from seggal.errors import SegGalError
from seggal.formats import open_image
from seggal.image import ChannelSpec, Image
from seggal.tiling import segment_image, window_grid


def same_up_to_relabelling(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return pairs.shape[1] == len(np.unique(a[a > 0])) == len(np.unique(b[b > 0]))


class Oracle(Segmenter):
    """The truth inside each window (located by the window's name), with ids shuffled per call."""

    def __init__(self, truth: np.ndarray, log: str | None = None):
        self.truth, self.log, self.rng = truth, log, np.random.default_rng(os.getpid())

    def predict(self, image: Image) -> Prediction:
        y0, x0 = (int(v.split(":")[0]) for v in image.name.rsplit("[", 1)[1].rstrip("]").split(", "))
        window = np.asarray(self.truth[y0 : y0 + image.shape[0], x0 : x0 + image.shape[1]])
        kill = Path(f"{self.log}.kill")
        if self.log and kill.exists() and kill.read_text() == f"{y0},{x0}":
            raise RuntimeError("killed")
        values = np.unique(window[window > 0])
        lut = np.zeros(int(window.max()) + 1, np.int32)
        lut[values] = self.rng.permutation(len(values)) + 1
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{y0},{x0}\n")
        return Prediction(lut[window], np.ones(len(values), np.float32))


@dataclass(frozen=True)
class OracleRecipe:
    """Picklable: each worker process builds its oracle once (and logs the build)."""

    truth: str
    log: str

    def __call__(self):
        with open(self.log + ".builds", "a") as f:
            f.write(f"{os.getpid()}\n")
        return Oracle(np.load(self.truth, mmap_mode="r"), self.log)


def dense_cells(shape, seed=0, spacing=40, size=(14, 34)):
    """Rectangular cells on a jittered grid covering the whole image: cells on every seam."""
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, np.int32)
    n = 0
    for y in range(0, shape[0] - 4, spacing):
        for x in range(0, shape[1] - 4, spacing):
            h, w = rng.integers(*size, 2)
            dy, dx = rng.integers(0, spacing - size[0] // 2, 2)
            n += 1
            truth[y + dy : y + dy + h, x + dx : x + dx + w] = n
    values = np.unique(truth[truth > 0])
    lut = np.zeros(n + 1, np.int32)
    lut[values] = np.arange(1, len(values) + 1)
    return lut[truth]


def write_image(path, truth, channels=2):
    pixels = np.stack([(truth > 0).astype(np.uint16) * 1000 + c for c in range(channels)])
    tifffile.imwrite(path, pixels, tile=(256, 256), metadata={"axes": "CYX"})


@pytest.fixture
def oracle_setup(tmp_path):
    def make(shape, seed=0):
        truth = dense_cells(shape, seed)
        np.save(tmp_path / "truth.npy", truth)
        write_image(tmp_path / "image.tif", truth)
        return truth, OracleRecipe(str(tmp_path / "truth.npy"), str(tmp_path / "calls.log"))
    return make


def calls(recipe):
    path = Path(recipe.log)
    return path.read_text().split() if path.exists() else []


def test_2_process_cluster_on_4096_equals_in_process_tiling(oracle_setup, tmp_path):
    truth, recipe = oracle_setup((4096, 4096))
    image = open_image(tmp_path / "image.tif")
    channels = ChannelSpec(0, 1)
    blocks = plan_blocks(image.shape, 1024)
    assert len(blocks) == 16
    with connect("local", workers=2) as client:
        n = segment_large(recipe, image, channels, tmp_path / "labels.tif", client, block=1024)
    labels = tifffile.imread(tmp_path / "labels.tif")
    assert labels.shape == truth.shape
    assert same_up_to_relabelling(truth, labels)  # every cell, seams included, exactly once
    assert n == truth.max() and np.array_equal(np.unique(labels), np.arange(n + 1))  # unique, consecutive
    pixels = Image(np.stack([truth > 0, truth > 0], -1).astype(np.float32), channels, "image.tif")
    in_process = segment_image(Oracle(truth), pixels).labels
    assert same_up_to_relabelling(in_process, labels)
    # every window predicted once, by two processes that each built the segmenter once
    assert sorted(calls(recipe)) == sorted(f"{y},{x}" for (y, *_), (x, *_) in window_grid(4096, 4096))
    builds = Path(recipe.log + ".builds").read_text().split()
    assert len(builds) == len(set(builds)) == 2
    assert not (tmp_path / "labels.tif.parts").exists()


class Colliding(Segmenter):
    """Deterministic, imperfect: every window claims a big square at its centre, so windows collide."""

    def predict(self, image):
        labels = np.zeros(image.shape, np.int32)
        labels[40:200, 40:200], labels[:30, :] = 1, 2
        return Prediction(labels[: image.shape[0], : image.shape[1]], np.array([0.9, 0.5], np.float32))


@dataclass(frozen=True)
class CollidingRecipe:
    def __call__(self):
        return Colliding()


def test_blocks_equal_in_process_tiling_even_when_windows_collide(tmp_path):
    pixels = np.zeros((2, 900, 1300), np.uint16)
    tifffile.imwrite(tmp_path / "image.tif", pixels, metadata={"axes": "CYX"})
    image = open_image(tmp_path / "image.tif")
    segment_large(CollidingRecipe(), image, ChannelSpec(0, None), tmp_path / "labels.tif", block=384)
    expected = segment_image(Colliding(), Image(np.zeros((900, 1300, 1), np.float32), ChannelSpec(0, None))).labels
    assert np.array_equal(tifffile.imread(tmp_path / "labels.tif"), expected)  # ids too


def test_killed_job_resumes_from_finished_blocks(oracle_setup, tmp_path):
    truth, recipe = oracle_setup((1100, 1100))
    image = open_image(tmp_path / "image.tif")
    out = tmp_path / "labels.tif"
    blocks = plan_blocks(image.shape, 512)
    with pytest.raises(RuntimeError, match="killed"):
        Path(recipe.log + ".kill").write_text("576,576")  # the job dies on this window
        segment_large(recipe, image, ChannelSpec(0, 1), out, block=512)
    assert not out.exists()
    done = sorted(p.name for p in (tmp_path / "labels.tif.parts").glob("block_*.npz"))
    assert 0 < len(done) < len(blocks)
    first = len(calls(recipe))
    Path(recipe.log + ".kill").unlink()
    segment_large(recipe, image, ChannelSpec(0, 1), out, block=512)
    finished = {(b.i, b.j) for b in blocks if b.name in done}
    redone = len(calls(recipe)) - first
    assert redone == sum(len(b.windows) for b in blocks if (b.i, b.j) not in finished)  # finished blocks skipped
    assert same_up_to_relabelling(truth, tifffile.imread(out))
    assert not (tmp_path / "labels.tif.parts").exists()


def test_folder_of_mixed_files_with_a_bad_one(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    truth = dense_cells((200, 230))
    write_image(folder / "a.tif", truth)
    np.save(folder / "b.npy", (truth > 0).astype(np.float32) * 5)
    from PIL import Image as PILImage

    PILImage.fromarray(((truth > 0) * 200).astype(np.uint8)).save(folder / "c.png")
    (folder / "d.tif").write_bytes(b"not a tiff")
    recipe = Recipe("baseline", target="nuclei")
    status = run_cli(folder, tmp_path / "out", recipe, ChannelSpec(0, None))
    captured = capsys.readouterr()
    assert status == 2
    assert "3 segmented, 0 skipped (output exists), 1 failed" in captured.out
    assert "error: d.tif:" in captured.err and "cannot read" in captured.err
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == ["a_labels.tif", "b_labels.tif", "c_labels.tif"]
    for name in outputs:
        assert tifffile.imread(tmp_path / "out" / name).max() > 10
    # a rerun skips what is written and still reports the bad file
    status = run_cli(folder, tmp_path / "out", recipe, ChannelSpec(0, None))
    assert status == 2 and "0 segmented, 3 skipped (output exists), 1 failed" in capsys.readouterr().out


def test_single_small_image_stays_in_process_and_bad_blocks_are_refused(tmp_path):
    truth = dense_cells((120, 150))
    write_image(tmp_path / "a.tif", truth)
    status, message = segment_file(Recipe("baseline", target="nuclei"), str(tmp_path / "a.tif"),
                                   str(tmp_path / "a_labels.tif"), ChannelSpec(0, None))
    assert status == "done" and tifffile.imread(tmp_path / "a_labels.tif").max() > 5
    with pytest.raises(SegGalError, match="smaller than the 256-pixel window"):
        plan_blocks((5000, 5000), 100)
