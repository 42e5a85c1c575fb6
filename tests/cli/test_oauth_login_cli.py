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
from mailbot.adapters.oauth2_providers import GOOGLE_SCOPE, GOOGLE_TOKEN_URL, token_source
from mailbot.cli import main
from tests.factories import oauth2_mailbox_settings
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
    path = config(tmp_path, oauth2_server)
    assert main(["--config", path, "check-config", "--offline"]) == 0
    before = capsys.readouterr().out

    code = main(["--config", path, "oauth", "login"])
    out = capsys.readouterr().out
    main(["--config", path, "check-config", "--offline"])
    after = capsys.readouterr().out

    stored = tmp_path / "state" / LOGIN_NAME
    assert code == 0
    assert f"To sign in, open {oauth2_server.url}/activate in a browser on any device" in out
    assert f"Signed in. The refresh token is stored in {stored} (mode 0600)." in out
    refresh = json.loads(stored.read_text())["refresh_token"]
    assert refresh.startswith("rt-") and refresh not in out
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert f"oauth2 login: WARNING: no sign-in stored in {stored} for these settings: run" in before
    assert "oauth2 login: OK: signed in by mailbot oauth login on " in after


def test_googles_installed_app_renews_at_googles_token_endpoint_without_google_auth(
    tmp_path: Path,
) -> None:
    settings = oauth2_mailbox_settings(
        tmp_path,
        'provider = "google"\nflow = "refresh_token"\nclient_id = "1-x.apps.googleusercontent.com"\n',
        {"MAILBOT_OAUTH2__CLIENT_SECRET": "s"},
    )

    source = token_source(settings)

    assert source is not None and source._grant is None
    assert (source._settings.token_url, source._settings.scope) == (GOOGLE_TOKEN_URL, GOOGLE_SCOPE)


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
