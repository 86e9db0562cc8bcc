"""deepcell (the paper's Mesmer and FeatureNet): deepcell 0.12.10 on Keras 2 (tf-keras), in a worker process.

deepcell 0.12 needs Keras 2, switched on process-wide by ``TF_USE_LEGACY_KERAS=1``; StarDist in this
process uses Keras 3. So every deepcell network lives in its own child process,
``python -m seggal.backends.deepcell_worker`` (that module: the import shim and the request protocol),
started when a segmenter is built and stopped when it is garbage-collected. This module never imports
TensorFlow or deepcell.

Networks, as the paper's scripts build them (benchmark repository, ``Mesmer/mesmer_*_test.py``,
``FeatureNet/featurenet_*_test.py``):

* Mesmer: ``PanopticNet(backbone="resnet50", input_shape=(256, 256, C), norm_method=None,
  num_semantic_heads=2, num_semantic_classes=[1, 3], location=True, include_top=True, use_imagenet=False)``
  (25.6 M parameters); post-processing ``deepcell_toolbox.deep_watershed_mibi`` with the test scripts'
  settings (:data:`seggal.backends.deepcell_worker.MESMER_WATERSHED`).
* FeatureNet: two ``bn_feature_net_skip_2D`` (receptive field 61, ``norm_method="std"``, one skip, 32 / 128
  filters): a foreground / background network and the pixel-wise one built on it (4 classes); interior
  where foreground > 0.9 and interior > 0.2, connected components of at least 50 pixels.

C is 2 (nuclear, membrane) for dual-channel tasks and 1 (the task's channel: nuclear, or membrane for
whole-cell input) otherwise (backend.json ``channels``). Images smaller than the network's window are padded
with zeros (bottom / right) and the labels cropped back; larger ones go through :mod:`seggal.tiling`'s
windows. Weights: ``model.safetensors`` keyed by the Keras weight names. Inference only: training is not
wired through the worker (``trainable`` is False).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Sequence

import numpy as np

import seggal
from seggal.backends.base import Prediction, Segmenter, network_input
from seggal.backends.deepcell_worker import receive, send
from seggal.checkpoint import WEIGHTS_FILE, read_backend_meta, write_backend_meta
from seggal.errors import SegGalError
from seggal.image import Image
from seggal.methods import Method

NEEDS_WEIGHTS = True
SLOTS = ("nuclear", "membrane")
WINDOW = 256
_FEATURENET = {"receptive_field": 61, "norm_method": "std", "n_skips": 1, "n_conv_filters": 32,
               "n_dense_filters": 128, "last_only": False}
#: backend.json: {"backend": "deepcell", "network": {"model", "kwargs"}, "channels": [...]}
BACKEND_SCHEMA = {
    "type": "object",
    "required": ["backend", "network", "channels"],
    "properties": {
        "backend": {"const": "deepcell"},
        "network": {"type": "object", "required": ["model", "kwargs"], "properties": {
            "model": {"enum": ["panopticnet", "featurenet"]},
            "kwargs": {"type": "object", "required": ["input_shape"], "properties": {
                "input_shape": {"type": "array", "items": {"type": "integer", "minimum": 1},
                                "minItems": 3, "maxItems": 3}}}}},
        "channels": {"type": "array", "items": {"enum": list(SLOTS)}, "minItems": 1, "maxItems": 2,
                     "uniqueItems": True},
    },
}


def network_spec(method_id: str, channels: Sequence[str]) -> dict:
    """The paper's network for ``method_id`` (``mesmer`` / ``featurenet``) on ``channels`` (module docstring)."""
    shape = [WINDOW, WINDOW, len(channels)]
    if method_id == "mesmer":
        return {"model": "panopticnet", "kwargs": {
            "backbone": "resnet50", "input_shape": shape, "norm_method": None, "num_semantic_heads": 2,
            "num_semantic_classes": [1, 3], "location": True, "include_top": True}}
    if method_id == "featurenet":
        return {"model": "featurenet", "kwargs": {**_FEATURENET, "input_shape": shape}}
    raise SegGalError(f"method {method_id}: not a deepcell method")


def channels_for(input_channels: str) -> list[str]:
    """A task's ``input_channels`` (dual / nuclear / whole_cell) → the network's input slots."""
    return {"dual": list(SLOTS), "nuclear": ["nuclear"], "whole_cell": ["membrane"]}[input_channels]


class Worker:
    """One ``seggal.backends.deepcell_worker`` child process (its stderr in a temporary file, quoted in
    errors); :meth:`call` sends a request and returns the answer's (header, arrays)."""

    def __init__(self):
        root = str(Path(seggal.__file__).resolve().parent.parent)
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen([sys.executable, "-m", "seggal.backends.deepcell_worker"], env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        self._finalizer = weakref.finalize(self, _stop, self._process, self._log)

    def call(self, header: dict, arrays: Sequence[np.ndarray] = ()) -> tuple[dict, list[np.ndarray]]:
        try:
            send(self._process.stdin, header, arrays)
            answer, out = receive(self._process.stdout)
        except (BrokenPipeError, EOFError, ValueError) as exc:
            raise SegGalError(f"the deepcell worker stopped ({type(exc).__name__}): {self._tail()}") from None
        if not answer.get("ok"):
            raise SegGalError(f"deepcell worker: {answer.get('error')}")
        return answer, out

    def _tail(self) -> str:
        self._log.seek(0)
        lines = [l for l in self._log.read().decode("utf-8", "replace").splitlines() if l.strip()]
        return "\n".join(lines[-15:]) or "(no output)"

    def close(self) -> None:
        self._finalizer()


def _stop(process: subprocess.Popen, log) -> None:
    try:
        send(process.stdin, {"op": "quit"})
        process.stdin.close()
        process.wait(timeout=30)
    except Exception:  # noqa: BLE001 — a worker that is already gone or hangs is killed
        process.kill()
    log.close()


class DeepcellSegmenter(Segmenter):
    """A deepcell network in a :class:`Worker`; ``spec`` its network, ``channels`` its input slots."""

    def __init__(self, method_id: str, spec: dict, channels: Sequence[str], *, weights: Path | None = None,
                 h5: Sequence[Path] = ()):
        self.method_id, self.spec, self.channels = method_id, spec, list(channels)
        self.worker = Worker()
        answer, _ = self.worker.call({"op": "load", "spec": spec, "weights": str(weights) if weights else None,
                                      "h5": [str(p) for p in h5]})
        self.parameters = int(answer["parameters"])

    @property
    def window(self) -> tuple[int, int]:
        return tuple(self.spec["kwargs"]["input_shape"][:2])

    def predict(self, image: Image) -> Prediction:
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[Image]) -> list[Prediction]:
        """All ``images`` in one request: each padded with zeros to the network's window."""
        height, width = self.window
        batch = np.zeros((len(images), height, width, len(self.channels)), np.float32)
        for i, image in enumerate(images):
            if image.shape[0] > height or image.shape[1] > width:
                raise SegGalError(f"{self.method_id}: an image of {image.shape} is larger than the network's "
                                  f"{height} x {width} window (seggal.tiling.segment_image cuts it into windows)")
            x = network_input(image, self.preprocessing)
            batch[i, : image.shape[0], : image.shape[1]] = x[:, :, [SLOTS.index(c) for c in self.channels]]
        _, (labels,) = self.worker.call({"op": "segment"}, [batch])
        from skimage.segmentation import relabel_sequential

        out = []
        for image, full in zip(images, labels):
            cropped = relabel_sequential(np.asarray(full[: image.shape[0], : image.shape[1]], np.int32))[0]
            out.append(Prediction(cropped.astype(np.int32), np.ones(int(cropped.max()), np.float32)))
        return out

    def outputs(self, batch: np.ndarray) -> list[np.ndarray]:
        """The network's raw outputs on ``batch`` (B, H, W, C) float32 → one (B, H, W, c) array per head."""
        return self.worker.call({"op": "predict"}, [np.asarray(batch, np.float32)])[1]

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        answer, arrays = self.worker.call({"op": "weights"})
        save_file(dict(zip(answer["names"], arrays)), str(Path(folder) / WEIGHTS_FILE))
        write_backend_meta(folder, {"backend": "deepcell", "network": self.spec, "channels": self.channels})


def pretrained(target: str | None = None) -> None:
    """deepcell's own published Mesmer weights are not offered (the paper's come through the gallery)."""
    return None


def build(method: Method, checkpoint: Path | str | None, device: str | None = None, *,
          target: str | None = None, arch: dict | None = None) -> DeepcellSegmenter:
    """``checkpoint``: ``None`` (an untrained network on both channels) or a checkpoint folder. ``device`` is
    ignored (the worker runs tensorflow-cpu)."""
    if arch:
        raise SegGalError(f"method {method.id}: the deepcell backend takes no architecture options "
                          "(the paper's network is fixed)")
    if checkpoint is None:
        return DeepcellSegmenter(method.id, network_spec(method.id, SLOTS), SLOTS)
    if not isinstance(checkpoint, Path) or not checkpoint.is_dir():
        raise SegGalError(f"method {method.id}: {checkpoint} is not a checkpoint folder")
    meta = read_backend_meta(checkpoint, "deepcell", BACKEND_SCHEMA)
    if meta["network"]["kwargs"]["input_shape"][2] != len(meta["channels"]):
        raise SegGalError(f"{checkpoint}: backend.json's input shape does not match its {len(meta['channels'])} "
                          "channel(s)")
    return DeepcellSegmenter(method.id, meta["network"], meta["channels"], weights=checkpoint / WEIGHTS_FILE)
