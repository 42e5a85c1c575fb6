"""The ``[oauth2]`` table of the settings: how mailbot gets the OAuth2 access tokens it
logs in to IMAP and SMTP with when ``imap.auth`` or ``smtp.auth`` is ``"oauth2"`` (issue 16).

For now only the ``generic`` provider: any RFC 6749 token endpoint (``token_url``),
with the client credentials grant (``client_id`` and its secret) or a refresh token.
The secrets (``client_secret``, ``refresh_token``) are like the passwords: they come
from ``MAILBOT_OAUTH2__CLIENT_SECRET`` / ``MAILBOT_OAUTH2__REFRESH_TOKEN``
(environment or ``.env``) or the systemd credentials ``oauth2_client_secret`` /
``oauth2_refresh_token``, and the file may not hold them.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic.dataclasses import dataclass as section

from mailbot import config_values as kind
from mailbot.config_sources import Load, variable
from mailbot.config_values import TABLE, describe_value

# The keys that hold secrets, and the systemd credential of each.
SECRET_KEYS = {"oauth2.client_secret": "oauth2_client_secret",
               "oauth2.refresh_token": "oauth2_refresh_token"}  # fmt: skip

_URL = re.compile(r"https?://[^\s/?#]+(?:/[^\s#]*)?", re.IGNORECASE)


@section(frozen=True, config=TABLE)
class OAuth2Settings:
    # "generic": any RFC 6749 token endpoint (token_url); "microsoft" and "google" come later.
    provider: kind.OAuth2Provider = "generic"
    # "client_credentials" (unattended, the app's own secret) or "refresh_token" (a user's consent).
    flow: kind.OAuth2Flow = "client_credentials"
    client_id: kind.Text = ""
    # The scopes asked for, space-separated; "" asks for none (the server's default).
    scope: kind.Text = ""
    # The token endpoint's address, http(s)://...
    token_url: kind.Text = ""
    # Never in the file: MAILBOT_OAUTH2__CLIENT_SECRET or the credential oauth2_client_secret.
    client_secret: kind.Text = ""
    # Never in the file: MAILBOT_OAUTH2__REFRESH_TOKEN or the credential oauth2_refresh_token.
    refresh_token: kind.Text = ""


def oauth2_settings(load: Load, oauth2: OAuth2Settings, *, used: bool) -> OAuth2Settings:
    """The table as read, the secrets from variables or systemd credentials; ``used``: some
    server logs in with OAuth2, so what the flow needs is required."""
    table = load.toml.get("oauth2")
    for key, credential in SECRET_KEYS.items():
        if isinstance(table, dict) and key.partition(".")[2] in table:
            raise load.fail(
                key,
                f"a secret does not belong in the file; set {variable(key)} in the environment"
                f" or in {load.file.parent / '.env'} (or give the service the systemd"
                f" credential {credential})",
            )
    if oauth2.provider != "generic":
        raise load.fail(
            load.where("oauth2.provider"),
            f"{describe_value(oauth2.provider)} comes in a later version of mailbot; for now"
            ' only "generic" (an RFC 6749 token endpoint given as token_url)',
        )
    if oauth2.token_url and _URL.fullmatch(oauth2.token_url) is None:
        raise load.fail(
            load.where("oauth2.token_url"),
            "expected the token endpoint's address, like"
            f' "https://login.example.com/oauth2/token", got {describe_value(oauth2.token_url)}',
        )
    settings = replace(
        oauth2,
        client_secret=oauth2.client_secret or load.credential("oauth2_client_secret"),
        refresh_token=oauth2.refresh_token or load.credential("oauth2_refresh_token"),
    )
    if used:
        _require(load, settings)
    return settings


def _require(load: Load, settings: OAuth2Settings) -> None:
    for key in ("token_url", "client_id"):
        if not getattr(settings, key):
            raise load.fail(
                f"oauth2.{key}",
                f'missing; needed with auth = "oauth2": set it in [oauth2] or as'
                f" {variable('oauth2.' + key)}",
            )
    needed = "oauth2.client_secret" if settings.flow == "client_credentials" else None
    if settings.flow == "refresh_token" and not settings.refresh_token:
        needed = "oauth2.refresh_token"
    if needed and not getattr(settings, needed.partition(".")[2]):
        raise load.fail(
            needed,
            f'missing; needed with flow = "{settings.flow}": set {variable(needed)} in the'
            f" environment or in {load.file.parent / '.env'} (or give the service the systemd"
            f" credential {SECRET_KEYS[needed]})",
        )
