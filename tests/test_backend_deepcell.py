"""The deepcell backend (Mesmer, FeatureNet in a tf-keras worker process) and the converter of the paper's
deepcell ``.h5`` weights: import → segment gives exactly what deepcell itself predicts from the same file.

Needs `make deepcell` (skipped, saying so, without it). Costly: deepcell's own run, the conversion and the
converted checkpoint each start a TensorFlow process and build the paper's full-size network (Mesmer: ResNet-50,
25.6 M parameters; FeatureNet: full-resolution dilated convolutions on 256 x 256): measured about 70 s of CPU,
160 s of wall time on the shared two cores.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seggal.backends import build
from seggal.backends.base import network_input
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
from seggal.methods import availability
from seggal.zoo.convert import convert

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(importlib.util.find_spec("deepcell") is None or
                                importlib.util.find_spec("tf_keras") is None,
                                reason="deepcell is not installed (make deepcell)")


@pytest.fixture(scope="module")
def image() -> Image:
    pixels, _, _ = synthetic_tissue((256, 256), "Breast", seed=5)
    return Image(pixels, ChannelSpec(0, 1))


def _deepcell_reference(method: str, channels: int, x: np.ndarray, out: Path) -> tuple[list, np.ndarray]:
    """Run tests/deepcell_reference.py (deepcell's own build, save_weights, predict, the paper's
    post-processing) on ``x`` → (outputs, labels); the .h5 files land in ``out``."""
    out.mkdir()
    np.save(out / "input.npy", x)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "deepcell_reference.py"), method, str(channels),
                           str(out / "input.npy"), str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = [np.load(p) for p in sorted(out.glob("outputs_*.npy"))]
    return outputs, np.load(out / "labels.npy")


@pytest.mark.parametrize("method, task, source", [
    ("mesmer", "tissuenet-wholecell-dual", "mesmer.h5"),
    ("featurenet", "tissuenet-nuclei-dual", "."),
])
def test_paper_weights_import_then_segment_like_deepcell(tmp_path, image, method, task, source):
    assert availability(method).available
    x = network_input(image)[np.newaxis]  # the preprocessed window the paper's scripts fed
    outputs, labels = _deepcell_reference(method, 2, x, tmp_path / "paper")
    folder = convert(tmp_path / "paper" / source, method=method, task=task, training_set="All",
                     out=tmp_path / "checkpoint")
    meta = json.loads((folder / "backend.json").read_text())
    assert meta["channels"] == ["nuclear", "membrane"] and meta["network"]["kwargs"]["input_shape"] == [256, 256, 2]
    segmenter = build(method, folder)
    try:
        ours = segmenter.outputs(x)
        assert len(ours) == len(outputs)
        for a, b in zip(ours, outputs):
            np.testing.assert_array_equal(a, b)
        prediction = segmenter.predict(image)
        np.testing.assert_array_equal(prediction.labels > 0, labels[0] > 0)
        # same instances: each reference label maps to exactly one of ours
        pairs = np.unique(np.stack([labels[0].ravel(), prediction.labels.ravel()]), axis=1)
        assert pairs.shape[1] == len(np.unique(labels[0]))
        assert prediction.labels.dtype == np.int32 and len(prediction.scores) == prediction.labels.max()
        if method == "featurenet":  # the cheaper network: padding to the window, refusal beyond it
            small = segmenter.predict(Image(image.pixels[:100, :80], image.channels))
            assert small.labels.shape == (100, 80) and np.array_equal(np.unique(small.labels),
                                                                      np.arange(small.labels.max() + 1))
            with pytest.raises(SegGalError, match="larger than the network's 256 x 256 window"):
                segmenter.predict(Image(np.zeros((300, 300, 2), np.float32), image.channels))
    finally:
        segmenter.worker.close()


def test_converter_refuses_missing_files_and_retinamask(tmp_path):
    (tmp_path / "conv_fgbg_model.h5").write_bytes(b"")
    with pytest.raises(SegGalError, match="missing conv_edgeseg_model.h5"):
        convert(tmp_path, method="featurenet", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "o")
    with pytest.raises(SegGalError, match="get_anchor_parameters"):
        convert(tmp_path / "conv_fgbg_model.h5", method="retinamask", task="tissuenet-nuclei-dual",
                training_set="All", out=tmp_path / "o")
    (tmp_path / "conv_edgeseg_model.h5").write_bytes(b"not hdf5")
    with pytest.raises(SegGalError, match="does not fit the paper's FeatureNet network on 1 channel"):
        convert(tmp_path, method="featurenet", task="tissuenet-nuclei-nuclear", training_set="All", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()
