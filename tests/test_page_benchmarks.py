"""The Benchmarks page in Streamlit's AppTest: every tab, with the published scores and with the synthetic demo."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from seggal.results import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TABS = ["Ranking (Fig. 2a)", "Guideline (Fig. 6)", "Per tissue (Fig. 3)", "Transferability (Fig. 4)",
        "Dilation & erosion (Fig. 5)"]
DEMO = RESULTS_DIR / "demo"


def _open(tab: str, source: str | None = None) -> AppTest:
    """The page opened on ``tab`` through its URL query parameters (as a shared link would)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["figure"] = tab
    if source is not None:
        at.query_params["source"] = source
    at.switch_page("pages/benchmarks.py").run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or the typed-array form plotly writes for numpy data."""
    if isinstance(value, dict):
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return data.reshape([int(n) for n in str(value.get("shape", len(data))).split(",")])
    return np.asarray(value)


def _titles(at: AppTest) -> list[str]:
    return [chart["layout"]["title"]["text"] for chart in _charts(at)]


def _downloads(at: AppTest) -> list:
    return at.get("download_button")


def test_published_ranking_heatmap_is_sorted_by_overall_and_cited():
    at = _open(TABS[0])
    assert at.selectbox(key="source").value == "published"
    assert at.selectbox(key="rank-metric").options == ["accuracy"]
    (chart,) = _charts(at)
    heat = chart["data"][0]
    assert heat["y"][0].startswith("Swin-S")  # the paper's top method
    overall = _array(heat["z"])[:, -1]
    assert len(overall) == 18 and np.all(np.diff(overall) <= 0)
    assert "Wang et al. 2024" in chart["layout"]["title"]["text"]
    assert len(_downloads(at)) == 1
    assert any("★ = uses attention" in c.value for c in at.caption)


def test_published_guideline_tab_links_to_the_guideline_page():
    at = _open(TABS[1])
    at.selectbox(key="guide-task").select("livecell-wholecell").run()
    assert not at.exception
    (title,) = _titles(at)
    assert "LIVECell whole cell" in title and "Wang et al. 2024" in title
    links = at.get("page_link")
    assert len(links) == 1 and links[0].proto.page == "guideline"
    assert links[0].proto.query_string == "modality=phase_contrast&target=whole_cell&channels=whole_cell"
    assert len(_downloads(at)) == 1


def test_published_transferability_shows_the_published_column_and_asks_for_a_run():
    at = _open(TABS[3])
    (chart,) = _charts(at)
    assert chart["data"][0]["y"][-1] == "All" and len(chart["data"][0]["y"]) == 11
    assert "Swin-S trained on one set" in chart["layout"]["title"]["text"]
    assert any("needs a run" in i.value for i in at.info)


@pytest.mark.parametrize("tab", [TABS[2], TABS[4]])
def test_published_tabs_without_published_data_say_where_to_get_it(tab):
    at = _open(tab)
    assert not _charts(at)
    assert any("results/demo" in i.value for i in at.info)


def test_a_bad_typed_folder_is_reported_by_name(tmp_path):
    (tmp_path / "run.json").write_text('{"name": "x"}')
    at = _open(TABS[0])
    at.text_input(key="source-path").input(str(tmp_path)).run()
    assert not at.exception
    assert any(str(tmp_path / "run.json") in e.value and "'kind'" in e.value for e in at.error)


# --------------------------------------------------------------------------------------------- the demo

def _demo(tab: str) -> AppTest:
    at = _open(tab, source="demo")
    assert at.selectbox(key="source").value == "demo"
    assert any("Synthetic demo" in w.value for w in at.warning)
    for title in _titles(at):  # every chart names its source; the run's charts say SYNTHETIC
        assert "Source:" in title
    return at


def test_demo_ranking_offers_every_metric_and_marks_the_charts_synthetic():
    at = _demo(TABS[0])
    assert at.selectbox(key="rank-metric").options == ["mAP", "AP50", "AP75", "AR50", "AR75", "accuracy"]
    at.selectbox(key="rank-metric").select("AP50").run()
    assert not at.exception
    (chart,) = _charts(at)
    assert "SYNTHETIC DEMO" in chart["layout"]["title"]["text"] and "(AP50)" in chart["layout"]["title"]["text"]
    overall = _array(chart["data"][0]["z"])[:, -1]
    assert np.all(np.diff(overall) <= 0) and len(overall) == 4
    assert any("does not measure usability or scalability" in c.value for c in at.caption)


def test_demo_guideline_tab_stays_on_the_published_scores():
    at = _demo(TABS[1])
    (title,) = _titles(at)
    assert "Wang et al. 2024" in title and "SYNTHETIC" not in title
    assert any("drawn from the published scores" in i.value for i in at.info)


def test_demo_per_tissue_tab_draws_heatmap_regression_and_morphology():
    at = _demo(TABS[2])
    titles = _titles(at)
    assert len(titles) == 5  # Figure 3a, 3b, morphology of TissueNet and LIVECell, Supp. Fig. 2 (single vs dual)
    assert all("SYNTHETIC DEMO" in t for t in titles)
    heat = _charts(at)[0]["data"][0]
    assert heat["x"][-1] == "All" and len(heat["x"]) == 11
    assert len(_downloads(at)) == 5


def test_demo_transferability_tab_has_the_run_matrix_and_the_published_column():
    at = _demo(TABS[3])
    titles = _titles(at)
    assert len(titles) == 2
    assert "SYNTHETIC DEMO" in titles[0] and "Wang et al. 2024" in titles[1]
    matrix = _charts(at)[0]["data"][0]
    assert matrix["y"][-1] == "All" and len(matrix["y"]) == 11 and len(matrix["x"]) == 11


def test_demo_sweep_tab_by_tissue_and_by_method():
    at = _demo(TABS[4])
    (chart,) = _charts(at)
    stars = [t for t in chart["data"] if t["mode"] == "markers"]
    assert len(stars) == 4  # one per demo method
    at.radio(key="sweep-by").set_value("tissue").run()
    assert not at.exception
    (chart,) = _charts(at)
    assert len([t for t in chart["data"] if t["mode"] == "markers"]) == 10  # one per TissueNet tissue
    at.selectbox(key="sweep-mode").select("erode").run()
    assert not at.exception and "erode" in _titles(at)[0]
