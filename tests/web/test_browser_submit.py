"""A customer submits the warranty form in a real browser against a real ``mailbot web``
(issue 15 phase B2): the confirmation link reaches the suite's SMTP sink within 2 s, the
browser follows it, and the acknowledgement follows. Saves docs/screens/start.png and
docs/screens/form.png for the README."""

from __future__ import annotations

import re
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import SmtpSink, free_port
from tests.web.served import serving, web_config

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def test_a_customer_submits_the_warranty_form(
    fresh_browser: webdriver.Chrome, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    port = free_port()
    browser = fresh_browser
    with serving(web_config(tmp_path, port, smtp=smtp_sink), port) as web:
        base = web.base
        SCREENS.mkdir(parents=True, exist_ok=True)
        browser.get(base + "/")
        assert "autoryzacja po IP" in browser.page_source
        browser.save_screenshot(str(SCREENS / "start.png"))
        browser.find_element(By.CSS_SELECTOR, 'a[href="/zgloszenie/warranty"]').click()
        _until_shown(browser, 'name="website"')  # a click returns before the next page loads
        for name, value in [("name", "Anna Nowak"), ("address", "anna@example.com"),
                            ("subject", "Drukarka nie drukuje"),
                            ("body", "Od rana drukarka w biurze nic nie drukuje.")]:  # fmt: skip
            browser.find_element(By.NAME, name).send_keys(value)
        assert not browser.find_element(By.NAME, "website").is_displayed()  # the honeypot
        browser.save_screenshot(str(SCREENS / "form.png"))
        sent = time.monotonic()
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _until_shown(browser, "Sprawdź skrzynkę")
        [confirmation] = smtp_sink.wait_for(1, timeout=2.0)
        assert time.monotonic() - sent < 2.0
        assert confirmation.rcpt_tos == ("anna@example.com",)
        text = confirmation.content.decode().replace("=\r\n", "").replace("=\n", "")
        link = re.findall(r"http://127\.0\.0\.1:\d+/zgloszenie/potwierdz/[A-Za-z0-9_.-]+", text)
        browser.get(link[0])
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _until_shown(browser, "Zgłoszenie przyjęte")
        smtp_sink.wait_for(3, timeout=5.0)  # the acknowledgement and the staff notice
        assert smtp_sink.of_kind("ack") and smtp_sink.of_kind("staff_new")


def _until_shown(browser: webdriver.Chrome, text: str) -> None:
    """Wait (bounded) until the page shows ``text``: a click returns before the next page has
    loaded, and a page read in between can even be the one being left."""
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda b: text in b.page_source
    )
