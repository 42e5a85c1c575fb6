"""``mailbot oauth login``, without I/O: what the answers of a login mean (issue 16).

- The device authorization grant (RFC 8628; Microsoft's device-code flow is the same):
  the device authorization endpoint answers ``device_code``, ``user_code``,
  ``verification_uri`` (Microsoft's older endpoint: ``verification_url``), ``expires_in``
  and ``interval`` (default 5 s, section 3.2); the token endpoint is then polled and
  answers ``authorization_pending`` until the user has entered the code, ``slow_down``
  (wait 5 s more, section 3.5), or a token, or an error that ends the login.
- The installed app (authorization code with PKCE, RFC 7636, and a loopback redirect,
  RFC 8252 section 7.3): the address to open, and the code taken from the address the
  browser was sent back to (pasted by the admin when the browser is on another machine).
- The stored login: the refresh token the login brought, in the state directory, with
  which settings it was obtained (``key``) and an id that a new login changes and a
  rotation of the refresh token keeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from mailbot.core.oauth2 import TokenError, TokenResponseError, describe_error_answer

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = timedelta(seconds=5)
SLOW_DOWN = timedelta(seconds=5)


@dataclass(frozen=True)
class DeviceCode:
    """What the user is told (address and code) and what the poll sends (``device_code``)."""

    device_code: str
    user_code: str
    verification_uri: str
    expires_at: datetime
    interval: timedelta
    # The provider's own sentence, when it gives one (Microsoft does, in the user's language).
    message: str = ""

    def instructions(self) -> str:
        """What to print: the address and the code, on any device with a browser."""
        return (
            f"To sign in, open {self.verification_uri} in a browser on any device and enter"
            f" the code {self.user_code} (valid until {self.expires_at:%H:%M} UTC)."
        )


def parse_device_answer(answer: Mapping[str, Any], *, now: datetime) -> DeviceCode:
    """The device authorization endpoint's 200 answer, received at ``now``;
    TokenResponseError saying what is missing."""
    fields = {}
    for name in ("device_code", "user_code"):
        value = answer.get(name)
        if not isinstance(value, str) or not value:
            raise TokenResponseError(f"the device authorization answer has no {name}")
        fields[name] = value
    uri = answer.get("verification_uri") or answer.get("verification_url")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        raise TokenResponseError("the device authorization answer has no verification_uri")
    lifetime = _seconds(answer.get("expires_in"), "expires_in")
    interval = answer.get("interval")
    message = answer.get("message")
    return DeviceCode(
        device_code=fields["device_code"],
        user_code=fields["user_code"],
        verification_uri=uri,
        expires_at=now + (lifetime or timedelta(minutes=15)),
        interval=_seconds(interval, "interval") or DEFAULT_INTERVAL,
        message=message if isinstance(message, str) else "",
    )


def _seconds(value: object, name: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 86400:
        raise TokenResponseError(f"{name} {value!r} is not a number of seconds")
    return timedelta(seconds=value)


@dataclass(frozen=True)
class Poll:
    """What one poll of the token endpoint means: ``wait`` (then poll again after
    ``interval``), or ``error`` (the login is over), or neither: the answer is a token."""

    wait: bool = False
    interval: timedelta = DEFAULT_INTERVAL
    error: TokenError | None = None


def poll_verdict(answer: Mapping[str, Any], *, interval: timedelta, status: int = 0) -> Poll:
    """The token endpoint's answer to a device-code poll (section 3.5)."""
    if "access_token" in answer:
        return Poll()
    code = answer.get("error")
    if code == "authorization_pending":
        return Poll(wait=True, interval=interval)
    if code == "slow_down":
        return Poll(wait=True, interval=interval + SLOW_DOWN)
    return Poll(error=describe_error_answer(answer, status=status))


def login_failure(error: TokenError) -> str:
    """Why a login ended without a token, and what to do, in one line."""
    if error.code == "expired_token":
        return "the code expired before it was entered: run mailbot oauth login again"
    if error.code in ("access_denied", "authorization_declined"):
        return f"the sign-in was declined ({error.text}): run mailbot oauth login again"
    return f"no token: {error.text}"


# --- the installed app: authorization code with PKCE and a loopback redirect -------------


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorization_address(
    endpoint: str, *, client_id: str, redirect_uri: str, scope: str, state: str, verifier: str
) -> str:
    """The address the admin opens: consent for ``scope``, a refresh token asked for
    (Google's ``access_type=offline``, ``prompt=consent`` so a second login gets one too)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


class RedirectError(ValueError):
    """The address pasted or received is not the answer to this login; says why."""


def code_from_redirect(address: str, *, redirect_uri: str, state: str) -> str:
    """The authorization code in the address the browser was sent back to (the whole
    address, or only its query). RedirectError when it holds an error, another login's
    ``state`` or no code."""
    text = address.strip()
    parts = urlsplit(text if "://" in text else f"{redirect_uri}?{text.lstrip('?')}")
    expected = urlsplit(redirect_uri)
    if (parts.scheme, parts.netloc) != (expected.scheme, expected.netloc):
        raise RedirectError(
            f"expected the address the browser was sent to, starting {redirect_uri},"
            f" got one starting {parts.scheme}://{parts.netloc}/"
        )
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    if "error" in query:
        error = describe_error_answer(query)
        raise RedirectError(f"the sign-in was refused: {error.text}")
    if query.get("state") != state:
        raise RedirectError("that address belongs to another login (its state differs)")
    code = query.get("code", "")
    if not code:
        raise RedirectError("the address has no code= in it; paste the whole address")
    return code


# --- the stored login -------------------------------------------------------------------


@dataclass(frozen=True)
class StoredLogin:
    """A refresh token stored by ``mailbot oauth login``; ``login_id`` is new at each login."""

    key: str
    login_id: str
    refresh_token: str
    obtained_at: datetime


def login_to_json(login: StoredLogin) -> str:
    return json.dumps(
        {
            "key": login.key,
            "login_id": login.login_id,
            "refresh_token": login.refresh_token,
            "obtained_at": login.obtained_at.isoformat(),
        }
    )


def login_from_json(text: str) -> StoredLogin | None:
    """The stored login, None when the file is unreadable or holds no refresh token."""
    try:
        data = json.loads(text)
        login = StoredLogin(
            key=str(data["key"]),
            login_id=str(data["login_id"]),
            refresh_token=str(data["refresh_token"]),
            obtained_at=datetime.fromisoformat(data["obtained_at"]).astimezone(UTC),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return login if login.refresh_token else None
