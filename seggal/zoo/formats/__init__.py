"""One module per source format; each defines

``convert(path: Path, method: Method, task: Task) -> Converted``

which reads ``path`` without running code from it and returns the SegGal segmenter holding its weights,
the input pipeline of the paper's test script for that method (a :class:`seggal.preprocess.Preprocessing`
record: config.json's ``preprocessing``, applied wherever the checkpoint is loaded), the script's other
facts (provenance.json) and notes for the model card. :data:`MODULES` maps a method's backend to the module
that reads its paper files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from seggal.preprocess import PAPER, Preprocessing
from seggal.tasks import Task

#: backend (``Method.backend``) → module of this package that converts the paper's files for it
MODULES = {
    "cellpose": "cellpose2",
    "stardist": "stardist_keras",
    "sam": "sam_pth",
    "mmdet": "mmdet2",
    "detectron2": "detectron2",
    "deepcell": "deepcell",
}
#: Where the paper's test scripts live (the authors' benchmark repository).
BENCHMARK_REPO = "https://github.com/BoomStarcuc/Cell-Segmentation-Benchmark"


def script_suffix(task: Task) -> str:
    """The suffix of the paper's per-task script names: ``nuclear_2C``, ``nuclear_1C``, ``wholecell_2C``,
    ``wholecell_1C`` or ``livecell``."""
    if task.dataset == "LIVECell":
        return "livecell"
    target = "nuclear" if task.target == "nuclei" else "wholecell"
    return f"{target}_{'2C' if task.input_channels == 'dual' else '1C'}"


def task_channel(task: Task) -> str:
    """The one channel a one-channel task's images hold: ``nuclear`` or ``membrane``."""
    return "nuclear" if task.input_channels == "nuclear" else "membrane"


def paper_record(source: str, **steps) -> Preprocessing:
    """The data set's preprocessing as the paper prepared its test windows (:data:`seggal.preprocess.PAPER`:
    0.1 / 99.9 percentiles, CLAHE, 256-pixel windows every 192) followed by a test script's ``steps``
    (``method_normalisation``, ``levels``, ``channel_order``, ``diameter``); ``source``: the script's path in
    the benchmark repository."""
    return replace(PAPER, source=f"{BENCHMARK_REPO}: {source}", **steps)


#: catalogue format (``seggal.zoo.catalogue.FORMATS``) → module of this package, for the formats that the module
#: of the method's backend (:data:`MODULES`) does not read: the generalists' and the paper's detectron2 files
#: of ResNeSt, a method SegGal runs on MMDetection
FORMAT_MODULES = {"cellpose3": "cellpose3", "micro-sam": "micro_sam", "detectron2": "detectron2"}


@dataclass
class Converted:
    """What a format module hands back: the ``segmenter`` (its ``save`` writes model.safetensors and
    backend.json), the ``preprocessing`` record of the paper's test script (config.json), the original's
    ``source_format`` in words, ``notes`` (lines for the model card) and ``script``: what else the test
    script did that the record does not apply (thresholds, tiling, post-processing; provenance.json)."""

    segmenter: object
    preprocessing: Preprocessing
    source_format: str
    notes: list[str] = field(default_factory=list)
    script: dict = field(default_factory=dict)
