"""The generalists' own formats: Cellpose 3 files pulled through Cellpose's own downloader from a server on
127.0.0.1 (genuine files: written by cellpose 3.1's ``CPnet.save_model``), converted, and segmenting exactly as
``cellpose.models.CellposeModel(pretrained_model=FILE).eval`` does; micro-sam checkpoints (look-alikes in the
layouts micro-sam 1.8's ``export_custom_sam_model`` writes) converted into SegGal's SAM backend."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sam_outputs import assert_same_point_prompt_outputs
from zoo_server import server  # noqa: F401 — the 127.0.0.1 server and its fixture

from seggal import gallery
from seggal.backends import build
from seggal.checkpoint import read_backend_meta, read_config, resolve_checkpoint
from seggal.data.synthetic import synthetic_tissue
from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
from seggal.tiling import segment_image
from seggal.zoo.convert import convert

CYTO3 = ("cellpose", "tissuenet-wholecell-dual", "cyto3")


def _image(channels: int = 2) -> tuple[np.ndarray, np.ndarray, Image]:
    """A synthetic field → (Cellpose's input (H, W, 2) in its channel order, the labels it shows, the SegGal image)."""
    pixels, nuclei, whole = synthetic_tissue((80, 80), "Breast", seed=3)
    pixels = pixels.astype(np.float32)
    if channels == 1:
        x = np.stack([pixels[..., 0], np.zeros_like(pixels[..., 0])], -1)
        return x, nuclei, Image(pixels[..., :1], ChannelSpec(0, None))
    return np.stack([pixels[..., 1], pixels[..., 0]], -1), whole, Image(pixels, ChannelSpec(0, 1))


def _cellpose3_file(path: Path, x: np.ndarray, labels: np.ndarray, diam_labels: float = 27.0, seed: int = 0) -> bytes:
    """A Cellpose 3 model file written by Cellpose 3.1 itself (``CPnet.save_model``): a random network whose
    last 1x1 convolution is fitted by least squares to the flows and cell probability of ``labels`` on ``x``
    (random features suffice for a few cells), and a training diameter that makes Cellpose resize."""
    from cellpose import dynamics, transforms
    from cellpose.models import CellposeModel

    torch.manual_seed(seed)
    net = CellposeModel(pretrained_model=False, model_type=None, nchan=2, mkldnn=False, device=torch.device("cpu")).net
    net.eval()
    seen = {}
    hook = net.output[2].register_forward_hook(lambda module, args, out: seen.setdefault("features", args[0]))
    with torch.no_grad():
        net(torch.from_numpy(np.moveaxis(transforms.normalize_img(x, axis=-1), -1, 0)[None].copy()))
    hook.remove()
    features = seen["features"][0].reshape(32, -1).T.numpy()
    flows = dynamics.labels_to_flows([labels.astype(np.int32)], device=torch.device("cpu"))[0]
    target = np.stack([5 * flows[2], 5 * flows[3], np.where(flows[1] > 0.5, 4.0, -4.0)], -1).reshape(-1, 3)
    fit = np.linalg.lstsq(np.c_[features, np.ones(len(features))], target, rcond=None)[0].astype(np.float32)
    with torch.no_grad():
        net.output[2].weight.copy_(torch.from_numpy(fit[:32].T.copy()).reshape(3, 32, 1, 1))
        net.output[2].bias.copy_(torch.from_numpy(fit[32]))
        net.diam_labels.fill_(diam_labels)
    net.save_model(str(path))
    return path.read_bytes()


def _cellpose_direct(path: Path, x: np.ndarray, channels: list[int]) -> tuple[np.ndarray, list]:
    """Cellpose's own prediction from the model file ``path`` on the image ``x`` (H, W, 2) → (masks, flows)."""
    from cellpose.models import CellposeModel

    model = CellposeModel(pretrained_model=str(path), nchan=2, mkldnn=False, device=torch.device("cpu"))
    return model.eval(x, channels=channels, channel_axis=2, normalize=True, progress=None)[:2]


def _same_as_cellpose(folder: Path, original: Path, x: np.ndarray, image: Image, channels: list[int]) -> None:
    """SegGal's segmentation with the converted ``folder`` is Cellpose's own from ``original``: on the raw image,
    and bit for bit (masks, flows, cell probability) on the min-max-scaled image SegGal hands Cellpose."""
    segmenter = build("cellpose", folder, device="cpu")
    ours = segment_image(segmenter, image).labels
    raw_masks, raw_flows = _cellpose_direct(original, x, channels)
    assert raw_masks.max() >= 2
    np.testing.assert_array_equal(ours, raw_masks)
    fed = segmenter.cellpose_input(image)
    masks, flows = _cellpose_direct(original, fed, channels)
    np.testing.assert_array_equal(ours, masks)
    our_flows = segmenter.model.eval(fed, channels=channels, channel_axis=2, normalize=True, progress=None)[1]
    for a, b, c in zip(our_flows[1:3], flows[1:3], raw_flows[1:3]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-4)  # Cellpose's normalisation undoes SegGal's min-max scaling


@pytest.fixture()
def zoo(tmp_path, monkeypatch, server):  # noqa: F811
    """Private caches; Cellpose's model URL and the Hub pointed at the local server."""
    monkeypatch.setenv("SEGGAL_CACHE", str(tmp_path / "seggal"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("SEGGAL_CELLPOSE_URL", f"{server.url}/models")
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # no mirror repository there: the original is fetched
    return server


def test_generalist_rows_are_downloadable():
    entries = [e for e in gallery.catalogue() if e.source == "generalist" and e.method in ("cellpose", "sam")]
    assert len([e for e in entries if e.method == "cellpose"]) == 7
    assert len([e for e in entries if e.training_set == "vit_b_lm"]) == 5
    assert all(e.state in ("downloadable", "ready") for e in entries), \
        [(e.method, e.training_set, e.reason) for e in entries if e.state == "unavailable"]


def test_cyto3_pulls_through_cellposes_downloader_and_segments_as_cellpose(zoo, tmp_path):
    import cellpose.models

    original = tmp_path / "cyto3"
    x, labels, image = _image(2)
    data = _cellpose3_file(original, x, labels)
    zoo.files["/models/cyto3"] = data
    settings = cellpose.models._MODEL_URL, cellpose.models.MODEL_DIR
    entry = gallery.catalogue_entry(*CYTO3)
    assert entry.state == "downloadable" and entry.source == "generalist"
    pulled = gallery.pull(entry)
    assert pulled.state == "ready"
    assert ("GET", "/models/cyto3", None) in zoo.requests  # Cellpose's urlopen, no Range
    assert (cellpose.models._MODEL_URL, cellpose.models.MODEL_DIR) == settings  # restored
    assert not any((tmp_path / "seggal" / "downloads").rglob("cyto3"))  # the original is not kept

    snapshot = resolve_checkpoint(pulled.reference)
    config = read_config(snapshot)
    assert (config["training_set"], config["generalist"]) == ("cyto3", True)
    assert (config["preprocessing"]["low"], config["preprocessing"]["high"], config["preprocessing"]["clahe"]) \
        == (0.0, 100.0, False)
    assert read_backend_meta(snapshot, "cellpose")["diam_mean"] == 30.0
    provenance = json.loads((snapshot / "provenance.json").read_text())
    assert provenance["sha256"] == hashlib.sha256(data).hexdigest()
    assert provenance["source_url"] == "https://www.cellpose.org/models/cyto3"
    record = provenance["paper_preprocessing"]
    assert record["cellpose_channels"] == [1, 2] and record["normalisation"]["high"] == 99.0
    card = (snapshot / "README.md").read_text()
    assert "generalist, not from the paper" in card and provenance["sha256"] in card

    _same_as_cellpose(snapshot, original, x, image, [1, 2])


def test_nuclei_file_gets_cellposes_own_diameter_and_channels(tmp_path, capsys):
    """`models import` of Cellpose's nuclei file (its name nucleitorch_0): diam_mean 17 by Cellpose's rule, the
    nuclear channel alone."""
    from seggal.cli import main

    original = tmp_path / "nucleitorch_0"
    x, labels, image = _image(1)
    _cellpose3_file(original, x, labels, diam_labels=15.0, seed=1)
    out = tmp_path / "nuclei"
    assert main(["models", "import", str(original), "--method", "cellpose", "--task", "tissuenet-nuclei-nuclear",
                 "--train-set", "nuclei", "--out", str(out)]) == 0
    meta = read_backend_meta(out, "cellpose")
    assert (meta["diam_mean"], meta["nuclear_only"]) == (17.0, True)
    assert read_config(out)["generalist"] is True
    assert json.loads((out / "provenance.json").read_text())["source_url"].endswith("/nucleitorch_0")
    _same_as_cellpose(out, original, x, image, [1, 0])


class Evil:
    """Unpickling this runs code (here: it would create a file)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("case", ["truncated", "pickle", "cellpose4", "missing"])
def test_a_bad_cellpose_download_is_a_clear_error_and_leaves_no_cache(zoo, tmp_path, case):
    marker = tmp_path / "ran"
    data = _cellpose3_file(tmp_path / "cyto3", *_image(2)[:2])
    if case == "truncated":
        zoo.short.add("/models/cyto3")  # announces the whole length, sends half
    elif case == "pickle":
        torch.save({"output.2.weight": Evil(str(marker))}, tmp_path / "evil")  # a torch file naming open()
        data = (tmp_path / "evil").read_bytes()
    elif case == "cellpose4":
        torch.save({"W2": torch.zeros(2), **torch.load(tmp_path / "cyto3", weights_only=True)}, tmp_path / "cp4")
        data = (tmp_path / "cp4").read_bytes()
    if case != "missing":
        zoo.files["/models/cyto3"] = data
    message = {"truncated": "refused: not a readable torch file", "pickle": "could run code",
               "cellpose4": "Cellpose 4", "missing": "HTTP 404"}[case]
    with pytest.raises(SegGalError, match=message):
        gallery.pull(gallery.catalogue_entry(*CYTO3))
    assert not marker.exists()
    assert not list((tmp_path / "hf").glob("models--*")) and gallery.catalogue_entry(*CYTO3).state == "downloadable"
    staged = [p for p in (tmp_path / "seggal").rglob("*") if p.is_file()]
    if case == "cellpose4":  # downloaded whole, not convertible: kept outside the cache, not fetched again
        assert [p.read_bytes() for p in staged] == [data]
    else:
        assert not staged


def test_no_server_says_the_pull_needs_a_network(zoo, monkeypatch):
    monkeypatch.setenv("SEGGAL_CELLPOSE_URL", "http://127.0.0.1:9/models")  # the discard port: refused
    with pytest.raises(SegGalError, match="needs a network"):
        gallery.pull(gallery.catalogue_entry(*CYTO3))


# ----------------------------------------------------------------------------------------- micro-sam


def test_micro_sam_checkpoint_with_decoder_runs_its_sam_part_as_segment_anything(tmp_path):
    """A look-alike of what micro-sam 1.8's ``export_custom_sam_model(..., with_segmentation_decoder=True)``
    writes — ``{"model_state": SAM state dict, "decoder_state": UNETR decoder state}`` — of a random ViT-B (the
    smallest SAM segment-anything builds). SAM's own outputs for one point prompt (mask logits, predicted IoU)
    from the converted checkpoint and from segment-anything loaded with ``model_state`` are identical."""
    from collections import OrderedDict

    from segment_anything import sam_model_registry

    from seggal.backends.sam import random_init, rgb

    state = OrderedDict(random_init("vit_b", seed=0).sam.state_dict())
    decoder = OrderedDict([("base.weight", torch.rand(8, 256, 3, 3)), ("out_conv.weight", torch.rand(3, 8, 1, 1))])
    original = tmp_path / "vit_b_lm.pt"
    torch.save({"model_state": state, "decoder_state": decoder}, original)
    folder = convert(original, method="sam", task="tissuenet-nuclei-dual", training_set="vit_b_lm",
                     out=tmp_path / "converted", generalist=True, source_format="micro-sam",
                     source_url="https://uk1s3.embassy.ebi.ac.uk/public-datasets/bioimage.io/diplomatic-bug/1.2/files/vit_b.pt")
    config = read_config(folder)
    assert (config["training_set"], config["generalist"], config["preprocessing"]["high"]) == ("vit_b_lm", True, 100.0)
    assert read_backend_meta(folder, "sam")["model_type"] == "vit_b"
    card = (folder / "README.md").read_text()
    assert "generalist, not from the paper" in card and "2 tensors, UNETR" in card and "(AIS)" in card

    pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=3)
    image = Image(pixels, ChannelSpec(0, 1))
    ours = build("sam", folder, device="cpu")
    direct = sam_model_registry["vit_b"]()
    direct.load_state_dict(state)
    assert_same_point_prompt_outputs(ours.sam, direct.eval(), rgb(image, ours.preprocessing))


def test_micro_sam_layouts_unwrap_as_micro_sam_reads_them(tmp_path):
    """torch_em training checkpoints carry ``sam.``-prefixed keys (stripped, as micro_sam.util._load_checkpoint
    does); a plain state dict is the SAM state itself; MobileSAM (vit_t) and pickled objects are refused."""
    from seggal.zoo.formats.micro_sam import sam_state

    tensors = {"image_encoder.patch_embed.proj.weight": torch.rand(4, 3, 2, 2), "mask_decoder.iou_token.weight": torch.rand(1, 4)}
    unwrapped, dropped = sam_state({"model_state": {f"sam.{k}": v for k, v in tensors.items()}, "decoder_state": {}},
                                   tmp_path / "x.pt")
    assert dropped == 0 and unwrapped.keys() == tensors.keys()
    assert all(unwrapped[k] is v for k, v in tensors.items())
    assert sam_state(tensors, tmp_path / "x.pt") == (tensors, 0)

    mobile = tmp_path / "vit_t_lm.pt"
    torch.save({"image_encoder.patch_embed.seq.0.c.weight": torch.rand(4, 3, 3, 3)}, mobile)
    with pytest.raises(SegGalError, match="vit_t"):
        convert(mobile, method="sam", task="livecell-wholecell", training_set="vit_b_lm", out=tmp_path / "a",
                generalist=True, source_format="micro-sam")
    marker = tmp_path / "ran"
    trainer = tmp_path / "checkpoint.pt"
    torch.save({"model_state": tensors, "config": Evil(str(marker))}, trainer)
    with pytest.raises(SegGalError, match="could run code"):
        convert(trainer, method="sam", task="livecell-wholecell", training_set="vit_b_lm", out=tmp_path / "b",
                generalist=True, source_format="micro-sam")
    assert not marker.exists() and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
