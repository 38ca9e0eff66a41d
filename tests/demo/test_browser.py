"""The demo in a real browser: headless Debian chromium driven by Selenium against the page on 127.0.0.1.

Load an example, click the panorama to turn the view, ask a question, wait for the streamed answer,
and save a screenshot (``PANOVLM_SCREENSHOT`` names a copy to keep, e.g. docs/img/demo.png;
``PANOVLM_DEMO_MODEL`` shows another saved model, e.g. a quickstart's). Skipped where chromium or the
demo extra is missing, unless ``PANOVLM_REQUIRE_DEMO=1`` (set by .ci/run, which installs them).
"""

import os
import shutil
import socket
from pathlib import Path

import pytest
from tests.demo.conftest import require

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.browser
TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def page_url(demo_model_dir):
    require("gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from panovlm.cli.demo import default_example_folders
    from panovlm.demo.app import build_app, find_examples
    from panovlm.demo.session import DemoSession

    session = DemoSession.from_folder(os.environ.get("PANOVLM_DEMO_MODEL") or demo_model_dir)
    app = build_app(session, find_examples(default_example_folders()))
    port = _free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False,
                       quiet=True, footer_links=[])
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require("selenium")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        if os.environ.get("PANOVLM_REQUIRE_DEMO") == "1":
            pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: apt-get install chromium chromium-driver")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The machine has no network: background services would only fill the log with refused connections.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,2000", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _image_src(driver, elem_id: str) -> str | None:
    from selenium.webdriver.common.by import By

    images = driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} img")
    return images[0].get_attribute("src") if images else None


def test_look_around_ask_and_see_the_answer(page_url, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, TIMEOUT_S)
    browser.get(page_url)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="panoshapes_plain_0-radio-label"]'))
    browser.find_element(By.CSS_SELECTOR, '[data-testid="panoshapes_plain_0-radio-label"]').click()
    wait.until(lambda d: _image_src(d, "look") and _image_src(d, "panorama"))
    wait.until(lambda d: "Loaded panoshapes_plain_0" in d.find_element(By.ID, "status").text)
    first_look = _image_src(browser, "look")

    panorama = browser.find_element(By.CSS_SELECTOR, "#panorama img")
    # A quarter of the width right of the centre is yaw +90 (Selenium offsets are from the element's centre).
    ActionChains(browser).move_to_element_with_offset(panorama, panorama.size["width"] // 4, 0).click().perform()
    wait.until(lambda d: _image_src(d, "look") not in (None, first_look))
    yaw = browser.find_element(By.CSS_SELECTOR, "#yaw input[type=number]").get_attribute("value")
    assert abs(float(yaw) - 90.0) <= 3.0

    browser.find_element(By.CSS_SELECTOR, "#question textarea").send_keys("What is to your right?")
    browser.find_element(By.ID, "ask").click()
    wait.until(lambda d: "Answered." in d.find_element(By.ID, "status").text)
    wait.until(lambda d: _image_src(d, "overlay"))
    bots = browser.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"]')
    assert bots and bots[-1].text.strip(), "the streamed answer is empty"
    assert "| view | share |" not in browser.find_element(By.ID, "shares").text  # rendered as a table
    assert browser.find_elements(By.CSS_SELECTOR, "#shares table")

    shot = tmp_path / "demo.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("PANOVLM_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["PANOVLM_SCREENSHOT"])
