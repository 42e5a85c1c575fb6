"""Signed web tokens: status links, CSRF, staff sign-in, address confirmation (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.web_tokens import (
    ConfirmationClaim,
    CsrfClaim,
    SignInClaim,
    StatusClaim,
    confirmation_token,
    csrf_token,
    signin_token,
    status_token,
    verify_confirmation,
    verify_csrf,
    verify_signin,
    verify_status,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def status(**kwargs: object) -> str:
    return status_token(KEY, number="SOL-12", nonce="a1b2c3d4e5f60718", **kwargs)  # type: ignore[arg-type]


def csrf(now: datetime = NOW) -> str:
    return csrf_token(KEY, browser="b" * 32, now=now)


def signin(now: datetime = NOW) -> str:
    return signin_token(KEY, address="anna@firma.pl", nonce="n0nce", now=now)


def confirm(now: datetime = NOW) -> str:
    return confirmation_token(KEY, submission="sub-41", now=now)


# Each kind: its token, and its verifier with the right context.
KINDS: dict[str, tuple[Callable[[], str], Callable[[bytes, str, datetime], object | None]]] = {
    "status": (status, lambda key, token, now: verify_status(key, token, now=now)),
    "csrf": (csrf, lambda key, token, now: verify_csrf(key, token, browser="b" * 32, now=now)),
    "signin": (signin, lambda key, token, now: verify_signin(key, token, now=now)),
    "confirm": (confirm, lambda key, token, now: verify_confirmation(key, token, now=now)),
}


def test_each_token_verifies_to_what_it_was_made_from() -> None:
    later = NOW + timedelta(minutes=1)
    assert verify_status(KEY, status(), now=later) == StatusClaim(
        "SOL-12", "a1b2c3d4e5f60718", None
    )
    assert verify_csrf(KEY, csrf(), browser="b" * 32, now=later) == CsrfClaim(
        "b" * 32, NOW + timedelta(hours=2)
    )
    assert verify_signin(KEY, signin(), now=later) == SignInClaim(
        "anna@firma.pl", "n0nce", NOW + timedelta(minutes=15)
    )
    assert verify_confirmation(KEY, confirm(), now=later) == ConfirmationClaim(
        "sub-41", NOW + timedelta(hours=24)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_tokens_are_url_safe(kind: str) -> None:
    make, _ = KINDS[kind]
    assert URL_SAFE.match(make())


@pytest.mark.parametrize("kind", KINDS)
def test_a_token_of_one_kind_is_no_token_of_another(kind: str) -> None:
    make, _ = KINDS[kind]
    for other, (_, verify) in KINDS.items():
        if other != kind:
            assert verify(KEY, make(), NOW) is None, other


@pytest.mark.parametrize("kind", KINDS)
def test_another_key_verifies_nothing(kind: str) -> None:
    make, verify = KINDS[kind]
    assert verify(OTHER_KEY, make(), NOW) is None
    assert verify(b"", make(), NOW) is None


@pytest.mark.parametrize("kind", KINDS)
def test_every_changed_character_is_refused(kind: str) -> None:
    make, verify = KINDS[kind]
    token = make()
    for i, char in enumerate(token):
        for replacement in {"A", "b", "-", "_", ".", "é"} - {char}:
            tampered = token[:i] + replacement + token[i + 1 :]
            assert verify(KEY, tampered, NOW) is None, (i, replacement)


@pytest.mark.parametrize("kind", KINDS)
def test_every_truncation_and_extension_is_refused(kind: str) -> None:
    make, verify = KINDS[kind]
    token = make()
    for end in range(len(token)):
        assert verify(KEY, token[:end], NOW) is None, end
    for suffix in ("A", "AA", "=", "==", ".x", " x"):
        assert verify(KEY, token + suffix, NOW) is None, suffix


@pytest.mark.parametrize(
    ("kind", "lifetime"),
    [
        ("csrf", timedelta(hours=2)),
        ("signin", timedelta(minutes=15)),
        ("confirm", timedelta(hours=24)),
    ],
)
def test_expiry(kind: str, lifetime: timedelta) -> None:
    make, verify = KINDS[kind]
    token = make()
    assert verify(KEY, token, NOW + lifetime - timedelta(seconds=1)) is not None
    assert verify(KEY, token, NOW + lifetime) is None
    assert verify(KEY, token, NOW + lifetime + timedelta(days=400)) is None


def test_a_status_link_lasts_unless_given_an_expiry() -> None:
    assert verify_status(KEY, status(), now=NOW + timedelta(days=3650)) is not None
    until = NOW + timedelta(days=30)
    token = status(expires_at=until)
    assert verify_status(KEY, token, now=until - timedelta(seconds=1)) == StatusClaim(
        "SOL-12", "a1b2c3d4e5f60718", until
    )
    assert verify_status(KEY, token, now=until) is None


def test_revoking_a_status_link_is_a_new_nonce() -> None:
    claim = verify_status(KEY, status(), now=NOW)
    assert claim is not None
    assert claim.nonce_is("a1b2c3d4e5f60718")
    assert not claim.nonce_is("ffffffffffffffff")
    assert not claim.nonce_is("")


def test_csrf_is_bound_to_the_browser() -> None:
    assert verify_csrf(KEY, csrf(), browser="c" * 32, now=NOW) is None
    assert verify_csrf(KEY, csrf(), browser="", now=NOW) is None


def test_fields_with_any_characters_keep_apart() -> None:
    token = signin_token(KEY, address='"a.b|c"@x.pl', nonce='"],["', now=NOW)
    assert verify_signin(KEY, token, now=NOW) == SignInClaim(
        '"a.b|c"@x.pl', '"],["', NOW + timedelta(minutes=15)
    )
    token = status_token(KEY, number="SOL-ż", nonce="ą")
    assert verify_status(KEY, token, now=NOW) == StatusClaim("SOL-ż", "ą", None)


@pytest.mark.parametrize(
    "make",
    [
        lambda: status_token(KEY, number="", nonce="x"),
        lambda: status_token(KEY, number="SOL-1", nonce=""),
        lambda: status_token(b"", number="SOL-1", nonce="x"),
        lambda: csrf_token(KEY, browser="", now=NOW),
        lambda: csrf_token(KEY, browser="b", now=NOW.replace(tzinfo=None)),
    ],
)
def test_making_a_token_of_nothing_is_an_error(make: Callable[[], str]) -> None:
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "token",
    ["", ".", "..", "abc", "abc.", ".abc", "a.b.c", "ż.ż", "\x00.\x00", "+/+/.+/+/", "A" * 5000],
)
@pytest.mark.parametrize("kind", KINDS)
def test_malformed_text_is_refused(kind: str, token: str) -> None:
    _, verify = KINDS[kind]
    assert verify(KEY, token, NOW) is None


@given(st.text(max_size=300))
def test_no_text_makes_a_verifier_raise(token: str) -> None:
    for _, verify in KINDS.values():
        assert verify(KEY, token, NOW) is None
