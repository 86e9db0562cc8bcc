"""Run results folders: the contract schema, validation messages, and the bridge to the ranking."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seggal.errors import SegGalError
from seggal.ranking import rank_table
from seggal.results import RESULTS_DIR
from seggal.metrics import METRICS
from seggal.runs import TABLES, find_runs, load_run, run_scores, write_run
from seggal.tasks import TASKS

META = {"name": "t", "kind": "seggal-run", "date": "2026-11-25", "commit": "0123456789abcdef",
        "hardware": "1x H100", "description": "test run"}


def _per_tissue(methods=("swin-s", "cellpose")) -> pd.DataFrame:
    rows = []
    for k, method in enumerate(methods):
        for j, task in enumerate(TASKS):
            for test_set in ("All", "Breast" if task.dataset == "TissueNet" else "A172"):
                value = 0.3 + 0.1 * k + 0.02 * j + (0.01 if test_set == "All" else 0.0)
                rows.append({"method_id": method, "task": task.id, "training_set": "All", "test_set": test_set,
                             "n_images": 4, **{m: value for m in METRICS}})
    return pd.DataFrame(rows)


def _timings() -> pd.DataFrame:
    return pd.DataFrame([{"method_id": m, "task": t.id, "training_set": "All", "hours": h, "standardised_hours": h,
                          "batch_size": 8, "epochs": 50, "iterations": None, "n_train_images": 10, "hardware": "H100"}
                         for m, h in (("swin-s", 10.0), ("cellpose", 30.0)) for t in TASKS])


def test_write_then_load_round_trips(tmp_path):
    per_tissue = _per_tissue()
    run = write_run(tmp_path / "r", META, per_tissue=per_tissue, timings=_timings())
    assert run.meta == META
    assert list(run.per_tissue.columns) == list(TABLES["per_tissue"])
    np.testing.assert_allclose(run.per_tissue["accuracy"], per_tissue["accuracy"])
    assert run.sweeps.empty and list(run.sweeps.columns) == list(TABLES["sweeps"])
    assert run.timings["iterations"].isna().all() and run.timings["epochs"].tolist() == [50] * 10
    assert "SegGal run 't'" in run.source and "0123456789" in run.source and "1x H100" in run.source


def test_synthetic_kind_is_named_in_the_source(tmp_path):
    run = write_run(tmp_path, {**META, "kind": "synthetic-demo", "commit": "0123456789abcdef-dirty"})
    assert run.synthetic and "SYNTHETIC" in run.source
    assert "commit 0123456789-dirty" in run.source  # a run from uncommitted code says so


def test_run_scores_rank_like_the_published_table(tmp_path):
    run = write_run(tmp_path, META, per_tissue=_per_tissue(), timings=_timings())
    table = rank_table(run_scores(run)).set_index("method")
    columns = [t.id for t in TASKS] + ["usability", "scalability"]
    np.testing.assert_allclose(table["overall"], table[columns].mean(axis=1))
    assert table["overall"].is_monotonic_decreasing
    assert table.loc["Swin-S", TASKS[0].id] == pytest.approx(0.31)
    assert table.loc["Cellpose", TASKS[0].id] == pytest.approx(0.41)
    assert table.loc["Swin-S", "scalability"] > 0.5 > table.loc["Cellpose", "scalability"]  # 10 h vs 30 h
    published = rank_table().set_index("method")
    assert table.loc["Swin-S", "usability"] == published.loc["Swin-S", "usability"]


def test_run_scores_chosen_metric_and_missing_tasks(tmp_path):
    per_tissue = _per_tissue(("swin-s",))
    per_tissue = per_tissue[per_tissue["task"] != "livecell-wholecell"]
    per_tissue.loc[:, "AP50"] = 0.9
    run = write_run(tmp_path, META, per_tissue=per_tissue)
    scores = run_scores(run, "AP50")
    assert len(scores) == len(TASKS)
    assert scores.set_index("task")["accuracy"].isna().to_dict() == {t.id: t.id == "livecell-wholecell" for t in TASKS}
    assert (scores["accuracy"].dropna() == 0.9).all()
    assert scores["training_hours"].isna().all()
    with pytest.raises(SegGalError, match="unknown metric"):
        run_scores(run, "F1")


def test_declared_methods_are_allowed_and_unknown_ones_are_not(tmp_path):
    per_tissue = _per_tissue(("oracle-eroded",))
    with pytest.raises(SegGalError, match=r"per_tissue\.csv, line 2, column 'method_id'.*declare it"):
        write_run(tmp_path / "a", META, per_tissue=per_tissue)
    assert not (tmp_path / "a").exists()  # nothing written when a table is bad
    run = write_run(tmp_path / "b", {**META, "methods": {"oracle-eroded": "ground truth eroded"}}, per_tissue=per_tissue)
    assert run.method_name("oracle-eroded") == "oracle-eroded"
    assert run.method_name("swin-s") == "Swin-S"


@pytest.mark.parametrize("edit, where, message", [
    (lambda t: t.replace("Breast", "Kidney", 1), "column 'test_set'", "is not 'All' or a TissueNet tissue"),
    (lambda t: t.replace(",4,", ",4.5,", 1), "column 'n_images'", "not a whole number"),
    (lambda t: t.replace("0.31", "1.31", 1), "column 'mAP'", "outside"),
    (lambda t: t.replace("tissuenet-nuclei-dual", "nuclei-both", 1), "column 'task'", "unknown task"),
    (lambda t: t.replace("n_images", "images", 1), "line 1, column 'n_images'", "column is missing"),
])
def test_bad_cells_name_file_line_and_column(tmp_path, edit, where, message):
    write_run(tmp_path, META, per_tissue=_per_tissue())
    path = tmp_path / "per_tissue.csv"
    path.write_text(edit(path.read_text()))
    with pytest.raises(SegGalError, match=message) as info:
        load_run(tmp_path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_duplicate_rows_and_wrong_dataset_tissue(tmp_path):
    per_tissue = _per_tissue()
    with pytest.raises(SegGalError, match="line 3, column 'test_set': duplicate"):
        write_run(tmp_path, META, per_tissue=pd.concat([per_tissue.iloc[:1], per_tissue.iloc[:1]]))
    morphology = pd.DataFrame([{"dataset": "LIVECell", "tissue": "Breast", "n_train_images": 3, "n_cells": 10,
                                "size": 100.0, "elongation": 0.7, "convexity": 0.9}])
    with pytest.raises(SegGalError, match="morphology.csv, line 2, column 'tissue'.*LIVECell"):
        write_run(tmp_path, META, morphology=morphology)


def test_sweeps_mode_is_checked(tmp_path):
    sweeps = pd.DataFrame([{"method_id": "swin-s", "task": "tissuenet-nuclei-dual", "tissue": "Colon", "mode": "grow",
                            "variant": "binary", "px": 1, **{m: 0.5 for m in METRICS}}])
    with pytest.raises(SegGalError, match="column 'mode': 'grow' is not one of dilate, erode"):
        write_run(tmp_path, META, sweeps=sweeps)


def test_bad_run_json(tmp_path):
    with pytest.raises(SegGalError, match="no run.json"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(SegGalError, match="run.json: not valid JSON"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({**META, "kind": "guess"}))
    with pytest.raises(SegGalError, match="kind 'guess' is not one of"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({k: v for k, v in META.items() if k != "commit"}))
    with pytest.raises(SegGalError, match="key 'commit' is missing"):
        load_run(tmp_path)


def test_a_table_without_rows_or_columns_is_written_empty(tmp_path):
    run = write_run(tmp_path, META, timings=pd.DataFrame([]))
    assert run.timings.empty and list(run.timings.columns) == list(TABLES["timings"])
    assert (tmp_path / "timings.csv").read_text().strip() == ",".join(TABLES["timings"])


def test_large_counts_survive_the_round_trip(tmp_path):
    timings = _timings()
    timings["iterations"] = [1_234_567.0] + [None] * (len(timings) - 1)  # a float column (it has NaN)
    run = write_run(tmp_path, META, timings=timings)
    assert run.timings["iterations"].iloc[0] == 1_234_567


def test_unknown_table_name(tmp_path):
    with pytest.raises(SegGalError, match="unknown run table 'scores'"):
        write_run(tmp_path, META, scores=pd.DataFrame())


def test_find_runs(tmp_path):
    write_run(tmp_path / "demo", {**META, "kind": "synthetic-demo"})
    write_run(tmp_path / "runs" / "b", META)
    write_run(tmp_path / "runs" / "a", META)
    (tmp_path / "runs" / "not-a-run").mkdir()
    assert find_runs(tmp_path) == [tmp_path / "demo", tmp_path / "runs" / "a", tmp_path / "runs" / "b"]


def _demo_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_demo_results.py"
    spec = importlib.util.spec_from_file_location("make_demo_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_demo_is_a_valid_run_marked_synthetic():
    run = load_run(RESULTS_DIR / "demo")
    assert run.synthetic and "SYNTHETIC DEMO" in run.source
    assert "synthetic" in run.meta["description"].lower()
    assert set(run.per_tissue["method_id"]) == {"baseline", *run.meta["methods"]}
    assert set(run.per_tissue["task"]) == {t.id for t in TASKS}
    assert (run.per_tissue["training_set"] != "All").any()  # the baseline's single-set fits (Figure 4)
    assert set(run.sweeps["mode"]) == {"dilate", "erode"} and set(run.sweeps["px"]) == set(range(11))
    assert set(run.morphology["dataset"]) == {"TissueNet", "LIVECell"} and len(run.morphology) == 18


def test_shipped_demo_rows_are_what_the_script_computes(tmp_path):
    """Regenerate the demo's LIVECell test split and re-score one oracle: the shipped rows must match."""
    from seggal.data.tasks import load_task

    script = _demo_script()
    run = load_run(RESULTS_DIR / "demo")
    size = int(re.search(r"(\d+)x\1 px", run.meta["description"]).group(1))
    folder = script.write_data(tmp_path, size, ("LIVECell",))["LIVECell"]
    test = load_task(folder, "livecell-wholecell", "test")
    gts = [s.labels for s in test]
    k = list(script.ORACLES).index("oracle-dropped-30")
    preds = [script.oracle("oracle-dropped-30", gt, k * 1000 + i) for i, gt in enumerate(gts)]
    rows = pd.DataFrame(script.score_rows("oracle-dropped-30", "livecell-wholecell", "All", test.tissues, gts, preds))
    shipped = run.per_tissue[(run.per_tissue["method_id"] == "oracle-dropped-30")
                             & (run.per_tissue["task"] == "livecell-wholecell")]
    merged = rows.merge(shipped, on="test_set", suffixes=("", "_shipped"))
    assert len(merged) == 9
    for metric in METRICS:
        np.testing.assert_allclose(merged[metric], merged[f"{metric}_shipped"], atol=1e-5)
