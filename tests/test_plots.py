"""Figure builders: the figures' data equal the tables they are built from, in the paper's order."""

import numpy as np
import pandas as pd

from seggal import plots
from seggal.ranking import rank_table
from seggal.results import load_scores
from seggal.tasks import TASKS, TISSUENET_TISSUES

SOURCE = "unit-test source"


def _trace(fig):
    assert len(fig.data) == 1
    return fig.data[0]


def test_ranking_heatmap_values_and_rank_order():
    table = rank_table()
    columns = [t.id for t in TASKS] + ["usability", "scalability", "overall"]
    fig = plots.ranking_heatmap(table, columns, SOURCE)
    heat = _trace(fig)
    np.testing.assert_array_equal(np.asarray(heat.z, dtype=float), table[columns].to_numpy(dtype=float))
    assert [y.split(" (")[0] for y in heat.y] == table["method"].tolist()
    assert np.all(np.diff(np.asarray(heat.z)[:, -1]) <= 0)  # overall descends down the rows
    assert fig.layout.yaxis.autorange == "reversed"  # the best method on top
    assert list(heat.x[:5]) == [t.label for t in TASKS]
    assert SOURCE in fig.layout.title.text


def test_ranking_heatmap_marks_family_and_attention():
    table = rank_table()
    heat = _trace(plots.ranking_heatmap(table, ["overall"], SOURCE))
    labels = dict(zip(table["method"], heat.y))
    assert labels["Swin-S"] == "Swin-S (G) ★"
    assert labels["Cellpose"] == "Cellpose (B)"
    assert labels["StarDist"] == "StarDist (B)"
    assert "general, uses attention" in heat.customdata[list(table["method"]).index("Swin-S")][0]


def test_ranking_heatmap_leaves_missing_scores_blank():
    table = pd.DataFrame({"method": ["a", "b"], "method_id": ["a", "b"], "overall": [0.5, np.nan]})
    heat = _trace(plots.ranking_heatmap(table, ["overall"], SOURCE))
    assert [list(row) for row in heat.text] == [["0.50"], [""]]
    assert "no score" in heat.customdata[1][0]
    assert list(heat.y) == ["a", "b"]  # not registry methods: no marks


def test_transfer_heatmap_draws_the_transferability_matrix_in_its_order():
    from seggal.analysis import transferability

    values = {("Colon", "Colon"): 0.9, ("Colon", "Lung"): 0.2, ("Colon", "All"): 0.5,
              ("Lung", "Colon"): 0.3, ("Lung", "Lung"): 0.4, ("Lung", "All"): 0.35,
              ("All", "Colon"): 0.8, ("All", "Lung"): 0.7, ("All", "All"): 0.75}
    per_tissue = pd.DataFrame([{"method_id": "swin-s", "task": "tissuenet-nuclei-dual", "training_set": tr,
                                "test_set": te, "accuracy": v} for (tr, te), v in values.items()])
    matrix = transferability(per_tissue, "tissuenet-nuclei-dual")
    heat = _trace(plots.transfer_heatmap(matrix, SOURCE, "t"))
    assert list(heat.y) == list(matrix.index) == ["Colon", "Lung", "All"]
    assert list(heat.x) == list(matrix.columns)
    for i, row in enumerate(heat.y):
        for j, column in enumerate(heat.x):
            assert heat.z[i][j] == values[(row, column)]
    assert "trained on Lung" in heat.customdata[1][0]


def test_published_transfer_column_is_the_single_set_swin_s_rows():
    scores = load_scores()
    heat = _trace(plots.published_transfer_figure(scores, "tissuenet-nuclei-dual", SOURCE))
    rows = scores[(scores["task"] == "tissuenet-nuclei-dual") & (scores["method_id"] == "swin-s")]
    expected = rows.set_index("training_set")["accuracy"]
    assert set(heat.y) == set(TISSUENET_TISSUES) | {"All"} and heat.y[-1] == "All"
    z = np.asarray(heat.z, dtype=float)[:, 0]
    np.testing.assert_array_equal(z, expected.loc[list(heat.y)].to_numpy())
    assert np.all(np.diff(z[:-1]) <= 0)


def _per_tissue() -> pd.DataFrame:
    rows = []
    values = {"m1": {"All": 0.5, "Colon": 0.4, "Lung": 0.7}, "m2": {"All": 0.6, "Colon": 0.3, "Lung": 0.8}}
    for method, by_set in values.items():
        for test_set, value in by_set.items():
            rows.append({"method_id": method, "task": "tissuenet-nuclei-dual", "training_set": "All",
                         "test_set": test_set, "accuracy": value})
        rows.append({"method_id": method, "task": "tissuenet-nuclei-dual", "training_set": "Colon",
                     "test_set": "All", "accuracy": 0.99})  # not trained on All: ignored
    return pd.DataFrame(rows)


def test_tissue_matrix_orders_methods_and_sets():
    matrix = plots.tissue_matrix(_per_tissue(), "nuclei-dual")
    assert list(matrix.index) == ["m2", "m1"]
    assert list(matrix.columns) == ["Lung", "Colon", "All"]
    assert matrix.loc["m1", "Colon"] == 0.4
    heat = _trace(plots.tissue_heatmap(matrix, {"m1": "M one", "m2": "M two"}, SOURCE, "t"))
    assert list(heat.y) == ["M two", "M one"]
    np.testing.assert_array_equal(np.asarray(heat.z), matrix.to_numpy())


def test_coefficient_plot_error_bars_are_the_regression_intervals():
    from seggal.analysis import regression

    rng = np.random.default_rng(0)
    rows = []
    for method in ("swin-s", "cellpose"):
        for k in range(12):
            n, elong, size = rng.uniform(1, 10), rng.uniform(0.3, 1), rng.uniform(50, 300)
            rows.append({"method_id": method, "task": "tissuenet-nuclei-dual", "n_train_images": n, "elongation": elong,
                         "size": size, "mAP": 0.02 * n + 0.001 * size + rng.normal(0, 0.01)})
    coefficients = regression(pd.DataFrame(rows))
    fig = plots.coefficient_plot(coefficients, {"swin-s": "Swin-S"}, SOURCE, "t")
    assert sorted(t.name for t in fig.data) == ["Swin-S", "cellpose"]
    swin = coefficients[(coefficients["method_id"] == "swin-s") & (coefficients["term"] != "const")]
    a = next(t for t in fig.data if t.name == "Swin-S")
    assert list(a.y) == ["n_train_images", "elongation", "size"]
    np.testing.assert_allclose(a.x, swin["coef"])
    np.testing.assert_allclose(np.asarray(a.x) + np.asarray(a.error_x.array), swin["ci_high"])
    np.testing.assert_allclose(np.asarray(a.x) - np.asarray(a.error_x.arrayminus), swin["ci_low"])
    assert SOURCE in fig.layout.title.text


def test_morphology_bars_one_panel_per_feature():
    morphology = pd.DataFrame({"dataset": ["TissueNet", "TissueNet", "LIVECell"], "tissue": ["Colon", "Lung", "A172"],
                               "n_train_images": [5, 2, 3], "n_cells": [50, 20, 30], "size": [80.0, 120.0, 300.0],
                               "elongation": [0.6, 0.7, 0.5], "convexity": [0.9, 0.95, 0.8]})
    fig = plots.morphology_bars(morphology, "TissueNet", SOURCE)
    assert len(fig.data) == len(plots.MORPHOLOGY_COLUMNS)
    size = fig.data[0]
    assert list(size.y) == ["Lung", "Colon"] and list(size.x) == [120.0, 80.0]
    assert list(fig.data[3].x) == [2, 5]
    assert SOURCE in fig.layout.title.text


def test_guideline_figure_cells_take_the_papers_bands():
    from seggal.guideline import band
    from seggal.plots import BAND_COLOURS
    from seggal.ranking import figure6_methods, scenario_scores

    task = "tissuenet-wholecell-wholecell"
    table = scenario_scores(None, task).loc[figure6_methods(None, task)]
    heat = _trace(plots.guideline_figure(table, SOURCE, "t"))
    assert [y.split(" (")[0] for y in heat.y] == list(table.index)
    colours = list(BAND_COLOURS)
    for i, name in enumerate(table.index):
        for j, metric in enumerate(("accuracy", "usability", "training_hours")):
            assert colours[int(heat.z[i][j])] == band(metric, table.at[name, metric])
    z = np.asarray(heat.z, dtype=float)
    assert set(np.unique(z)) <= {0.0, 1.0, 2.0} and len(np.unique(z)) >= 2  # the table spans several bands
    # each band index maps inside its own third of the colour scale
    scale = [tuple(step) for step in heat.colorscale]
    for k, colour in enumerate(BAND_COLOURS.values()):
        position = (k + 0.5) / len(BAND_COLOURS)
        assert [c for s, c in scale if s <= position][-1] == colour


def test_guideline_figure_blank_for_missing_values():
    table = pd.DataFrame({"method_id": ["x"], "accuracy": [0.6], "usability": [np.nan], "training_hours": [50.0]},
                         index=["x"])
    heat = _trace(plots.guideline_figure(table, SOURCE, "t"))
    assert np.isnan(heat.z[0][1]) and heat.text[0][1] == ""
    assert heat.z[0][0] == 0 and heat.z[0][2] == 2  # blue accuracy, red hours


def test_sweep_curves_star_the_best_step_of_each_line():
    px = np.arange(6)
    sweeps = pd.DataFrame({
        "method_id": ["swin-s"] * 6 + ["cellpose"] * 6, "tissue": "Colon", "px": np.concatenate([px, px]),
        "accuracy": [0.3, 0.5, 0.6, 0.55, 0.4, 0.2, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
        "AP50": [0.1] * 12,
    }).sample(frac=1.0, random_state=0)  # the builder sorts each line by px
    fig = plots.sweep_curves(sweeps, {"swin-s": "Swin-S", "cellpose": "Cellpose"}, SOURCE, "t")
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    stars = [t for t in fig.data if t.mode == "markers"]
    assert {t.name for t in lines} == {"Swin-S", "Cellpose"} and len(stars) == 2
    for line in lines:
        star = next(s for s in stars if s.legendgroup == line.legendgroup)
        assert list(line.x) == list(px)
        best = int(np.argmax(line.y))
        assert list(star.x) == [line.x[best]] and list(star.y) == [line.y[best]]
        assert star.marker.symbol == "star" and star.marker.color == line.line.color
    assert {s.x[0] for s in stars} == {2, 0}
    assert SOURCE in fig.layout.title.text


def test_sweep_curves_by_tissue_and_other_metric():
    sweeps = pd.DataFrame({"method_id": "swin-s", "tissue": ["Colon"] * 3 + ["Lung"] * 3, "px": [0, 1, 2] * 2,
                           "accuracy": [0.5] * 6, "AP50": [0.1, 0.3, 0.2, 0.4, 0.4, 0.1]})
    fig = plots.sweep_curves(sweeps, {}, SOURCE, "t", metric="AP50", by="tissue")
    stars = {t.legendgroup: t.x[0] for t in fig.data if t.mode == "markers"}
    assert stars == {"Colon": 1, "Lung": 0}  # ties go to the smallest px
    assert fig.layout.yaxis.title.text == "AP50"
