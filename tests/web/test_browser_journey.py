"""The customer's whole journey in a real browser (issue 15, "Tests that must exist").

A real ``mailbot run`` (IMAP against the suite's Dovecot, SMTP to the suite's aiosmtpd
sink) and a real ``mailbot web`` share one database. Headless Chromium submits the
warranty form with a ``<script>`` in the description, follows the confirmation link
from the mail, then the status link from the acknowledgement; a staff member answers
the staff notification by mail (one ``#internal`` note, one answer for the customer),
the daemon takes both, and the status page shows the answer and never the note.
Every wait is bounded polling; nothing sleeps to let time pass.
Saves docs/screens/status_journey.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import IO

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from mailbot.config import ImapSettings
from mailbot.core.timeline import status_wording
from tests.conftest import ImapPeer, SmtpSink, free_port
from tests.web.served import wait_until_serving

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
DESK = "pomoc@serwis.example.pl"
STAFF = "technik@serwis.example.pl"
CUSTOMER = "anna@example.com"
SCRIPT = "<script>alert(1)</script>"
ANSWER = "Wymieniliśmy bęben, drukarka drukuje."
NOTE = "Notatka dla zespołu: klient dzwonił dwa razy."
WAIT = 30.0  # seconds: reached only when something is wrong


# The customer's warranty, as the company registers it: the form's tier comes from the
# contract her address names (an address with none gets post-warranty, as a mail would).
CONTRACTS = f"""
[[contract]]
id = "nowak-gw"
customer = "Anna Nowak"
tier = "warranty"
addresses = ["{CUSTOMER}"]
valid_from = 2025-01-01
"""


def configure(tmp_path: Path, imap: ImapSettings, smtp: SmtpSink, port: int) -> Path:
    (tmp_path / "contracts.toml").write_text(CONTRACTS, encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[general]
state_dir = "state"

[imap]
host = "{imap.host}"
port = {imap.port}
username = "{imap.username}"
tls = "none"
poll_interval = "1s"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
tls = "none"
from_address = "{DESK}"

[database]
url = "sqlite:///{tmp_path / "db.sqlite"}"

[support]
address = "{DESK}"
staff_addresses = ["{STAFF}"]
contracts_file = "contracts.toml"

[web]
bind = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``mailbot <args>`` processes (stderr to a file, so no pipe fills up); each
    gets SIGTERM after the test and must stop cleanly."""
    processes: list[tuple[subprocess.Popen[str], Path]] = []
    logs: list[IO[str]] = []
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}

    def start(config: Path, *args: str, password: str) -> subprocess.Popen[str]:
        log = tmp_path / f"{args[0]}.log"
        logs.append(log.open("w", encoding="utf-8"))
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logs[-1],
            env={**environ, "MAILBOT_IMAP__PASSWORD": password}, text=True,
        )  # fmt: skip
        processes.append((process, log))
        return process

    yield start
    for process, _ in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _ in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for file in logs:
        file.close()
    for process, log in processes:
        assert process.returncode == 0, log.read_text()


def mail_of(sink: SmtpSink, kind: str, to: str) -> EmailMessage:
    """The first mail of ``kind`` (X-Mailbot-Kind) to ``to``, polled for at most WAIT."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for received in sink.to(to):
            mail = message_from_bytes(received.content, policy=default)
            assert isinstance(mail, EmailMessage)
            if mail["X-Mailbot-Kind"] == kind:
                return mail
        with contextlib.suppress(TimeoutError):  # no new mail yet: look again
            sink.wait_for(len(sink.messages) + 1, timeout=0.5)
    kinds = [message_from_bytes(m.content)["X-Mailbot-Kind"] for m in sink.messages]
    pytest.fail(f"no {kind} mail to {to} within {WAIT} s; the sink holds {kinds}")


def link_in(mail: EmailMessage, path: str) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"http://127\.0\.0\.1:\d+" + path + r"[A-Za-z0-9_.~-]+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def staff_answer(notification: EmailMessage, text: str) -> bytes:
    """A staff member's answer to the notification, as their mail program writes it."""
    answer = EmailMessage()
    answer["From"], answer["To"] = f"Tomasz Technik <{STAFF}>", DESK
    answer["Subject"] = "Re: " + str(notification["Subject"])
    answer["Message-ID"] = f"<{time.monotonic_ns()}@serwis.example.pl>"
    answer["In-Reply-To"] = answer["References"] = notification["Message-ID"]
    answer.set_content(text)
    return answer.as_bytes()


def wait(browser: webdriver.Chrome, found: Callable[[webdriver.Chrome], bool]) -> None:
    WebDriverWait(browser, WAIT, poll_frequency=0.2).until(found)


def fill_warranty_form(browser: webdriver.Chrome, base: str) -> None:
    browser.get(base + "/")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/zgloszenie/warranty"]').click()
    wait(browser, lambda b: b.current_url == base + "/zgloszenie/warranty")
    for name, value in [("name", "Anna Nowak"), ("address", CUSTOMER),
                        ("subject", f"Drukarka nie drukuje {SCRIPT}"),
                        ("body", f"Od rana nic nie drukuje. {SCRIPT}")]:  # fmt: skip
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda b: "Sprawdź skrzynkę" in b.page_source)


def no_alert(browser: webdriver.Chrome) -> bool:
    try:
        alert = browser.switch_to.alert
    except NoAlertPresentException:
        return True
    alert.dismiss()  # the page stays usable for what the failing test shows
    return False


def test_the_customers_whole_journey(
    fresh_browser: webdriver.Chrome,
    smtp_sink: SmtpSink,
    imap_settings: ImapSettings,
    tmp_path: Path,
    started: Callable[..., subprocess.Popen[str]],
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = configure(tmp_path, imap_settings, smtp_sink, port)
    started(config, "db", "upgrade", password=imap_settings.password).wait(timeout=WAIT)
    started(config, "run", password=imap_settings.password)
    web = started(config, "web", password=imap_settings.password)
    wait_until_serving(web, base + "/", tmp_path / "web.log")
    browser = fresh_browser

    # 1. The form, the confirmation mail, the confirmation in the browser.
    fill_warranty_form(browser, base)
    browser.get(link_in(mail_of(smtp_sink, "web_confirm", CUSTOMER), "/zgloszenie/potwierdz/"))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda b: "Zgłoszenie przyjęte" in b.page_source)

    # 2. The acknowledgement carries the status link; the page shows the ticket, and the
    # <script> as text.
    status = link_in(mail_of(smtp_sink, "ack", CUSTOMER), "/t/")
    browser.get(status)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Zgłoszenie SOL-1"
    facts = browser.find_element(By.CLASS_NAME, "ticket-facts").text
    assert "gwarancja" in facts and status_wording("new", "pl") in facts
    assert "Reakcja najpóźniej do" in facts and "Rozwiązanie najpóźniej do" in facts
    assert facts.count("zostało") == 2  # both deadlines running, with the time left
    # The page never repeats the opening description (core.timeline); the subject, which
    # carries the same <script>, is shown: as text, escaped, never run.
    assert browser.find_element(By.CLASS_NAME, "subject").text == f"Drukarka nie drukuje {SCRIPT}"
    assert SCRIPT not in browser.page_source and "&lt;script&gt;" in browser.page_source
    assert no_alert(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "main script")

    # 3. Staff answer the notification by mail: a note first, then the answer.
    notification = mail_of(smtp_sink, "staff_new", STAFF)
    peer = ImapPeer(imap_settings)
    try:
        peer.append(staff_answer(notification, f"#internal\n\n{NOTE}\n"))
        peer.append(staff_answer(notification, f"{ANSWER}\n"))
        WebDriverWait(peer, WAIT, poll_frequency=0.2).until(lambda p: not p.messages())
    finally:
        peer.close()  # the daemon has taken both mails out of the INBOX

    def answered(b: webdriver.Chrome) -> bool:
        b.get(status)
        return ANSWER in b.find_element(By.CLASS_NAME, "timeline").text

    wait(browser, answered)
    page = browser.find_element(By.TAG_NAME, "body").text
    assert NOTE not in page and "#internal" not in page and STAFF not in page
    facts = browser.find_element(By.CLASS_NAME, "ticket-facts").text
    assert status_wording("open", "pl") in facts and "dotrzymany" in facts  # reaction met
    assert no_alert(browser)
    SCREENS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENS / "status_journey.png"))
