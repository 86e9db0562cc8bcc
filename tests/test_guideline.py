"""seggal.guideline (questionnaire → recommendation) and ``python -m seggal recommend``."""

import itertools
import json
import math
import subprocess
import sys

import pytest

from seggal.errors import SegGalError
from seggal.guideline import (
    ACCURACY_MARGIN, ANNOTATIONS, CHANNELS, COMPUTE, FAILING_FRACTION, MODALITIES, PAPER_EXPANSION_PX, TARGETS,
    WEIGHTS, Answers, band, band_css, best_transfer_set, failing_training_sets, match_tissue, recommend,
)
from seggal.gallery import runs_here
from seggal.ranking import figure6_methods, scenario_scores
from seggal.results import load_scores
from seggal.tasks import LIVECELL_CELL_TYPES, TASKS, TISSUENET_TISSUES, get_task

SCORES = load_scores()
TISSUES = (*TISSUENET_TISSUES, *LIVECELL_CELL_TYPES, "mouse brain organoid")
ALL_ANSWERS = [Answers(*combo) for combo in itertools.product(MODALITIES, TARGETS, CHANNELS, TISSUES, COMPUTE, ANNOTATIONS)]
TN_TASKS = [t.id for t in TASKS if t.dataset == "TissueNet"]


def _single(task):
    """The task's single-set models from the published table: training_set → accuracy."""
    rows = SCORES[(SCORES["task"] == task) & (SCORES["training_set"] != "All")]
    return dict(zip(rows["training_set"], rows["accuracy"]))


def _accuracy(task, method_id):
    rows = SCORES[(SCORES["task"] == task) & (SCORES["training_set"] == "All") & (SCORES["method_id"] == method_id)]
    return float(rows["accuracy"].iloc[0])


def test_every_combination_of_answers_gives_a_consistent_deterministic_recommendation():
    assert len(ALL_ANSWERS) == 2 * 2 * 3 * 19 * 3 * 2
    slots = set(zip(SCORES["task"], SCORES["method_id"], SCORES["training_set"]))
    figure6 = {t.id: figure6_methods(SCORES, t.id) for t in TASKS}
    single = {t.id: _single(t.id) for t in TASKS}
    failing = {t.id: failing_training_sets(t.id) for t in TASKS}
    for answers in ALL_ANSWERS:
        rec = recommend(answers)
        assert rec == recommend(answers), answers
        task = get_task(rec.task)
        pick = rec.choice
        assert len({m.method for m in rec.methods}) == 18
        assert pick.accuracy >= max(m.accuracy for m in rec.methods) - ACCURACY_MARGIN - 1e-9, answers
        assert [m.name for m in rec.figure6] == figure6[rec.task]
        assert rec.training_set == "All" or rec.training_set in single[rec.task]
        assert rec.training_set not in failing[rec.task], answers
        method, checkpoint_task, checkpoint_set = rec.checkpoint.split("/")
        assert (checkpoint_task, method, checkpoint_set) in slots and method == pick.method
        assert rec.available == runs_here(pick.method, rec.task).available  # ready here (seggal.gallery)
        assert rec.fine_tune == (answers.annotations == "same_tissue" and answers.compute != "none")
        assert pick.name in rec.reasons[0] and f"{pick.accuracy:.2f}" in rec.reasons[0]
        assert (rec.approach != "direct") == (rec.postprocess is not None)
        assert rec.advice or rec.approach == "direct"
        assert task.dataset == ("LIVECell" if answers.modality == "phase_contrast" else "TissueNet")
        json.dumps(rec.to_dict(), allow_nan=False)


def test_recommend_with_an_explicit_scores_table_equals_the_published_default():
    answers = Answers("fluorescence", "whole_cell", "dual", "Tonsil", "limited", "same_tissue")
    assert recommend(answers, SCORES) == recommend(answers)


@pytest.mark.parametrize("field,value", [("modality", "confocal"), ("target", "membrane"), ("channels", "three"),
                                         ("compute", "lots"), ("annotations", "some")])
def test_unknown_answers_are_clear_errors_listing_the_allowed_values(field, value):
    allowed = {"modality": MODALITIES, "target": TARGETS, "channels": CHANNELS, "compute": COMPUTE,
               "annotations": ANNOTATIONS}[field]
    with pytest.raises(SegGalError) as err:
        Answers(**{field: value})
    assert field in str(err.value) and value in str(err.value)
    assert all(option in str(err.value) for option in allowed)


def test_answers_are_normalised_and_tissue_must_be_text():
    answers = Answers("Phase-Contrast", "Whole cell", " DUAL ", "x", "Ample", "same tissue")
    assert (answers.modality, answers.target, answers.channels, answers.compute, answers.annotations) == (
        "phase_contrast", "whole_cell", "dual", "ample", "same_tissue")
    with pytest.raises(SegGalError, match="tissue"):
        Answers(tissue=3)
    with pytest.raises(SegGalError, match="Answers"):
        recommend({"modality": "fluorescence"})


@pytest.mark.parametrize("text,expected", [
    ("lymph node metastasis", ("Lymph Node Metastasis", "TissueNet")), ("LYMPH-NODE", ("Lymph Node", "TissueNet")),
    ("MCF-7", ("MCF7", "LIVECell")), (" bt474 ", ("BT-474", "LIVECell")), ("sh sy5y", ("SH-SY5Y", "LIVECell")),
    ("breast", ("Breast", "TissueNet")), ("mouse brain", ("other", None)), ("", ("other", None)),
])
def test_tissue_matching_ignores_case_spaces_and_punctuation(text, expected):
    assert match_tissue(text) == expected


def test_every_known_tissue_and_cell_line_matches_itself():
    for name in (*TISSUENET_TISSUES, *LIVECELL_CELL_TYPES):
        assert match_tissue(name.lower())[0] == name


def test_colour_bands_follow_the_papers_legend():
    assert [band("accuracy", v) for v in (0.5, 0.4999, 0.25, 0.2499, 0.0)] == ["blue", "yellow", "yellow", "red", "red"]
    assert [band("usability", v) for v in (0.69, 0.38, 0.02)] == ["blue", "yellow", "red"]
    assert [band("training_hours", v) for v in (0, 24, 24.5, 48, 48.1)] == ["blue", "blue", "yellow", "yellow", "red"]
    assert band("accuracy", math.nan) is None and band_css("accuracy", math.nan) == ""
    assert "background-color" in band_css("training_hours", 100)
    with pytest.raises(SegGalError, match="overall"):
        band("overall", 0.5)


def test_method_rows_carry_the_published_figures_bands_and_the_weighted_score():
    rec = recommend(Answers("fluorescence", "whole_cell", "dual", "Colon", "limited", "none"))
    w = WEIGHTS["limited"]
    published = scenario_scores(SCORES, rec.task)
    for m in rec.methods:
        row = published.loc[m.name]
        assert (m.accuracy, m.usability, m.training_hours) == (row["accuracy"], row["usability"], row["training_hours"])
        assert m.seggal_score == pytest.approx(w.accuracy * m.accuracy + w.usability * m.usability
                                               + w.training_time * row["scalability"], abs=1e-6)
        assert m.bands == {k: band(k, getattr(m, k)) for k in ("accuracy", "usability", "training_hours")}
        assert m.available == runs_here(m.method, rec.task).available
    centermask2 = next(m for m in rec.methods if m.method == "centermask2")
    assert not centermask2.available and "detectron2" in centermask2.availability_reason


# --- the paper's own guidance ----------------------------------------------------------------------

def test_nuclei_from_dual_channels_with_limited_compute_picks_a_figure6_top_method():
    rec = recommend(Answers("fluorescence", "nuclei", "dual", "Breast", "limited", "none"))
    assert rec.task == "tissuenet-nuclei-dual" and rec.approach == "direct"
    assert rec.choice.name in {"Swin-S", "Swin-T", "Cellpose", "Centermask2", "ResNeSt"}
    assert rec.choice.in_figure6


@pytest.mark.parametrize("compute", COMPUTE)
def test_whole_cells_from_the_membrane_channel_avoid_the_segment_anything_trap(compute):
    task = "tissuenet-wholecell-wholecell"
    scenario = scenario_scores(SCORES, task)
    assert scenario.index[0] == "Segment Anything"  # the paper's equal-weight score is fooled …
    assert scenario.loc["Segment Anything", "accuracy"] < scenario["accuracy"].max() - ACCURACY_MARGIN
    rec = recommend(Answers("fluorescence", "whole_cell", "whole_cell", "Pancreas", compute, "none"))
    assert rec.task == task and rec.choice.method != "sam"  # … SegGal is not
    assert any("Segment Anything" in r and "0.08" in r for r in rec.reasons)


@pytest.mark.parametrize("task", TN_TASKS)
def test_lung_and_spleen_fail_as_training_sets_and_are_never_recommended(task):
    single = _single(task)
    median = sorted(single.values())[len(single) // 2 - 1: len(single) // 2 + 1]
    failing = sorted(s for s, acc in single.items() if acc < FAILING_FRACTION * sum(median) / len(median))
    assert failing_training_sets(task) == failing == ["Lung", "Spleen"]
    target, channels = {"tissuenet-nuclei-dual": ("nuclei", "dual"), "tissuenet-nuclei-nuclear": ("nuclei", "nuclear"),
                        "tissuenet-wholecell-dual": ("whole_cell", "dual"),
                        "tissuenet-wholecell-wholecell": ("whole_cell", "whole_cell")}[task]
    for tissue in ("Lung", "spleen"):
        rec = recommend(Answers("fluorescence", target, channels, tissue, "limited", "none"))
        assert rec.training_set not in ("Lung", "Spleen")
        best = max(acc for s, acc in single.items() if s not in failing)
        assert single[rec.training_set] == best  # the best-transferring set, from the data
        assert f"{best:.2f}" in " ".join(rec.reasons)


@pytest.mark.parametrize("task", [t.id for t in TASKS])
def test_best_transfer_set_has_the_highest_single_set_accuracy(task):
    single = _single(task)
    chosen = best_transfer_set(task)
    assert single[chosen] == max(acc for s, acc in single.items() if s not in failing_training_sets(task))


def test_breast_is_the_best_transfer_set_only_when_the_data_say_so():
    task = "tissuenet-nuclei-dual"
    single = _single(task)
    breast_is_best = single["Breast"] > max(acc for s, acc in single.items() if s != "Breast")
    answers = Answers("fluorescence", "nuclei", "dual", "somewhere else", "limited", "none")
    assert (recommend(answers).training_set == "Breast") == breast_is_best
    # Lower breast's published accuracy below every other working set: the recommendation must follow.
    edited = SCORES.copy()
    rows = (edited["task"] == task) & (edited["training_set"] == "Breast")
    edited.loc[rows, "accuracy"] = min(acc for s, acc in single.items() if s not in ("Lung", "Spleen")) - 0.01
    rec = recommend(answers, edited)
    assert rec.training_set != "Breast"
    assert single[rec.training_set] == max(acc for s, acc in single.items() if s not in ("Breast", "Lung", "Spleen"))


def test_a_working_same_tissue_set_is_used_with_limited_compute_and_all_otherwise():
    for tissue, modality, target in (("Colon", "fluorescence", "nuclei"), ("MCF-7", "phase_contrast", "whole_cell")):
        expected = match_tissue(tissue)[0]
        rec = recommend(Answers(modality, target, "dual" if modality == "fluorescence" else "whole_cell", tissue,
                                "limited", "none"))
        assert rec.training_set == expected and expected not in failing_training_sets(rec.task)
        assert f"{_single(rec.task)[expected]:.2f}" in " ".join(rec.reasons)
        for compute in ("none", "ample"):
            rec = recommend(Answers(modality, target, "whole_cell", tissue, compute, "none"))
            assert rec.training_set == "All" and rec.checkpoint.endswith("/All")


def test_a_lung_model_that_stops_failing_is_used_for_lung():
    task = "tissuenet-nuclei-dual"
    edited = SCORES.copy()
    edited.loc[(edited["task"] == task) & (edited["training_set"] == "Lung"), "accuracy"] = 0.4
    rec = recommend(Answers("fluorescence", "nuclei", "dual", "lung", "limited", "none"), edited)
    assert rec.training_set == "Lung"


def test_own_annotations_with_limited_compute_mean_fine_tuning():
    rec = recommend(Answers("fluorescence", "nuclei", "dual", "Tonsil", "limited", "same_tissue"))
    assert rec.fine_tune and any("fine-tune" in a and rec.checkpoint in a for a in rec.advice)
    rec = recommend(Answers("fluorescence", "nuclei", "dual", "Tonsil", "none", "same_tissue"))
    assert not rec.fine_tune and any("Segment page" in a for a in rec.advice)


def test_swin_s_gets_its_single_set_gallery_checkpoint_others_the_all_one():
    rec = recommend(Answers("fluorescence", "whole_cell", "whole_cell", "Esophagus", "limited", "none"))
    assert rec.choice.method == "swin-s" and rec.checkpoint == "swin-s/tissuenet-wholecell-wholecell/Esophagus"
    rec = recommend(Answers("fluorescence", "nuclei", "dual", "Breast", "limited", "none"))
    assert rec.choice.method != "swin-s" and rec.checkpoint == f"{rec.choice.method}/tissuenet-nuclei-dual/All"
    assert any("no " + rec.choice.name + " model trained on Breast" in a for a in rec.advice)


def test_whole_cells_from_a_nuclear_channel_segment_nuclei_and_expand():
    rec = recommend(Answers("fluorescence", "whole_cell", "nuclear", "Epidermis", "none", "none"))
    assert (rec.task, rec.approach) == ("tissuenet-nuclei-nuclear", "expand_nuclei")
    assert rec.postprocess == {"mode": "dilate", "px": PAPER_EXPANSION_PX}
    text = " ".join(rec.advice)
    assert "0.341" in text and "0.598" in text and f"{PAPER_EXPANSION_PX} px" in text and "sweep" in text
    assert rec.notes and "expand" in rec.notes[0]
    colon = recommend(Answers("fluorescence", "whole_cell", "nuclear", "colon", "none", "none"))
    assert colon.postprocess == {"mode": "dilate", "px": 0} and "no expansion (0 px)" in " ".join(colon.advice)


def test_whole_cells_from_the_membrane_channel_say_what_the_nuclear_channel_adds():
    rec = recommend(Answers("fluorescence", "whole_cell", "whole_cell", "Breast", "ample", "none"))
    low, high = "tissuenet-wholecell-wholecell", "tissuenet-wholecell-dual"
    single, dual = _accuracy(low, rec.choice.method), _accuracy(high, rec.choice.method)
    ids = sorted(set(SCORES["method_id"]) - {"baseline"})
    gains = {m: _accuracy(high, m) - _accuracy(low, m) for m in ids}
    top = max(gains, key=gains.get)
    text = rec.advice[0]
    assert f"from {single:.2f}" in text and f"to {dual:.2f}" in text
    assert f"{sum(gains.values()) / len(gains):+.2f}" in text
    assert f"{_accuracy(low, top):.2f} → {_accuracy(high, top):.2f}" in text  # the paper: Cellpose 0.17 → 0.70


def test_nuclei_advice_compares_the_two_nuclei_tasks_for_the_pick():
    rec = recommend(Answers("fluorescence", "nuclei", "nuclear", "Lung", "limited", "none"))
    m = rec.choice.method
    text = rec.advice[0]
    assert f"{_accuracy('tissuenet-nuclei-nuclear', m):.2f}" in text and f"{_accuracy('tissuenet-nuclei-dual', m):.2f}" in text
    assert "0.308" in text and "0.655" in text and "Lung" in text and "membrane channel" in text


def test_nuclei_from_the_membrane_channel_segment_cells_and_erode():
    rec = recommend(Answers("fluorescence", "nuclei", "whole_cell", "Tonsil", "limited", "none"))
    assert (rec.task, rec.approach, rec.postprocess) == ("tissuenet-wholecell-wholecell", "erode_cells",
                                                         {"mode": "erode", "px": 1})
    assert "fail" in rec.advice[0] and rec.choice.method != "sam"


@pytest.mark.parametrize("target,channels", [("nuclei", "whole_cell"), ("whole_cell", "dual"), ("nuclei", "nuclear")])
def test_phase_contrast_maps_to_livecell_and_says_so(target, channels):
    rec = recommend(Answers("phase_contrast", target, channels, "A172", "limited", "none"))
    assert rec.task == "livecell-wholecell"
    assert rec.approach == ("erode_cells" if target == "nuclei" else "direct")
    if channels != "whole_cell":
        assert any(repr(channels) in n for n in rec.notes)
    if target == "nuclei":
        assert any("No benchmarked task segments nuclei in phase-contrast" in n for n in rec.notes)


def test_a_tissue_of_the_other_dataset_is_read_as_other():
    rec = recommend(Answers("fluorescence", "nuclei", "dual", "MCF-7", "limited", "none"))
    assert rec.tissue == "MCF7" and any("LIVECell" in n for n in rec.notes)
    assert rec.training_set == best_transfer_set(rec.task)


# --- CLI -------------------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "seggal", "recommend", *args], capture_output=True, text=True,
                          check=False)


def test_cli_json_matches_the_library():
    args = ("--modality", "fluorescence", "--target", "whole_cell", "--channels", "nuclear", "--tissue",
            "lymph node metastasis", "--compute", "limited", "--annotations", "none", "--json")
    result = _cli(*args)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    rec = recommend(Answers("fluorescence", "whole_cell", "nuclear", "lymph node metastasis", "limited", "none"))
    assert {"methods", "figure6", "training_set", "advice", "reasons", "task", "checkpoint"} <= set(out)
    assert [m["method"] for m in out["methods"]] == [m.method for m in rec.methods]
    first = out["methods"][0]
    assert {"accuracy", "usability", "training_hours", "bands", "available"} <= set(first)
    assert out["training_set"] == rec.training_set == "Lymph Node Metastasis"
    assert out["advice"] == list(rec.advice) and out["checkpoint"] == rec.checkpoint
    assert [m["method"] for m in out["figure6"]] == [m.method for m in rec.figure6]


def test_cli_table_and_errors():
    result = _cli("--target", "whole_cell", "--channels", "whole_cell", "--tissue", "Breast", "--compute", "none")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    rec = recommend(Answers("fluorescence", "whole_cell", "whole_cell", "Breast", "none", "none"))
    assert rec.choice.name in lines[header + 1] and "Why:" in result.stdout and "Figure 6" in result.stdout
    bad = _cli("--compute", "lots")
    assert bad.returncode == 2 and "none, limited, ample" in bad.stderr and "Traceback" not in bad.stderr
