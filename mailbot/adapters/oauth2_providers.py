"""Access tokens from Microsoft Entra ID through Microsoft's own library, ``msal``
(``[oauth2] provider = "microsoft"``), for ``TokenSource`` (issue 16, item 2).

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
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any

from mailbot.adapters.oauth2 import Grant, TokenSource
from mailbot.config import OAuth2Settings, Settings
from mailbot.core.oauth2 import (
    AccessToken,
    TokenResponseError,
    describe_error,
    describe_error_answer,
    parse_token_answer,
    redact,
)
from mailbot.errors import OAuth2Error

MICROSOFT_LOGIN = "https://login.microsoftonline.com"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
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
    return TokenSource(oauth2, state_dir=settings.state_dir, grant=grant)


def provider_module(name: str, provider: str) -> ModuleType:
    """The provider's library, imported now; a permanent OAuth2Error naming the extra when
    it is not installed (the settings check should have said so first)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise OAuth2Error(
            f'provider = "{provider}" needs the Python package {name.partition(".")[0]},'
            f" which is not installed: {EXTRA}",
            code="missing_package",
            permanent=True,
        ) from None


class MicrosoftGrant:
    """Client credentials at Microsoft Entra ID through msal.

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

    def acquire(self, *, now: Callable[[], datetime]) -> AccessToken:
        msal = provider_module("msal", "microsoft")
        s = self._settings
        scope = s.scope or MICROSOFT_SCOPE
        options: dict[str, Any] = {}
        if not self._discovery:
            options = {"instance_discovery": False, "validate_authority": False}
        if self._http_client is not None:
            options["http_client"] = self._http_client
        try:
            app = msal.ConfidentialClientApplication(
                s.client_id,
                client_credential=s.client_secret,
                authority=self.authority,
                timeout=self._timeout,
                **options,
            )
            result = app.acquire_token_for_client(scopes=scope.split())
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
            reason = redact(error.text, (s.client_secret,))
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
