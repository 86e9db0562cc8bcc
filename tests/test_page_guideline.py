"""The Guideline page in Streamlit's AppTest: nothing before an answer; then caveats first, the recommendation,
the colour-banded ranking with its ordering control, reasons, links."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from seggal.guideline import Answers, explain, ordered, recommend
from seggal.guideline.rules import band
from seggal.plots import BAND_COLOURS

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
    text = explain(rec)
    assert at.success[0].value == text.headline and rec.checkpoint in at.success[0].value
    assert [w.value for w in at.warning][:len(text.caveats)] == list(text.caveats)
    ranked, figure6 = at.dataframe[0], at.dataframe[1]
    assert list(ranked.value["method"]) == [m.name for m in rec.methods]
    assert list(figure6.value["method"]) == [m.name for m in rec.figure6]
    assert list(ranked.value["usage guide"]) == [m.usage_guide for m in rec.methods]
    hours = rec.answers.compute != "none"
    assert ("training hours" in ranked.value.columns) == hours
    assert ("Training hours" in [m.label for m in at.metric]) == hours
    colours = _cell_colours(ranked)
    columns = list(ranked.value.columns)
    for i, m in enumerate(rec.methods):
        for column, metric in (("accuracy", "accuracy"), ("usability", "usability"), ("training hours", "training_hours")):
            if column in columns:
                assert colours[i, columns.index(column)] == BAND_COLOURS[band(metric, getattr(m, metric))]
    markdown = " ".join(md.value for md in at.markdown)
    assert all(reason in markdown for reason in text.reasons) and all(a in markdown for a in text.advice)
    links = {link.proto.page: link.proto.query_string for link in at.get("page_link")}
    assert f"method={pick.method}" in links["benchmarks"] and f"task={rec.task}" in links["benchmarks"]
    assert f"training_set={rec.training_set}".replace(" ", "+") in links["segment"]
    assert at.session_state["seggal_choice"] == {"method": pick.method, "task": rec.task,
                                                 "training_set": rec.training_set}


def test_nothing_is_recommended_before_an_answer():
    at = _open()
    assert not at.success and not at.dataframe and not at.warning
    assert "Recommend" in at.info[0].value
    at.sidebar.button[0].click().run()
    assert not at.exception
    rec = recommend(Answers())
    _check_page(at, rec)
    # the default tissue "other" is no answer: no note about it, only the rules' caveats
    weights = [] if rec.choice.available else [f"{rec.choice.name} has no weights on this machine: "
                                               f"{rec.choice.availability_reason}."]
    assert rec.caveat("unmeasured_tissue") is None
    assert [w.value for w in at.warning] == list(explain(rec).caveats) + weights


@pytest.mark.parametrize("query", [
    {"modality": "fluorescence", "target": "whole_cell", "channels": "whole_cell", "tissue": "Pancreas", "compute": "none"},
    {"modality": "fluorescence", "target": "whole_cell", "channels": "nuclear", "tissue": "mouse brain",
     "compute": "limited", "annotations": "yes", "pixel_size": "0.25"},
    {"modality": "phase-contrast", "target": "nuclei", "channels": "dual", "tissue": "MCF-7", "compute": "ample"},
])
def test_a_link_prefills_the_questionnaire(query):
    at = _open(query)
    answers = Answers(**{k: query.get(k, getattr(Answers(), k)) for k in FIELDS}, pixel_size_um=query.get("pixel_size"))
    rec = recommend(answers)
    assert at.sidebar.radio(key="g_modality").value == answers.modality
    assert at.sidebar.radio(key="g_channels").value == answers.channels
    assert at.sidebar.selectbox(key="g_tissue").value == query["tissue"]
    _check_page(at, rec)
    assert [i.value for i in at.info] == list(explain(rec).notes)
    if answers.modality == "phase_contrast" and answers.target == "nuclei":
        assert at.warning[0].value.startswith("No data")
    if answers.pixel_size_um:
        assert rec.postprocess.your_px == (0.0, 12.0) and "0–12 px" in " ".join(m.value for m in at.markdown)


def test_changing_the_answers_updates_the_recommendation_and_the_choice():
    at = _open()
    at.sidebar.radio(key="g_modality").set_value("phase_contrast")
    at.sidebar.radio(key="g_target").set_value("whole_cell")
    at.sidebar.radio(key="g_compute").set_value("none")
    at.sidebar.selectbox(key="g_tissue").set_value("BT-474")
    at.sidebar.number_input(key="g_pixel").set_value(0.62)
    at.sidebar.button[0].click().run()
    assert not at.exception
    rec = recommend(Answers("phase_contrast", "whole_cell", "dual", "BT-474", "none", "no", 0.62))
    assert rec.task == "livecell-wholecell" and rec.scale.factor == pytest.approx(0.5)
    _check_page(at, rec)
    # Another method chosen to open: the links and the stored choice follow it.
    other = rec.methods[3]
    at.selectbox(key=f"g_open_{rec.task}_{rec.choice.method}").set_value(other.method).run()
    assert at.session_state["seggal_choice"]["method"] == other.method
    assert any(f"method={other.method}" in link.proto.query_string for link in at.get("page_link"))


@pytest.mark.parametrize("order", ["overall", "accuracy", "usability", "scalability"])
def test_the_ordering_control_reorders_the_methods(order):
    at = _open({"tissue": "Breast"})
    at.segmented_control(key="g_order").set_value(order).run()
    rec = recommend(Answers(tissue="Breast"))
    assert list(at.dataframe[0].value["method"]) == [m.name for m in ordered(rec.methods, order)]


def test_unknown_query_values_fall_back_to_defaults():
    at = _open({"modality": "x-ray", "compute": "quantum"})
    assert at.sidebar.radio(key="g_modality").value == Answers().modality
    assert at.sidebar.radio(key="g_compute").value == Answers().compute
    warnings = " ".join(w.value for w in at.warning)
    assert "modality: 'x-ray' is not one of fluorescence, phase_contrast" in warnings and "'quantum'" in warnings


def test_the_picks_paper_model_can_be_downloaded_and_then_opens_in_segment(tmp_path, monkeypatch):
    from seggal import gallery
    from seggal.zoo.download import install_snapshot

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    query = {"modality": "fluorescence", "target": "nuclei", "channels": "nuclear", "tissue": "Breast",
             "compute": "none", "annotations": "no"}
    rec = recommend(Answers(**query))
    pick = gallery.catalogue_entry(rec.choice.method, rec.task, rec.training_set)
    at = _open(query)
    button = at.button(key="g_download")
    assert button.disabled == (pick.state != "downloadable")
    assert "checkpoint" not in at.session_state["seggal_choice"]  # nothing here: no stand-in model
    folder = tmp_path / "ckpt"  # as a pull leaves it: the converted snapshot in the Hugging Face cache
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    install_snapshot(folder, pick.reference)
    at = _open(query)
    assert at.button(key="g_download").disabled
    assert at.session_state["seggal_choice"]["checkpoint"] == pick.reference
