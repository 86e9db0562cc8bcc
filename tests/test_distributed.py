"""Scale-out engine: equal to in-process tiling (oracle), resumable, per-file failures, a real 2-process cluster."""

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from seggal.backends.base import Prediction, Segmenter
from seggal.distributed import (Recipe, _worker_name, connect, plan_blocks, run_cli, segment_file, segment_large,
                               worker_device)
from seggal.errors import SegGalError
from seggal.formats import open_image
from seggal.image import ChannelSpec, Image
from seggal.io import read_labels, read_scores
from seggal.preprocess import Preprocessing
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
    # the local cluster's workers are named 0 and 1, which is how GPU workers spread over GPUs
    with connect("local", workers=2) as client:
        names = sorted(client.gather([client.submit(_worker_name, pure=False, workers=[address])
                                      for address in client.scheduler_info()["workers"]]))
    assert names == [0, 1] and [worker_device("cuda", k, 2) for k in names] == ["cuda:0", "cuda:1"]


def test_local_workers_spread_over_gpus_and_keep_an_explicit_device():
    assert [worker_device(None, k, 4) for k in range(6)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1"]
    assert worker_device("cuda", 3, 1) == "cuda"  # one GPU (a SLURM job's own): as asked
    assert worker_device("cuda:2", 0, 4) == "cuda:2" and worker_device("cpu", 1, 4) == "cpu"
    assert worker_device("cuda", None, 4) == "cuda"  # outside a worker, or a worker named otherwise
    assert worker_device(None, 0, 0) is None and _worker_name() is None


class Colliding(Segmenter):
    """Deterministic, imperfect: every window claims a big square at its centre, so windows collide."""

    def __init__(self, preprocessing: Preprocessing = Preprocessing()):
        self.preprocessing = preprocessing

    def predict(self, image):
        labels = np.zeros(image.shape, np.int32)
        labels[40:200, 40:200], labels[:30, :] = 1, 2
        return Prediction(labels[: image.shape[0], : image.shape[1]], np.array([0.9, 0.5], np.float32))


@dataclass(frozen=True)
class CollidingRecipe:
    window: int = 256
    step: int = 192

    def __call__(self):
        return Colliding(Preprocessing(window=self.window, step=self.step))


def test_blocks_equal_in_process_tiling_even_when_windows_collide(tmp_path):
    pixels = np.zeros((2, 900, 1300), np.uint16)
    tifffile.imwrite(tmp_path / "image.tif", pixels, metadata={"axes": "CYX"})
    image = open_image(tmp_path / "image.tif")
    segment_large(CollidingRecipe(), image, ChannelSpec(0, None), tmp_path / "labels.tif", block=384)
    expected = segment_image(Colliding(), Image(np.zeros((900, 1300, 1), np.float32), ChannelSpec(0, None))).labels
    assert np.array_equal(tifffile.imread(tmp_path / "labels.tif"), expected)  # ids too


def test_blocks_use_the_segmenters_window_and_step(tmp_path):
    """A checkpoint recording a 160-pixel window at 100-pixel steps: the Dask result still equals the
    in-process one (which reads the record), ids and scores sidecar included."""
    tifffile.imwrite(tmp_path / "image.tif", np.zeros((2, 700, 900), np.uint16), metadata={"axes": "CYX"})
    recipe = CollidingRecipe(160, 100)
    n = segment_large(recipe, open_image(tmp_path / "image.tif"), ChannelSpec(0, None), tmp_path / "labels.tif",
                      block=384)
    expected = segment_image(recipe(), Image(np.zeros((700, 900, 1), np.float32), ChannelSpec(0, None)))
    default = segment_image(Colliding(), Image(np.zeros((700, 900, 1), np.float32), ChannelSpec(0, None))).labels
    assert not np.array_equal(expected.labels, default)  # the record matters on this image
    assert np.array_equal(tifffile.imread(tmp_path / "labels.tif"), expected.labels)
    assert n == expected.labels.max() and np.array_equal(read_scores(tmp_path / "labels.tif"), expected.scores)


def test_killed_job_resumes_from_finished_blocks(oracle_setup, tmp_path):
    truth, recipe = oracle_setup((1100, 1100))
    image = open_image(tmp_path / "image.tif")
    out = tmp_path / "labels.tif"
    blocks = plan_blocks(image.shape, 512)
    Path(recipe.log + ".kill").write_text("576,576")  # the job dies on this window: a clear error, no traceback
    with pytest.raises(SegGalError, match=r"image.tif, block 1,1 .*RuntimeError: killed\n.*rerun the same command"):
        segment_large(recipe, image, ChannelSpec(0, 1), out, block=512)
    assert not out.exists() and not (tmp_path / "labels.scores.csv").exists()
    done = sorted(p.name for p in (tmp_path / "labels.tif.parts").glob("block_*.npz"))
    assert 0 < len(done) < len(blocks)
    first = len(calls(recipe))
    Path(recipe.log + ".kill").unlink()
    segment_large(recipe, image, ChannelSpec(0, 1), out, block=512)
    finished = {(b.i, b.j) for b in blocks if b.name in done}
    redone = len(calls(recipe)) - first
    assert redone == sum(len(b.windows) for b in blocks if (b.i, b.j) not in finished)  # finished blocks skipped
    assert same_up_to_relabelling(truth, tifffile.imread(out))
    assert len(read_scores(out)) == truth.max()
    assert not (tmp_path / "labels.tif.parts").exists()


def test_a_failing_block_on_a_2_process_cluster_is_a_clear_error(oracle_setup, tmp_path):
    truth, recipe = oracle_setup((600, 600))
    Path(recipe.log + ".kill").write_text("192,192")
    with connect("local", workers=2) as client, pytest.raises(SegGalError, match="RuntimeError: killed"):
        segment_large(recipe, open_image(tmp_path / "image.tif"), ChannelSpec(0, 1), tmp_path / "labels.tif",
                      client, block=384)
    assert not (tmp_path / "labels.tif").exists()


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
    with pytest.raises(SegGalError, match="1 of 4 images failed"):
        run_cli(folder, tmp_path / "out", recipe, ChannelSpec(0, None))
    captured = capsys.readouterr()
    assert "3 segmented, 0 already written, 1 failed" in captured.out
    assert "d.tif: failed:" in captured.err and "cannot read" in captured.err
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == ["a_labels.scores.csv", "a_labels.tif", "b_labels.scores.csv", "b_labels.tif",
                       "c_labels.scores.csv", "c_labels.tif", "segment_report.csv"]
    rows = {r["image"]: r for r in csv.DictReader((tmp_path / "out" / "segment_report.csv").open())}
    assert list(rows) == ["a.tif", "b.npy", "c.png", "d.tif"]
    assert rows["d.tif"]["status"] == "failed" and "cannot read" in rows["d.tif"]["reason"] and not rows["d.tif"]["output"]
    for name in "abc":
        labels = read_labels(tmp_path / "out" / f"{name}_labels.tif")
        assert labels.max() > 10 and len(read_scores(tmp_path / "out" / f"{name}_labels.tif")) == labels.max()
        assert rows[next(k for k in rows if k[0] == name)]["instances"] == str(labels.max())
    # a rerun skips what is written and still reports the bad file
    with pytest.raises(SegGalError, match="1 of 4 images failed"):
        run_cli(folder, tmp_path / "out", recipe, ChannelSpec(0, None))
    assert "0 segmented, 3 already written, 1 failed" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "out" / "segment_report.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "failed"]


def test_collisions_and_a_failing_single_input_leave_nothing_behind(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    truth = dense_cells((120, 150))
    write_image(folder / "a.tif", truth)
    np.save(folder / "a.npy", truth.astype(np.float32))
    recipe = Recipe("baseline", target="nuclei")
    with pytest.raises(SegGalError, match=r"would write the same output file.*\n.*a_labels.tif: a.npy, a.tif"):
        run_cli(folder, tmp_path / "out", recipe, ChannelSpec(0, None), cluster="local")
    assert not (tmp_path / "out").exists()
    (tmp_path / "bad.ome.tif").write_bytes(b"II*\x00" + bytes(40))
    for out in (tmp_path / "o", tmp_path / "o.tif", tmp_path / "o.ome.zarr"):
        with pytest.raises(SegGalError, match="bad.ome.tif"):
            run_cli(tmp_path / "bad.ome.tif", out, recipe, ChannelSpec(0, None))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ome.tif", "in"]


def test_single_small_image_stays_in_process_and_bad_blocks_are_refused(tmp_path):
    truth = dense_cells((120, 150))
    write_image(tmp_path / "a.tif", truth)
    row = segment_file(Recipe("baseline", target="nuclei"), str(tmp_path / "a.tif"), str(tmp_path / "a_labels.tif"),
                       ChannelSpec(0, None))
    labels = tifffile.imread(tmp_path / "a_labels.tif")
    assert row["status"] == "ok" and row["instances"] == labels.max() > 5
    assert len(read_scores(tmp_path / "a_labels.tif")) == labels.max()
    with pytest.raises(SegGalError, match="smaller than the 256-pixel window"):
        plan_blocks((5000, 5000), 100)
