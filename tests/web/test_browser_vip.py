"""The VIP form in a real browser against a real ``mailbot web`` behind a trusted proxy
(issue 15): the proxy's ``X-Forwarded-For`` names the client, set here through Chromium's
DevTools. From an address in the contract's allow-list the ticket opens at once and its
acknowledgement reaches the SMTP sink within 2 s; from elsewhere the page says so and
offers the normal forms, and no mail leaves."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.conftest import SmtpSink, free_port
from tests.web.served import serving, web_config
from tests.web.test_browser_submit import _until_shown

ALLOWED = "203.0.113.5"
REFUSED = "198.51.100.7"

CONTRACTS = """
[[contract]]
id = "acme-vip"
customer = "ACME Sp. z o.o."
tier = "vip"
addresses = ["it@acme.pl"]
valid_from = 2025-01-01
ip_allowlist = ["203.0.113.0/24"]
"""


def send_vip_form(browser: webdriver.Chrome, base: str, client: str) -> float:
    """Fill and send the VIP form as ``client`` (the proxy's X-Forwarded-For); when it left."""
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Forwarded-For": client}})
    browser.get(base + "/zgloszenie/vip")
    for name, value in [("name", "Jan Kowalski"), ("address", "it@acme.pl"),
                        ("subject", "Serwer pocztowy nie odpowiada"),
                        ("body", "Od 9:00 nikt w firmie nie dostaje poczty.")]:  # fmt: skip
        browser.find_element(By.NAME, name).send_keys(value)
    sent = time.monotonic()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    return sent


def test_the_vip_form_from_an_allowed_and_from_a_refused_address(
    fresh_browser: webdriver.Chrome, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    port = free_port()
    config = web_config(
        tmp_path,
        port,
        smtp=smtp_sink,
        contracts=CONTRACTS,
        web='trusted_proxies = ["127.0.0.1/32"]',
    )
    browser = fresh_browser
    browser.execute_cdp_cmd("Network.enable", {})
    try:
        with serving(config, port) as web:
            see_the_vip_form_work(browser, web.base, smtp_sink)
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


def see_the_vip_form_work(browser: webdriver.Chrome, base: str, smtp_sink: SmtpSink) -> None:
    send_vip_form(browser, base, REFUSED)
    _until_shown(browser, "Zgłoszenie VIP nie zostało przyjęte")
    assert 'href="/zgloszenie/warranty"' in browser.page_source
    assert smtp_sink.messages == []

    sent = send_vip_form(browser, base, ALLOWED)
    _until_shown(browser, "Sprawdź skrzynkę")
    smtp_sink.wait_for(2, timeout=2.0)  # the acknowledgement and the staff notice
    [ack] = smtp_sink.of_kind("ack")
    assert time.monotonic() - sent < 2.0
    assert ack.rcpt_tos == ("it@acme.pl",)
    mail = email.message_from_bytes(ack.content, policy=email.policy.default)
    assert isinstance(mail, EmailMessage) and str(mail["Subject"]).startswith("[SOL-1]")
    body = mail.get_content()
    assert "umowy serwisowej VIP (ACME Sp. z o.o.)" in body  # the tier the IP proved
