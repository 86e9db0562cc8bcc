"""The published scores table and its validating loader."""

import csv
import hashlib
import io
import shutil

import pandas as pd
import pytest

from seggal.errors import SegGalError
from seggal.results import PUBLISHED_SCORES, SCORE_COLUMNS, load_scores
from seggal.tasks import TASKS

#: SHA-256 of the project's copy of the published table, shared/published/seggal_scores.csv (recorded with
#: ``sha256sum``): columns dataset … training_hours, CRLF line ends, the row order of results/published/.
PUBLISHED_SHA256 = "caddf3784cd1e8b4edcb9d556763c6d4ba47ce31f4e8cc7daf01e732ba681d5f"
PUBLISHED_COLUMNS = ("dataset", "modality", "target", "input_channels", "training_set", "method", "accuracy",
                     "usability", "training_hours")


def test_published_table_has_138_models_and_18_per_task():
    scores = load_scores()
    assert len(scores) == 138
    all_sets = scores[scores["training_set"] == "All"]
    assert all_sets.groupby("task").size().to_dict() == {t.id: 18 for t in TASKS}
    assert (scores[scores["training_set"] != "All"]["method"] == "Swin-S").all()


def test_values_are_the_published_table_byte_for_byte():
    """Dropping SegGal's three added columns (task, method_id, source) gives back the published CSV exactly."""
    with open(PUBLISHED_SCORES, newline="") as f:
        rows = list(csv.DictReader(f))
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" line ends, as the published file has
    writer.writerow(PUBLISHED_COLUMNS)
    writer.writerows([row[c] for c in PUBLISHED_COLUMNS] for row in rows)
    assert hashlib.sha256(out.getvalue().encode()).hexdigest() == PUBLISHED_SHA256
    # and the loader reads those very values
    loaded = load_scores()
    for column in ("accuracy", "usability", "training_hours"):
        raw = [float(row[column]) if row[column] else float("nan") for row in rows]
        pd.testing.assert_series_equal(loaded[column], pd.Series(raw, name=column), check_dtype=False)


def test_numbers_the_paper_quotes_are_in_the_table():
    """Results: "Cellpose and Centermask2's accuracy rose from 0.17 to 0.7 … and 0.3 to 0.79" (whole cell,
    single- → dual-channel images, TissueNet)."""
    scores = load_scores().set_index(["method", "task", "training_set"])["accuracy"]
    for method, single, dual in (("Cellpose", 0.17, 0.70), ("Centermask2", 0.30, 0.79)):
        assert scores[method, "tissuenet-wholecell-wholecell", "All"] == pytest.approx(single)
        assert scores[method, "tissuenet-wholecell-dual", "All"] == pytest.approx(dual)
    first = load_scores().iloc[0]
    assert (first["method"], first["task"], first["accuracy"], first["usability"], first["training_hours"]) == (
        "Swin-S", "tissuenet-nuclei-dual", 0.73, 0.69, 30.0)


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
