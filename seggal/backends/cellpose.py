"""Cellpose (cellpose 3.1): its residual U-Net, flow fields and mask reconstruction, trained from scratch
or loaded from a SegGal checkpoint or Cellpose's published weights (``cyto3``, ``nuclei`` …).

Input: the two-channel layout Cellpose itself uses (``nchan=2``): channel 0 the channel to segment
(membrane when there is one, else nuclear), channel 1 the nuclear channel when a membrane channel is
the first (else zeros). A checkpoint whose preprocessing record names a ``channel_order`` (a model
imported from the paper: its ``Cellpose_BM`` script fed (nuclear, membrane) with ``--all_channels``) gets
its channels in that order, passed whole (``channels=None``), and a recorded ``diameter`` is handed to
``eval`` (Cellpose rescales by ``diam_mean / diameter``). Prediction is ``CellposeModel.eval``; scores are
each mask's mean cell probability.

Training (:meth:`CellposeSegmenter.train_epoch`) drives the network with Cellpose's own pieces —
``dynamics.labels_to_flows`` (cached per label image), ``transforms.random_rotate_and_resize`` with the
cell-diameter rescaling of ``train.train_seg``, and ``train._loss_fn_seg`` — in SegGal's loop, because
``train_seg`` builds a new optimiser per call and its learning-rate schedule starts at 0 (one call per
epoch would never learn). The optimiser is Cellpose 1.0's (the paper's version): SGD, momentum 0.9,
weight decay 1e-5, learning rate 0.2 warmed up linearly over the first 10 epochs as ``train_seg`` does.
The last-epochs decay of ``train_seg`` needs the total epoch count, which one epoch at a time does not
know: it is left out. Under data-parallel training (``torchrun``) the forward pass runs through
:func:`seggal.backends.base.data_parallel` (gradients averaged over the ranks every step) and the
training cells' mean diameter is pooled over the ranks' shards.

Published weights download from Cellpose's site into its model folder (``CELLPOSE_LOCAL_MODELS_PATH``,
default ``~/.cellpose/models``) on first use; offline, a missing file is a clear :class:`SegGalError`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.backends.base import (FitSettings, Prediction, Sample, Segmenter, arrange, data_parallel,
                                  mean_over_ranks, network_input)
from seggal.checkpoint import WEIGHTS_FILE, load_weights, read_backend_meta, save_torch_weights, write_backend_meta
from seggal.backends.device import autocast, pick_device
from seggal.errors import SegGalError
from seggal.image import Image
from seggal.methods import Method, get_method

MODEL_URL = "https://www.cellpose.org/models"
#: Cellpose's published models SegGal offers, and their file names in Cellpose's model folder.
PRETRAINED = {"cyto3": "cyto3", "nuclei": "nucleitorch_0", "cyto2": "cyto2torch_0", "cyto": "cytotorch_0"}
DIAM_MEAN = {"nuclei": 17.0}  # Cellpose's built-in mean diameters; 30 otherwise
WARMUP_EPOCHS = 10
DOWNLOAD_TIMEOUT_S = 30
NEEDS_WEIGHTS = True
#: backend.json: {"backend": "cellpose", "nchan", "diam_mean", "nuclear_only", "cellpose_normalize", "epochs_done"}
BACKEND_SCHEMA = {
    "type": "object",
    "required": ["backend", "diam_mean", "nuclear_only", "cellpose_normalize"],
    "properties": {
        "backend": {"const": "cellpose"},
        "nchan": {"const": 2},
        "diam_mean": {"type": "number", "exclusiveMinimum": 0},
        "nuclear_only": {"type": "boolean"},
        "cellpose_normalize": {"type": "boolean"},
        "epochs_done": {"type": "integer", "minimum": 0},
    },
}


def model_dir() -> Path:
    """Cellpose's model folder, by Cellpose's own rule (``CELLPOSE_LOCAL_MODELS_PATH`` or ~/.cellpose/models)."""
    env = os.environ.get("CELLPOSE_LOCAL_MODELS_PATH")
    return Path(env) if env else Path.home() / ".cellpose" / "models"


def pretrained(target: str | None = None) -> tuple[str, bool]:
    """(name, on disk) of the published model for ``target``: ``nuclei`` for nuclei, else ``cyto3``;
    downloaded on first use when not on disk."""
    name = "nuclei" if target == "nuclei" else "cyto3"
    return name, (model_dir() / PRETRAINED[name]).is_file()


class CellposeSegmenter(Segmenter):
    """A ``cellpose.models.CellposeModel`` behind SegGal's interface (module docstring)."""

    trainable = True
    gives_scores = True
    uses_torch = True
    honours = frozenset({"channel_order", "diameter"})

    def __init__(self, model, device: str, method_id: str = "cellpose", nuclear_only: bool = False,
                 cellpose_normalize: bool = False):
        self.model = model
        self.net = model.net
        self.device = device
        self.method_id = method_id
        #: the published nuclei model sees only the nuclear channel
        self.nuclear_only = nuclear_only
        #: published weights expect Cellpose's own 1/99-percentile normalisation
        self.cellpose_normalize = cellpose_normalize
        #: side of the square training crops (Cellpose's ``bsize``, 224; a multiple of 16)
        self.patch = 224
        #: created here so that a resumed run can restore its state before the first epoch
        self.optimizer = _optimizer(self.net)
        self.epochs_done = 0
        self._train_net = None  # self.net, or its data-parallel wrapper (prepare_training)
        self._flows: dict[str, tuple[np.ndarray, float]] = {}  # label-image hash → (flows, diameter)

    def cellpose_input(self, image: Image) -> np.ndarray:
        """(H, W, 2) float32 in Cellpose's channel order (module docstring), or in the order the
        preprocessing record's ``channel_order`` names (an imported model, as its paper script fed it)."""
        x = network_input(image, self.preprocessing)  # [nuclear, membrane]
        if self.preprocessing.channel_order is not None:
            return arrange(x, self.preprocessing.channel_order)
        nuclear, membrane = x[:, :, 0], x[:, :, 1]
        if self.nuclear_only or image.channels.membrane is None:
            return np.stack([nuclear if image.channels.nuclear is not None else membrane, np.zeros_like(nuclear)], -1)
        return np.stack([membrane, nuclear if image.channels.nuclear is not None else np.zeros_like(nuclear)], -1)

    def run(self, image: Image) -> tuple[np.ndarray, list]:
        """Cellpose's own ``eval`` outputs for ``image``: (masks (H, W), flows [RGB flow, dP, cell probability, …])."""
        import torch

        x = self.cellpose_input(image)
        if self.preprocessing.channel_order is not None:
            channels = None  # the record's channels as they are (the paper's --all_channels)
        else:
            channels = [1, 2] if x[:, :, 1].any() else [1, 0]  # [1, 0]: Cellpose zero-fills the second channel itself
        with torch.inference_mode():  # no autocast: Cellpose converts the network output to numpy (no bf16)
            masks, flows, _ = self.model.eval(x, channels=channels, channel_axis=2, normalize=self.cellpose_normalize,
                                              diameter=self.preprocessing.diameter, progress=None)
        return masks, flows

    def predict(self, image: Image) -> Prediction:
        masks, flows = self.run(image)
        labels = np.asarray(masks, np.int32)
        return Prediction(labels, _mean_probability(labels, flows[2]))

    # ------------------------------------------------------------------------------------- training

    def _prepared(self, sample: Sample) -> tuple[np.ndarray, np.ndarray, float]:
        """(image (2, H, W), flows (3, H, W) [cell probability, Y flow, X flow], diameter) for one sample."""
        from cellpose import dynamics, utils

        labels = np.ascontiguousarray(sample.labels, np.int32)
        key = hashlib.sha1(labels.tobytes() + str(labels.shape).encode()).hexdigest()
        if key not in self._flows:
            flows = dynamics.labels_to_flows([labels], device=self.model.device)[0]
            diameter = max(5.0, float(utils.diameters(labels)[0]))  # train_seg's floor of 5 px
            self._flows[key] = (flows[1:].astype(np.float16), diameter)  # cached at half the memory
        flows, diameter = self._flows[key]
        image = np.moveaxis(self.cellpose_input(sample.image), -1, 0)
        return image, flows.astype(np.float32), diameter

    def prepare_training(self, settings: FitSettings) -> None:
        """Wrap the network for data-parallel training once (the optimiser exists from construction)."""
        if self._train_net is None:
            self._train_net = data_parallel(self.net)

    def train_epoch(self, samples: Sequence[Sample], settings: FitSettings) -> float:
        """One pass over ``samples`` in batches of ``settings.batch_size`` (at most ``max_iters`` steps) → mean loss."""
        import torch
        from cellpose import transforms
        from cellpose.train import _loss_fn_seg

        if not samples:
            raise SegGalError("cellpose: no training samples")
        self.prepare_training(settings)
        data = [self._prepared(s) for s in samples]
        diameters = np.array([d for _, _, d in data])
        diam_mean = float(self.net.diam_mean.item())
        diam_labels = mean_over_ranks(diameters)  # every rank's shard: the ranks keep identical parameters
        self.net.diam_labels.data = torch.tensor([diam_labels], dtype=torch.float32, device=self.model.device)
        self.model.diam_labels = diam_labels
        lr = settings.learning_rate or get_method(self.method_id).paper.learning_rate or 0.2
        lr *= min(1.0, (self.epochs_done + 1) / WARMUP_EPOCHS)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng(settings.seed)
        order = rng.permutation(len(data))
        batches = [order[i:i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
        batches = batches[: settings.max_iters] if settings.max_iters else batches
        np.random.seed(settings.seed % 2**32)  # Cellpose's augmentation draws from numpy's global generator
        self.net.train()
        losses = []
        try:
            for batch in batches:
                images, flows = [data[i][0] for i in batch], [data[i][1] for i in batch]
                imgi, lbl = transforms.random_rotate_and_resize(images, Y=flows, rescale=diameters[batch] / diam_mean,
                                                                scale_range=0.5, xy=(self.patch, self.patch))[:2]
                with autocast(self.device):
                    y = self._train_net(torch.from_numpy(imgi).to(self.model.device))[0]
                    loss = _loss_fn_seg(lbl, y.float(), self.model.device)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        finally:
            self.net.eval()
        self.epochs_done += 1
        return float(np.mean(losses))

    def save(self, folder: str | Path) -> None:
        folder = save_torch_weights(folder, self.net)
        meta = {"backend": "cellpose", "nchan": self.model.nchan, "diam_mean": float(self.net.diam_mean.item()),
                "nuclear_only": self.nuclear_only, "cellpose_normalize": self.cellpose_normalize,
                "epochs_done": self.epochs_done}
        write_backend_meta(folder, meta)


def _optimizer(net):
    """Cellpose 1.0's optimiser: SGD, momentum 0.9, weight decay 1e-5 (the rate is set per epoch)."""
    import torch

    return torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-5)


def _mean_probability(labels: np.ndarray, cellprob: np.ndarray) -> np.ndarray:
    """Mean sigmoid(cell probability) inside each mask → (n,) float32."""
    from scipy import ndimage as ndi

    n = int(labels.max())
    if n == 0:
        return np.zeros(0, np.float32)
    prob = 1.0 / (1.0 + np.exp(-np.asarray(cellprob, np.float32).reshape(labels.shape)))
    return np.asarray(ndi.mean(prob, labels, np.arange(1, n + 1)), np.float32)


def _model(device: str, diam_mean: float = 30.0):
    """An untrained two-channel CellposeModel on ``device`` (never downloads).

    MKL-DNN is off: Cellpose's ``run_net`` converts the network's modules to MKL-DNN in place, after
    which it can no longer be trained (and the state dict changes type).
    """
    import torch
    from cellpose.models import CellposeModel

    return CellposeModel(gpu=device.startswith("cuda"), device=torch.device(device), pretrained_model=False,
                         model_type=None, nchan=2, diam_mean=diam_mean, mkldnn=False)


def _published_file(name: str) -> Path:
    """The file of a published model, downloaded on first use; offline → SegGalError saying how to get it."""
    import socket

    path = model_dir() / PRETRAINED[name]
    if path.is_file():
        return path
    url = f"{MODEL_URL}/{PRETRAINED[name]}"
    how = (f"Cellpose's published {name!r} weights are not in {model_dir()} and could not be downloaded; "
           f"while online, download {url} to {path} (or set CELLPOSE_LOCAL_MODELS_PATH to a folder holding it)")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("SEGGAL_OFFLINE") == "1":
        raise SegGalError(how + " — offline mode is set")
    from cellpose.utils import download_url_to_file

    path.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # Cellpose's downloader sets none: never hang offline
    try:
        download_url_to_file(url, str(path), progress=True)
    except OSError as exc:
        raise SegGalError(f"{how} ({type(exc).__name__}: {exc})") from None
    finally:
        socket.setdefaulttimeout(previous)
    return path


def build(method: Method, checkpoint: Path | str | None, device: str | None, *, target: str | None = None,
          arch: dict | None = None) -> CellposeSegmenter:
    """Untrained (``None``), a SegGal checkpoint folder, or a published model name (``cyto3``, ``nuclei`` …).
    A published file that torch cannot read without unpickling code is refused (:class:`SegGalError`)."""
    if arch:
        raise SegGalError(f"method {method.id}: its cellpose backend takes no architecture options")
    device = pick_device(device)
    if checkpoint is None:
        return CellposeSegmenter(_model(device), device, method.id)
    if isinstance(checkpoint, str) and not Path(checkpoint).exists():
        if checkpoint not in PRETRAINED:
            raise SegGalError(f"cellpose checkpoint {checkpoint!r}: no such folder, and not a published Cellpose "
                              f"model ({', '.join(PRETRAINED)})")
        path = _published_file(checkpoint)
        model = _model(device, DIAM_MEAN.get(checkpoint, 30.0))
        try:
            model.net.load_model(str(path), device=model.device)  # torch.load(weights_only=True) inside
        except Exception as exc:  # noqa: BLE001 — UnpicklingError, EOFError, RuntimeError …: a bad file
            raise SegGalError(f"{path}: not Cellpose's published {checkpoint!r} weights, or not readable without "
                              f"unpickling code ({type(exc).__name__}); delete it to download it again") from None
        model.diam_labels = float(model.net.diam_labels.item())
        return CellposeSegmenter(model, device, method.id, nuclear_only=checkpoint == "nuclei", cellpose_normalize=True)
    return _load_folder(Path(checkpoint), device, method.id)


def _load_folder(folder: Path, device: str, method_id: str) -> CellposeSegmenter:
    meta = read_backend_meta(folder, "cellpose", BACKEND_SCHEMA)
    weights = folder / WEIGHTS_FILE
    state = load_weights(folder, "pt", device)
    model = _model(device, float(meta["diam_mean"]))
    try:
        model.net.load_state_dict(state)
    except RuntimeError as exc:
        raise SegGalError(f"{weights}: weights do not fit Cellpose's network ({exc})") from None
    model.diam_labels = float(model.net.diam_labels.item())
    segmenter = CellposeSegmenter(model, device, method_id, bool(meta["nuclear_only"]), bool(meta["cellpose_normalize"]))
    segmenter.epochs_done = int(meta.get("epochs_done", 0))
    return segmenter
