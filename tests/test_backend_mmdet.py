"""MMDetection backend: configs adapted to cells, prediction, training with a falling loss, checkpoints.

Everything here needs the optional MMDetection stack (`make mmdet`, which CI runs before
`make test`); without it those tests are skipped with that reason. Models are built from scratch
(random weights, no network) on small synthetic TissueNet-like images.
"""

import importlib.util
import json

import numpy as np
import pytest

from seggal.backends.base import FitSettings
from seggal.image import Sample
from seggal.backends.mmdet import MAX_INSTANCES, adapt_model_config, build, load_config
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
from seggal.methods import METHODS, availability

HAVE_MMDET = all(importlib.util.find_spec(p) for p in ("mmdet", "mmcv", "mmengine"))
needs_mmdet = pytest.mark.skipif(not HAVE_MMDET, reason="MMDetection not installed here: run `make mmdet`")
MMDET_METHODS = [m.id for m in METHODS if m.backend == "mmdet"]


def tissue(size=128, seed=0, channels=ChannelSpec(0, 1)):
    pixels, _nuclei, cells = synthetic_tissue((size, size), "Breast", seed)
    return Image(pixels, channels, f"synthetic-{seed}"), cells


def assert_valid(prediction, shape):
    labels, scores = prediction.labels, prediction.scores
    assert labels.shape == shape and labels.dtype == np.int32
    n = int(labels.max())
    assert set(np.unique(labels).tolist()) - {0} == set(range(1, n + 1))  # numbered 1..n, none missing
    assert scores.shape == (n,) and scores.dtype == np.float32
    assert n <= MAX_INSTANCES


@needs_mmdet
@pytest.mark.parametrize("method_id", MMDET_METHODS)
def test_adapted_configs_have_one_class_given_channels_and_no_downloads(method_id):
    from seggal.methods import get_method

    method = get_method(method_id)
    cfg = adapt_model_config(load_config(method.options["config"]).model.to_dict(), 1)
    text = json.dumps(cfg, default=str)
    assert "Pretrained" not in text and "SyncBN" not in text and "https://" not in text
    assert cfg["backbone"]["in_channels"] == 1
    pre = cfg["data_preprocessor"]
    assert len(pre["mean"]) == len(pre["std"]) == 1 and not pre["bgr_to_rgb"] and not pre["batch_augments"]

    def class_counts(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("num_classes", "num_things_classes"):
                    yield value
                yield from class_counts(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from class_counts(value)

    counts = list(class_counts(cfg))
    assert counts and set(counts) == {1}


@needs_mmdet
@pytest.mark.parametrize("method_id", MMDET_METHODS)
def test_every_method_builds_and_predicts_a_label_image(method_id):
    """Smoke test: each adapted config builds from scratch with 2 channels and segments 128 x 128."""
    assert availability(method_id).available
    image, _ = tissue(128)
    prediction = build(method_id, arch={"in_channels": 2}).predict(image)
    assert_valid(prediction, (128, 128))


def train_and_roundtrip(method_id, tmp_path, learning_rate, steps=8, size=96):
    """Fit two synthetic images one step per epoch; the loss must fall; save → rebuild → same prediction."""
    samples = []
    for seed in (1, 2):
        image, cells = tissue(size, seed)
        samples.append(Sample(image, cells))
    segmenter = build(method_id, arch={"in_channels": 2})
    segmenter.iteration_schedules = False  # the configs' 500-1000-iteration warm-up would stall 8 steps
    settings = FitSettings(batch_size=2, learning_rate=learning_rate, max_iters=1, seed=0)
    losses = [segmenter.train_epoch(samples, settings) for _ in range(steps)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses

    probe, _ = tissue(size, seed=7)
    before = segmenter.predict(probe)
    assert_valid(before, (size, size))
    # a batch of windows gives each window's own prediction
    other, _ = tissue(size, seed=8)
    batch = segmenter.predict_batch([probe, other])
    single = segmenter.predict(other)
    np.testing.assert_array_equal(batch[0].labels, before.labels)
    np.testing.assert_array_equal(batch[1].labels, single.labels)
    np.testing.assert_allclose(batch[1].scores, single.scores, rtol=1e-5)
    segmenter.save(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["backend.json", "model.safetensors"]
    restored = build(method_id, checkpoint=tmp_path / "ckpt")
    # the training progress comes back (a resumed run continues its shuffles and warm-up from there)
    assert (restored.epochs_done, restored.iterations_done) == (segmenter.epochs_done, segmenter.iterations_done)
    assert segmenter.epochs_done == segmenter.iterations_done == steps
    after = restored.predict(probe)
    np.testing.assert_array_equal(before.labels, after.labels)
    np.testing.assert_array_equal(before.scores, after.scores)
    return segmenter, restored


@needs_mmdet
def test_swin_t_trains_with_falling_loss_and_checkpoint_restores_exactly(tmp_path):
    train_and_roundtrip("swin-t", tmp_path, learning_rate=1e-4)


@needs_mmdet
def test_rf_next_trains_searches_dilations_and_checkpoint_keeps_them(tmp_path):
    """RF-Next = Mask R-CNN R50-FPN + mmcv's receptive-field search: one search step per epoch."""
    trained, restored = train_and_roundtrip("rf-next", tmp_path, learning_rate=0.002)
    state = trained._rf_state()
    assert state["step"] == 8 and state["layers"]
    assert state == restored._rf_state()
    assert not any("layer1" in name or "stem" in name for name in state["layers"])


@needs_mmdet
def test_one_channel_model_and_bad_checkpoints(tmp_path):
    nuclear, _ = tissue(64, channels=ChannelSpec(0, None))
    segmenter = build("mask-rcnn", arch={"in_channels": 1})
    assert_valid(segmenter.predict(nuclear), (64, 64))
    dual, _ = tissue(64)
    with pytest.raises(SegGalError, match="1 channel"):
        segmenter.predict(dual)
    with pytest.raises(SegGalError, match="backend.json"):
        build("mask-rcnn", checkpoint=tmp_path)
    segmenter.save(tmp_path / "ckpt")
    with pytest.raises(SegGalError, match="holds method 'mask-rcnn'"):
        build("swin-t", checkpoint=tmp_path / "ckpt")
    with pytest.raises(SegGalError, match="not an MMDetection method"):
        build("cellpose")
