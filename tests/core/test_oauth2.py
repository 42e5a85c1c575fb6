"""OAuth2 tokens without I/O: the token endpoint's answers, its errors, when to renew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbot.core.oauth2 import (
    AccessToken,
    TokenResponseError,
    describe_error,
    describe_error_answer,
    parse_token_response,
    redact,
    refusal_cause,
    refusal_fix,
    token_from_json,
    token_to_json,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "lifetime", "refresh"),
    [
        ('{"access_token": "a", "token_type": "Bearer", "expires_in": 3600}', 3600, ""),
        ('{"access_token": "a", "token_type": "bearer", "expires_in": "3599"}', 3599, ""),
        ('{"access_token": "a", "token_type": "BEARER"}', 3600, ""),  # no expires_in: 1 h
        ('{"access_token": "a", "token_type": "Bearer", "expires_in": 60,'
         ' "refresh_token": "r2", "scope": "mail"}', 60, "r2"),
        (b'{"access_token": "a", "token_type": "Bearer", "expires_in": 1.5}', 1.5, ""),
    ],
)  # fmt: skip
def test_a_token_response_gives_the_token_its_expiry_and_a_new_refresh_token(
    body: str | bytes, lifetime: float, refresh: str
) -> None:
    token = parse_token_response(body, now=NOW)

    assert token.value == "a" and token.issued_at == NOW
    assert token.expires_at == NOW + timedelta(seconds=lifetime)
    assert token.refresh_token == refresh


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<html>", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"token_type": "Bearer"}', "no access_token"),
        ('{"access_token": "", "token_type": "Bearer"}', "no access_token"),
        ('{"access_token": "a", "token_type": "mac"}', "token_type 'mac'"),
        ('{"access_token": "a"}', "token_type None"),
        ('{"access_token": "a", "token_type": "Bearer", "expires_in": "soon"}', "not a number"),
        ('{"access_token": "a", "token_type": "Bearer", "expires_in": true}', "not a number"),
        ('{"access_token": "a", "token_type": "Bearer", "expires_in": 0}', "out of range"),
        ('{"access_token": "a", "token_type": "Bearer", "expires_in": -5}', "out of range"),
    ],
)
def test_an_unusable_token_response_says_what_is_off(body: str, problem: str) -> None:
    with pytest.raises(TokenResponseError, match=problem):
        parse_token_response(body, now=NOW)


@pytest.mark.parametrize(
    ("lifetime", "renew_before"),
    [
        (timedelta(hours=1), timedelta(minutes=5)),  # a tenth would be 6 min: at most 5
        (timedelta(minutes=50), timedelta(minutes=5)),
        (timedelta(minutes=10), timedelta(minutes=1)),
        (timedelta(seconds=60), timedelta(seconds=6)),
        (timedelta(seconds=1), timedelta(milliseconds=100)),
    ],
)
def test_a_token_is_renewed_a_tenth_of_its_lifetime_ahead_at_most_five_minutes(
    lifetime: timedelta, renew_before: timedelta
) -> None:
    token = AccessToken("a", NOW, NOW + lifetime)
    renew_at = NOW + lifetime - renew_before

    assert token.renew_at() == renew_at
    assert not token.needs_renewal(renew_at - timedelta(microseconds=1))
    assert token.needs_renewal(renew_at)
    assert token.needs_renewal(NOW + lifetime + timedelta(days=1))


@pytest.mark.parametrize(
    ("status", "body", "code", "text", "permanent"),
    [
        (400, '{"error": "invalid_grant", "error_description": "AADSTS70008: The refresh'
         ' token has expired.\\r\\nTrace ID: 1"}', "invalid_grant",
         "invalid_grant: AADSTS70008: The refresh token has expired. Trace ID: 1 (HTTP 400)",
         True),
        (401, '{"error": "invalid_client"}', "invalid_client", "invalid_client (HTTP 401)", True),
        (400, '{"error": "invalid_scope", "error_uri": "https://e.x/s"}', "invalid_scope",
         "invalid_scope (https://e.x/s) (HTTP 400)", True),
        (503, '{"error": "temporarily_unavailable", "error_description": "busy"}',
         "temporarily_unavailable", "temporarily_unavailable: busy (HTTP 503)", False),
        (502, b"<html><body>Bad   gateway</body></html>", "",
         "HTTP 502: <html><body>Bad gateway</body></html>", False),
        (500, "", "", "HTTP 500: no answer", False),
        (404, "Not found", "", "HTTP 404: Not found", True),
    ],
)  # fmt: skip
def test_a_token_endpoint_error_in_one_line_and_whether_retrying_can_help(
    status: int, body: str | bytes, code: str, text: str, permanent: bool
) -> None:
    error = describe_error(status, body)

    assert (error.status, error.code, error.text, error.permanent) == (
        status, code, text, permanent
    )  # fmt: skip


def test_a_long_error_page_is_cut_short() -> None:
    assert len(describe_error(502, "x" * 5000).text) == len("HTTP 502: ") + 200


def test_the_cache_gives_back_the_token_only_for_the_same_settings() -> None:
    token = AccessToken("a", NOW, NOW + timedelta(hours=1), refresh_token="r2")
    text = token_to_json(token, key="k1")

    assert token_from_json(text, key="k1") == token
    assert token_from_json(text, key="k2") is None
    for broken in ("", "{", "[]", '{"key": "k1"}', '{"key": "k1", "access_token": "",'
                   ' "issued_at": "2026-03-02T09:00:00+00:00",'
                   ' "expires_at": "2026-03-02T10:00:00+00:00"}'):  # fmt: skip
        assert token_from_json(broken, key="k1") is None


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ("invalid_grant: The refresh token is invalid. (HTTP 400)", "invalid_grant"),
        ("invalid_grant: AADSTS70008: The refresh token has expired. Trace ID: 1-2 Correlation"
         " ID: 3-4 Timestamp: 2026-03-02 09:00:01Z (HTTP 400)", "invalid_grant AADSTS70008"),
        ("invalid_client: AADSTS7000215: Invalid client secret provided. AADSTS7000215 again"
         " (HTTP 401)", "invalid_client AADSTS7000215"),
        ("HTTP 403: <html>Forbidden</html>", "HTTP 403"),
    ],
)  # fmt: skip
def test_the_cause_of_a_refusal_is_its_codes_not_its_trace_ids(reason: str, cause: str) -> None:
    assert refusal_cause(reason) == cause


@pytest.mark.parametrize(
    ("code", "flow", "says"),
    [
        ("invalid_grant", "refresh_token", "MAILBOT_OAUTH2__REFRESH_TOKEN"),
        ("invalid_client", "refresh_token", "MAILBOT_OAUTH2__CLIENT_SECRET"),
        ("invalid_grant", "client_credentials", "MAILBOT_OAUTH2__CLIENT_SECRET"),
        ("unauthorized_client", "client_credentials", "permissions"),
        ("invalid_scope", "refresh_token", "scope"),
    ],
)
def test_each_refusal_names_its_fix(code: str, flow: str, says: str) -> None:
    assert says in refusal_fix(code, flow)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("invalid_client", "the secret's value, not its ID"),
        ("unauthorized_client", "admin consent for IMAP.AccessAsApp and SMTP.SendAsApp"),
        ("invalid_tenant", "fix [oauth2] tenant"),
        ("missing_package", "pip install 'mailbot[oauth]'"),
    ],
)
def test_microsofts_refusals_name_entras_fix(code: str, says: str) -> None:
    assert says in refusal_fix(code, "client_credentials", "microsoft")


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("unauthorized_client", "domain-wide delegation of the scope https://mail.google.com/"),
        ("invalid_grant", "MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE"),
        ("missing_package", "pip install 'mailbot[oauth]'"),
    ],
)
def test_googles_refusals_name_the_admin_consoles_fix(code: str, says: str) -> None:
    assert says in refusal_fix(code, "service_account", "google")


def test_what_we_sent_is_never_quoted_back() -> None:
    text = "invalid_grant: refresh token rt-123 unknown (client secret s3cr3t) (HTTP 400)"
    assert redact(text, ("rt-123", "", "s3cr3t")) == (
        "invalid_grant: refresh token *** unknown (client secret ***) (HTTP 400)"
    )


def test_an_error_handed_over_decoded_has_no_http_status_in_its_words() -> None:
    answer = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client"
              " secret provided.", "error_codes": [7000215]}  # fmt: skip

    error = describe_error_answer(answer)

    assert error.text == "invalid_client: AADSTS7000215: Invalid client secret provided."
    assert (error.code, error.permanent, error.status) == ("invalid_client", True, 0)
    assert describe_error_answer({"weird": 1}).permanent is False
