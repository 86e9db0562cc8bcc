"""A pull end to end against a real HTTP server on 127.0.0.1: the genuine Cellpose 2 file of
tests/fixtures/zoo (written by cellpose 2.2.3) served as the paper's Google Drive file → `models pull` →
converted and cached → the gallery entry turns ready → `seggal segment` runs it offline, with the labels of
the converted folder loaded directly, and a network that computes what cellpose 2 computed."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seggal import gallery
from seggal.backends import build
from seggal.checkpoint import read_config, resolve_checkpoint
from seggal.data.synthetic import synthetic_tissue
from seggal.image import ChannelSpec, Image
from seggal.tiling import segment_image
from seggal.zoo.catalogue import find_entry, load_catalogue
from seggal.zoo.convert import convert

from zoo_server import server  # noqa: F401 — the 127.0.0.1 server and its fixture

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "zoo" / "cellpose2" / "model.pth.gz"
KEY = ("cellpose", "tissuenet-nuclei-nuclear", "All")  # a Drive *file* row of the paper


@pytest.fixture()
def zoo(tmp_path, monkeypatch, server):  # noqa: F811
    """Private caches; Drive and the Hub pointed at the local server, which serves the genuine file."""
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "seggal"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("SEGGAL_DRIVE_URL", server.url)
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # the mirror has no such repository: falls back to Drive
    row = find_entry(load_catalogue(), *KEY)
    original = gzip.decompress(FIXTURE.read_bytes())
    server.files[f"/uc?id={row['drive_id']}"] = original
    return server, original


def test_a_catalogue_entry_turns_ready_once_its_snapshot_is_cached(tmp_path, monkeypatch):
    from seggal.zoo.download import install_snapshot

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    key = ("stardist", "tissuenet-nuclei-nuclear", "All")
    assert gallery.catalogue_entry(*key).state == "downloadable"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    install_snapshot(ckpt, gallery.catalogue_entry(*key).reference)
    assert gallery.catalogue_entry(*key).state == "ready"
    assert gallery.catalogue_entry("resnest", "tissuenet-nuclei-dual", "All").state == "unavailable"


def test_pull_then_segment_offline_gives_the_converted_models_labels(zoo, tmp_path, monkeypatch, capsys):
    import tifffile
    from huggingface_hub import constants

    from seggal.cli import main

    server, original = zoo
    entry = gallery.catalogue_entry(*KEY)
    assert entry.state == "downloadable" and entry.source == "paper"
    with pytest.raises(Exception, match="not on this machine"):
        gallery.load(entry)
    assert main(["models", "pull", *KEY[:1], "--task", KEY[1], "--train-set", KEY[2]]) == 0
    out = capsys.readouterr().out
    assert f"ready ({entry.reference})" in out
    assert any(path.startswith("/uc?id=") for _, path, _ in server.requests)
    pulled = gallery.catalogue_entry(*KEY)
    assert pulled.state == "ready" and gallery.usable_entry("cellpose", KEY[1]) == pulled
    assert gallery.runs_here("cellpose", KEY[1]).available

    # offline from here on: the server is gone and huggingface_hub may not call out
    server.shutdown()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    pixels, _, _ = synthetic_tissue((96, 96), "Breast", seed=0)
    pixels = pixels[..., :1]
    image_path = tmp_path / "image.tif"
    tifffile.imwrite(image_path, pixels)
    assert main(["segment", str(image_path), "--method", "cellpose", "--device", "cpu",
                 "--out", str(tmp_path / "labels.tif")]) == 0
    assert "the paper's Cellpose trained on All" in capsys.readouterr().out
    labels = tifffile.imread(tmp_path / "labels.tif")

    # the same weights converted here from the same file and loaded directly
    (tmp_path / "original.pth").write_bytes(original)
    folder = convert(tmp_path / "original.pth", method=KEY[0], task=KEY[1], training_set=KEY[2], out=tmp_path / "direct")
    direct = segment_image(build("cellpose", folder, device="cpu"), Image(pixels, ChannelSpec(0, None)))
    np.testing.assert_array_equal(labels, direct.labels)  # (the tiny fixture network finds no cells: see below)
    snapshot = resolve_checkpoint(pulled.reference)
    provenance = json.loads((snapshot / "provenance.json").read_text())
    assert provenance["sha256"] == hashlib.sha256(original).hexdigest()
    assert read_config(snapshot)["training_set"] == "All" and not read_config(snapshot)["generalist"]
    # the pulled network computes what cellpose 2.2.3 computed with the original file (recorded in the fixture)
    expected = np.load(FIXTURE.parent / "expected.npz")
    net = build("cellpose", snapshot, device="cpu").net
    net.eval()
    with torch.no_grad():
        y = net(torch.from_numpy(expected["x"]))[0]
    assert np.std(expected["y"]) > 0
    np.testing.assert_allclose(y.numpy(), expected["y"], rtol=1e-5, atol=1e-5)


def test_a_generalist_checkpoint_names_itself_and_claims_no_benchmark_set(tmp_path):
    from seggal.errors import SegGalError

    original = tmp_path / "cyto3"
    original.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    folder = convert(original, method="cellpose", task="livecell-wholecell", training_set="cyto3",
                     out=tmp_path / "generalist", generalist=True)
    config = read_config(folder)
    assert (config["training_set"], config["generalist"], config["dataset"]) == ("cyto3", True, "generalist")
    with pytest.raises(SegGalError, match="would claim the LIVECell training set 'All'"):
        convert(original, method="cellpose", task="livecell-wholecell", training_set="All", out=tmp_path / "x",
                generalist=True)
    with pytest.raises(SegGalError, match="'cyto3' is not 'All'"):
        convert(original, method="cellpose", task="livecell-wholecell", training_set="cyto3", out=tmp_path / "y")
    path = folder / "config.json"
    path.write_text(json.dumps(config | {"training_set": "A172"}))
    with pytest.raises(SegGalError, match="would claim"):
        read_config(folder)


def test_the_gallery_page_pulls_a_model_and_segment_runs_the_example_with_it(zoo):
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parents[1] / "app.py")
    at = AppTest.from_file(app, default_timeout=300).run()
    at.switch_page("pages/gallery.py").run()
    at.multiselect[0].select(KEY[1]).run()
    at.multiselect[1].select(KEY[0]).run()
    at.multiselect[2].select(KEY[2]).run()
    assert list(at.dataframe[0].value["state"]) == ["downloadable"]
    assert next(b for b in at.button if b.label == "Open in Segment").disabled  # nothing to open yet
    next(b for b in at.button if b.label == "Download").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert list(at.dataframe[0].value["state"]) == ["ready"]
    assert next(b for b in at.button if b.label == "Download").disabled
    next(b for b in at.button if b.label == "Open in Segment").click().run()
    assert at.title[0].value == "Segment"
    reference = gallery.catalogue_entry(*KEY).reference
    assert at.session_state["seggal_choice"]["checkpoint"] == reference
    at.switch_page("pages/segment.py").run()  # AppTest stays on the page it was switched to
    at.selectbox(key="seg_example").set_value("dsb2018-nuclei").run()
    at.button(key="seg_example_button").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="seg_method").value == "cellpose"
    assert at.selectbox(key="seg_checkpoint").value == reference  # the pulled model, not another
    assert any(m.label == "Cells found" for m in at.metric)


RF_NEXT = ("rf-next", "tissuenet-nuclei-dual", "All")
RF_NEXT_FIXTURES = FIXTURE.parents[1] / "mmdet2"


@pytest.fixture()
def rf_next(tmp_path, monkeypatch, server):  # noqa: F811
    """The RF-Next row of the catalogue with Drive and GitHub raw pointed at the local server, which serves the
    genuine MMDetection 2.28 RF-Next checkpoint as the row's Drive file (its structure json is not served yet)."""
    from urllib.parse import urlsplit

    from seggal.zoo.catalogue import extra_files

    pytest.importorskip("mmdet")
    pytest.importorskip("mmcv.ops")
    for name, value in (("SEGGAL_CACHE", tmp_path / "seggal"), ("HF_HUB_CACHE", tmp_path / "hf"),
                        ("SEGGAL_CHECKPOINTS", tmp_path / "checkpoints"), ("SEGGAL_DRIVE_URL", server.url),
                        ("SEGGAL_GITHUB_RAW_URL", server.url), ("HF_ENDPOINT", server.url)):
        monkeypatch.setenv(name, str(value))
    row = find_entry(load_catalogue(), *RF_NEXT)
    [extra] = extra_files(row)
    server.files[f"/uc?id={row['drive_id']}"] = gzip.decompress((RF_NEXT_FIXTURES / "rf-next.pth.gz").read_bytes())
    return server, row, extra, urlsplit(extra.url).path


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_an_rf_next_pull_without_its_structure_json_stores_nothing(rf_next, tmp_path):
    """The json is fetched first: a 404, or bytes that are not the pinned file's, is a clear error before the
    checkpoint is downloaded, and neither the model cache nor the staging folder keeps anything."""
    from seggal.errors import SegGalError
    from seggal.zoo.download import pull

    srv, row, extra, path = rf_next
    assert extra.name == "local_search_config_step11.json" and len(extra.sha256) == 64
    with pytest.raises(SegGalError, match=f"download of {srv.url}{path} failed: 404"):
        pull(row, source="paper")
    srv.files[path] = (RF_NEXT_FIXTURES / "rf-next.json").read_bytes()  # a made-up structure, not the authors'
    with pytest.raises(SegGalError, match=f"SHA-256 .* is not the published {extra.sha256}"):
        pull(row, source="paper")
    assert not any(p.startswith("/uc?id=") for _, p, _ in srv.requests)  # the checkpoint was never asked for
    assert _files_under(tmp_path / "hf") == [] and _files_under(tmp_path / "seggal") == []
    assert gallery.catalogue_entry(*RF_NEXT).state == "downloadable"


def test_an_rf_next_pull_fetches_its_structure_json_and_segments(rf_next, tmp_path):
    """With its json served (the fixture's made-up structure, so the row's hash is swapped for that file's),
    the pull converts the genuine checkpoint read with that json, caches it, and the ready entry segments as
    the same folder converted by `models import` does."""
    from seggal.zoo.download import pull

    srv, row, extra, path = rf_next
    structure = (RF_NEXT_FIXTURES / "rf-next.json").read_bytes()
    srv.files[path] = structure
    digest = hashlib.sha256(structure).hexdigest()
    snapshot = pull(row | {"extra_files": f"{extra.url}#sha256={digest}"}, source="paper")
    assert [p for _, p, _ in srv.requests if p in (path, f"/uc?id={row['drive_id']}")] == \
        [path, f"/uc?id={row['drive_id']}"]  # the json first, then the checkpoint
    provenance = json.loads((snapshot / "provenance.json").read_text())
    assert provenance["extra_files"] == [{"name": extra.name, "url": extra.url, "sha256": digest}]
    assert _files_under(tmp_path / "seggal" / "downloads" / "original") == []  # the originals are not kept

    entry = gallery.catalogue_entry(*RF_NEXT)
    assert entry.state == "ready" and resolve_checkpoint(entry.reference) == snapshot
    pixels = synthetic_tissue((64, 64), "Breast", seed=0)[0]
    image = Image(pixels, ChannelSpec(0, 1))
    labels = segment_image(gallery.load(entry, device="cpu"), image).labels
    folder = tmp_path / "by-hand"
    folder.mkdir()
    (folder / "rf-next.pth").write_bytes(srv.files[f"/uc?id={row['drive_id']}"])
    (folder / "structure.json").write_bytes(structure)
    direct = convert(folder, method=RF_NEXT[0], task=RF_NEXT[1], training_set=RF_NEXT[2], out=tmp_path / "direct")
    np.testing.assert_array_equal(labels, segment_image(build("rf-next", direct, device="cpu"), image).labels)
    rfsearch = [json.loads((f / "backend.json").read_text())["rfsearch"] for f in (snapshot, direct)]
    assert rfsearch[0] == rfsearch[1] and {len(layer["rates"]) for layer in rfsearch[0]["layers"].values()} == {2}
    assert labels.max() > 0  # the tiny genuine network finds instances in this field
