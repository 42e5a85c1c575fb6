"""The ``[oauth2]`` table of the settings: how mailbot gets the OAuth2 access tokens it
logs in to IMAP and SMTP with when ``imap.auth`` or ``smtp.auth`` is ``"oauth2"`` (issue 16).

The ``generic`` provider: any RFC 6749 token endpoint (``token_url``), with the client
credentials grant (``client_id`` and its secret) or a refresh token. ``microsoft``:
Microsoft 365 (``tenant``, ``client_id`` and its secret) through msal, the optional
extra ``mailbot[oauth]``, which must then be installed.
The secrets (``client_secret``, ``refresh_token``) are like the passwords: they come
from ``MAILBOT_OAUTH2__CLIENT_SECRET`` / ``MAILBOT_OAUTH2__REFRESH_TOKEN``
(environment or ``.env``) or the systemd credentials ``oauth2_client_secret`` /
``oauth2_refresh_token``, and the file may not hold them.
"""

from __future__ import annotations

import importlib.util
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
    # "generic": any RFC 6749 token endpoint (token_url); "microsoft": Microsoft 365 through
    # msal (tenant, client_id); "google" comes later.
    provider: kind.OAuth2Provider = "generic"
    # "client_credentials" (unattended, the app's own secret) or "refresh_token" (a user's consent).
    flow: kind.OAuth2Flow = "client_credentials"
    # provider = "microsoft": the directory (tenant) ID or the organisation's domain.
    tenant: kind.Text = ""
    client_id: kind.Text = ""
    # The scopes asked for, space-separated; "" asks for none (the server's default), or
    # for microsoft https://outlook.office365.com/.default.
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
    if oauth2.provider == "google":
        raise load.fail(
            load.where("oauth2.provider"),
            f"{describe_value(oauth2.provider)} comes in a later version of mailbot; for now"
            ' "microsoft" or "generic" (an RFC 6749 token endpoint given as token_url)',
        )
    _check_provider(load, oauth2, used=used)
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


# The provider's library (the oauth extra) and the modules of it mailbot imports.
_PACKAGES = {"microsoft": ("msal", ("msal",))}
# A tenant's ID (a GUID) or its domain (contoso.onmicrosoft.com, contoso.pl).
_TENANT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# Entra ID's multi-tenant aliases: an app's own token (client credentials) needs the tenant.
_NOT_A_TENANT = frozenset({"common", "organizations", "consumers"})


def _check_provider(load: Load, oauth2: OAuth2Settings, *, used: bool) -> None:
    """What a provider of its own needs beyond the generic keys: its library installed,
    its flow, its tenant."""
    if oauth2.provider == "generic" or not used:
        return
    package, modules = _PACKAGES[oauth2.provider]
    if any(_missing(module) for module in modules):
        raise load.fail(
            load.where("oauth2.provider"),
            f"{describe_value(oauth2.provider)} needs the Python package {package}, which is"
            " not installed: install mailbot with its oauth extra, pip install 'mailbot[oauth]'",
        )
    if oauth2.flow != "client_credentials":
        raise load.fail(
            load.where("oauth2.flow"),
            f'with provider = "microsoft" only "client_credentials" for now (the app\'s own'
            f" access to the mailbox, IMAP.AccessAsApp and SMTP.SendAsApp), got"
            f" {describe_value(oauth2.flow)}",
        )
    if not oauth2.tenant:
        raise load.fail(
            "oauth2.tenant",
            'missing; needed with provider = "microsoft": the directory (tenant) ID of the'
            " app registration, or the organisation's domain like"
            f' "contoso.onmicrosoft.com"; set it in [oauth2] or as {variable("oauth2.tenant")}',
        )
    if _TENANT.fullmatch(oauth2.tenant) is None or oauth2.tenant.lower() in _NOT_A_TENANT:
        raise load.fail(
            load.where("oauth2.tenant"),
            "expected the directory (tenant) ID (a GUID) or the organisation's domain like"
            f' "contoso.onmicrosoft.com", got {describe_value(oauth2.tenant)}',
        )


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a parent package missing, or a broken one
        return True


def _require(load: Load, settings: OAuth2Settings) -> None:
    keys = ("token_url", "client_id") if settings.provider == "generic" else ("client_id",)
    for key in keys:
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
