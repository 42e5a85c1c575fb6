"""Microsoft 365 tokens through msal's own code (``provider = "microsoft"``), against the tests'
OAuth2 server playing Microsoft Entra ID over HTTPS: msal reads the tenant's OpenID
configuration, posts the client-credentials grant to the token endpoint named there, and the
token it brings back logs in to the suite's Dovecot over XOAUTH2. Entra's refusals (AADSTS
codes) take the generic endpoint's refusal path.

Only the authority's address differs from production: msal takes a non-Microsoft one with
``instance_discovery=False`` and ``validate_authority=False`` (what ``discovery=False`` sets),
and reaches it only over HTTPS: through a ``requests.Session`` trusting the test certificate
(msal's ``http_client``; its ``verify`` would lose to REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
import requests
from imapclient import IMAPClient

from mailbot.adapters.oauth2 import CACHE_NAME, TokenSource
from mailbot.adapters.oauth2_providers import MICROSOFT_SCOPE, MicrosoftGrant, token_source
from mailbot.config import OAuth2Settings
from mailbot.core.oauth2 import refusal_cause
from mailbot.errors import OAuth2Error
from tests.conftest import Dovecot, free_port, new_account
from tests.factories import Clock, oauth2_mailbox_settings
from tests.oauth2_server import OAuth2Server


def microsoft(
    server: OAuth2Server, username: str = "support", *, secret: str = ""
) -> tuple[OAuth2Settings, MicrosoftGrant]:
    tenant = f"t{uuid.uuid4().hex[:8]}.onmicrosoft.com"
    server.add_tenant(tenant)
    client_id, real_secret = str(uuid.uuid4()), uuid.uuid4().hex
    server.add_client(client_id, real_secret, username=username)
    settings = OAuth2Settings(
        provider="microsoft", tenant=tenant, client_id=client_id,
        client_secret=secret or real_secret,
    )  # fmt: skip
    return settings, local_grant(server, settings)


def local_grant(server: OAuth2Server, settings: OAuth2Settings) -> MicrosoftGrant:
    session = requests.Session()
    session.verify, session.trust_env = server.ca_file, False
    return MicrosoftGrant(
        settings, login=server.https_url, http_client=session, discovery=False, timeout=10
    )


def test_msal_gets_a_token_that_logs_in_to_the_mailbox_over_xoauth2(
    dovecot: Dovecot, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    account = new_account(dovecot)
    settings, grant = microsoft(oauth2_server, account.username)
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock(), grant=grant)

    token = source.token()

    sent = oauth2_server.forms[-1]
    assert (sent["grant_type"], sent["client_id"], sent["scope"]) == (
        "client_credentials", settings.client_id, MICROSOFT_SCOPE
    )  # fmt: skip
    assert grant.authority == f"{oauth2_server.https_url}/{settings.tenant}"
    client = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    client.oauth2_login(account.username, token)
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()
    assert source.token() == token and source.requests == 1
    assert settings.client_secret not in (tmp_path / CACHE_NAME).read_text()


def test_a_token_a_server_refused_is_replaced_not_handed_back_from_msals_cache(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings, grant = microsoft(oauth2_server)
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock(), grant=grant)
    refused = source.token()
    oauth2_server.revoke(refused)

    source.invalidate(refused)
    fresh = source.token()

    assert fresh != refused and oauth2_server.username_of(fresh) == "support"
    assert source.requests == 2


def test_a_wrong_client_secret_is_entras_invalid_client_with_its_aadsts_code(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings, grant = microsoft(oauth2_server, secret="wrong-secret-value")
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock(), grant=grant)

    with pytest.raises(OAuth2Error) as first:
        source.token()
    again = local_grant(oauth2_server, settings)
    with pytest.raises(OAuth2Error) as second:
        TokenSource(settings, state_dir=None, clock=Clock(), grant=again).token()

    error = first.value
    assert (error.code, error.permanent) == ("invalid_client", True)
    assert error.reason.startswith("invalid_client: AADSTS7000215: Invalid client secret provided.")
    assert str(error).startswith(f"Microsoft Entra ID ({grant.authority}) gave no token: ")
    assert "wrong-secret-value" not in str(error)
    # A new trace id and timestamp every time, the same cause for status and the staff mail.
    assert second.value.reason != error.reason
    assert refusal_cause(second.value.reason) == refusal_cause(error.reason)
    assert refusal_cause(error.reason) == "invalid_client AADSTS7000215"
    assert not (tmp_path / CACHE_NAME).exists()


def test_an_unknown_tenant_is_a_refusal_for_good_naming_aadsts90002(
    oauth2_server: OAuth2Server,
) -> None:
    settings, _ = microsoft(oauth2_server)
    settings = OAuth2Settings(
        provider="microsoft", tenant="nobody.onmicrosoft.com", client_id=settings.client_id,
        client_secret=settings.client_secret,
    )  # fmt: skip
    source = TokenSource(
        settings, state_dir=None, clock=Clock(), grant=local_grant(oauth2_server, settings)
    )

    with pytest.raises(OAuth2Error) as caught:
        source.token()

    assert (caught.value.code, caught.value.permanent) == ("invalid_tenant", True)
    assert "AADSTS90002: Tenant 'nobody.onmicrosoft.com' not found" in caught.value.reason
    assert refusal_cause(caught.value.reason) == "invalid_tenant AADSTS90002"


def test_an_app_unknown_in_the_tenant_is_unauthorized_client_for_good(
    oauth2_server: OAuth2Server,
) -> None:
    settings, _ = microsoft(oauth2_server)
    stranger = OAuth2Settings(provider="microsoft", tenant=settings.tenant,
                              client_id=str(uuid.uuid4()), client_secret="s")  # fmt: skip
    grant = local_grant(oauth2_server, stranger)

    with pytest.raises(OAuth2Error) as caught:
        TokenSource(stranger, state_dir=None, clock=Clock(), grant=grant).token()

    assert (caught.value.code, caught.value.permanent) == ("unauthorized_client", True)
    assert "AADSTS700016" in caught.value.reason


def test_an_unreachable_entra_is_worth_retrying() -> None:
    settings = OAuth2Settings(provider="microsoft", tenant="contoso.onmicrosoft.com",
                              client_id="c", client_secret="s")  # fmt: skip
    grant = MicrosoftGrant(settings, login=f"https://127.0.0.1:{free_port()}",
                           discovery=False, timeout=5)  # fmt: skip

    with pytest.raises(OAuth2Error, match="is unreachable") as caught:
        TokenSource(settings, state_dir=None, clock=Clock(), grant=grant).token()

    assert caught.value.permanent is False


def test_without_msal_installed_the_refusal_names_the_extra(
    oauth2_server: OAuth2Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, grant = microsoft(oauth2_server)
    monkeypatch.setitem(sys.modules, "msal", None)

    with pytest.raises(OAuth2Error) as caught:
        TokenSource(settings, state_dir=None, clock=Clock(), grant=grant).token()

    assert caught.value.permanent is True
    assert str(caught.value) == (
        'provider = "microsoft" needs the Python package msal, which is not installed:'
        " pip install 'mailbot[oauth]'"
    )


def test_the_daemons_token_source_asks_microsofts_authority_for_the_tenant(
    tmp_path: Path,
) -> None:
    settings = oauth2_mailbox_settings(
        tmp_path,
        'provider = "microsoft"\ntenant = "firma.onmicrosoft.com"\n'
        'client_id = "00000000-1111-2222-3333-444444444444"\n',
        {"MAILBOT_OAUTH2__CLIENT_SECRET": "s"},
        servers="office365.com",
    )

    source = token_source(settings)

    assert source is not None and isinstance(source._grant, MicrosoftGrant)
    assert source._grant.authority == "https://login.microsoftonline.com/firma.onmicrosoft.com"
