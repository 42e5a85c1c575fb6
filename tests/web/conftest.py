"""Fixtures of the web side's tests: a real browser.

Issue 15 asks for browser tests with headless Chromium driven by Selenium,
using Debian's ``chromium`` and ``chromium-driver`` packages (``./tests/run``
installs them). Selenium is pointed at Debian's chromedriver explicitly, so
Selenium Manager never looks for (or downloads) a driver of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_LOAD_TIMEOUT = 30  # seconds; a page of ours loads in milliseconds


def chromium_options() -> Options:
    """Headless Chromium with a phone-friendly but roomy window, nothing remembered."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1280,900")
    # Containers often give /dev/shm 64 MB, too little for Chromium's renderer.
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    options.add_argument("--no-first-run")
    if os.geteuid() == 0:
        # Chromium refuses to start as root with its sandbox (CI runs tests as root).
        options.add_argument("--no-sandbox")
    return options


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """A headless Chromium for the whole session; tests start from ``about:blank`` with no
    cookies (``fresh_browser``)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is not installed (apt-get install chromium chromium-driver)")
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log))
    driver = webdriver.Chrome(options=chromium_options(), service=service)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def fresh_browser(browser: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The session's browser with no cookies from an earlier test."""
    browser.delete_all_cookies()
    yield browser
    browser.get("about:blank")
    browser.delete_all_cookies()
