"""Tiled inference: the oracle segmenter must be reproduced exactly, seams included."""

import tracemalloc

import numpy as np
import pytest

from seggal.backends.base import Prediction, Segmenter
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
from seggal.preprocess import sliding_windows
from seggal.tiling import segment_tiled


class Oracle(Segmenter):
    """Returns the ground truth inside each window, relabelled with shuffled ids (as a model would)."""

    def __init__(self, truth: np.ndarray, seed: int = 0):
        self.truth = truth
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def predict(self, image: Image) -> Prediction:
        y0, x0 = (int(v.split(":")[0]) for v in image.name.rsplit("[", 1)[1].rstrip("]").split(", "))
        h, w = image.shape
        window = self.truth[y0 : y0 + h, x0 : x0 + w]
        values = np.unique(window[window > 0])
        lut = np.zeros(int(self.truth.max()) + 1, np.int32)
        lut[values] = self.rng.permutation(len(values)) + 1
        self.calls += 1
        return Prediction(lut[window], np.linspace(0.5, 1.0, len(values), dtype=np.float32))


def same_up_to_relabelling(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return pairs.shape[1] == len(np.unique(a[a > 0])) == len(np.unique(b[b > 0]))


def blank(shape, channels=1):
    return Image(np.zeros((*shape, channels), np.float32), ChannelSpec(0, None) if channels == 1 else ChannelSpec())


def test_oracle_reproduces_synthetic_tissue_across_seams():
    pixels, _, cells = synthetic_tissue((520, 600), "Pancreas", seed=3)
    # cells straddling the right edge of the first window column (x = 255 | 256) and the top edge
    # of the second window row (y = 191 | 192)
    across_x = np.intersect1d(cells[:, 255], cells[:, 256])
    across_y = np.intersect1d(cells[191, :], cells[192, :])
    assert len(across_x[across_x > 0]) > 5 and len(across_y[across_y > 0]) > 5
    oracle = Oracle(cells)
    pred = segment_tiled(oracle, Image(pixels), progress=None)
    assert oracle.calls == len(sliding_windows(520, 600))
    assert same_up_to_relabelling(cells, pred.labels)
    assert pred.labels.dtype == np.int32 and pred.labels.max() == len(pred.scores) == cells.max()
    assert np.array_equal(np.unique(pred.labels), np.arange(cells.max() + 1))


@pytest.mark.parametrize("transpose", [False, True])
def test_oracle_exact_for_64px_cells_at_every_offset(transpose):
    # Thin cells 64 px wide, one per row band, starting at every column from 128 to 399: every
    # possible position relative to the seams of windows starting at x = 0, 192, 344.
    truth = np.zeros((900, 600), np.int32)
    for i in range(272):
        truth[3 * i : 3 * i + 3, 128 + i : 192 + i] = i + 1
    truth = truth.T.copy() if transpose else truth
    pred = segment_tiled(Oracle(truth), blank(truth.shape))
    assert same_up_to_relabelling(truth, pred.labels)


def test_bigger_cells_need_a_bigger_overlap():
    truth = np.zeros((640, 640), np.int32)
    for i in range(78):
        truth[8 * i : 8 * i + 6, 100 + i : 200 + i] = i + 1  # 100 px wide, across the seam at 224
    cut = segment_tiled(Oracle(truth), blank(truth.shape))  # overlap 64 < 100: documented limit
    assert not same_up_to_relabelling(truth, cut.labels)
    whole = segment_tiled(Oracle(truth), blank(truth.shape), window=256, step=128)  # overlap 128
    assert same_up_to_relabelling(truth, whole.labels)


def test_image_smaller_than_window_is_one_call():
    truth = np.zeros((100, 130), np.int32)
    truth[10:20, 10:30], truth[50:90, 100:129] = 1, 2
    oracle = Oracle(truth)
    pred = segment_tiled(oracle, blank(truth.shape))
    assert oracle.calls == 1 and same_up_to_relabelling(truth, pred.labels)


class WholeWindow(Segmenter):
    """Claims every window as one instance: every window's instance collides with its neighbours'."""

    def predict(self, image):
        return Prediction(np.ones(image.shape, np.int32), np.array([0.9], np.float32))


def test_conflicts_resolved_without_duplicates_and_progress_reported():
    seen = []
    pred = segment_tiled(WholeWindow(), blank((500, 500)), progress=lambda done, total: seen.append((done, total)))
    n_windows = len(sliding_windows(500, 500))
    assert seen == [(i, n_windows) for i in range(1, n_windows + 1)]
    assert (pred.labels[:256, :256] == 1).all()  # first window written first, whole
    # later windows only take free pixels, and only when at least half of their instance is free
    assert 1 < len(pred.scores) < n_windows
    assert np.array_equal(np.unique(pred.labels), np.arange(len(pred.scores) + 1))


class Broken(Segmenter):
    def predict(self, image):
        return Prediction(np.zeros((3, 3), np.int32), np.zeros(0, np.float32))


def test_wrong_prediction_shape_is_a_clear_error():
    with pytest.raises(SegGalError, match="shape"):
        segment_tiled(Broken(), blank((300, 300)))


class Grid(Segmenter):
    """Cheap fixed prediction: a grid of 16 x 16 squares (same array every call)."""

    def __init__(self):
        self.labels = np.zeros((256, 256), np.int32)
        for i, y in enumerate(range(4, 250, 24)):
            for j, x in enumerate(range(4, 250, 24)):
                self.labels[y : y + 16, x : x + 16] = i * 11 + j + 1
        self.scores = np.ones(int(self.labels.max()), np.float32)

    def predict(self, image):
        h, w = image.shape
        return Prediction(self.labels[:h, :w], self.scores)


def test_memory_is_bounded_on_4096_images():
    image = blank((4096, 4096))
    canvas_bytes = 4096 * 4096 * 4
    tracemalloc.start()
    pred = segment_tiled(Grid(), image)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # canvas + one window's temporaries; holding the 484 window outputs would add ~127 MB
    assert peak < canvas_bytes + 24 * 2**20
    assert pred.labels.shape == (4096, 4096) and pred.labels.max() > 10000


class Recorder(Segmenter):
    def __init__(self):
        self.ranges = []

    def predict(self, image):
        self.ranges.append((float(image.pixels.min()), float(image.pixels.max())))
        return Prediction(np.zeros(image.shape, np.int32), np.zeros(0, np.float32))


def test_each_window_is_normalised_and_cut_as_the_segmenters_preprocessing_says():
    from seggal.backends.base import network_input
    from seggal.preprocess import Preprocessing
    from seggal.tiling import segment_image

    class Inputs(Recorder):
        def predict(self, image):
            self.ranges.append(image.shape)
            x = network_input(image, self.preprocessing)
            assert 0 <= x.min() and x.max() <= 1  # each window normalised, as the paper did each crop
            return Prediction(np.zeros(image.shape, np.int32), np.zeros(0, np.float32))

    rng = np.random.default_rng(0)
    image = Image(rng.gamma(2.0, 300.0, (300, 400, 2)).astype(np.float32))
    paper = Inputs()
    segment_image(paper, image)
    assert len(paper.ranges) == len(sliding_windows(300, 400)) and max(paper.ranges) == (256, 256)
    small = Inputs()
    small.preprocessing = Preprocessing(window=128, step=64)
    pred = segment_image(small, image)
    assert len(small.ranges) == len(sliding_windows(300, 400, 128, 64)) and max(small.ranges) == (128, 128)
    assert pred.labels.max() == 0 and pred.scores.shape == (0,)


class BatchingOracle(Oracle):
    """The oracle, recording how many windows each predict_batch call received."""

    def __init__(self, truth: np.ndarray):
        super().__init__(truth)
        self.batches: list[int] = []

    def predict_batch(self, images):
        self.batches.append(len(images))
        return super().predict_batch(images)


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_windows_go_to_the_segmenter_in_batches_with_the_same_result(batch_size):
    pixels, _, cells = synthetic_tissue((520, 600), "Pancreas", seed=3)
    n = len(sliding_windows(520, 600))
    oracle = BatchingOracle(cells)
    done = []
    pred = segment_tiled(oracle, Image(pixels), batch_size=batch_size, progress=lambda d, t: done.append((d, t)))
    assert oracle.batches == [min(batch_size, n - i) for i in range(0, n, batch_size)]
    assert done == [(i, n) for i in range(1, n + 1)]
    assert same_up_to_relabelling(cells, pred.labels)
    with pytest.raises(SegGalError, match="batch size must be at least 1"):
        segment_tiled(oracle, Image(pixels), batch_size=0)
