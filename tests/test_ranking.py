"""The paper's Ranking Scheme reproduced from the published scores.

The expected numbers below are pinned: worked by hand from ``results/published/scores.csv`` (the
arithmetic is in each docstring) and re-derived in :func:`_independent` with the csv module, numpy and
``scipy.stats.norm`` only, never through :mod:`seggal.ranking` or :mod:`seggal.results`.
"""

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.ranking import (figure6_methods, normalise, rank_table, scalability, scenario_scores,
                            standardised_hours)
from seggal.results import PUBLISHED_SCORES

TASK_IDS = ("tissuenet-nuclei-dual", "tissuenet-nuclei-nuclear", "tissuenet-wholecell-dual",
            "tissuenet-wholecell-wholecell", "livecell-wholecell")


def _independent() -> tuple[dict, dict]:
    """(scalability, overall) per method, straight from the CSV by the paper's Methods, "Ranking Scheme"."""
    with open(PUBLISHED_SCORES, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["training_set"] == "All"]
    methods = sorted({r["method"] for r in rows})
    acc = {(r["method"], r["task"]): float(r["accuracy"]) for r in rows}
    hours = {(r["method"], r["task"]): float(r["training_hours"]) for r in rows}
    usability = {r["method"]: float(r["usability"]) for r in rows}
    n_d, n_n, w_d, w_w, live = TASK_IDS
    groups = np.array([[(hours[m, n_d] + hours[m, n_n]) / 2, (hours[m, w_d] + hours[m, w_w]) / 2, hours[m, live]]
                       for m in methods])  # (18 methods, 3 groups)
    z = (groups - groups.mean(axis=0)) / groups.std(axis=0)  # scaled to mean 0, sd 1 across the 18 methods
    scal = dict(zip(methods, 1 - norm.cdf(z).mean(axis=1)))
    overall = {m: (sum(acc[m, t] for t in TASK_IDS) + usability[m] + scal[m]) / 7 for m in methods}
    return scal, overall


def test_normalise_pins_hand_computed_values():
    """[1, 2, 3, 10]: mean 4, population sd √12.5 = 3.5355 → z = −0.8485, −0.5657, −0.2828, 1.6971 →
    Φ(z) = 0.1981, 0.2858, 0.3886, 0.9552 (standard normal table)."""
    np.testing.assert_allclose(normalise(pd.Series([1.0, 2.0, 3.0, 10.0])), [0.1981, 0.2858, 0.3886, 0.9552],
                               atol=5e-5)
    assert (normalise(pd.Series([4.0, 4.0])) == 0.5).all()


def test_scalability_of_the_top_methods():
    """T_s group means (TN nuclei = mean of dual and nuclear, TN whole cell = mean of its two, LIVECell) over
    the 18 methods: 36.944, 37.472, 43.722 h; population sd 24.885, 21.628, 40.806 h.
    Swin-S groups 25, 30.5, 28 → z −0.4800, −0.3224, −0.3853 → Φ 0.3156, 0.3736, 0.3500 → 1 − 0.3464 = 0.6536.
    Swin-T 22, 36.5, 17 → z −0.6005, −0.0450, −0.6549 → Φ 0.2741, 0.4821, 0.2563 → 0.6625.
    Cellpose 19, 14, 17 → z −0.7211, −1.0853, −0.6549 → Φ 0.2354, 0.1389, 0.2563 → 0.7898.
    Cascade Mask RCNN seesaw 38, 35, 27 → z 0.0424, −0.1143, −0.4098 → Φ 0.5169, 0.4545, 0.3410 → 0.5625."""
    pinned = {"Swin-S": 0.6536, "Swin-T": 0.6625, "Cellpose": 0.7898, "Cascade Mask RCNN seesaw": 0.5625}
    independent, _ = _independent()
    ours = scalability()
    for method, value in pinned.items():
        assert independent[method] == pytest.approx(value, abs=5e-5), method
        assert ours[method] == pytest.approx(value, abs=5e-5), method
    assert len(ours) == 18
    for method, value in independent.items():
        assert ours[method] == pytest.approx(value, abs=1e-12), method
    # Segment Anything is never trained (T_s = 0 everywhere): the most scalable method
    assert ours.idxmax() == "Segment Anything"


def test_figure_2a_overall_values_of_the_top_four():
    """overall = (five accuracies + usability + scalability) / 7:
    Swin-S   (0.73 + 0.72 + 0.61 + 0.33 + 0.56 + 0.69 + 0.6536) / 7 = 4.2936 / 7 = 0.6134
    Swin-T   (0.73 + 0.72 + 0.62 + 0.33 + 0.54 + 0.69 + 0.6625) / 7 = 4.2925 / 7 = 0.6132
    Cellpose (0.83 + 0.77 + 0.70 + 0.17 + 0.32 + 0.67 + 0.7898) / 7 = 4.2498 / 7 = 0.6071
    Cascade Mask RCNN seesaw (0.73 + 0.69 + 0.68 + 0.33 + 0.54 + 0.69 + 0.5625) / 7 = 4.2225 / 7 = 0.6032
    (the fifth, SOLOv2, is 0.5377)."""
    pinned = {"Swin-S": 0.6134, "Swin-T": 0.6132, "Cellpose": 0.6071, "Cascade Mask RCNN seesaw": 0.6032}
    _, independent = _independent()
    table = rank_table()
    assert list(table["method"][:5]) == [*pinned, "SOLOv2"]
    overall = table.set_index("method")["overall"]
    for method, value in pinned.items():
        assert independent[method] == pytest.approx(value, abs=5e-5), method
        assert overall[method] == pytest.approx(value, abs=5e-5), method
    assert overall["SOLOv2"] == pytest.approx(0.5377, abs=5e-5)
    assert overall.to_dict() == pytest.approx(independent, abs=1e-12)
    assert table["overall"].is_monotonic_decreasing


def test_papers_findings_swin_first_and_cellpose_best_biomedical():
    """Results: "Swin-S and Swin-T … demonstrate the best overall performance"; "Among methods specifically
    designed for biomedical imaging, Cellpose has the best overall performance"; general-purpose methods
    outperform the biomedical ones."""
    table = rank_table()
    assert list(table["method"][:2]) == ["Swin-S", "Swin-T"]
    biomedical = table[[get_method(m).family == "biomedical" for m in table["method"]]]
    assert biomedical["method"].iloc[0] == "Cellpose"
    general = table[[get_method(m).family == "general" for m in table["method"]]]
    assert general["overall"].mean() > biomedical["overall"].mean()


def test_scenario_score_of_tissuenet_whole_cell_from_whole_cell_images():
    """T_s on this task over 18 methods: mean 32.667 h, population sd 19.889 h. Segment Anything: T_s 0 →
    z −1.6425 → scalability 1 − Φ = 0.9498; (0.08 + 0.78 + 0.9498) / 3 = 0.6033. RF-Next: 14 h → z −0.9386 →
    0.8260; (0.28 + 0.69 + 0.8260) / 3 = 0.5987. Cellpose: 9 h → z −1.1899 → 0.8830; (0.17 + 0.67 + 0.8830) / 3
    = 0.5743. The equal-weight score's known trap (Guideline issue): SAM first despite accuracy 0.08."""
    view = scenario_scores(None, "tissuenet-wholecell-wholecell")
    assert list(view.index[:3]) == ["Segment Anything", "RF-Next", "Cellpose"]
    np.testing.assert_allclose(view["scenario"].iloc[:3], [0.6033, 0.5987, 0.5743], atol=5e-5)
    np.testing.assert_allclose(view["scalability"].iloc[:3], [0.9498, 0.8260, 0.8830], atol=5e-5)
    assert view["accuracy"].iloc[0] == pytest.approx(0.08)


def test_figure6_methods_for_tissuenet_nuclei_dual():
    """Top 3 overall: Swin-S, Swin-T, Cellpose; top 3 accuracy on TissueNet nuclei (dual): Centermask2 0.89,
    ResNeSt 0.88, Cellpose 0.83. The union, ordered by overall (Centermask2 0.527 > ResNeSt 0.514)."""
    assert figure6_methods(None, "tissuenet-nuclei-dual") == ["Swin-S", "Swin-T", "Cellpose", "Centermask2",
                                                               "ResNeSt"]


def test_figure6_keeps_every_method_tied_at_the_accuracy_cut():
    # Published fact (issue 17): Swin-S, Swin-T, Cascade Mask RCNN seesaw and StarDist all score 0.33 for whole
    # cells from the membrane channel; a cut at three must not drop any of them.
    task = "tissuenet-wholecell-wholecell"
    chosen = figure6_methods(None, task)
    assert {"Swin-S", "Swin-T", "Cascade Mask RCNN seesaw", "StarDist"} <= set(chosen)
    accuracy = rank_table().set_index("method")[task]
    third = accuracy.sort_values(ascending=False).iloc[2]
    assert set(accuracy[accuracy >= third - 0.01 - 1e-9].index) <= set(chosen)


def test_standardised_time_epochs_follows_the_papers_formula():
    # T_s = T × B/8 × 50/E: 2 h at batch 16 for 100 epochs → 2 × 2 × 0.5
    assert standardised_hours(2.0, 16, epochs=100) == pytest.approx(2.0)
    # Cellpose's paper settings (B = 8, E = 500): T_s = T / 10
    assert standardised_hours(25.0, 8, epochs=500) == pytest.approx(2.5)


def test_standardised_time_iterations_follows_the_papers_formula():
    # T_s = T × B/8 × 50N/(I×B): Centermask2 (B = 32, I = 100 000) on N = 2 580 images for 10 h
    assert standardised_hours(10.0, 32, iterations=100_000, n_images=2580) == pytest.approx(
        10.0 * 32 / 8 * 50 * 2580 / (100_000 * 32))


@given(hours=st.floats(0.01, 100), batch=st.integers(1, 64), n=st.integers(1, 5000), epochs=st.integers(1, 500))
def test_iteration_form_equals_epoch_form_at_the_same_number_of_epochs(hours, batch, n, epochs):
    iterations = epochs * n  # I iterations of batch B see I·B/N epochs of N images
    assert standardised_hours(hours, batch, iterations=iterations, n_images=n) == pytest.approx(
        standardised_hours(hours, batch, epochs=iterations * batch / n))


def test_standardised_time_rejects_bad_input():
    for kwargs in ({"epochs": 0}, {"iterations": 10}, {}, {"iterations": 0, "n_images": 5}):
        with pytest.raises(SegGalError, match="standardised time"):
            standardised_hours(1.0, 8, **kwargs)
    with pytest.raises(SegGalError):
        standardised_hours(-1.0, 8, epochs=5)
