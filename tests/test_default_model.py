"""training.default_model: a real (tiny) run end to end, and the rule that decides what ships."""

import json
from pathlib import Path

import pytest

from seggal import gallery
from training import default_model


def test_only_a_model_that_beats_the_baseline_and_fits_ships():
    assert default_model.verdict(0.5, 0.4, 1.5, 8.0) == (True, "beats the baseline (0.500 > 0.400) and fits (1.50 MB)")
    assert default_model.verdict(0.4, 0.4, 1.5, 8.0)[0] is False  # a tie does not ship
    assert "larger than 8.0 MB" in default_model.verdict(0.9, 0.4, 9.0, 8.0)[1]
    assert default_model.verdict(0.9, 0.4, 1.0, 8.0, no_ship=True) == (False, "beats the baseline and fits, but --no-ship was given")


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
        assert set(report[who]) == {"mAP", "AP50", "AP75", "AR50", "AR75", "accuracy"}
        assert 0.0 <= report[who]["accuracy"] <= 1.0
    assert report["baseline"]["accuracy"] > 0.3  # the classical baseline really segments the DSB nuclei
    assert report["shipped"] is False and not shipped.exists()  # 0.01 MB: nothing this size can ship


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

    named = shipped["image"].split("(")[1].rstrip(")").split(" + ")
    data = Path(stardist.__file__).parent.parent
    assert named == ["stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif"]
    assert all((data / path).is_file() for path in named)
    ours = default_model.score_on_real_nuclei(model)
    baseline = default_model.score_on_real_nuclei(build("baseline", target="nuclei"))
    # the report it shipped with holds (TensorFlow's float results may differ in the last bits on another CPU)
    assert ours["accuracy"] == pytest.approx(shipped["model"]["accuracy"], abs=0.01)
    assert baseline["accuracy"] == pytest.approx(shipped["baseline"]["accuracy"], abs=1e-6)
    assert ours["accuracy"] > baseline["accuracy"]
    assert gallery.embedded_default("stardist", "tissuenet-nuclei-nuclear") == folder
    assert gallery.embedded_default("cellpose") is None and gallery.embedded_default(task="tissuenet-nuclei-dual") is None
    assert gallery.ready_entry("stardist", "tissuenet-nuclei-nuclear").reference == str(folder)
    assert gallery.default_method("tissuenet-nuclei-nuclear") == "stardist" == gallery.default_method()
    assert gallery.default_method("tissuenet-wholecell-dual") != "stardist"  # trained for nuclei from a nuclear stain only
