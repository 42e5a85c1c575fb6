"""The browser fixture works: headless Chromium fills a form on a page served by the test.

A smoke test of the infrastructure only; the web app's own browser tests
(issue 15) use the same fixture against ``mailbot web``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

FORM = """<!doctype html>
<html lang="pl"><head><meta charset="utf-8"><title>Zgłoszenie</title></head>
<body><form method="get" action="/sent">
<label>Temat <input name="subject" id="subject"></label>
<button type="submit" id="send">Wyślij</button>
</form></body></html>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/sent":
            subject = parse_qs(url.query).get("subject", [""])[0]
            body = f"<!doctype html><title>Wysłano</title><p id='echo'>{html.escape(subject)}</p>"
        else:
            body = FORM
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@pytest.fixture
def page_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_browser_fills_and_sends_a_form(
    fresh_browser: webdriver.Chrome, page_server: str, tmp_path: Path
) -> None:
    fresh_browser.get(page_server + "/")
    assert fresh_browser.title == "Zgłoszenie"
    fresh_browser.find_element(By.ID, "subject").send_keys("<script>alert(1)</script> ąę")
    fresh_browser.find_element(By.ID, "send").click()
    WebDriverWait(fresh_browser, 10).until(expected_conditions.title_is("Wysłano"))
    # The text arrives, escaped by the page, and shows as text.
    assert fresh_browser.find_element(By.ID, "echo").text == "<script>alert(1)</script> ąę"
    shot = tmp_path / "sent.png"
    assert fresh_browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
