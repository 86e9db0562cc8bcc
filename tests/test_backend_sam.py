"""Segment Anything backend: label painting, checkpoints, and one real (random-weight ViT-B) prediction."""

import numpy as np
import pytest

from seggal.backends import build
from seggal.backends.sam import masks_to_prediction, random_init, rgb
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image


def _mask(shape, box):
    m = np.zeros(shape, bool)
    m[box] = True
    return m


def test_paint_lets_the_better_mask_win_and_drops_hidden_masks():
    shape = (10, 10)
    masks = [
        {"segmentation": _mask(shape, np.s_[0:6, 0:6]), "predicted_iou": 0.9},
        {"segmentation": _mask(shape, np.s_[4:10, 4:10]), "predicted_iou": 0.5},
        {"segmentation": _mask(shape, np.s_[1:3, 1:3]), "predicted_iou": 0.2},  # inside the best one: hidden
    ]
    p = masks_to_prediction(masks, shape)
    assert p.labels.dtype == np.int32 and p.labels.max() == 2
    np.testing.assert_allclose(p.scores, [0.5, 0.9])
    assert p.labels[5, 5] == 2 and p.labels[9, 9] == 1 and p.labels[2, 2] == 2
    empty = masks_to_prediction([], shape)
    assert empty.labels.max() == 0 and empty.scores.size == 0


def test_rgb_false_colour():
    pixels = np.random.default_rng(0).uniform(0, 1, (8, 8, 2)).astype(np.float32)
    dual = rgb(Image(pixels, ChannelSpec(0, 1)))
    assert dual.dtype == np.uint8 and dual.shape == (8, 8, 3) and dual[:, :, 0].max() == 0
    assert dual[:, :, 2].max() == 255 and dual[:, :, 1].max() == 255
    grey = rgb(Image(pixels, ChannelSpec(None, 1)))
    assert np.array_equal(grey[:, :, 0], grey[:, :, 2]) and np.array_equal(grey[:, :, 1], dual[:, :, 1])


@pytest.fixture(scope="module")
def sam():
    return random_init("vit_b", seed=0, points_per_side=2)


def test_random_vit_b_predicts_a_label_image(sam):
    pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=0)
    p = sam.predict(Image(pixels, ChannelSpec(0, 1)))  # the suite's one SAM prediction (~16 s on a free CPU)
    assert p.labels.shape == (64, 64) and p.labels.dtype == np.int32
    assert p.scores.shape == (int(p.labels.max()),)


def test_checkpoints_from_folder_pth_and_safetensors(sam, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    sam.save(tmp_path / "folder")
    state = sam.sam.state_dict()
    torch.save(state, tmp_path / "sam_vit_b.pth")  # the official files' format (a plain state dict)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "sam.safetensors"))
    for reference in (tmp_path / "folder", str(tmp_path / "sam_vit_b.pth"), str(tmp_path / "sam.safetensors")):
        restored = build("sam", checkpoint=reference, device="cpu")
        assert restored.model_type == "vit_b"
        for name in ("image_encoder.patch_embed.proj.weight", "mask_decoder.iou_prediction_head.layers.0.weight"):
            assert torch.equal(restored.sam.state_dict()[name], state[name])
    assert build("sam", checkpoint=tmp_path / "folder", device="cpu").points_per_side == 2
    monkeypatch.delenv("SEGGAL_SAM_CHECKPOINT", raising=False)
    with pytest.raises(SegGalError, match="SEGGAL_SAM_CHECKPOINT"):
        build("sam", device="cpu")
    monkeypatch.setenv("SEGGAL_SAM_CHECKPOINT", str(tmp_path / "sam_vit_b.pth"))
    assert build("sam", device="cpu").model_type == "vit_b"
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SegGalError, match="bad.pth"):
        build("sam", checkpoint=str(tmp_path / "bad.pth"), device="cpu")
