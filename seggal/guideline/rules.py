"""The Guideline's rules: :class:`~seggal.guideline.answers.Answers` → a :class:`Recommendation` of plain
records (no prose: :mod:`seggal.guideline.explanations` words them).

Pure: :func:`recommend` reads only the published scores table (or the one it is given) and asks
``runs_here`` (default :func:`seggal.gallery.runs_here`: weights on this machine) which methods run here; the
same answers give an equal result.

What is computed from the scores table and what is cited from the paper:

* **Computed** (change the table and the answer follows): the methods' order, SegGal's pick, the Figure 6
  list (:func:`seggal.ranking.figure6_methods`), the failing training sets, the best-transferring set,
  the weak target tissues, the channel gains, every tie.
* **Cited** (:data:`PAPER`): what the paper states only in its text or figures and the table does not
  hold: Figure 5's expansion / erosion steps and examples, the Figure 5a methods that transfer from
  whole-cell to nuclei images, the dual-channel lung / esophagus figures, the training sets the paper
  names as most transferable (the tie-break), and the datasets' pixel sizes from their own papers.

The rules:

* **Scenario → task** (:func:`scenario_task`). The answered target and channels pick one of the five
  tasks; when the channels cannot give the target, Figure 5's workaround: nuclei → expand into whole
  cells, whole cells → erode into nuclei. Phase contrast maps to the one phase-contrast task (LIVECell
  whole cells); nuclei in phase contrast have **no data** (caveat ``no_data``, always first).
* **Ties.** The published accuracies have two decimals, so values within
  :data:`~seggal.ranking.PUBLISHED_TIE` are ties; every tie is returned (:class:`Tie`) with every
  candidate and the rule that broke it: for methods, the paper's Figure 2a overall order (the order it
  ranks Figure 6 by); for training sets, the set the paper names as most transferable when it is among
  the tied ones, else the higher mean over the dataset's tasks, then the name.
* **Methods.** *Figure 6*, faithfully, and *SegGal's own*: a weighted mean of the task's accuracy,
  usability and scalability (:data:`WEIGHTS` by compute answer); only methods whose accuracy is within
  :data:`ACCURACY_MARGIN` of the task's best may come first.
* **Training data** (Figure 4d), from the single-set models — the paper trained those for Swin-S only.
  A set *fails* below :data:`FAILING_FRACTION` of the median single-set accuracy and is never
  recommended; a tissue whose set fails is a *weak target* (few training images, Figure 3a).
* **Caveats** (:class:`Caveat`): ``no_data``, ``unmeasured_tissue`` (outside the benchmark),
  ``weak_tissue``, ``cross_modality`` (Figure 5a).
* **Scale** (:class:`Scale`, :class:`Postprocess`): the evidence for expansion / erosion is a range of
  steps in the benchmark's pixels, converted to µm with the dataset's pixel size and to the user's pixels
  when the pixel size is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from seggal.errors import SegGalError
from seggal.guideline.answers import OTHER, Answers, match_tissue, tissue_given
from seggal.gallery import runs_here as ready_here
from seggal.methods import Availability, get_method
from seggal.ranking import PUBLISHED_TIE
from seggal.tasks import TASKS, Task, find_task, get_task
from seggal.zoo.catalogue import usage_guides

if TYPE_CHECKING:
    import pandas as pd

#: SegGal's first pick has an accuracy at least the task's best published accuracy minus this.
ACCURACY_MARGIN = 0.1
#: A single-set training set fails when its accuracy is below this fraction of the task's median single-set
#: accuracy. The published sets split cleanly: lung and spleen reach at most 0.16 of the median, every
#: other tissue / cell line at least 0.47 (BV-2); a quarter sits in that gap.
FAILING_FRACTION = 0.25


@dataclass(frozen=True)
class Weights:
    """How SegGal's own score weighs the task's accuracy, usability and scalability (sum 1)."""

    accuracy: float
    usability: float
    training_time: float


#: By compute answer: ``none`` downloads a checkpoint (training time irrelevant), ``ample`` barely cares.
WEIGHTS = {
    "none": Weights(0.8, 0.2, 0.0),
    "limited": Weights(0.65, 0.2, 0.15),
    "ample": Weights(0.7, 0.2, 0.1),
}

#: The paper's colour bands (Figure 6 legend): metric → (blue limit, yellow limit, higher is better).
#: accuracy / usability: ≥ 0.5 blue, ≥ 0.25 yellow, else red; training hours: ≤ 24 blue, ≤ 48 yellow, else red.
BANDS = {"accuracy": (0.5, 0.25, True), "usability": (0.5, 0.25, True), "training_hours": (24.0, 48.0, False)}
BAND_METRICS = tuple(BANDS)
#: The website's per-task orderings (Overall / Accuracy / Usability / Scalability): key → MethodRow field.
ORDERINGS = {"overall": "overall", "accuracy": "accuracy", "usability": "usability", "scalability": "scalability"}


@dataclass(frozen=True)
class _Paper:
    """Facts the paper states in its text or figures that the scores table does not hold (cited)."""

    expansion_best_px: tuple = (0, 6)  # Figure 5b: ResNeSt colon best at 0 px (worse with any), tonsil at 6 px
    expansion_example: tuple = ("Swin-S", "Epidermis", 0.341, 0.598)  # Figure 5b
    expansion_worse: str = "Colon"  # ResNeSt in colon got worse with any expansion
    expansion_peak: tuple = ("ResNeSt", "Tonsil", 6)
    erosion_best_px: tuple = (1, 1)  # Figure 5c: "most cases showing optimal results with a one-pixel erosion"
    swept_px: tuple = (0, 10)  # Figure 5b/c x-axis
    xenium_um: float = 15.0  # 10x Xenium expands nuclei by 15 µm (Results)
    dual_nuclei: tuple = (("Lung", "Centermask2", 0.308, 0.655), ("Esophagus", "Centermask2", 0.691, 0.759))
    cross_modality: tuple = ("Cascade Mask RCNN seesaw", "RF-Next")  # Figure 5a: whole cell → nuclei images
    transfer_sets: tuple = (("TissueNet", "Breast"), ("LIVECell", "MCF7"))  # Results, Figure 4d
    single_set_method: str = "Swin-S"  # the only method trained per tissue / cell type (Figure 4)
    # Pixel sizes from the datasets' own papers: TissueNet (Greenwald et al., Nat. Biotechnol. 2022) resampled
    # to 0.5 µm/px; LIVECell (Edlund et al., Nat. Methods 2021) Incucyte S3, 10× objective, ≈ 1.24 µm/px.
    pixel_size_um: tuple = (("TissueNet", 0.5), ("LIVECell", 1.24))

    def dual(self, tissue: str) -> tuple | None:
        return next((d for d in self.dual_nuclei if d[0] == tissue), None)


PAPER = _Paper()


def band(metric: str, value: float) -> str | None:
    """The paper's colour band of one value (:data:`BANDS`): ``"blue"``, ``"yellow"``, ``"red"``; ``None`` for NaN."""
    if metric not in BANDS:
        raise SegGalError(f"no colour band for {metric!r}; banded metrics: {', '.join(BAND_METRICS)}")
    if value is None or math.isnan(float(value)):
        return None
    blue, yellow, higher = BANDS[metric]
    value = float(value)
    if higher:
        return "blue" if value >= blue else "yellow" if value >= yellow else "red"
    return "blue" if value <= blue else "yellow" if value <= yellow else "red"


# ------------------------------------------------------------------------------------------ records

@dataclass(frozen=True)
class MethodRow:
    """One method in a scenario: published figures for the task, bands, scores, availability here."""

    method: str  # registry id, e.g. "swin-s"
    name: str  # the paper's spelling
    accuracy: float
    usability: float
    training_hours: float
    scalability: float  # 1 − normalised training hours of this task
    overall: float  # Figure 2a overall score
    scenario: float  # the paper's equal-weight scenario score (Figure 6)
    seggal_score: float  # SegGal's weighted score for these answers
    near_best: bool  # accuracy within ACCURACY_MARGIN of the task's best
    in_figure6: bool
    available: bool
    availability_reason: str
    bands: dict  # metric → "blue" | "yellow" | "red"
    usage_guide: str  # the authors' instructions for the method (URL)


@dataclass(frozen=True)
class Tie:
    """Candidates within the published rounding of the best value, and how the tie was broken.

    ``what``: ``accuracy`` (best published accuracy of the task), ``pick`` (SegGal's score) or
    ``training_set``; ``candidates``: method ids or training sets, the chosen one first; ``rule``:
    ``overall_order`` (the paper's Figure 2a order), ``paper_named`` (the set the paper names) or
    ``dataset_mean`` (higher mean over the dataset's tasks, then the name).
    """

    what: str
    value: float
    tolerance: float
    candidates: tuple[str, ...]
    chosen: str
    rule: str


@dataclass(frozen=True)
class Caveat:
    """Something the user must know before the answer. ``kind``: ``no_data``, ``unmeasured_tissue``,
    ``weak_tissue`` or ``cross_modality``; ``facts``: the numbers behind it (JSON-ready)."""

    kind: str
    facts: dict


@dataclass(frozen=True)
class Scale:
    """The benchmark's pixel size for the task's dataset against the user's (µm per pixel).

    ``factor``: the user's pixel size / the benchmark's: resize images by it so cells have the size the
    models were trained at (``None`` when the pixel size was not given).
    """

    dataset: str
    reference_um_per_px: float
    pixel_size_um: float | None
    factor: float | None


@dataclass(frozen=True)
class Postprocess:
    """Figure 5's expansion (``dilate``) or erosion (``erode``), as the evidence range.

    ``best_px``: the range of best steps the paper reports, in the benchmark's (TissueNet) pixels;
    ``best_um``: the same in µm; ``your_px``: in the user's pixels (``None`` without a pixel size);
    ``swept_px``: the steps the paper tried; ``tissue_best_px``: a step the paper reports for the user's
    own tissue, when it reports one.
    """

    mode: str
    best_px: tuple[int, int]
    best_um: tuple[float, float]
    reference_um_per_px: float
    your_px: tuple[float, float] | None
    swept_px: tuple[int, int]
    tissue_best_px: int | None


@dataclass(frozen=True)
class TrainingChoice:
    """Figure 4d's choice of training images. ``basis``: ``ample`` / ``none`` (all tissues),
    ``own_tissue``, ``transfer`` (the best-transferring set) or ``no_single_sets``. Accuracies are the
    single-set method's (``evidence_method``, Swin-S: the only method trained per set) on all test tissues."""

    training_set: str
    dataset: str  # whose annotated images: "TissueNet" or "LIVECell"
    basis: str
    evidence_method: str
    all_accuracy: float
    median: float
    failing: tuple[str, ...]
    set_accuracy: float | None  # the chosen set's single-set accuracy (None for All)
    own_accuracy: float | None  # the user's tissue's single-set accuracy, when it has one
    paper_named: str | None  # the set the paper names as most transferable, for this dataset
    paper_named_accuracy: float | None
    pick_has_single_sets: bool  # whether the picked method was itself trained per set


@dataclass(frozen=True)
class ChannelGain:
    """What another channel changes for the pick: accuracy on ``low`` vs ``high`` task, the mean change
    over all methods, and the method gaining most (id) with its two accuracies."""

    low: str
    high: str
    pick_low: float
    pick_high: float
    mean_change: float
    n_methods: int
    top: str
    top_low: float
    top_high: float


@dataclass(frozen=True)
class Recommendation:
    """The answer. ``methods`` is SegGal's ranking (first = the pick); ``figure6`` the paper's list.

    ``approach``: ``direct``, ``expand_nuclei`` or ``erode_cells`` (Figure 5); ``readings``: codes of how
    the answers were read (``phase_contrast_one_channel``, ``expand_nuclei``, ``erode_cells``,
    ``other_dataset_tissue``). ``checkpoint``: the gallery model id ``method/task/training_set``.
    """

    answers: Answers
    task: str
    approach: str
    readings: tuple[str, ...]
    tissue: str
    tissue_dataset: str | None
    methods: tuple[MethodRow, ...]
    figure6: tuple[MethodRow, ...]
    ties: tuple[Tie, ...]
    caveats: tuple[Caveat, ...]
    training: TrainingChoice
    fine_tune: bool
    checkpoint: str
    has_slot: bool  # the gallery holds the pick trained on training.training_set
    available: bool
    channel_gain: ChannelGain | None
    postprocess: Postprocess | None
    scale: Scale

    @property
    def choice(self) -> MethodRow:
        return self.methods[0]

    @property
    def training_set(self) -> str:
        return self.training.training_set

    def tie(self, what: str) -> Tie | None:
        return next((t for t in self.ties if t.what == what), None)

    def caveat(self, kind: str) -> Caveat | None:
        return next((c for c in self.caveats if c.kind == kind), None)

    def to_dict(self) -> dict:
        """JSON-ready dict (nested dataclasses become dicts)."""
        return asdict(self)


# ------------------------------------------------------------------------------------------ tables

@dataclass(frozen=True)
class _SingleSet:
    """One single-set model of a task (the paper trained these for Swin-S only)."""

    training_set: str
    method: str  # the paper's name
    method_id: str
    accuracy: float  # on all test tissues / cell types
    dataset_mean: float
    fails: bool


@dataclass(frozen=True)
class _Tables:
    """Everything recommend() reads, computed once per scores table as plain Python values."""

    scenario: dict  # task id → list of row dicts, the paper's scenario order (best first)
    accuracy: dict  # task id → {method id: accuracy of the All model}
    overall: dict  # method name → Figure 2a overall score, in Figure 2a order
    figure6: dict  # task id → list of method names
    single: dict  # task id → tuple of _SingleSet, highest accuracy first
    median: dict  # task id → median single-set accuracy (nan when none)
    slots: frozenset  # (task, method id, training set) of every gallery model
    guides: dict  # method id → usage-guide URL

    @classmethod
    def build(cls, scores: pd.DataFrame) -> _Tables:
        # Imported here so that importing this module (the CLI's parser, the page) stays light: scipy is slow.
        from seggal.ranking import figure6_methods, rank_table, scenario_scores

        overall = rank_table(scores).set_index("method")["overall"]
        scenario = {t.id: scenario_scores(scores, t.id).reset_index() for t in TASKS}
        single = {t.id: _single_sets(scores, t) for t in TASKS}
        return cls(
            scenario={k: v.to_dict("records") for k, v in scenario.items()},
            accuracy={k: dict(zip(v["method_id"], v["accuracy"].astype(float))) for k, v in scenario.items()},
            overall={str(k): float(v) for k, v in overall.items()},
            figure6={t.id: figure6_methods(scores, t.id) for t in TASKS},
            single={k: tuple(_SingleSet(r["training_set"], r["method"], r["method_id"], float(r["accuracy"]),
                                        float(r["dataset_mean"]), bool(r["fails"])) for r in v.to_dict("records"))
                    for k, v in single.items()},
            median={k: float(v["accuracy"].median()) for k, v in single.items()},
            slots=frozenset(zip(scores["task"], scores["method_id"], scores["training_set"])),
            guides=usage_guides(),
        )


def _single_sets(scores: pd.DataFrame, task: Task) -> pd.DataFrame:
    """The task's single-set models, highest accuracy on all test tissues first (then the higher mean over
    the dataset's tasks, then the name). Adds ``dataset_mean`` and ``fails`` (:data:`FAILING_FRACTION`)."""
    single = scores[scores["training_set"] != "All"]
    dataset_mean = single[single["dataset"] == task.dataset].groupby("training_set")["accuracy"].mean()
    own = single[single["task"] == task.id][["training_set", "method", "method_id", "accuracy"]].copy()
    own["fails"] = own["accuracy"] < FAILING_FRACTION * own["accuracy"].median()
    own["dataset_mean"] = own["training_set"].map(dataset_mean)
    return own.sort_values(["accuracy", "dataset_mean", "training_set"], ascending=[False, False, True])


@lru_cache(maxsize=1)
def _published() -> _Tables:
    from seggal.results import load_scores

    return _Tables.build(load_scores())


def _tables(scores: pd.DataFrame | None) -> _Tables:
    return _published() if scores is None else _Tables.build(scores)


def _transfer(tables: _Tables, task: Task) -> tuple[_SingleSet | None, Tie | None]:
    """The best-transferring working set and the tie it won (``None`` when it had no rival)."""
    working = [s for s in tables.single[task.id] if not s.fails]
    if not working:
        return None, None
    best = working[0].accuracy
    tied = [s for s in working if s.accuracy >= best - PUBLISHED_TIE - 1e-9]
    named = dict(PAPER.transfer_sets).get(task.dataset)
    chosen = next((s for s in tied if s.training_set == named), tied[0])
    if len(tied) == 1:
        return chosen, None
    rule = "paper_named" if chosen.training_set == named else "dataset_mean"
    others = [s.training_set for s in tied if s is not chosen]
    return chosen, Tie("training_set", best, PUBLISHED_TIE, (chosen.training_set, *others), chosen.training_set, rule)


def failing_training_sets(task: str, scores: pd.DataFrame | None = None) -> list[str]:
    """Training sets whose single-set model fails for ``task`` (see :data:`FAILING_FRACTION`)."""
    return sorted(s.training_set for s in _tables(scores).single[get_task(task).id] if s.fails)


def best_transfer_set(task: str, scores: pd.DataFrame | None = None) -> str | None:
    """The working single training set that transfers best for ``task``: the highest accuracy on all test
    tissues, ties (within the published rounding) broken by the set the paper names, else the higher mean
    over the dataset's tasks, then the name; ``None`` when the table has no single sets."""
    chosen, _ = _transfer(_tables(scores), get_task(task))
    return chosen.training_set if chosen else None


# ------------------------------------------------------------------------------------------ rules

def scenario_task(answers: Answers) -> tuple[Task, str, tuple[str, ...]]:
    """(task, approach, reading codes) for the answers' modality, target, channels."""
    a = answers
    if a.modality == "phase_contrast":
        readings = ("phase_contrast_one_channel",) if a.channels != "whole_cell" else ()
        task = find_task("LIVECell", "whole_cell", "whole_cell")
        return task, ("erode_cells" if a.target == "nuclei" else "direct"), readings
    if a.target == "whole_cell" and a.channels == "nuclear":
        return find_task("TissueNet", "nuclei", "nuclear"), "expand_nuclei", ("expand_nuclei",)
    if a.target == "nuclei" and a.channels == "whole_cell":
        return find_task("TissueNet", "whole_cell", "whole_cell"), "erode_cells", ("erode_cells",)
    return find_task("TissueNet", a.target, a.channels), "direct", ()


def _rows(tables: _Tables, task: Task, weights: Weights,
          runs_here: Callable[[str, str], Availability]) -> tuple[list[MethodRow], list[MethodRow], list[Tie]]:
    """(SegGal's ranking, Figure 6 rows, ties of the best accuracy and of the pick) for one task."""
    records = tables.scenario[task.id]
    best = max(r["accuracy"] for r in records)
    figure6 = tables.figure6[task.id]
    rows = []
    for r in records:
        avail = runs_here(r["method_id"], task.id)
        score = weights.accuracy * r["accuracy"] + weights.usability * r["usability"] + weights.training_time * r["scalability"]
        rows.append(MethodRow(
            method=r["method_id"], name=r["method"], accuracy=float(r["accuracy"]),
            usability=float(r["usability"]), training_hours=float(r["training_hours"]),
            scalability=round(float(r["scalability"]), 6), overall=round(tables.overall[r["method"]], 6),
            scenario=round(float(r["scenario"]), 6), seggal_score=round(float(score), 6),
            near_best=bool(r["accuracy"] >= best - ACCURACY_MARGIN - 1e-9), in_figure6=r["method"] in figure6,
            available=avail.available, availability_reason=avail.reason,
            bands={m: band(m, r[m]) for m in BAND_METRICS}, usage_guide=tables.guides.get(r["method_id"], ""),
        ))
    order = list(tables.overall)
    rows.sort(key=lambda m: (not m.near_best, -m.seggal_score, order.index(m.name)))
    # SegGal's score is built from two-decimal accuracies and usabilities: scores within what that rounding
    # can move are a tie, broken by the paper's Figure 2a overall order.
    tolerance = round((weights.accuracy + weights.usability) * PUBLISHED_TIE, 6)
    tied = [m for m in rows if m.near_best and m.seggal_score >= rows[0].seggal_score - tolerance - 1e-9]
    tied.sort(key=lambda m: order.index(m.name))
    rows = tied + [m for m in rows if m not in tied]
    ties = []
    if len(tied) > 1:
        ties.append(Tie("pick", tied[0].seggal_score, tolerance, tuple(m.method for m in tied), tied[0].method,
                        "overall_order"))
    top = sorted((m for m in rows if m.accuracy >= best - PUBLISHED_TIE - 1e-9), key=lambda m: order.index(m.name))
    if len(top) > 1:
        ties.append(Tie("accuracy", best, PUBLISHED_TIE, tuple(m.method for m in top), top[0].method, "overall_order"))
    by_name = {m.name: m for m in rows}
    return rows, [by_name[n] for n in figure6], ties


def _training(tables: _Tables, task: Task, tissue: str, tissue_dataset: str | None, compute: str,
              pick: MethodRow) -> tuple[TrainingChoice, Tie | None]:
    """Figure 4d's choice of training images, and the training-set tie it broke."""
    single = tables.single[task.id]
    named = dict(PAPER.transfer_sets).get(task.dataset)
    by_set = {s.training_set: s for s in single}
    common = dict(
        dataset=task.dataset, median=tables.median[task.id],
        failing=tuple(sorted(s.training_set for s in single if s.fails)),
        paper_named=named, paper_named_accuracy=by_set[named].accuracy if named in by_set else None,
        pick_has_single_sets=any((task.id, pick.method, s.training_set) in tables.slots for s in single),
    )
    if not single:
        return TrainingChoice("All", basis="no_single_sets", evidence_method="", all_accuracy=math.nan,
                              set_accuracy=None, own_accuracy=None, **common), None
    evidence = single[0]
    all_accuracy = tables.accuracy[task.id].get(evidence.method_id, math.nan)
    own = by_set.get(tissue) if tissue_dataset == task.dataset else None
    base = dict(evidence_method=evidence.method, all_accuracy=all_accuracy,
                own_accuracy=own.accuracy if own else None, **common)
    if compute in ("ample", "none"):
        return TrainingChoice("All", basis=compute, set_accuracy=None, **base), None
    if own is not None and not own.fails:
        return TrainingChoice(tissue, basis="own_tissue", set_accuracy=own.accuracy, **base), None
    chosen, tie = _transfer(tables, task)
    return TrainingChoice(chosen.training_set, basis="transfer", set_accuracy=chosen.accuracy, **base), tie


def _gain(tables: _Tables, pick: str, low: str, high: str) -> ChannelGain:
    a, b = tables.accuracy[low], tables.accuracy[high]
    gains = {m: b[m] - a[m] for m in b if m in a}
    top = max(gains, key=gains.get)
    return ChannelGain(low, high, a[pick], b[pick], round(sum(gains.values()) / len(gains), 6), len(gains), top,
                       a[top], b[top])


def _channel_gain(tables: _Tables, task: Task, approach: str, pick: MethodRow) -> ChannelGain | None:
    """What another channel would change for the pick (Figure 2a), by task lookup; TissueNet only.

    ``low`` is the task answered, ``high`` the task another channel opens: the dual-channel task of the same
    target, or for Figure 5's workarounds the task that segments the target directly.
    """
    if task.dataset != "TissueNet":
        return None
    if approach == "erode_cells":
        low, high = task, find_task("TissueNet", "nuclei", "nuclear")
    elif approach == "expand_nuclei":
        low, high = task, find_task("TissueNet", "whole_cell", "dual")
    else:
        single = "nuclear" if task.target == "nuclei" else "whole_cell"  # the target's own channel alone
        low, high = find_task("TissueNet", task.target, single), find_task("TissueNet", task.target, "dual")
    return _gain(tables, pick.method, low.id, high.id)


def _postprocess(approach: str, tissue: str, pixel_size_um: float | None) -> Postprocess | None:
    if approach == "direct":
        return None
    reference = dict(PAPER.pixel_size_um)["TissueNet"]  # Figure 5 was measured on TissueNet
    expand = approach == "expand_nuclei"
    best = PAPER.expansion_best_px if expand else PAPER.erosion_best_px
    tissue_best = None
    if expand and tissue == PAPER.expansion_worse:
        tissue_best = 0
    elif expand and tissue == PAPER.expansion_peak[1]:
        tissue_best = PAPER.expansion_peak[2]
    your = None if pixel_size_um is None else tuple(round(p * reference / pixel_size_um, 2) for p in best)
    return Postprocess("dilate" if expand else "erode", best, tuple(round(p * reference, 3) for p in best),
                       reference, your, PAPER.swept_px, tissue_best)


def _caveats(tables: _Tables, answers: Answers, task: Task, approach: str, tissue: str, tissue_dataset: str | None,
             methods: list[MethodRow]) -> list[Caveat]:
    caveats = []
    if answers.modality == "phase_contrast" and answers.target == "nuclei":
        caveats.append(Caveat("no_data", {"modality": "phase_contrast", "target": "nuclei",
                                          "nearest_task": task.id}))
    if tissue_given(answers.tissue) and tissue_dataset != task.dataset:
        caveats.append(Caveat("unmeasured_tissue", {"tissue": answers.tissue.strip(), "dataset": task.dataset,
                                                    "matched": tissue if tissue != OTHER else None,
                                                    "matched_dataset": tissue_dataset}))
    single = {s.training_set: s for s in tables.single[task.id]}
    if tissue_dataset == task.dataset and tissue in single and single[tissue].fails:
        dual = PAPER.dual(tissue)
        facts = {"tissue": tissue, "single_set_accuracy": single[tissue].accuracy,
                 "median": tables.median[task.id], "evidence_method": single[tissue].method,
                 "has_dual": answers.channels == "dual", "dual": None}
        if dual is not None and answers.target == "nuclei":
            facts["dual"] = {"method": dual[1], "single": dual[2], "dual": dual[3]}
        caveats.append(Caveat("weak_tissue", facts))
    if task.dataset == "TissueNet" and (approach != "direct" or task.target == "nuclei"):
        ids = {m.name: m for m in methods}
        caveats.append(Caveat("cross_modality", {
            "transfers": [{"method": ids[n].method, "accuracy": ids[n].accuracy} for n in PAPER.cross_modality
                          if n in ids],
            "approach": approach,
        }))
    return caveats


def recommend(answers: Answers, scores: pd.DataFrame | None = None,
              runs_here: Callable[[str, str], Availability] = ready_here) -> Recommendation:
    """Answers → :class:`Recommendation` (default: the published scores, ``seggal.results.load_scores``).

    ``runs_here``: (method id, task id) → :class:`seggal.methods.Availability`: whether it runs that task
    here (default :func:`seggal.gallery.runs_here`: a ready checkpoint, weights on this machine).
    """
    if not isinstance(answers, Answers):
        raise SegGalError(f"recommend() needs an Answers, not {type(answers).__name__}")
    tables = _tables(scores)
    task, approach, readings = scenario_task(answers)
    tissue, tissue_dataset = match_tissue(answers.tissue)
    if tissue_dataset not in (None, task.dataset):
        readings += ("other_dataset_tissue",)
    methods, figure6, ties = _rows(tables, task, WEIGHTS[answers.compute], runs_here)
    pick = methods[0]
    training, set_tie = _training(tables, task, tissue, tissue_dataset, answers.compute, pick)
    has_slot = (task.id, pick.method, training.training_set) in tables.slots
    reference = dict(PAPER.pixel_size_um)[task.dataset]
    pixel = answers.pixel_size_um
    return Recommendation(
        answers=answers, task=task.id, approach=approach, readings=readings, tissue=tissue,
        tissue_dataset=tissue_dataset, methods=tuple(methods), figure6=tuple(figure6),
        ties=tuple(ties) + ((set_tie,) if set_tie else ()),
        caveats=tuple(_caveats(tables, answers, task, approach, tissue, tissue_dataset, methods)),
        training=training, fine_tune=answers.annotations == "yes" and answers.compute != "none",
        checkpoint=f"{pick.method}/{task.id}/{training.training_set if has_slot else 'All'}", has_slot=has_slot,
        available=pick.available, channel_gain=_channel_gain(tables, task, approach, pick),
        postprocess=_postprocess(approach, tissue, pixel),
        scale=Scale(task.dataset, reference, pixel, None if pixel is None else round(pixel / reference, 4)),
    )


def ordered(rows, by: str) -> list[MethodRow]:
    """``rows`` ordered as the website's per-task control does (:data:`ORDERINGS`), best first; ties keep
    the given order. Scalability is higher for less training time."""
    if by not in ORDERINGS:
        raise SegGalError(f"order: {by!r} is not one of {', '.join(ORDERINGS)}")
    return sorted(rows, key=lambda m: -getattr(m, ORDERINGS[by]))


def method_name(method_id: str) -> str:
    """The paper's spelling of a registry method id."""
    return get_method(method_id).name
