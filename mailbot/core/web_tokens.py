"""Signed tokens for the web side: status links, CSRF, staff sign-in, address confirmation.

Each token is URL-safe text (RFC 4648 section 5 base64url, no padding)::

    eyJ...   .   k4v2...
    payload      HMAC-SHA256 over the payload, first 16 bytes

The payload is a JSON array whose first element names the token's purpose,
so a token made for one purpose never verifies as another, and whose fields
cannot run into each other whatever characters they hold. The MAC uses a key
derived from the desk's secret (``mailbot.core.tokens`` signs Message-IDs with
the same secret, kept in the ``secret`` table) by HMAC with a label, so a web
token and a Message-ID can never stand in for each other (RFC 2104; the
derivation is HKDF-Expand's single-block case, RFC 5869 section 2.3).

The payload is signed, not encrypted: whoever holds a token can read it. What
it names is the holder's own (their ticket number, their address).

The ``verify_*`` functions return None for anything tampered, truncated,
expired, malformed or made for another purpose, and never raise; the MAC is
compared in constant time (``hmac.compare_digest``). (A naive ``now`` is a
programming error, not a token's fault: that raises ValueError.) Expiry is in whole Unix
seconds; ``now`` comes from the caller, as do nonces (``secrets.token_hex``):
this module reads no clock and draws no random numbers.

- **Status link** (``status_token``): the ticket number and a per-ticket
  nonce; revoking the links of a ticket means giving it a new nonce, so the
  caller checks ``StatusClaim.nonce_is`` against the ticket's current one. No
  expiry unless one is given.
- **CSRF** (``csrf_token``): bound to a per-browser random value kept in a
  cookie (the "signed double-submit cookie" pattern) and an expiry.
- **Staff sign-in** (``signin_token``): a staff address, a nonce the caller
  records as used once it is spent, and a short expiry.
- **Address confirmation** (``confirmation_token``): a web submission's id,
  valid 24 hours by default.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# 128 bits of HMAC: beyond guessing, and the link stays short enough for a mail line.
_MAC_BYTES = 16
# Payloads of ours are short; a longer token is refused before any decoding.
MAX_TOKEN_LENGTH = 1024

CSRF_LIFETIME = timedelta(hours=2)
SIGNIN_LIFETIME = timedelta(minutes=15)
CONFIRMATION_LIFETIME = timedelta(hours=24)

_LAST_EPOCH = 253402300799  # 9999-12-31 23:59:59 UTC

_STATUS = "status"
_CSRF = "csrf"
_SIGNIN = "signin"
_CONFIRM = "confirm"

Field = str | int | None


@dataclass(frozen=True)
class StatusClaim:
    """What a verified status link names."""

    number: str
    nonce: str
    expires_at: datetime | None

    def nonce_is(self, current: str) -> bool:
        """Whether the link carries the ticket's ``current`` nonce (else it was revoked)."""
        return bool(current) and hmac.compare_digest(
            self.nonce.encode("utf-8"), current.encode("utf-8")
        )


@dataclass(frozen=True)
class CsrfClaim:
    browser: str
    expires_at: datetime


@dataclass(frozen=True)
class SignInClaim:
    address: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class ConfirmationClaim:
    submission: str
    expires_at: datetime


def status_token(key: bytes, *, number: str, nonce: str, expires_at: datetime | None = None) -> str:
    """The token of a ticket's status link; ``nonce`` is the ticket's current one."""
    expiry = None if expires_at is None else _epoch(expires_at)
    return _sign(key, [_STATUS, _text(number), _text(nonce), expiry])


def verify_status(key: bytes, token: str, *, now: datetime) -> StatusClaim | None:
    fields = _verified(key, token, _STATUS, 3, now=now, expiry_required=False)
    if fields is None or not _all_text(fields[:2]):
        return None
    number, nonce, expiry = fields
    return StatusClaim(str(number), str(nonce), _moment(expiry))


def csrf_token(
    key: bytes, *, browser: str, now: datetime, lifetime: timedelta = CSRF_LIFETIME
) -> str:
    """The CSRF token for forms shown to the browser whose random cookie is ``browser``."""
    return _sign(key, [_CSRF, _text(browser), _epoch(now + lifetime)])


def verify_csrf(key: bytes, token: str, *, browser: str, now: datetime) -> CsrfClaim | None:
    """The claim when ``token`` is ours, unexpired, and made for this ``browser``."""
    fields = _verified(key, token, _CSRF, 2, now=now, expiry_required=True)
    if fields is None or not _all_text(fields[:1]) or not browser:
        return None
    made_for, expiry = fields
    if not hmac.compare_digest(str(made_for).encode("utf-8"), browser.encode("utf-8")):
        return None
    return CsrfClaim(str(made_for), _expiry(expiry))


def signin_token(
    key: bytes, *, address: str, nonce: str, now: datetime, lifetime: timedelta = SIGNIN_LIFETIME
) -> str:
    """The token of a staff sign-in link for ``address``; the caller keeps ``nonce`` until
    the link is used, then marks it spent."""
    return _sign(key, [_SIGNIN, _text(address), _text(nonce), _epoch(now + lifetime)])


def verify_signin(key: bytes, token: str, *, now: datetime) -> SignInClaim | None:
    fields = _verified(key, token, _SIGNIN, 3, now=now, expiry_required=True)
    if fields is None or not _all_text(fields[:2]):
        return None
    address, nonce, expiry = fields
    return SignInClaim(str(address), str(nonce), _expiry(expiry))


def confirmation_token(
    key: bytes, *, submission: str, now: datetime, lifetime: timedelta = CONFIRMATION_LIFETIME
) -> str:
    """The token of the link that confirms a web submission's e-mail address."""
    return _sign(key, [_CONFIRM, _text(submission), _epoch(now + lifetime)])


def verify_confirmation(key: bytes, token: str, *, now: datetime) -> ConfirmationClaim | None:
    fields = _verified(key, token, _CONFIRM, 2, now=now, expiry_required=True)
    if fields is None or not _all_text(fields[:1]):
        return None
    submission, expiry = fields
    return ConfirmationClaim(str(submission), _expiry(expiry))


# --- signing and checking ---------------------------------------------------------------


def _purpose_key(key: bytes) -> bytes:
    if not key:
        raise ValueError("an empty key signs nothing")
    return hmac.new(key, b"mailbot web tokens v1\x01", hashlib.sha256).digest()


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(_purpose_key(key), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _sign(key: bytes, fields: list[Field]) -> str:
    payload = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def _verified(
    key: bytes, token: str, purpose: str, count: int, *, now: datetime, expiry_required: bool
) -> list[Field] | None:
    """The ``count`` fields after the purpose when ``token`` is intact, of ``purpose`` and
    unexpired (its last field is the expiry), else None."""
    payload = _authentic(key, token)
    if payload is None:
        return None
    try:
        fields = json.loads(payload)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    if not isinstance(fields, list) or len(fields) != count + 1 or fields[0] != purpose:
        return None
    expiry = fields[-1]
    if expiry is None and not expiry_required:
        return list(fields[1:])
    # bool is an int to Python, and a year past 9999 is no datetime: both are refused.
    if type(expiry) is not int or not _epoch(now) < expiry <= _LAST_EPOCH:
        return None
    return list(fields[1:])


def _authentic(key: bytes, token: str) -> bytes | None:
    if not key or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    encoded, dot, mac = token.strip().partition(".")
    if not dot or not encoded.isascii() or not mac.isascii():
        return None  # b64decode and compare_digest refuse non-ASCII text: refuse it first
    payload, given = _unb64(encoded), _unb64(mac)
    if payload is None or given is None:
        return None
    return payload if hmac.compare_digest(given, _mac(key, payload)) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    if not text or "+" in text or "/" in text:  # the standard alphabet's two: not ours
        return None
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    # Unused low bits of the last character could spell the same bytes several ways
    # (RFC 4648 section 3.5): only the canonical spelling is a token.
    return data if _b64(data) == text else None


def _text(value: str) -> str:
    if not value:
        raise ValueError("a token field may not be empty")
    return value


def _all_text(fields: list[Field]) -> bool:
    return all(isinstance(field, str) and field for field in fields)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware one")
    return int(moment.timestamp())


def _moment(expiry: Field) -> datetime | None:
    return None if not isinstance(expiry, int) else datetime.fromtimestamp(expiry, UTC)


def _expiry(expiry: Field) -> datetime:
    assert isinstance(expiry, int), "checked by _verified"
    return datetime.fromtimestamp(expiry, UTC)
