"""StarDist backend on the real stardist 0.9 / TensorFlow model, CPU, small config, tiny synthetic data."""

import json

import numpy as np
import pytest

from seggal.backends import build
from seggal.backends.base import FitSettings
from seggal.image import Sample
from seggal.backends.stardist import from_scratch
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image

SMALL = {"n_rays": 16, "unet_n_depth": 2, "unet_n_filter_base": 8, "net_conv_after_unet": 16}


@pytest.fixture(scope="module")
def trained(samples):
    segmenter = from_scratch(**SMALL)
    untrained = segmenter.predict(samples[0].image)
    losses = [segmenter.train_epoch(samples * 2, FitSettings(batch_size=2, learning_rate=3e-3, seed=0)) for _ in range(4)]
    return segmenter, untrained, losses


def test_untrained_network_predicts_a_label_image(trained):
    _, untrained, _ = trained
    assert untrained.labels.shape == (64, 64) and untrained.labels.dtype == np.int32
    assert untrained.scores.shape == (int(untrained.labels.max()),)


def test_training_lowers_the_loss(trained):
    segmenter, _, losses = trained
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert segmenter.epochs_done == 4 and segmenter.optimizer is not None
    assert segmenter.model.config.train_patch_size == (64, 64)  # fits the 64-pixel images
    assert segmenter.model.config.train_tensorboard is False


def test_save_and_reload_predict_identically(trained, samples, tmp_path):
    segmenter, _, _ = trained
    segmenter.save(tmp_path)
    meta = json.loads((tmp_path / "backend.json").read_text())
    assert meta["config"]["n_rays"] == 16 and meta["config"]["n_channel_in"] == 2
    restored = build("stardist", checkpoint=tmp_path)
    image = Image(samples[1].image.pixels, ChannelSpec(0, 1))  # a dual-channel input through the same network
    a, b = segmenter.predict(image), restored.predict(image)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.scores.shape == (int(a.labels.max()),)
    meta["backend"] = "cellpose"
    (tmp_path / "backend.json").write_text(json.dumps(meta))
    with pytest.raises(SegGalError, match="not stardist"):
        build("stardist", checkpoint=tmp_path)


def test_images_smaller_than_the_network_stride_are_refused():
    tiny = [Sample(Image(np.ones((6, 6, 1), np.float32), ChannelSpec(0, None)), np.ones((6, 6), np.int32))]
    with pytest.raises(SegGalError, match="smaller than the network's stride"):
        from_scratch(**SMALL).train_epoch(tiny, FitSettings(batch_size=1))


def test_a_smaller_training_patch_from_the_architecture_options_is_used(samples):
    """``--arch '{"train_patch_size": [32, 32]}'`` trains on 32 × 32 crops of the 64 × 64 images (four times
    cheaper steps), not on the whole image."""
    segmenter = build("stardist", arch={**SMALL, "train_patch_size": [32, 32]})
    segmenter.train_epoch(samples, FitSettings(batch_size=2, learning_rate=3e-3, max_iters=1))
    assert tuple(segmenter.model.config.train_patch_size) == (32, 32)


def test_architecture_options_build_smaller_networks_and_survive_a_checkpoint(tmp_path):
    small, default = build("stardist", arch={"unet_n_filter_base": 8}), build("stardist")
    assert small.model.keras_model.count_params() < default.model.keras_model.count_params() / 4
    small.save(tmp_path)
    assert build("stardist", checkpoint=tmp_path).model.config.unet_n_filter_base == 8
    with pytest.raises(SegGalError, match="unknown architecture option.*unet_filters"):
        build("stardist", arch={"unet_filters": 8})
    with pytest.raises(SegGalError, match="not to a checkpoint"):
        build("stardist", checkpoint=tmp_path, arch={"unet_n_filter_base": 8})
    with pytest.raises(SegGalError, match="takes no architecture options"):
        build("baseline", arch={"unet_n_filter_base": 8})


def test_calibrated_thresholds_are_used_and_saved(trained, samples, tmp_path):
    segmenter, _, _ = trained
    found = segmenter.calibrate(samples)
    assert 0 < found["prob"] < 1 and found["nms"] in (0.3, 0.4, 0.5)
    assert segmenter.model.thresholds.prob == pytest.approx(found["prob"])
    segmenter.save(tmp_path)
    restored = build("stardist", checkpoint=tmp_path)
    assert restored.model.thresholds.prob == pytest.approx(found["prob"])
    assert restored.model.thresholds.nms == pytest.approx(found["nms"])
    with pytest.raises(SegGalError, match="no samples"):
        segmenter.calibrate([])


def test_torch_backends_run_after_stardist_in_one_process():
    """StarDist first, then a torch optimiser (which loads Triton): once a segmentation fault."""
    import subprocess
    import sys

    code = ("from seggal.backends import build\n"
            "build('stardist', arch={'unet_n_filter_base': 8, 'unet_n_depth': 2})\n"
            "import torch.optim\n"
            "from torch.utils._triton import has_triton_package\n"
            "has_triton_package()\n"
            "print('both loaded')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "both loaded" in done.stdout, done.stderr[-2000:]
