"""The Segmenter interface every backend implements.

A segmenter takes an :class:`seggal.image.Image` ((H, W, C) float32 + channel spec) and returns a
:class:`Prediction`: an (H, W) int32 label image (0 = background, instances 1..n) and one score per
instance. It can be built from scratch or loaded from a checkpoint folder, and exposes what
``training/`` needs: one epoch of training at a time, its optimiser and saving to a folder. Every
segmenter carries the :class:`~seggal.preprocess.Preprocessing` its weights were trained with.

Data-parallel training (``torchrun``, see ``training/train.py``): the torch backends train through
:func:`data_parallel`, which wraps their network for per-step gradient all-reduce when the process is one
of several ranks, and pool per-dataset statistics over the ranks with :func:`mean_over_ranks`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import Image, Sample
from seggal.preprocess import DEFAULT, NETWORK_ORDER, Preprocessing


def network_input(image: Image, preprocessing: Preprocessing = DEFAULT) -> np.ndarray:
    """What every network sees: (H, W, 2) float32, channel 0 nuclear, channel 1 membrane.

    Each present channel is normalised with ``preprocessing`` (:meth:`seggal.preprocess.Preprocessing.apply`:
    percentiles, then CLAHE, a method's second normalisation and integer levels when it says so; pass the
    segmenter's :attr:`Segmenter.preprocessing`), into [0, 1] unless an unclipped second normalisation
    leaves it; an absent channel is zeros, so one network shape serves all three input kinds.
    """
    out = np.zeros((*image.shape, 2), np.float32)
    for slot, index in enumerate((image.channels.nuclear, image.channels.membrane)):
        if index is not None:
            out[:, :, slot] = preprocessing.apply(image.pixels[:, :, index])
    return out


def arrange(x: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """:func:`network_input`'s (H, W, 2) ``x`` (nuclear, membrane) → (H, W, len(order)) float32 whose
    channels are named by ``order`` (``nuclear``, ``membrane`` or ``zeros``; a record's ``channel_order``)."""
    planes = {"nuclear": x[:, :, 0], "membrane": x[:, :, 1], "zeros": np.zeros(x.shape[:2], np.float32)}
    return np.stack([planes[name] for name in order], -1)


def check_preprocessing(segmenter: "Segmenter", record: Preprocessing, where: str) -> None:
    """:class:`SegGalError` naming ``where`` unless ``segmenter``'s backend applies every step of ``record``:
    ``channel_order`` / ``diameter`` only where the backend honours them (:attr:`Segmenter.honours`; a
    backend that does not takes ``channel_order`` (nuclear, membrane) only, its network's own layout)."""
    if record.channel_order is not None and "channel_order" not in segmenter.honours \
            and record.channel_order != NETWORK_ORDER:
        raise SegGalError(f"{where}: {segmenter.method_id}'s network takes its channels as {list(NETWORK_ORDER)}, "
                          f"not {list(record.channel_order)}")
    if record.diameter is not None and "diameter" not in segmenter.honours:
        raise SegGalError(f"{where}: a cell diameter ({record.diameter:g}) is a Cellpose setting; "
                          f"{segmenter.method_id} cannot apply it")


def paint(masks: Sequence[np.ndarray] | np.ndarray, scores: Sequence[float] | np.ndarray,
          shape: tuple[int, int]) -> Prediction:
    """Instance masks (N of (H, W) bool) + their scores (N,) → one :class:`Prediction` of ``shape``.

    Masks are painted in ascending score order (stable), so where they overlap the higher score wins;
    a mask left with no pixel is dropped; labels are numbered 1..n in painting order and
    ``scores[i]`` belongs to label ``i + 1``.
    """
    scores = np.asarray(scores, np.float32).reshape(-1)
    if len(masks) != len(scores):
        raise SegGalError(f"paint: {len(masks)} masks but {len(scores)} scores")
    labels = np.zeros(shape, np.int32)
    order = np.argsort(scores, kind="stable")
    for rank, index in enumerate(order, start=1):
        labels[np.asarray(masks[index], bool)] = rank
    present = np.zeros(len(order) + 1, bool)
    present[np.unique(labels)] = True
    present[0] = False
    kept = np.flatnonzero(present)  # painting ranks still visible
    relabel = np.zeros(len(order) + 1, np.int32)
    relabel[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    return Prediction(relabel[labels], scores[order[kept - 1]])


def world_size() -> int:
    """The number of data-parallel ranks: torch.distributed's world size when a process group is
    initialised (``training.train`` under ``torchrun``), else 1."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def data_parallel(module, wrapper=None, **options):
    """``module`` ready for per-step data-parallel training.

    With several ranks (:func:`world_size` > 1) it is wrapped in ``wrapper`` (default
    ``torch.nn.parallel.DistributedDataParallel``; MMDetection passes mmengine's
    ``MMDistributedDataParallel``, whose ``train_step`` runs the forward through it) with ``options``:
    every backward pass through the wrapper then averages the gradients over the ranks (all-reduce), so
    identical optimiser steps keep the ranks' parameters identical. Building it broadcasts rank 0's
    parameters and buffers — a collective, so every rank must build it — and on CUDA binds it to the
    module's device (one GPU per rank, nccl); on the CPU the process group is gloo. With one process
    ``module`` itself is returned. Build it once per network and reuse it.
    """
    if world_size() == 1:
        return module
    if wrapper is None:
        from torch.nn.parallel import DistributedDataParallel as wrapper
    device = next(module.parameters()).device
    if device.type == "cuda":
        options = {"device_ids": [device.index], **options}
    return wrapper(module, **options)


def mean_over_ranks(values: np.ndarray) -> float:
    """The mean of ``values`` (1-D) pooled over every rank's ``values`` (an all-reduce of their sum and
    count in float64); with one process ``float(values.mean())``."""
    values = np.asarray(values, np.float64)
    if world_size() == 1:
        return float(values.mean())
    import torch
    import torch.distributed as dist

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    pooled = torch.tensor([values.sum(), values.size], dtype=torch.float64, device=device)
    dist.all_reduce(pooled)
    return float(pooled[0] / pooled[1])


@dataclass
class Prediction:
    """``labels`` (H, W) int32, 0 = background, 1..n; ``scores`` (n,) float32, score of label i + 1."""

    labels: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class FitSettings:
    """Per-epoch training settings (defaults come from the method registry's paper settings).

    ``batch_size`` is this process's: under data-parallel training each of the W ranks takes
    ``batch_size`` images per step (``training.train`` passes ceil(B / W) for a global batch B).
    """

    batch_size: int = 8
    learning_rate: float | None = None
    device: str = "cpu"
    max_iters: int | None = None  # cap on optimiser steps per epoch (CPU smoke runs)
    seed: int = 0


class Segmenter(abc.ABC):
    """Base class: ``predict`` always; ``train_epoch`` / ``save`` for trainable backends."""

    #: registry id of the method this segmenter runs
    method_id: str = ""
    #: Capabilities, declared by each backend (callers read these, never ``hasattr``):
    #: ``train_epoch`` is implemented
    trainable: bool = False
    #: ``calibrate(samples)`` tunes the backend's thresholds on annotated samples
    calibratable: bool = False
    #: :attr:`Prediction.scores` are the model's confidences (else every instance scores 1.0)
    gives_scores: bool = False
    #: the network is a torch module (data-parallel training, torch optimiser state)
    uses_torch: bool = False
    #: how inputs are normalised and tiled (:func:`network_input`, :func:`seggal.tiling.segment_image`);
    #: :func:`seggal.backends.build` sets it from a checkpoint's ``config.json``
    preprocessing: Preprocessing = DEFAULT
    #: the backend-specific steps of a preprocessing record this backend applies (``channel_order``,
    #: ``diameter``; :func:`check_preprocessing`)
    honours: frozenset[str] = frozenset()
    #: the ``torch.optim.Optimizer`` that ``train_epoch`` steps, once :meth:`prepare_training` has built
    #: it (``training/`` saves and restores its state); ``None`` for backends that keep no torch optimiser
    optimizer = None

    @abc.abstractmethod
    def predict(self, image: Image) -> Prediction:
        """Segment one image → :class:`Prediction` of the image's (H, W)."""

    def predict_batch(self, images: Sequence[Image]) -> list[Prediction]:
        """Segment several images (tiled windows) → one :class:`Prediction` each, in order.

        Backends whose package batches images on the device override this; the default runs
        :meth:`predict` on each image in turn.
        """
        return [self.predict(image) for image in images]

    def prepare_training(self, settings: FitSettings) -> None:
        """Build what training with ``settings`` keeps between epochs — the optimiser (:attr:`optimizer`),
        learning-rate schedules, the :func:`data_parallel` wrapper — so that a resumed run can restore
        their state before the first epoch. Idempotent: :meth:`train_epoch` calls it too. No-op by default."""

    def train_epoch(self, samples: Sequence[Sample], settings: FitSettings) -> float:
        """Train one epoch over ``samples``; return the mean training loss."""
        raise NotImplementedError(f"{type(self).__name__} cannot be trained")

    def calibrate(self, samples: Sequence[Sample]) -> dict[str, float]:
        """Tune the decision thresholds on annotated ``samples`` → the thresholds (when :attr:`calibratable`)."""
        raise NotImplementedError(f"{type(self).__name__} has no thresholds to calibrate")

    def save(self, folder: str | Path) -> None:
        """Write the weights (``model.safetensors``) and whatever config the backend needs into ``folder``."""
        raise NotImplementedError(f"{type(self).__name__} has no weights to save")
