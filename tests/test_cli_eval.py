"""``python -m seggal evaluate`` and ``python -m seggal sweep`` on real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage.segmentation import expand_labels

from seggal.cli import main
from seggal.io import write_labels
from seggal.metrics import METRICS, evaluate
from seggal.sweeps import erode, sweep

ROOT = Path(__file__).resolve().parent.parent


def cells(seed, shape=(48, 48), n=12, grow=5):
    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, np.int32)
    seeds[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = np.arange(1, n + 1)
    return expand_labels(seeds, grow)


@pytest.fixture
def folders(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gts, preds = {}, {}
    for i, name in enumerate(["a", "b", "c"]):
        gts[name] = cells(i)
        preds[name] = np.roll(gts[name], 1, axis=i % 2)
        write_labels(gt_dir / f"{name}.tif", gts[name])
    pred_dir.mkdir()
    np.save(pred_dir / "a.npy", preds["a"])
    PILImage.fromarray(preds["b"].astype(np.uint8)).save(pred_dir / "b.png")
    write_labels(pred_dir / "c.tiff", preds["c"])
    return gt_dir, pred_dir, gts, preds


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_folders_json_matches_library(capsys, folders):
    gt_dir, pred_dir, gts, preds = folders
    code, out, _ = run_cli(capsys, "evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir), "--json")
    assert code == 0
    got = json.loads(out)
    want = evaluate([gts[n] for n in "abc"], [preds[n] for n in "abc"])
    assert set(got) == set(METRICS) | {"n_images", "n_gt", "n_pred", "ranked_by_confidence"}
    assert got["ranked_by_confidence"] == 0  # no .scores.csv beside these predictions
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12)
    code, out, _ = run_cli(capsys, "evaluate", "--gt", str(gt_dir / "b.tif"), "--pred", str(pred_dir / "b.png"))
    assert code == 0 and "mAP" in out and "1 image(s)" in out


def test_evaluate_reports_unmatched_names_unreadable_files_and_shape_mismatch(capsys, folders, tmp_path):
    gt_dir, pred_dir, gts, _ = folders
    write_labels(gt_dir / "extra.tif", gts["a"])
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir))
    assert code == 2 and "only in ground truth" in err and "extra" in err
    (gt_dir / "extra.tif").unlink()
    (pred_dir / "c.tiff").write_bytes(b"not a tiff")
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir))
    assert code == 2 and "c.tiff" in err and "cannot read" in err
    np.save(tmp_path / "small.npy", np.zeros((10, 10), np.int32))
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(gt_dir / "a.tif"), "--pred", str(tmp_path / "small.npy"))
    assert code == 2 and "small.npy" in err and "shape" in err
    np.save(tmp_path / "stack.npy", np.ones((4, 10, 10), np.int32))
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(tmp_path / "stack.npy"), "--pred", str(tmp_path / "stack.npy"))
    assert code == 2 and "stack.npy" in err and "2-D" in err
    np.save(tmp_path / "neg.npy", -np.ones((48, 48), np.int32))
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(gt_dir / "a.tif"), "--pred", str(tmp_path / "neg.npy"))
    assert code == 2 and "neg.npy" in err and ">= 0" in err


def test_evaluate_refuses_devices_and_pipes_with_a_clear_error(capsys, folders, tmp_path):
    import os

    gt_dir, _, _, _ = folders
    code, _, err = run_cli(capsys, "evaluate", "--gt", "/dev/zero", "--pred", "/dev/zero")
    assert code == 2 and err.startswith("error: /dev/zero:") and "not a regular file or folder" in err
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(gt_dir / "a.tif"), "--pred", "/dev/null")
    assert code == 2 and "/dev/null" in err and "not a regular file or folder" in err
    os.mkfifo(tmp_path / "pipe.tif")
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(tmp_path / "pipe.tif"), "--pred", str(gt_dir / "a.tif"))
    assert code == 2 and "pipe.tif" in err and "not a regular file or folder" in err
    (gt_dir / "link.tif").symlink_to("/dev/zero")  # a device inside a folder is not read either
    code, _, err = run_cli(capsys, "evaluate", "--gt", str(gt_dir), "--pred", str(gt_dir))
    assert code == 0


def test_evaluate_command_does_not_import_torch(folders):
    gt_dir, pred_dir, _, _ = folders
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "seggal", "evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["n_images"] == 3
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "numpy" in imported  # the import log was read
    heavy = sorted(m for m in imported if re.match(r"(torch|tensorflow|cellpose)(\.|$)", m))
    assert not heavy, heavy


def test_sweep_command_json(capsys, tmp_path):
    whole = [cells(5), cells(6)]
    nuclei = [erode(w, 3) for w in whole]
    for i, (w, n) in enumerate(zip(whole, nuclei)):
        write_labels(tmp_path / "cells" / f"im{i}.tif", w)
        write_labels(tmp_path / "nuclei" / f"im{i}.tif", n)
    code, out, _ = run_cli(capsys, "sweep", "--nuclei", str(tmp_path / "nuclei"), "--gt", str(tmp_path / "cells"),
                           "--mode", "dilate", "--max-px", "4", "--json")
    assert code == 0
    rows = json.loads(out)
    want = sweep(nuclei, whole, max_px=4)
    assert [r["px"] for r in rows] == list(range(5))
    assert sum(r["best"] for r in rows) == 1
    best = max(rows, key=lambda r: (r["accuracy"], -r["px"]))
    assert best["best"]
    for row, (_, ref) in zip(rows, want.iterrows()):
        assert row["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12)
    code, out, _ = run_cli(capsys, "sweep", "--masks", str(tmp_path / "cells"), "--gt", str(tmp_path / "nuclei"),
                           "--mode", "erode", "--max-px", "3")
    assert code == 0 and "best step" in out and "binary erosion" in out
    code, _, err = run_cli(capsys, "sweep", "--masks", str(tmp_path / "cells"), "--gt", str(tmp_path / "nuclei"),
                           "--mode", "erode", "--method", "expand")
    assert code == 2 and "binary" in err


def test_scores_sidecar_changes_the_ranking_and_evaluate_reads_it(capsys, tmp_path):
    """A prediction whose confident cells are the good ones scores higher with its confidences than in
    label order; `seggal segment`'s sidecar format round-trips and `evaluate` / `sweep` use it."""
    from seggal.io import read_scores, scores_path, write_scores

    gt = cells(7, n=20)
    pred = gt.copy()
    bad = np.unique(gt[gt > 0])[:8]  # the first labels are wrong (shifted far), the rest exact
    for label in bad:
        pred[pred == label] = 0
    pred = pred + np.roll(np.isin(gt, bad) * gt, 9, axis=1) * (pred == 0)
    confidence = np.where(np.isin(np.arange(1, gt.max() + 1), bad), 0.1, 0.9)
    write_labels(tmp_path / "gt.tif", gt)
    write_labels(tmp_path / "pred.tif", pred)
    code, out, _ = run_cli(capsys, "evaluate", "--gt", str(tmp_path / "gt.tif"), "--pred", str(tmp_path / "pred.tif"), "--json")
    by_label = json.loads(out)
    path = write_scores(tmp_path / "pred.tif", confidence)
    assert path == scores_path(tmp_path / "pred.tif") and path.name == "pred.scores.csv"
    np.testing.assert_array_equal(read_scores(tmp_path / "pred.tif"), confidence)
    code, out, _ = run_cli(capsys, "evaluate", "--gt", str(tmp_path / "gt.tif"), "--pred", str(tmp_path / "pred.tif"), "--json")
    ranked = json.loads(out)
    expected = evaluate([gt], [pred], [confidence])
    assert code == 0 and ranked["ranked_by_confidence"] == 1 and by_label["ranked_by_confidence"] == 0
    assert all(ranked[k] == pytest.approx(expected[k], abs=1e-12) for k in METRICS)
    assert ranked["mAP"] > by_label["mAP"]
    code, out, _ = run_cli(capsys, "sweep", "--masks", str(tmp_path / "pred.tif"), "--gt", str(tmp_path / "gt.tif"),
                           "--mode", "erode", "--max-px", "1", "--json")
    assert json.loads(out)[0]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)


@pytest.mark.parametrize("content", ["", "label,score\n1,abc\n", "label,score\n2,0.5\n", "x,y\n1,0.5\n",
                                     "label,score\n1,nan\n"])
def test_malformed_scores_sidecar_is_a_clear_error(capsys, tmp_path, content):
    gt = cells(3)
    write_labels(tmp_path / "gt.tif", gt)
    write_labels(tmp_path / "pred.tif", gt)
    (tmp_path / "pred.scores.csv").write_text(content)
    code, out, err = run_cli(capsys, "evaluate", "--gt", str(tmp_path / "gt.tif"), "--pred", str(tmp_path / "pred.tif"))
    assert code == 2 and err.startswith("error: ") and "pred.scores.csv" in err
