"""The Segmenter interface every backend implements.

A segmenter takes an :class:`seggal.image.Image` ((H, W, C) float32 + channel spec) and returns a
:class:`Prediction`: an (H, W) int32 label image (0 = background, instances 1..n) and one score per
instance. It can be built from scratch or loaded from a checkpoint folder, and exposes what
``training/`` needs: one epoch of training at a time and saving to a folder.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.image import Image


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

    def train_epoch(self, samples: Sequence[Sample], settings: FitSettings) -> float:
        """Train one epoch over ``samples``; return the mean training loss."""
        raise NotImplementedError(f"{type(self).__name__} cannot be trained")

    def save(self, folder: str | Path) -> None:
        """Write the weights (``model.safetensors``) and whatever config the backend needs into ``folder``."""
        raise NotImplementedError(f"{type(self).__name__} has no weights to save")
