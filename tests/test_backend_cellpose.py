"""Cellpose backend on the real cellpose 3.1 network, CPU, tiny synthetic data."""

import numpy as np
import pytest

from seggal.backends import build
from seggal.backends.base import FitSettings
from seggal.backends.cellpose import PRETRAINED, CellposeSegmenter
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image


@pytest.fixture(scope="module")
def trained(samples):
    """An untrained model, then three one-step epochs on the same crops (same seed): the loss must fall."""
    segmenter = build("cellpose", device="cpu")
    untrained = segmenter.predict(samples[0].image)
    segmenter.patch = 64
    losses = [segmenter.train_epoch(samples, FitSettings(batch_size=2, learning_rate=0.1, seed=0)) for _ in range(3)]
    return segmenter, untrained, losses


def test_untrained_network_predicts_a_label_image(trained, samples):
    _, untrained, _ = trained
    assert untrained.labels.shape == (64, 64) and untrained.labels.dtype == np.int32
    assert untrained.scores.shape == (int(untrained.labels.max()),)


def test_training_steps_lower_the_loss(trained):
    segmenter, _, losses = trained
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert segmenter.epochs_done == 3 and segmenter.optimizer is not None
    assert 5.0 <= segmenter.model.diam_labels < 30.0  # the training cells' diameter, as train_seg sets it


def test_save_and_reload_predict_identically(trained, samples, tmp_path):
    segmenter, _, _ = trained
    segmenter.save(tmp_path)
    restored = build("cellpose", checkpoint=tmp_path, device="cpu")
    assert restored.epochs_done == 3 and restored.model.diam_labels == pytest.approx(segmenter.model.diam_labels)
    image = samples[1].image
    a, b = segmenter.predict(image), restored.predict(image)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.scores, b.scores)
    with pytest.raises(SegGalError, match="not stardist|not a StarDist"):
        build("stardist", checkpoint=tmp_path)


def test_channels_follow_cellposes_layout(trained):
    segmenter, _, _ = trained
    pixels = np.stack([np.full((8, 8), 1.0), np.full((8, 8), 2.0)], -1).astype(np.float32)
    pixels[0, 0] = 0.0
    dual = segmenter.cellpose_input(Image(pixels, ChannelSpec(1, 0)))  # nuclear = channel 1, membrane = channel 0
    membrane_only = segmenter.cellpose_input(Image(pixels, ChannelSpec(None, 0)))
    np.testing.assert_array_equal(dual[:, :, 0], membrane_only[:, :, 0])  # channel to segment: membrane
    assert np.all(membrane_only[:, :, 1] == 0) and dual[:, :, 1].max() == 1  # second: nuclear, else zeros


def test_published_weights_offline_are_a_clear_error_and_load_when_present(tmp_path, monkeypatch):
    import torch
    from cellpose.resnet_torch import CPnet

    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))
    monkeypatch.setenv("SEGGAL_OFFLINE", "1")
    with pytest.raises(SegGalError, match=r"download https://www.cellpose.org/models/nucleitorch_0 to .*nucleitorch_0"):
        build("cellpose", checkpoint="nuclei", device="cpu")
    with pytest.raises(SegGalError, match="not a published Cellpose model"):
        build("cellpose", checkpoint="cyto9", device="cpu")
    torch.manual_seed(1)
    net = CPnet([2, 32, 64, 128, 256], 3, sz=3, mkldnn=False, max_pool=True, diam_mean=17.0)
    torch.save(net.state_dict(), tmp_path / PRETRAINED["nuclei"])  # the format of Cellpose's published files
    segmenter = build("cellpose", checkpoint="nuclei", device="cpu")
    assert isinstance(segmenter, CellposeSegmenter) and segmenter.nuclear_only and segmenter.cellpose_normalize
    for name, value in net.state_dict().items():
        assert torch.equal(segmenter.net.state_dict()[name], value), name
