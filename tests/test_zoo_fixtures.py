"""Conversion of GENUINE source-format files, written by the sources' own old packages
(scripts/make_zoo_fixtures.py: cellpose 2.2.3; StarDist under Keras 2 / tf-keras 2.21; MMDetection 2.28.2 on
mmcv-full 1.7.2), against those
packages' own recorded outputs — checked here without installing the old packages."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from paper_input import dataset_window
from seggal.backends import build
from seggal.image import ChannelSpec, Image
from seggal.tiling import segment_image
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
    from seggal.backends.base import network_input

    expected = np.load(FIXTURES / "stardist_k2" / "expected.npz")
    assert str(expected["keras"]).startswith("tf_keras")  # written by Keras 2
    folder = convert(FIXTURES / "stardist_k2" / "model", method="stardist", task="tissuenet-nuclei-dual",
                     training_set="All", out=tmp_path / "sd")
    model = build("stardist", folder).model
    # the network on the very input the fixture script gave Keras 2 (SegGal's default network input)
    labels, details = model.predict_instances(network_input(_image(expected["pixels"])), axes="YXC", verbose=False,
                                              show_tile_progress=False)
    assert expected["labels"].max() > 0
    np.testing.assert_array_equal(labels, expected["labels"])
    np.testing.assert_allclose(details["prob"], expected["prob"], rtol=1e-5)


def test_genuine_stardist_folder_segments_as_the_papers_test_script_fed_it(tmp_path):
    """Segment through SegGal (the imported checkpoint, its config.json record) = StarDist's own loader on the
    folder, predicting on the window as Stardist/stardist_nuclear_2C_test.py fed it: the data set's window
    (percentiles, CLAHE) as it is — the script's csbdeep normalize(x, 0, 99.8) goes into X_test1, unused."""
    import json
    import shutil

    expected = np.load(FIXTURES / "stardist_k2" / "expected.npz")
    folder = convert(FIXTURES / "stardist_k2" / "model", method="stardist", task="tissuenet-nuclei-dual",
                     training_set="All", out=tmp_path / "sd")
    record = json.loads((folder / "config.json").read_text())["preprocessing"]
    assert record["clahe"] is True and record["source"].endswith("Stardist/stardist_nuclear_2C_test.py")
    ours = segment_image(build("stardist", folder), _image(expected["pixels"]))
    from stardist.models import StarDist2D  # after the backend imported TensorFlow its way (Triton first)

    shutil.copytree(FIXTURES / "stardist_k2" / "model", tmp_path / "models" / "model")
    direct = StarDist2D(None, name="model", basedir=str(tmp_path / "models"))  # thresholds.json read by StarDist
    x = dataset_window(expected["pixels"])
    labels, details = direct.predict_instances(x, n_tiles=direct._guess_n_tiles(x), show_tile_progress=False)
    assert labels.max() > 0
    np.testing.assert_array_equal(ours.labels, labels)
    np.testing.assert_allclose(ours.scores, details["prob"][: labels.max()], rtol=1e-6)
    assert not np.array_equal(labels, expected["labels"])  # the pipeline matters: the default input segments otherwise


@pytest.mark.parametrize("task", ["tissuenet-wholecell-dual", "tissuenet-nuclei-nuclear"])
def test_genuine_cellpose2_file_segments_as_the_papers_test_script_fed_it(tmp_path, task):
    """Segment through SegGal = Cellpose's own CellposeModel on the original file, run as
    Cellpose_BM/cellpose_submit_*_test.slurm ran it: the data set's window, all its channels (nuclear,
    membrane; or the task's one), Cellpose's own 1 / 99 normalisation, --diameter 23."""
    import torch
    from cellpose.models import CellposeModel

    original = tmp_path / "cellpose_model"
    original.write_bytes(gzip.decompress((FIXTURES / "cellpose2" / "model.pth.gz").read_bytes()))
    folder = convert(original, method="cellpose", task=task, training_set="All", out=tmp_path / "cp")
    pixels = np.load(FIXTURES / "stardist_k2" / "expected.npz")["pixels"]  # a 64 x 64 two-channel tissue image
    if task.endswith("nuclear"):
        pixels = pixels[:, :, :1]
    segmenter = build("cellpose", folder, device="cpu")
    ours = segment_image(segmenter, _image(pixels))
    masks, flows = segmenter.run(_image(pixels))

    direct = CellposeModel(pretrained_model=str(original), nchan=2, mkldnn=False, device=torch.device("cpu"))
    x = dataset_window(pixels)
    if x.shape[2] == 1:  # the one-channel TIFF; the fixture's two-channel network gets Cellpose's zero fill
        x = np.concatenate([x, np.zeros_like(x)], -1)
    expected_masks, expected_flows, _ = direct.eval(x, channels=None, channel_axis=2, diameter=23.0, normalize=True)
    np.testing.assert_array_equal(ours.labels, expected_masks)
    np.testing.assert_array_equal(masks, expected_masks)
    # random weights give no masks past Cellpose's flow check, so the flows and cell probability are compared too
    assert np.std(expected_flows[2]) > 0
    for a, b in zip(flows[1:3], expected_flows[1:3]):
        np.testing.assert_array_equal(a, b)
    default_input = direct.eval(x, channels=None, channel_axis=2, normalize=True)[1]  # no diameter: other flows
    assert not np.array_equal(default_input[2], expected_flows[2])


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
