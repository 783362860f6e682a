"""The web chat in headless Chromium against a running `askdb serve` with the real model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serving import askdb_serve

pytestmark = [pytest.mark.browser, pytest.mark.model]


@pytest.fixture(scope="module")
def server(tmp_path_factory, sample_url):
    with askdb_serve(tmp_path_factory.mktemp("serve"), {"ASKDB_DATABASE_URL": sample_url}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromedriver are needed: Debian packages chromium, "
                    "chromium-driver (`make test` installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def test_ask_and_see_the_table(server, browser, tmp_path):
    """Also the README's picture: WEB_CHAT_SCREENSHOT=docs/web-chat.png writes it there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1100, 900)
    browser.get(server)
    box = browser.find_element(By.ID, "question")
    box.send_keys("What is the total time saved by each department?")
    browser.find_element(By.ID, "send").click()
    # the table may come first (class pending) and be replaced by the phrased reply
    table = WebDriverWait(browser, 900).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".msg.bot:not(.pending) table.result")))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".msg.bot")) == 1
    headers = [th.text for th in table.find_elements(By.TAG_NAME, "th")]
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(headers) >= 2 and len(rows) == 5
    cells = {r.find_elements(By.TAG_NAME, "td")[0].text for r in rows}
    assert cells == {"DC1", "DC2", "DC3", "DC4", "DC5"}
    sql = browser.find_element(By.CSS_SELECTOR, ".msg.bot pre.sql").text
    assert sql.upper().startswith("SELECT") and "GROUP BY" in sql.upper()
    shot = Path(os.environ.get("WEB_CHAT_SCREENSHOT") or tmp_path / "web-chat.png")
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size < 1_000_000


def test_empty_question_shows_a_message(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    browser.find_element(By.ID, "send").click()
    error = WebDriverWait(browser, 60).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".msg.bot.error .text")))
    assert "Please type a question" in error.text
