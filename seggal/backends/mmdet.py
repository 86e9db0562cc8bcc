"""MMDetection backend: the paper's ten MMDetection methods (and ResNeSt) on mmdet 3.3.

Every method starts from the MMDetection 3.3 config its registry entry names (``options["config"]``,
a path inside the installed package's ``.mim/configs``) and is adapted to cells:

* one class ("cell"): every ``num_classes`` becomes 1 (Mask2Former: 1 thing class, 0 stuff classes,
  its class weights ``[1.0, 0.1]`` for cell / no-object; seesaw loss: 1 class);
* C = 2 input channels (SegGal's one network input, :func:`seggal.backends.base.network_input`: nuclear,
  membrane, an absent one zeros) or 1: the data preprocessor normalises every channel alike (mean
  0.5, std 0.25 of the [0, 1] inputs, see :func:`model_input`; one value each, which mmengine
  broadcasts — it accepts only 1 or 3 values) without BGR/RGB swaps or the 1024² padding of
  Mask2Former's training batches, and the backbone's ``in_channels`` is C, so its first convolution
  is created (randomly initialised) for C channels;
* no pretrained weights and no network: every ``Pretrained`` ``init_cfg`` is dropped (the modules' own
  initialisers still run); since everything is trained from scratch, backbones are not frozen
  (``frozen_stages=-1``), their BatchNorms train (``norm_eval=False``, ``requires_grad=True``), SyncBN
  becomes BN (one process, CPU or one GPU) and Swin's ``convert_weights`` is off;
* test-time limits for cell images: up to :data:`MAX_INSTANCES` instances per image (the paper
  evaluated with 3000 detections per image; a 256 x 256 window holds at most a few hundred cells),
  :data:`RPN_PROPOSALS` proposals, score threshold :data:`SCORE_THR`. Mask2Former keeps the config's
  100 queries (it is the architecture the paper trained), so it finds at most 100 cells per window.
  SOLOv2 keeps at most :data:`SOLO_NMS_PRE` candidates before Matrix NMS (its config's value, now
  explicit) and its score / mask thresholds 0.1 / 0.5; with one class its candidates are at most its
  3872 grid cells (80 times fewer than the COCO config's), and random-weight inference finishes.

RF-Next: MMDetection 3.3 ships no RF-Next config, but mmcv 2.1 keeps its receptive-field search
(:class:`mmcv.cnn.RFSearchHook`). ``rf-next`` is Mask R-CNN R50-FPN whose odd-sized convolutions
outside the stem and ``layer1`` are wrapped as searchable multi-dilation ops with the search settings of
MMDetection 2.28's ``configs/rfnext/rfnext_search_*`` files (:data:`RFSEARCH`): after every
:meth:`MMDetSegmenter.train_epoch` one search step re-estimates and re-expands each layer's dilation
rates (``by_epoch=True``, up to ``max_step`` steps). The searched structure is saved in
``backend.json`` so a checkpoint rebuilds the same network. The paper's "global" genetic search stage
is not part of mmcv (only the expectation-guided local search is), so RF-Next here is the local search.

Loading checkpoints trained with the paper's MMDetection 2.28 configs: MMDetection 3.x kept the
state-dict layout of 2.x for the two-stage and SOLO families (mmdet 3.3's own model zoo still serves the
``v2.0`` checkpoints for Mask R-CNN, Swin, MS R-CNN, HRNet, Res2Net, ResNeSt, seesaw Cascade Mask R-CNN
and SOLOv2; a maintainer confirmed "compatibility is fully kept", open-mmlab/mmdetection#9779), so such a
``.pth`` loads once (1) its tensors are read without unpickling code (``torch.load(weights_only=True)``;
mmcv 1.x checkpoints also carry a ``meta`` dict of plain values) and (2) the network is built from the
checkpoint's own architecture: :mod:`seggal.zoo.formats.mmdet2` translates its embedded 2.x config to a
3.3 model config, saved in ``backend.json`` (``model``) and built here instead of the registry config's
model (the paper's Res2Net and HRNet are Cascade Mask R-CNNs, its Mask R-CNN is caffe-style, its seesaw
heads predict with ``NormedLinear`` / ``NormedConv2d``). Mask2Former is the exception: its transformer
modules were refactored for 3.0 (open-mmlab/mmdetection#8763, #9515: ``transformer_decoder.layers.N.attentions.0/1``
→ ``cross_attn`` / ``self_attn``, ``ffns.0`` → ``ffn``, pixel-decoder encoder likewise), the 3.x model zoo
re-released its weights under ``v3.0``, and mmdet 3.3 ships no converter (``tools/model_converters`` has
none for it; mmsegmentation's PR #2532 contains one for the same modules): it runs the registry config
with the keys renamed. RF-Next checkpoints of the paper (``fixed_multi_branch`` mode) additionally need
the searched dilation structure (the ``local_search_config_step*.json`` written during the search), which
they do not contain: given it, the converter stores it as ``rfsearch.structure`` and
:meth:`MMDetSegmenter._wrap_rfsearch` sets each layer's dilation and widens it into branches as mmcv's
``RFSearchHook`` does (a fixed structure is not searched further in training).

Training state: the config's optimiser wrapper and its per-iteration parameter schedulers (warm-up) are
built by :meth:`MMDetSegmenter.prepare_training`; the torch optimiser inside is
:attr:`MMDetSegmenter.optimizer` (``training.train`` saves and restores its state). ``backend.json``
keeps the epochs and optimiser steps done (and the mixed-precision loss scale on CUDA), so a resumed
segmenter draws the same shuffles and fast-forwards its schedulers to where they were. Under
data-parallel training (``torchrun``) the training step runs through mmengine's
``MMDistributedDataParallel`` (gradients averaged over the ranks every step), and the learning rate the
configs scale with the batch size (``auto_scale_lr``) sees the global batch, per-rank batch x ranks.

Devices: the mmcv wheel built by ``scripts/install_mmdet.sh`` has CUDA ops only when nvcc was present
at build time; :func:`build` uses CUDA (with mixed precision) only when both torch and mmcv have it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seggal.backends.base import (FitSettings, Prediction, Sample, Segmenter, data_parallel, network_input, paint,
                                  world_size)
from seggal.checkpoint import WEIGHTS_FILE, load_weights, read_backend_meta, save_torch_weights, write_backend_meta
from seggal.errors import SegGalError
from seggal.image import Image, as_labels
from seggal.methods import Method, get_method
from seggal.preprocess import DEFAULT, Preprocessing

MAX_INSTANCES = 1000  # instances per image at test time (two-stage, SOLOv2)
RPN_PROPOSALS = 2000  # proposals kept by the RPN at test time (>= MAX_INSTANCES)
SCORE_THR = 0.05  # the COCO configs' threshold; the LVIS seesaw config's 1e-4 keeps noise
SOLO_NMS_PRE = 500  # SOLOv2 candidates ranked before Matrix NMS
INPUT_MEAN, INPUT_STD = 0.5, 0.25  # inputs are percentile-normalised to [0, 1]
#: The RF search settings of MMDetection 2.28's configs/rfnext/rfnext_search_* files.
RFSEARCH = {
    "step": 0, "max_step": 12, "search_interval": 1, "exp_rate": 0.5, "init_alphas": 0.01,
    "mmin": 1, "mmax": 24, "num_branches": 2, "skip_layer": ["stem", "layer1"],
}
NEEDS_WEIGHTS = True
_COUNT = {"type": "integer", "minimum": 0}
#: backend.json: what rebuilds the network (method, config, in_channels, RF search state; ``model``, an
#: MMDetection 3.3 model config that replaces the registry config's model, e.g. a converted checkpoint's
#: own architecture) and the training progress (epochs and optimiser steps done, AMP loss scale).
BACKEND_SCHEMA = {
    "type": "object",
    "required": ["backend", "method", "config", "in_channels"],
    "properties": {
        "backend": {"const": "mmdet"},
        "method": {"type": "string"},
        "config": {"type": "string"},
        "in_channels": {"enum": [1, 2]},
        "mmdet_version": {"type": "string"},
        "rfsearch": {"type": ["object", "null"]},
        "normalisation": {"type": ["object", "null"], "required": ["mean", "std"],
                          "properties": {"mean": {"type": "array", "items": {"type": "number"}, "minItems": 1},
                                         "std": {"type": "array", "items": {"type": "number"}, "minItems": 1}}},
        "model": {"type": ["object", "null"], "required": ["type", "backbone"],
                  "properties": {"type": {"type": "string"}, "backbone": {"type": "object"}}},
        "epochs_done": _COUNT,
        "iterations_done": _COUNT,
        "loss_scale": {"type": ["object", "null"]},
    },
}


# ---------------------------------------------------------------------------------------------------
# config adaptation (pure functions on plain dicts)


def config_root() -> Path:
    """The ``.mim/configs`` folder of the installed mmdet package."""
    import mmdet

    return Path(mmdet.__file__).parent / ".mim" / "configs"


def load_config(name: str):
    """The MMDetection config ``name`` (relative to :func:`config_root`) as an ``mmengine.Config``."""
    from mmengine.config import Config

    path = config_root() / name
    if not path.is_file():
        raise SegGalError(f"MMDetection config {name!r} not found under {config_root()}")
    return Config.fromfile(str(path))


def _walk(node: Any) -> Any:
    """Copy of a config tree with the one-class, no-pretrained, single-process edits applied."""
    if isinstance(node, list):
        return [_walk(v) for v in node]
    if isinstance(node, tuple):
        return tuple(_walk(v) for v in node)
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("num_classes", "num_things_classes"):
            value = 1
        elif key == "num_stuff_classes":
            value = 0
        elif key == "class_weight" and isinstance(value, list) and len(value) > 2:
            value = [1.0, value[-1]]  # Mask2Former: cell, then the no-object weight
        elif key == "init_cfg" and isinstance(value, dict) and value.get("type") == "Pretrained":
            value = None
        elif key == "pretrained":
            value = None
        else:
            value = _walk(value)
        out[key] = value
    if out.get("type") == "SyncBN":
        out["type"] = "BN"
    return out


def _adapt_test_cfg(test_cfg: dict) -> dict:
    """Test-time limits for crowded cell images (see the module docstring)."""
    cfg = copy.deepcopy(test_cfg)
    if "rpn" in cfg:
        cfg["rpn"]["nms_pre"] = max(cfg["rpn"].get("nms_pre", 0), RPN_PROPOSALS)
        cfg["rpn"]["max_per_img"] = RPN_PROPOSALS
    if "rcnn" in cfg:
        cfg["rcnn"]["max_per_img"] = MAX_INSTANCES
        cfg["rcnn"]["score_thr"] = SCORE_THR
    if "mask_thr" in cfg:  # SOLOv2
        cfg.update(nms_pre=SOLO_NMS_PRE, max_per_img=MAX_INSTANCES)
    return cfg


def adapt_model_config(model: dict, in_channels: int) -> dict:
    """An MMDetection model config (plain dict) adapted to one cell class and ``in_channels`` inputs."""
    if in_channels not in (1, 2):
        raise SegGalError(f"MMDetection backend: in_channels must be 1 or 2, got {in_channels!r}")
    cfg = _walk(model)
    backbone = cfg["backbone"]
    backbone["in_channels"] = in_channels
    for key, value in (("frozen_stages", -1), ("norm_eval", False), ("convert_weights", False)):
        if key in backbone:
            backbone[key] = value
    if isinstance(backbone.get("norm_cfg"), dict):
        backbone["norm_cfg"]["requires_grad"] = True
    pre = cfg["data_preprocessor"]
    # one value each, broadcast over the C channels: mmengine accepts only 1 or 3 values
    pre.update(mean=[INPUT_MEAN * 255], std=[INPUT_STD * 255], bgr_to_rgb=False, rgb_to_bgr=False,
               batch_augments=None)
    cfg["test_cfg"] = _adapt_test_cfg(cfg.get("test_cfg") or {})
    return cfg


# ---------------------------------------------------------------------------------------------------
# images and labels → mmdet inputs


def model_input(image: Image, in_channels: int, preprocessing: Preprocessing = DEFAULT) -> np.ndarray:
    """The (H, W, ``in_channels``) float32 array in [0, 255] a model sees.

    Two-channel models see :func:`seggal.backends.base.network_input` (nuclear, membrane; each percentile-
    normalised to [0, 1]; an absent channel zeros), scaled to the [0, 255] range the configs' data
    preprocessors expect. One-channel models see the image's one channel, normalised the same way.
    """
    pixels = network_input(image, preprocessing)
    present = [slot for slot, index in enumerate((image.channels.nuclear, image.channels.membrane))
               if index is not None]
    if in_channels == 1:
        if len(present) != 1:
            raise SegGalError(f"image {image.name}: the model takes 1 channel but the channel spec gives "
                              f"{len(present)} (nuclear and membrane)")
        pixels = pixels[:, :, present]
    return np.ascontiguousarray(pixels * 255.0)


def _data_sample(height: int, width: int, labels: np.ndarray | None = None):
    """A ``DetDataSample`` for an (H, W) image; with ``labels`` its one-class ground-truth instances."""
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    from scipy.ndimage import find_objects

    sample = DetDataSample(metainfo={"img_shape": (height, width), "ori_shape": (height, width),
                                     "scale_factor": (1.0, 1.0)})
    if labels is not None:
        ids = np.unique(labels)
        ids = ids[ids > 0]
        slices = find_objects(labels)
        boxes = np.array([[slices[i - 1][1].start, slices[i - 1][0].start, slices[i - 1][1].stop,
                           slices[i - 1][0].stop] for i in ids], np.float32).reshape(-1, 4)
        masks = (labels[None] == ids[:, None, None]).astype(np.uint8)
        sample.gt_instances = InstanceData(
            bboxes=torch.from_numpy(boxes), labels=torch.zeros(len(ids), dtype=torch.long),
            masks=BitmapMasks(masks, height, width))
    return sample


# ---------------------------------------------------------------------------------------------------
# the segmenter


def _device(requested: str | None) -> str:
    """:func:`seggal.backends.device.pick_device`, but the CPU when mmcv has no CUDA ops and nothing
    was asked; asking for CUDA then raises."""
    from mmcv.ops import get_compiling_cuda_version

    from seggal.backends.device import pick_device

    device = pick_device(requested)
    if device.startswith("cuda") and get_compiling_cuda_version() == "not available":
        if requested in (None, "", "auto"):
            return "cpu"
        raise SegGalError(
            "MMDetection backend: this mmcv was built without CUDA ops (no nvcc at build time); "
            "use device 'cpu' or rebuild mmcv with scripts/install_mmdet.sh where nvcc is installed"
        )
    return device


class MMDetSegmenter(Segmenter):
    """One MMDetection detector adapted to cells (see the module docstring)."""

    trainable = True
    gives_scores = True
    uses_torch = True
    #: apply the config's per-iteration learning-rate schedules (warm-up over its first 500-1000
    #: iterations; Mask2Former's step decay); set False for runs of a few steps
    iteration_schedules = True

    def __init__(self, method: Method, in_channels: int, device: str, rf_state: dict | None = None,
                 normalisation: dict | None = None, model: dict | None = None):
        import torch
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        from mmengine.config import ConfigDict
        from mmengine.logging import MMLogger

        MMLogger.get_instance("seggal-mmdet", log_level="WARNING")  # quiet mmengine's INFO lines
        register_all_modules(init_default_scope=True)
        self.method_id = method.id
        self.config_name = method.options["config"]
        self.in_channels = in_channels
        self.device = device
        self.config = load_config(self.config_name)
        #: an MMDetection 3.3 model config (plain dict, before :func:`adapt_model_config`) built instead of the
        #: registry config's model: a converted checkpoint's own architecture (seggal.zoo.formats.mmdet2)
        self.model_config = copy.deepcopy(model)
        model_cfg = adapt_model_config(model if model is not None else self.config.model.to_dict(), in_channels)
        #: {"mean": [m], "std": [s]} on the [0, 255] input scale replacing INPUT_MEAN / INPUT_STD: the
        #: normalisation a converted checkpoint was trained with (seggal.zoo.formats.mmdet2)
        self.normalisation = normalisation
        if normalisation:
            model_cfg["data_preprocessor"].update(mean=list(normalisation["mean"]), std=list(normalisation["std"]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = MODELS.build(ConfigDict(model_cfg))
            self.model.init_weights()
        self.rf_hook = None
        if method.options.get("rfsearch"):
            self._wrap_rfsearch(rf_state)
        self.model.to(device)
        self._optim = None
        self._optim_key: tuple | None = None
        self._schedulers: list = []
        self._train_model = None  # self.model, or its data-parallel wrapper (prepare_training)
        #: epochs and optimiser steps trained (saved, so that a resumed run continues their sequences)
        self.epochs_done = 0
        self.iterations_done = 0
        #: the AMP loss scaler's state (GradScaler.state_dict) to restore when the optimiser is built
        self.loss_scale: dict | None = None

    # -- RF-Next -------------------------------------------------------------------------------------

    def _wrap_rfsearch(self, rf_state: dict | None) -> None:
        """Wrap the searchable convolutions; restore a saved search state (rates per layer, step, mode), or
        set a searched ``structure`` ({layer: dilation}, RF-Next's ``fixed_multi_branch`` mode: each layer
        set to its searched dilation, then widened to the branches around it, whose mixing weights the
        checkpoint holds)."""
        from mmcv.cnn import RFSearchHook
        from mmcv.cnn.rfsearch.operator import BaseConvRFSearchOp

        rf_state = rf_state or {}
        search = dict(RFSEARCH, step=rf_state.get("step", 0))
        mode = "fixed_multi_branch" if "structure" in rf_state else rf_state.get("mode", "search")
        self.rf_hook = RFSearchHook(mode=mode, config={"search": search}, by_epoch=True, verbose=False)
        if "structure" in rf_state:  # mmcv names the layers from the DDP wrapper down: "module.<name>"
            self.rf_hook.config["structure"] = {"module." + k.removeprefix("module."): v
                                                for k, v in rf_state["structure"].items()}
            try:
                self.rf_hook.init_model(self.model)
            except KeyError as exc:
                raise SegGalError(f"RF-Next structure: no searched dilation for layer {exc.args[0]}") from None
            return
        self.rf_hook.wrap_model(self.model)  # search mode's init_model without a structure; then the saved rates
        if "layers" in rf_state:
            ops = {n: m for n, m in self.model.named_modules() if isinstance(m, BaseConvRFSearchOp)}
            if set(ops) != set(rf_state["layers"]):
                raise SegGalError("RF-Next checkpoint: its searched layers do not match this network")
            for name, op in ops.items():
                saved = rf_state["layers"][name]
                op.op_layer.dilation = tuple(saved["dilation"])
                op.op_layer.padding = op.get_padding(op.op_layer.dilation)
                op.dilation_rates = [tuple(r) for r in saved["rates"]]

    def _rf_state(self) -> dict | None:
        from mmcv.cnn.rfsearch.operator import BaseConvRFSearchOp

        if self.rf_hook is None:
            return None
        layers = {n: {"dilation": list(m.op_layer.dilation), "rates": [list(r) for r in m.dilation_rates]}
                  for n, m in self.model.named_modules() if isinstance(m, BaseConvRFSearchOp)}
        return {"step": self.rf_hook.config["search"]["step"], "mode": self.rf_hook.mode, "layers": layers}

    # -- inference -----------------------------------------------------------------------------------

    def _tensor(self, pixels: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))

    def predict(self, image: Image) -> Prediction:
        """Segment ``image`` → :class:`Prediction` of its (H, W) (labels int32, scores float32)."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[Image]) -> list[Prediction]:
        """Segment several images in one forward pass (one batch on the device) → a Prediction each."""
        import torch

        pixels = [model_input(image, self.in_channels, self.preprocessing) for image in images]
        data = {"inputs": [self._tensor(p) for p in pixels], "data_samples": [_data_sample(*p.shape[:2]) for p in pixels]}
        self.model.eval()
        # float16, as mmengine's AmpOptimWrapper trains: mmcv's CUDA ops have no bfloat16 kernels
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=self.device.startswith("cuda")):
            results = self.model.test_step(data)
        out = []
        for p, result in zip(pixels, results):
            found = result.pred_instances
            masks = found.masks.cpu().numpy().astype(bool).reshape(-1, *p.shape[:2])
            out.append(paint(masks, found.scores.float().cpu().numpy(), p.shape[:2]))
        return out

    # -- training ------------------------------------------------------------------------------------

    def _learning_rate(self, settings: FitSettings) -> float:
        """The settings' rate, else the config's scaled linearly from its base batch to the global batch
        (``settings.batch_size`` x ranks; mmdet's auto_scale_lr)."""
        if settings.learning_rate is not None:
            return float(settings.learning_rate)
        base = (self.config.get("auto_scale_lr") or {}).get("base_batch_size", 16)
        return float(self.config.optim_wrapper.optimizer.lr) * settings.batch_size * world_size() / base

    @property
    def optimizer(self):
        """The ``torch.optim.Optimizer`` inside the optimiser wrapper (``None`` before :meth:`prepare_training`)."""
        return None if self._optim is None else self._optim.optimizer

    def prepare_training(self, settings: FitSettings) -> None:
        """Build the config's optimiser wrapper (paramwise settings, gradient clipping; AMP on CUDA) and
        its per-iteration schedulers (warm-up) for the settings' learning rate — once per rate — with the
        schedulers fast-forwarded over the :attr:`iterations_done` steps already trained and the saved
        loss scale restored; and the data-parallel wrapper of the model, once."""
        import warnings

        from mmengine.model import MMDistributedDataParallel
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import PARAM_SCHEDULERS

        if self._train_model is None:
            self._train_model = data_parallel(self.model, MMDistributedDataParallel,
                                              find_unused_parameters=self.config.get("find_unused_parameters", False))
        amp = self.device.startswith("cuda")
        key = (self._learning_rate(settings), amp)
        if self._optim_key == key:
            return
        cfg = copy.deepcopy(self.config.optim_wrapper.to_dict())
        cfg["type"] = "AmpOptimWrapper" if amp else "OptimWrapper"
        if not amp:
            cfg.pop("loss_scale", None)
        cfg["optimizer"]["lr"] = key[0]
        self._optim = build_optim_wrapper(self.model, cfg)
        if amp and self.loss_scale:
            self._optim.loss_scaler.load_state_dict(self.loss_scale)
        schedulers = self.config.get("param_scheduler") or []
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        self._schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=self._optim))
                            for s in schedulers if self.iteration_schedules and not s.get("by_epoch", True)]
        with warnings.catch_warnings():  # mmengine warns of scheduler steps without optimiser steps: intended
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(self.iterations_done):
                for scheduler in self._schedulers:
                    scheduler.step()
        self._optim_key = key

    def _batch(self, samples: Sequence[Sample], flips: np.ndarray) -> dict:
        inputs, data_samples = [], []
        for sample, flip in zip(samples, flips):
            pixels = model_input(sample.image, self.in_channels, self.preprocessing)
            labels = as_labels(sample.labels, f"training labels of {sample.image.name or 'an image'}")
            if labels.shape != pixels.shape[:2]:
                raise SegGalError(f"training sample {sample.image.name or ''}: labels {labels.shape} "
                                  f"do not match the image {pixels.shape[:2]}")
            if flip:  # the configs' RandomFlip(prob=0.5), horizontal
                pixels, labels = pixels[:, ::-1], np.ascontiguousarray(labels[:, ::-1])
            inputs.append(self._tensor(pixels))
            data_samples.append(_data_sample(*labels.shape, labels=labels))
        return {"inputs": inputs, "data_samples": data_samples}

    def train_epoch(self, samples: Sequence[Sample], settings: FitSettings) -> float:
        """One pass over ``samples`` in shuffled batches of ``settings.batch_size`` (at most
        ``settings.max_iters`` optimiser steps); returns the mean total loss. RF-Next then takes one
        receptive-field search step."""
        import torch

        if not samples:
            raise SegGalError("MMDetection training: no training samples")
        self.prepare_training(settings)
        batch_size = max(1, min(settings.batch_size, len(samples)))
        rng = np.random.default_rng([settings.seed, self.epochs_done])
        torch.manual_seed(settings.seed * 100_003 + self.epochs_done)
        order = rng.permutation(len(samples))
        flips = rng.random(len(samples)) < 0.5
        starts = range(0, len(order), batch_size)
        if settings.max_iters is not None:
            starts = list(starts)[: settings.max_iters]
        self.model.train()
        losses = []
        for start in starts:
            index = order[start : start + batch_size]
            data = self._batch([samples[i] for i in index], flips[index])
            log = self._train_model.train_step(data, self._optim)
            self.iterations_done += 1
            for scheduler in self._schedulers:
                scheduler.step()
            loss = float(torch.as_tensor(log["loss"]).detach())
            if not np.isfinite(loss):
                raise SegGalError(f"{self.method_id}: training loss became {loss}; lower the learning rate")
            losses.append(loss)
        self.epochs_done += 1
        if self.rf_hook is not None and self.rf_hook.mode == "search":  # a fixed structure is not searched further
            import tempfile

            with tempfile.TemporaryDirectory() as work_dir:  # the hook writes its search log there
                self.rf_hook.step(self.model, work_dir)
        return float(np.mean(losses))

    # -- checkpoints ---------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write ``model.safetensors`` (the state dict) and ``backend.json`` (what rebuilds the network,
        and the training progress: epochs and optimiser steps done, AMP loss scale)."""
        import mmdet

        folder = save_torch_weights(folder, self.model)
        if self._optim is not None and hasattr(self._optim, "loss_scaler"):
            self.loss_scale = self._optim.loss_scaler.state_dict()
        meta = {"backend": "mmdet", "method": self.method_id, "config": self.config_name,
                "in_channels": self.in_channels, "mmdet_version": mmdet.__version__,
                "rfsearch": self._rf_state(), "normalisation": self.normalisation, "model": self.model_config,
                "epochs_done": self.epochs_done,
                "iterations_done": self.iterations_done, "loss_scale": self.loss_scale}
        write_backend_meta(folder, meta)


def pretrained(target: str | None = None) -> None:
    """SegGal offers no published MMDetection weights for cells (its checkpoints live in the gallery)."""
    return None


def build(method: Method | str, checkpoint: str | Path | None = None, device: str | None = None, *,
          target: str | None = None, arch: dict | None = None) -> MMDetSegmenter:
    """An MMDetection segmenter for ``method``: from scratch (``arch={"in_channels": 1 or 2}``, default 2;
    random weights, deterministic) or restored bit-exactly from a folder written by :meth:`MMDetSegmenter.save`."""
    method = get_method(method) if isinstance(method, str) else method
    if method.backend != "mmdet" or "config" not in method.options:
        raise SegGalError(f"method {method.id!r} is not an MMDetection method")
    unknown = sorted(set(arch or {}) - {"in_channels"})
    if unknown or (arch or {}).get("in_channels", 2) not in (1, 2):
        raise SegGalError(f"method {method.id}: MMDetection takes only the architecture option in_channels (1 or 2), "
                          f"got {arch}")
    try:
        import mmdet  # noqa: F401
        import mmcv.ops  # noqa: F401
    except ImportError as exc:
        raise SegGalError(f"method {method.id!r} needs MMDetection: run `make mmdet` ({exc})") from exc
    device = _device(device)
    if checkpoint is None:
        return MMDetSegmenter(method, int((arch or {}).get("in_channels", 2)), device)
    folder = Path(checkpoint)
    meta = read_backend_meta(folder, "mmdet", BACKEND_SCHEMA)
    if meta["method"] != method.id:
        raise SegGalError(f"MMDetection checkpoint {folder} holds method {meta['method']!r}, not {method.id!r}")
    if meta["config"] != method.options["config"]:
        raise SegGalError(f"MMDetection checkpoint {folder} was trained from config {meta['config']!r}; "
                          f"this SegGal uses {method.options['config']!r}")
    state = load_weights(folder, "pt", device)
    segmenter = MMDetSegmenter(method, int(meta["in_channels"]), device, rf_state=meta.get("rfsearch"),
                               normalisation=meta.get("normalisation"), model=meta.get("model"))
    weights = folder / WEIGHTS_FILE
    result = segmenter.model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SegGalError(f"MMDetection checkpoint {weights} does not fit {method.id}: missing "
                          f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    segmenter.epochs_done = int(meta.get("epochs_done", 0))
    segmenter.iterations_done = int(meta.get("iterations_done", 0))
    segmenter.loss_scale = meta.get("loss_scale")
    return segmenter
