"""training.default_model: a real (tiny) run end to end, and the rule that decides what ships."""

import json
from pathlib import Path

import numpy as np
import pytest

from seggal import gallery
from training import default_model


def _scores(dsb_map, dsb_ap75, clean_map):
    return {"dsb": {"mAP": dsb_map, "AP75": dsb_ap75}, "clean": {"mAP": clean_map}}


def test_only_a_model_that_beats_the_baseline_in_map_and_ap75_and_traces_clean_nuclei_ships():
    baseline = _scores(0.30, 0.29, 0.95)
    ships, why = default_model.verdict(_scores(0.40, 0.37, 0.85), baseline, 1.5, 8.0)
    assert ships and "mAP 0.400 > 0.300, AP75 0.370 > 0.290" in why and "mAP 0.850 on clean round nuclei" in why
    assert "in AP75 (0.290 <= 0.290)" in default_model.verdict(_scores(0.40, 0.29, 0.9), baseline, 1.5, 8.0)[1]
    assert "in mAP" in default_model.verdict(_scores(0.30, 0.40, 0.9), baseline, 1.5, 8.0)[1]  # a tie does not ship
    assert "too loosely (mAP 0.790 < 0.8)" in default_model.verdict(_scores(0.4, 0.4, 0.79), baseline, 1.5, 8.0)[1]
    assert "larger than 8.0 MB" in default_model.verdict(_scores(0.4, 0.4, 0.9), baseline, 9.0, 8.0)[1]
    assert default_model.verdict(_scores(0.4, 0.4, 0.9), baseline, 1.0, 8.0, no_ship=True) == (
        False, "passes every bar, but --no-ship was given")


def test_the_clean_field_has_round_nuclei_cut_by_tile_seams():
    from seggal.data.synthetic import clean_round_nuclei

    pixels, nuclei = clean_round_nuclei()
    assert pixels.shape == (1024, 1024, 1) and pixels.dtype == np.float32 and nuclei.dtype == np.int32
    ids = np.unique(nuclei)[1:]
    assert np.array_equal(ids, np.arange(1, len(ids) + 1)) and len(ids) > 200
    cut = {int(i) for seam in (255, 511, 767) for i in np.unique(np.r_[nuclei[seam], nuclei[:, seam]])} - {0}
    assert len(cut) >= 10  # nuclei straddle the 256-px tile seams
    radii = np.sqrt(np.bincount(nuclei.ravel())[1:] / np.pi)
    assert radii.min() < 7 and radii.max() > 16  # many sizes


def test_tiny_run_reports_both_scores_on_the_real_image_and_ships_nothing(tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "models" / "default"
    monkeypatch.setattr(gallery, "EMBEDDED_DEFAULT", shipped)
    out = tmp_path / "run"
    arch = json.dumps({"unet_n_filter_base": 8, "unet_n_depth": 2, "n_rays": 16})
    assert default_model.main(["--out", str(out), "--arch", arch, "--epochs", "1", "--steps-per-epoch", "1",
                               "--batch-size", "2", "--max-mb", "0.01"]) == 0
    text = (out / "comparison.json").read_text()
    assert capsys.readouterr().out.endswith(text)  # after the training log, the report
    report = json.loads(text)
    assert report["trained"]["method"] == "stardist" and report["trained"]["arch"]["unet_n_filter_base"] == 8
    assert set(report["trained"]["thresholds"]) == {"prob", "nms"}  # tuned on the synthetic validation split
    calibrated = json.loads((out / "best-calibrated" / "backend.json").read_text())
    assert calibrated["thresholds"]["prob"] == pytest.approx(report["trained"]["thresholds"]["prob"])
    for who in ("model", "baseline"):
        for image in ("dsb", "clean"):
            assert set(report[who][image]) == {"mAP", "AP50", "AP75", "AR50", "AR75", "accuracy", "instances"}
            assert 0.0 <= report[who][image]["mAP"] <= 1.0
    assert report["baseline"]["dsb"]["mAP"] > 0.2  # the classical baseline really segments the DSB nuclei
    assert report["baseline"]["clean"]["mAP"] > 0.8  # and traces the clean discs tightly
    assert "chosen on" in report["selection"]
    assert report["shipped"] is False and not shipped.exists()


def test_scores_read_from_the_written_files_equal_the_in_process_scores():
    """The report's numbers are the ones a user gets from `seggal segment` + `seggal evaluate`, and they equal
    the scores of the same masks (and confidences) in memory."""
    from seggal.backends import build
    from seggal.data.synthetic import clean_round_nuclei
    from seggal.examples import load_example
    from seggal.image import ChannelSpec, Image
    from seggal.metrics import evaluate
    from seggal.tiling import segment_image

    written = default_model.score_as_written("baseline")
    example = load_example("dsb2018-nuclei")
    pixels, truth = clean_round_nuclei()
    baseline = build("baseline", target="nuclei")
    for name, image, gt in (("dsb", Image(example.pixels[..., example.nuclear, None], ChannelSpec(0, None), "dsb"),
                             example.ground_truth), ("clean", Image(pixels, ChannelSpec(0, None), "clean"), truth)):
        p = segment_image(baseline, image)
        assert written[name]["instances"] == int(p.labels.max())
        assert written[name]["mAP"] == pytest.approx(evaluate([gt], [p.labels], [p.scores])["mAP"], abs=1e-9)


def test_the_shipped_model_beats_the_baseline_on_the_real_nuclei_and_is_the_default(tmp_path, monkeypatch):
    """The model in seggal/models/default, scored again here: the comparison it shipped with holds."""
    from seggal.backends import build

    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))  # no published weights, no local checkpoints
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("SEGGAL_SAM_CHECKPOINT", raising=False)

    folder = gallery.embedded_default()
    assert folder is not None, "seggal/models/default is missing or incomplete"
    shipped = json.loads((folder / "comparison.json").read_text())
    assert shipped["shipped"] and default_model.folder_mb(folder) <= shipped["max_mb"]
    model, config = gallery.load_checkpoint(folder)
    assert config["method"] == "stardist" and config["task"] == "tissuenet-nuclei-nuclear"
    # trained on synthetic nuclei, and the record says so: no TissueNet training set is claimed
    assert "synthetic" in config["data"] and config["synthetic"] is True and config["training_set"] == "synthetic"
    card = (folder / "README.md").read_text()
    assert "trained on synthetic images (synthetic-nuclei)" in card and "trained on All" not in card
    import stardist  # the files comparison.json names are the ones seggal.examples reads

    named = shipped["images"]["dsb"].split("(")[1].rstrip(")").split(" + ")
    data = Path(stardist.__file__).parent.parent
    assert named == ["stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif"]
    assert all((data / path).is_file() for path in named)
    ours = default_model.score_as_written(folder)
    baseline = default_model.score_as_written("baseline")
    # the report it shipped with holds (TensorFlow's float results may differ in the last bits on another CPU)
    for image in ("dsb", "clean"):
        for metric in ("mAP", "AP75"):
            assert ours[image][metric] == pytest.approx(shipped["model"][image][metric], abs=0.01)
            assert baseline[image][metric] == pytest.approx(shipped["baseline"][image][metric], abs=1e-6)
    assert ours["dsb"]["mAP"] > baseline["dsb"]["mAP"] and ours["dsb"]["AP75"] > baseline["dsb"]["AP75"]
    assert ours["clean"]["mAP"] >= default_model.CLEAN_MIN_MAP
    assert gallery.embedded_default("stardist", "tissuenet-nuclei-nuclear") == folder
    assert gallery.embedded_default("cellpose") is None and gallery.embedded_default(task="tissuenet-nuclei-dual") is None
    assert gallery.ready_entry("stardist", "tissuenet-nuclei-nuclear").reference == str(folder)
    assert gallery.default_method("tissuenet-nuclei-nuclear") == "stardist" == gallery.default_method()
    assert gallery.default_method("tissuenet-wholecell-dual") != "stardist"  # trained for nuclei from a nuclear stain only
