"""The web page in a real headless Chromium: type two sentences, click Score, see two scores."""

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from sentscore import Scorer
from sentscore.serve.app import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium and chromium-driver: scripts/test.sh installs them")
    pytest.skip("chromium/chromedriver not installed (scripts/test.sh installs them)", allow_module_level=True)


@pytest.fixture(scope="module")
def server_url(trained_tiny_dir):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Scorer.load(trained_tiny_dir, backend="torch"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_typing_two_sentences_shows_two_scores(server_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url + "/")
    WebDriverWait(browser, 20).until(conditions.text_to_be_present_in_element((By.ID, "model-line"), "Model based on"))
    browser.find_element(By.ID, "sentences").send_keys("The food was wonderful.\n\nThe room was dirty and cold.")
    browser.find_element(By.ID, "score-button").click()
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .result")) == 2)
    badges = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#results .score-badge")]
    assert len(badges) == 2 and all(b in {"1", "2", "3", "4", "5"} for b in badges)
    assert "2 scored; 1 blank line left out" in browser.find_element(By.ID, "score-status").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#results .result:first-child .bar")
    assert len(bars) == 5
    sets = [m.get_attribute("data-set") for m in browser.find_elements(By.CSS_SELECTOR, "#results .result .muted")]
    assert len(sets) == 2 and all(s and set(re.split("-| or |, ", s)) <= {"1", "2", "3", "4", "5"} for s in sets)
    SCREENSHOTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "score-page.png"))


def test_an_error_is_shown_on_the_page(server_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url + "/")
    browser.find_element(By.ID, "sentences").send_keys("x" * 2500)  # over the server's max_chars
    browser.find_element(By.ID, "score-button").click()
    status = browser.find_element(By.ID, "score-status")
    WebDriverWait(browser, 20).until(lambda d: "longer than 2000 characters" in status.text)
    assert "error" in status.get_attribute("class")


def test_explain_highlights_the_words_that_moved_each_score(server_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url + "/")
    browser.find_element(By.ID, "sentences").send_keys("The food was wonderful.\n\nThe room was dirty and cold.")
    browser.find_element(By.ID, "explain").click()
    browser.find_element(By.ID, "score-button").click()
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .word")) == 10)
    first = browser.find_elements(By.CSS_SELECTOR, "#results .result:first-child .word")
    assert [w.text for w in first] == ["The", "food", "was", "wonderful."]
    assert all(w.get_attribute("class").split()[1] in {"up", "down"} for w in first)
    assert all(abs(float(w.get_attribute("data-weight"))) < 5 for w in first)
    sentence = browser.find_element(By.CSS_SELECTOR, "#results .result:first-child .sentence").text
    assert sentence.endswith("The food was wonderful.")  # the words keep their spacing
    assert "pushed the score up" in browser.find_element(By.ID, "score-status").text
    SCREENSHOTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "explain-page.png"))
