"""The published scores table and its validating loader."""

import shutil

import pandas as pd
import pytest

from seggal.errors import SegGalError
from seggal.results import PUBLISHED_SCORES, SCORE_COLUMNS, load_scores
from seggal.tasks import TASKS

SHARED = PUBLISHED_SCORES.parents[2].parent / "shared" / "published" / "seggal_scores.csv"


def test_published_table_has_138_models_and_18_per_task():
    scores = load_scores()
    assert len(scores) == 138
    all_sets = scores[scores["training_set"] == "All"]
    assert all_sets.groupby("task").size().to_dict() == {t.id: 18 for t in TASKS}
    assert (scores[scores["training_set"] != "All"]["method"] == "Swin-S").all()


@pytest.mark.skipif(not SHARED.exists(), reason="the shared published CSV is not beside this checkout")
def test_values_equal_the_shared_published_csv():
    theirs = pd.read_csv(SHARED)
    ours = load_scores()
    key = ["dataset", "target", "input_channels", "training_set", "method"]
    merged = ours.merge(theirs, on=key, suffixes=("", "_pub"), validate="one_to_one")
    assert len(merged) == len(theirs) == 138
    for column in ("accuracy", "usability"):
        assert (merged[column] == merged[f"{column}_pub"]).all()
    pd.testing.assert_series_equal(merged["training_hours"], merged["training_hours_pub"], check_names=False)


def _broken_copy(tmp_path, edit):
    path = tmp_path / "scores.csv"
    shutil.copy(PUBLISHED_SCORES, path)
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_column_names_file_and_column(tmp_path):
    table = pd.read_csv(PUBLISHED_SCORES).drop(columns="usability")
    path = tmp_path / "scores.csv"
    table.to_csv(path, index=False)
    with pytest.raises(SegGalError, match=r"scores\.csv, line 1, column 'usability'.*missing"):
        load_scores(path)


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [(",0.73,0.69,30,", ",1.73,0.69,30,", "accuracy"), (",0.73,0.69,30,", ",0.73,abc,30,", "usability"),
     (",0.73,0.69,30,", ",0.73,0.69,,", "training_hours"), (",swin-s,Swin-S,", ",swin-z,Swin-S,", "method_id")],
)
def test_bad_value_names_file_line_and_column(tmp_path, old, new, column):
    path = _broken_copy(tmp_path, lambda lines: lines.__setitem__(1, lines[1].replace(old, new)))
    with pytest.raises(SegGalError, match=rf"scores\.csv, line 2, column '{column}'"):
        load_scores(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SegGalError, match="not found"):
        load_scores(tmp_path / "nope.csv")


def test_columns_are_the_documented_schema():
    assert tuple(load_scores().columns) == SCORE_COLUMNS
