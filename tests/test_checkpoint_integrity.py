"""Bad checkpoint files get SegGalError when the checkpoint is loaded, never a traceback or a later failure:
weights that are not complete safetensors, backend.json / config.json of the wrong types, tampered published
Cellpose weights, Hub ids and revisions that are not plain, a cache reference that leads outside the cache;
and a hypothesis fuzz test over whole checkpoint folders. Real files on disk, real backends."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seggal import checkpoint as ckpt
from seggal import gallery
from seggal.backends import build
from seggal.backends.baseline import BaselineSegmenter
from seggal.errors import SegGalError

SHIPPED = gallery.EMBEDDED_DEFAULT  # a real StarDist checkpoint (1.4 MB)
BASELINE_META = {"method": "baseline", "task": "nuclei-nuclear", "training_set": "All"}


@pytest.fixture(scope="module")
def baseline_folder(tmp_path_factory) -> Path:
    return ckpt.write_checkpoint(tmp_path_factory.mktemp("b") / "ck", BaselineSegmenter(), BASELINE_META)


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory) -> Path:
    """A baseline checkpoint whose model.safetensors holds real tensors (the baseline ignores them)."""
    from safetensors.numpy import save_file

    folder = ckpt.write_checkpoint(tmp_path_factory.mktemp("w") / "ck", BaselineSegmenter(), BASELINE_META)
    save_file({"a": np.arange(600, dtype=np.float32), "b": np.ones((4, 4), np.int64)}, str(folder / ckpt.WEIGHTS_FILE))
    return folder


def _copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(folder, out)
    return out


class _Pickled:
    def __reduce__(self):
        return (os.system, ("echo never",))


BAD_WEIGHTS = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[:-10],
    "header only": lambda data: data[:40],
    "random bytes": lambda data: np.random.default_rng(0).bytes(len(data)),
    "a pickle": lambda data: pickle.dumps(_Pickled()),
    "huge header length": lambda data: (2**62).to_bytes(8, "little") + data[8:],
}


@pytest.mark.parametrize("kind", list(BAD_WEIGHTS))
def test_weights_that_are_not_a_complete_safetensors_file_are_refused_at_load(weights_folder, tmp_path, kind):
    folder = _copy(weights_folder, tmp_path)
    path = folder / ckpt.WEIGHTS_FILE
    path.write_bytes(BAD_WEIGHTS[kind](path.read_bytes()))
    assert not ckpt.is_complete(folder)
    with pytest.raises(SegGalError, match="model.safetensors"):
        build("baseline", folder)
    with pytest.raises(SegGalError, match="model.safetensors"):
        ckpt.load_weights(folder)


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero", "/proc/self/environ"])
def test_weights_linked_to_a_system_file_are_refused(weights_folder, tmp_path, target):
    folder = _copy(weights_folder, tmp_path)
    (folder / ckpt.WEIGHTS_FILE).unlink()
    (folder / ckpt.WEIGHTS_FILE).symlink_to(target)
    assert not ckpt.is_complete(folder)
    with pytest.raises(SegGalError, match="model.safetensors"):
        build("baseline", folder)


def test_truncated_weights_of_a_real_network_are_refused(tmp_path):
    folder = _copy(SHIPPED, tmp_path)
    path = folder / ckpt.WEIGHTS_FILE
    assert ckpt.is_complete(folder)
    path.write_bytes(path.read_bytes()[:-1000])
    assert not ckpt.is_complete(folder)
    with pytest.raises(SegGalError, match="not a valid safetensors file"):
        gallery.load_checkpoint(folder)


def _edit_json(folder: Path, name: str, edit) -> None:
    path = folder / name
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


STARDIST_BAD = {
    "epochs_done 'abc'": (lambda m: m.update(epochs_done="abc"), "epochs_done"),
    "negative n_rays": (lambda m: m["config"].update(n_rays=-4), "config/n_rays"),
    "string threshold": (lambda m: m["thresholds"].update(prob="0.5"), "thresholds/prob"),
    "unknown config key": (lambda m: m["config"].update(rays_per_cell=3), "unknown StarDist config key"),
    "grid of strings": (lambda m: m["config"].update(grid=["2", "2"]), "config/grid"),
    "config not an object": (lambda m: m.update(config=[1, 2]), "config"),
}


@pytest.mark.parametrize("kind", list(STARDIST_BAD))
def test_stardist_backend_json_of_the_wrong_types_is_refused_at_load(tmp_path, kind):
    edit, words = STARDIST_BAD[kind]
    folder = _copy(SHIPPED, tmp_path)
    _edit_json(folder, ckpt.BACKEND_FILE, edit)
    with pytest.raises(SegGalError, match=words):
        build("stardist", folder)


def test_stardist_weights_with_a_non_integer_tensor_key_are_refused_at_load(tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = _copy(SHIPPED, tmp_path)
    tensors = load_file(str(folder / ckpt.WEIGHTS_FILE))
    first = sorted(tensors)[0]
    tensors["x" + first] = tensors.pop(first)
    save_file(tensors, str(folder / ckpt.WEIGHTS_FILE))
    with pytest.raises(SegGalError, match="tensor names must start with '<index>:'"):
        build("stardist", folder)


@pytest.mark.parametrize("edit,words", [
    (lambda c: c.update(format="1"), "format"),
    (lambda c: c.update(training_set=["All"]), "training_set"),
    (lambda c: c["channels"].update(nuclear=-1), "channels/nuclear"),
    (lambda c: c.update(validation={"mAP": "high"}), "validation/mAP"),
    (lambda c: c.update(preprocessing={"low": 0.1, "high": "99.9"}), "high must be a number"),
    (lambda c: c["preprocessing"].update(channel_order=["red", "nuclear"]), "channel_order must list"),
    (lambda c: c["preprocessing"].update(method_normalisation={"low": 1.0}), "method_normalisation must be"),
    (lambda c: c["preprocessing"].update(levels=0), "levels must be"),
    (lambda c: c.update(synthetic="no"), "synthetic"),
    (lambda c: c.clear(), "'format' is a required property"),
])
def test_config_json_of_the_wrong_types_is_refused_at_load(baseline_folder, tmp_path, edit, words):
    folder = _copy(baseline_folder, tmp_path)
    _edit_json(folder, ckpt.CONFIG_FILE, edit)
    assert not ckpt.is_complete(folder)
    with pytest.raises(SegGalError, match=words):
        build("baseline", folder)


@pytest.mark.parametrize("steps,words", [({"diameter": 23.0}, "Cellpose setting"),
                                         ({"channel_order": ["membrane", "nuclear"]}, "takes its channels as")])
def test_a_preprocessing_step_the_backend_cannot_apply_is_refused_at_load(baseline_folder, tmp_path, steps, words):
    folder = _copy(baseline_folder, tmp_path)
    _edit_json(folder, ckpt.CONFIG_FILE, lambda c: c["preprocessing"].update(steps))
    assert ckpt.is_complete(folder)  # a valid record, but not one the classical baseline applies
    with pytest.raises(SegGalError, match=words):
        build("baseline", folder)


def test_baseline_backend_json_of_the_wrong_types_is_refused(baseline_folder, tmp_path):
    folder = _copy(baseline_folder, tmp_path)
    _edit_json(folder, ckpt.BACKEND_FILE, lambda m: m["settings"].update(smooth="1.0"))
    with pytest.raises(SegGalError, match="settings/smooth"):
        build("baseline", folder)


def test_tampered_published_cellpose_weights_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))
    (tmp_path / "nucleitorch_0").write_bytes(pickle.dumps(_Pickled()))
    with pytest.raises(SegGalError, match="not readable without unpickling code"):
        build("cellpose", "nuclei", device="cpu")
    (tmp_path / "nucleitorch_0").write_bytes(b"\x80\x02garbage")
    with pytest.raises(SegGalError, match="nucleitorch_0"):
        build("cellpose", "nuclei", device="cpu")


@pytest.mark.parametrize("reference", ["org/a--b", "org/..", "org/.hidden-", "org/name@../../elsewhere",
                                       "org/name@refs/pr/1", "org/name@a..b", "org/name@/abs", "a/b/c"])
def test_hub_references_that_are_not_plain_are_refused(reference):
    with pytest.raises(SegGalError):
        ckpt.parse_reference(reference)
    with pytest.raises(SegGalError):
        ckpt.resolve_checkpoint(reference)


def test_plain_hub_references_parse():
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert ckpt.parse_reference(f"lab/cellpose-x@{commit}") == ("lab/cellpose-x", commit)
    assert ckpt.parse_reference("lab/cellpose-x@v1.2") == ("lab/cellpose-x", "v1.2")


def test_a_cache_ref_that_leads_outside_the_cache_is_refused(baseline_folder, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path / "cache"
    repo = cache / "models--lab--evil"
    (repo / "snapshots").mkdir(parents=True)
    (repo / "refs").mkdir()
    outside = tmp_path / "elsewhere"
    shutil.copytree(baseline_folder, outside)
    (repo / "refs" / "main").write_text(os.path.relpath(outside, repo / "snapshots"))
    with pytest.raises(SegGalError, match="outside the Hugging Face cache"):
        ckpt.resolve_checkpoint("lab/evil", cache_dir=cache)


# ------------------------------------------------------------------------------------------- fuzzing

FILES = (ckpt.CONFIG_FILE, ckpt.BACKEND_FILE, ckpt.WEIGHTS_FILE, ckpt.CARD_FILE)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


@st.composite
def damage(draw):
    """(file, how, argument): random bytes, a truncation, or one JSON field set to a value of another type."""
    name = draw(st.sampled_from(FILES))
    how = draw(st.sampled_from(["bytes", "truncate"] + (["field"] if name.endswith(".json") else [])))
    if how == "bytes":
        return name, how, draw(st.binary(max_size=64))
    if how == "truncate":
        return name, how, draw(st.floats(0.0, 0.999))
    return name, how, (draw(st.integers(0, 50)), draw(st.integers(0, 50)), draw(JSON_VALUES))


def _apply(folder: Path, name: str, how: str, argument) -> None:
    path = folder / name
    data = path.read_bytes()
    if how == "bytes":
        path.write_bytes(argument)
    elif how == "truncate":
        path.write_bytes(data[: int(len(data) * argument)])
    else:
        try:
            document = json.loads(data)
        except ValueError:  # an earlier damage already broke this file: it stays broken
            return
        if not isinstance(document, dict) or not document:
            return
        pick, inner, value = argument
        keys = sorted(document)
        key = keys[pick % len(keys)]
        if isinstance(document[key], dict) and document[key]:
            sub = sorted(document[key])
            document[key][sub[inner % len(sub)]] = value
        else:
            document[key] = value
        path.write_text(json.dumps(document))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damages=st.lists(damage(), min_size=1, max_size=3))
def test_fuzzed_checkpoint_folders_raise_only_seggal_errors(weights_folder, tmp_path_factory, damages):
    folder = _copy(weights_folder, tmp_path_factory.mktemp("fuzz"))
    for name, how, argument in damages:
        _apply(folder, name, how, argument)
    assert ckpt.is_complete(folder) in (True, False)
    for load in (lambda: build("baseline", folder), lambda: gallery.load_checkpoint(folder),
                 lambda: ckpt.read_backend_meta(folder, "baseline", weights=True), lambda: ckpt.load_weights(folder)):
        try:
            load()
        except SegGalError:
            pass
