"""``python -m training.publish``: checking folders, the dry-run listing, tagged pushes through huggingface_hub's
real HfApi to a stand-in Hub on 127.0.0.1 (test_hub's), and the mirror index they write.

The checkpoint is a converted paper model: the genuine Cellpose 2 fixture through ``seggal.zoo.convert``.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from seggal import hub
from seggal.zoo.convert import convert
from test_hub import _StandInHub
from training.publish import main

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "https://drive.google.com/file/d/1example/view"
NAME = "cellpose-tissuenet-wholecell-dual-all"


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("orig") / "cellpose_residual_on_style_on_concatenation_off_tissuenet"
    path.write_bytes(gzip.decompress((ROOT / "tests" / "fixtures" / "zoo" / "cellpose2" / "model.pth.gz").read_bytes()))
    return path


@pytest.fixture(scope="module")
def converted(original, tmp_path_factory) -> Path:
    return convert(original, method="cellpose", task="tissuenet-wholecell-dual", training_set="All",
                   out=tmp_path_factory.mktemp("conv") / "cp", source_url=SOURCE)


@pytest.fixture()
def folder(converted, tmp_path) -> Path:
    """A fresh copy of the converted checkpoint with a training state beside it (never pushed)."""
    out = tmp_path / "run" / "best"
    shutil.copytree(converted, out)
    (out / "training_state.json").write_text("{}")
    return out


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_HUB_MIRROR", str(tmp_path / "mirror.csv"))
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.delenv("SEGGAL_HUB_ORG", raising=False)


def test_a_converted_models_card_names_source_sha256_paper_and_published_scores(original, converted):
    card = (converted / "README.md").read_text()
    assert SOURCE in card
    assert hashlib.sha256(original.read_bytes()).hexdigest() in card
    assert "A systematic evaluation of computation methods for cell segmentation" in card
    with open(ROOT / "results" / "published" / "scores.csv", newline="") as handle:
        [row] = [r for r in csv.DictReader(handle)
                 if (r["method_id"], r["task"], r["training_set"]) == ("cellpose", "tissuenet-wholecell-dual", "All")]
    assert f"| accuracy | {float(row['accuracy'])} |" in card


def test_dry_run_lists_the_files_without_the_training_state(folder, capsys, tmp_path):
    assert main([str(folder), "--dry-run", "--org", "my-lab", "--tag", "v1"]) == 0
    out = capsys.readouterr().out.strip()
    files = sorted(p.name for p in folder.iterdir() if p.name != "training_state.json")
    assert out == f"would push {folder} -> my-lab/{NAME} tag v1: {', '.join(files)}"
    assert "provenance.json" in files and not (tmp_path / "mirror.csv").exists()
    # --all: a run's last/ (with its training state) is skipped, best/ listed; default tag from the content
    shutil.copytree(folder, folder.parent / "last")
    (folder / "training_state.json").unlink()
    assert main(["--all", str(tmp_path / "run"), "--dry-run"]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"would push {folder} -> seggal/{NAME} tag sha256-")


def test_the_content_tag_follows_the_pushed_bytes_only(folder, tmp_path):
    tag = hub.plan_push(folder).tag
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("training_state*"))
    assert hub.plan_push(copy).tag == tag  # same files, another place, no training state
    with open(copy / "backend.json", "a") as handle:
        handle.write(" ")
    assert hub.plan_push(copy).tag != tag


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "README.md").unlink(), "README.md: not found"),
    (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
     "model.safetensors: not a"),
    (lambda f: (f / "config.json").write_text("{"), "config.json: not valid JSON"),
    (lambda f: (f / "README.md").write_text((f / "README.md").read_text().replace(SOURCE, "elsewhere")),
     "model card does not name the source_url"),
])
def test_incomplete_or_tampered_folders_are_refused_before_anything_is_sent(folder, tmp_path, capsys, damage, message):
    good = tmp_path / "run" / "good"
    shutil.copytree(folder, good, ignore=shutil.ignore_patterns("training_state*"))
    damage(folder)
    # an unreachable Hub: had anything been sent, the error would be a connection failure
    assert main([str(good), str(folder), "--org", "lab", "--tag", "v1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "mirror.csv").exists()


def test_bad_arguments_are_clear_errors(folder, tmp_path, capsys):
    for argv, message in (([], "no checkpoint folder to push"),
                          ([str(tmp_path / "missing")], "no such checkpoint folder"),
                          ([str(folder), "--tag", "../x"], "tag '../x'"),
                          ([str(folder), "--org", "bad org"], "not a valid Hub repository id"),
                          ([str(folder), str(folder), "--dry-run"], "would both be pushed to seggal/")):
        assert main(argv) == 2
        assert message in capsys.readouterr().err


@pytest.fixture()
def stand_in_hub(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandInHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _StandInHub.requests, _StandInHub.tags = [], {}
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield _StandInHub
    server.shutdown()
    server.server_close()


def _read_index(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_publish_pushes_one_tagged_commit_and_pins_it_in_the_mirror_index(folder, stand_in_hub, capsys, tmp_path):
    commit = "c" * 40  # what the stand-in Hub answers for every commit
    assert main([str(folder), "--org", "lab", "--tag", "v1"]) == 0
    assert capsys.readouterr().out.startswith(f"lab/{NAME}@{commit}  (tag v1;")
    calls = [(m, p) for m, p, _, _ in stand_in_hub.requests]
    assert ("POST", f"/api/models/lab/{NAME}/commit/main") in calls
    assert calls[-1] == ("POST", f"/api/models/lab/{NAME}/tag/{commit}")
    assert json.loads(stand_in_hub.requests[-1][3]) == {"tag": "v1"}
    body = next(b for m, p, _, b in stand_in_hub.requests if p.endswith("/commit/main"))
    sent = {e["value"]["path"]: base64.b64decode(e["value"]["content"])
            for e in map(json.loads, body.decode().splitlines()) if e["key"] == "file"}
    assert sent == {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "training_state.json"}
    assert _read_index(tmp_path / "mirror.csv") == [
        {"method": "cellpose", "task": "tissuenet-wholecell-dual", "training_set": "All", "repo_id": f"lab/{NAME}",
         "revision": commit, "tag": "v1"}]
    assert hub.mirror_revision(f"lab/{NAME}") == commit  # what a pull of lab/… pins


def test_a_published_tag_is_never_moved(folder, stand_in_hub, capsys, tmp_path):
    stand_in_hub.tags = {"v1": "d" * 40}
    assert main([str(folder), "--org", "lab", "--tag", "v1"]) == 2
    assert "already has tag 'v1' (commit dddd" in capsys.readouterr().err
    assert not [p for _, p, _, _ in stand_in_hub.requests if "/commit/" in p or "/tag/" in p]
    # the content tag already there: these files are published; its commit is pinned, nothing is sent
    stand_in_hub.tags = {hub.plan_push(folder).tag: "e" * 40}
    assert main([str(folder), "--org", "lab"]) == 0
    assert capsys.readouterr().out.startswith(f"lab/{NAME}@{'e' * 40}")
    assert not [p for _, p, _, _ in stand_in_hub.requests if "/commit/" in p or "/tag/" in p]
    assert [r["revision"] for r in _read_index(tmp_path / "mirror.csv")] == ["e" * 40]


def test_an_unreachable_hub_is_a_clear_error(folder, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert main([str(folder), "--org", "lab", "--tag", "v1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Hub http://127.0.0.1:9: pushing {folder} to lab/{NAME} failed")
    assert not (tmp_path / "mirror.csv").exists()
