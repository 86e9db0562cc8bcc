"""seggal.checkpoint / seggal.hub / seggal.gallery: checkpoint folders, model cards, the HF cache offline, the push
path up to HTTP, gallery slots.

The checkpoints are written by the real cellpose backend; the Hub side is exercised for real: files laid
out in a Hugging Face cache read back by ``snapshot_download`` in a process with ``HF_HUB_OFFLINE=1``, and
``huggingface_hub``'s push sent to a stand-in Hub server on 127.0.0.1 that records the requests.
"""

import base64
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from seggal.metrics import COCO_METRICS
from seggal import checkpoint as ckpt
from seggal import gallery, hub
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image

ROOT = Path(__file__).resolve().parents[1]
META = {
    "method": "cellpose", "task": "nuclei-dual", "training_set": "Breast", "data": "synthetic",
    "validation": {"mAP": 0.41, "AP50": 0.62, "AP75": 0.44, "AR50": 0.66, "AR75": 0.47, "accuracy": 0.52},
    "training": {"epochs": 2, "batch_size": 8, "learning_rate": 0.2, "hours": 0.01, "standardised_hours": 0.25,
                 "hardware": "CPU x86_64 (2 cores)"},
}


@pytest.fixture(scope="module")
def segmenter():
    from seggal.backends import build

    return build("cellpose", device="cpu")


@pytest.fixture(scope="module")
def checkpoint(segmenter, tmp_path_factory) -> Path:
    return ckpt.write_checkpoint(tmp_path_factory.mktemp("ckpt") / "cellpose-breast", segmenter, META)


@pytest.fixture(scope="module")
def image() -> Image:
    from seggal.data.synthetic import synthetic_tissue

    pixels, _, _ = synthetic_tissue((96, 96), "Breast", seed=3)
    return Image(pixels, ChannelSpec(0, 1), "probe")


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_repo_names_and_the_configurable_organisation(monkeypatch):
    monkeypatch.delenv("SEGGAL_HUB_ORG", raising=False)
    assert hub.repo_id("Cellpose", "nuclei-dual", "Lymph Node Metastasis") == (
        "seggal/cellpose-tissuenet-nuclei-dual-lymph-node-metastasis")
    monkeypatch.setenv("SEGGAL_HUB_ORG", "my-lab")
    assert hub.repo_id("swin-s", "wholecell", "SH-SY5Y") == "my-lab/swin-s-livecell-wholecell-sh-sy5y"
    assert ckpt.parse_reference("my-lab/cellpose-x@v2") == ("my-lab/cellpose-x", "v2")
    assert ckpt.parse_reference("org/name") == ("org/name", None)
    with pytest.raises(SegGalError, match="not a Hub reference"):
        ckpt.parse_reference("a/b/c")


def test_checkpoint_folder_holds_weights_config_and_card(checkpoint):
    names = {p.name for p in checkpoint.iterdir()}
    assert {"model.safetensors", "config.json", "README.md"} <= names
    assert not [p for p in checkpoint.parent.iterdir() if p.name.startswith(".")]  # no staging left
    config = ckpt.read_config(checkpoint)
    # trained on generated images: the record claims no real tissue
    assert (config["method"], config["task"], config["training_set"]) == ("cellpose", "tissuenet-nuclei-dual", "synthetic")
    assert config["synthetic"] is True and config["dataset"] == "synthetic" and "TissueNet" not in config["training_data"]
    assert config["channels"] == {"input_channels": "dual", "nuclear": 0, "membrane": 1}
    assert config["preprocessing"] == {"normalisation": "percentile", "per_channel": True, "low": 0.1, "high": 99.9,
                                       "clahe": False, "window": 256, "step": 192}
    assert config["packages"]["cellpose"] and config["packages"]["torch"]
    assert config["validation"] == META["validation"]
    assert "git_commit" in config and config["created"]
    assert ckpt.is_complete(checkpoint)


def test_model_card_front_matter_parses_and_has_the_hub_fields(checkpoint):
    card = (checkpoint / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "seggal"
    assert {"cellpose", "tissuenet-nuclei-dual", "instance-segmentation"} <= set(meta["tags"])
    assert meta["datasets"] == ["synthetic"]
    assert meta["metrics"] == ["mAP", "AP50", "AP75", "AR50", "AR75"]
    results = meta["model-index"][0]["results"][0]["metrics"]
    assert {m["type"]: m["value"] for m in results} == {k: META["validation"][k] for k in COCO_METRICS}
    body = card.split("---\n", 2)[2]
    for text in ("Intended use and limits", "synthetic", "CPU x86_64 (2 cores)", "standardised_hours", "0.5200"):
        assert text in body


def test_read_config_names_the_file_at_fault(tmp_path, checkpoint):
    with pytest.raises(SegGalError, match="config.json not found"):
        ckpt.read_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SegGalError, match=f"{tmp_path}.*not valid JSON"):
        ckpt.read_config(tmp_path)
    config = json.loads((checkpoint / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "method": "unet9000"}))
    with pytest.raises(SegGalError, match="unknown method 'unet9000'"):
        ckpt.read_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "synthetic": False, "training_set": "Liver"}))
    with pytest.raises(SegGalError, match="'Liver' is not 'All'"):
        ckpt.read_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "training_set": "All"}))  # synthetic claiming "All"
    with pytest.raises(SegGalError, match="trained on synthetic images has training set 'synthetic'"):
        ckpt.read_config(tmp_path)
    assert not ckpt.is_complete(tmp_path)


def test_failed_write_leaves_the_previous_checkpoint_intact(checkpoint, segmenter, tmp_path):
    folder = tmp_path / "ck"
    shutil.copytree(checkpoint, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(FileNotFoundError):  # fails after the weights were staged: the extra file cannot be made
        ckpt.write_checkpoint(folder, segmenter, {**META, "training_set": "All"}, extra={"no/such/dir": b"x"})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_recover_dir_restores_a_folder_swapped_out_by_a_crash(tmp_path):
    old = tmp_path / ".last.old"
    old.mkdir()
    (old / "model.safetensors").write_bytes(b"weights")
    (tmp_path / ".last.tmpabc").mkdir()
    ckpt.recover_dir(tmp_path / "last")
    assert (tmp_path / "last" / "model.safetensors").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_checkpoint_loads_back_to_identical_predictions(segmenter, checkpoint, image):
    loaded, config = gallery.load_checkpoint(checkpoint, device="cpu")
    assert config["method"] == "cellpose"
    a, b = segmenter.predict(image), loaded.predict(image)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.scores, b.scores)


def _place_in_hf_cache(folder: Path, cache: Path, repo: str, commit: str, refs: tuple[str, ...]) -> Path:
    """Lay ``folder`` out as huggingface_hub's cache does: models--org--name/{blobs,snapshots/<commit>,refs/<ref>}."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / commit
    (base / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        blob = base / "blobs" / f"blob-{path.name}"
        shutil.copyfile(path, blob)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (base / "refs").mkdir()
    for ref in refs:
        (base / "refs" / ref).write_text(commit)
    return snapshot


def test_offline_mode_serves_a_pinned_revision_from_the_hf_cache(checkpoint, tmp_path, image, segmenter):
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = _place_in_hf_cache(checkpoint, tmp_path / "hf" / "hub", "seggal-test/cellpose-breast", commit,
                                  ("main", "v1"))
    np.save(tmp_path / "probe.npy", image.pixels)
    script = f"""
import json, numpy as np
from huggingface_hub import constants, hf_hub_download
from seggal import checkpoint as ckpt
from seggal import gallery, hub
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
assert constants.HF_HUB_OFFLINE
out = {{"v1": str(ckpt.resolve_checkpoint("seggal-test/cellpose-breast@v1")),
        "main": str(ckpt.resolve_checkpoint("seggal-test/cellpose-breast")),
        "commit": str(ckpt.resolve_checkpoint("seggal-test/cellpose-breast@{commit}")),
        "file": hf_hub_download("seggal-test/cellpose-breast", "config.json", revision="v1")}}
try:
    ckpt.resolve_checkpoint("seggal-test/not-cached")
except SegGalError as exc:
    out["missing"] = str(exc)
model, _ = gallery.load_checkpoint("seggal-test/cellpose-breast@v1", device="cpu")
labels = model.predict(Image(np.load({str(tmp_path / 'probe.npy')!r}), ChannelSpec(0, 1))).labels
np.save({str(tmp_path / 'labels.npy')!r}, labels)
print(json.dumps(out))
"""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "SEGGAL_HUB_ORG": "seggal-test"}
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["v1"] == out["main"] == out["commit"] == str(snapshot)
    assert Path(out["file"]).read_text() == (checkpoint / "config.json").read_text()
    assert "not in the Hugging Face cache" in out["missing"]
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), segmenter.predict(image).labels)


class _StandInHub(http.server.BaseHTTPRequestHandler):
    """Answers the Hub API calls of create_repo / list_repo_refs / create_commit / create_tag and records every
    request; ``tags`` (name → commit) are the tags the repository already has."""

    requests: list = []
    tags: dict = {}

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append((self.command, self.path, self.headers, body))  # headers: case-insensitive
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == "/api/repos/create":
            out = {"url": f"{base}/{json.loads(body)['organization']}/{json.loads(body)['name']}"}
        elif self.path == "/api/validate-yaml":
            out = {"errors": [], "warnings": []}
        elif "/preupload/" in self.path:
            out = {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                             for f in json.loads(body)["files"]]}
        elif "/commit/" in self.path:
            out = {"commitUrl": f"{base}/org/name/commit/{'c' * 40}", "commitOid": "c" * 40}
        elif "/tag/" in self.path:
            out = {}
        elif self.path.endswith("/refs"):
            out = {"branches": [], "converts": [], "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c}
                                                          for t, c in self.tags.items()]}
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


def test_push_sends_repo_creation_one_commit_and_a_release_tag(checkpoint, tmp_path):
    folder = tmp_path / "ck"
    shutil.copytree(checkpoint, folder)
    (folder / "training_state.json").write_text("{}")  # training-only files stay local
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandInHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _StandInHub.requests, _StandInHub.tags = [], {}
    try:
        commit = hub.push_checkpoint(folder, "lab/cellpose-breast", tag="v1",
                                     endpoint=f"http://127.0.0.1:{server.server_port}", token="hf_test_token")
    finally:
        server.shutdown()
    assert commit == "c" * 40
    calls = [(method, path) for method, path, _, _ in _StandInHub.requests]
    assert calls[0] == ("POST", "/api/repos/create")
    assert ("POST", "/api/models/lab/cellpose-breast/commit/main") in calls
    assert calls[-1] == ("POST", f"/api/models/lab/cellpose-breast/tag/{commit}")
    assert json.loads(_StandInHub.requests[-1][3]) == {"tag": "v1"}
    assert all(h.get("Authorization") == "Bearer hf_test_token" for _, _, h, _ in _StandInHub.requests)
    create = json.loads(_StandInHub.requests[0][3])
    assert (create["organization"], create["name"]) == ("lab", "cellpose-breast")
    commit_body = next(b for m, p, _, b in _StandInHub.requests if p.endswith("/commit/main"))
    files = {e["value"]["path"]: base64.b64decode(e["value"]["content"])
             for e in map(json.loads, commit_body.decode().splitlines()) if e["key"] == "file"}
    expected = {p.name: p.read_bytes() for p in checkpoint.iterdir()}
    assert files == expected  # every checkpoint file byte for byte, training_state.json left out


def test_push_refuses_a_folder_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(SegGalError, match="config.json not found"):
        hub.push_checkpoint(tmp_path, "lab/x", endpoint="http://127.0.0.1:9")


def test_gallery_slots_report_local_and_cached_checkpoints(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGGAL_HUB_ORG", "seggal-test")
    local = tmp_path / "checkpoints"
    shutil.copytree(checkpoint, local / hub.repo_name("cellpose", "nuclei-dual", "All") / "best")
    _place_in_hf_cache(checkpoint, tmp_path / "cache", hub.repo_id("stardist", "wholecell", "All"), "a" * 40, ("main",))
    slots = gallery.slots(local_dir=local, cache_dir=tmp_path / "cache")
    assert len(slots) == 138
    by = slots.set_index(["method_id", "task", "training_set"])
    assert by.loc[("cellpose", "tissuenet-nuclei-dual", "All"), "status"] == "local"
    assert by.loc[("cellpose", "tissuenet-nuclei-dual", "All"), "local_path"].endswith("best")
    assert by.loc[("stardist", "livecell-wholecell", "All"), "status"] == "cached"
    assert (slots["status"] == "not available").sum() == 136
    assert slots["on_hub"].isna().all()  # not checked offline
