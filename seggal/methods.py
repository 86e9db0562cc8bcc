"""The one registry of the paper's 18 methods (plus SegGal's classical baseline).

Facts come from the paper's Results and Methods (Wang, Zhao, Xu et al., bioRxiv 2024): family,
architecture, whether it uses attention (the paper's key finding: the most accurate methods all do) and
the training settings the authors used. ``backend`` names the module in :mod:`seggal.backends` that runs
the method here, ``packages`` the import names it needs; :func:`availability` says whether it runs in
this installation and why not.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from seggal.errors import SegGalError


@dataclass(frozen=True)
class PaperTraining:
    """Training settings as the paper's Methods give them (``None`` = not stated; package default)."""

    gpus: int | None = None
    epochs: int | None = None
    iterations: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    platform: str = ""


@dataclass(frozen=True)
class Method:
    """One segmentation method of the benchmark."""

    id: str
    name: str  # as the paper spells it
    family: str  # "biomedical" or "general"
    architecture: str
    backbone: str
    attention: bool
    paper: PaperTraining
    backend: str  # module of seggal.backends that runs it
    packages: tuple[str, ...]  # import names it needs here
    in_paper: bool = True
    blocked: str = ""  # why it cannot run in SegGal's environment at all (empty = it can)
    notes: str = ""
    options: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Availability:
    """Whether a method runs in this installation; ``reason`` says why not."""

    available: bool
    reason: str = ""


MMDET = "MMDetection 2.28.2 in the paper; mmdet 3.3 here"
#: deepcell 0.12.10 runs in a worker process on tf-keras (seggal.backends.deepcell); `make deepcell` installs it.
DEEPCELL_PACKAGES = ("deepcell", "deepcell_toolbox", "tf_keras")
_M = Method
_P = PaperTraining

METHODS: tuple[Method, ...] = (
    _M("swin-s", "Swin-S", "general", "Mask R-CNN with a Swin Transformer backbone (shifted-window self-attention)",
       "Swin-S", True, _P(4, 50, None, 8, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "swin/mask-rcnn_swin-s-p4-w7_fpn_amp-ms-crop-3x_coco.py"}),
    _M("swin-t", "Swin-T", "general", "Mask R-CNN with a Swin Transformer backbone (half the size of Swin-S)",
       "Swin-T", True, _P(4, 50, None, 8, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py"}),
    _M("cellpose", "Cellpose", "biomedical", "U-Net with residual blocks and summed skip connections; flow fields",
       "residual U-Net", False, _P(1, 500, None, 8, 0.2, "Cellpose 1.0.2 (package defaults); cellpose 3.1 here"),
       "cellpose", ("cellpose", "torch")),
    _M("cascade-seesaw", "Cascade Mask RCNN seesaw", "general", "Cascade Mask R-CNN with seesaw loss",
       "ResNet + FPN", False, _P(4, 50, None, 8, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "seesaw_loss/cascade-mask-rcnn_r101_fpn_seesaw-loss_sample1e-3-ms-2x_lvis-v1.py"}),
    _M("centermask2", "Centermask2", "general", "FCOS detector + spatial attention-guided mask (SAG-Mask)",
       "VoVNetV2", True, _P(4, None, 100_000, 32, None, "detectron2"), "detectron2", ("detectron2", "centermask"),
       blocked="needs detectron2 and the centermask2 fork: pip finds no detectron2 release from its authors on the "
       "package registry (only third-party repackagings such as detectron2-cdo 0.5 and pb1-detectron2 0.6) and no "
       "centermask2 at all; both install only from their git repositories"),
    _M("solov2", "SOLOv2", "general", "direct per-pixel instance kernels with Matrix NMS",
       "ResNet-50 + FPN", False, _P(4, 60, None, 8, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "solov2/solov2_r50_fpn_1x_coco.py"}),
    _M("resnest", "ResNeSt", "general", "Mask R-CNN with split-attention ResNeSt blocks",
       "ResNeSt-50 + FPN", True, _P(4, None, 50_000, 4, None, "detectron2-ResNeSt 0.1.1 in the paper; mmdet 3.3 here"),
       "mmdet", ("mmdet", "mmcv", "mmengine"),
       notes="the paper ran a detectron2-ResNeSt Cascade Mask R-CNN on ResNeSt-200 with deformable convolutions; "
       "SegGal trains MMDetection's ResNeSt-50 Mask R-CNN config instead",
       options={"config": "resnest/mask-rcnn_s50_fpn_syncbn-backbone+head_ms-1x_coco.py"}),
    _M("res2net", "Res2Net", "general", "Mask R-CNN with multi-scale Res2Net blocks",
       "Res2Net-101 + FPN", False, _P(4, 20, None, 8, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "res2net/mask-rcnn_res2net-101_fpn_2x_coco.py"}),
    _M("rf-next", "RF-Next", "general", "Mask R-CNN whose convolutions' receptive fields are searched",
       "ResNet-50 + FPN (RF search)", False, _P(4, 200, None, 8, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       notes="MMDetection 3.3 ships no RF-Next config: SegGal runs Mask R-CNN R50-FPN with mmcv's receptive-field "
       "search (RFSearchHook, the settings of MMDetection 2.28's rfnext_search configs, one search step per "
       "epoch); mmcv has only RF-Next's local search, not its genetic global search",
       options={"config": "mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py", "rfsearch": True}),
    _M("stardist", "StarDist", "biomedical", "U-Net predicting star-convex polygons",
       "U-Net", False, _P(1, 100, None, 4, 0.0003, "StarDist 0.8.3 in the paper; stardist 0.9 here"),
       "stardist", ("stardist", "tensorflow")),
    _M("hrnet", "HRNet", "general", "Mask R-CNN on parallel high-resolution multi-scale branches",
       "HRNetV2p-W18", False, _P(4, 200, None, 24, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py"}),
    _M("mask2former", "Mask2former", "general", "transformer decoder with masked attention",
       "ResNet-50", True, _P(4, 50, None, 36, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       notes="keeps the config's 100 queries (the architecture the paper trained): at most 100 cells per image",
       options={"config": "mask2former/mask2former_r50_8xb2-lsj-50e_coco.py"}),
    _M("mask-rcnn", "Mask RCNN", "general", "two-stage detector with a mask branch",
       "ResNet-50 + FPN", False, _P(4, 100, None, 24, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py"}),
    _M("sam", "Segment Anything", "general", "promptable foundation model, automatic mask generation",
       "ViT-H (ViT-B for CPU)", True, _P(0, None, None, None, None, "segment-anything 1.0, not trained"),
       "sam", ("segment_anything", "torch"),
       notes="used as published, without training on cell images"),
    _M("retinamask", "RetinaMask", "biomedical", "RetinaNet one-stage detector with a mask head",
       "ResNet-50", False, _P(4, 100, None, None, 0.0005, "deepcell-retinamask 0.1.1"), "deepcell", ("deepcell_retinamask",),
       blocked="deepcell-retinamask 0.1.1 (requires Python < 3.9, tensorflow ~= 2.5.1) imports and builds here through the "
       "deepcell worker's tf-keras route (measured: 8.6 M parameters, once numpy.float is aliased), but the paper's test "
       "script derives the network's pyramid levels and anchors from the test set's labels "
       "(get_anchor_parameters(y_test)), which its .h5 weights do not record, so its models cannot be rebuilt "
       "without the paper's test data; SegGal has no RetinaMask backend"),
    _M("mesmer", "Mesmer", "biomedical", "ResNet-50 + FPN with semantic heads and watershed post-processing",
       "ResNet-50 + FPN", False, _P(4, 200, None, 8, 0.0004, "deepcell-tf 0.12.9; deepcell 0.12.10 on tf-keras here"),
       "deepcell", DEEPCELL_PACKAGES, notes="runs in a worker process (Keras 2 through tf-keras); `make deepcell` installs it"),
    _M("ms-rcnn", "MS RCNN", "general", "Mask R-CNN with a mask-IoU scoring branch",
       "ResNet-50 + FPN", False, _P(4, 50, None, 48, None, MMDET), "mmdet", ("mmdet", "mmcv", "mmengine"),
       options={"config": "ms_rcnn/ms-rcnn_r50-caffe_fpn_1x_coco.py"}),
    _M("featurenet", "FeatureNet", "biomedical", "convolutional encoder + pixel classifier (boundary / interior / background)",
       "small CNN", False, _P(4, 25, None, 16, 0.001, "deepcell-tf 0.12.9; deepcell 0.12.10 on tf-keras here"),
       "deepcell", DEEPCELL_PACKAGES, notes="runs in a worker process (Keras 2 through tf-keras); `make deepcell` installs it"),
    _M("baseline", "Classical baseline", "classical", "percentile normalisation, Otsu threshold, distance-transform watershed",
       "none", False, _P(0, None, None, None, None, "scikit-image"), "baseline", ("skimage",), in_paper=False,
       notes="not in the paper: SegGal's always-available reference, needs no weights"),
)

_BY_KEY = {m.id: m for m in METHODS} | {m.name.lower(): m for m in METHODS}


def paper_methods() -> tuple[Method, ...]:
    """The paper's 18 methods, in registry order."""
    return tuple(m for m in METHODS if m.in_paper)


def get_method(key: str) -> Method:
    """Look a method up by id (``swin-s``) or by the paper's name (``Swin-S``), case-insensitive."""
    method = _BY_KEY.get(str(key).strip().lower())
    if method is None:
        known = ", ".join(m.id for m in METHODS)
        raise SegGalError(f"unknown method {key!r}; known methods: {known}")
    return method


def availability(method: Method | str) -> Availability:
    """Whether ``method`` runs in this installation, and why not when it does not."""
    method = get_method(method) if isinstance(method, str) else method
    if method.blocked:
        return Availability(False, method.blocked)
    missing = [p for p in method.packages if importlib.util.find_spec(p) is None]
    if missing:
        return Availability(False, f"package(s) not installed: {', '.join(missing)}")
    return Availability(True)
