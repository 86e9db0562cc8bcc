"""Issue 15 end to end, offline: `data pull` from a Drive stand-in on 127.0.0.1, `reproduce` with the baseline,
a killed run resuming, the comparison with the paper, the run's kind, and the Benchmarks page drawing the run."""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from seggal.cli import main
from seggal.data.pull import is_authentic, read_manifest
from seggal.data.synthetic import write_livecell_npz, write_tissuenet_npz
from seggal.reproduce import comparison, finished, run_kind
from seggal.results import load_scores
from seggal.runs import load_run, write_run
from seggal.zoo import download
from zoo_server import Server, server  # noqa: F401 — the zoo tests' 127.0.0.1 server and its fixture

ROOT = Path(__file__).resolve().parents[1]
FOLDER = "1dUtqhvkF-M7nSwtxUpY0QmgHIgA4pinc"  # the paper's TissueNet folder (results/published/datasets.csv)
IDS = {"tissuenet_paper_train.npz": "1" + "a" * 32, "tissuenet_paper_test.npz": "1" + "b" * 32}
LIVECELL_FOLDER = "1mJayXI2W9DLL17fsD3j2AcFySebnsoza"  # the paper's LIVECell folder
LIVECELL_IDS = {"LIVECell_train_all.npz": "1" + "c" * 32, "LIVECell_test_all.npz": "1" + "d" * 32}
FIXTURES = ROOT / "tests" / "fixtures" / "zoo"
TABS = ["Ranking (Fig. 2a)", "Guideline (Fig. 6)", "Per tissue (Fig. 3)", "Transferability (Fig. 4)",
        "Dilation & erosion (Fig. 5)"]


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "seggal"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(download, "RETRIES", 1)


def _drive(server: Server, tmp_path: Path, monkeypatch) -> dict[str, bytes]:
    """Serve the paper's TissueNet folder (stand-in files in the paper's layout) as Drive's folder view does."""
    monkeypatch.setenv(download.DRIVE_URL_ENV, server.url)
    files = {}
    for (name, file_id), seed in zip(IDS.items(), (0, 100)):
        path = write_tissuenet_npz(tmp_path / "src" / name, 4, (64, 64), ("Breast", "Lung"), seed, layout="paper")
        files[name] = path.read_bytes()
        server.files[f"/uc?id={file_id}"] = files[name]
    links = "".join(f'<a href="https://drive.google.com/file/d/{i}/view">{n}</a>' for n, i in IDS.items())
    server.files[f"/embeddedfolderview?id={FOLDER}"] = f"<html><title>tissuenet</title>{links}</html>".encode()
    return files


def _drive_livecell(server: Server, tmp_path: Path) -> None:
    """The paper's LIVECell folder: stand-in windows in its layout (LIVECell_<split>_all.npz)."""
    for (name, file_id), seed in zip(LIVECELL_IDS.items(), (0, 100)):
        path = write_livecell_npz(tmp_path / "src" / name, 4, (64, 64), ("A172", "SH-SY5Y"), seed)
        server.files[f"/uc?id={file_id}"] = path.read_bytes()
    links = "".join(f'<a href="https://drive.google.com/file/d/{i}/view">{n}</a>' for n, i in LIVECELL_IDS.items())
    server.files[f"/embeddedfolderview?id={LIVECELL_FOLDER}"] = f"<html><title>livecell</title>{links}</html>".encode()


def _converted_models(tmp_path: Path) -> Path:
    """Checkpoint folders converted by the model-zoo converters from the genuine Cellpose 2 and Keras-2 StarDist
    files (tests/fixtures/zoo): Cellpose on all tissues and on Breast only (a single-set model), StarDist."""
    from seggal.zoo.convert import convert

    models = tmp_path / "models"
    original = tmp_path / "cellpose_model"
    original.write_bytes(gzip.decompress((FIXTURES / "cellpose2" / "model.pth.gz").read_bytes()))
    for training_set in ("All", "Breast"):
        convert(original, method="cellpose", task="tissuenet-nuclei-dual", training_set=training_set,
                out=models / f"cellpose-{training_set}")
    convert(FIXTURES / "stardist_k2" / "model", method="stardist", task="tissuenet-wholecell-dual", training_set="All",
            out=models / "stardist")
    return models


def test_pull_fetches_the_folder_records_checksums_and_resumes(server, tmp_path, monkeypatch, capsys):
    files = _drive(server, tmp_path, monkeypatch)
    assert main(["data", "pull", "tissuenet", "--out", str(tmp_path / "data")]) == 0
    folder = tmp_path / "data" / "tissuenet"
    manifest = read_manifest(folder)
    assert {n: m["sha256"] for n, m in manifest["files"].items()} == {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    assert all((folder / n).read_bytes() == b for n, b in files.items())
    assert manifest["source"] == "paper" and not is_authentic(manifest)  # 127.0.0.1 is not Google Drive
    server.requests.clear()
    assert main(["data", "pull", "tissuenet", "--out", str(tmp_path / "data")]) == 0
    assert not [p for _, p, _ in server.requests if p.startswith("/uc")]  # complete files are not fetched again


def test_pull_says_when_the_network_or_the_licence_step_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(download.DRIVE_URL_ENV, "http://127.0.0.1:9")
    assert main(["data", "pull", "tissuenet", "--out", str(tmp_path)]) == 2
    assert "needs a network" in capsys.readouterr().err
    assert main(["data", "pull", "tissuenet", "--source", "original", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "licence" in err and "datasets.deepcell.org" in err and "tissuenet_v1.1_test.npz" in err
    for split in ("train", "val", "test"):  # placed by hand, as the message says
        write_tissuenet_npz(tmp_path / "tissuenet" / f"tissuenet_v1.1_{split}.npz", 2, (32, 32), ("Breast",))
    assert main(["data", "pull", "tissuenet", "--source", "original", "--out", str(tmp_path)]) == 0
    manifest = read_manifest(tmp_path / "tissuenet")
    assert sorted(manifest["files"]) == [f"original/tissuenet_v1.1_{s}.npz" for s in ("test", "train", "val")]
    assert all(f["url"].startswith("hand:https://datasets.deepcell.org") for f in manifest["files"].values())


def _open_run(tab: str, run_dir: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["figure"] = tab
    at.switch_page("pages/benchmarks.py").run()
    at.text_input(key="source-path").input(str(run_dir)).run()
    assert not at.exception, at.exception
    return at


def test_pull_reproduce_and_the_page_end_to_end(server, tmp_path, monkeypatch, capsys):
    _drive(server, tmp_path, monkeypatch)
    _drive_livecell(server, tmp_path)
    data, run_dir = tmp_path / "data", tmp_path / "run"
    assert main(["data", "pull", "tissuenet", "--out", str(data)]) == 0
    assert main(["data", "pull", "livecell", "--out", str(data)]) == 0
    models = _converted_models(tmp_path)
    assert main(["reproduce", "--data", str(data), "--models", str(models), "--methods", "baseline", "cellpose",
                 "stardist", "--tasks", "nuclei-nuclear", "nuclei-dual", "wholecell-dual", "livecell-wholecell",
                 "--limit", "1", "--out", str(run_dir)]) == 0
    run = load_run(run_dir)
    assert run.meta["kind"] == "synthetic-demo" and "STAND-IN" in run.meta["description"]  # never "reproduced"
    whole = run.per_tissue[run.per_tissue["test_set"] == "All"]
    assert set(zip(whole["method_id"], whole["task"], whole["training_set"])) == {
        *(("baseline", t, "All") for t in ("tissuenet-nuclei-nuclear", "tissuenet-nuclei-dual",
                                          "tissuenet-wholecell-dual", "livecell-wholecell")),
        ("cellpose", "tissuenet-nuclei-dual", "All"), ("cellpose", "tissuenet-nuclei-dual", "Breast"),
        ("stardist", "tissuenet-wholecell-dual", "All")}
    assert set(run.per_tissue["test_set"]) == {"All", "Breast", "Lung", "A172", "SH-SY5Y"}
    assert len(run.per_image) == 7 * 2 and len(run.throughput) == 7 and (run.throughput["images_per_s"] > 0).all()
    swept = set(zip(run.sweeps["method_id"], run.sweeps["mode"]))
    assert {("cellpose", "dilate"), ("stardist", "erode")} <= swept and run.sweeps["px"].max() == 10
    assert set(run.morphology["tissue"]) == {"Breast", "Lung", "A172", "SH-SY5Y"}
    assert set(run.morphology["n_train_images"]) == {2}
    assert run.comparison.empty  # no paper model: nothing is compared
    # the single-set model's full train-set x test-tissue matrix: rows Breast and All, columns every test tissue
    single = run.per_tissue[(run.per_tissue["method_id"] == "cellpose")]
    assert set(zip(single["training_set"], single["test_set"])) == {(a, b) for a in ("All", "Breast")
                                                                   for b in ("All", "Breast", "Lung")}
    expected = {0: 1, 2: 2, 3: 2, 4: 1}  # tab → plotly charts drawn from the run (tab 1 is the published Figure 6)
    for k, tab in enumerate(TABS):
        at = _open_run(tab, run_dir)
        assert any("Synthetic demo" in w.value for w in at.warning)
        charts = at.get("plotly_chart")
        assert len(charts) >= expected.get(k, 1), tab
        titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts]
        assert all("SYNTHETIC DEMO" in t or "Wang et al." in t for t in titles), titles
        if k == 2:
            assert any("single vs dual" in t for t in titles)
        if k == 3:
            at.selectbox(key="transfer-task").set_value("tissuenet-nuclei-dual").run()
            titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
            assert any("Cellpose trained on one set" in t for t in titles), titles


def test_a_killed_run_resumes_with_the_next_model(tmp_path):
    data = tmp_path / "data"
    for split, n in (("train", 2), ("test", 12)):
        write_tissuenet_npz(data / f"x_{split}.npz", n, (256, 256), ("Breast", "Lung"), 7, layout="paper")
    run_dir = tmp_path / "run"
    argv = ["reproduce", "--data", str(data), "--methods", "baseline", "--tasks", "nuclei-dual", "wholecell-dual",
            "nuclei-nuclear", "--out", str(run_dir)]
    proc = subprocess.Popen([sys.executable, "-m", "seggal", *argv], cwd=ROOT, stdout=subprocess.DEVNULL)
    first = run_dir / "parts" / "baseline-tissuenet-nuclei-dual-all" / "done.json"
    while not first.exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists() and len(finished(run_dir)) < 3, "the run ended before it could be killed"
    stamp = first.stat().st_mtime_ns
    assert main(argv) == 0
    assert first.stat().st_mtime_ns == stamp  # the finished pair was skipped, not redone
    assert {"baseline-tissuenet-wholecell-dual-all", "baseline-tissuenet-nuclei-nuclear-all"} <= set(finished(run_dir))
    assert len(load_run(run_dir).per_tissue[lambda t: t["test_set"] == "All"]) == 3


def _part(source: str, marks=(), synthetic=False) -> dict:
    return {"method_id": "cellpose", "task": "tissuenet-wholecell-dual", "training_set": "All", "source": source,
            "synthetic_model": synthetic, "data_marks": list(marks)}


def test_only_paper_models_on_authentic_data_are_reproduced():
    real = {"TissueNet": {"files": {"a.npz": {"url": "https://drive.google.com/uc?id=1", "sha256": "0"}}}}
    mirror = {"TissueNet": {"files": {"a.npz": {"url": "http://127.0.0.1:8000/uc?id=1", "sha256": "0"}}}}
    assert run_kind({"m": _part("paper")}, real)[0] == "reproduced"
    assert run_kind({"m": _part("paper")}, mirror)[0] == "seggal-run"
    assert run_kind({"m": _part("paper")}, {"TissueNet": None})[0] == "seggal-run"
    assert run_kind({"m": _part("folder")}, real)[0] == "seggal-run"
    assert run_kind({"m": _part("builtin")}, real)[0] == "seggal-run"
    assert run_kind({"m": _part("paper", marks=["x.npz holds images named 'synthetic…'"])}, real)[0] == "synthetic-demo"
    assert run_kind({"m": _part("paper", synthetic=True)}, real)[0] == "synthetic-demo"


def _rows(method, task, test_set, accuracy, training_set="All"):
    return {"method_id": method, "task": task, "training_set": training_set, "test_set": test_set, "accuracy": accuracy}


def test_comparison_checks_the_published_table_and_the_text():
    scores = load_scores().set_index(["method_id", "task", "training_set"])["accuracy"]
    published = float(scores[("cellpose", "tissuenet-wholecell-dual", "All")])
    per_tissue = pd.DataFrame([_rows("cellpose", "tissuenet-wholecell-dual", "All", published + 0.01),
                               _rows("cellpose", "tissuenet-wholecell-wholecell", "All", 0.30),
                               _rows("stardist", "tissuenet-nuclei-dual", "All", 0.5)])
    sweeps = pd.DataFrame([{"method_id": "resnest", "task": "tissuenet-nuclei-dual", "tissue": "Tonsil",
                            "mode": "dilate", "variant": "binary", "px": px, "accuracy": acc}
                           for px, acc in ((0, 0.2), (5, 0.5), (6, 0.4))])
    sources = {("cellpose", "tissuenet-wholecell-dual", "All"): "paper",
               ("cellpose", "tissuenet-wholecell-wholecell", "All"): "paper",
               ("resnest", "tissuenet-nuclei-dual", "All"): "paper",
               ("stardist", "tissuenet-nuclei-dual", "All"): "folder"}
    table = comparison(per_tissue, sweeps, sources).set_index("check")
    assert "stardist" not in set(table["method_id"])  # not the paper's model: not compared
    figure = table[(table["task"] == "tissuenet-wholecell-dual")].loc["published accuracy (Figure 2a)"]
    assert figure["published"] == published and figure["flagged"] == "no"
    single = table.loc["Cellpose whole cell, single channel (text: 0.17)"]
    assert single["reproduced"] == 0.30 and single["flagged"] == "yes"
    tonsil = table.loc["ResNeSt tonsil best expansion (text: 6 px)"]
    assert tonsil["reproduced"] == 5 and tonsil["flagged"] == "yes"


def test_the_page_labels_a_reproduced_run_and_flags_differences(tmp_path):
    meta = {"name": "repro", "kind": "reproduced", "date": "2026-11-29", "commit": "abc", "hardware": "H200",
            "description": "the paper's published models on its published test data"}
    per_tissue = pd.DataFrame([{"method_id": "cellpose", "task": "tissuenet-wholecell-dual", "training_set": "All",
                                "test_set": "All", "n_images": 4, **{m: 0.6 for m in
                                                                    ("mAP", "AP50", "AP75", "AR50", "AR75", "accuracy")}}])
    compared = pd.DataFrame([{"check": "Cellpose whole cell, dual channel (text: 0.70)", "method_id": "cellpose",
                              "task": "tissuenet-wholecell-dual", "training_set": "All", "test_set": "All",
                              "unit": "accuracy", "published": 0.70, "reproduced": 0.60, "abs_difference": 0.10,
                              "flagged": "yes"}])
    write_run(tmp_path / "repro", meta, per_tissue=per_tissue, comparison=compared)
    at = _open_run(TABS[0], tmp_path / "repro")
    assert any("Reproduced from the paper's models" in s.value for s in at.success)
    assert any("differ from the published ones by more than 0.02" in w.value and "0.600 vs 0.700" in w.value
               for w in at.warning)


def test_the_full_runs_hours_are_extrapolated_from_the_measured_speed(tmp_path, capsys):
    from seggal.reproduce import estimate_hours, full_test_windows

    assert full_test_windows("TissueNet") == 1324  # 256 x 256 test images: one window each
    assert full_test_windows("LIVECell") == 1564 * 4 * 3  # 704 x 520: x at 0, 192, 384, 448; y at 0, 192, 264
    key = {"training_set": "All", "n_images": 4, "seconds": 8.0, "device": "cpu", "hardware": "2 test cores"}
    throughput = pd.DataFrame([{"method_id": "cellpose", "task": "tissuenet-nuclei-dual", "images_per_s": 0.5, **key},
                               {"method_id": "stardist", "task": "livecell-wholecell", "images_per_s": 2.0, **key}])
    table = estimate_hours(throughput).set_index(["method_id", "task", "training_set"])
    assert len(table) == len(load_scores())  # every model of the paper
    assert table.loc[("cellpose", "tissuenet-nuclei-dual", "All"), "hours"] == pytest.approx(1324 / 0.5 / 3600)
    other = table.loc[("cellpose", "livecell-wholecell", "All")]
    assert other["measured"] == "other tasks" and other["hours"] == pytest.approx(18768 / 0.5 / 3600)
    assert table.loc[("stardist", "livecell-wholecell", "All"), "hours"] == pytest.approx(18768 / 2.0 / 3600)
    assert table.loc[("swin-s", "tissuenet-nuclei-dual", "Breast"), "measured"] == "not measured"
    meta = {"name": "smoke", "kind": "seggal-run", "date": "2026-11-29", "commit": "abc", "hardware": "2 test cores",
            "description": "a smoke run"}
    write_run(tmp_path / "smoke", meta, throughput=throughput)
    assert main(["reproduce", "--estimate", str(tmp_path / "smoke")]) == 0
    out = capsys.readouterr().out
    timed = table[table["hours"].notna()]
    assert f"{len(timed)} of {len(table)} models" in out and f"{timed['hours'].sum():,.1f} hours" in out
    assert "measured on 2 test cores" in out and "not measured: " in out and "swin-s" in out
    assert main(["reproduce", "--out", str(tmp_path / "x")]) == 2
    assert "needs --data" in capsys.readouterr().err
