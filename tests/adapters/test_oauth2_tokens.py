"""The OAuth2 token source against the tests' real token endpoint (tests/oauth2_server.py):
tokens fetched, cached in the state directory (0600), renewed ahead of expiry, replaced when
a server refuses them, shared by threads; the endpoint's refusals in its own words."""

from __future__ import annotations

import stat
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.adapters.oauth2 import CACHE_NAME, REFUSAL_BACKOFF, TokenSource
from mailbot.config import OAuth2Settings
from mailbot.errors import OAuth2Error
from tests.conftest import free_port
from tests.factories import Clock
from tests.oauth2_server import OAuth2Server


def client_settings(server: OAuth2Server, username: str = "support") -> OAuth2Settings:
    client_id, secret = f"c-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.add_client(client_id, secret, username=username)
    return OAuth2Settings(
        client_id=client_id, client_secret=secret, scope="mail", token_url=server.token_url
    )


def refresh_settings(server: OAuth2Server, username: str = "support") -> OAuth2Settings:
    return OAuth2Settings(
        flow="refresh_token",
        client_id="desktop-app",
        token_url=server.token_url,
        refresh_token=server.issue_refresh_token("desktop-app", username),
    )


def test_client_credentials_give_a_token_for_the_mailbox_cached_with_mode_0600(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = client_settings(oauth2_server, "helpdesk")
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock())

    token = source.token()

    assert oauth2_server.username_of(token) == "helpdesk"
    assert source.token() == token and source.requests == 1
    cache = tmp_path / CACHE_NAME
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert settings.client_secret not in cache.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]  # no temporary file left


def test_a_token_is_renewed_a_tenth_of_its_lifetime_before_it_expires(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    oauth2_server.lifetime = 600
    clock = Clock()
    source = TokenSource(client_settings(oauth2_server), state_dir=tmp_path, clock=clock)
    first = source.token()

    clock.now += timedelta(seconds=539)
    assert source.token() == first
    clock.now += timedelta(seconds=1)
    second = source.token()

    assert second != first and source.requests == 2
    assert oauth2_server.username_of(second) == "support"


def test_a_refused_token_is_replaced_once_however_many_connections_report_it(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    source = TokenSource(client_settings(oauth2_server), state_dir=tmp_path, clock=Clock())
    refused = source.token()
    oauth2_server.revoke(refused)

    source.invalidate(refused)
    fresh = source.token()
    source.invalidate(refused)  # a second connection reporting the same old token

    assert source.token() == fresh != refused and source.requests == 2
    assert oauth2_server.username_of(fresh) == "support"


def test_a_restart_uses_the_cached_token_unless_the_settings_changed(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = client_settings(oauth2_server)
    token = TokenSource(settings, state_dir=tmp_path, clock=Clock()).token()

    again = TokenSource(settings, state_dir=tmp_path, clock=Clock())
    other = TokenSource(client_settings(oauth2_server), state_dir=tmp_path, clock=Clock())

    assert again.token() == token and again.requests == 0
    assert other.token() != token and other.requests == 1


def test_a_broken_cache_file_costs_one_token_request(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    (tmp_path / CACHE_NAME).write_text("{not json")
    source = TokenSource(client_settings(oauth2_server), state_dir=tmp_path, clock=Clock())

    assert oauth2_server.username_of(source.token()) == "support"
    assert source.requests == 1


def test_the_refresh_token_flow_and_a_rotated_refresh_token_kept_across_restarts(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    oauth2_server.rotate_refresh_tokens = True
    settings = refresh_settings(oauth2_server, "helpdesk")
    clock = Clock()
    source = TokenSource(settings, state_dir=tmp_path, clock=clock)
    first = source.token()  # the configured refresh token is now revoked, a new one kept
    source.invalidate(first)
    second = source.token()

    clock.now += timedelta(hours=2)
    after_restart = TokenSource(settings, state_dir=tmp_path, clock=clock).token()

    for token in (first, second, after_restart):
        assert oauth2_server.username_of(token) == "helpdesk"
    assert len({first, second, after_restart}) == 3


def test_a_revoked_refresh_token_is_a_permanent_invalid_grant_in_the_servers_words(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = refresh_settings(oauth2_server)
    oauth2_server.revoke(settings.refresh_token)
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock())

    with pytest.raises(OAuth2Error) as caught:
        source.token()

    assert (caught.value.code, caught.value.permanent) == ("invalid_grant", True)
    assert str(caught.value) == (
        f"the token endpoint {oauth2_server.token_url} gave no token: invalid_grant: The"
        " refresh token is invalid, expired or revoked. (HTTP 400)"
    )
    assert settings.refresh_token not in str(caught.value)
    assert not (tmp_path / CACHE_NAME).exists()


def test_a_wrong_client_secret_is_invalid_client_and_never_in_the_message(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    good = client_settings(oauth2_server)
    wrong = OAuth2Settings(
        client_id=good.client_id, client_secret="wrong-secret", token_url=good.token_url
    )

    with pytest.raises(OAuth2Error) as caught:
        TokenSource(wrong, state_dir=tmp_path, clock=Clock()).token()

    assert (caught.value.code, caught.value.permanent) == ("invalid_client", True)
    assert "wrong-secret" not in str(caught.value)


def test_an_unreachable_token_endpoint_is_worth_retrying(tmp_path: Path) -> None:
    settings = OAuth2Settings(
        client_id="c", client_secret="s", token_url=f"http://127.0.0.1:{free_port()}/token"
    )

    with pytest.raises(OAuth2Error, match="is unreachable") as caught:
        TokenSource(settings, state_dir=tmp_path, clock=Clock(), timeout=5).token()

    assert caught.value.permanent is False


def test_threads_asking_at_once_share_one_token_request(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    source = TokenSource(client_settings(oauth2_server), state_dir=tmp_path, clock=Clock())
    start = threading.Barrier(8)
    tokens: list[str] = []

    def ask() -> None:
        start.wait(timeout=5)
        tokens.append(source.token())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert source.requests == 1


class Heard:
    """A TokenWatch that writes down what it hears."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def renewed(self) -> None:
        self.events.append("renewed")

    def refused(self, error: OAuth2Error) -> None:
        self.events.append(f"refused {error.reason}")


def test_a_watch_hears_each_renewal_and_each_refusal_for_good_but_not_an_outage(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = refresh_settings(oauth2_server)
    clock, heard = Clock(), Heard()
    source = TokenSource(settings, state_dir=tmp_path, clock=clock, random_fraction=lambda: 0.0)
    source.watch(heard)
    first = source.token()
    source.token()  # the cached one: no renewal
    oauth2_server.revoke(settings.refresh_token)
    source.invalidate(first)
    with pytest.raises(OAuth2Error):
        source.token()
    clock.now += REFUSAL_BACKOFF  # half of it would do, with no jitter
    with pytest.raises(OAuth2Error):
        source.token()
    away = OAuth2Settings(client_id="c", client_secret="s",
                          token_url=f"http://127.0.0.1:{free_port()}/token")  # fmt: skip
    unreachable = TokenSource(away, state_dir=None, clock=Clock(), timeout=5)
    unreachable.watch(heard)
    with pytest.raises(OAuth2Error, match="unreachable"):
        unreachable.token()

    refusal = "refused invalid_grant: The refresh token is invalid, expired or revoked. (HTTP 400)"
    assert heard.events == ["renewed", refusal, refusal]


def test_after_a_refusal_for_good_the_endpoint_is_asked_again_only_after_a_growing_wait(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = refresh_settings(oauth2_server)
    oauth2_server.revoke(settings.refresh_token)
    clock = Clock()
    source = TokenSource(settings, state_dir=tmp_path, clock=clock, random_fraction=lambda: 0.0)
    asked = []
    # Equal jitter, none drawn: 15 s after the first refusal (half of 30 s), then 30 s, 60 s...
    for waited in (0, 14, 1, 29, 1, 59, 1):
        clock.now += timedelta(seconds=waited)
        with pytest.raises(OAuth2Error) as caught:
            source.token()
        assert (caught.value.code, caught.value.permanent) == ("invalid_grant", True)
        assert caught.value.reason.startswith("invalid_grant: The refresh token is invalid")
        asked.append(source.requests)

    assert asked == [1, 1, 2, 2, 3, 3, 4]
