"""``mailbot demo --serve`` as a newcomer runs it: the demo, then its web side on 127.0.0.1
answering in a browser until SIGTERM (issue 15 item 8)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

from mailbot.cli import build_parser
from tests.cli.test_web_command import get
from tests.conftest import free_port
from tests.web.served import wait_until_serving


def test_demo_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "demo", "--dir", str(tmp_path / "demo"), "--serve",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(process, base + "/")
        status, _, _ = get(base + "/")
        assert status == 200
        status, page, _ = get(base + "/staff/login")
        assert status == 200 and b'name="address"' in page
        link, printed = _printed_status_link(process, base)
        status, page, _ = get(link)
        assert status == 200 and b"SOL-" in page
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"{base}/staff/login" in printed + out
    assert "web: stopped" in err


def _printed_status_link(process: subprocess.Popen[str], base: str) -> tuple[str, str]:
    """The status link the demo printed before serving, and all it printed so far. Read
    from the pipe itself: a buffered readline would hide what it read ahead from select."""
    assert process.stdout is not None
    fd, printed = process.stdout.fileno(), b""
    pattern = re.compile(re.escape(base).encode() + rb"/t/[\w.-]+")
    while (found := pattern.search(printed)) is None:
        ready, _, _ = select.select([fd], [], [], 10)
        assert ready, f"the demo printed no status link: {printed[-500:]!r}"
        chunk = os.read(fd, 65536)
        assert chunk, "the demo ended its output without a status link"
        printed += chunk
    return found.group().decode(), printed.decode()


def test_demo_help_names_serve_and_port() -> None:
    demo = build_parser().parse_args(["demo", "--serve", "--port", "8099"])
    assert demo.serve and demo.port == 8099
