"""``mailbot oauth login`` as an admin runs it: the generic provider's device grant against the
tests' OAuth2 server (which approves the code at once: no poll waits), the refresh token
stored 0600 in the state directory and never printed; the flows that need no login refused
with exit code 2."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mailbot.adapters.oauth2 import LOGIN_NAME
from mailbot.cli import main
from tests.oauth2_server import OAuth2Server


def config(tmp_path: Path, server: OAuth2Server, flow: str = "refresh_token") -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[general]
state_dir = "state"
[imap]
host = "imap.firma.pl"
username = "pomoc@firma.pl"
auth = "oauth2"
[smtp]
host = "smtp.firma.pl"
username = "pomoc@firma.pl"
auth = "oauth2"
[support]
address = "pomoc@firma.pl"
[oauth2]
flow = "{flow}"
client_id = "mailbot-cli"
token_url = "{server.token_url}"
device_authorization_url = "{server.url}/device"
""", encoding="utf-8")  # fmt: skip
    return str(path)


def test_oauth_login_prints_the_address_and_code_and_stores_the_refresh_token_0600(
    oauth2_server: OAuth2Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oauth2_server.approving_user = "pomoc@firma.pl"

    code = main(["--config", config(tmp_path, oauth2_server), "oauth", "login"])

    out = capsys.readouterr().out
    stored = tmp_path / "state" / LOGIN_NAME
    assert code == 0
    assert f"To sign in, open {oauth2_server.url}/activate in a browser on any device" in out
    assert f"Signed in. The refresh token is stored in {stored} (mode 0600)." in out
    refresh = json.loads(stored.read_text())["refresh_token"]
    assert refresh.startswith("rt-") and refresh not in out
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_oauth_login_refuses_a_flow_that_needs_no_login_with_exit_2(
    oauth2_server: OAuth2Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MAILBOT_OAUTH2__CLIENT_SECRET", "s")

    code = main(["--config", config(tmp_path, oauth2_server, "client_credentials"), "oauth",
                 "login"])  # fmt: skip

    assert code == 2
    assert capsys.readouterr().err.startswith(
        'mailbot: configuration error: oauth2.flow: "client_credentials" needs no login'
    )
    assert not (tmp_path / "state" / LOGIN_NAME).exists()
