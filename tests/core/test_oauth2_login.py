"""The pure side of mailbot oauth login (core.oauth2_login): device authorization answers,
the polls' verdicts, the installed app's address and the redirect pasted back."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from mailbot.core.oauth2 import TokenResponseError, refusal_fix
from mailbot.core.oauth2_login import (
    RedirectError,
    authorization_address,
    code_from_redirect,
    login_failure,
    parse_device_answer,
    pkce_challenge,
    poll_verdict,
)
from tests.factories import NOW

REDIRECT = "http://127.0.0.1:8765/"


def test_a_device_answer_microsofts_older_wording_and_string_numbers_too() -> None:
    device = parse_device_answer(
        {"device_code": "d", "user_code": "ABCD-EFGH", "expires_in": "900", "interval": 5,
         "verification_url": "https://microsoft.com/devicelogin"}, now=NOW,
    )  # fmt: skip

    assert device.expires_at == NOW + timedelta(minutes=15)
    assert device.instructions().startswith(
        "To sign in, open https://microsoft.com/devicelogin in a browser on any device and"
        " enter the code ABCD-EFGH"
    )


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"user_code": "U", "verification_uri": "https://x"}, "no device_code"),
        ({"device_code": "d", "user_code": "U"}, "no verification_uri"),
        ({"device_code": "d", "user_code": "U", "verification_uri": "javascript:x"},
         "no verification_uri"),
        ({"device_code": "d", "user_code": "U", "verification_uri": "https://x",
          "interval": -1}, "interval -1 is not a number of seconds"),
    ],
)  # fmt: skip
def test_a_device_answer_without_what_the_user_needs_says_what_is_missing(
    answer: dict[str, object], says: str
) -> None:
    with pytest.raises(TokenResponseError, match=says):
        parse_device_answer(answer, now=NOW)


def test_the_polls_verdicts_pending_slow_down_a_token_and_the_end() -> None:
    five = timedelta(seconds=5)

    assert poll_verdict({"error": "authorization_pending"}, interval=five).wait
    assert poll_verdict({"error": "slow_down"}, interval=five).interval == 2 * five
    assert poll_verdict({"access_token": "a"}, interval=five).error is None
    expired = poll_verdict({"error": "expired_token"}, interval=five, status=400).error
    assert expired is not None and login_failure(expired).startswith("the code expired")


def test_the_installed_apps_address_asks_for_offline_access_with_an_s256_challenge() -> None:
    address = authorization_address("https://accounts.google.com/o/oauth2/v2/auth",
                                    client_id="c", redirect_uri=REDIRECT, scope="https://mail.google.com/",
                                    state="st", verifier="v" * 43)  # fmt: skip

    query = parse_qs(urlsplit(address).query)
    assert query["code_challenge"] == [pkce_challenge("v" * 43)]
    assert (query["access_type"], query["prompt"], query["redirect_uri"]) == (
        ["offline"], ["consent"], [REDIRECT]
    )  # fmt: skip
    # RFC 7636 appendix B's example.
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ("https://evil.example/?code=c&state=st", "expected the address the browser was sent to"),
        (f"{REDIRECT}?error=access_denied&state=st", "the sign-in was refused: access_denied"),
        (f"{REDIRECT}?code=c&state=other", "belongs to another login"),
        (f"{REDIRECT}?state=st", "has no code= in it"),
    ],
)
def test_a_pasted_address_that_is_not_this_logins_answer_says_why(pasted: str, says: str) -> None:
    with pytest.raises(RedirectError, match=says):
        code_from_redirect(pasted, redirect_uri=REDIRECT, state="st")


def test_the_code_from_the_whole_address_or_only_its_query() -> None:
    assert code_from_redirect(f" {REDIRECT}?state=st&code=4/0Ab \n", redirect_uri=REDIRECT,
                              state="st") == "4/0Ab"  # fmt: skip
    assert code_from_redirect("?code=c2&state=st", redirect_uri=REDIRECT, state="st") == "c2"


def test_a_revoked_stored_login_is_fixed_by_signing_in_again_whatever_the_provider() -> None:
    for provider, flow in (("generic", "refresh_token"), ("microsoft", "device_code")):
        assert "mailbot oauth login" in refusal_fix("invalid_grant", flow, provider, login=True)
    assert "MAILBOT_OAUTH2__REFRESH_TOKEN" in refusal_fix("invalid_grant", "refresh_token")
