"""The staff board in a real browser (issue 15 item 5): headless Chromium asks for a sign-in
link on a real ``mailbot web``, ``mailbot run --once`` sends it to the suite's aiosmtpd sink,
the browser opens the link from that mail, signs in, sees the board and takes a ticket.
Screenshots go to docs/screens/staff.png and staff_ticket.png for the README."""

from __future__ import annotations

import mailbox
import re
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import SmtpSink, free_port
from tests.web.served import serving, web_config

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
STAFF = "technik@serwis.example.pl"


def customer_mail(sender: str, subject: str, body: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "pomoc@serwis.example.pl", subject
    mail.set_content(body)
    return mail.as_bytes()


def mailbot(path: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(path), *args],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture
def web(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[tuple[str, Path]]:
    port = free_port()
    path = web_config(
        tmp_path, port, smtp=smtp_sink, address="pomoc@serwis.example.pl", staff=STAFF
    )
    inbox = mailbox.Maildir(tmp_path / "Maildir", create=True)
    inbox.add(customer_mail("jan@acme.pl", "Serwer pocztowy nie odpowiada", "Nie działa poczta."))
    inbox.add(customer_mail("ola@example.pl", "Drukarka <b>drukuje</b> puste", "Puste kartki."))
    mailbot(path, "run", "--once")  # two tickets, their mail sent
    with serving(path, port) as web:
        yield web.base, path


def shows(browser: webdriver.Chrome, text: str) -> bool:
    """Wait (a click returns before the next page is loaded) until the page shows ``text``."""
    WebDriverWait(browser, 10).until(lambda b: text in b.page_source)
    return True


def at(browser: webdriver.Chrome, url: str) -> bool:
    WebDriverWait(browser, 10).until(lambda b: b.current_url == url)
    return True


def signin_link(sink: SmtpSink) -> str:
    for received in sink.to(STAFF):
        mail = message_from_bytes(received.content, policy=default)
        assert isinstance(mail, EmailMessage)
        if mail["X-Mailbot-Kind"] == "staff_signin":
            body = mail.get_body()
            assert body is not None
            found = re.search(r"http://\S+/staff/login/\S+", body.get_content())
            assert found
            return found.group(0)
    pytest.fail("no sign-in mail reached the SMTP server")


def test_staff_sign_in_through_the_mailed_link(
    web: tuple[str, Path], smtp_sink: SmtpSink, fresh_browser: webdriver.Chrome
) -> None:
    base, path = web
    browser = fresh_browser
    browser.get(base + "/staff")
    assert browser.current_url == base + "/staff/login"
    browser.find_element(By.ID, "address").send_keys(STAFF)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert shows(browser, "wysłaliśmy na niego link")
    mailbot(path, "run", "--once")  # mailbot run sends the outbox
    browser.get(signin_link(smtp_sink))
    browser.find_element(By.ID, "sign-in").click()
    assert at(browser, base + "/staff")
    board = browser.find_element(By.TAG_NAME, "main").text
    assert "SOL-1" in board and "SOL-2" in board and "Drukarka <b>drukuje</b> puste" in board
    SCREENS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENS / "staff.png"))
    browser.find_element(By.LINK_TEXT, "SOL-1").click()
    assert shows(browser, 'id="take"')
    browser.find_element(By.ID, "take").click()
    assert shows(browser, "assignee technik@serwis.example.pl")
    assert browser.current_url == base + "/staff/t/SOL-1"
    browser.save_screenshot(str(SCREENS / "staff_ticket.png"))
    # The same link again: spent.
    browser.delete_all_cookies()
    browser.get(signin_link(smtp_sink))
    assert shows(browser, "został już użyty")
