"""``mailbot oauth login``'s three logins against the tests' OAuth2 server, and the stored
login the token source then renews with: RFC 8628 (generic), msal's device-code flow
(Microsoft, over HTTPS as Entra ID), the installed app's code with PKCE (Google's), by the
loopback redirect or a pasted address. The test "approves" a code by calling the server,
as the user would in a browser; the polls wait on an injected sleep that moves the clock."""

from __future__ import annotations

import os
import re
import stat
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.adapters.oauth2 import CACHE_NAME, LOGIN_NAME, REFUSAL_BACKOFF, TokenSource
from mailbot.adapters.oauth2_login import device_login, installed_app_login, store_login
from mailbot.adapters.oauth2_providers import MICROSOFT_DELEGATED_SCOPE
from mailbot.config import OAuth2Settings
from mailbot.core.oauth2 import AccessToken
from mailbot.core.oauth2_login import DEVICE_CODE_GRANT
from mailbot.errors import OAuth2Error
from tests.adapters.test_oauth2_microsoft import local_grant
from tests.factories import NOW, Clock
from tests.oauth2_server import OAuth2Server


class Waits:
    """An injected sleep: notes each wait and moves the clock by it; ``then`` runs at a
    given wait (the user entering the code meanwhile)."""

    def __init__(self, clock: Clock, then: dict[int, Callable[[], None]] | None = None) -> None:
        self.clock, self.then, self.waits = clock, then or {}, list[float]()

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.now += timedelta(seconds=seconds)
        self.then.get(len(self.waits), lambda: None)()


def generic(server: OAuth2Server) -> OAuth2Settings:
    return OAuth2Settings(
        flow="refresh_token", client_id=f"cli-{uuid.uuid4().hex[:6]}", scope="mail",
        token_url=server.token_url, device_authorization_url=f"{server.url}/device",
    )  # fmt: skip


def user_code(said: list[str]) -> str:
    found = re.search(r"enter the code (\w+)", said[-1])
    assert found is not None, said
    return found.group(1)


def test_the_device_grant_prints_the_address_and_code_and_polls_until_the_user_signed_in(
    oauth2_server: OAuth2Server,
) -> None:
    settings, clock, said = generic(oauth2_server), Clock(), list[str]()
    sleep = Waits(clock, {2: lambda: oauth2_server.approve(user_code(said), "helpdesk")})
    oauth2_server.slow_downs = 1

    token = device_login(settings, say=said.append, sleep=sleep, clock=clock)

    assert said == [
        f"To sign in, open {oauth2_server.url}/activate in a browser on any device and enter"
        f" the code {user_code(said)} (valid until {NOW + timedelta(minutes=15):%H:%M} UTC)."
    ]
    assert sleep.waits == [6.0, 6.0]  # slow_down: 5 s more from then on (RFC 8628 3.5)
    assert oauth2_server.username_of(token.value) == "helpdesk"
    assert token.refresh_token.startswith("rt-")
    polls = [f for f in oauth2_server.forms  # the session's server: other tests' polls too
             if (f.get("grant_type"), f.get("client_id")) == (DEVICE_CODE_GRANT, settings.client_id)]  # fmt: skip
    assert len(polls) == 3


def test_a_declined_sign_in_and_a_code_left_to_expire_end_the_login_saying_so(
    oauth2_server: OAuth2Server,
) -> None:
    settings, clock, said = generic(oauth2_server), Clock(), list[str]()
    declined = Waits(clock, {1: lambda: oauth2_server.deny(user_code(said))})

    with pytest.raises(OAuth2Error, match="the sign-in was declined") as caught:
        device_login(settings, say=said.append, sleep=declined, clock=clock)
    oauth2_server.device_interval = 300
    never = Waits(clock)
    with pytest.raises(OAuth2Error, match="the code expired before it was entered"):
        device_login(settings, say=said.append, sleep=never, clock=clock)

    assert caught.value.code == "access_denied"
    assert never.waits == [300.0] * 3  # the code lives 15 minutes: no poll after that


def test_a_device_endpoint_that_refuses_says_so_in_its_words(oauth2_server: OAuth2Server) -> None:
    settings = replace(generic(oauth2_server), device_authorization_url=f"{oauth2_server.url}/x")

    with pytest.raises(OAuth2Error, match=r"gave no code: not_found \(HTTP 404\)"):
        device_login(settings, say=print, sleep=Waits(Clock()), clock=Clock())


def test_msal_device_flow_against_entra_then_renewals_with_the_stored_refresh_token(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}.onmicrosoft.com"
    oauth2_server.add_tenant(tenant)
    settings = OAuth2Settings(provider="microsoft", flow="device_code", tenant=tenant,
                              client_id=str(uuid.uuid4()))  # fmt: skip
    clock, said = Clock(), list[str]()
    grant = local_grant(oauth2_server, settings)
    sleep = Waits(clock, {1: lambda: oauth2_server.approve(user_code(said), "pomoc@firma.pl")})

    token = grant.device_login(say=said.append, sleep=sleep, clock=clock)
    store_login(tmp_path, settings, token, now=clock())
    source = TokenSource(settings, state_dir=tmp_path, clock=clock, grant=grant)
    renewed = source.token()

    assert said[0].startswith("To sign in, use a web browser to open the page https://microsoft")
    asked, _pending, code, refresh = oauth2_server.forms[-4:]  # code, two polls, a refresh
    assert set(MICROSOFT_DELEGATED_SCOPE.split()) <= set(asked["scope"].split())
    assert "offline_access" in asked["scope"].split()  # msal asks for a refresh token
    assert code["grant_type"] == DEVICE_CODE_GRANT and "client_secret" not in code
    assert refresh["grant_type"] == "refresh_token" and "client_secret" not in refresh
    assert oauth2_server.username_of(renewed) == "pomoc@firma.pl" and renewed != token.value


def installed(server: OAuth2Server, user: str = "pomoc@firma.pl") -> OAuth2Settings:
    client_id, secret = f"{uuid.uuid4().hex[:8]}.apps.googleusercontent.com", uuid.uuid4().hex
    server.add_client(client_id, secret, username="nobody")
    server.consenting_user = user
    return OAuth2Settings(provider="google", flow="refresh_token", client_id=client_id,
                          client_secret=secret, scope="https://mail.google.com/",
                          token_url=server.token_url)  # fmt: skip


def address_in(said: list[str]) -> str:
    found = re.search(r"^(http://\S+)$", said[0], re.MULTILINE)
    assert found is not None, said
    return found.group(1)


def test_the_installed_app_takes_the_code_from_the_loopback_redirect_with_pkce(
    oauth2_server: OAuth2Server,
) -> None:
    settings, said = installed(oauth2_server), list[str]()

    def browser(text: str) -> None:  # the admin's browser on this machine: follows the redirect
        said.append(text)
        with urllib.request.urlopen(address_in(said), timeout=10) as page:
            assert page.read() == b"mailbot: the sign-in is done; you can close this page.\n"

    read, write = os.pipe()
    os.close(write)  # nothing will be pasted
    with os.fdopen(read) as nothing_pasted:
        token = installed_app_login(settings, say=browser, pasted=nothing_pasted,
                                    authorization_url=f"{oauth2_server.url}/authorize",
                                    clock=Clock())  # fmt: skip

    asked = urllib.parse.parse_qs(urllib.parse.urlsplit(address_in(said)).query)
    assert asked["scope"] == ["https://mail.google.com/"] and asked["access_type"] == ["offline"]
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert oauth2_server.username_of(token.value) == "pomoc@firma.pl"
    assert oauth2_server.forms[-1]["code_verifier"]  # PKCE: checked by the server


def test_the_installed_app_takes_a_pasted_address_after_saying_what_is_wrong_with_a_bad_one(
    oauth2_server: OAuth2Server,
) -> None:
    settings, said = installed(oauth2_server), list[str]()
    read, write = os.pipe()

    def admin(text: str) -> None:  # the browser is elsewhere: the admin pastes the address
        said.append(text)
        if len(said) > 1:
            return
        opener = urllib.request.build_opener(NoRedirects)
        with pytest.raises(urllib.error.HTTPError) as sent:
            opener.open(address_in(said), timeout=10)
        redirected = sent.value.headers["Location"]
        sent.value.close()
        pasted = f"http://127.0.0.1:1/?code=x&state=other\n  {redirected}  \n"
        os.write(write, pasted.encode())

    with os.fdopen(read) as terminal:
        token = installed_app_login(settings, say=admin, pasted=terminal,
                                    authorization_url=f"{oauth2_server.url}/authorize",
                                    clock=Clock())  # fmt: skip
        os.close(write)

    assert said[1].startswith("expected the address the browser was sent to, starting http://")
    assert oauth2_server.username_of(token.value) == "pomoc@firma.pl"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


# --- the stored login, as the token source uses it ---------------------------------------


def stored(
    server: OAuth2Server, state: Path, settings: OAuth2Settings | None = None
) -> OAuth2Settings:
    """Settings whose refresh token a login stored (none in the environment)."""
    settings = settings or generic(server)
    refresh = server.issue_refresh_token(settings.client_id, "helpdesk")
    store_login(state, settings, AccessToken("at", NOW, NOW, refresh), now=NOW)
    return settings


def test_the_stored_login_is_0600_used_by_the_token_source_and_a_rotation_kept_in_it(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    oauth2_server.rotate_refresh_tokens = True
    settings = stored(oauth2_server, tmp_path)
    before = (tmp_path / LOGIN_NAME).read_text()
    clock = Clock()

    first = TokenSource(settings, state_dir=tmp_path, clock=clock).token()
    clock.now += timedelta(hours=2)
    after_restart = TokenSource(settings, state_dir=tmp_path, clock=clock).token()

    assert oauth2_server.username_of(after_restart) == "helpdesk" != first
    login = tmp_path / LOGIN_NAME
    assert stat.S_IMODE(login.stat().st_mode) == 0o600
    assert login.read_text() != before  # the rotated refresh token replaced the revoked one
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CACHE_NAME, LOGIN_NAME])


def test_the_login_file_goes_to_the_state_directorys_owner(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    if os.geteuid() == 0:  # as root: the daemon's user (systemd's DynamicUser) owns it
        os.chown(tmp_path, 65534, 65534)

    stored(oauth2_server, tmp_path)

    assert (tmp_path / LOGIN_NAME).stat().st_uid == tmp_path.stat().st_uid


def test_no_login_stored_is_a_refusal_for_good_until_one_is_then_it_is_used_at_once(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = generic(oauth2_server)
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock())

    with pytest.raises(OAuth2Error) as caught:
        source.token()
    stored(oauth2_server, tmp_path, settings)

    assert (caught.value.code, caught.value.permanent) == ("login_required", True)
    assert "none stored by mailbot oauth login" in caught.value.reason
    assert oauth2_server.username_of(source.token()) == "helpdesk"  # no backoff to wait out


def test_a_revoked_stored_token_recovers_at_the_next_attempt_after_a_new_login(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = stored(oauth2_server, tmp_path)
    clock = Clock()
    source = TokenSource(settings, state_dir=tmp_path, clock=clock, random_fraction=lambda: 0.0)
    first = source.token()
    login = (tmp_path / LOGIN_NAME).read_text()
    oauth2_server.revoke(re.findall(r'"refresh_token": "([^"]+)"', login)[0])  # consent withdrawn
    oauth2_server.revoke(first)
    source.invalidate(first)
    with pytest.raises(OAuth2Error, match="invalid_grant"):
        source.token()
    with pytest.raises(OAuth2Error, match="invalid_grant"):
        source.token()  # within the backoff: not asked again
    asked = source.requests

    stored(oauth2_server, tmp_path, settings)  # mailbot oauth login, meanwhile
    again = source.token()  # still within the backoff, yet asked at once

    assert oauth2_server.username_of(again) == "helpdesk"
    assert source.requests == asked + 1
    assert clock.now - NOW < REFUSAL_BACKOFF / 2


def test_a_login_for_other_settings_is_not_used(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = stored(oauth2_server, tmp_path)
    other = replace(settings, client_id="another-app")

    with pytest.raises(OAuth2Error) as caught:
        TokenSource(other, state_dir=tmp_path, clock=Clock()).token()

    assert caught.value.code == "login_required"
