"""Access tokens through the providers' own libraries, for ``TokenSource`` (issue 16,
item 2): Microsoft Entra ID through ``msal`` (``[oauth2] provider = "microsoft"``), Google
through ``google-auth`` (``provider = "google"``, a service account: ``GoogleGrant``).

Microsoft 365, unattended: the client-credentials grant of an app registration with
the application permissions ``IMAP.AccessAsApp`` and ``SMTP.SendAsApp``;
``ConfidentialClientApplication.acquire_token_for_client`` with the scope
``https://outlook.office365.com/.default`` at the authority
``https://login.microsoftonline.com/{tenant}``. The XOAUTH2 user is the mailbox.

The package is an optional extra (``pip install 'mailbot[oauth]'``), imported only
here and only when a token is wanted; the settings check it is installed
(``mailbot.config_oauth2``), so a missing one is a configuration error at start.

A new ``ConfidentialClientApplication`` is made for each renewal: msal keeps tokens
in a cache of its own and would hand back the very token a server just refused,
while ``TokenSource`` already caches and renews ahead of expiry. It costs one GET of
the tenant's OpenID configuration an hour.

msal's refusals are dicts, ``{"error": "invalid_client", "error_description":
"AADSTS7000215: Invalid client secret provided...", "error_codes": [...]}``: they go
the way of the generic endpoint's (``OAuth2Error`` with the code, permanent for the
codes no retry cures, the AADSTS code kept for ``mailbot status``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from mailbot.adapters.oauth2 import Grant, TokenSource
from mailbot.adapters.oauth2_login import Say, poll_for_token
from mailbot.config import OAuth2Settings, Settings
from mailbot.core.oauth2 import (
    DEFAULT_LIFETIME,
    AccessToken,
    TokenResponseError,
    describe_error,
    describe_error_answer,
    parse_token_answer,
    redact,
)
from mailbot.core.oauth2_login import parse_device_answer
from mailbot.errors import OAuth2Error

MICROSOFT_LOGIN = "https://login.microsoftonline.com"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
# A user's own access (flow "device_code"); msal adds offline_access (a refresh token) itself.
MICROSOFT_DELEGATED_SCOPE = (
    "https://outlook.office365.com/IMAP.AccessAsUser.All https://outlook.office365.com/SMTP.Send"
)
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
EXTRA = "pip install 'mailbot[oauth]'"

# How msal words a refusal of the tenant's OpenID configuration (an unknown tenant).
_DISCOVERY_REFUSED = re.compile(r"HTTP status: (\d+), Error: (.*)", re.DOTALL)


def token_source(settings: Settings) -> TokenSource | None:
    """The token source of ``settings``, None when neither server logs in with OAuth2."""
    if "oauth2" not in (settings.imap.auth, settings.smtp.auth):
        return None
    oauth2 = settings.oauth2
    grant: Grant | None = None
    if oauth2.provider == "microsoft":
        grant = MicrosoftGrant(oauth2)
    elif oauth2.provider == "google" and oauth2.flow == "service_account":
        grant = GoogleGrant(oauth2, subject=google_subject(settings))
    elif oauth2.provider == "google":  # an installed app's refresh token: plain RFC 6749
        oauth2 = google_installed(oauth2)
    return TokenSource(oauth2, state_dir=settings.state_dir, grant=grant)


def provider_module(name: str, provider: str) -> ModuleType:
    """The provider's library, imported now; a permanent OAuth2Error naming the extra when
    it is not installed (the settings check should have said so first)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        package = {"google": "google-auth", "microsoft": "msal"}.get(provider, name)
        raise OAuth2Error(
            f'provider = "{provider}" needs the Python package {package},'
            f" which is not installed: {EXTRA}",
            code="missing_package",
            permanent=True,
        ) from None


def google_installed(settings: OAuth2Settings) -> OAuth2Settings:
    """The settings of a Google installed app: Google's token endpoint and scope unless set."""
    return replace(settings, token_url=settings.token_url or GOOGLE_TOKEN_URL,
                   scope=settings.scope or GOOGLE_SCOPE)  # fmt: skip


class MicrosoftGrant:
    """Client credentials at Microsoft Entra ID through msal; with flow ``device_code`` a
    user's refresh token instead (a public client: no secret), the one ``mailbot oauth
    login`` stored (``adapters.oauth2_login``).

    ``login`` and ``http_client`` (msal's own parameter: a ``requests.Session``, to trust a
    certificate of the tests' own) are for the tests' local server; ``discovery`` False lets
    msal take an authority that is not Microsoft's (no instance discovery, no authority
    validation)."""

    def __init__(
        self,
        settings: OAuth2Settings,
        *,
        login: str = MICROSOFT_LOGIN,
        http_client: Any = None,
        discovery: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self._settings = settings
        self.authority = f"{login.rstrip('/')}/{settings.tenant}"
        self._http_client = http_client
        self._discovery = discovery
        self._timeout = timeout
        self.key = self.authority

    def application(self) -> Any:
        """msal's application for these settings: a public client for a user's own access."""
        msal = provider_module("msal", "microsoft")
        options: dict[str, Any] = {"authority": self.authority, "timeout": self._timeout}
        if not self._discovery:
            options |= {"instance_discovery": False, "validate_authority": False}
        if self._http_client is not None:
            options["http_client"] = self._http_client
        if self.delegated:
            return msal.PublicClientApplication(self._settings.client_id, **options)
        return msal.ConfidentialClientApplication(
            self._settings.client_id, client_credential=self._settings.client_secret, **options
        )

    @property
    def delegated(self) -> bool:
        return self._settings.flow == "device_code"

    @property
    def scopes(self) -> list[str]:
        default = MICROSOFT_DELEGATED_SCOPE if self.delegated else MICROSOFT_SCOPE
        return (self._settings.scope or default).split()

    def acquire(self, *, now: Callable[[], datetime], refresh_token: str = "") -> AccessToken:
        s = self._settings
        try:
            app = self.application()
            if self.delegated:
                result = app.acquire_token_by_refresh_token(refresh_token, scopes=self.scopes)
            else:
                result = app.acquire_token_for_client(scopes=self.scopes)
        except ValueError as exc:  # the tenant's OpenID configuration refused: no such tenant
            raise self._discovery_refused(exc) from None
        except OSError as exc:  # requests' errors: unreachable, timeouts, TLS
            raise OAuth2Error(
                f"Microsoft Entra ID ({self.authority}) is unreachable: {type(exc).__name__}:"
                f" {redact(str(exc), (s.client_secret,))[:300]}"
            ) from None
        if not isinstance(result, dict):
            raise OAuth2Error(f"Microsoft Entra ID ({self.authority}): no answer from msal")
        if "access_token" not in result:
            error = describe_error_answer(result)
            reason = redact(error.text, (s.client_secret, refresh_token))
            raise OAuth2Error(
                f"Microsoft Entra ID ({self.authority}) gave no token: {reason}",
                code=error.code,
                permanent=error.permanent,
                reason=reason,
            )
        try:
            return parse_token_answer(result, now=now())
        except TokenResponseError as exc:
            raise OAuth2Error(f"Microsoft Entra ID ({self.authority}): {exc}") from None

    def device_login(
        self, *, say: Say, sleep: Callable[[float], None], clock: Callable[[], datetime]
    ) -> AccessToken:
        """``mailbot oauth login`` for flow ``device_code``: msal's device-code flow, its
        polling ours (``poll_for_token``: one poll per call, the waits injectable)."""
        try:
            app = self.application()
            flow = app.initiate_device_flow(scopes=self.scopes)
            if "user_code" not in flow:
                error = describe_error_answer(flow)
                raise OAuth2Error(
                    f"Microsoft Entra ID ({self.authority}) gave no code: {error.text}",
                    code=error.code,
                )
            device = parse_device_answer(flow, now=clock())
            say(device.message or device.instructions())

            def ask() -> tuple[int, Mapping[str, Any]]:
                once = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: True)
                return 0, once

            return poll_for_token(ask, device, sleep=sleep, clock=clock)
        except TokenResponseError as exc:
            raise OAuth2Error(f"Microsoft Entra ID ({self.authority}): {exc}") from None
        except ValueError as exc:
            raise self._discovery_refused(exc) from None
        except OSError as exc:
            raise OAuth2Error(
                f"Microsoft Entra ID ({self.authority}) is unreachable: {type(exc).__name__}:"
                f" {str(exc)[:300]}"
            ) from None

    def _discovery_refused(self, exc: ValueError) -> OAuth2Error:
        """The tenant's OpenID configuration refused (4xx: no such tenant, for good)."""
        causes = (exc.__context__, exc)
        found = next((m for e in causes if (m := _DISCOVERY_REFUSED.search(str(e)))), None)
        if found is None:
            text = " ".join(str(exc).split())[:300]
            return OAuth2Error(
                f"Microsoft Entra ID ({self.authority}): {text}", permanent=True, reason=text
            )
        status = int(found.group(1))
        body = found.group(2).strip()
        error = describe_error(status, body)
        reason = f"{error.text}, asking for the tenant's OpenID configuration"
        return OAuth2Error(
            f"Microsoft Entra ID ({self.authority}) does not know the tenant: {reason}",
            code=error.code,
            permanent=400 <= status < 500,
            reason=reason,
        )


def google_subject(settings: Settings) -> str:
    """The mailbox a Google service account acts for: the username of the server that logs
    in with OAuth2 (the settings make sure both are the same when both do)."""
    return settings.imap.username if settings.imap.auth == "oauth2" else settings.smtp.username


class GoogleGrant:
    """A Google Workspace service account with domain-wide delegation through google-auth:
    a JWT signed with the account's key (``service_account_file``), for ``subject`` (the
    mailbox), exchanged at the key file's ``token_uri`` for an access token with the scope
    ``https://mail.google.com/``.

    ``request`` is google-auth's transport (default: its ``requests`` one)."""

    def __init__(self, settings: OAuth2Settings, *, subject: str, request: Any = None) -> None:
        self._settings = settings
        self._subject = subject
        self._request = request
        self.key = "\0".join((settings.service_account_file, subject))

    def acquire(self, *, now: Callable[[], datetime], refresh_token: str = "") -> AccessToken:
        service_account = provider_module("google.oauth2.service_account", "google")
        exceptions = provider_module("google.auth.exceptions", "google")
        s = self._settings
        try:
            credentials = service_account.Credentials.from_service_account_file(
                s.service_account_file, scopes=(s.scope or GOOGLE_SCOPE).split(),
                subject=self._subject,
            )  # fmt: skip
        except (OSError, ValueError) as exc:  # unreadable, not JSON, not a service account key
            reason = f"the service account key file {s.service_account_file}: {exc}"
            raise OAuth2Error(
                f"Google: {reason}", code="invalid_key_file", permanent=True, reason=reason
            ) from None
        request = self._request
        if request is None:
            request = provider_module("google.auth.transport.requests", "google").Request()
        try:
            credentials.refresh(request)
        except exceptions.RefreshError as exc:
            raise _google_refusal(exc) from None
        except exceptions.TransportError as exc:
            raise OAuth2Error(f"Google's token endpoint is unreachable: {exc}") from None
        if not isinstance(credentials.token, str) or not credentials.token:
            raise OAuth2Error("Google's token endpoint: the answer has no access_token")
        issued = now()
        # google-auth keeps the expiry (naive UTC, from expires_in); the lifetime is what
        # is left of it now, counted from ``now`` on the injected clock.
        lifetime = DEFAULT_LIFETIME
        if isinstance(credentials.expiry, datetime):
            left = credentials.expiry - datetime.now(UTC).replace(tzinfo=None)
            lifetime = timedelta(seconds=max(round(left.total_seconds()), 1))
        return AccessToken(credentials.token, issued, issued + lifetime)


def _google_refusal(exc: Exception) -> OAuth2Error:
    """google-auth's RefreshError: ``args`` are its words and, for an RFC 6749 error, the
    decoded answer; ``retryable`` for a 5xx, a 429 or the codes that say so."""
    answer = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else None
    retryable = bool(getattr(exc, "retryable", False))
    if answer is None:
        text = " ".join(str(exc.args[0] if exc.args else exc).split())[:300]
        return OAuth2Error(f"Google gave no token: {text}", permanent=False, reason=text)
    error = describe_error_answer(answer)
    return OAuth2Error(
        f"Google gave no token: {error.text}",
        code=error.code,
        permanent=error.permanent and not retryable,
        reason=error.text,
    )
