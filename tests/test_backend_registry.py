"""seggal.backends.build, seggal.gallery (entries, default method), segment_image, network_input, device, and the
preprocessing record a checkpoint carries into every loader."""

import numpy as np
import pytest

from seggal import gallery
from seggal.backends import build
from seggal.backends.base import network_input, paint
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
    monkeypatch.setattr(gallery, "EMBEDDED_DEFAULT", tmp_path / "shipped")
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path / "cellpose"))
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.delenv("SEGGAL_SAM_CHECKPOINT", raising=False)
    return tmp_path


def test_build_refuses_unknown_and_unavailable_methods():
    with pytest.raises(SegGalError, match="unknown method"):
        build("no-such-method")
    with pytest.raises(SegGalError, match="cannot run in this installation: deepcell-retinamask 0.1.1"):
        build("retinamask")
    with pytest.raises(SegGalError, match="unknown target"):
        build("baseline", target="cytoplasm")


def test_every_blocked_method_says_why():
    for m in METHODS:
        status = availability(m)
        assert status.available or len(status.reason) > 20


def test_default_is_the_baseline_without_weights_and_the_best_published_method_with_them(no_weights, monkeypatch):
    assert gallery.default_method() == "baseline" and gallery.default_method("tissuenet-nuclei-dual") == "baseline"
    assert gallery.ready_entry("baseline", "nuclei-dual").reference == ""
    assert gallery.ready_entry("cellpose", "nuclei-nuclear") is None
    assert gallery.entries("cellpose", "nuclei-nuclear")[0].state == "downloadable"  # published, not on disk
    assert gallery.entries("retinamask", "nuclei-nuclear")[0].state == "unavailable"
    assert not gallery.runs_here("stardist", "nuclei-nuclear").available
    (no_weights / "cellpose").mkdir()
    (no_weights / "cellpose" / "nucleitorch_0").write_bytes(b"weights")
    sam = no_weights / "sam_vit_b.pth"
    sam.write_bytes(b"weights")
    monkeypatch.setenv("SEGGAL_SAM_CHECKPOINT", str(sam))
    assert gallery.ready_entry("cellpose", "tissuenet-nuclei-nuclear").reference == "nuclei"
    assert gallery.ready_entry("cellpose", "tissuenet-wholecell-dual") is None  # cyto3 is not there
    scores = all_tissue_scores()
    nuclei = scores[scores["task"] == "tissuenet-nuclei-nuclear"].set_index("method_id")["accuracy"]
    expected = "cellpose" if nuclei["cellpose"] >= nuclei["sam"] else "sam"
    assert gallery.default_method("tissuenet-nuclei-nuclear") == expected
    assert gallery.default_method("tissuenet-wholecell-dual") == "sam"


def test_local_checkpoints_serve_their_slot_and_lead_the_entries(no_weights):
    from seggal.backends.baseline import WatershedSettings
    from seggal.checkpoint import write_checkpoint
    from seggal.hub import repo_name

    root = no_weights / "checkpoints"
    folder = write_checkpoint(root / repo_name("baseline", "nuclei-dual", "Breast") / "best",
                              BaselineSegmenter(WatershedSettings(seed_spacing=0.5)),
                              {"method": "baseline", "task": "nuclei-dual", "training_set": "Breast"})
    first, builtin = gallery.entries("baseline", "nuclei-dual")
    assert (first.source, first.state, first.training_set, first.reference) == ("local", "ready", "Breast", str(folder))
    assert builtin.source == "builtin" and gallery.entries("baseline", "nuclei-nuclear")[0].source == "builtin"
    assert gallery.load(first).settings.seed_spacing == 0.5
    (folder / "model.safetensors").write_bytes(b"")  # a broken checkpoint serves nothing
    assert gallery.entries("baseline", "nuclei-dual")[0].source == "builtin"


def test_a_checkpoints_preprocessing_is_applied_by_every_loader(tmp_path):
    import json

    from seggal.checkpoint import write_checkpoint
    from seggal.preprocess import DEFAULT, Preprocessing

    record = Preprocessing(low=5.0, high=90.0, clahe=True, window=128, step=96)
    segmenter = build("cellpose", device="cpu")
    segmenter.preprocessing = record
    folder = write_checkpoint(tmp_path / "ck", segmenter, {"method": "cellpose", "task": "nuclei-dual",
                                                           "training_set": "All"})
    assert json.loads((folder / "config.json").read_text())["preprocessing"]["clahe"] is True
    loaded = build("cellpose", folder, "cpu")
    assert loaded.preprocessing == record and gallery.load_checkpoint(folder, "cpu")[0].preprocessing == record
    pixels = np.random.default_rng(0).gamma(2.0, 100.0, (64, 64, 2)).astype(np.float32)
    image = Image(pixels, ChannelSpec(0, 1))
    seen = loaded.cellpose_input(image)  # what the network is fed: membrane first
    np.testing.assert_allclose(seen[:, :, 0], record.apply(pixels[:, :, 1]), atol=1e-6)
    assert np.abs(seen - build("cellpose", device="cpu").cellpose_input(image)).max() > 0.05
    config = json.loads((folder / "config.json").read_text())
    del config["preprocessing"]  # a checkpoint without a record: today's default
    (folder / "config.json").write_text(json.dumps(config))
    assert build("cellpose", folder, "cpu").preprocessing == DEFAULT
    config["preprocessing"] = {"low": "0.1"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SegGalError, match="preprocessing: low must be a number"):
        build("cellpose", folder, "cpu")


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
    for bad in ("org/a--b", "org/..", "org/name@../../elsewhere", "org/name@refs/pr/1"):
        with pytest.raises(SegGalError, match="Hub repository id|revision must be|not a Hub reference"):
            build("baseline", checkpoint=bad)


def test_paint_higher_scores_win_and_hidden_instances_drop():
    masks = np.zeros((3, 6, 6), bool)
    masks[0, :4, :4] = True  # score 0.9: wins the overlap with instance 1
    masks[1, 2:6, 2:6] = True  # score 0.5
    masks[2, 1:3, 1:3] = True  # score 0.2, entirely under instance 0: dropped
    prediction = paint(masks, np.array([0.9, 0.5, 0.2], np.float32), (6, 6))
    assert prediction.labels.max() == 2
    np.testing.assert_array_equal(prediction.scores, np.array([0.5, 0.9], np.float32))
    assert (prediction.labels[:4, :4] == 2).all()  # label 2 has score 0.9
    assert (prediction.labels[4:, 4:] == 1).all()
    assert paint(np.zeros((0, 5, 5), bool), np.zeros(0, np.float32), (5, 5)).labels.max() == 0

