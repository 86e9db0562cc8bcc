"""The Segmenter interface every backend implements.

A segmenter takes an :class:`seggal.image.Image` ((H, W, C) float32 + channel spec) and returns a
:class:`Prediction`: an (H, W) int32 label image (0 = background, instances 1..n) and one score per
instance. It can be built from scratch or loaded from a checkpoint folder, and exposes what
``training/`` needs: one epoch of training at a time, its optimiser and saving to a folder.

Data-parallel training (``torchrun``, see ``training/train.py``): the torch backends train through
:func:`data_parallel`, which wraps their network for per-step gradient all-reduce when the process is one
of several ranks, and pool per-dataset statistics over the ranks with :func:`mean_over_ranks`.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import Image, Sample
from seggal.preprocess import percentile_normalize

#: The files every backend's checkpoint folder holds (seggal.hub adds config.json and README.md).
WEIGHTS_FILE = "model.safetensors"
BACKEND_FILE = "backend.json"


def network_input(image: Image) -> np.ndarray:
    """What every network sees: (H, W, 2) float32 in [0, 1], channel 0 nuclear, channel 1 membrane.

    Each present channel is percentile-normalised (:func:`seggal.preprocess.percentile_normalize`,
    0.1 / 99.9); an absent channel is zeros, so one network shape serves all three input kinds.
    """
    out = np.zeros((*image.shape, 2), np.float32)
    for slot, index in enumerate((image.channels.nuclear, image.channels.membrane)):
        if index is not None:
            out[:, :, slot] = percentile_normalize(image.pixels[:, :, index])
    return out


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

    def save(self, folder: str | Path) -> None:
        """Write the weights (``model.safetensors``) and whatever config the backend needs into ``folder``."""
        raise NotImplementedError(f"{type(self).__name__} has no weights to save")
