"""OAuth2 access tokens from an RFC 6749 token endpoint, for the IMAP and SMTP logins.

``TokenSource.token()`` hands out the current access token, getting a new one
from ``token_url`` (urllib: a POST of the grant as a form, RFC 6749 sections
4.4 and 6) when there is none or it is due for renewal (mailbot.core.oauth2:
a tenth of its lifetime ahead, at most 5 minutes). A server that refuses a
token (revoked, expired early) gets a fresh one after ``invalidate(token)``.

The token is kept in the state directory (``oauth2-token.json``, mode 0600,
written whole or not at all), so a restart does not ask for another; a refresh
token the server rotated (section 6) is kept there too and used from then on.
Neither is ever logged. One lock serialises the renewals: the IDLE thread, the
poll and every SMTP connection of the pool share one source and one token.

A ``TokenWatch`` (``watch``) hears of each renewal and of each refusal no retry
cures (``OAuth2Error.permanent``), in the thread that asked, under the lock: the
daemon records them for ``mailbot status`` and tells staff (issue 16, item 3).

After such a refusal the endpoint is asked again only once a backoff delay has
passed (``core.backoff``: from ``REFUSAL_BACKOFF`` up to ``REFUSAL_BACKOFF_CAP``);
meanwhile ``token()`` raises the same refusal at once. Every queued mail and
every reconnection would ask otherwise, and providers throttle clients that
keep presenting a dead grant (Microsoft's AADSTS50196 loop detection). The cap
bounds how long a fix made at the provider alone (a consent granted again)
takes to be seen; a restart or reload with new settings asks at once.

A user's refresh token (flows ``refresh_token`` and ``device_code``) comes from
``MAILBOT_OAUTH2__REFRESH_TOKEN`` (or its credential) when given, else from the login
``mailbot oauth login`` stored (``oauth2-login.json`` beside the cache, same care). That
file is read at each renewal, so a new login is used by the next one; during a refusal's
backoff a new login (another ``login_id``) is tried at once: the daemon recovers from a
revoked refresh token at its next login attempt after ``mailbot oauth login``, no restart
needed. A refresh token the server rotated is written back to the file (if it still holds
the same login), so the stored one always works.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

from mailbot.config import OAuth2Settings
from mailbot.core.backoff import Outage, after_failure
from mailbot.core.oauth2 import (
    AccessToken,
    TokenResponseError,
    describe_error,
    parse_token_response,
    redact,
    token_from_json,
    token_to_json,
)
from mailbot.core.oauth2_login import StoredLogin, login_from_json, login_to_json
from mailbot.errors import OAuth2Error

CACHE_NAME = "oauth2-token.json"
LOGIN_NAME = "oauth2-login.json"
# The flows that renew with a user's refresh token (given, or stored by mailbot oauth login).
REFRESH_FLOWS = frozenset({"refresh_token", "device_code"})
LOGIN_REQUIRED = "login_required"
REFUSAL_BACKOFF = timedelta(seconds=30)
REFUSAL_BACKOFF_CAP = timedelta(minutes=15)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TokenWatch(Protocol):
    """Told what becomes of the renewals; must not raise (a failure of its own is its own)."""

    def renewed(self) -> None:
        """A new access token was obtained."""

    def refused(self, error: OAuth2Error) -> None:
        """The token endpoint refused for good (``error.permanent``)."""


class Grant(Protocol):
    """How a provider's library obtains a token (``adapters.oauth2_providers``)."""

    # What identifies the grant beyond [oauth2] (the mailbox acted for, the key file), for
    # the cache: another value makes a cached token stale.
    key: str

    def acquire(self, *, now: Callable[[], datetime], refresh_token: str = "") -> AccessToken:
        """A new token, its times from ``now`` (read once the answer is in), with
        ``refresh_token`` for the flows that have one; OAuth2Error (``permanent`` when no
        retry cures it) when none can be had."""


class TokenSource:
    """Access tokens of one ``[oauth2]`` configuration; safe to share between threads."""

    def __init__(
        self,
        settings: OAuth2Settings,
        *,
        state_dir: Path | None,
        clock: Callable[[], datetime] = _utc_now,
        timeout: float = 30.0,
        random_fraction: Callable[[], float] = random.random,
        grant: Grant | None = None,
    ) -> None:
        self._settings = settings
        # A provider's own library (adapters.oauth2_providers); None: the RFC 6749 POST here.
        self._grant = grant
        self._cache = state_dir / CACHE_NAME if state_dir is not None else None
        # The login mailbot oauth login stored, used when no refresh token is given.
        stored = settings.flow in REFRESH_FLOWS and not settings.refresh_token
        self._login_file = state_dir / LOGIN_NAME if stored and state_dir is not None else None
        self._login: StoredLogin | None = None
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._grant_key = grant.key if grant is not None else ""
        self._token: AccessToken | None = None
        self._loaded = False
        self._watch: TokenWatch | None = None
        self._random = random_fraction
        # The last refusal for good and its backoff (in POSIX seconds of ``clock``).
        self._refused: tuple[OAuth2Error, Outage] | None = None
        # Token endpoint requests made, for tests and status.
        self.requests = 0

    def watch(self, watch: TokenWatch | None) -> None:
        """From now on tell ``watch`` of renewals and permanent refusals (None: nobody)."""
        with self._lock:
            self._watch = watch

    def token(self) -> str:
        """A live access token; raises OAuth2Error when none can be had."""
        with self._lock:
            if not self._loaded:
                self._login = self._read_login()
                self._token, self._loaded = self._read_cache(), True
            now = self._clock()
            if self._token is None or self._token.needs_renewal(now):
                self._token = self._renewed(self._token, now)
            return self._token.value

    def _renewed(self, old: AccessToken | None, now: datetime) -> AccessToken:
        """A new token, told to the watch; a refusal for good is told too, and repeated
        without asking while its backoff lasts."""
        waiting = self._refused is not None and not self._refused[1].due(now.timestamp())
        if self._refused is not None and waiting and not self._new_login():
            last = self._refused[0]  # a new exception: re-raising one would grow its traceback
            raise OAuth2Error(str(last), code=last.code, permanent=True, reason=last.reason)
        try:
            token = self._renew(old)
        except OAuth2Error as refused:
            if refused.permanent:
                outage = after_failure(
                    self._refused[1] if self._refused else None, now=now.timestamp(),
                    base=REFUSAL_BACKOFF, cap=REFUSAL_BACKOFF_CAP, jitter=self._random(),
                )  # fmt: skip
                self._refused = (refused, outage)
                if self._watch is not None:
                    self._watch.refused(refused)
            raise
        self._refused = None
        self._write_cache(token)
        if self._watch is not None:
            self._watch.renewed()
        return token

    def invalidate(self, token: str) -> None:
        """A server refused ``token``: the next ``token()`` gets a new one (once per token,
        however many connections report it)."""
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = AccessToken("", self._token.issued_at, self._token.issued_at,
                                          refresh_token=self._token.refresh_token)  # fmt: skip

    def _renew(self, old: AccessToken | None) -> AccessToken:
        refresh = self._refresh_token(old)
        token = self._acquire(refresh)
        # A server that rotates refresh tokens sends a new one; one that does not, none.
        token = AccessToken(token.value, token.issued_at, token.expires_at,
                            token.refresh_token or refresh)  # fmt: skip
        if self._login is not None and token.refresh_token != self._login.refresh_token:
            self._keep_rotated(token.refresh_token)
        return token

    def _refresh_token(self, old: AccessToken | None) -> str:
        """The refresh token to renew with: "" for the flows without one; the one given (or
        its rotation); else the stored login's, read afresh (a new login takes over)."""
        s = self._settings
        if s.flow not in REFRESH_FLOWS:
            return ""
        if s.refresh_token:
            return (old.refresh_token if old else "") or s.refresh_token
        login = self._read_login()
        if login is None:
            reason = (
                "no refresh token: none given (MAILBOT_OAUTH2__REFRESH_TOKEN) and none stored"
                " by mailbot oauth login"
            )
            raise OAuth2Error(reason, code=LOGIN_REQUIRED, permanent=True, reason=reason)
        self._login = login
        return login.refresh_token

    def _new_login(self) -> bool:
        """Whether mailbot oauth login stored another login since the last attempt (then
        it is worth asking at once, backoff or not)."""
        login = self._read_login()
        if login is None or (self._login is not None and login.login_id == self._login.login_id):
            return False
        self._login, self._token = login, None
        return True

    def _acquire(self, refresh: str) -> AccessToken:
        if self._grant is not None:
            self.requests += 1
            return self._grant.acquire(now=self._clock, refresh_token=refresh)
        s = self._settings
        grant_type = "refresh_token" if s.flow in REFRESH_FLOWS else s.flow
        form = {"grant_type": grant_type, "client_id": s.client_id}
        if s.client_secret:
            form["client_secret"] = s.client_secret
        if refresh:
            form["refresh_token"] = refresh
        if s.scope:
            form["scope"] = s.scope
        status, body = self._post(form)
        if status != 200:
            error = describe_error(status, body)
            # The endpoint's words, never what we sent it (a server may quote the grant back).
            sent = (s.client_secret, s.refresh_token, form.get("refresh_token", ""))
            reason = redact(error.text, sent)
            raise OAuth2Error(
                f"the token endpoint {s.token_url} gave no token: {reason}",
                code=error.code,
                permanent=error.permanent,
                reason=reason,
            )
        try:
            return parse_token_response(body, now=self._clock())
        except TokenResponseError as exc:
            raise OAuth2Error(f"the token endpoint {s.token_url}: {exc}") from None

    def _post(self, form: dict[str, str]) -> tuple[int, bytes]:
        self.requests += 1
        return post_form(self._settings.token_url, form, timeout=self._timeout)

    def _key(self) -> str:
        login = self._login.login_id if self._login is not None else ""
        return _settings_key(self._settings, self._grant_key + login)

    def _read_cache(self) -> AccessToken | None:
        if self._cache is None:
            return None
        try:
            return token_from_json(self._cache.read_text(encoding="utf-8"), key=self._key())
        except (OSError, UnicodeDecodeError):
            return None

    def _write_cache(self, token: AccessToken) -> None:
        """A failure only costs a token request after the next start."""
        if self._cache is not None:
            write_private(self._cache, token_to_json(token, key=self._key()))

    def _read_login(self) -> StoredLogin | None:
        if self._login_file is None:
            return None
        return read_login(self._login_file.parent, login_key(self._settings))

    def _keep_rotated(self, refresh: str) -> None:
        """Write the rotated refresh token back, unless a new login replaced the file."""
        assert self._login is not None and self._login_file is not None
        stored = self._read_login()
        if stored is not None and stored.login_id != self._login.login_id:
            return
        self._login = StoredLogin(self._login.key, self._login.login_id, refresh,
                                  self._login.obtained_at)  # fmt: skip
        write_private(self._login_file, login_to_json(self._login))


def post_form(url: str, form: dict[str, str], *, timeout: float) -> tuple[int, bytes]:
    """POST ``form`` to an OAuth2 endpoint: its status and body, a refusal's too;
    OAuth2Error (worth retrying) when it cannot be reached."""
    request = urllib.request.Request(
        url,
        data=urlencode(form).encode(),
        headers={"Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(1024 * 1024)
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.read(1024 * 1024)
    except (OSError, ValueError) as exc:  # URLError, timeouts, a malformed URL
        reason = getattr(exc, "reason", exc)
        raise OAuth2Error(f"the token endpoint {url} is unreachable: {reason}") from None


def write_private(path: Path, text: str) -> bool:
    """Write ``path`` whole or not at all, mode 0600 from the start (mkstemp, then a
    rename); False when it could not be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".oauth2-")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError:
        Path(temp).unlink(missing_ok=True)
        return False
    return True


def login_key(settings: OAuth2Settings) -> str:
    """Which settings a stored login belongs to: another provider, tenant, endpoint or
    client cannot use its refresh token."""
    parts = (settings.provider, settings.tenant, settings.client_id, settings.token_url)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def read_login(state_dir: Path, key: str) -> StoredLogin | None:
    """The login stored in ``state_dir`` for the settings of ``key``, None when there is
    none (or it is for other settings, or unreadable)."""
    try:
        login = login_from_json((state_dir / LOGIN_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return login if login is not None and login.key == key else None


def _settings_key(settings: OAuth2Settings, grant: str) -> str:
    """Which settings a cached token belongs to: another provider, tenant, endpoint, client,
    scope, flow or refresh token (a new consent) makes the cache stale."""
    parts = (settings.token_url, settings.client_id, settings.scope, settings.flow,
             settings.refresh_token, settings.provider, settings.tenant, grant)  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
