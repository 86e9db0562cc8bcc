"""The Guideline page in Streamlit's AppTest: questionnaire → ranked, colour-banded table, reasons, links."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from seggal.guideline import BAND_COLOURS, Answers, band, recommend

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FIELDS = ("modality", "target", "channels", "tissue", "compute", "annotations")


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    at.switch_page("pages/guideline.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _cell_colours(dataframe) -> dict:
    """(row, column) → background colour, from the Styler CSS the page sent."""
    colours = {}
    for selectors, colour in re.findall(r"([^{}]+)\{ background-color: (#[0-9a-f]{6})", dataframe.proto.arrow_data.styler.styles):
        for row, col in re.findall(r"row(\d+)_col(\d+)", selectors):
            colours[int(row), int(col)] = colour
    return colours


def _check_page(at: AppTest, rec) -> None:
    pick = rec.choice
    assert f"Use {pick.name}" in at.success[0].value and rec.checkpoint in at.success[0].value
    ranked, figure6 = at.dataframe[0], at.dataframe[1]
    assert list(ranked.value["method"]) == [m.name for m in rec.methods]
    assert list(figure6.value["method"]) == [m.name for m in rec.figure6]
    colours = _cell_colours(ranked)
    columns = list(ranked.value.columns)
    for i, m in enumerate(rec.methods):
        for column, metric in (("accuracy", "accuracy"), ("usability", "usability"), ("training hours", "training_hours")):
            assert colours[i, columns.index(column)] == BAND_COLOURS[band(metric, getattr(m, metric))]
    text = " ".join(md.value for md in at.markdown)
    assert all(reason in text for reason in rec.reasons) and all(a in text for a in rec.advice)
    links = {link.proto.page: link.proto.query_string for link in at.get("page_link")}
    assert f"method={pick.method}" in links["benchmarks"] and f"task={rec.task}" in links["benchmarks"]
    assert f"training_set={rec.training_set}".replace(" ", "+") in links["segment"]
    assert at.session_state["seggal_choice"] == {"method": pick.method, "task": rec.task,
                                                 "training_set": rec.training_set}


def test_default_answers_render_the_recommendation():
    at = _open()
    _check_page(at, recommend(Answers()))


@pytest.mark.parametrize("query", [
    {"modality": "fluorescence", "target": "whole_cell", "channels": "whole_cell", "tissue": "Pancreas", "compute": "none"},
    {"modality": "fluorescence", "target": "whole_cell", "channels": "nuclear", "tissue": "mouse brain",
     "compute": "limited", "annotations": "same_tissue"},
    {"modality": "phase-contrast", "target": "nuclei", "channels": "dual", "tissue": "MCF-7", "compute": "ample"},
])
def test_a_link_prefills_the_questionnaire(query):
    at = _open(query)
    answers = Answers(**{k: query.get(k, getattr(Answers(), k)) for k in FIELDS})
    rec = recommend(answers)
    assert at.sidebar.radio(key="g_modality").value == answers.modality
    assert at.sidebar.radio(key="g_channels").value == answers.channels
    assert at.sidebar.selectbox(key="g_tissue").value == query["tissue"]
    _check_page(at, rec)
    assert [i.value for i in at.info] == list(rec.notes)
    if answers.channels == "whole_cell" and answers.target == "whole_cell":
        assert rec.choice.method != "sam" and "Segment Anything" in " ".join(m.value for m in at.markdown)


def test_changing_the_answers_updates_the_recommendation_and_the_choice():
    at = _open()
    at.sidebar.radio(key="g_modality").set_value("phase_contrast")
    at.sidebar.radio(key="g_target").set_value("whole_cell")
    at.sidebar.radio(key="g_compute").set_value("none")
    at.sidebar.selectbox(key="g_tissue").set_value("BT-474")
    at.sidebar.button[0].click().run()
    assert not at.exception
    rec = recommend(Answers("phase_contrast", "whole_cell", "dual", "BT-474", "none", "none"))
    assert rec.task == "livecell-wholecell"
    _check_page(at, rec)
    # Another method chosen to open: the links and the stored choice follow it.
    other = rec.methods[3]
    at.selectbox(key=f"g_open_{rec.task}_{rec.choice.method}").set_value(other.method).run()
    assert at.session_state["seggal_choice"]["method"] == other.method
    assert any(f"method={other.method}" in link.proto.query_string for link in at.get("page_link"))


def test_unknown_query_values_fall_back_to_defaults():
    at = _open({"modality": "x-ray", "compute": "quantum"})
    assert at.sidebar.radio(key="g_modality").value == Answers().modality
    assert at.sidebar.radio(key="g_compute").value == Answers().compute
    warnings = " ".join(w.value for w in at.warning)
    assert "modality: 'x-ray' is not one of fluorescence, phase_contrast" in warnings and "'quantum'" in warnings
