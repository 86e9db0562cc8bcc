"""detectron2 checkpoints (the paper's ResNeSt and Centermask2 models): not converted, with the reason.

* **Centermask2** (FCOS + SAG-Mask on VoVNetV2-39): no SegGal backend runs its architecture. detectron2 has
  no release from its authors on the package registry (pip finds only third-party repackagings such as
  detectron2-cdo 0.5 and pb1-detectron2 0.6), centermask2 has none at all (``Method.blocked``), and
  MMDetection 3.3 has no CenterMask, SAG-Mask or VoVNet: there is nothing to load the weights into.
* **ResNeSt**: the paper ran the benchmark repository's copy of detectron2-ResNeSt (its ``ResNeSt/`` folder,
  trained by ``tools/train_net.py`` on ``benchmark_config/{tissuenet_nuclear,tissuenet_nuclear_2C,
  tissuenet_wholecell,tissuenet_wholecell_2C,livecell_train_all}.yaml``, one architecture for all five
  models). Its network (those yamls over ``detectron2/config/defaults.py``; the code in
  ``detectron2/modeling/backbone/{resnet,splat,fpn}.py``, ``proposal_generator/rpn*.py``,
  ``roi_heads/{cascade_rcnn,box_head,mask_head}.py``) is a Cascade Mask R-CNN, not the Mask R-CNN
  ResNeSt-50 that SegGal trains:

  - backbone ResNeSt-**200** (``DEPTH: 200``), radix 2; ``RADIX > 1`` switches on the deep stem (64, 64, 128
    channels), average-down after the split-attention conv and average-pooled shortcuts; bottleneck width
    64, one group; SyncBN; modulated deformable convolutions (DCNv2, 2 deformable groups) in res3–res5,
    their offsets from a separate 3x3 conv with ``groups=2``;
  - FPN with SyncBN (convolutions without bias), P6 by max-pooling P5;
  - RPN on **six** maps ``[p2, p2, p3, p4, p5, p6]`` with anchor sizes 4, 9, 17, 31, 64, 127 (p2 twice:
    strides 4, 4, 8, 16, 32, 64), aspect ratios 0.25–4, 6000 proposals per level before NMS 0.7, 3000 after;
  - three cascade stages (box-coder weights (10, 10, 5, 5), (20, 20, 10, 10), (30, 30, 15, 15)), each a
    4-conv + 1-fc box head with SyncBN and class-agnostic regression; detections scored by the **mean of the
    three stages' softmax probabilities** (``cascade_rcnn.py``), score > 0.05, NMS 0.5, at most 3000; one
    8-conv mask head with SyncBN; ROIAlignV2 (aligned) 7 / 14;
  - input: ``PIXEL_MEAN`` 128, ``PIXEL_STD`` 11.578 on three channels read by PIL (``FORMAT`` RGB for the
    dual-channel models, BGR for the others), resized to a shortest side of 800 (``MIN_SIZE_TEST``
    default).

  MMDetection 3.3 builds every tensor of that network: ``ResNeSt(depth=200, stem_channels=128, radix=2,
  dcn=DCNv2 with deform_groups=2, stage_with_dcn=(False, True, True, True))`` has the same split attention
  (the same radix-major ``rSoftMax``, inter-channels ``max(C * radix // 4, 32)``, average-down after the
  split-attention conv), an FPN and ``Shared4Conv1FCBBoxHead`` / ``FCNMaskHead`` take BN, and a
  state dict of the paper's layout built by name and shape (a look-alike: detectron2-ResNeSt does not install
  here) maps one to one onto a CascadeRCNN with those settings: all 2146 of its weight and BN tensors
  (126.3 M parameters; the grouped offset conv as mmcv's dense ``conv_offset`` with zero blocks, the one mask
  head copied into the three stage mask heads), with matching shapes; only detectron2's six anchor buffers
  have no counterpart. Two parts of the computation have none in MMDetection 3.3 (:data:`RESNEST_REFUSAL`):
  its RPN head runs on the FPN's five levels with one anchor size each, so the second p2 level (size-9
  anchors at stride 4) has nowhere to go; and its ``CascadeRoIHead`` averages the stages' logits and applies softmax after (``_refine_roi``), which gives
  other scores, so other detections pass the 0.05 threshold and NMS. Running them needs model code that
  SegGal would write itself, with no detectron2-ResNeSt here to check it against, so the files are refused.
  The input is not established either: the repository's reader (``detectron2/data/detection_utils.py``,
  PIL) cannot open the three-channel int64 TIFFs that ``mmdet_BM``'s ``transform_tissuenet_2C.py`` writes
  (Pillow raises ``UnidentifiedImageError``).
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task

#: Why the paper's ResNeSt files are not converted (module docstring); shown by the gallery.
RESNEST_REFUSAL = (
    "the paper's ResNeSt (detectron2-ResNeSt: Cascade Mask R-CNN on ResNeSt-200 with DCNv2, "
    "ResNeSt/benchmark_config/*.yaml) computes two things MMDetection 3.3 cannot: its RPN runs on six maps "
    "[p2, p2, p3, p4, p5, p6] with anchor sizes 4, 9, 17, 31, 64, 127 (p2 twice), MMDetection's on the FPN's five "
    "levels; and it scores detections by the mean of the three cascade stages' softmax probabilities, "
    "MMDetection's CascadeRoIHead by the softmax of their mean logits (every weight tensor would map one to one)")
#: method id → why its paper files are refused
REASONS = {
    "centermask2": ("Centermask2 checkpoints (detectron2, FCOS + SAG-Mask on VoVNetV2) cannot be converted: "
                    "no SegGal backend runs that architecture (detectron2 has no release from its authors on the "
                    "package registry, centermask2 none at all, and MMDetection has no CenterMask or VoVNet)"),
    "resnest": RESNEST_REFUSAL,
}


def convert(path: Path, method: Method, task: Task):
    """Always :class:`SegGalError` with the reason (module docstring)."""
    raise SegGalError(f"{path}: {REASONS.get(method.id, f'{method.name}: detectron2 checkpoints are not converted')}")
