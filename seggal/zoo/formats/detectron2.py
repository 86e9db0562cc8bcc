"""detectron2 checkpoints (the paper's ResNeSt and Centermask2 models): not converted, with the reason.

* **Centermask2** (FCOS + SAG-Mask on VoVNetV2-39): no SegGal backend runs its architecture —
  detectron2 and the centermask2 fork have no release on the package registry (``Method.blocked``),
  and MMDetection has no CenterMask / VoVNet, so there is nothing to load the weights into.
* **ResNeSt** (the paper ran detectron2-ResNeSt 0.1.1, ``ResNeSt/benchmark_config/*.yaml``: Mask R-CNN on
  a ResNeSt-50 FPN backbone): SegGal runs MMDetection's ResNeSt Mask R-CNN instead. The two are
  different implementations of the same design, with different module names (detectron2:
  ``backbone.bottom_up.res2.0.conv1``, ``proposal_generator.rpn_head.conv``, ``roi_heads.box_head.fc1``;
  MMDetection: ``backbone.layer1.0.conv1``, ``rpn_head.rpn_conv``, ``roi_head.bbox_head.shared_fcs.0``)
  and their own split-attention, stem and average-downsampling code. Whether every tensor maps one to
  one (same shapes, same channel grouping of the radix splits, same order of operations) can only be
  shown by running both on the same weights, and detectron2-ResNeSt does not install here (no
  detectron2 release on the package registry). An unverified key mapping would give a model that loads
  and predicts wrong masks, so it is refused.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task

REASONS = {
    "centermask2": ("Centermask2 checkpoints (detectron2, FCOS + SAG-Mask on VoVNetV2) cannot be converted: "
                    "no SegGal backend runs that architecture (detectron2 and centermask2 do not install from "
                    "the package registry, and MMDetection has no CenterMask or VoVNet)"),
    "resnest": ("the paper's ResNeSt checkpoints are detectron2-ResNeSt models; SegGal runs MMDetection's ResNeSt "
                "Mask R-CNN, a different implementation with other module names and its own split-attention code, "
                "and detectron2-ResNeSt does not install here to verify a key mapping against, so SegGal refuses "
                "rather than guess one (a wrong mapping would load and predict wrong masks)"),
}


def convert(path: Path, method: Method, task: Task):
    """Always :class:`SegGalError` with the reason (module docstring)."""
    raise SegGalError(f"{path}: {REASONS.get(method.id, f'{method.name}: detectron2 checkpoints are not converted')}")
