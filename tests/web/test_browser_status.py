"""The status page in a real browser, served by a real ``mailbot web`` (issue 15 item 4):
a phone ticket is opened and its link made with the command line, Chromium opens the
page, answers from it, sees the answer in the progress, and saves docs/screens/status.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from mailbot.cli import main
from tests.conftest import free_port
from tests.web.served import serving, web_config

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"

CONTRACTS = """\
[[contract]]
id = "acme-vip"
customer = "ACME Sp. z o.o."
tier = "vip"
addresses = ["jan@acme.pl"]
valid_from = 2025-01-01
package_hours = 10
"""


def configure(tmp_path: Path, port: int) -> Path:
    return web_config(
        tmp_path, port, address="pomoc@serwis.example.pl", staff="szef@example.com",
        contracts=CONTRACTS, web=f'base_url = "http://127.0.0.1:{port}"',
    )  # fmt: skip


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), *args]) == 0
    return capsys.readouterr().out


def test_a_customer_reads_the_status_page_and_answers_from_it(
    fresh_browser: webdriver.Chrome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = configure(tmp_path, port)
    run(config, capsys, "contracts", "import", str(tmp_path / "contracts.toml"))
    run(
        config, capsys, "tickets", "open", "--contract", "acme-vip",
        "--subject", "Serwer plików <nie odpowiada>", "--body", "Od rana brak dostępu do dysku.",
    )  # fmt: skip
    link = run(config, capsys, "tickets", "revoke-link", "SOL-1").split("new link: ")[1].strip()
    with serving(config, port) as web:
        fresh_browser.get(link)
        assert fresh_browser.find_element(By.TAG_NAME, "h1").text == "Zgłoszenie SOL-1"
        subject = fresh_browser.find_element(By.CLASS_NAME, "subject").text
        assert subject == "Serwer plików <nie odpowiada>"
        fresh_browser.find_element(By.ID, "text").send_keys("Restart nie pomógł.")
        fresh_browser.find_element(By.CSS_SELECTOR, "form button").click()
        # The page is replaced under the check: a node it held may vanish mid-read.
        WebDriverWait(fresh_browser, 10, ignored_exceptions=(WebDriverException,)).until(
            expected_conditions.text_to_be_present_in_element(
                (By.CLASS_NAME, "timeline"), "Restart nie pomógł."
            )
        )
        assert fresh_browser.current_url == link
        SCREENS.mkdir(parents=True, exist_ok=True)
        assert fresh_browser.save_screenshot(str(SCREENS / "status.png"))
    assert web.returncode == 0, web.stderr
