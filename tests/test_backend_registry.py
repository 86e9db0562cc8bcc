"""seggal.backends: build / default_method / offline_checkpoint / segment_image / network_input / device."""

import numpy as np
import pytest

from seggal.backends import build, default_method, offline_checkpoint
from seggal.backends.base import network_input
from seggal.tiling import segment_image
from seggal.backends.baseline import BaselineSegmenter
from seggal.backends.device import autocast, pick_device
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
from seggal.methods import METHODS, availability
from seggal.results import all_tissue_scores


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An installation with no published weights, no local checkpoints and no shipped model."""
    from seggal import hub

    monkeypatch.setattr(hub, "EMBEDDED_DEFAULT", tmp_path / "shipped")
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path / "cellpose"))
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.delenv("SEGGAL_SAM_CHECKPOINT", raising=False)
    return tmp_path


def test_build_refuses_unknown_and_unavailable_methods():
    with pytest.raises(SegGalError, match="unknown method"):
        build("no-such-method")
    with pytest.raises(SegGalError, match="cannot run in this installation: deepcell 0.12.10"):
        build("mesmer")
    with pytest.raises(SegGalError, match="unknown target"):
        build("baseline", target="cytoplasm")


def test_every_blocked_method_says_why():
    for m in METHODS:
        status = availability(m)
        assert status.available or len(status.reason) > 20


def test_default_is_the_baseline_without_weights_and_the_best_published_method_with_them(no_weights, monkeypatch):
    assert default_method() == "baseline" and default_method("tissuenet-nuclei-nuclear") == "baseline"
    assert offline_checkpoint("baseline") == "" and offline_checkpoint("cellpose") is None
    (no_weights / "cellpose").mkdir()
    (no_weights / "cellpose" / "nucleitorch_0").write_bytes(b"weights")
    sam = no_weights / "sam_vit_b.pth"
    sam.write_bytes(b"weights")
    monkeypatch.setenv("SEGGAL_SAM_CHECKPOINT", str(sam))
    assert offline_checkpoint("cellpose", "tissuenet-nuclei-nuclear") == "nuclei"
    assert offline_checkpoint("cellpose", "tissuenet-wholecell-dual") is None  # cyto3 is not there
    scores = all_tissue_scores()
    nuclei = scores[scores["task"] == "tissuenet-nuclei-nuclear"].set_index("method_id")["accuracy"]
    expected = "cellpose" if nuclei["cellpose"] >= nuclei["sam"] else "sam"
    assert default_method("tissuenet-nuclei-nuclear") == expected
    assert default_method("tissuenet-wholecell-dual") == "sam"


def test_network_input_normalises_and_zero_fills():
    pixels = np.random.default_rng(0).uniform(10, 1000, (20, 30, 2)).astype(np.float32)
    x = network_input(Image(pixels, ChannelSpec(None, 1)))
    assert x.shape == (20, 30, 2) and x.dtype == np.float32
    assert np.all(x[:, :, 0] == 0) and x[:, :, 1].min() == 0 and x[:, :, 1].max() == 1
    y = network_input(Image(pixels, ChannelSpec(1, 0)))
    np.testing.assert_array_equal(y[:, :, 0], x[:, :, 1])


def test_segment_image_tiles_only_images_larger_than_a_window():
    pixels, _, _ = synthetic_tissue((300, 280), "Breast", seed=1)
    image = Image(pixels, ChannelSpec(0, None))
    calls = []
    tiled = segment_image(BaselineSegmenter(), image, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (4, 4) and tiled.labels.shape == (300, 280) and tiled.labels.max() > 50
    assert tiled.scores.shape == (int(tiled.labels.max()),)
    calls.clear()
    small = Image(pixels[:200, :200], ChannelSpec(0, None))
    direct = segment_image(BaselineSegmenter(), small, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 1)]
    np.testing.assert_array_equal(direct.labels, BaselineSegmenter().predict(small).labels)


def test_pick_device():
    import torch

    assert pick_device("cpu") == "cpu" and pick_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert pick_device("cuda") == "cuda"
    else:
        with pytest.raises(SegGalError, match="no CUDA GPU"):
            pick_device("cuda")
    with pytest.raises(SegGalError, match="unknown device"):
        pick_device("tpu")
    with autocast("cpu"):
        assert not torch.is_autocast_enabled()


def test_hub_references_go_through_the_hub_cache(tmp_path, monkeypatch):
    # huggingface_hub reads its environment once, at import: patch its constants (restored after the test)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(SegGalError, match="checkpoint 'seggal/no-such-model@v1'"):
        build("baseline", checkpoint="seggal/no-such-model@v1")
    with pytest.raises(SegGalError, match="not a baseline checkpoint"):
        build("baseline", checkpoint=str(tmp_path / "missing" / "folder"))
