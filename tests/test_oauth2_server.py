"""The tests' OAuth2 server (tests/oauth2_server.py) answers like an RFC 6749 token endpoint
and an RFC 7662 introspection endpoint: the other OAuth2 tests rely on it."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

from tests.oauth2_server import OAuth2Server


def post(url: str, form: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=urlencode(form).encode(), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def new_client(server: OAuth2Server, username: str = "support") -> tuple[str, str]:
    client_id, secret = f"c-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.add_client(client_id, secret, username=username)
    return client_id, secret


def test_client_credentials_give_a_bearer_token_for_the_clients_mailbox(
    oauth2_server: OAuth2Server,
) -> None:
    oauth2_server.lifetime = 300
    client_id, secret = new_client(oauth2_server, "helpdesk")

    status, answer = post(
        oauth2_server.token_url,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )

    assert status == 200
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 300
    found = oauth2_server.introspect(answer["access_token"])
    assert found["active"] is True and found["username"] == "helpdesk"


def test_http_basic_client_authentication_is_accepted_too(oauth2_server: OAuth2Server) -> None:
    client_id, secret = new_client(oauth2_server)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    status, answer = post(
        oauth2_server.token_url,
        {"grant_type": "client_credentials"},
        {"Authorization": f"Basic {basic}"},
    )

    assert status == 200 and answer["access_token"].startswith("at-")


def test_a_wrong_secret_is_an_invalid_client_error_with_a_description(
    oauth2_server: OAuth2Server,
) -> None:
    client_id, _secret = new_client(oauth2_server)

    status, answer = post(
        oauth2_server.token_url,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
    )

    assert status == 401
    assert answer["error"] == "invalid_client" and answer["error_description"]


def test_a_revoked_refresh_token_is_an_invalid_grant(oauth2_server: OAuth2Server) -> None:
    refresh = oauth2_server.issue_refresh_token("app", "support")
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    assert post(oauth2_server.token_url, form)[0] == 200

    oauth2_server.revoke(refresh)
    status, answer = post(oauth2_server.token_url, form)

    assert (status, answer["error"]) == (400, "invalid_grant")


def test_tokens_expire_on_the_servers_clock_or_on_demand(oauth2_server: OAuth2Server) -> None:
    oauth2_server.lifetime = 60
    short = oauth2_server.issue_access_token("support")
    oauth2_server.advance(59)
    assert oauth2_server.username_of(short) == "support"
    oauth2_server.advance(1)
    assert oauth2_server.username_of(short) is None

    other = oauth2_server.issue_access_token("support")
    oauth2_server.expire(other)
    assert oauth2_server.username_of(other) is None


def test_introspection_by_post_and_get_as_dovecot_asks(oauth2_server: OAuth2Server) -> None:
    token = oauth2_server.issue_access_token("support")

    status, answer = post(oauth2_server.introspection_url, {"token": token})
    with urllib.request.urlopen(
        f"{oauth2_server.introspection_url}?{urlencode({'token': token})}", timeout=5
    ) as got:
        by_get = json.load(got)

    assert status == 200 and answer["active"] is True and answer["username"] == "support"
    assert by_get["username"] == "support"
    assert post(oauth2_server.introspection_url, {"token": "at-unknown"})[1] == {"active": False}
