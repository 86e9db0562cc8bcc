"""One real-browser check: `streamlit run app.py` on 127.0.0.1 (a free port), headless Chromium from
Debian's packages (``apt-get install chromium chromium-driver``) driven by selenium opens the Segment
page, clicks the example button and finds the rendered result (the cell count).

Skipped, with the reason in pytest's summary, when Chromium, its driver or selenium is not installed.
Set ``SEGGAL_SCREENSHOT=/path/shot.png`` to keep a screenshot of the page.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,2400")


def _missing() -> str:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not installed (apt-get install -y chromium chromium-driver)"
    if not CHROMEDRIVER.exists():
        return f"{CHROMEDRIVER} not installed (apt-get install -y chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -r requirements.txt)"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"real-browser check skipped: {_missing()}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """Start ``streamlit run app.py`` on 127.0.0.1 and a free port; yield its URL; stop it afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start on {url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_segment_page_runs_the_example_in_a_real_browser(app_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{app_url}/segment")
    button = WebDriverWait(browser, 120).until(ec.element_to_be_clickable(
        (By.XPATH, "//button[.//p[contains(text(), 'Load the example and segment it')]]")))
    button.click()
    found = WebDriverWait(browser, 240).until(ec.presence_of_element_located(
        (By.XPATH, "//p[contains(., 'cells found by')]")))
    count = int(found.text.split()[0])
    assert count > 10, found.text
    WebDriverWait(browser, 120).until(ec.presence_of_element_located(  # the last panel: downloads
        (By.XPATH, "//button[.//p[contains(text(), 'COCO json')]]")))
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    shot = os.environ.get("SEGGAL_SCREENSHOT")
    if shot:
        time.sleep(2)  # let images and charts finish drawing
        browser.save_screenshot(shot)
