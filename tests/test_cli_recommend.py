"""``python -m seggal recommend``: the table, the JSON (ties, caveats, pixel-size conversion) and errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from seggal.guideline import Answers, explain, recommend


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "seggal", "recommend", *args], capture_output=True, text=True,
                          check=False)


def test_cli_json_matches_the_library_and_carries_ties_caveats_and_the_pixel_size():
    result = _cli("--target", "whole_cell", "--channels", "nuclear", "--tissue", "lung", "--compute", "limited",
                  "--annotations", "none", "--pixel-size", "0.25", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    rec = recommend(Answers("fluorescence", "whole_cell", "nuclear", "lung", "limited", "no", 0.25))
    assert [m["method"] for m in out["methods"]] == [m.method for m in rec.methods]
    assert out["training"]["training_set"] == rec.training_set and out["checkpoint"] == rec.checkpoint
    assert [c["kind"] for c in out["caveats"]] == [c.kind for c in rec.caveats] and "weak_tissue" in [
        c["kind"] for c in out["caveats"]]
    assert [t["candidates"] for t in out["ties"]] == [list(t.candidates) for t in rec.ties] and out["ties"]
    assert out["postprocess"]["your_px"] == [0.0, 12.0] and out["scale"]["factor"] == 0.5
    assert out["answers"]["annotations"] == "no"
    assert out["text"]["caveats"] == list(explain(rec).caveats)
    assert out["methods"][0]["usage_guide"].startswith("https://")


def test_cli_reads_the_pixel_size_from_optics_or_a_tiff(tmp_path):
    optics = json.loads(_cli("--camera-pixel", "6.5", "--magnification", "13", "--json").stdout)
    assert optics["answers"]["pixel_size_um"] == pytest.approx(0.5)
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8), imagej=True, resolution=(4.0, 4.0), metadata={"unit": "um"})
    image = json.loads(_cli("--image", str(path), "--json").stdout)
    assert image["answers"]["pixel_size_um"] == pytest.approx(0.25)


def test_cli_table_and_errors():
    result = _cli("--modality", "phase_contrast", "--target", "nuclei", "--tissue", "HeLa", "--compute", "none",
                  "--annotations", "yes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rec = recommend(Answers("phase_contrast", "nuclei", "dual", "HeLa", "none", "yes"))
    assert lines[0].startswith("! No data")  # the missing evidence comes first
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    assert rec.choice.name in lines[header + 1] and "Why:" in result.stdout and "Figure 6" in result.stdout
    for args, message in ((("--compute", "lots"), "none, limited, ample"), (("--annotations", "some"), "no, yes"),
                          (("--pixel-size", "-2"), "positive"), (("--magnification", "20"), "--camera-pixel")):
        bad = _cli(*args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
