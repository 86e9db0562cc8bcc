"""One module per source format; each defines

``convert(path: Path, method: Method, task: Task) -> Converted``

which reads ``path`` without running code from it and returns the SegGal segmenter holding its weights,
the preprocessing the paper's test script applied (config.json's ``preprocessing``) and notes for the
model card. :data:`MODULES` maps a method's backend to the module that reads its paper files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: backend (``Method.backend``) → module of this package that converts the paper's files for it
MODULES = {
    "cellpose": "cellpose2",
    "stardist": "stardist_keras",
    "sam": "sam_pth",
    "mmdet": "mmdet2",
    "detectron2": "detectron2",
    "deepcell": "deepcell",
}
#: catalogue format (``seggal.zoo.catalogue.FORMATS``) → module of this package, for the generalists' formats
#: that the module of the method's backend (:data:`MODULES`) does not read
FORMAT_MODULES = {"cellpose3": "cellpose3", "micro-sam": "micro_sam"}


@dataclass
class Converted:
    """What a format module hands back: the ``segmenter`` (its ``save`` writes model.safetensors and
    backend.json), the ``preprocessing`` record, the original's ``source_format`` in words and ``notes``
    (lines for the model card)."""

    segmenter: object
    preprocessing: dict
    source_format: str
    notes: list[str] = field(default_factory=list)
