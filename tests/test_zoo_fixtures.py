"""Conversion of GENUINE source-format files, written by the sources' own old packages
(scripts/make_zoo_fixtures.py: cellpose 2.2.3; StarDist under Keras 2 / tf-keras 2.21), against those
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
