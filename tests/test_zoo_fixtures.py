"""Conversion of GENUINE source-format files, written by the sources' own old packages
(scripts/make_zoo_fixtures.py: cellpose 2.2.3; StarDist under Keras 2 / tf-keras 2.21; MMDetection 2.28.2 on
mmcv-full 1.7.2), against those
packages' own recorded outputs — checked here without installing the old packages."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from seggal.backends import build
from seggal.image import ChannelSpec, Image
from seggal.zoo.convert import convert

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "zoo"


def _image(pixels: np.ndarray) -> Image:
    return Image(pixels, ChannelSpec(0, 1) if pixels.shape[2] > 1 else ChannelSpec(0, None))


def test_genuine_cellpose2_file_computes_what_cellpose2_computed(tmp_path):
    import torch

    original = tmp_path / "cellpose_model"
    original.write_bytes(gzip.decompress((FIXTURES / "cellpose2" / "model.pth.gz").read_bytes()))
    expected = np.load(FIXTURES / "cellpose2" / "expected.npz")
    folder = convert(original, method="cellpose", task="tissuenet-wholecell-dual", training_set="All", out=tmp_path / "cp")
    net = build("cellpose", folder, device="cpu").net
    net.eval()
    with torch.no_grad():
        y, style = net(torch.from_numpy(expected["x"]))[:2]  # Cellpose 3.1 also returns its features
    assert np.std(expected["y"]) > 0
    np.testing.assert_allclose(y.numpy(), expected["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(style.numpy(), expected["style"], rtol=1e-5, atol=1e-6)


def test_genuine_keras2_stardist_folder_predicts_what_keras2_stardist_predicted(tmp_path):
    expected = np.load(FIXTURES / "stardist_k2" / "expected.npz")
    assert str(expected["keras"]).startswith("tf_keras")  # written by Keras 2
    folder = convert(FIXTURES / "stardist_k2" / "model", method="stardist", task="tissuenet-nuclei-dual",
                     training_set="All", out=tmp_path / "sd")
    prediction = build("stardist", folder).predict(_image(expected["pixels"]))
    assert expected["labels"].max() > 0
    np.testing.assert_array_equal(prediction.labels, expected["labels"])
    np.testing.assert_allclose(prediction.scores, expected["prob"][: prediction.labels.max()], rtol=1e-5)


@pytest.mark.parametrize("where", ["config.json", "weights_best.h5"])
def test_stardist_folder_missing_a_file_is_a_clear_error(tmp_path, where):
    import shutil

    from seggal.errors import SegGalError

    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "stardist_k2" / "model", folder)
    (folder / where).unlink()
    with pytest.raises(SegGalError, match="config.json|weights"):
        convert(folder, method="stardist", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "o")


#: the genuine MMDetection 2.28.2 checkpoints (scripts/make_zoo_fixtures.py) → the task each is converted for
#: (one-channel models: the paper fed the channel replicated x3; two-channel: nuclear, membrane) and the
#: detector type their embedded config names
MMDET2 = {"mask-rcnn": ("tissuenet-nuclei-nuclear", "MaskRCNN"),
          "cascade-seesaw": ("tissuenet-nuclei-dual", "CascadeRCNN"),
          "hrnet": ("tissuenet-nuclei-nuclear", "CascadeRCNN"),
          "res2net": ("tissuenet-nuclei-dual", "CascadeRCNN"),
          "rf-next": ("tissuenet-nuclei-dual", "CascadeRCNN")}


def _mmdet2_original(tmp_path, method: str) -> Path:
    """The genuine checkpoint, unzipped into a folder of its own; RF-Next's with its searched-structure json."""
    import shutil

    folder = tmp_path / "original"
    folder.mkdir()
    (folder / f"{method}.pth").write_bytes(gzip.decompress((FIXTURES / "mmdet2" / f"{method}.pth.gz").read_bytes()))
    if method == "rf-next":
        shutil.copy(FIXTURES / "mmdet2" / "rf-next.json", folder)
        return folder  # converted from the folder: the .pth and the json
    return folder / f"{method}.pth"


@pytest.mark.parametrize("method", sorted(MMDET2))
def test_genuine_mmdet2_checkpoint_predicts_what_mmdetection_2_28_predicted(tmp_path, method):
    """A checkpoint written by MMDetection 2.28.2 (mmcv-full 1.7.2's save_checkpoint) converts into a network
    built from its own embedded architecture that finds the same instances as 2.28 did on the same input.

    Tolerances: the two computations are the same float32 operations except that (a) a one-channel network
    takes the replicated channel once, through the sum of the three first-layer kernels (the additions
    regrouped), and (b) mmcv 1.x's Normalize multiplies by 1 / std where mmdet 3.3's data preprocessor
    divides by std — rounding differences of about 1e-7 relative that grow to about 1e-5 through the
    network. So: the same number of instances in the same order, boxes within 1e-3 pixel, scores within
    1e-5, and a mask pixel may differ only where its probability lies within that rounding of the 0.5
    threshold (at most 1 pixel in 10,000). Measured here: boxes and masks equal, scores within 1.2e-7;
    the margins are for other CPUs' float kernels."""
    pytest.importorskip("mmdet")
    pytest.importorskip("mmcv.ops")
    import json

    import torch

    from seggal.backends.mmdet import _data_sample

    task, detector = MMDET2[method]
    expected = np.load(FIXTURES / "mmdet2" / f"{method}.npz")
    assert str(expected["version"]).startswith("mmdet 2.28.2, mmcv-full 1.7.2")
    original = _mmdet2_original(tmp_path, method)
    folder = convert(original, method=method, task=task, training_set="All", out=tmp_path / "converted")
    stored = json.loads((folder / "backend.json").read_text())["model"]
    assert stored["type"] == detector  # the checkpoint's own architecture, not SegGal's registry config
    segmenter = build(method, folder, device="cpu")
    x = expected["x"]  # what MMDetection 2.28 fed its network before Normalize: (H, W, 3 replicated or 2)
    pixels = x[:, :, : segmenter.in_channels]
    segmenter.model.eval()
    with torch.no_grad():
        found = segmenter.model.test_step({"inputs": [torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))],
                                           "data_samples": [_data_sample(*pixels.shape[:2])]})[0].pred_instances
    masks = np.unpackbits(expected["masks"], axis=-1, count=int(expected["mask_shape"][-1])).astype(bool)
    assert len(expected["scores"]) > 0 and masks.any()
    assert len(found) == len(expected["scores"])
    np.testing.assert_allclose(found.bboxes.numpy(), expected["boxes"], atol=1e-3)
    np.testing.assert_allclose(found.scores.numpy(), expected["scores"], atol=1e-5)
    assert (found.masks.numpy().astype(bool) != masks).mean() <= 1e-4


def test_genuine_rf_next_checkpoint_without_its_searched_structure_is_refused(tmp_path):
    """The searched dilations are not in the checkpoint (its config names the json by path): without the json
    the conversion says so, and writes nothing."""
    pytest.importorskip("mmdet")
    from seggal.errors import SegGalError

    original = _mmdet2_original(tmp_path, "rf-next") / "rf-next.pth"
    with pytest.raises(SegGalError, match="rf-next.pth: the paper's RF-Next .* needs its searched dilations"):
        convert(original, method="rf-next", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_stored_model_config_is_schema_checked(tmp_path):
    """backend.json's ``model`` (the checkpoint's own architecture) must name a detector type and a backbone."""
    pytest.importorskip("mmdet")
    pytest.importorskip("mmcv.ops")
    import json

    from seggal.errors import SegGalError

    folder = convert(_mmdet2_original(tmp_path, "mask-rcnn"), method="mask-rcnn", task="tissuenet-nuclei-nuclear",
                     training_set="All", out=tmp_path / "converted")
    meta = json.loads((folder / "backend.json").read_text())
    assert meta["model"]["backbone"]["style"] == "caffe"  # the paper's caffe-style ResNet
    del meta["model"]["backbone"]
    (folder / "backend.json").write_text(json.dumps(meta))
    with pytest.raises(SegGalError, match="backend.json.*backbone"):
        build("mask-rcnn", folder, device="cpu")
