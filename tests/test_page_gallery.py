"""The Gallery page in Streamlit's AppTest: 138 slots, filters, checkpoint status, open in Segment."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from seggal import hub
from seggal.checkpoint import write_checkpoint

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def gallery(monkeypatch, checkpoints: Path) -> AppTest:
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(checkpoints))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/gallery.py").run()
    assert not at.exception
    return at


@pytest.fixture(scope="module")
def local_checkpoints(tmp_path_factory) -> Path:
    from seggal.backends import build

    root = tmp_path_factory.mktemp("checkpoints")
    meta = {"method": "cellpose", "task": "nuclei-dual", "training_set": "All", "data": "synthetic"}
    write_checkpoint(root / hub.repo_name("cellpose", "nuclei-dual", "All") / "best", build("cellpose"), meta)
    return root


def test_lists_the_138_slots_and_filters_them(monkeypatch, tmp_path):
    at = gallery(monkeypatch, tmp_path)
    assert at.caption[0].value.startswith("138 of 138 slots · 0 local, 0 cached")
    assert len(at.dataframe[0].value) == 138
    at.multiselect[0].select("tissuenet-nuclei-dual").run()
    assert len(at.dataframe[0].value) == 28
    at.multiselect[1].select("cellpose").run()
    table = at.dataframe[0].value
    assert len(table) == 1 and table.iloc[0]["method"] == "Cellpose" and table.iloc[0]["accuracy"] == 0.83
    at.multiselect[1].unselect("cellpose").run()
    at.multiselect[2].select("Breast").run()
    assert list(at.dataframe[0].value["method"]) == ["Swin-S"]


def test_open_in_segment_hands_the_local_checkpoint_over(monkeypatch, local_checkpoints):
    at = gallery(monkeypatch, local_checkpoints)
    assert "1 local" in at.caption[0].value
    at.multiselect[3].select("local").run()
    assert list(at.dataframe[0].value["status"]) == ["local"]
    download = next(b for b in at.button if b.label == "Download")
    assert download.disabled  # already here
    assert any("--checkpoint" in c.value for c in at.code)
    next(b for b in at.button if b.label == "Open in Segment").click().run()
    assert not at.exception
    choice = at.session_state["seggal_choice"]
    folder = local_checkpoints / hub.repo_name("cellpose", "nuclei-dual", "All") / "best"
    assert choice == {"method": "cellpose", "task": "tissuenet-nuclei-dual", "training_set": "All",
                      "checkpoint": str(folder)}
    assert at.title[0].value == "Segment"


def test_a_slot_without_checkpoint_offers_download_or_training_never_another_model(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    at = gallery(monkeypatch, tmp_path)
    at.multiselect[1].select("stardist").run()
    at.multiselect[0].select("livecell-wholecell").run()
    assert any("python -m training.train --method stardist --task wholecell" in c.value for c in at.code)
    assert not next(b for b in at.button if b.label == "Download").disabled  # the paper's file is downloadable
    assert next(b for b in at.button if b.label == "Open in Segment").disabled  # no silent stand-in
