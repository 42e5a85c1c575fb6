"""The web side's skeleton through Starlette's TestClient: security headers on every answer,
CSRF, the client address behind trusted proxies, the guarded /healthz and /metrics,
413, 404, 500 and the language switch (issue 15, phase A)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from mailbot.adapters.db import OutboxRow, Session, TicketRow
from mailbot.bootstrap import build_desk
from mailbot.config import WebSettings
from mailbot.errors import OAuth2Error
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import record_poll
from mailbot.usecases.oauth2_refusals import TokenRefusals
from mailbot.web.app import WORKER_THREADS, create_app
from mailbot.web.security import (
    BROWSER_COOKIE,
    SECURITY_HEADERS,
    client_address,
    csrf_token,
    keep_browser_id,
    require_csrf,
)
from tests import factories

TOKEN = "metrics-s3cret"
PROXY = ("127.0.0.1", 40000)
OUTSIDER = ("198.51.100.7", 40000)


async def form_page(request: Request) -> Response:
    if request.method == "GET":  # what a page with a form does: token in, cookie kept
        response = PlainTextResponse(csrf_token(request))
        keep_browser_id(request, response)
        return response
    require_csrf(request, await request.form())
    return PlainTextResponse("taken")


def whoami(request: Request) -> Response:
    found = client_address(request)
    return JSONResponse(None if found is None else [str(found.address), found.source])


def broken(request: Request) -> Response:
    raise RuntimeError("secret internals /etc/passwd")


async def threads(request: Request) -> Response:
    return PlainTextResponse(str(anyio.to_thread.current_default_thread_limiter().total_tokens))


EXTRA = [
    Route("/test/threads", threads),
    Route("/test/form", form_page, methods=["GET", "POST"]),
    Route("/test/whoami", whoami),
    Route("/test/broken", broken),
]


def web_desk(database_url: str, tmp_path: Path, **web: object) -> Desk:
    settings = factories.maildir_settings(database_url, tmp_path)
    values = {"trusted_proxies": ("127.0.0.1/32",), "metrics_token": TOKEN, **web}
    settings = dataclasses.replace(settings, web=WebSettings(**values))  # type: ignore[arg-type]
    return build_desk(settings, clock=lambda: factories.NOW)


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    desk = web_desk(database_url, tmp_path, max_request_size=1000)
    yield desk
    desk.engine.dispose()


def client(desk: Desk, peer: tuple[str, int] = OUTSIDER) -> TestClient:
    app = create_app(desk, extra_routes=EXTRA)
    return TestClient(app, client=peer, raise_server_exceptions=False)


def assert_secured(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


# --- headers, error pages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/static/style.css", 200),
        ("GET", "/no/such/page", 404),
        ("GET", "/static/nothing.css", 404),
        ("POST", "/", 405),
        ("GET", "/metrics", 403),
        ("GET", "/healthz", 403),
        ("POST", "/test/form", 403),
        ("GET", "/test/broken", 500),
    ],
)
def test_every_answer_carries_the_security_headers(
    desk: Desk, method: str, path: str, status: int
) -> None:
    response = client(desk).request(method, path)
    assert response.status_code == status
    assert_secured(response)
    assert "script" not in response.headers["Content-Security-Policy"]


def test_the_csp_forbids_scripts_and_framing(desk: Desk) -> None:
    csp = client(desk).get("/").headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none';")
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp


def test_the_start_page_is_polish_by_default_and_links_the_style(desk: Desk) -> None:
    response = client(desk).get("/")
    assert '<html lang="pl">' in response.text
    assert '<link rel="stylesheet" href="/static/style.css">' in response.text
    assert "<script" not in response.text and "style=" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_the_app_runs_its_handlers_on_a_few_threads(desk: Desk) -> None:
    with client(desk) as started:  # as uvicorn does: the lifespan runs first
        assert started.get("/test/threads").text == str(WORKER_THREADS)


def test_404_is_a_plain_page(desk: Desk) -> None:
    response = client(desk).get("/status/forged-token")
    assert response.status_code == 404
    assert "<h1>404</h1>" in response.text and "Nie ma takiej strony" in response.text


def test_a_crash_shows_no_internals_and_is_logged(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    response = client(desk).get("/test/broken")
    assert response.status_code == 500
    assert "passwd" not in response.text and "Traceback" not in response.text
    assert "<h1>500</h1>" in response.text
    assert any("secret internals" in r.exc_text for r in caplog.records if r.exc_text)


# --- language -----------------------------------------------------------------------


def test_the_language_switch_is_kept_in_a_cookie(desk: Desk) -> None:
    browser = client(desk)
    english = browser.get("/?lang=en")
    assert '<html lang="en">' in english.text and "Technical support" in english.text
    assert browser.get("/").text.count('<html lang="en">') == 1
    assert browser.get("/nothing").text.count("There is no such page") == 1
    assert '<html lang="pl">' in browser.get("/?lang=pl").text
    assert '<html lang="pl">' in browser.get("/").text


def test_an_unknown_language_falls_back_to_polish(desk: Desk) -> None:
    response = client(desk).get("/?lang=xx")
    assert '<html lang="pl">' in response.text
    assert "mailbot_lang" not in response.headers.get("set-cookie", "")


def test_cookies_are_httponly_samesite_and_secure_behind_https(
    database_url: str, tmp_path: Path
) -> None:
    plain = web_desk(database_url, tmp_path)
    https = web_desk(database_url, tmp_path, base_url="https://help.example.com")
    try:
        for desk, secure in ((plain, False), (https, True)):
            cookies = client(desk).get("/?lang=en").headers.get_list("set-cookie")
            assert {c.split("=")[0] for c in cookies} == {"mailbot_browser", "mailbot_lang"}
            for cookie in cookies:
                lowered = cookie.lower()
                assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
                assert ("; secure" in lowered) is secure
    finally:
        plain.engine.dispose()
        https.engine.dispose()


# --- CSRF -----------------------------------------------------------------------------


def form_token(browser: TestClient) -> str:
    """The token a form of ours carries, as the helper makes it for this browser."""
    return browser.get("/test/form").text


def test_a_form_without_a_csrf_token_is_refused(desk: Desk) -> None:
    browser = client(desk)
    browser.get("/")
    response = browser.post("/test/form", data={"name": "Jan"})
    assert response.status_code == 403
    assert_secured(response)


def test_a_form_with_the_browsers_token_is_taken(desk: Desk) -> None:
    browser = client(desk)
    token = form_token(browser)
    assert browser.post("/test/form", data={"csrf_token": token}).text == "taken"


def test_a_token_of_another_browser_or_tampered_is_refused(desk: Desk) -> None:
    browser, other = client(desk), client(desk)
    token = form_token(browser)
    other.get("/")
    assert other.post("/test/form", data={"csrf_token": token}).status_code == 403
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert browser.post("/test/form", data={"csrf_token": tampered}).status_code == 403
    no_cookie = client(desk)
    assert no_cookie.post("/test/form", data={"csrf_token": token}).status_code == 403


def test_the_browser_cookie_is_made_once(desk: Desk) -> None:
    browser = client(desk)
    first = browser.get("/")
    assert BROWSER_COOKIE in first.headers["set-cookie"]
    assert "set-cookie" not in browser.get("/").headers
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", browser.cookies[BROWSER_COOKIE])


# --- the client's address --------------------------------------------------------------


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(desk: Desk) -> None:
    answer = client(desk).get("/test/whoami", headers={"X-Forwarded-For": "10.9.9.9"})
    assert answer.json() == ["198.51.100.7", "peer"]


def test_the_trusted_proxy_names_the_client(desk: Desk) -> None:
    answer = client(desk, PROXY).get(
        "/test/whoami", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.5"}
    )
    assert answer.json() == ["203.0.113.5", "forwarded"]


# --- /healthz and /metrics ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_monitoring_is_refused_to_strangers(desk: Desk, path: str) -> None:
    assert client(desk).get(path).status_code == 403
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client(desk).get(path, headers=wrong).status_code == 403
    # A public client behind the trusted proxy is still a stranger.
    behind = {"X-Forwarded-For": "203.0.113.5"}
    assert client(desk, PROXY).get(path, headers=behind).status_code == 403


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_monitoring_answers_the_token_and_the_proxys_network(desk: Desk, path: str) -> None:
    record_poll(desk.engine, now=factories.NOW)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client(desk).get(path, headers=bearer).status_code == 200
    assert client(desk, PROXY).get(path).status_code == 200


def test_an_empty_token_setting_opens_nothing(database_url: str, tmp_path: Path) -> None:
    desk = web_desk(database_url, tmp_path, metrics_token="")
    try:
        assert client(desk).get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403
    finally:
        desk.engine.dispose()


def test_healthz_is_503_when_critical_and_200_otherwise(desk: Desk) -> None:
    proxy = client(desk, PROXY)
    critical = proxy.get("/healthz")
    assert critical.status_code == 503
    assert critical.json()["status"] == "CRITICAL"
    record_poll(desk.engine, now=factories.NOW - timedelta(minutes=6))
    warning = proxy.get("/healthz")
    assert (warning.status_code, warning.json()["status"]) == (200, "WARNING")
    record_poll(desk.engine, now=factories.NOW)
    ok = proxy.get("/healthz").json()
    assert ok["status"] == "OK" and ok["last_poll_age_seconds"] == 0


def test_healthz_is_503_naming_an_oauth2_refusal_until_a_token_is_obtained(desk: Desk) -> None:
    record_poll(desk.engine, now=factories.NOW)
    watch = TokenRefusals(desk)
    reason = (
        "invalid_client: AADSTS7000222: The provided client secret keys are expired. (HTTP 401)"
    )
    watch.refused(OAuth2Error(reason, code="invalid_client", permanent=True, reason=reason))
    proxy = client(desk, PROXY)

    refused = proxy.get("/healthz")
    watch.renewed()
    recovered = proxy.get("/healthz")

    assert refused.status_code == 503
    assert refused.json()["problems"][0].startswith(
        "OAuth2 token refresh refused: invalid_client: AADSTS7000222: The provided client secret"
    )
    assert "MAILBOT_OAUTH2__CLIENT_SECRET" in refused.json()["problems"][0]
    assert refused.json()["oauth2_refused_since"] == factories.NOW.isoformat()
    assert (recovered.status_code, recovered.json()["status"]) == (200, "OK")
    assert recovered.json()["oauth2_refused"] == ""


def test_metrics_are_read_from_the_database(desk: Desk) -> None:
    now = factories.NOW
    with Session(desk.engine) as session:
        for seq, (tier, status, answered) in enumerate(
            [("vip", "open", 600), ("vip", "open", None), ("warranty", "resolved", 7200)], 1
        ):
            session.add(
                TicketRow(
                    number=f"SOL-{seq}", seq=seq, tier=tier, status=status, subject="x",
                    customer_address="jan@acme.pl", received_at=now - timedelta(days=3),
                    reaction_due=now - timedelta(days=2), resolution_due=now + timedelta(days=9),
                    updated_at=now,
                    first_response_at=None if answered is None
                    else now - timedelta(days=3) + timedelta(seconds=answered),
                )
            )  # fmt: skip
        session.add(
            OutboxRow(
                kind="ack", message_id="<a@x>", mail_from="s@x", recipients="j@x", raw=b"",
                created_at=now - timedelta(minutes=3), next_attempt_at=now,
            )
        )  # fmt: skip
        session.commit()
    record_poll(desk.engine, now=now - timedelta(seconds=42))
    response = client(desk, PROXY).get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert 'mailbot_tickets{status="open",tier="vip"} 2.0' in text
    assert 'mailbot_tickets{status="resolved",tier="warranty"} 1.0' in text
    assert "mailbot_tickets_overdue 1.0" in text
    assert 'mailbot_first_response_seconds_bucket{le="300.0"} 0.0' in text
    assert 'mailbot_first_response_seconds_bucket{le="900.0"} 1.0' in text
    assert 'mailbot_first_response_seconds_bucket{le="+Inf"} 2.0' in text
    assert "mailbot_first_response_seconds_count 2.0" in text
    assert "mailbot_first_response_seconds_sum 7800.0" in text
    assert 'mailbot_outbox_mails{status="queued"} 1.0' in text
    assert 'mailbot_outbox_mails{status="failed"} 0.0' in text
    assert "mailbot_outbox_oldest_unsent_age_seconds 180.0" in text
    assert "mailbot_last_poll_age_seconds 42.0" in text
    assert "# TYPE mailbot_mails_taken_total counter" in text
    assert "python_gc" not in text and "process_" not in text


# --- size -------------------------------------------------------------------------------


def test_a_request_over_the_size_limit_gets_413(desk: Desk) -> None:
    browser = client(desk)
    token = form_token(browser)
    response = browser.post("/test/form", data={"csrf_token": token, "body": "x" * 2000})
    assert response.status_code == 413
    assert_secured(response)
    assert "za duże" in response.text


def test_a_streamed_body_over_the_limit_gets_413(desk: Desk) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 400

    response = client(desk).post(
        "/test/form",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
