"""StarDist (stardist 0.9 on TensorFlow / Keras 3): a U-Net predicting star-convex polygons.

Built from scratch with a two-channel input (:func:`seggal.backends.base.network_input`: nuclear, membrane;
zeros where absent), trained with ``StarDist2D.train`` one epoch at a time (the Keras optimiser and the
learning-rate callback persist between calls), predicted with ``predict_instances`` (scores: each
polygon's object probability). Weights are saved as ``model.safetensors`` (the Keras weight list, keyed
``<index>:<weight path>``) and ``backend.json`` (the ``Config2D`` and the thresholds) — StarDist's own
format is a Keras HDF5 file plus JSON, which SegGal does not use so that every checkpoint is safetensors.

TensorFlow is imported lazily and quietly (``TF_CPP_MIN_LOG_LEVEL``); the CPU build is installed, so
StarDist runs on the CPU even where torch sees a GPU.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.backends.base import FitSettings, Prediction, Sample, Segmenter, network_input
from seggal.checkpoint import WEIGHTS_FILE, load_weights, read_backend_meta, write_backend_meta
from seggal.errors import SegGalError
from seggal.image import Image
from seggal.methods import Method, get_method

#: Config2D arguments SegGal sets (the rest are StarDist's defaults); ``n_rays``/``grid`` as its examples.
DEFAULT_CONFIG = {"n_rays": 32, "grid": (2, 2), "n_channel_in": 2, "train_tensorboard": False}
NEEDS_WEIGHTS = True
_POS_INT = {"type": "integer", "minimum": 1}
_PAIR = {"type": "array", "items": _POS_INT, "minItems": 2, "maxItems": 2}
_PROB = {"type": "number", "minimum": 0, "maximum": 1}
#: backend.json: {"backend": "stardist", "config": Config2D fields, "thresholds": {"prob", "nms"},
#: "epochs_done"}. The fields that shape the network are typed here; Config2D's other fields (training
#: settings) are checked by name against Config2D at load (:func:`_config`).
BACKEND_SCHEMA = {
    "type": "object",
    "required": ["backend", "config"],
    "properties": {
        "backend": {"const": "stardist"},
        "config": {
            "type": "object",
            "required": ["n_rays", "grid", "n_channel_in"],
            "properties": {
                "n_dim": {"const": 2}, "axes": {"const": "YXC"}, "n_rays": _POS_INT, "grid": _PAIR,
                "n_channel_in": {"const": 2}, "n_channel_out": _POS_INT, "backbone": {"const": "unet"},
                "n_classes": {"type": ["integer", "null"], "minimum": 1}, "unet_n_depth": _POS_INT,
                "unet_kernel_size": _PAIR, "unet_n_filter_base": _POS_INT, "unet_n_conv_per_depth": _POS_INT,
                "unet_pool": _PAIR, "unet_activation": {"type": "string"}, "unet_last_activation": {"type": "string"},
                "unet_batch_norm": {"type": "boolean"}, "unet_dropout": {"type": "number", "minimum": 0, "maximum": 1},
                "unet_expansion": _POS_INT, "unet_prefix": {"type": "string"},
                "net_conv_after_unet": {"type": "integer", "minimum": 0},
            },
        },
        "thresholds": {"type": "object", "required": ["prob", "nms"], "additionalProperties": False,
                       "properties": {"prob": _PROB, "nms": _PROB}},
        "epochs_done": {"type": "integer", "minimum": 0},
    },
}


def _quiet_tensorflow() -> None:
    """Prepare the process for TensorFlow: quiet logs, and Triton loaded first.

    TensorFlow and Triton (torch's compiler, which torch imports on first use of ``torch.optim``) each
    bundle LLVM; loading Triton *after* TensorFlow crashes the process (segmentation fault, seen with
    tensorflow-cpu 2.21 and triton from torch 2.14), the other order works. So Triton, when installed,
    is loaded before TensorFlow, and a page may run StarDist and then Cellpose in one server process.
    """
    try:
        import triton  # noqa: F401
    except ImportError:
        pass
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


class StarDistSegmenter(Segmenter):
    """A ``stardist.models.StarDist2D`` held in memory (no model folder on disk)."""

    trainable = True
    calibratable = True
    gives_scores = True

    def __init__(self, model, method_id: str = "stardist"):
        self.model = model
        self.method_id = method_id
        self.epochs_done = 0

    @property
    def optimizer(self):
        """The Keras optimiser once training started (None before)."""
        return getattr(self.model.keras_model, "optimizer", None) if self.model._model_prepared else None

    def predict(self, image: Image) -> Prediction:
        x = network_input(image, self.preprocessing)
        labels, details = self.model.predict_instances(x, axes="YXC", verbose=False, show_tile_progress=False)
        labels = np.asarray(labels, np.int32)
        scores = np.asarray(details["prob"], np.float32)[: int(labels.max())]
        return Prediction(labels, scores)

    def _patch_size(self, samples: Sequence[Sample]) -> tuple[int, int]:
        """Training crop: the config's ``train_patch_size`` (StarDist's default 256 × 256; ``--arch`` sets it),
        cut to the largest multiple of the network's stride that fits the smallest image."""
        stride = [g * 2**self.model.config.unet_n_depth for g in self.model.config.grid]
        smallest = np.min([s.labels.shape for s in samples], axis=0)
        wanted = self.model.config.train_patch_size
        size = tuple(int(min(w, n) // d * d) for w, n, d in zip(wanted, smallest, stride))
        if min(size) == 0:
            raise SegGalError(f"stardist: training images of shape {tuple(smallest)} are smaller than the network's "
                              f"stride {tuple(stride)}")
        return size

    def train_epoch(self, samples: Sequence[Sample], settings: FitSettings) -> float:
        """One epoch of ``ceil(n / batch_size)`` steps (at most ``max_iters``) on random crops → mean loss."""
        from stardist import fill_label_holes

        if not samples:
            raise SegGalError("stardist: no training samples")
        config = self.model.config
        if not self.model._model_prepared:
            config.train_learning_rate = settings.learning_rate or get_method(self.method_id).paper.learning_rate \
                or config.train_learning_rate
        config.train_batch_size = settings.batch_size
        config.train_patch_size = self._patch_size(samples)
        X = [network_input(s.image, self.preprocessing) for s in samples]
        Y = [fill_label_holes(np.asarray(s.labels, np.int32)) for s in samples]
        steps = -(-len(samples) // settings.batch_size)
        steps = min(steps, settings.max_iters) if settings.max_iters else steps
        with contextlib.redirect_stdout(io.StringIO()):  # Keras' per-step progress bar; the caller reports epochs
            history = self.model.train(X, Y, validation_data=(X[:1], Y[:1]), epochs=1, steps_per_epoch=steps,
                                       seed=settings.seed % 2**32)
        self.epochs_done += 1
        return float(np.mean(history.history["loss"]))

    def calibrate(self, samples: Sequence[Sample]) -> dict[str, float]:
        """Tune the probability and NMS thresholds on (validation) ``samples`` with StarDist's own
        ``optimize_thresholds``, as StarDist's training recipe does after training → {"prob", "nms"}.
        Saved with the model (``backend.json``)."""
        if not samples:
            raise SegGalError("stardist: no samples to calibrate the thresholds on")
        X = [network_input(s.image, self.preprocessing) for s in samples]
        Y = [np.asarray(s.labels, np.int32) for s in samples]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            found = self.model.optimize_thresholds(X, Y, predict_kwargs={"verbose": False, "show_tile_progress": False},
                                                   optimize_kwargs={"tol": 1e-2}, save_to_json=False)
        return {k: float(v) for k, v in found.items()}

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = self.model.keras_model.weights
        save_file({f"{i:04d}:{w.path}": np.ascontiguousarray(w.numpy()) for i, w in enumerate(weights)},
                  str(folder / WEIGHTS_FILE))
        meta = {"backend": "stardist", "config": vars(self.model.config),
                "thresholds": dict(self.model.thresholds._asdict()), "epochs_done": self.epochs_done}
        write_backend_meta(folder, meta)


def _model(config_kwargs: dict, thresholds: dict | None = None):
    _quiet_tensorflow()
    from stardist.models import Config2D, StarDist2D

    config = Config2D(**config_kwargs)
    with contextlib.redirect_stdout(io.StringIO()):  # "Using default values: prob_thresh=…"
        model = StarDist2D(config, name=None, basedir=None)
    if thresholds:
        model.thresholds = thresholds
    return model


def from_scratch(method_id: str = "stardist", **config) -> StarDistSegmenter:
    """An untrained StarDist; ``config`` overrides :data:`DEFAULT_CONFIG` (e.g. a small ``n_rays``, ``unet_n_depth``)."""
    _quiet_tensorflow()
    unknown = sorted(set(config) - _config_fields())
    if unknown:
        raise SegGalError(f"stardist: unknown architecture option(s) {', '.join(unknown)} (Config2D fields: "
                          "n_rays, grid, unet_n_depth, unet_n_filter_base, …)")
    try:
        return StarDistSegmenter(_model(DEFAULT_CONFIG | config), method_id)
    except (ValueError, TypeError, AssertionError) as exc:
        raise SegGalError(f"stardist: invalid architecture options {config}: {exc}") from None


def pretrained(target: str | None = None) -> None:
    """SegGal offers no published StarDist weights (its own checkpoints live in the gallery)."""
    return None


def _config_fields() -> set[str]:
    _quiet_tensorflow()
    from stardist.models import Config2D

    return set(inspect.signature(Config2D).parameters) | set(vars(Config2D()))


def build(method: Method, checkpoint: Path | str | None, device: str | None, *, target: str | None = None,
          arch: dict | None = None) -> StarDistSegmenter:
    """Untrained (``None``; ``arch`` overrides :data:`DEFAULT_CONFIG`) or a SegGal checkpoint folder, whose
    backend.json is checked against :data:`BACKEND_SCHEMA` and Config2D's fields and whose weights must
    fit the network before this returns. ``device``: TensorFlow's CPU build decides."""
    if checkpoint is None:
        return from_scratch(method.id, **(arch or {}))
    folder = Path(checkpoint)
    meta = read_backend_meta(folder, "stardist", BACKEND_SCHEMA)
    _quiet_tensorflow()
    unknown = sorted(set(meta["config"]) - _config_fields())
    if unknown:
        raise SegGalError(f"{folder / 'backend.json'}: unknown StarDist config key(s) {', '.join(unknown)}")
    stored = load_weights(folder)
    try:
        order = sorted(stored, key=lambda k: int(k.split(":", 1)[0]))
    except ValueError:
        raise SegGalError(f"{folder / WEIGHTS_FILE}: tensor names must start with '<index>:' (StarDist layout)") from None
    try:
        model = _model(meta["config"], meta.get("thresholds"))
    except (ValueError, TypeError, AssertionError, KeyError) as exc:
        raise SegGalError(f"{folder / 'backend.json'}: invalid StarDist config ({type(exc).__name__}: {exc})") from None
    try:
        model.keras_model.set_weights([stored[k] for k in order])
    except (ValueError, TypeError) as exc:
        raise SegGalError(f"{folder / WEIGHTS_FILE}: weights do not fit the StarDist network of its backend.json "
                          f"({exc})") from None
    segmenter = StarDistSegmenter(model, method.id)
    segmenter.epochs_done = int(meta.get("epochs_done", 0))
    return segmenter
