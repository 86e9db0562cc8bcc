"""Every page renders in Streamlit's AppTest without an exception."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["pages/guideline.py", "pages/benchmarks.py", "pages/segment.py", "pages/gallery.py"]


def test_landing_page_says_what_seggal_answers_and_links_every_page():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "which cell-segmentation method" in text
    assert at.title[0].value == "SegGal"


@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders(page):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, page
