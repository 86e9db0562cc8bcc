"""The paper's five segmentation tasks and the datasets' tissues / cell types."""

from __future__ import annotations

import re
from dataclasses import dataclass

from seggal.errors import SegGalError


@dataclass(frozen=True)
class Task:
    """One of the five tasks: what is segmented (``target``) from which channels (``input_channels``)."""

    id: str
    dataset: str  # "TissueNet" or "LIVECell"
    modality: str  # "fluorescence" or "phase_contrast"
    target: str  # "nuclei" or "whole_cell"
    input_channels: str  # "dual", "nuclear" or "whole_cell"
    label: str  # short column title, as in Figure 2a
    group: str  # scalability group of the Ranking Scheme

    @property
    def short_id(self) -> str:
        """The id without its dataset prefix (``nuclei-dual``; ``wholecell`` for LIVECell)."""
        return self.id.split("-", 1)[1]


TASKS: tuple[Task, ...] = (
    Task("tissuenet-nuclei-dual", "TissueNet", "fluorescence", "nuclei", "dual", "TN nuclei (dual)", "tissuenet-nuclei"),
    Task("tissuenet-nuclei-nuclear", "TissueNet", "fluorescence", "nuclei", "nuclear", "TN nuclei (nuclear)", "tissuenet-nuclei"),
    Task("tissuenet-wholecell-dual", "TissueNet", "fluorescence", "whole_cell", "dual", "TN whole cell (dual)", "tissuenet-wholecell"),
    Task("tissuenet-wholecell-wholecell", "TissueNet", "fluorescence", "whole_cell", "whole_cell", "TN whole cell (whole cell)", "tissuenet-wholecell"),
    Task("livecell-wholecell", "LIVECell", "phase_contrast", "whole_cell", "whole_cell", "LIVECell whole cell", "livecell"),
)

#: TissueNet v1.1 tissues and LIVECell cell lines, spelled as the published scores spell them.
TISSUENET_TISSUES = (
    "Breast", "Colon", "Epidermis", "Esophagus", "Lung", "Lymph Node", "Lymph Node Metastasis",
    "Pancreas", "Spleen", "Tonsil",
)
LIVECELL_CELL_TYPES = ("A172", "BT-474", "BV-2", "Huh7", "MCF7", "SH-SY5Y", "SK-OV-3", "SkBr3")

_BY_ID = {t.id: t for t in TASKS}
_ALIASES = {t.short_id: t for t in TASKS if t.dataset == "TissueNet"} | {"wholecell": _BY_ID["livecell-wholecell"]}


def get_task(key: str) -> Task:
    """A task by id (``tissuenet-nuclei-dual``) or short id (``nuclei-dual``; ``wholecell`` = LIVECell)."""
    task = _BY_ID.get(key) or _ALIASES.get(key)
    if task is None:
        raise SegGalError(f"unknown task {key!r}; known tasks: {', '.join(t.id for t in TASKS)}")
    return task


def find_task(dataset: str, target: str, input_channels: str) -> Task:
    """The task for a (dataset, target, input channels) combination."""
    for task in TASKS:
        if (task.dataset, task.target, task.input_channels) == (dataset, target, input_channels):
            return task
    raise SegGalError(f"no task for dataset={dataset!r}, target={target!r}, input_channels={input_channels!r}")


def training_sets(task: str | Task) -> tuple[str, ...]:
    """The training sets a model of ``task`` can have: ``All`` plus the dataset's tissues / cell types."""
    task = get_task(task) if isinstance(task, str) else task
    return ("All",) + (TISSUENET_TISSUES if task.dataset == "TissueNet" else LIVECELL_CELL_TYPES)


def check_training_set(task: str | Task, training_set: str, where: str = "") -> str:
    """``training_set`` when it is one of :func:`training_sets` of ``task``; :class:`SegGalError` (prefixed
    with ``where``) otherwise."""
    task = get_task(task) if isinstance(task, str) else task
    if training_set not in training_sets(task):
        prefix = f"{where}: " if where else ""
        raise SegGalError(f"{prefix}training set {training_set!r} is not 'All' or a {task.dataset} tissue / cell type")
    return training_set


_GENERALIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_generalist_name(task: str | Task, name: str, where: str = "") -> str:
    """``name`` when it can stand as the training set of a *generalist* model of ``task`` (a model trained by
    its own package's authors on their own data, e.g. Cellpose ``cyto3``, SAM ``vit_b``): the generalist's own
    name (letters, digits, ``_ . -``), never one of :func:`training_sets` of ``task`` (a generalist does not
    claim a TissueNet / LIVECell set); :class:`SegGalError` (prefixed with ``where``) otherwise."""
    task = get_task(task) if isinstance(task, str) else task
    prefix = f"{where}: " if where else ""
    if name in training_sets(task):
        raise SegGalError(f"{prefix}generalist {name!r} would claim the {task.dataset} training set {name!r}; "
                          "a generalist's training set is its own model name")
    if not _GENERALIST_NAME.fullmatch(name):
        raise SegGalError(f"{prefix}generalist name {name!r} is not letters, digits, '_', '.' or '-'")
    return name
