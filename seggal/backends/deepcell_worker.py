"""The deepcell worker: a separate process that runs deepcell 0.12.10 (Mesmer's PanopticNet, FeatureNet)
on Keras 2 through tf-keras, beside the main process's Keras 3 (StarDist).

Run as ``python -m seggal.backends.deepcell_worker`` by :mod:`seggal.backends.deepcell` (never imported
by the main process for anything but its protocol helpers). The process sets ``TF_USE_LEGACY_KERAS=1``
before TensorFlow loads — a process-wide switch, which is why this is a process of its own — and installs
an import shim that deepcell 0.12 (written for TensorFlow 2.8) needs on TensorFlow 2.21:

* ``keras`` → ``tf_keras`` (deepcell imports ``keras.utils.conv_utils``, which Keras 3 removed; tf-keras
  keeps it at ``tf_keras.src.utils.conv_utils``);
* ``tensorflow.keras.optimizers.SGD`` / ``Adam`` / ``RMSprop`` → their ``legacy`` versions (deepcell builds
  an ``SGD(decay=…)`` at import time, which the new optimisers refuse).

Protocol (one request at a time, over stdin / the original stdout; everything the libraries print goes to
stderr): a request is one JSON line (with its arrays' dtypes and shapes, :func:`send`) followed by the
arrays' raw bytes; the answer likewise. Requests:

``{"op": "load", "spec": {...}, "weights": "model.safetensors" | null, "h5": ["file.h5", ...]}``
    build the network of ``spec`` (:class:`Net`) and load weights from a safetensors file (keys = Keras
    weight names) or the paper's ``.h5`` files (``load_weights``; HDF5 holds arrays, no code) →
    ``{"ok": true, "parameters": N}``.
``{"op": "predict"}`` + one (B, H, W, C) float32 array → the heads' outputs, then
    ``{"ok": true}`` + K arrays (B, H, W, c_k) float32.
``{"op": "segment"}`` + (B, H, W, C) → the paper's post-processing of the outputs (Mesmer:
    ``deepcell_toolbox.deep_watershed_mibi``; FeatureNet: thresholds and connected components, as its test
    scripts) → ``{"ok": true}`` + (B, H, W) int32 labels.
``{"op": "weights"}`` → ``{"ok": true, "names": [...]}`` + one array per Keras weight (the model's
    ``weights`` order).
``{"op": "quit"}``
An error answers ``{"ok": false, "error": "..."}`` and the worker stays alive. ``--check`` only imports
deepcell through the shim and exits 0 (``scripts/install_deepcell.sh`` uses it).
"""

from __future__ import annotations

import json
import os
import sys
from typing import BinaryIO

import numpy as np

#: The paper's post-processing settings (Mesmer/mesmer_*_test.py: deep_watershed_mibi after a 0-100
#: percentile normalisation of each output image).
MESMER_WATERSHED = {"maxima_threshold": 0.3, "maxima_model_smooth": 0, "interior_threshold": 0.3,
                    "interior_model_smooth": 2, "radius": 3, "small_objects_threshold": 10,
                    "fill_holes_threshold": 10, "pixel_expansion": 3}
#: FeatureNet/featurenet_*_test.py: foreground probability > 0.9, interior > 0.2, objects of >= 50 pixels.
FEATURENET_FOREGROUND, FEATURENET_INTERIOR, FEATURENET_MIN_SIZE = 0.9, 0.2, 50


# --- protocol (used by both sides) -----------------------------------------------------------------------

def send(stream: BinaryIO, header: dict, arrays=()) -> None:
    """Write one message: ``header`` plus each array's dtype and shape (JSON, one line), then the arrays'
    raw bytes (C order)."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    layout = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    stream.write((json.dumps({**header, "arrays": layout}) + "\n").encode("utf-8"))
    for array in arrays:
        stream.write(array.tobytes())
    stream.flush()


def receive(stream: BinaryIO) -> tuple[dict, list[np.ndarray]]:
    """Read one message → (header, arrays); EOFError when the stream ended or stopped mid-message. Only
    numeric dtypes are accepted (no objects, so nothing is unpickled)."""
    line = stream.readline()
    if not line:
        raise EOFError("the deepcell worker's stream ended")
    header = json.loads(line)
    arrays = []
    for item in header.pop("arrays", []):
        dtype = np.dtype(item["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"refusing a {dtype} array")
        size = int(np.prod(item["shape"], dtype=np.int64)) * dtype.itemsize
        data = stream.read(size)
        if len(data) != size:
            raise EOFError("the deepcell worker's stream ended mid-array")
        arrays.append(np.frombuffer(data, dtype).reshape(item["shape"]).copy())
    return header, arrays


# --- the worker side ----------------------------------------------------------------------------------

def install_shim() -> None:
    """``TF_USE_LEGACY_KERAS=1``, ``keras`` → ``tf_keras`` and the legacy optimisers (module docstring).
    Must run before TensorFlow is imported in this process."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError("TensorFlow was imported before the legacy-Keras switch")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    from tf_keras.src.utils import conv_utils

    sys.modules["keras"] = tf_keras
    sys.modules["keras.utils"] = tf_keras.utils
    sys.modules["keras.utils.conv_utils"] = conv_utils
    tf_keras.utils.conv_utils = conv_utils
    import tensorflow.keras.optimizers as tf_optimizers  # tf_keras.api._v2.keras.optimizers here

    for module in (tf_optimizers, tf_keras.optimizers):
        for name in ("SGD", "Adam", "RMSprop"):
            setattr(module, name, getattr(tf_keras.optimizers.legacy, name))


class Net:
    """The deepcell network of ``spec`` (backend.json's ``network``; ``use_imagenet`` is always False):

    ``{"model": "panopticnet", "kwargs": {...}}``: ``deepcell.model_zoo.panopticnet.PanopticNet(**kwargs)``;
    ``{"model": "featurenet", "kwargs": {...}}``: the paper's FeatureNet pair, a foreground / background
    ``bn_feature_net_skip_2D(n_features=2, **kwargs)`` and the pixel-wise one built on it
    (``fgbg_model=…, n_features=4``), which holds both networks' weights.

    ``model`` holds every weight; :meth:`outputs` gives the heads the post-processing reads.
    """

    def __init__(self, spec: dict):
        kwargs = dict(spec["kwargs"])
        kwargs["input_shape"] = tuple(kwargs["input_shape"])
        self.kind = spec["model"]
        if self.kind == "panopticnet":
            from deepcell.model_zoo.panopticnet import PanopticNet

            self.model = PanopticNet(**kwargs, use_imagenet=False)
            self.parts = [self.model]
        elif self.kind == "featurenet":
            from deepcell.model_zoo.featurenet import bn_feature_net_skip_2D

            fgbg = bn_feature_net_skip_2D(n_features=2, **kwargs)
            self.model = bn_feature_net_skip_2D(fgbg_model=fgbg, n_features=4, **kwargs)
            self.parts = [fgbg, self.model]
        else:
            raise ValueError(f"unknown deepcell model {self.kind!r}")

    def load_h5(self, files: list[str]) -> None:
        """The paper's ``.h5`` weights, one file per part, loaded in the paper's order (``load_weights``)."""
        if len(files) != len(self.parts):
            raise ValueError(f"a {self.kind} needs {len(self.parts)} .h5 file(s), got {len(files)}")
        for part, path in zip(self.parts, files):
            part.load_weights(path)

    def outputs(self, batch: np.ndarray) -> list[np.ndarray]:
        """PanopticNet: [inner distance (B, H, W, 1), pixel-wise (B, H, W, 3)]; FeatureNet: [pixel-wise
        (B, H, W, 4), foreground / background (B, H, W, 2)] (each network's last output)."""
        if self.kind == "panopticnet":
            out = self.model.predict(batch, verbose=0)
        else:
            out = [self.model.predict(batch, verbose=0)[-1], self.parts[0].predict(batch, verbose=0)[-1]]
        return [np.asarray(o, np.float32) for o in out]


def weight_names(model) -> list[str]:
    """The model's Keras weight names, in ``model.weights`` order; ValueError when two coincide."""
    names = [w.name for w in model.weights]
    if len(set(names)) != len(names):
        raise ValueError("the deepcell model has duplicate weight names")
    return names


def _normalize(x: np.ndarray) -> np.ndarray:
    """The paper's ``normalize(x, 0, 100, axis=(0, 1))`` of one (H, W, C) output: min-max per channel."""
    lo = np.percentile(x, 0.0, axis=(0, 1), keepdims=True).astype(np.float32)
    hi = np.percentile(x, 100.0, axis=(0, 1), keepdims=True).astype(np.float32)
    return (x.astype(np.float32) - lo) / (hi - lo + np.float32(1e-20))


def segment(net: Net, batch: np.ndarray) -> np.ndarray:
    """The paper's post-processing of ``net``'s outputs on ``batch`` (B, H, W, C) → (B, H, W) int32."""
    from skimage.measure import label

    outputs = net.outputs(batch)
    if net.kind == "panopticnet":  # Mesmer/mesmer_*_test.py
        from deepcell_toolbox.deep_watershed import deep_watershed_mibi

        inner = np.stack([_normalize(x) for x in outputs[0]])
        interior = np.stack([_normalize(x) for x in outputs[1][..., 1:2]])
        labels = deep_watershed_mibi({"inner-distance": inner, "pixelwise-interior": interior}, **MESMER_WATERSHED)
        return np.stack([label(x[..., 0]) for x in labels]).astype(np.int32)
    from skimage.morphology import remove_small_objects  # FeatureNet/featurenet_*_test.py

    pixelwise, fgbg = outputs
    masked = pixelwise * (fgbg[..., 1:2] > FEATURENET_FOREGROUND)
    return np.stack([remove_small_objects(label(x[..., 2] > FEATURENET_INTERIOR), min_size=FEATURENET_MIN_SIZE,
                                          connectivity=1) for x in masked]).astype(np.int32)


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer requests until ``quit`` or the end of ``inp``."""
    net = None
    while True:
        try:
            header, arrays = receive(inp)
        except EOFError:
            return
        op = header.get("op")
        try:
            if op == "quit":
                return
            if op == "load":
                net = Net(header["spec"])
                if header.get("weights"):
                    from safetensors.numpy import load_file

                    stored = load_file(header["weights"])
                    names = weight_names(net.model)
                    if sorted(stored) != sorted(names):
                        raise ValueError(f"{header['weights']}: its weights do not match the {net.kind} network "
                                         f"({len(stored)} arrays, the network has {len(names)})")
                    net.model.set_weights([stored[n] for n in names])
                elif header.get("h5"):
                    net.load_h5(header["h5"])
                send(out, {"ok": True, "parameters": int(net.model.count_params())})
            elif net is None:
                raise ValueError("no model loaded")
            elif op == "predict":
                outputs = net.outputs(arrays[0])
                send(out, {"ok": True}, outputs)
            elif op == "segment":
                send(out, {"ok": True}, [segment(net, arrays[0])])
            elif op == "weights":
                names = weight_names(net.model)
                send(out, {"ok": True, "names": names}, [w.numpy() for w in net.model.weights])
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # noqa: BLE001 — reported to the caller, which raises SegGalError
            send(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str]) -> int:
    install_shim()
    import deepcell  # noqa: F401 — the import that needs the shim

    if argv[1:] == ["--check"]:
        print(f"deepcell {deepcell.__version__} imports through tf-keras", file=sys.stderr)
        return 0
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, never into the protocol
    serve(sys.stdin.buffer, protocol_out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
