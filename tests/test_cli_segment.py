"""``python -m seggal segment`` and ``python -m seggal methods``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

from seggal.gallery import default_method, entries, ready_entry
from seggal.cli import main
from seggal.data.synthetic import synthetic_tissue
from seggal.io import read_labels, read_scores
from seggal.methods import METHODS, availability


def _write(folder, name, shape, seed):
    pixels, _, _ = synthetic_tissue(shape, "Breast", seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / name, (pixels * 1000).astype(np.uint16))
    return pixels


def test_segment_folder_writes_one_label_tiff_per_image(tmp_path, capsys):
    _write(tmp_path / "in", "big.tif", (300, 260), 0)  # larger than a window: tiled
    _write(tmp_path / "in", "small.tif", (96, 96), 1)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    assert main(["segment", str(tmp_path / "in"), "--method", "baseline", "--membrane-channel", "1",
                 "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "big_labels.scores.csv", "big_labels.tif", "segment_report.csv", "small_labels.scores.csv", "small_labels.tif"]
    labels = read_labels(tmp_path / "out" / "big_labels.tif")
    assert labels.shape == (300, 260) and labels.max() > 20
    confidences = read_scores(tmp_path / "out" / "big_labels.tif")  # one per label, in [0, 1]
    assert len(confidences) == labels.max() and ((confidences >= 0) & (confidences <= 1)).all()
    assert "task tissuenet-wholecell-dual" in capsys.readouterr().out


def test_segment_one_file_to_a_tif_with_the_default_method(tmp_path, capsys):
    _write(tmp_path, "img.tif", (128, 128), 2)
    assert main(["segment", str(tmp_path / "img.tif"), "--out", str(tmp_path / "labels.tif")]) == 0
    assert read_labels(tmp_path / "labels.tif").shape == (128, 128)
    assert f"method {default_method('tissuenet-nuclei-nuclear')}" in capsys.readouterr().out


def test_segment_errors_are_clear(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path / "no-weights"))
    _write(tmp_path, "img.tif", (64, 64), 3)
    assert main(["segment", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "img.tif"), "--method", "cellpose", "--out", str(tmp_path / "o")]) == 2
    assert "Cellpose's published 'nuclei' weights are not in" in capsys.readouterr().err  # offline: says how to get them
    monkeypatch.delenv("SEGGAL_SAM_CHECKPOINT", raising=False)
    assert main(["segment", str(tmp_path / "img.tif"), "--method", "sam", "--out", str(tmp_path / "o")]) == 2
    assert "method sam has no weights here for tissuenet-nuclei-nuclear: pass --checkpoint" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "img.tif"), "--nuclear-channel", "2", "--out", str(tmp_path / "o")]) == 2
    assert "nuclear channel 2 does not exist" in capsys.readouterr().err
    assert main(["segment", str(tmp_path), "--out", str(tmp_path / "x.tif")]) == 2
    assert "needs an output folder" in capsys.readouterr().err


def test_help_names_the_default_method():
    result = subprocess.run([sys.executable, "-m", "seggal", "segment", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert f"now {default_method()!r}" in " ".join(result.stdout.split())


def test_methods_json_lists_every_method_with_its_availability():
    result = subprocess.run([sys.executable, "-m", "seggal", "methods", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert list(rows) == [m.id for m in METHODS]
    for m in METHODS:
        status = availability(m)
        assert (rows[m.id]["available"], rows[m.id]["reason"]) == (status.available, status.reason)
        assert rows[m.id]["backend"] == m.backend and rows[m.id]["attention"] == m.attention
        assert rows[m.id]["ready"] == (ready_entry(m, "tissuenet-nuclei-nuclear") is not None)
    assert rows["baseline"]["ready"] and rows["baseline"]["available"]
    text = subprocess.run([sys.executable, "-m", "seggal", "methods"], capture_output=True, text=True).stdout
    assert "requires Python < 3.9" in text  # a blocked method (RetinaMask) says why
    assert f"default for `segment` on tissuenet-nuclei-nuclear: {default_method()}" in text


def test_a_checkpoint_folder_names_its_method(tmp_path, capsys):
    from seggal.backends.baseline import BaselineSegmenter, WatershedSettings
    from seggal.checkpoint import write_checkpoint

    folder = write_checkpoint(tmp_path / "ckpt", BaselineSegmenter(WatershedSettings(seed_spacing=0.5)),
                              {"method": "baseline", "task": "tissuenet-nuclei-nuclear", "training_set": "All"})
    _write(tmp_path, "img.tif", (96, 96), 4)
    assert main(["segment", str(tmp_path / "img.tif"), "--checkpoint", str(folder), "--out", str(tmp_path / "o")]) == 0
    assert f"method baseline ({folder})" in capsys.readouterr().out
    assert (tmp_path / "o" / "img_labels.tif").is_file()


def test_stardist_segments_nuclei_with_the_shipped_model_without_a_checkpoint(tmp_path, capsys):
    _write(tmp_path, "img.tif", (96, 96), 4)
    assert main(["segment", str(tmp_path / "img.tif"), "--method", "stardist", "--nuclear-channel", "0",
                 "--out", str(tmp_path / "o")]) == 0
    labels = read_labels(next((tmp_path / "o").glob("*.tif")))
    assert labels.shape == (96, 96) and labels.max() > 3  # synthetic Breast nuclei found


def test_a_folder_finishes_every_readable_image_and_reports_each_failure(tmp_path, capsys):
    import csv

    _write(tmp_path / "in", "good.tif", (64, 64), 5)
    (tmp_path / "in" / "broken.tif").write_bytes(b"II*\x00" + bytes(40))
    _write(tmp_path / "in", "zgood.tif", (64, 64), 6)
    assert main(["segment", str(tmp_path / "in"), "--method", "baseline", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    report = tmp_path / "out" / "segment_report.csv"
    assert "error: 1 of 3 images failed" in err and str(report) in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "good_labels.scores.csv", "good_labels.tif", "segment_report.csv", "zgood_labels.scores.csv", "zgood_labels.tif"]
    rows = {r["image"]: r for r in csv.DictReader(report.open())}
    assert rows["broken.tif"]["status"] == "failed" and "broken.tif" in rows["broken.tif"]["reason"]
    assert rows["broken.tif"]["output"] == ""
    assert rows["good.tif"]["status"] == "ok" and rows["good.tif"]["output"] == "good_labels.tif"
    assert int(rows["good.tif"]["instances"]) == read_labels(tmp_path / "out" / "good_labels.tif").max()


def test_a_single_input_that_fails_leaves_nothing_behind(tmp_path, capsys):
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + bytes(40))
    for out in (tmp_path / "out", tmp_path / "labels.tif"):
        assert main(["segment", str(tmp_path / "broken.tif"), "--method", "baseline", "--out", str(out)]) == 2
        assert "broken.tif" in capsys.readouterr().err
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tif"]
    _write(tmp_path, "img.tif", (64, 64), 10)
    (tmp_path / "file.txt").write_text("a file, not a folder")
    assert main(["segment", str(tmp_path / "img.tif"), "--method", "baseline",
                 "--out", str(tmp_path / "file.txt" / "labels.tif")]) == 2  # cannot be written: a clear error
    assert "file.txt/labels.tif: cannot write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tif", "file.txt", "img.tif"]


def test_colliding_output_names_are_refused_before_anything_runs(tmp_path, capsys):
    _write(tmp_path / "in", "a.tif", (64, 64), 7)
    pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=8)
    from PIL import Image as PILImage

    PILImage.fromarray((pixels[:, :, 0] * 255).astype(np.uint8)).save(tmp_path / "in" / "a.png")
    assert main(["segment", str(tmp_path / "in"), "--method", "baseline", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a.png" in err and "a.tif" in err and "a_labels.tif" in err
    assert not (tmp_path / "out").exists()


def test_an_existing_symlink_in_out_is_replaced_not_written_through(tmp_path, capsys):
    _write(tmp_path / "in", "img.tif", (64, 64), 9)
    (tmp_path / "out").mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("precious")
    (tmp_path / "out" / "img_labels.tif").symlink_to(elsewhere)
    (tmp_path / "single.tif").symlink_to(elsewhere)
    for source, out in ((tmp_path / "in", tmp_path / "out"), (tmp_path / "in" / "img.tif", tmp_path / "single.tif")):
        assert main(["segment", str(source), "--method", "baseline", "--out", str(out)]) == 0
        written = out / "img_labels.tif" if out.is_dir() else out
        assert not written.is_symlink() and read_labels(written).shape == (64, 64)
        assert "replaced" in capsys.readouterr().out
    assert elsewhere.read_text() == "precious"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img_labels.scores.csv", "img_labels.tif",
                                                                   "segment_report.csv"]


def test_the_cli_and_the_segment_page_agree_on_the_default_model(tmp_path, capsys):
    """One policy (seggal.gallery): `segment` on a one-channel image, `methods`, `segment --help` and the
    Segment page's preselection name the same method and checkpoint."""
    from streamlit.testing.v1 import AppTest

    pixels, _, _ = synthetic_tissue((96, 96), "Breast", seed=5)
    one = (pixels[:, :, 0] * 1000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "one.tif", one)
    assert main(["segment", str(tmp_path / "one.tif"), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    method = default_method("tissuenet-nuclei-nuclear")
    entry = ready_entry(method, "tissuenet-nuclei-nuclear")
    assert f"method {method} ({entry.label}), task tissuenet-nuclei-nuclear" in printed
    assert main(["methods"]) == 0
    assert f"default for `segment` on tissuenet-nuclei-nuclear: {method}" in capsys.readouterr().out

    import io
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180).run()
    at.switch_page("pages/segment.py").run()
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, one)
    at.file_uploader(key="seg_upload").set_value(("one.tif", buffer.getvalue(), "image/tiff")).run()
    assert not at.exception
    assert at.selectbox(key="seg_task").value == "tissuenet-nuclei-nuclear"
    assert at.selectbox(key="seg_method").value == method
    assert at.selectbox(key="seg_checkpoint").value == entry.reference
    assert at.selectbox(key="seg_checkpoint").options[0] == entry.label
    ready = {m.id for m in METHODS if ready_entry(m, "tissuenet-nuclei-nuclear") is not None}
    marked = {m.id for m, label in zip(METHODS, at.selectbox(key="seg_method").options) if label.endswith("— ready")}
    assert marked == ready and all(entries(m, "tissuenet-nuclei-nuclear")[0].ready for m in ready)
