"""The ``[oauth2]`` table of the settings: how mailbot gets the OAuth2 access tokens it
logs in to IMAP and SMTP with when ``imap.auth`` or ``smtp.auth`` is ``"oauth2"`` (issue 16).

The ``generic`` provider: any RFC 6749 token endpoint (``token_url``), with the client
credentials grant (``client_id`` and its secret) or a refresh token. ``microsoft``:
Microsoft 365 (``tenant``, ``client_id`` and its secret) through msal, the optional
extra ``mailbot[oauth]``, which must then be installed. ``google``: a Google Workspace
service account with domain-wide delegation (flow ``service_account``, the default
there) through google-auth, same extra; its JSON key file's path comes like a secret
(``MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE``, or the credential ``oauth2_service_account``,
which is the key itself) and the token is for the mailbox, the servers' username.
A user's own sign-in (flow ``refresh_token``; ``device_code`` for microsoft; ``refresh_token``
for google, its installed app) needs no secret here: ``mailbot oauth login`` stores the
refresh token in the state directory, and the daemon reports a missing one (issue 16).
The secrets (``client_secret``, ``refresh_token``) are like the passwords: they come
from ``MAILBOT_OAUTH2__CLIENT_SECRET`` / ``MAILBOT_OAUTH2__REFRESH_TOKEN``
(environment or ``.env``) or the systemd credentials ``oauth2_client_secret`` /
``oauth2_refresh_token``, and the file may not hold them.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import replace
from pathlib import Path

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
    # msal (tenant, client_id); "google": Google Workspace through google-auth (a service
    # account's key file, service_account_file).
    provider: kind.OAuth2Provider = "generic"
    # "client_credentials" (unattended, the app's own secret); "refresh_token" (a user's
    # consent: given, or stored by `mailbot oauth login`); "device_code" (microsoft: the
    # same, the login by device code); "service_account" (google).
    flow: kind.OAuth2Flow = "client_credentials"
    # provider = "microsoft": the directory (tenant) ID or the organisation's domain.
    tenant: kind.Text = ""
    client_id: kind.Text = ""
    # The scopes asked for, space-separated; "" asks for none (the server's default), or
    # for microsoft https://outlook.office365.com/.default.
    scope: kind.Text = ""
    # The token endpoint's address, http(s)://...
    token_url: kind.Text = ""
    # provider = "generic", flow = "refresh_token": the RFC 8628 device authorization
    # endpoint `mailbot oauth login` asks for a code, http(s)://...
    device_authorization_url: kind.Text = ""
    # Never in the file: MAILBOT_OAUTH2__CLIENT_SECRET or the credential oauth2_client_secret.
    client_secret: kind.Text = ""
    # Never in the file: MAILBOT_OAUTH2__REFRESH_TOKEN or the credential oauth2_refresh_token.
    refresh_token: kind.Text = ""
    # provider = "google": the service account's JSON key file; never in the file:
    # MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE or the credential oauth2_service_account (the key).
    service_account_file: kind.Text = ""


def oauth2_settings(
    load: Load, oauth2: OAuth2Settings, *, used: bool, mailboxes: tuple[str, ...] = ()
) -> OAuth2Settings:
    """The table as read, the secrets from variables or systemd credentials; ``used``: some
    server logs in with OAuth2, so what the flow needs is required; ``mailboxes``: the
    usernames of the servers that do (a Google service account acts for one of them)."""
    table = load.toml.get("oauth2")
    for key, credential in {**SECRET_KEYS, KEY_FILE: KEY_CREDENTIAL}.items():
        if isinstance(table, dict) and key.partition(".")[2] in table:
            what = "the key file's path" if key == KEY_FILE else "a secret"
            raise load.fail(
                key,
                f"{what} does not belong in the file; {load.secret_home(key, credential)}",
            )
    if oauth2.provider == "google" and not load.given("oauth2.flow"):
        oauth2 = replace(oauth2, flow="service_account")  # Google's unattended flow
    _check_provider(load, oauth2, used=used)
    for key, example in (("token_url", "token"), ("device_authorization_url", "device")):
        value = getattr(oauth2, key)
        if value and _URL.fullmatch(value) is None:
            raise load.fail(
                load.where(f"oauth2.{key}"),
                f"expected the {'token' if example == 'token' else 'device authorization'}"
                f' endpoint\'s address, like "https://login.example.com/oauth2/{example}",'
                f" got {describe_value(value)}",
            )
    settings = replace(
        oauth2,
        client_secret=oauth2.client_secret or load.credential("oauth2_client_secret"),
        refresh_token=oauth2.refresh_token or load.credential("oauth2_refresh_token"),
        service_account_file=oauth2.service_account_file or _credential_path(load),
    )
    if used:
        _require(load, settings)
        if settings.flow == "service_account":
            _check_key_file(load, settings.service_account_file)
            _check_google_mailbox(load, mailboxes)
    return settings


KEY_FILE = "oauth2.service_account_file"
KEY_CREDENTIAL = "oauth2_service_account"
# What a service account's JSON key must hold for google-auth.
_KEY_FIELDS = ("client_email", "private_key", "token_uri")


def _credential_path(load: Load) -> str:
    """The systemd credential oauth2_service_account is the key file itself: its path."""
    directory = load.environ.get("CREDENTIALS_DIRECTORY")
    path = Path(directory) / KEY_CREDENTIAL if directory else None
    return str(path) if path is not None and path.is_file() else ""


def _check_key_file(load: Load, path: str) -> None:
    """The key file is readable JSON of a service account; its contents are never quoted."""
    where = load.where(KEY_FILE) if KEY_FILE in load.origin else KEY_FILE
    try:
        key = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise load.fail(
            where, f"cannot read the service account key {path}: {exc.strerror}"
        ) from None
    except ValueError:
        raise load.fail(where, f"{path} is not a JSON key file") from None
    if not isinstance(key, dict) or key.get("type") != "service_account":
        raise load.fail(
            where,
            f'{path} is not a service account\'s key ("type": "service_account"); create a'
            " JSON key for the service account in the Google Cloud console",
        )
    lacking = [name for name in _KEY_FIELDS if not isinstance(key.get(name), str) or not key[name]]
    if lacking:
        raise load.fail(where, f"the service account key {path} lacks {', '.join(lacking)}")


def _check_google_mailbox(load: Load, mailboxes: tuple[str, ...]) -> None:
    """A service account's token acts for one mailbox, named by its address."""
    if len(set(mailboxes)) > 1:
        raise load.fail(
            "smtp.username",
            'with provider = "google" the token is for one mailbox: imap.username and'
            f" smtp.username must be the same address, got {describe_value(mailboxes[0])} and"
            f" {describe_value(mailboxes[1])}",
        )
    if mailboxes and "@" not in mailboxes[0]:
        raise load.fail(
            "imap.username",
            'with provider = "google" the username is the mailbox\'s address (the service'
            f" account acts for it), got {describe_value(mailboxes[0])}",
        )


# The provider's library (the oauth extra) and the modules of it mailbot imports.
_PACKAGES = {
    "microsoft": ("msal", ("msal",)),
    "google": ("google-auth", ("google.oauth2", "google.auth.transport", "requests")),
}
# The flows each provider offers for now, and what they are.
_FLOWS = {
    "generic": ("client_credentials", "refresh_token"),
    "microsoft": ("client_credentials", "device_code"),
    "google": ("service_account", "refresh_token"),
}
_FLOWS_SAY = {
    "microsoft": "the app's own access to the mailbox, IMAP.AccessAsApp and SMTP.SendAsApp;"
    " or a user's, signed in once by mailbot oauth login",
    "google": "a service account with domain-wide delegation, or leave flow out; or an"
    " installed app's refresh token, from mailbot oauth login",
}
# A tenant's ID (a GUID) or its domain (contoso.onmicrosoft.com, contoso.pl).
_TENANT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# Entra ID's multi-tenant aliases: an app's own token (client credentials) needs the tenant.
_NOT_A_TENANT = frozenset({"common", "organizations", "consumers"})


def _check_provider(load: Load, oauth2: OAuth2Settings, *, used: bool) -> None:
    """What a provider of its own needs beyond the generic keys: its library installed,
    its flow, its tenant."""
    if oauth2.flow not in _FLOWS[oauth2.provider]:
        if oauth2.provider == "generic":
            raise load.fail(
                load.where("oauth2.flow"),
                f"{describe_value(oauth2.flow)} is for provider ="
                f' "{"google" if oauth2.flow == "service_account" else "microsoft"}"; with'
                ' provider = "generic" "client_credentials" or "refresh_token"',
            )
        first, second = _FLOWS[oauth2.provider]
        raise load.fail(
            load.where("oauth2.flow"),
            f'with provider = "{oauth2.provider}" "{first}" or "{second}"'
            f" ({_FLOWS_SAY[oauth2.provider]}), got {describe_value(oauth2.flow)}",
        )
    if oauth2.provider == "generic" or not used:
        return
    package, modules = _PACKAGES[oauth2.provider]
    if any(_missing(module) for module in modules):
        raise load.fail(
            load.where("oauth2.provider"),
            f"{describe_value(oauth2.provider)} needs the Python package {package}, which is"
            " not installed: install mailbot with its oauth extra, pip install 'mailbot[oauth]'",
        )
    if oauth2.provider == "microsoft":
        _check_tenant(load, oauth2)


def _check_tenant(load: Load, oauth2: OAuth2Settings) -> None:
    if not oauth2.tenant:
        raise load.fail(
            "oauth2.tenant",
            'missing; needed with provider = "microsoft": the directory (tenant) ID of the'
            " app registration, or the organisation's domain like"
            f' "contoso.onmicrosoft.com"; set it in [oauth2] or as {variable("oauth2.tenant")}',
        )
    # A user's own sign-in may go through "organizations"; an app's token needs its tenant.
    alias = oauth2.tenant.lower() in _NOT_A_TENANT and oauth2.flow == "client_credentials"
    if _TENANT.fullmatch(oauth2.tenant) is None or alias:
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
    keys = {"generic": ("token_url", "client_id"), "microsoft": ("client_id",), "google": ()}
    if settings.provider == "google" and settings.flow == "refresh_token":
        keys["google"] = ("client_id",)
    for key in keys[settings.provider]:
        if not getattr(settings, key):
            raise load.fail(
                f"oauth2.{key}",
                f'missing; needed with auth = "oauth2": set it in [oauth2] or as'
                f" {variable('oauth2.' + key)}",
            )
    # A user's refresh token is given or stored by mailbot oauth login, maybe after the
    # start: without one the daemon reports it (status CRITICAL) and picks the login up.
    needed = "oauth2.client_secret" if settings.flow == "client_credentials" else None
    if settings.provider == "google" and settings.flow == "refresh_token":
        needed = "oauth2.client_secret"  # a Desktop app's, which Google's endpoint wants
    if settings.flow == "service_account":
        needed = KEY_FILE
    if needed and not getattr(settings, needed.partition(".")[2]):
        credential = {**SECRET_KEYS, KEY_FILE: KEY_CREDENTIAL}[needed]
        raise load.fail(
            needed,
            f'missing; needed with flow = "{settings.flow}":'
            f" {load.secret_home(needed, credential)}",
        )
