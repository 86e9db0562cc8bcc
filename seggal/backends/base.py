"""The Segmenter interface every backend implements.

A segmenter takes an :class:`seggal.image.Image` ((H, W, C) float32 + channel spec) and returns a
:class:`Prediction`: an (H, W) int32 label image (0 = background, instances 1..n) and one score per
instance. It can be built from scratch or loaded from a checkpoint folder, and exposes what
``training/`` needs: one epoch of training at a time and saving to a folder.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import Image

#: The files every backend's checkpoint folder holds (seggal.hub adds config.json and README.md).
WEIGHTS_FILE = "model.safetensors"
BACKEND_FILE = "backend.json"


def save_torch_weights(folder: str | Path, module) -> Path:
    """Create ``folder`` and write ``module``'s state dict (CPU, contiguous) as its ``model.safetensors``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(folder / WEIGHTS_FILE))
    return folder


def write_backend_meta(folder: Path, meta: dict) -> None:
    """Write ``meta`` (which names its ``backend``) as the folder's ``backend.json``."""
    (Path(folder) / BACKEND_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def read_backend_meta(folder: str | Path, backend: str, keys: Sequence[str] = (), weights: bool = True) -> dict:
    """``backend.json`` of a checkpoint folder written by ``backend``, with ``keys`` present (and the
    weights file when ``weights``). Raises :class:`SegGalError` naming the folder otherwise."""
    folder = Path(folder)
    path = folder / BACKEND_FILE
    needed = [BACKEND_FILE] + ([WEIGHTS_FILE] if weights else [])
    if not all((folder / name).is_file() for name in needed):
        raise SegGalError(f"{folder}: not a {backend} checkpoint folder (needs {' and '.join(needed)})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegGalError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("backend") != backend:
        found = meta.get("backend") if isinstance(meta, dict) else None
        raise SegGalError(f"{path}: written by backend {found!r}, not {backend}")
    missing = [key for key in keys if key not in meta]
    if missing:
        raise SegGalError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    return meta


@dataclass
class Prediction:
    """``labels`` (H, W) int32, 0 = background, 1..n; ``scores`` (n,) float32, score of label i + 1."""

    labels: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Sample:
    """One training example: an image and its ground-truth label image ((H, W) int32)."""

    image: Image
    labels: np.ndarray


@dataclass(frozen=True)
class FitSettings:
    """Per-epoch training settings (defaults come from the method registry's paper settings)."""

    batch_size: int = 8
    learning_rate: float | None = None
    device: str = "cpu"
    max_iters: int | None = None  # cap on optimiser steps per epoch (CPU smoke runs)
    seed: int = 0


class Segmenter(abc.ABC):
    """Base class: ``predict`` always; ``train_epoch`` / ``save`` for trainable backends."""

    #: registry id of the method this segmenter runs
    method_id: str = ""
    #: True when ``train_epoch`` is implemented
    trainable: bool = False

    @abc.abstractmethod
    def predict(self, image: Image) -> Prediction:
        """Segment one image → :class:`Prediction` of the image's (H, W)."""

    def predict_batch(self, images: Sequence[Image]) -> list[Prediction]:
        """Segment several images (tiled windows) → one :class:`Prediction` each, in order.

        Backends whose package batches images on the device override this; the default runs
        :meth:`predict` on each image in turn.
        """
        return [self.predict(image) for image in images]

    def train_epoch(self, samples: Sequence[Sample], settings: FitSettings) -> float:
        """Train one epoch over ``samples``; return the mean training loss."""
        raise NotImplementedError(f"{type(self).__name__} cannot be trained")

    def save(self, folder: str | Path) -> None:
        """Write the weights (``model.safetensors``) and whatever config the backend needs into ``folder``."""
        raise NotImplementedError(f"{type(self).__name__} has no weights to save")
