"""``mailbot oauth login``: which login the ``[oauth2]`` settings call for, and storing its
refresh token where the daemon's ``TokenSource`` takes it from (issue 16).

- provider ``microsoft``, flow ``device_code``: msal's device-code flow;
- provider ``generic``, flow ``refresh_token``: RFC 8628 at ``device_authorization_url``;
- provider ``google``, flow ``refresh_token``: the installed app's authorization code with
  PKCE and a loopback redirect (or the redirected address pasted).
Other flows need no login: a ConfigError says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from mailbot.adapters.oauth2 import LOGIN_NAME, REFRESH_FLOWS, login_key, read_login
from mailbot.adapters.oauth2_login import (
    GOOGLE_AUTHORIZATION_URL,
    Say,
    device_login,
    installed_app_login,
    store_login,
)
from mailbot.adapters.oauth2_providers import MicrosoftGrant, google_installed
from mailbot.config import Settings
from mailbot.core.oauth2 import AccessToken
from mailbot.errors import ConfigError


def login(
    settings: Settings,
    *,
    say: Say,
    pasted: TextIO,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    microsoft: MicrosoftGrant | None = None,
    authorization_url: str = GOOGLE_AUTHORIZATION_URL,
) -> Path:
    """Sign in as the settings say and store the refresh token; the file's path."""
    oauth2 = settings.oauth2
    if "oauth2" not in (settings.imap.auth, settings.smtp.auth):
        raise ConfigError(
            'imap.auth: neither [imap] nor [smtp] has auth = "oauth2": there is nothing to sign'
            " in to"
        )
    if oauth2.flow not in REFRESH_FLOWS:
        raise ConfigError(
            f'oauth2.flow: "{oauth2.flow}" needs no login (the token comes unattended);'
            ' mailbot oauth login is for a user\'s sign-in: flow = "device_code" (microsoft)'
            ' or "refresh_token" (generic, google)'
        )
    if oauth2.refresh_token:
        raise ConfigError(
            "oauth2.refresh_token: a refresh token is given (MAILBOT_OAUTH2__REFRESH_TOKEN or"
            " the credential oauth2_refresh_token) and would be used instead of the login:"
            " remove it, then run mailbot oauth login"
        )
    token: AccessToken
    if oauth2.provider == "microsoft":
        grant = microsoft or MicrosoftGrant(oauth2)
        token = grant.device_login(say=say, sleep=sleep, clock=clock)
    elif oauth2.provider == "google":
        token = installed_app_login(google_installed(oauth2), say=say, pasted=pasted,
                                    authorization_url=authorization_url, clock=clock)  # fmt: skip
    else:
        if not oauth2.device_authorization_url:
            raise ConfigError(
                "oauth2.device_authorization_url: missing; mailbot oauth login asks the"
                " provider's RFC 8628 device authorization endpoint for a code"
            )
        token = device_login(oauth2, say=say, sleep=sleep, clock=clock)
    return store_login(settings.state_dir, oauth2, token, now=clock())


def stored_login_state(settings: Settings) -> tuple[bool, str] | None:
    """For check-config: whether the refresh token mailbot oauth login stores is there (True
    and where, from when), False and what to do; None when the settings use none."""
    oauth2 = settings.oauth2
    used = "oauth2" in (settings.imap.auth, settings.smtp.auth)
    if not used or oauth2.flow not in REFRESH_FLOWS or oauth2.refresh_token:
        return None
    path = settings.state_dir / LOGIN_NAME
    stored = read_login(settings.state_dir, login_key(oauth2))
    if stored is None:
        return False, f"no sign-in stored in {path} for these settings: run mailbot oauth login"
    return (
        True,
        f"signed in by mailbot oauth login on {stored.obtained_at:%Y-%m-%d %H:%M} UTC ({path})",
    )
