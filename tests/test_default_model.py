"""training.default_model: a real (tiny) run end to end, and the rule that decides what ships."""

import json

import pytest

from seggal import hub
from training import default_model


def test_only_a_model_that_beats_the_baseline_and_fits_ships():
    assert default_model.verdict(0.5, 0.4, 1.5, 8.0) == (True, "beats the baseline (0.500 > 0.400) and fits (1.50 MB)")
    assert default_model.verdict(0.4, 0.4, 1.5, 8.0)[0] is False  # a tie does not ship
    assert "larger than 8.0 MB" in default_model.verdict(0.9, 0.4, 9.0, 8.0)[1]
    assert default_model.verdict(0.9, 0.4, 1.0, 8.0, no_ship=True) == (False, "beats the baseline and fits, but --no-ship was given")


def test_tiny_run_reports_both_scores_on_the_real_image_and_ships_nothing(tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "models" / "default"
    monkeypatch.setattr(hub, "EMBEDDED_DEFAULT", shipped)
    out = tmp_path / "run"
    arch = json.dumps({"unet_n_filter_base": 8, "unet_n_depth": 2, "n_rays": 16})
    assert default_model.main(["--out", str(out), "--arch", arch, "--epochs", "1", "--max-iters", "1",
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
