"""The Guideline: questionnaire answers → a recommended method, training data and advice, with reasons.

Pure: :func:`recommend` reads only the published scores table (or the one it is given) and which
methods run in this installation (looked up once per scores table), and returns plain dataclasses; the
same answers give an equal result.

It turns the paper's guidance into rules, each computed from the scores table, never from hard-coded
method or tissue names:

* **Scenario → task** (:func:`scenario_task`). The answered target and channels pick one of the five
  tasks. When the channels cannot give the target directly, the paper's Figure 5 workaround is used:
  whole cells from a nuclear channel only → segment nuclei, then expand them; nuclei from a membrane
  channel only → segment whole cells, then erode them. Phase-contrast images are answered with the one
  phase-contrast task (LIVECell whole cells): a nuclei target or a dual / nuclear channel answer with
  phase contrast is *mapped* to it, and the recommendation's ``notes`` say so (SegGal does not refuse,
  because the nearest benchmarked task still tells the user which methods handle such images).
* **Methods.** Two rankings are shown. *Figure 6*, faithfully: the union of the top three by overall
  score and the top three by the task's accuracy, ranked by overall (:func:`seggal.ranking.figure6_methods`).
  *SegGal's own*: a weighted mean of the task's accuracy, the usability score and the task's
  scalability (1 − normalised training time), weights chosen by the compute answer (:data:`WEIGHTS`:
  with no compute the user downloads a gallery checkpoint, so training hours do not count; accuracy
  always weighs most). Only methods whose accuracy is within :data:`ACCURACY_MARGIN` of the task's best
  published accuracy may come first, so the first pick is never far below the best (the paper's
  equal-weight scenario score, by contrast, ranks Segment Anything first for whole cells from the
  membrane channel at an accuracy of 0.08, because it needs no training).
* **Training data** (Figure 4d), from the single-set (Swin-S) models' accuracies on all test tissues:
  ample compute → ``All``; no compute → the gallery checkpoint trained on ``All``; limited compute → the
  user's own tissue when its single-set model works, otherwise the set that transfers best. A set
  *fails* when its accuracy is below :data:`FAILING_FRACTION` of the median single-set accuracy of the
  task (lung and spleen, trained on very few images, collapse to ≤ 0.04); a failing set is never
  recommended.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from seggal.errors import SegGalError
from seggal.gallery import runs_here
from seggal.methods import get_method
from seggal.tasks import LIVECELL_CELL_TYPES, TASKS, TISSUENET_TISSUES, Task, find_task, get_task

if TYPE_CHECKING:
    import pandas as pd

MODALITIES = ("fluorescence", "phase_contrast")
TARGETS = ("nuclei", "whole_cell")
CHANNELS = ("dual", "nuclear", "whole_cell")
COMPUTE = ("none", "limited", "ample")
ANNOTATIONS = ("none", "same_tissue")
OTHER = "other"

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

# The paper's colour bands (Figure 6 legend).
BAND_METRICS = ("accuracy", "usability", "training_hours")
BAND_COLOURS = {"blue": "#9ecae1", "yellow": "#fde68a", "red": "#fca5a5"}

#: Figures the paper quotes in its Results text (Figure 5, Supplementary Figure 2) that the per-model scores
#: table does not hold; cited, not computed.
PAPER_EXPANSION = "Swin-S in epidermis rose from 0.341 to 0.598 when its nuclei were expanded (Figure 5b)"
PAPER_EXPANSION_PX = 6  # ResNeSt in tonsil peaked at a 6-pixel expansion (Figure 5b)
PAPER_EXPANSION_WORSE = "Colon"  # ResNeSt in colon got worse with any expansion (Figure 5b)
PAPER_EROSION_PX = 1  # eroding whole cells into nuclei was mostly best at 1 pixel (Figure 5c)
PAPER_DUAL_NUCLEI = {  # Centermask2, nuclei, single → dual channel (Results, Supplementary Figure 2)
    "Lung": (0.308, 0.655),
    "Esophagus": (0.691, 0.759),
}


def band(metric: str, value: float) -> str | None:
    """The paper's colour band of one value: ``"blue"``, ``"yellow"`` or ``"red"`` (``None`` for NaN).

    accuracy / usability: ≥ 0.5 blue, ≥ 0.25 yellow, else red; training_hours: ≤ 24 blue, ≤ 48 yellow,
    > 48 red.
    """
    if metric not in BAND_METRICS:
        raise SegGalError(f"no colour band for {metric!r}; banded metrics: {', '.join(BAND_METRICS)}")
    if value is None or math.isnan(float(value)):
        return None
    value = float(value)
    if metric == "training_hours":
        return "blue" if value <= 24 else "yellow" if value <= 48 else "red"
    return "blue" if value >= 0.5 else "yellow" if value >= 0.25 else "red"


def band_css(metric: str, value: float) -> str:
    """A CSS ``background-color`` for :func:`band` (empty for NaN), for pandas ``Styler.map``."""
    colour = band(metric, value)
    return f"background-color: {BAND_COLOURS[colour]}; color: black" if colour else ""


# --------------------------------------------------------------------------------------------- answers

def _choice(field: str, value, allowed: tuple[str, ...]) -> str:
    key = re.sub(r"[\s-]+", "_", str(value).strip().lower())
    if key not in allowed:
        raise SegGalError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
    return key


@dataclass(frozen=True)
class Answers:
    """The questionnaire. Choices are normalised (``"Phase contrast"`` → ``phase_contrast``) and
    validated; an unknown value raises :class:`SegGalError` listing the allowed ones. ``tissue`` is free
    text, matched by :func:`match_tissue`."""

    modality: str = "fluorescence"
    target: str = "nuclei"
    channels: str = "dual"
    tissue: str = OTHER
    compute: str = "limited"
    annotations: str = "none"

    def __post_init__(self):
        for field, allowed in (("modality", MODALITIES), ("target", TARGETS), ("channels", CHANNELS),
                               ("compute", COMPUTE), ("annotations", ANNOTATIONS)):
            object.__setattr__(self, field, _choice(field, getattr(self, field), allowed))
        if not isinstance(self.tissue, str):
            raise SegGalError(f"tissue: {self.tissue!r} is not text")


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_KNOWN = {_squash(t): (t, "TissueNet") for t in TISSUENET_TISSUES} | {
    _squash(c): (c, "LIVECell") for c in LIVECELL_CELL_TYPES
}


def match_tissue(text: str) -> tuple[str, str | None]:
    """Free text → (the datasets' spelling, dataset) or (``"other"``, ``None``).

    Case, spaces and punctuation are ignored: ``"lymph node metastasis"`` → ``Lymph Node Metastasis``,
    ``"MCF-7"`` → ``MCF7``, ``"sh sy5y"`` → ``SH-SY5Y``.
    """
    return _KNOWN.get(_squash(text), (OTHER, None))


# ------------------------------------------------------------------------------------- recommendation

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


@dataclass(frozen=True)
class Recommendation:
    """The answer. ``methods`` is SegGal's ranking (first = the pick); ``figure6`` the paper's list.

    ``approach``: ``direct``, ``expand_nuclei`` or ``erode_cells`` (Figure 5); ``postprocess`` the step
    to try for the latter two, ``{"mode": "dilate"|"erode", "px": int}``. ``training_set`` is a gallery
    training set (``All`` or one tissue / cell line); ``fine_tune``: also fine-tune on the user's own
    annotations. ``checkpoint``: the gallery model id ``method/task/training_set``.
    """

    answers: Answers
    task: str
    approach: str
    postprocess: dict | None
    tissue: str
    methods: tuple[MethodRow, ...]
    figure6: tuple[MethodRow, ...]
    training_set: str
    fine_tune: bool
    checkpoint: str
    available: bool
    advice: tuple[str, ...]
    reasons: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def choice(self) -> MethodRow:
        return self.methods[0]

    def to_dict(self) -> dict:
        """JSON-ready dict (nested dataclasses become dicts)."""
        return asdict(self)


@dataclass(frozen=True)
class _SingleSet:
    """One single-set model of a task (the paper trained these for Swin-S only)."""

    training_set: str
    method: str  # the paper's name
    method_id: str
    accuracy: float  # on all test tissues / cell types
    fails: bool


@dataclass(frozen=True)
class _Tables:
    """Everything recommend() reads, computed once per scores table as plain Python values (per process for
    the published table, including which methods run here)."""

    scenario: dict  # task id → list of row dicts, the paper's scenario order (best first)
    accuracy: dict  # task id → {method id: accuracy of the All model}
    overall: dict  # method name → Figure 2a overall score, in Figure 2a order
    figure6: dict  # task id → list of method names
    single: dict  # task id → tuple of _SingleSet, best transfer first
    median: dict  # task id → median single-set accuracy (nan when none)
    slots: frozenset  # (task, method id, training set) of every gallery model

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
                                        bool(r["fails"])) for r in v.to_dict("records")) for k, v in single.items()},
            median={k: float(v["accuracy"].median()) for k, v in single.items()},
            slots=frozenset(zip(scores["task"], scores["method_id"], scores["training_set"])),
        )


def _single_sets(scores: pd.DataFrame, task: Task) -> pd.DataFrame:
    """The task's single-set models, best transfer first: highest accuracy on all test tissues, then the
    higher mean over the dataset's tasks, then the name. Adds ``fails`` (see :data:`FAILING_FRACTION`)."""
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


def failing_training_sets(task: str, scores: pd.DataFrame | None = None) -> list[str]:
    """Training sets whose single-set model fails for ``task`` (see :data:`FAILING_FRACTION`)."""
    return sorted(s.training_set for s in _tables(scores).single[get_task(task).id] if s.fails)


def best_transfer_set(task: str, scores: pd.DataFrame | None = None) -> str | None:
    """The non-failing single training set with the highest accuracy on all test tissues for ``task`` (ties:
    the higher mean over the dataset's tasks, then the name); ``None`` when the table has no single sets."""
    return next((s.training_set for s in _tables(scores).single[get_task(task).id] if not s.fails), None)


def scenario_task(answers: Answers) -> tuple[Task, str, tuple[str, ...]]:
    """(task, approach, notes on how the answers were read) for the answers' modality, target, channels."""
    a = answers
    if a.modality == "phase_contrast":
        notes = []
        if a.channels != "whole_cell":
            notes.append(
                f"Phase-contrast images have a single channel, so channels={a.channels!r} is read as the "
                "whole phase-contrast image (the only phase-contrast task benchmarked: LIVECell whole cells)."
            )
        approach = "direct"
        if a.target == "nuclei":
            approach = "erode_cells"
            notes.append(
                "No benchmarked task segments nuclei in phase-contrast images; SegGal answers for LIVECell "
                "whole cells and suggests eroding them into approximate nuclei (Figure 5c measured this on "
                "fluorescence tissue, so check it on your images)."
            )
        return find_task("LIVECell", "whole_cell", "whole_cell"), approach, tuple(notes)
    if a.target == "whole_cell" and a.channels == "nuclear":
        return find_task("TissueNet", "nuclei", "nuclear"), "expand_nuclei", (
            "Whole cells from a nuclear channel only: SegGal ranks methods for TissueNet nuclei from the nuclear "
            "channel, to be expanded into whole cells (Figure 5b).",
        )
    if a.target == "nuclei" and a.channels == "whole_cell":
        return find_task("TissueNet", "whole_cell", "whole_cell"), "erode_cells", (
            "Nuclei from a membrane channel only: SegGal ranks methods for TissueNet whole cells from the "
            "membrane channel, to be eroded into nuclei (Figure 5c).",
        )
    return find_task("TissueNet", a.target, a.channels), "direct", ()


def _rows(tables: _Tables, task: Task, weights: Weights) -> tuple[list[MethodRow], list[MethodRow]]:
    """(SegGal's ranking, Figure 6 rows) for one task."""
    records = tables.scenario[task.id]
    best = max(r["accuracy"] for r in records)
    figure6 = tables.figure6[task.id]
    rows = []
    for r in records:
        avail = runs_here(r["method_id"], task.id)  # ready here: weights on this machine (seggal.gallery)
        score = weights.accuracy * r["accuracy"] + weights.usability * r["usability"] + weights.training_time * r["scalability"]
        rows.append(MethodRow(
            method=r["method_id"], name=r["method"], accuracy=float(r["accuracy"]),
            usability=float(r["usability"]), training_hours=float(r["training_hours"]),
            scalability=round(float(r["scalability"]), 6), overall=round(tables.overall[r["method"]], 6),
            scenario=round(float(r["scenario"]), 6), seggal_score=round(float(score), 6),
            near_best=bool(r["accuracy"] >= best - ACCURACY_MARGIN - 1e-9), in_figure6=r["method"] in figure6,
            available=avail.available, availability_reason=avail.reason,
            bands={m: band(m, r[m]) for m in BAND_METRICS},
        ))
    # Ties (Swin-S and Swin-T often score alike) fall back to accuracy, then the Figure 2a overall order.
    order = list(tables.overall)
    rows.sort(key=lambda m: (not m.near_best, -m.seggal_score, -m.accuracy, order.index(m.name)))
    by_name = {m.name: m for m in rows}
    return rows, [by_name[n] for n in figure6]


def _training_data(tables: _Tables, task: Task, tissue: str, tissue_dataset: str | None,
                   compute: str) -> tuple[str, list[str]]:
    """Figure 4d: (training set, reasons with numbers)."""
    single = tables.single[task.id]
    if not single:
        return "All", ["The scores table has no single-set models for this task, so SegGal recommends all tissues."]
    who = single[0].method
    all_acc = tables.accuracy[task.id].get(single[0].method_id, math.nan)
    median = tables.median[task.id]
    failing = sorted(s.training_set for s in single if s.fails)
    fail_text = (f"Training sets that fail for this task ({who} below {FAILING_FRACTION:.2f} × the median "
                 f"single-set accuracy {median:.2f}): {', '.join(failing) or 'none'}; SegGal never recommends them.")
    if compute == "ample":
        return "All", [
            f"Ample compute: train on all {task.dataset} tissues / cell types (Figure 4d). {who} trained on all "
            f"scores {all_acc:.2f} versus {median:.2f} for the median single-set model.", fail_text]
    if compute == "none":
        return "All", [
            f"No compute: download the gallery model trained on all {task.dataset} tissues / cell types; {who} "
            f"trained on all scores {all_acc:.2f} on the test split versus {median:.2f} for the median "
            "single-set model.", fail_text]
    own = next((s for s in single if s.training_set == tissue and tissue_dataset == task.dataset), None)
    if own is not None and not own.fails:
        return tissue, [
            f"Limited compute: train on {tissue} images, the tissue you segment (Figure 4d). The paper finds "
            f"same-tissue training nearly as good as all tissues on that tissue, and {who} trained on {tissue} "
            f"alone works (accuracy {own.accuracy:.2f} on all test tissues; median single set {median:.2f}). The "
            f"gallery model trained on all tissues ({who}: {all_acc:.2f}) needs no training at all.", fail_text]
    best = next(s for s in single if not s.fails)
    if own is not None:
        why = f"{who} trained on {tissue} alone fails (accuracy {own.accuracy:.2f})"
    elif tissue != OTHER and tissue_dataset == task.dataset:
        why = f"the scores have no model trained on {tissue} alone"
    else:
        why = f"your tissue is not in {task.dataset}"
    return best.training_set, [
        f"Limited compute and {why}: train on {best.training_set}, the set that transfers best — {who} "
        f"trained on it scores {best.accuracy:.2f} on all test tissues, the highest single-set accuracy for "
        f"this task (Figure 4d; median {median:.2f}; the gallery model trained on all tissues, {all_acc:.2f}, "
        "needs no training at all).", fail_text]


def _gain(tables: _Tables, method: str, low: str, high: str) -> tuple[float, float, float, str]:
    """(``method``'s accuracy on task ``low``, on ``high``, mean gain over methods, the method gaining most)."""
    a, b = tables.accuracy[low], tables.accuracy[high]
    gains = {m: b[m] - a[m] for m in b if m in a}
    return a[method], b[method], sum(gains.values()) / len(gains), max(gains, key=gains.get)


def _advice(tables: _Tables, answers: Answers, task: Task, approach: str, tissue: str,
            pick: MethodRow) -> tuple[list[str], dict | None]:
    """Channel and post-processing advice (Figures 2a and 5), with numbers from the scores."""
    name = pick.name
    n = len(tables.accuracy[task.id])
    if approach == "expand_nuclei":
        px = 0 if tissue == PAPER_EXPANSION_WORSE else PAPER_EXPANSION_PX
        text = (
            f"Segment nuclei with {name} (nuclear channel: accuracy {pick.accuracy:.2f}), then expand each nucleus "
            f"into a whole cell (Figure 5b); models trained on nuclei do not transfer to whole-cell images "
            f"(Figure 5a). The paper: {PAPER_EXPANSION}. Try {PAPER_EXPANSION_PX} px first (ResNeSt's best step "
            f"in tonsil); the best step varies by tissue ({PAPER_EXPANSION_WORSE.lower()} got worse with any "
            "expansion), so run the Segment page's dilation sweep against a ground-truth annotation to find it."
        )
        if tissue == PAPER_EXPANSION_WORSE:
            text += f" Your tissue is {tissue}: compare with no expansion (0 px) first."
        dual = tables.accuracy["tissuenet-wholecell-dual"][pick.method]
        return [text, f"If you can add a membrane channel, whole cells can be segmented directly: {name} scores "
                      f"{dual:.2f} on TissueNet whole cells from dual channels."], {"mode": "dilate", "px": px}
    if approach == "erode_cells":
        advice = [
            f"Segment whole cells with {name} (accuracy {pick.accuracy:.2f} for {task.label}), then erode each "
            f"cell by {PAPER_EROSION_PX} px into an approximate nucleus: the paper found erosion mostly best at "
            "1 px, with modest gains (Figure 5c). Do not apply a model trained on nuclei to these images: all "
            "methods fail across that change of modality (Figure 5a). The Segment page's erosion sweep checks "
            "the step against a ground truth."
        ]
        if answers.modality == "fluorescence":
            direct = tables.accuracy["tissuenet-nuclei-nuclear"][pick.method]
            advice.append(f"A nuclear channel would let you segment nuclei directly: {name} scores {direct:.2f} on "
                          "TissueNet nuclei from the nuclear channel.")
        return advice, {"mode": "erode", "px": PAPER_EROSION_PX}
    if task.target == "whole_cell" and task.dataset == "TissueNet":
        low, high = "tissuenet-wholecell-wholecell", "tissuenet-wholecell-dual"
        single, dual, mean, top = _gain(tables, pick.method, low, high)
        what = ("Adding the nuclear channel would raise" if answers.channels == "whole_cell"
                else "Your nuclear channel raises")
        return [
            f"{what} {name} from {single:.2f} (membrane channel only) to {dual:.2f} (dual) on TissueNet whole "
            f"cells; the mean gain over the {n} methods is {mean:+.2f}, the largest {get_method(top).name} "
            f"{tables.accuracy[low][top]:.2f} → {tables.accuracy[high][top]:.2f}. Dual channels greatly enhance "
            "whole-cell segmentation (Results, Figure 2a)."
        ], None
    if task.target == "nuclei":
        single, dual, mean, _ = _gain(tables, pick.method, "tissuenet-nuclei-nuclear", "tissuenet-nuclei-dual")
        lung, esophagus = PAPER_DUAL_NUCLEI["Lung"], PAPER_DUAL_NUCLEI["Esophagus"]
        verdict = "suffices" if abs(dual - single) <= ACCURACY_MARGIN else (
            "falls short" if dual > single else "is better for this method")
        text = (
            f"One nuclear channel {verdict} for {name}: {single:.2f} from the nuclear channel versus {dual:.2f} "
            f"from dual channels (mean change over {n} methods {mean:+.2f}). The gain depends on the tissue: in "
            f"esophagus Centermask2 went only from {esophagus[0]} to {esophagus[1]}, in lung from {lung[0]} to "
            f"{lung[1]} (Results)."
        )
        if tissue in PAPER_DUAL_NUCLEI:
            before, after = PAPER_DUAL_NUCLEI[tissue]
            text += (f" Your tissue is {tissue}: " + ("acquire the membrane channel too if you can."
                     if after - before > ACCURACY_MARGIN else "the nuclear channel alone is nearly as good."))
        return [text], None
    return [], None


def _versus(pick: MethodRow, runner_up: MethodRow | None) -> str:
    if runner_up is None:
        return "."
    if runner_up.seggal_score < pick.seggal_score:
        return f", ahead of {runner_up.name} ({runner_up.seggal_score:.3f})."
    return (f", tied with {runner_up.name}; the higher accuracy, then the Figure 2a overall order, breaks the tie.")


def recommend(answers: Answers, scores: pd.DataFrame | None = None) -> Recommendation:
    """Answers → :class:`Recommendation` (default: the published scores, ``seggal.results.load_scores``)."""
    if not isinstance(answers, Answers):
        raise SegGalError(f"recommend() needs an Answers, not {type(answers).__name__}")
    tables = _tables(scores)
    task, approach, notes = scenario_task(answers)
    notes = list(notes)
    tissue, tissue_dataset = match_tissue(answers.tissue)
    if tissue == OTHER and answers.tissue.strip():
        notes.append(f"{answers.tissue.strip()!r} is not a {task.dataset} tissue / cell type: read as 'other'.")
    elif tissue_dataset not in (None, task.dataset):
        notes.append(f"{tissue} is a {tissue_dataset} {'tissue' if tissue_dataset == 'TissueNet' else 'cell line'}, "
                     f"but your images match {task.dataset}: SegGal treats it as 'other'.")
    weights = WEIGHTS[answers.compute]
    methods, figure6 = _rows(tables, task, weights)
    pick = methods[0]
    best = max(methods, key=lambda m: m.accuracy)
    near = [m for m in methods if m.near_best]

    reasons = [
        f"{pick.name} is SegGal's pick for {task.label}: accuracy {pick.accuracy:.2f} (best published "
        f"{best.accuracy:.2f}, {best.name}), usability {pick.usability:.2f}, {pick.training_hours:g} training hours. "
        f"SegGal chooses among the {len(near)} methods within {ACCURACY_MARGIN} of the best accuracy and, for "
        f"compute={answers.compute!r}, weighs accuracy {weights.accuracy}, usability {weights.usability} and "
        f"training time {weights.training_time}: {pick.name} scores {pick.seggal_score:.3f}"
        + _versus(pick, methods[1] if len(near) > 1 else None),
    ]
    paper_top = tables.scenario[task.id][0]["method"]
    paper_row = next(m for m in methods if m.name == paper_top)
    if paper_top != pick.name:
        reasons.append(
            f"The paper's equal-weight scenario score (accuracy, usability, scalability) puts {paper_top} first "
            f"({paper_row.scenario:.3f}) with accuracy {paper_row.accuracy:.2f}"
            + (", outside SegGal's margin" if not paper_row.near_best else "")
            + (": it needs no training, which matters little when you download a checkpoint." if paper_row.training_hours == 0 else ".")
        )
    reasons.append(
        "Figure 6 (the paper's rule: the top three by overall score and by this task's accuracy, ranked by "
        f"overall) lists {', '.join(m.name for m in figure6)}; SegGal's pick is "
        + ("one of them." if pick.in_figure6 else "not among them, because its accuracy and usability outweigh the overall score here.")
    )
    training_set, data_reasons = _training_data(tables, task, tissue, tissue_dataset, answers.compute)
    reasons += data_reasons
    fine_tune = answers.annotations == "same_tissue" and answers.compute != "none"
    has_slot = (task.id, pick.method, training_set) in tables.slots
    checkpoint = f"{pick.method}/{task.id}/{training_set if has_slot else 'All'}"
    advice, postprocess = _advice(tables, answers, task, approach, tissue, pick)
    if not has_slot:
        advice.append(f"The gallery has no {pick.name} model trained on {training_set} alone (its single-set models "
                      f"are Swin-S only): train {pick.name} on {training_set} yourself, or start from {checkpoint}.")
    if fine_tune:
        advice.append(f"You have annotations of your own tissue: fine-tune {checkpoint} on them — same-tissue "
                      "training images are what Figure 4d asks for first.")
    elif answers.annotations == "same_tissue":
        advice.append("Without compute for training, use your annotations to score the gallery model on the Segment "
                      "page (and to choose the expansion / erosion step there).")
    avail_text = ("runs in this installation" if pick.available
                  else f"does not run in this installation ({pick.availability_reason})")
    first_available = next((m for m in methods if m.available and m.near_best), None)
    reasons.append(f"Gallery checkpoint: {checkpoint}. {pick.name} {avail_text}."
                   + (f" The best-ranked method that runs here is {first_available.name}."
                      if not pick.available and first_available else ""))
    return Recommendation(
        answers=answers, task=task.id, approach=approach, postprocess=postprocess, tissue=tissue,
        methods=tuple(methods), figure6=tuple(figure6), training_set=training_set, fine_tune=fine_tune,
        checkpoint=checkpoint, available=pick.available, advice=tuple(advice), reasons=tuple(reasons),
        notes=tuple(notes),
    )


__all__ = [
    "ACCURACY_MARGIN", "ANNOTATIONS", "Answers", "BAND_COLOURS", "BAND_METRICS", "CHANNELS", "COMPUTE",
    "FAILING_FRACTION", "MODALITIES", "MethodRow", "Recommendation", "TARGETS", "WEIGHTS", "band", "band_css",
    "best_transfer_set", "failing_training_sets", "match_tissue", "recommend", "scenario_task",
]
