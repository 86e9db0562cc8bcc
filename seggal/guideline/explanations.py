"""The Guideline's English: :class:`~seggal.guideline.rules.Recommendation` records → sentences.

Every number in the text comes from the record (computed from the scores) or from
:data:`seggal.guideline.rules.PAPER` (cited); nothing here decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from seggal.guideline.rules import (
    ACCURACY_MARGIN, BANDS, PAPER, WEIGHTS, Caveat, Recommendation, Tie, Weights, method_name,
)
from seggal.tasks import get_task

APPROACH = {"direct": "", "expand_nuclei": ", then expand the nuclei into whole cells",
            "erode_cells": ", then erode the cells into nuclei"}
TIE_RULES = {
    "overall_order": "the paper's Figure 2a overall order (the order Figure 6 ranks by) breaks the tie",
    "paper_named": "the paper names {chosen} as the most transferable set, so SegGal takes it",
    "dataset_mean": "the higher mean accuracy over the dataset's tasks, then the name, breaks the tie",
}
SCORES_NOTE = (
    "Two scores, two questions. SegGal's score answers *yours*: it weighs accuracy most and, with no compute, "
    "ignores training time; it never puts first a method more than {margin} below the best accuracy. The "
    "paper's scenario score (Figure 6) weighs accuracy, usability and scalability equally for everyone, so a "
    "method that needs no training can top it with a poor accuracy. For the quality of the masks, trust the "
    "accuracy column; use the paper's score to see what is quick to run."
)


@dataclass(frozen=True)
class Explanation:
    """The recommendation in words: ``caveats`` first (what to know before anything else), ``headline``
    (one sentence), ``notes`` (how the answers were read), ``reasons`` and ``advice``."""

    caveats: tuple[str, ...]
    headline: str
    notes: tuple[str, ...]
    reasons: tuple[str, ...]
    advice: tuple[str, ...]


def band_legend() -> str:
    """The paper's colour bands (Figure 6 legend) in words, from :data:`~seggal.guideline.rules.BANDS`."""
    parts = []
    for metric, (blue, yellow, higher) in BANDS.items():
        sign = "≥" if higher else "≤"
        unit = " h" if metric == "training_hours" else ""
        parts.append(f"{metric.replace('_', ' ')} {sign} {blue:g}{unit} blue, {sign} {yellow:g}{unit} yellow, else red")
    return "Colours: the paper's bands (" + "; ".join(parts) + ")."


def score_formula(weights: Weights) -> str:
    return (f"SegGal score = {weights.accuracy} × accuracy + {weights.usability} × usability + "
            f"{weights.training_time} × scalability; only methods within {ACCURACY_MARGIN} of the best accuracy "
            "may come first.")


def scores_note() -> str:
    """Which score to trust, SegGal's or the paper's scenario score."""
    return SCORES_NOTE.format(margin=ACCURACY_MARGIN)


def _names(rec: Recommendation, ids) -> str:
    names = {m.method: m.name for m in rec.methods}
    return ", ".join(names.get(i, i) for i in ids)


def tie_text(rec: Recommendation, tie: Tie) -> str:
    rule = TIE_RULES[tie.rule].format(chosen=tie.chosen)
    if tie.what == "training_set":
        return (f"Training sets tied within the published rounding (±{tie.tolerance:g}) at {tie.value:.2f}: "
                f"{', '.join(tie.candidates)}; {rule}.")
    who = _names(rec, tie.candidates)
    if tie.what == "accuracy":
        return (f"Best published accuracy {tie.value:.2f}, shared within the rounding (±{tie.tolerance:g}) by "
                f"{who}: the table cannot tell them apart.")
    return (f"SegGal's score ties (within {tie.tolerance:g}, what the two-decimal rounding of accuracy and "
            f"usability can move) for {who}; {rule}: {_names(rec, [tie.chosen])} first.")


def caveat_text(rec: Recommendation, caveat: Caveat) -> str:
    f = caveat.facts
    task = get_task(rec.task)
    if caveat.kind == "no_data":
        return ("No data: the paper benchmarks no nuclei segmentation in phase-contrast images (its website "
                "disables this case). What follows is the nearest measured task, LIVECell whole cells, with "
                "erosion into approximate nuclei as an untested option — check it against annotations of your own.")
    if caveat.kind == "unmeasured_tissue":
        where = (f"{f['matched']} is a {f['matched_dataset']} {'tissue' if f['matched_dataset'] == 'TissueNet' else 'cell line'}, "
                 f"not one of your images' benchmark ({f['dataset']})" if f["matched"] else
                 f"{f['tissue']!r} is not among the {f['dataset']} tissues / cell types")
        return (f"Unmeasured: {where}, so accuracy on it is unmeasured and the numbers below are for the benchmark's "
                "tissues. Annotate a few of your images, score the candidate models on them in the Segment page, "
                "and fine-tune the best on your annotations.")
    if caveat.kind == "weak_tissue":
        text = (f"Weak target: every method does poorly on {f['tissue']} (Figure 3a), because the benchmark has very "
                f"few {f['tissue'].lower()} training images; {f['evidence_method']} trained on {f['tissue']} alone "
                f"reaches {f['single_set_accuracy']:.2f} (median single set {f['median']:.2f}). What helps: more "
                f"annotated {f['tissue'].lower()} images to fine-tune on")
        if f["dual"]:
            d = f["dual"]
            text += (f", and dual-channel input — {d['method']} on {f['tissue'].lower()} nuclei went from "
                     f"{d['single']} to {d['dual']} with the membrane channel added (Supplementary Figure 2)")
            if f["has_dual"]:
                text += "; you have both channels already"
        return text + "."
    if caveat.kind == "cross_modality":
        transfers = " and ".join(f"{method_name(t['method'])} ({t['accuracy']:.2f} here)" for t in f["transfers"])
        if f["approach"] == "expand_nuclei":
            lead = "Do not run a model trained on whole cells or nuclei across modalities here:"
        else:
            lead = "If your models or annotations are of the other modality:"
        return (f"{lead} models trained on nuclei images fail completely on whole-cell images; models trained on "
                f"whole-cell images mostly drop on nuclei images, except {transfers}, which keep nearly the same "
                f"accuracy (Figure 5a). {task.label} is what the numbers below measure.")
    raise ValueError(caveat.kind)


NOTES = {
    "phase_contrast_one_channel": "Phase-contrast images have one channel, so the channels answer is read as the "
                                  "whole phase-contrast image (LIVECell whole cells, the only phase-contrast task).",
    "expand_nuclei": "Whole cells from a nuclear channel only: SegGal ranks methods for TissueNet nuclei from the "
                     "nuclear channel, to be expanded into whole cells (Figure 5b).",
    "erode_cells": "Nuclei from a membrane channel only: SegGal ranks methods for TissueNet whole cells from the "
                   "membrane channel, to be eroded into nuclei (Figure 5c).",
    "other_dataset_tissue": "Your tissue / cell line belongs to the other dataset, so SegGal treats it as outside "
                            "this benchmark.",
}


def training_text(rec: Recommendation) -> str:
    """Where the training images come from, in words a user without annotations understands."""
    t = rec.training
    what = "all tissues" if t.dataset == "TissueNet" else "all cell lines"
    images = (f"{t.dataset}'s annotated images of {what}" if t.training_set == "All"
              else f"{t.dataset}'s annotated {t.training_set} images")
    if rec.answers.compute == "none":
        return f"the gallery model already trained on {images}"
    return images + (" + fine-tune on your annotations" if rec.fine_tune else "")


def headline(rec: Recommendation) -> str:
    pick = rec.choice
    return (f"Use {pick.name} for {get_task(rec.task).label}{APPROACH[rec.approach]}; training data: "
            f"{training_text(rec)}; gallery checkpoint {rec.checkpoint}.")


def _training_reasons(rec: Recommendation) -> list[str]:
    t = rec.training
    pick = rec.choice.name
    if t.basis == "no_single_sets":
        return ["The scores table has no single-set models for this task, so SegGal recommends all tissues."]
    only = (f"Only {t.evidence_method} was trained on single sets (Figure 4); the choice of training images for "
            f"{pick} assumes it transfers as {t.evidence_method} does." if not t.pick_has_single_sets else
            f"{pick} is the method the paper trained on single sets (Figure 4).")
    lines = []
    if t.basis in ("ample", "none"):
        lead = ("Ample compute: train on " if t.basis == "ample" else "No compute: download the gallery model trained on ")
        lines.append(f"{lead}all {t.dataset} tissues / cell types (Figure 4d): {t.evidence_method} trained on all "
                     f"scores {t.all_accuracy:.2f} versus {t.median:.2f} for the median single-set model.")
    elif t.basis == "own_tissue":
        lines.append(f"Limited compute: train on {t.dataset}'s {t.training_set} images, the tissue you segment "
                     f"(Figure 4d): same-tissue training is nearly as good as all tissues on that tissue, and "
                     f"{t.evidence_method} trained on {t.training_set} alone works ({t.set_accuracy:.2f} on all test "
                     f"tissues; median single set {t.median:.2f}; trained on all {t.all_accuracy:.2f}).")
    else:
        why = (f"{t.evidence_method} trained on your tissue alone fails ({t.own_accuracy:.2f})"
               if t.own_accuracy is not None else "your tissue has no single-set model in the benchmark")
        lines.append(f"Limited compute and {why}: train on {t.dataset}'s annotated {t.training_set} images, the set "
                     f"that transfers best — {t.evidence_method} trained on it scores {t.set_accuracy:.2f} on all test "
                     f"tissues (Figure 4d; median {t.median:.2f}; trained on all {t.all_accuracy:.2f}, needing no "
                     "training at all from the gallery).")
        if t.paper_named and t.paper_named != t.training_set:
            lines.append(f"The paper names {t.paper_named} as highly transferable; for this task its single-set "
                         f"model scores {t.paper_named_accuracy:.2f}, more than the rounding below "
                         f"{t.set_accuracy:.2f}, so SegGal follows the numbers.")
    lines.append(only)
    lines.append(f"Training sets that fail for this task (below a quarter of the median): "
                 f"{', '.join(t.failing) or 'none'}; SegGal never recommends them.")
    return lines


def reasons(rec: Recommendation) -> list[str]:
    pick = rec.choice
    weights = WEIGHTS[rec.answers.compute]
    best = max(rec.methods, key=lambda m: m.accuracy)
    hours = "" if rec.answers.compute == "none" else f", {pick.training_hours:g} standardised training hours"
    near = sum(m.near_best for m in rec.methods)
    lines = [f"{pick.name} is SegGal's pick for {get_task(rec.task).label}: accuracy {pick.accuracy:.2f} (best "
             f"published {best.accuracy:.2f}), usability {pick.usability:.2f}{hours}. SegGal chooses among the "
             f"{near} methods within {ACCURACY_MARGIN} of the best accuracy, weighing accuracy {weights.accuracy}, "
             f"usability {weights.usability} and training time {weights.training_time}: {pick.name} scores "
             f"{pick.seggal_score:.3f}."]
    lines += [tie_text(rec, t) for t in rec.ties if t.what in ("pick", "accuracy")]
    paper = max(rec.methods, key=lambda m: m.scenario)
    if paper.method != pick.method:
        lines.append(f"The paper's equal-weight scenario score puts {paper.name} first ({paper.scenario:.3f}) with "
                     f"accuracy {paper.accuracy:.2f}" + ("" if paper.near_best else ", outside SegGal's margin")
                     + (": it needs no training." if paper.training_hours == 0 else "."))
    lines.append("Figure 6 (the top three by overall score and by this task's accuracy, ties at the cut kept, "
                 f"ranked by overall) lists {', '.join(m.name for m in rec.figure6)}; SegGal's pick is "
                 + ("one of them." if pick.in_figure6 else "not among them."))
    lines += _training_reasons(rec)
    lines += [tie_text(rec, t) for t in rec.ties if t.what == "training_set"]
    state = ("runs in this installation" if pick.available
             else f"does not run in this installation ({pick.availability_reason})")
    lines.append(f"Gallery checkpoint: {rec.checkpoint}. {pick.name} {state}.")
    return lines


def _range(lo, hi, unit: str) -> str:
    return f"{lo:g} {unit}" if lo == hi else f"{lo:g}–{hi:g} {unit}"


def postprocess_text(rec: Recommendation) -> str:
    p = rec.postprocess
    verb = "expansion" if p.mode == "dilate" else "erosion"
    text = (f"The paper's best {verb} steps ranged {_range(*p.best_px, 'px')} of TissueNet images "
            f"({_range(*p.best_um, 'µm')} at {p.reference_um_per_px:g} µm/px; steps {p.swept_px[0]}–{p.swept_px[1]} px "
            "were tried). ")
    if p.your_px is not None:
        text += f"At your {rec.answers.pixel_size_um:g} µm/px that is {_range(*p.your_px, 'px')}. "
    else:
        text += "Give your pixel size (µm/px) to convert this into your pixels. "
    if p.mode == "dilate":
        e = PAPER.expansion_example
        text += (f"The evidence: {e[0]} in {e[1].lower()} rose from {e[2]} to {e[3]} with expansion; "
                 f"{PAPER.expansion_peak[0]} peaked at {PAPER.expansion_peak[2]} px in {PAPER.expansion_peak[1].lower()} "
                 f"and got worse with any expansion in {PAPER.expansion_worse.lower()} (Figure 5b); 10x Xenium's fixed "
                 f"{PAPER.xenium_um:g} µm is not optimal for every tissue.")
        if p.tissue_best_px is not None:
            text += f" For your tissue the paper's example best step is {p.tissue_best_px} px."
    else:
        text += "Gains were modest (Figure 5c)."
    return text + (" The best step varies by method and tissue: run the Segment page's sweep against an annotated "
                   "image of yours to find it.")


def advice(rec: Recommendation) -> list[str]:
    lines = []
    pick = rec.choice.name
    g = rec.channel_gain
    if rec.postprocess is not None:
        lines.append(postprocess_text(rec))
    if g is not None:
        high = get_task(g.high)
        if rec.approach != "direct":
            lines.append(f"With the other channel you could segment directly: {pick} scores {g.pick_high:.2f} on "
                         f"{high.label}.")
        elif high.target == "whole_cell":
            what = ("Adding the nuclear channel would raise" if rec.answers.channels == "whole_cell"
                    else "Your nuclear channel raises")
            lines.append(f"{what} {pick} from {g.pick_low:.2f} (membrane channel only) to {g.pick_high:.2f} (dual) on "
                         f"TissueNet whole cells; mean change over {g.n_methods} methods {g.mean_change:+.2f}, the "
                         f"largest {method_name(g.top)} {g.top_low:.2f} → {g.top_high:.2f} (Figure 2a).")
        else:
            verdict = "suffices" if abs(g.pick_high - g.pick_low) <= ACCURACY_MARGIN else (
                "falls short" if g.pick_high > g.pick_low else "is better for this method")
            lung, esophagus = PAPER.dual("Lung"), PAPER.dual("Esophagus")
            lines.append(f"One nuclear channel {verdict} for {pick}: {g.pick_low:.2f} from the nuclear channel versus "
                         f"{g.pick_high:.2f} from dual channels (mean change over {g.n_methods} methods "
                         f"{g.mean_change:+.2f}). The gain depends on the tissue: {esophagus[1]} went from "
                         f"{esophagus[2]} to {esophagus[3]} in esophagus, from {lung[2]} to {lung[3]} in lung (Results).")
    if rec.scale.factor is not None and abs(rec.scale.factor - 1) > 0.25:
        s = rec.scale
        lines.append(f"Scale: the models were trained on {s.dataset} at {s.reference_um_per_px:g} µm/px; your images "
                     f"are {s.pixel_size_um:g} µm/px, so resize them by {s.factor:.2f}× before segmenting (cells then "
                     "have the size the models learned).")
    if not rec.has_slot:
        lines.append(f"The gallery has no {pick} model trained on {rec.training_set} alone (its single-set models are "
                     f"{rec.training.evidence_method} only): train {pick} on {training_text(rec)} yourself, or start "
                     f"from {rec.checkpoint}.")
    if rec.fine_tune:
        lines.append(f"You have annotations of your own tissue: fine-tune {rec.checkpoint} on them — same-tissue "
                     "training images are what Figure 4d asks for first.")
    elif rec.answers.annotations == "yes":
        lines.append("Without compute for training, use your annotations to score the gallery model on the Segment "
                     "page (and to choose the expansion / erosion step there).")
    return lines


def explain(rec: Recommendation) -> Explanation:
    """The whole recommendation in words (caveats first)."""
    return Explanation(
        caveats=tuple(caveat_text(rec, c) for c in rec.caveats), headline=headline(rec),
        notes=tuple(NOTES[r] for r in rec.readings), reasons=tuple(reasons(rec)), advice=tuple(advice(rec)),
    )


__all__ = ["Explanation", "band_legend", "explain", "score_formula", "scores_note", "training_text"]
