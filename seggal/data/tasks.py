"""The five tasks as views over the datasets: (dataset, target, input channels) → samples.

:func:`load_task` returns a :class:`TaskView`, a lazy sequence of
:class:`~seggal.image.Sample` (an :class:`~seggal.image.Image` holding exactly the task's input
channels, packed nuclear then membrane as :meth:`ChannelSpec.for_input` says, plus the target's label
image), with ``tissues`` parallel to it. Images are read one at a time when indexed.

``source`` is one of

* ``"synthetic"``: a small generated set (:mod:`seggal.data.synthetic`), deterministic per split;
* ``"synthetic-nuclei"``: generated nuclei-only fluorescence fields at random magnifications
  (:func:`seggal.data.synthetic.synthetic_nuclei`), for the ``nuclei-nuclear`` task only;
* a TissueNet ``.npz``, a LIVECell ``.json`` or a LIVECell ``.npz`` in the paper's layout
  (:mod:`seggal.data.livecell_npz`) file (used whatever ``split`` says);
* a folder holding the split's file: ``*{split}*.npz`` for TissueNet (``tissuenet_v1.1_test.npz``); for
  LIVECell the paper's windows ``LIVECell_{split}_all.npz`` where the folder has them, else
  ``livecell_coco_{split}.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image, Sample
from seggal.tasks import Task, get_task, training_sets

SPLITS = ("train", "val", "test")
#: Images per tissue / cell type in each split of the "synthetic" source, and their size.
SYNTHETIC_PER_GROUP = {"train": 2, "val": 1, "test": 1}
SYNTHETIC_SHAPE = (256, 256)
_SPLIT_SEED = {"train": 0, "val": 10_000, "test": 20_000}
#: Images in each split of the "synthetic-nuclei" source (one tissue label: SYNTHETIC_NUCLEI).
SYNTHETIC_NUCLEI_IMAGES = {"train": 192, "val": 12, "test": 12}
SYNTHETIC_NUCLEI = "synthetic nuclei"


@dataclass(frozen=True)
class TaskView(Sequence[Sample]):
    """A task's split as a lazy sequence of samples.

    ``tissues[i]`` is the tissue / cell type of sample ``i``; ``names[i]`` its image name;
    ``shapes[i]`` its (H, W); ``synthetic`` is True for generated data (label it as such wherever it
    is shown).
    """

    task: Task
    split: str
    source: str
    tissues: list[str]
    names: list[str]
    shapes: list[tuple[int, int]]
    load: Callable[[int], Sample]
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.tissues)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of a view with {len(self)} samples")
        return self.load(i % len(self))

    def counts(self) -> dict[str, int]:
        """Images per tissue / cell type, in first-seen order."""
        out: dict[str, int] = {}
        for t in self.tissues:
            out[t] = out.get(t, 0) + 1
        return out

    def subset(self, tissue: str) -> "TaskView":
        """The samples of one tissue / cell type (``"All"`` returns the view itself)."""
        if tissue == "All":
            return self
        index = [i for i, t in enumerate(self.tissues) if t == tissue]
        if not index:
            raise SegGalError(
                f"{self.source}: no {self.split} images of {tissue!r} for {self.task.id}; "
                f"available: {', '.join(self.counts()) or 'none'}"
            )
        return TaskView(self.task, self.split, self.source, [self.tissues[i] for i in index],
                        [self.names[i] for i in index], [self.shapes[i] for i in index],
                        lambda k: self.load(index[k]), self.synthetic)


def _select(pixels: np.ndarray, task: Task, name: str) -> Image:
    """Pack the task's input channels from [nuclear, membrane] pixels (H, W, 2)."""
    order = {"dual": [0, 1], "nuclear": [0], "whole_cell": [1]}[task.input_channels]
    return Image(np.ascontiguousarray(pixels[:, :, order]), ChannelSpec.for_input(task.input_channels), name)


def _synthetic(task: Task, split: str) -> TaskView:
    from seggal.data.synthetic import synthetic_livecell, synthetic_tissue

    groups = training_sets(task)[1:]
    tissues = [g for g in groups for _ in range(SYNTHETIC_PER_GROUP[split])]
    seeds = [_SPLIT_SEED[split] + i for i in range(len(tissues))]
    names = [f"synthetic-{split}-{t.replace(' ', '_')}-{s}" for t, s in zip(tissues, seeds)]

    @lru_cache(maxsize=None)  # a few small samples; regenerating them every epoch would dominate smoke runs
    def load(i: int) -> Sample:
        if task.dataset == "LIVECell":
            pixels, cells = synthetic_livecell(SYNTHETIC_SHAPE, tissues[i], seeds[i])
            return Sample(Image(pixels, ChannelSpec.for_input("whole_cell"), names[i]), cells)
        pixels, nuclei, cells = synthetic_tissue(SYNTHETIC_SHAPE, tissues[i], seeds[i])
        return Sample(_select(pixels, task, names[i]), nuclei if task.target == "nuclei" else cells)

    return TaskView(task, split, "synthetic", tissues, names, [SYNTHETIC_SHAPE] * len(tissues), load, synthetic=True)


def _synthetic_nuclei(task: Task, split: str) -> TaskView:
    from seggal.data.synthetic import synthetic_nuclei

    if task.id != get_task("nuclei-nuclear").id:
        raise SegGalError(f"source 'synthetic-nuclei' holds a nuclear channel and nuclei only: it serves task "
                          f"nuclei-nuclear, not {task.id}")
    seeds = [_SPLIT_SEED[split] + i for i in range(SYNTHETIC_NUCLEI_IMAGES[split])]
    names = [f"synthetic-nuclei-{split}-{s}" for s in seeds]

    @lru_cache(maxsize=None)
    def load(i: int) -> Sample:
        pixels, nuclei = synthetic_nuclei(SYNTHETIC_SHAPE, seeds[i])
        return Sample(Image(pixels, ChannelSpec.for_input("nuclear"), names[i]), nuclei)

    return TaskView(task, split, "synthetic-nuclei", [SYNTHETIC_NUCLEI] * len(seeds), names,
                    [SYNTHETIC_SHAPE] * len(seeds), load, synthetic=True)


#: The generated sources: name → view builder (task, split) → TaskView.
GENERATED: dict[str, Callable[[Task, str], TaskView]] = {"synthetic": _synthetic, "synthetic-nuclei": _synthetic_nuclei}
_SOURCES = "give a dataset file, a folder, or " + " / ".join(map(repr, GENERATED))


def _split_patterns(dataset: str, split: str) -> tuple[str, ...]:
    """Names of a split's file, preferred first."""
    from seggal.data.livecell_npz import FILE_PATTERN

    if dataset == "TissueNet":
        return (f"*{split}*.npz",)
    return (f"*{FILE_PATTERN.format(split=split)}", f"*livecell_coco_{split}*.json")


def find_split_file(folder: Path, dataset: str, split: str) -> Path:
    """The file of ``split`` in a dataset folder (see the module docstring): the first pattern that matches
    in the folder itself, else below it."""
    patterns = _split_patterns(dataset, split)
    found: list[Path] = []
    for pattern in patterns:
        found = sorted(folder.glob(pattern)) or sorted(folder.rglob(pattern))
        if found:
            break
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(p.name for p in found)})"
        raise SegGalError(f"{folder}: found {what} {dataset} file(s) matching {' or '.join(map(repr, patterns))}; "
                          "pass the file itself")
    return found[0]


def load_task(
    source: str | Path,
    task: str | Task,
    split: str = "test",
    training_set: str = "All",
    images: str | Path | None = None,
) -> TaskView:
    """The samples of ``task`` in ``split``, restricted to one tissue / cell type unless ``training_set`` is "All".

    ``images``: LIVECell image folder when it is not the ``images`` folder next to the json.
    """
    task = task if isinstance(task, Task) else get_task(task)
    if split not in SPLITS:
        raise SegGalError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if str(source) in GENERATED:
        return GENERATED[str(source)](task, split).subset(training_set)
    path = Path(source)
    if path.is_dir():
        path = find_split_file(path, task.dataset, split)
    if not path.exists():
        raise SegGalError(f"{path}: not found ({_SOURCES})")
    expected = (".npz",) if task.dataset == "TissueNet" else (".npz", ".json")
    if path.suffix.lower() not in expected:
        raise SegGalError(f"{path}: task {task.id} needs a {task.dataset} {' or '.join(expected)} file, "
                          f"got {path.suffix or 'no suffix'}")
    if task.dataset == "TissueNet":
        from seggal.data.tissuenet import open_tissuenet

        data = open_tissuenet(path)
        names = [data.name(i) for i in range(len(data))]

        def load(i: int) -> Sample:
            return Sample(_select(data.image(i).pixels, task, names[i]), data.labels(i, task.target))

        shapes = [tuple(int(s) for s in data.X.shape[1:3])] * len(data)
        view = TaskView(task, split, str(path), list(data.tissues), names, shapes, load)
    elif path.suffix.lower() == ".npz":
        from seggal.data.livecell_npz import open_livecell_npz

        windows = open_livecell_npz(path)

        def load(i: int) -> Sample:
            return Sample(windows.image(i), windows.labels(i))

        view = TaskView(task, split, str(path), list(windows.cell_types), [windows.name(i) for i in range(len(windows))],
                        [windows.shape] * len(windows), load)
    else:
        from seggal.data.livecell import open_livecell

        data = open_livecell(path, images)

        def load(i: int) -> Sample:
            return Sample(data.image(i), data.labels(i))

        shapes = [(im["height"], im["width"]) for im in data.images]
        view = TaskView(task, split, str(path), data.cell_types, [im["file_name"] for im in data.images], shapes, load)
    return view.subset(training_set)


def split_counts(source: str | Path, task: str | Task, images: str | Path | None = None) -> dict[str, dict[str, int]]:
    """Images per tissue / cell type in every split that ``source`` has: {split: {tissue: n}}.

    A single file counts as the one split it is (reported under ``"file"``).
    """
    task = task if isinstance(task, Task) else get_task(task)
    if str(source) in GENERATED:
        return {split: load_task(source, task, split).counts() for split in SPLITS}
    folder = Path(source)
    if folder.is_file():
        return {"file": load_task(folder, task, images=images).counts()}
    if not folder.is_dir():
        raise SegGalError(f"{folder}: not found ({_SOURCES})")
    out = {}
    for split in SPLITS:
        if any(any(folder.rglob(p)) for p in _split_patterns(task.dataset, split)):
            out[split] = load_task(folder, task, split, images=images).counts()
    if not out:
        raise SegGalError(f"{folder}: no train / val / test files found for {task.dataset}")
    return out
