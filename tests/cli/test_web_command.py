"""``mailbot web`` as systemd runs it: a real process on a free port, asked over HTTP, then
stopped by SIGTERM (issue 15, phase A)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from mailbot.cli import build_parser
from tests.conftest import free_port
from tests.web.served import serving, web_config

TOKEN = "cli-metrics-token"


def get(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read(), {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


def test_mailbot_web_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    environ = {**os.environ, "MAILBOT_WEB__METRICS_TOKEN": TOKEN}
    with serving(web_config(tmp_path, port), port, env=environ) as web:
        base = web.base
        status, body, headers = get(base + "/")
        assert status == 200 and b'<html lang="pl">' in body
        assert "server" not in headers
        assert headers["content-security-policy"].startswith("default-src 'none'")
        # From 127.0.0.1, which is not a trusted proxy here: only the token opens /healthz.
        assert get(base + "/healthz")[0] == 403
        status, body, _ = get(base + "/healthz", TOKEN)
        assert status == 503 and json.loads(body)["status"] == "CRITICAL"  # never polled
        assert get(base + "/metrics", TOKEN)[0] == 200
    assert web.returncode == 0, web.stderr
    assert f"web: serving on http://127.0.0.1:{port}" in web.stderr
    assert "web: stopped" in web.stderr
    assert TOKEN not in web.stderr


def server_config(tmp_path: Path, port: int, *, smtp_username: str = "") -> Path:
    """A configuration naming a real IMAP server and login (never reached here), and no
    password anywhere: not in the file, the environment, a .env or a credential. SMTP is a
    pickup directory, or a server with the login ``smtp_username``."""
    smtp = (
        f'host = "smtp.example.com"\nusername = "{smtp_username}"'
        if smtp_username
        else 'url = "dir:outgoing"'
    )
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[general]
state_dir = "state"

[imap]
host = "imap.example.com"
username = "support"

[smtp]
{smtp}

[support]
address = "support@example.com"

[web]
bind = "127.0.0.1:{port}"
""",
        encoding="utf-8",
    )
    return path


def without_passwords() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MAILBOT_") and name != "CREDENTIALS_DIRECTORY"
    }


def test_mailbot_web_starts_without_the_imap_password(tmp_path: Path) -> None:
    port = free_port()
    with serving(server_config(tmp_path, port), port, env=without_passwords()) as web:
        assert get(web.base + "/zgloszenie/warranty")[0] == 200
    assert web.returncode == 0, web.stderr
    assert "imap.password" not in web.stderr


def run_once(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(path), "run", "--once"],
        env=without_passwords(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_mailbot_run_still_needs_the_imap_password(tmp_path: Path) -> None:
    path = server_config(tmp_path, free_port())
    done = run_once(path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"mailbot: configuration error: {path}: imap.password: missing")
    assert "MAILBOT_IMAP__PASSWORD" in line and "imap_password" in line


def test_mailbot_web_still_needs_the_smtp_password_of_a_login(tmp_path: Path) -> None:
    path = server_config(tmp_path, free_port(), smtp_username="desk")
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(path), "web"],
        env=without_passwords(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"{path}: smtp.password: missing" in line and "MAILBOT_SMTP__PASSWORD" in line


def test_a_broken_page_template_stops_check_config_and_mailbot_web(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates", templates)
    broken = templates / "web" / "en" / "status.html.j2"
    broken.write_text('{% extends "en/base.html.j2" %}{% block content %}{{ ticket.nr }}'
                      "{% endblock %}")  # fmt: skip
    path = web_config(tmp_path, free_port())
    path.write_text(
        path.read_text().replace("[general]\n", f'[general]\ntemplates_dir = "{templates}"\n')
    )
    for command in (("check-config", "--offline"), ("web",)):
        done = subprocess.run(
            [sys.executable, "-m", "mailbot", "--config", str(path), *command],
            env=without_passwords(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        # mailbot web logs its start first; the error is the last line, and one line.
        line = done.stderr.splitlines()[-1]
        assert line.startswith(f"mailbot: configuration error: page template {broken}: ")
        assert "UndefinedError" in line and "'nr'" in line
    broken.write_text((Path(__file__).resolve().parents[2] / "templates" / "web" / "en"
                       / "status.html.j2").read_text())  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(path), "check-config", "--offline"],
        env=without_passwords(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"pages: OK: 76 web page(s) rendered from {templates / 'web'} over " in done.stdout


def test_the_web_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["web"].format_help()  # type: ignore[attr-defined]
    assert "[web] bind" in text and "SIGTERM" in text and "trusted_proxies" in text
