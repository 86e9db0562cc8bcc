"""StarDist model folders (``config.json``, ``thresholds.json``, Keras 2 ``weights_best.h5``) → SegGal's
StarDist checkpoint (stardist 0.9 on Keras 3).

The folder is read as StarDist itself reads it — ``Config2D.update_loaded_config`` on config.json, the
thresholds from thresholds.json, the HDF5 weights with Keras' own legacy-HDF5 loader (h5py; HDF5 holds
arrays, no code) — into a network built here, then stored as safetensors. The paper's one-channel models
(``n_channel_in = 1``) are widened to SegGal's two-channel input: the first convolution gets a zero
kernel for the other channel, placed so that the task's channel (nuclear, or membrane for whole-cell
input) is the one the original kernel sees; the network then computes what the one-channel one did.

How the paper ran it (``Stardist/stardist_{nuclear,wholecell}_{1C,2C}_test.py``, ``stardist_livecell_test.py``):
the preprocessed 256 x 256 windows (0.1 / 99.9 percentiles, CLAHE) as they are — ``X_test['X']`` (both
channels, nuclear then membrane) or its task channel — into ``predict_instances(x,
n_tiles=model._guess_n_tiles(x))`` with the thresholds in thresholds.json. The scripts do compute
``csbdeep.utils.normalize(x, 0, 99.8, axis=(0, 1))`` (no clipping) as the training scripts fed it, but into
``X_test1`` / ``X_test2``, then ``X_test = X_test``: the prediction never sees it, so neither does the record
(:func:`preprocessing`; provenance.json keeps the fact).
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.io import read_json_object
from seggal.methods import Method
from seggal.tasks import Task
from seggal.preprocess import NETWORK_ORDER, Preprocessing
from seggal.zoo.formats import Converted, paper_record, script_suffix

WEIGHT_NAMES = ("weights_best.h5", "weights_last.h5", "weights_final.h5")


def read_folder(folder: Path) -> tuple[dict, dict, Path]:
    """(config kwargs, thresholds, weights file) of a StarDist model folder; :class:`SegGalError` naming
    what is missing."""
    from seggal.backends.stardist import _quiet_tensorflow

    _quiet_tensorflow()  # the backend's TensorFlow import order (Triton first: the other order segfaults)
    from stardist.models import Config2D

    if not folder.is_dir():
        raise SegGalError(f"{folder}: a StarDist model is a folder (config.json, thresholds.json, weights_best.h5)")
    if not (folder / "config.json").is_file():
        raise SegGalError(f"{folder}: not a StarDist model folder (no config.json)")
    weights = next((folder / n for n in WEIGHT_NAMES if (folder / n).is_file()), None)
    if weights is None:
        raise SegGalError(f"{folder}: no Keras weights ({', '.join(WEIGHT_NAMES)})")
    config = Config2D.update_loaded_config(read_json_object(folder / "config.json"))
    thresholds = read_json_object(folder / "thresholds.json") if (folder / "thresholds.json").is_file() else {}
    return config, {k: float(v) for k, v in thresholds.items() if k in ("prob", "nms")}, weights


def script(task: Task) -> str:
    """The paper's StarDist test script for ``task`` (a path in the benchmark repository)."""
    return f"Stardist/stardist_{script_suffix(task)}_test.py"


def preprocessing(task: Task) -> Preprocessing:
    """The input pipeline of the paper's StarDist test script (module docstring): the data set's
    preprocessing, the network's (nuclear, membrane) input (a one-channel model is widened onto the
    task's channel), nothing more."""
    return paper_record(script(task), channel_order=NETWORK_ORDER)


def script_facts(channels: int, thresholds: dict) -> dict:
    """What else the test script did (provenance.json)."""
    return {
        "test_script_normalisation": "csbdeep normalize(x, 0, 99.8, axis=(0, 1)) computed into X_test1 but not "
                                     "used: X_test = X_test; predict_instances runs on the preprocessed windows",
        "training_normalisation": {"low": 0.0, "high": 99.8, "clip": False, "by": "csbdeep.utils.normalize"},
        "tiling": "predict_instances(x, n_tiles=model._guess_n_tiles(x)): one tile for a 256 x 256 window",
        "thresholds": thresholds or "StarDist defaults",
        "source_channels": channels,
    }


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the StarDist model folder ``path`` → a SegGal StarDist segmenter with its weights."""
    import numpy as np

    from seggal.backends.stardist import from_scratch

    config, thresholds, weights = read_folder(path)
    channels = int(config.get("n_channel_in", 1))
    if channels not in (1, 2):
        raise SegGalError(f"{path}: a {channels}-channel StarDist model; SegGal's StarDist takes 1 or 2 channels")
    try:
        source = from_scratch(method.id, **config)
        source.model.keras_model.load_weights(str(weights))
    except SegGalError:
        raise
    except Exception as exc:  # noqa: BLE001 — a weights file that does not fit its config is bad input
        raise SegGalError(f"{weights}: does not fit the StarDist network of {path / 'config.json'} "
                          f"({type(exc).__name__}: {exc})") from None
    segmenter = source
    if channels == 1:
        segmenter = from_scratch(method.id, **{**config, "n_channel_in": 2, "net_input_shape": [None, None, 2]})
        slot = 0 if task.input_channels == "nuclear" else 1
        arrays = []
        for old, new in zip(source.model.keras_model.get_weights(), segmenter.model.keras_model.get_weights()):
            if old.shape != new.shape:  # the first convolution: (k, k, 1, F) → (k, k, 2, F)
                wide = np.zeros(new.shape, old.dtype)
                wide[:, :, slot] = old[:, :, 0]
                old = wide
            arrays.append(old)
        segmenter.model.keras_model.set_weights(arrays)
    if thresholds:
        segmenter.model.thresholds = thresholds
    notes = [f"StarDist model folder ({weights.name}, Keras HDF5), {channels} input channel(s), "
             f"thresholds {thresholds or 'StarDist defaults'}"]
    if channels == 1:
        notes.append("widened to SegGal's two-channel input with a zero kernel for the other channel")
    return Converted(segmenter, preprocessing(task), "StarDist model folder (Keras 2 HDF5 weights)", notes,
                     script_facts(channels, thresholds))
