"""OAuth2 access tokens, without I/O: what a token endpoint's answer means and when to renew.

- A successful answer (RFC 6749 section 5.1) is a JSON object with
  ``access_token``, ``token_type`` (``Bearer``, any case) and, recommended,
  ``expires_in`` seconds; some servers send the number as a string. Without
  ``expires_in`` the token is taken to live ``DEFAULT_LIFETIME``. It may bring a
  new ``refresh_token`` (section 6: the old one may stop working), kept.
- An error answer (section 5.2) is ``{"error": code, "error_description": ...,
  "error_uri": ...}``; ``describe_error`` puts it in one line with the HTTP
  status, and says which codes no retry will cure.
- A token is renewed ahead of its expiry, by a tenth of its lifetime but at most
  ``MAX_MARGIN``: a one-hour token 5 minutes before, a one-minute token 6 s before.
  So no login starts with a token that dies on the way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_LIFETIME = timedelta(hours=1)
MAX_MARGIN = timedelta(minutes=5)

# Errors of the token endpoint that a retry with the same settings will not cure: the
# client, its secret, the grant or the scope are wrong, revoked or not allowed.
PERMANENT_ERRORS = frozenset(
    {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
     "unsupported_grant_type", "invalid_scope"}
)  # fmt: skip


class TokenResponseError(ValueError):
    """The token endpoint's answer is not a usable RFC 6749 token response."""


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and its validity, in UTC; ``refresh_token`` if the answer gave one."""

    value: str
    issued_at: datetime
    expires_at: datetime
    refresh_token: str = ""

    def renew_at(self) -> datetime:
        """When to get the next token: a tenth of the lifetime before expiry, at most 5 min."""
        margin = min((self.expires_at - self.issued_at) / 10, MAX_MARGIN)
        return self.expires_at - max(margin, timedelta(0))

    def needs_renewal(self, now: datetime) -> bool:
        return now >= self.renew_at()


def parse_token_response(body: bytes | str, *, now: datetime) -> AccessToken:
    """The token of a 200 answer received at ``now``; TokenResponseError saying what is off."""
    return parse_token_answer(_json_object(body), now=now)


def parse_token_answer(answer: Mapping[str, Any], *, now: datetime) -> AccessToken:
    """The token of an answer already decoded (as msal hands it over), received at ``now``."""
    value = answer.get("access_token")
    if not isinstance(value, str) or not value:
        raise TokenResponseError("the answer has no access_token")
    token_type = answer.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenResponseError(f"token_type {token_type!r}, expected Bearer")
    refresh = answer.get("refresh_token")
    return AccessToken(
        value=value,
        issued_at=now,
        expires_at=now + _lifetime(answer.get("expires_in")),
        refresh_token=refresh if isinstance(refresh, str) else "",
    )


def _lifetime(expires_in: object) -> timedelta:
    if expires_in is None:
        return DEFAULT_LIFETIME
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise TokenResponseError(f"expires_in {expires_in!r} is not a number of seconds")
    if not 0 < expires_in <= 366 * 86400:
        raise TokenResponseError(f"expires_in {expires_in!r} is out of range")
    return timedelta(seconds=expires_in)


def _json_object(body: bytes | str) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise TokenResponseError("the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise TokenResponseError("the answer is not a JSON object")
    return answer


@dataclass(frozen=True)
class TokenError:
    """Why the token endpoint gave no token, in the words to log."""

    status: int
    code: str  # the RFC 6749 error code, "" when the answer had none
    text: str
    permanent: bool


def describe_error(status: int, body: bytes | str) -> TokenError:
    """A refusal of the token endpoint in one line: ``invalid_grant: <description> (HTTP 400)``.

    An answer that is no RFC 6749 error (a proxy's HTML page, say) is quoted, cut short.
    A server error (5xx) without an RFC 6749 code is worth retrying; so is a 429.
    """
    try:
        answer = _json_object(body)
    except TokenResponseError:
        answer = {}
    code = answer.get("error")
    if not isinstance(code, str) or not code:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        quoted = " ".join(text.split())[:200]
        return TokenError(status, "", f"HTTP {status}: {quoted or 'no answer'}", status < 500)
    return describe_error_answer(answer, status=status)


def describe_error_answer(answer: Mapping[str, Any], *, status: int = 0) -> TokenError:
    """An RFC 6749 error already decoded (msal's and google-auth's hand it over without the
    HTTP status: ``status`` 0, left out of the text)."""
    code = answer.get("error")
    if not isinstance(code, str) or not code:
        quoted = " ".join(json.dumps(dict(answer), default=str).split())[:200]
        return TokenError(status, "", f"no token and no error code: {quoted}", False)
    parts = [code]
    description = answer.get("error_description")
    if isinstance(description, str) and description.strip():
        parts.append(": " + " ".join(description.split()))
    uri = answer.get("error_uri")
    if isinstance(uri, str) and uri:
        parts.append(f" ({uri})")
    if status:
        parts.append(f" (HTTP {status})")
    return TokenError(status, code, "".join(parts), code in PERMANENT_ERRORS)


def refusal_fix(code: str, flow: str, provider: str = "generic", *, login: bool = False) -> str:
    """What the admin does about a refusal no retry cures (``code`` as in ``TokenError``),
    in one line for ``mailbot status`` and the log; ``login``: the refresh token is the one
    ``mailbot oauth login`` stored."""
    if login and code in ("invalid_grant", "login_required"):
        return (
            "the refresh token is revoked, expired or not there yet: sign in again with"
            " mailbot oauth login (as the daemon's user or as root); the daemon uses the new"
            " sign-in at its next login attempt, no restart needed"
        )
    if provider == "microsoft":
        return _microsoft_fix(code)
    if provider == "google":
        return _google_fix(code)
    if code == "invalid_grant" and flow == "refresh_token":
        return (
            "the refresh token is revoked or expired: give mailbot a new one"
            " (MAILBOT_OAUTH2__REFRESH_TOKEN or the systemd credential oauth2_refresh_token)"
            " and restart it (or send SIGHUP)"
        )
    if code in ("invalid_client", "unauthorized_client") or flow == "client_credentials":
        return (
            "fix [oauth2] client_id or the client secret (MAILBOT_OAUTH2__CLIENT_SECRET or the"
            " systemd credential oauth2_client_secret) or the app's permissions at the provider,"
            " then restart mailbot (or send SIGHUP)"
        )
    return (
        "fix the [oauth2] settings (client_id, scope, token_url) or the provider's consent,"
        " then restart mailbot (or send SIGHUP)"
    )


def _microsoft_fix(code: str) -> str:
    if code == "invalid_tenant":
        return (
            "fix [oauth2] tenant: the directory (tenant) ID of the app registration in"
            " Microsoft Entra ID, then restart mailbot (or send SIGHUP)"
        )
    if code == "missing_package":
        return "install the oauth extra (pip install 'mailbot[oauth]'), then restart mailbot"
    return (
        "fix [oauth2] client_id or the client secret (MAILBOT_OAUTH2__CLIENT_SECRET or the"
        " systemd credential oauth2_client_secret: the secret's value, not its ID, and not"
        " expired), or grant admin consent for IMAP.AccessAsApp and SMTP.SendAsApp in"
        " Microsoft Entra ID, then restart mailbot (or send SIGHUP)"
    )


def _google_fix(code: str) -> str:
    if code == "missing_package":
        return "install the oauth extra (pip install 'mailbot[oauth]'), then restart mailbot"
    return (
        "check the service account's JSON key (MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE or the"
        " systemd credential oauth2_service_account: not deleted in the Google Cloud console),"
        " its domain-wide delegation of the scope https://mail.google.com/ in the Google"
        " Workspace Admin console, and that the mailbox (the username) is a user of the"
        " domain, then restart mailbot (or send SIGHUP)"
    )


# Microsoft Entra's own error codes, in the description of an RFC 6749 error.
_PROVIDER_CODE = re.compile(r"\bAADSTS\d+\b")


def refusal_cause(reason: str) -> str:
    """What makes two refusals (``TokenError.text``) the same cause: the RFC 6749 code (or
    ``HTTP <status>`` for an answer without one) and the provider's codes (``AADSTS…``), not
    the words around them: Microsoft's carry a new trace id and timestamp every time."""
    head = reason.partition(":")[0].strip()
    return " ".join([head, *dict.fromkeys(_PROVIDER_CODE.findall(reason))])


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` (non-empty ones) replaced by ``***``: a server may
    quote what it was sent back in its error."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def token_to_json(token: AccessToken, *, key: str) -> str:
    """The token for the cache file; ``key`` says which settings it was obtained with."""
    return json.dumps(
        {
            "key": key,
            "access_token": token.value,
            "issued_at": token.issued_at.isoformat(),
            "expires_at": token.expires_at.isoformat(),
            "refresh_token": token.refresh_token,
        }
    )


def token_from_json(text: str, *, key: str) -> AccessToken | None:
    """The cached token, or None when the cache is unreadable or for other settings."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        token = AccessToken(
            value=str(data["access_token"]),
            issued_at=datetime.fromisoformat(data["issued_at"]).astimezone(UTC),
            expires_at=datetime.fromisoformat(data["expires_at"]).astimezone(UTC),
            refresh_token=str(data.get("refresh_token") or ""),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return token if token.value else None
