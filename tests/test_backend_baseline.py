"""The classical baseline, and the issue's check: the default method beats a naive Otsu + distance-transform
watershed on real annotated nuclei that an installed package ships (StarDist's DSB 2018 image)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from seggal import gallery
from seggal.backends import build
from seggal.backends.baseline import NAIVE, BaselineSegmenter, WatershedSettings, typical_radius
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image, as_labels
from seggal.metrics import evaluate


@pytest.fixture(scope="module")
def tissue():
    return synthetic_tissue((192, 192), "Breast", seed=3)


def _accuracy(segmenter, image, truth):
    p = segmenter.predict(image)
    assert p.labels.dtype == np.int32 and p.labels.shape == image.shape
    assert p.scores.shape == (int(p.labels.max()),) and np.all((p.scores >= 0) & (p.scores <= 1))
    return evaluate(truth, p.labels, p.scores)["accuracy"]


def test_tuned_baseline_beats_the_naive_one_on_synthetic_nuclei_and_cells(tissue):
    pixels, nuclei, cells = tissue
    nuclear = Image(pixels, ChannelSpec(0, None))
    tuned, naive = _accuracy(BaselineSegmenter(), nuclear, nuclei), _accuracy(BaselineSegmenter(NAIVE), nuclear, nuclei)
    assert tuned > naive + 0.1 and tuned > 0.3
    dual = Image(pixels, ChannelSpec(0, 1))
    whole = _accuracy(BaselineSegmenter(WatershedSettings(target="whole_cell")), dual, cells)
    assert whole > _accuracy(BaselineSegmenter(NAIVE), dual, cells) + 0.1
    membrane_only = _accuracy(BaselineSegmenter(), Image(pixels, ChannelSpec(None, 1)), cells)  # auto → whole cell
    assert membrane_only > 0.05


def test_radius_estimate_follows_the_objects():
    yy, xx = np.mgrid[:100, :100]
    disks = ((yy - 30) ** 2 + (xx - 30) ** 2 < 8**2) | ((yy - 70) ** 2 + (xx - 70) ** 2 < 8**2)
    assert 7 <= typical_radius(disks) <= 8
    assert typical_radius(np.zeros((10, 10), bool)) == 1.0


def test_empty_and_flat_images_give_no_instances():
    flat = Image(np.ones((40, 40, 1), np.float32), ChannelSpec(0, None))
    for settings in (WatershedSettings(), NAIVE):
        p = BaselineSegmenter(settings).predict(flat)
        assert p.labels.max() == 0 and p.scores.size == 0


def test_save_and_build_restore_the_settings(tmp_path, tissue):
    pixels, _, _ = tissue
    image = Image(pixels, ChannelSpec(0, 1))
    original = BaselineSegmenter(WatershedSettings(target="whole_cell", seed_spacing=0.5))
    original.save(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "backend.json").is_file()
    restored = build("baseline", checkpoint=tmp_path)
    assert restored.settings == original.settings
    np.testing.assert_array_equal(restored.predict(image).labels, original.predict(image).labels)
    assert build("baseline", target="nuclei").settings.target == "nuclei"
    with pytest.raises(SegGalError, match="not a baseline checkpoint"):
        build("baseline", checkpoint=tmp_path / "nowhere")
    with pytest.raises(SegGalError, match="unknown target"):
        WatershedSettings(target="cells")


def _dsb_image():
    """StarDist's packaged test image (DSB 2018 stage 1, fluorescence nuclei) and its annotation, read
    from the package folder without importing stardist (which would start TensorFlow)."""
    import tifffile

    spec = importlib.util.find_spec("stardist")
    assert spec is not None, "stardist is a core requirement"
    folder = Path(spec.submodule_search_locations[0]) / "data" / "images"
    return tifffile.imread(folder / "img2d.tif"), tifffile.imread(folder / "mask2d.tif")


def test_default_method_beats_naive_watershed_on_real_annotated_nuclei():
    raw, mask = _dsb_image()
    truth = as_labels(mask, "stardist mask2d.tif")
    assert int(truth.max()) > 100  # 125 annotated nuclei
    image = Image(raw[:, :, None].astype(np.float32), ChannelSpec(0, None), "img2d.tif")
    task = "tissuenet-nuclei-nuclear"
    method = gallery.default_method(task)
    default = gallery.load(gallery.ready_entry(method, task), target="nuclei")
    ours, anchor = _accuracy(default, image, truth), _accuracy(BaselineSegmenter(NAIVE), image, truth)
    print(f"default method {method}: accuracy {ours:.3f}; naive Otsu + distance-transform watershed: {anchor:.3f}")
    assert ours > anchor + 0.2
