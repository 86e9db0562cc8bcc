"""The app in Streamlit's AppTest: each page renders, without an exception, what it is for.

Expected numbers are the published scores (results/published/scores.csv) and the Figure 2a overall values
worked by hand in tests/test_ranking.py; the pages are read through their rendered elements only.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, page
    return at


def _text(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_landing_page_says_what_seggal_answers_and_links_every_page():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "SegGal"
    assert "which cell-segmentation method" in _text(at.markdown)
    links = [(link.proto.label, link.proto.page) for link in at.get("page_link")]
    assert links == [("Guideline", "guideline"), ("Benchmarks", "benchmarks"), ("Segment", "segment"),
                     ("Gallery", "gallery")]


def test_guideline_page_recommends_from_the_published_scores():
    """Default answers (fluorescence, nuclei, dual channels): Cellpose, accuracy 0.83 / usability 0.67 on
    TissueNet nuclei (dual); Figure 6's list is top 3 overall ∪ top 3 accuracy (see test_ranking)."""
    at = _page("pages/guideline.py")
    assert at.title[0].value == "Guideline"
    assert not at.success and "Recommend" in at.info[0].value  # nothing recommended before an answer
    at.sidebar.button[0].click().run()
    assert "Use Cellpose" in at.success[0].value and "tissuenet-nuclei-dual" in at.success[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Accuracy"], metrics["Usability"]) == ("0.83", "0.67")
    subheaders = [s.value for s in at.subheader]
    assert "The paper's Figure 6 list" in subheaders and "Why" in subheaders
    ranking, figure6 = (df.value for df in at.dataframe)
    assert len(ranking) == 18
    assert list(figure6["method"]) == ["Swin-S", "Swin-T", "Cellpose", "Centermask2", "ResNeSt"]
    assert dict(zip(figure6["method"], figure6["accuracy"])) == {
        "Swin-S": 0.73, "Swin-T": 0.73, "Cellpose": 0.83, "Centermask2": 0.89, "ResNeSt": 0.88}


def test_benchmarks_page_shows_the_figure_2a_ranking():
    at = _page("pages/benchmarks.py")
    assert at.title[0].value == "Benchmarks"
    assert [t.label for t in at.tabs][:2] == ["Ranking (Fig. 2a)", "Guideline (Fig. 6)"]
    assert "Wang et al. 2024" in _text(at.caption)
    table = at.dataframe[0].value
    assert len(table) == 18
    top = table["overall"].head(4)
    assert list(top.index) == ["Swin-S", "Swin-T", "Cellpose", "Cascade Mask RCNN seesaw"]
    assert list(top) == pytest.approx([0.6134, 0.6132, 0.6071, 0.6032], abs=5e-5)
    assert (table.loc["Swin-S", "tissuenet-nuclei-dual"], table.loc["Swin-S", "usability"]) == (0.73, 0.69)
    assert len(at.get("plotly_chart")) >= 1


def test_segment_page_starts_by_asking_for_an_image():
    at = _page("pages/segment.py")
    assert at.title[0].value == "Segment"
    assert at.header[0].value == "1 · Image"
    assert "Upload an image or load an example" in at.info[0].value
    assert (at.selectbox[0].label, at.selectbox[0].value) == ("Example", "synthetic-tissue")


def test_gallery_page_lists_the_138_slots_with_their_published_scores():
    at = _page("pages/gallery.py")
    assert at.title[0].value == "Gallery"
    assert "138 of 138 slots" in _text(at.caption)
    table = at.dataframe[0].value
    assert len(table) == 138
    first = table.iloc[0]
    assert (first["method"], first["training_set"], first["accuracy"], first["usability"],
            first["training_hours"]) == ("Swin-S", "All", 0.73, 0.69, 30.0)
    assert at.metric[0].label == "Published accuracy" and at.metric[0].value == "0.73"
