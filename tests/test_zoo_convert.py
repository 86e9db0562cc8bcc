"""seggal.zoo.convert: files in each source's own format → SegGal checkpoints that predict exactly what
the source package predicts from the same file."""

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from sam_outputs import assert_same_point_prompt_outputs
from paper_input import dataset_window
from seggal.backends import build
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.checkpoint import read_config
from seggal.image import ChannelSpec, Image
from seggal.provenance import sha256_of
from seggal.zoo.convert import convert


@pytest.fixture(scope="module")
def dual_image() -> Image:
    pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=3)
    return Image(pixels, ChannelSpec(0, 1) if pixels.shape[2] > 1 else ChannelSpec(0, None))


def _published(method: str, task: str, training_set: str) -> float:
    """The accuracy column of the published scores table, read here with the csv module."""
    with open(Path(__file__).resolve().parent.parent / "results" / "published" / "scores.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if (r["method_id"], r["task"], r["training_set"]) == (method, task, training_set)]
    assert len(rows) == 1
    return float(rows[0]["accuracy"])


def _paper_record(folder) -> dict:
    """How the paper's test script fed the model, as the converted checkpoint records it."""
    read_config(folder)
    return json.loads((folder / "provenance.json").read_text())["paper_preprocessing"]


class Evil:
    """Unpickling this runs code (here: it would create a file)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "model.pth"
    with open(bad, "wb") as handle:
        pickle.dump({"state_dict": Evil(str(marker))}, handle)
    for method, task in (("cellpose", "tissuenet-nuclei-dual"), ("sam", "tissuenet-nuclei-dual"),
                         ("mask-rcnn", "tissuenet-nuclei-dual")):
        with pytest.raises(SegGalError, match="refused"):
            convert(bad, method=method, task=task, training_set="All", out=tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------- Cellpose 2


def _cellpose2_state(nchan: int, seed: int = 0) -> dict:
    """A Cellpose 2 state dict of the fork's architecture (Cellpose 3.1's CPnet has the same modules),
    with random weights and a cell-probability bias that makes masks appear."""
    import torch
    from cellpose.resnet_torch import CPnet

    torch.manual_seed(seed)
    net = CPnet([nchan, 32, 64, 128, 256], 3, 3, diam_mean=30.0)
    with torch.no_grad():
        net.output[2].bias[2] = 2.0
    return net.state_dict()


def test_cellpose2_file_predicts_as_cellpose_itself(tmp_path, dual_image):
    import torch
    from cellpose.models import CellposeModel

    original = tmp_path / "cellpose_residual_on_style_on_concatenation_off_train_2024"
    torch.save(_cellpose2_state(2), original)
    folder = convert(original, method="cellpose", task="tissuenet-nuclei-dual", training_set="All",
                     out=tmp_path / "converted", source_url="https://drive.google.com/file/d/x/view")
    read_config(folder)
    provenance = json.loads((folder / "provenance.json").read_text())
    record = provenance["paper_preprocessing"]["applied"]
    assert record["diameter"] == 23.0 and record["method_normalisation"] == {"low": 1.0, "high": 99.0, "clip": False}
    assert read_config(folder)["preprocessing"] == record
    assert provenance["sha256"] == sha256_of(original)
    assert provenance["published"]["accuracy"] == _published("cellpose", "tissuenet-nuclei-dual", "All")
    card = (folder / "README.md").read_text()
    assert "https://drive.google.com/file/d/x/view" in card and provenance["sha256"] in card

    segmenter = build("cellpose", folder, device="cpu")
    ours = segmenter.predict(dual_image).labels
    direct = CellposeModel(pretrained_model=str(original), nchan=2, mkldnn=False, device=torch.device("cpu"))
    # as the paper's test script ran it: the data set's window (nuclear, membrane), all channels, diameter 23
    masks, flows, _ = direct.eval(dataset_window(dual_image.pixels), channels=None, channel_axis=2, diameter=23.0,
                                  normalize=True, progress=None)
    np.testing.assert_array_equal(ours, masks)
    # random weights rarely give masks, so compare what the network computed too: flows and cell probability
    our_flows = segmenter.run(dual_image)[1]
    assert np.std(flows[2]) > 0
    for a, b in zip(our_flows[1:3], flows[1:3]):
        np.testing.assert_array_equal(a, b)


def test_one_channel_cellpose2_file_is_widened_exactly(tmp_path):
    import torch
    from cellpose.resnet_torch import CPnet

    from seggal.zoo.formats.cellpose2 import widen_to_two_channels

    one = _cellpose2_state(1, seed=1)
    narrow, wide = CPnet([1, 32, 64, 128, 256], 3, 3), CPnet([2, 32, 64, 128, 256], 3, 3)
    narrow.load_state_dict(one)
    wide.load_state_dict(widen_to_two_channels(one))
    narrow.eval(), wide.eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        expected = narrow(x)[0]
        got = wide(torch.cat([x, torch.rand(1, 1, 64, 64)], 1))[0]  # the added channel is ignored
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_cellpose_layout_mismatch_is_a_clear_error(tmp_path):
    import torch

    state = _cellpose2_state(2)
    state["downsample.down.res_down_3.proj.1.weight"] = torch.zeros(512, 128, 1, 1)
    torch.save(state, tmp_path / "m")
    with pytest.raises(SegGalError, match="nbase"):
        convert(tmp_path / "m", method="cellpose", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "o")
    torch.save({"not": "a state dict"}, tmp_path / "n")
    with pytest.raises(SegGalError, match="state dict"):
        convert(tmp_path / "n", method="cellpose", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "o")


# ----------------------------------------------------------------------------------------- MMDetection 2.28

TISSUENET_NORM = {"mean": [55.0704424, 55.0704424], "std": [67.22934807, 67.22934807], "to_rgb": False}


def _mmdet2_container(tmp_path, model_cfg: dict, state: dict, name: str = "epoch_50.pth"):
    """An mmcv 1.x checkpoint container: meta with the config text and a numpy score, and the state dict."""
    import torch
    from mmengine.config import Config

    text = Config(dict(model=model_cfg, img_norm_cfg=TISSUENET_NORM)).pretty_text
    meta = {"mmdet_version": "2.28.2", "mmcv_version": "1.7.1", "config": text, "CLASSES": ("cell",), "epoch": 50,
            "hook_msgs": {"best_score": np.float64(0.61)}}
    path = tmp_path / name
    torch.save({"meta": meta, "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}, path)
    return path


@pytest.fixture(scope="module")
def mask_rcnn():
    pytest.importorskip("mmdet")
    pytest.importorskip("mmcv.ops")
    from seggal.backends.mmdet import build as build_mmdet

    return build_mmdet("mask-rcnn", None, "cpu", arch={"in_channels": 2})


def test_mmdet2_checkpoint_predicts_as_mmdetection_itself(mask_rcnn, tmp_path, dual_image):
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import ConfigDict
    from mmengine.runner.checkpoint import load_state_dict

    from seggal.backends.mmdet import _data_sample, adapt_model_config, load_config, paint

    model_cfg = load_config("mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py").model.to_dict()
    with torch.no_grad():  # a confident cell class everywhere, so that random weights give detections
        mask_rcnn.model.roi_head.bbox_head.fc_cls.bias[0] = 4.0
    original = _mmdet2_container(tmp_path, model_cfg, mask_rcnn.model.state_dict())
    folder = convert(original, method="mask-rcnn", task="tissuenet-nuclei-dual", training_set="All",
                     out=tmp_path / "converted")
    record = _paper_record(folder)
    assert record["normalisation"]["mean"] == TISSUENET_NORM["mean"] and record["channel_order"] == ["nuclear", "membrane"]
    assert record["applied"]["levels"] == 255 and record["applied"]["clahe"] is True
    ours = build("mask-rcnn", folder, device="cpu").predict(dual_image)

    cfg = adapt_model_config(model_cfg, 2)
    cfg["data_preprocessor"].update(mean=[55.0704424], std=[67.22934807])
    direct = MODELS.build(ConfigDict(cfg))
    # our own test file: mmengine's loader with a plain torch.load (its numpy meta needs weights_only=False)
    load_state_dict(direct, torch.load(original, map_location="cpu", weights_only=False)["state_dict"], strict=True)
    direct.eval()
    # transform_tissuenet_2C.py's integer TIFF of the window x 255, as LoadTIFImageFromFile2C reads it
    pixels = (dataset_window(dual_image.pixels) * 255).astype(np.int32).astype(np.float32)
    with torch.no_grad():
        found = direct.test_step({"inputs": [torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))],
                                  "data_samples": [_data_sample(*pixels.shape[:2])]})[0].pred_instances
    expected = paint(found.masks.numpy().astype(bool).reshape(-1, *pixels.shape[:2]), found.scores.numpy(), pixels.shape[:2])
    assert ours.labels.max() > 0
    np.testing.assert_array_equal(ours.labels, expected.labels)
    np.testing.assert_array_equal(ours.scores, expected.scores)


def test_mmdet2_checkpoint_whose_weights_do_not_fit_its_own_config_is_refused(mask_rcnn, tmp_path):
    """The network is built from the checkpoint's embedded config (here with a two-convolution RPN); weights of
    another network are a clear error naming the keys, and nothing is written."""
    from seggal.backends.mmdet import load_config

    two_conv_rpn = load_config("mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py").model.to_dict()
    two_conv_rpn["rpn_head"]["num_convs"] = 2
    original = _mmdet2_container(tmp_path, two_conv_rpn, mask_rcnn.model.state_dict())
    with pytest.raises(SegGalError, match=r"epoch_50.pth: its weights do not fit the network of its own embedded "
                                          r"config.*rpn_head.rpn_conv.0.conv.weight"):
        convert(original, method="mask-rcnn", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_config_text_is_parsed_without_running_it(tmp_path):
    from seggal.zoo.formats.mmdet2 import parse_config

    marker = tmp_path / "ran"
    text = f"model = dict(type='MaskRCNN', backbone=dict(depth=50, out_indices=(0, 1)), lr=-0.02)\n" \
           f"evil = open({str(marker)!r}, 'w')\nflag = True\n"
    parsed = parse_config(text)
    assert parsed == {"model": {"type": "MaskRCNN", "backbone": {"depth": 50, "out_indices": (0, 1)}, "lr": -0.02},
                      "flag": True}
    assert not marker.exists()


def test_replicated_three_channel_input_folds_exactly():
    import torch

    from seggal.zoo.formats.mmdet2 import fold_replicated_input

    torch.manual_seed(0)
    weight = torch.randn(8, 3, 3, 3, dtype=torch.float64)
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    folded = fold_replicated_input({"w": weight}, "w")["w"]
    torch.testing.assert_close(torch.nn.functional.conv2d(x, folded), torch.nn.functional.conv2d(x.repeat(1, 3, 1, 1), weight))


def test_per_channel_normalisation_folds_into_a_biased_first_convolution():
    import torch

    from seggal.zoo.formats.mmdet2 import fold_normalisation

    torch.manual_seed(0)
    weight, bias = torch.randn(6, 2, 4, 4, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    mean, std = [123.675, 116.28], [58.395, 57.12]
    x = torch.rand(1, 2, 16, 16, dtype=torch.float64) * 255
    normalised = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    folded = fold_normalisation({"c.weight": weight, "c.bias": bias}, "c.weight", mean, std)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, folded["c.weight"], folded["c.bias"], stride=4),
                               torch.nn.functional.conv2d(normalised, weight, bias, stride=4), rtol=1e-9, atol=1e-6)
    with pytest.raises(SegGalError, match="bias"):
        fold_normalisation({"c.weight": weight}, "c.weight", mean, std)


def test_mask2former_keys_are_renamed():
    from seggal.zoo.formats.mmdet2 import rename_mask2former

    old = {"panoptic_head.transformer_decoder.layers.0.attentions.0.attn.in_proj_weight": 1,
           "panoptic_head.transformer_decoder.layers.0.attentions.1.attn.out_proj.bias": 2,
           "panoptic_head.transformer_decoder.layers.3.ffns.0.layers.0.0.weight": 3,
           "panoptic_head.pixel_decoder.encoder.layers.5.attentions.0.sampling_offsets.weight": 4,
           "backbone.conv1.weight": 5}
    assert set(rename_mask2former(old)) == {
        "panoptic_head.transformer_decoder.layers.0.cross_attn.attn.in_proj_weight",
        "panoptic_head.transformer_decoder.layers.0.self_attn.attn.out_proj.bias",
        "panoptic_head.transformer_decoder.layers.3.ffn.layers.0.0.weight",
        "panoptic_head.pixel_decoder.encoder.layers.5.self_attn.sampling_offsets.weight",
        "backbone.conv1.weight"}


# ----------------------------------------------------------------------------------------- StarDist


def test_stardist_folder_predicts_as_stardist_itself(tmp_path, dual_image):
    import shutil

    source = Path(__file__).resolve().parent / "fixtures" / "zoo" / "stardist_k2" / "model"
    folder = convert(source, method="stardist", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "sd")
    from stardist.models import StarDist2D  # after the backend imported TensorFlow its way (Triton first)

    record = _paper_record(folder)
    assert "method_normalisation" not in record["applied"]  # the test script's normalize(0, 99.8) is unused
    assert record["training_normalisation"]["high"] == 99.8
    ours = build("stardist", folder).predict(dual_image)
    shutil.copytree(source, tmp_path / "models" / "model")
    direct = StarDist2D(None, name="model", basedir=str(tmp_path / "models"))  # StarDist's own loader (Keras 3)
    labels, details = direct.predict_instances(dataset_window(dual_image.pixels), axes="YXC", verbose=False,
                                               show_tile_progress=False)
    assert labels.max() > 0 and direct.thresholds.prob == 0.6
    np.testing.assert_array_equal(ours.labels, labels)


def test_one_channel_stardist_folder_is_widened_onto_the_tasks_channel(tmp_path):
    import json as _json

    from seggal.backends.stardist import from_scratch

    one = from_scratch("stardist", n_rays=8, n_channel_in=1, unet_n_depth=2, unet_n_filter_base=8)
    keras_model = one.model.keras_model
    kernel, bias = keras_model.get_layer("prob").get_weights()
    keras_model.get_layer("prob").set_weights([kernel, bias + 1.0])
    folder = tmp_path / "one"
    folder.mkdir()
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(one.model.config).items()}
    (folder / "config.json").write_text(_json.dumps(config))
    from keras.src.legacy.saving import legacy_h5_format  # Keras 3's writer of the Keras 2 HDF5 layout
    import h5py

    with h5py.File(folder / "weights_best.h5", "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, keras_model)
    converted = convert(folder, method="stardist", task="tissuenet-wholecell-wholecell", training_set="All",
                        out=tmp_path / "sd")
    pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=4)
    image = Image(pixels[:, :, :1], ChannelSpec(None, 0))  # a whole-cell channel only: network slot 1
    ours = build("stardist", converted).predict(image)
    labels, _ = one.model.predict_instances(dataset_window(pixels[:, :, :1]), axes="YXC", verbose=False,
                                            show_tile_progress=False)
    assert labels.max() > 0
    np.testing.assert_array_equal(ours.labels, labels)


# ----------------------------------------------------------------------------------------- Segment Anything


def test_sam_checkpoint_predicts_as_segment_anything_itself(tmp_path, dual_image):
    """ViT-B, the smallest architecture segment-anything builds (its registry has no smaller one). Random
    weights give no masks past the automatic generator's quality filters, so SAM's own outputs for one
    point prompt (mask logits, predicted IoU) are compared: the converted model's and segment-anything's
    loaded from the original file."""
    import torch
    from segment_anything import sam_model_registry

    from seggal.backends.sam import random_init, rgb

    original = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(random_init("vit_b", seed=0).sam.state_dict(), original)  # the official files' format
    folder = convert(original, method="sam", task="tissuenet-nuclei-dual", training_set="All", out=tmp_path / "sam")
    record = _paper_record(folder)
    assert record["applied"]["channel_order"] == ["membrane", "nuclear", "zeros"]
    assert record["generator"]["points_per_side"] == 32
    ours = build("sam", folder, device="cpu")
    # the PNG transform_tissuenet.py wrote: (window x 255) as uint8, [membrane, nuclear, 0], read back by cv2
    window = dataset_window(dual_image.pixels) * 255
    png = np.dstack((window, np.zeros(dual_image.shape, np.float32)))[..., [1, 0, 2]].astype(np.uint8)
    np.testing.assert_array_equal(rgb(dual_image, ours.preprocessing), png)
    direct = sam_model_registry["vit_b"](checkpoint=str(original)).eval()
    assert_same_point_prompt_outputs(ours.sam, direct, rgb(dual_image))


# ----------------------------------------------------------------------------------------- detectron2


def test_the_papers_resnest_file_is_refused_with_what_differs(tmp_path, capsys):
    """`models import` of a detectron2-ResNeSt checkpoint (a look-alike of the container detectron2's
    checkpointer writes: {"model": state dict, "iteration": …}) reaches the detectron2 module through the
    catalogue's format, although SegGal runs ResNeSt on MMDetection, and refuses with the differences."""
    import torch

    from seggal.cli import main

    original = tmp_path / "model_final.pth"
    torch.save({"model": {"backbone.bottom_up.stem.conv1_1.weight": torch.zeros(64, 3, 3, 3),
                          "proposal_generator.rpn_head.objectness_logits.weight": torch.zeros(5, 256, 1, 1)},
                "iteration": 49999}, original)
    assert main(["models", "import", str(original), "--method", "resnest", "--task", "nuclei-dual",
                 "--train-set", "All", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "[p2, p2, p3, p4, p5, p6]" in error and "mean logits" in error
    assert "MMDetection 2.x checkpoint" not in error and not (tmp_path / "out").exists()
