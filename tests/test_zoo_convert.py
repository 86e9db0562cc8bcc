"""seggal.zoo.convert: files in each source's own format → SegGal checkpoints that predict exactly what
the source package predicts from the same file."""

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from seggal.backends import build
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.hub import read_config
from seggal.image import ChannelSpec, Image
from seggal.zoo.convert import convert, sha256_of


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
    config = read_config(folder)
    assert config["preprocessing"]["diameter"] == 23.0 and config["preprocessing"]["normalisation"]["high"] == 99.0
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["sha256"] == sha256_of(original)
    assert provenance["published"]["accuracy"] == _published("cellpose", "tissuenet-nuclei-dual", "All")
    card = (folder / "README.md").read_text()
    assert "https://drive.google.com/file/d/x/view" in card and provenance["sha256"] in card

    segmenter = build("cellpose", folder, device="cpu")
    ours = segmenter.predict(dual_image).labels
    direct = CellposeModel(pretrained_model=str(original), nchan=2, mkldnn=False, device=torch.device("cpu"))
    x = segmenter.cellpose_input(dual_image)
    options = dict(channels=[1, 2], channel_axis=2, normalize=True, progress=None)
    masks, flows, _ = direct.eval(x, **options)
    np.testing.assert_array_equal(ours, masks)
    # random weights rarely give masks, so compare what the network computed too: flows and cell probability
    our_flows = segmenter.model.eval(x, **options)[1]
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
