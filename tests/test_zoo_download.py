"""Pulling models against a real HTTP server on 127.0.0.1 (Range requests, cut connections, a fake Hub)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from seggal.errors import SegGalError
from seggal.hub import repo_id
from seggal.zoo import download
from seggal.zoo.download import (cached_snapshot, drive_url, fetch_file, install_snapshot, pull, source_url)

from zoo_server import COMMIT, server  # noqa: F401 — the 127.0.0.1 server and its fixture

PAYLOAD = bytes(range(256)) * 6000  # 1.5 MB: three of gdown's 512 KiB chunks


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
    """Private staging folder and Hugging Face cache; few retries so failures stay fast."""
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "seggal"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("SEGGAL_HUB_MIRROR", str(tmp_path / "hub_mirror.csv"))  # never the repository's index
    monkeypatch.setattr(download, "RETRIES", 2)
    return tmp_path / "hf"


def _entry(url: str, fmt: str = "sam", sha256: str = "") -> dict:
    return {"method_id": "sam", "task": "tissuenet-nuclei-dual", "training_set": "vit_b", "format": fmt,
            "drive_kind": "", "drive_id": "", "url": url, "sha256": sha256}


def _cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def test_progress_is_reported_and_a_cut_connection_resumes(server, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.cut.add("/w.bin")
    seen = []
    fetched = fetch_file(f"{server.url}/w.bin", tmp_path / "dl", sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                         progress=lambda done, total: seen.append((done, total)))
    assert fetched.path.read_bytes() == PAYLOAD
    assert fetched.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    ranges = [r for m, p, r in server.requests if p == "/w.bin" and r]
    assert ranges and int(ranges[0][6:-1]) > 0  # the second request continued where the cut left off


def test_a_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.short.add("/w.bin")
    with pytest.raises(SegGalError, match="resumes it"):
        fetch_file(f"{server.url}/w.bin", tmp_path / "dl")
    partial = list((tmp_path / "dl").glob("*.part"))
    size = partial[0].stat().st_size
    assert len(partial) == 1 and 0 < size < len(PAYLOAD)
    server.short.clear()
    server.requests.clear()
    fetched = fetch_file(f"{server.url}/w.bin", tmp_path / "dl", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert fetched.path.read_bytes() == PAYLOAD
    assert f"bytes={size}-" in [r for _, _, r in server.requests]
    assert not partial[0].exists()


def test_truncated_or_corrupt_files_leave_the_cache_empty(server, caches):
    server.files["/short.pth"] = PAYLOAD
    server.short.add("/short.pth")
    with pytest.raises(SegGalError, match="failed"):
        pull(_entry(f"{server.url}/short.pth"), source="paper")
    assert _cache_files(caches) == []
    server.files["/bad.pth"] = PAYLOAD[:1000]  # complete as HTTP goes, not the published file
    with pytest.raises(SegGalError, match="SHA-256"):
        pull(_entry(f"{server.url}/bad.pth", sha256=hashlib.sha256(PAYLOAD).hexdigest()), source="paper")
    assert _cache_files(caches) == []
    with pytest.raises(SegGalError, match="not a readable torch file"):  # no published hash: torch catches it
        pull(_entry(f"{server.url}/bad.pth"), source="paper")
    assert _cache_files(caches) == []


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused(server, tmp_path, caches):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"model": RunsCode(marker)}, evil)
    server.files["/evil.pth"] = evil.read_bytes()
    with pytest.raises(SegGalError, match="refused"):
        pull(_entry(f"{server.url}/evil.pth"), source="paper")
    assert not marker.exists()
    assert _cache_files(caches) == []
    assert not any(p.is_file() for p in download.downloads_dir().rglob("*"))


def test_drive_urls_and_the_configurable_base(server, monkeypatch, tmp_path):
    from gdown.parse_url import parse_url

    monkeypatch.delenv(download.DRIVE_URL_ENV, raising=False)
    assert parse_url(drive_url("file", "1KcwbXTh1y1qwnDKGP-RJy8N2E5dpRBU3")) == ("1KcwbXTh1y1qwnDKGP-RJy8N2E5dpRBU3", True)
    assert drive_url("folder", "16koFHQTZE5HhV0QB3ULKLOFKtG7Pzyl5") == \
        "https://drive.google.com/drive/folders/16koFHQTZE5HhV0QB3ULKLOFKtG7Pzyl5"
    monkeypatch.setenv(download.DRIVE_URL_ENV, server.url)
    server.files["/uc?id=1KcwbXTh1y1qwnDKGP-RJy8N2E5dpRBU3"] = PAYLOAD
    entry = _entry("https://drive.google.com/file/d/1KcwbXTh1y1qwnDKGP-RJy8N2E5dpRBU3/view") | {
        "drive_kind": "file", "drive_id": "1KcwbXTh1y1qwnDKGP-RJy8N2E5dpRBU3"}
    url = source_url(entry)
    assert url == f"{server.url}/uc?id=1KcwbXTh1y1qwnDKGP-RJy8N2E5dpRBU3"
    assert fetch_file(url, tmp_path / "dl").path.read_bytes() == PAYLOAD


def test_no_network_says_so_and_how_to_import(caches):
    with pytest.raises(SegGalError, match=r"needs a network: cannot connect to http://127.0.0.1:9/w.pth.*models import"):
        pull(_entry("http://127.0.0.1:9/w.pth"), source="paper")
    assert _cache_files(caches) == []


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"format": 1}')
    (folder / "model.safetensors").write_bytes(PAYLOAD[:4096])
    return folder


def test_installed_snapshots_serve_offline_through_huggingface_hub(tmp_path, caches):
    from huggingface_hub import scan_cache_dir

    src = _checkpoint(tmp_path / "ckpt")
    snapshot = install_snapshot(src, "seggal/x")
    assert cached_snapshot("seggal/x") == snapshot
    assert (snapshot / "model.safetensors").read_bytes() == PAYLOAD[:4096]
    info = scan_cache_dir(caches)
    assert info.warnings == []
    [repo] = info.repos
    assert repo.repo_id == "seggal/x" and [r.refs for r in repo.revisions] == [frozenset({"main"})]
    assert install_snapshot(src, "seggal/x") == snapshot  # same content: same revision, nothing rewritten


def _pin(index: Path, repo: str, revision: str) -> None:
    """Write the mirror index as a person would: one row pinning ``repo`` to ``revision``."""
    method, task, training_set = "sam", "tissuenet-nuclei-dual", "vit_b"
    index.write_text("method,task,training_set,repo_id,revision,tag\n"
                     f"{method},{task},{training_set},{repo},{revision},v1\n")


def test_pull_prefers_the_hub_mirror_at_the_pinned_revision(server, monkeypatch, caches, tmp_path):
    entry = _entry("https://unused.invalid/w.pth")
    repo = repo_id(entry["method_id"], entry["task"], entry["training_set"])
    server.hub[repo] = {"config.json": b'{"format": 1}', "model.safetensors": PAYLOAD[:4096]}
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(SegGalError, match="unused.invalid"):  # no pinned row: straight to the original
        pull(entry)
    assert not any("/api/models/" in p for _, p, _ in server.requests)
    _pin(tmp_path / "hub_mirror.csv", repo, COMMIT)
    snapshot = pull(entry)
    asked = [p for _, p, _ in server.requests if repo in p]
    assert asked and all(COMMIT in p for p in asked)  # every Hub request names the pinned commit, none main
    assert snapshot.name == COMMIT
    assert (snapshot / "model.safetensors").read_bytes() == PAYLOAD[:4096]
    assert cached_snapshot(repo) == snapshot  # main names the pinned commit: served offline as org/name
    staging = download.downloads_dir() / "hub"
    assert not [p for p in staging.rglob("*") if p.is_file() and p.name != "CACHEDIR.TAG"]  # staging emptied
    _pin(tmp_path / "hub_mirror.csv", repo, "f" * 40)  # a commit the mirror does not have
    with pytest.raises(SegGalError, match="Hub"):
        pull(entry, source="hub")
    with pytest.raises(SegGalError, match="unused.invalid"):  # falls back to the original source
        pull(entry)
    (tmp_path / "hub_mirror.csv").unlink()
    assert pull(entry, source="hub").name == COMMIT  # --source hub without a pinned row: the mirror's main
    del server.hub[repo]
    with pytest.raises(SegGalError, match="Hub"):
        pull(entry, source="hub")


def test_a_malformed_mirror_index_is_named(caches, tmp_path):
    _pin(tmp_path / "hub_mirror.csv", "seggal/x", "v1")
    with pytest.raises(SegGalError, match=r"hub_mirror.csv, line 2: revision 'v1' is not a 40-digit commit hash"):
        pull(_entry("https://unused.invalid/w.pth"))


def test_cli_lists_and_refuses_clearly(capsys, tmp_path):
    from seggal.cli import main

    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 161
    assert {"method", "task", "training_set", "source", "state", "reason"} <= set(listed[0])
    assert {r["source"] for r in listed} == {"paper", "generalist"}
    assert all(r["reason"] for r in listed if r["state"] == "unavailable")
    retinamask = next(r for r in listed if r["method"] == "retinamask")
    assert retinamask["state"] == "unavailable" and "deepcell-retinamask" in retinamask["reason"]
    assert main(["models", "pull", "retinamask", "--task", "nuclei-dual", "--train-set", "All"]) == 2
    assert capsys.readouterr().err.startswith("error: retinamask / tissuenet-nuclei-dual / All is unavailable")
    assert main(["models", "pull", "--all", "--task", "nuclei-dual"]) == 2
    assert main(["models", "import", str(tmp_path / "missing.pth"), "--method", "sam", "--task", "nuclei-dual",
                 "--train-set", "All", "--out", str(tmp_path / "out")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
