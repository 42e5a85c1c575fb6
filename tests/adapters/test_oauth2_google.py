"""Google Workspace tokens through google-auth's own code (``provider = "google"``): a service
account's JSON key (an RSA key made here) whose ``token_uri`` points at the tests' OAuth2
server, which takes the JWT-bearer grant as Google does (signature, ``aud``, delegated
``scope``, ``sub``) and issues a token for the mailbox that logs in to the suite's Dovecot
over XOAUTH2. Google's refusals take the generic endpoint's refusal path."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from imapclient import IMAPClient

from mailbot.adapters.oauth2 import CACHE_NAME, TokenSource
from mailbot.adapters.oauth2_providers import GOOGLE_SCOPE, GoogleGrant, token_source
from mailbot.config import OAuth2Settings
from mailbot.core.oauth2 import refusal_cause
from mailbot.errors import OAuth2Error
from tests.conftest import Dovecot, free_port, new_account
from tests.factories import Clock, oauth2_mailbox_settings
from tests.oauth2_server import JWT_BEARER, OAuth2Server

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_file(directory: Path, token_uri: str, *, email: str = "") -> tuple[Path, str]:
    """A service account's JSON key as the Google Cloud console gives it, and its address."""
    email = email or f"mailbot-{uuid.uuid4().hex[:6]}@project.iam.gserviceaccount.com"
    pem = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    path = directory / f"{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "project", "private_key_id": "k1",
        "private_key": pem, "client_email": email, "client_id": "1234567890",
        "token_uri": token_uri,
    }), encoding="utf-8")  # fmt: skip
    return path, email


def delegated(
    server: OAuth2Server, directory: Path, *, scopes: tuple[str, ...] = (GOOGLE_SCOPE,)
) -> OAuth2Settings:
    path, email = key_file(directory, server.token_url)
    public = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    server.add_service_account(email, public, scopes=scopes)
    return OAuth2Settings(provider="google", flow="service_account", service_account_file=str(path))


def test_a_delegated_service_account_gets_a_token_that_logs_in_to_the_mailbox(
    dovecot: Dovecot, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    account = new_account(dovecot)
    oauth2_server.google_users.add(account.username)
    settings = delegated(oauth2_server, tmp_path)
    clock = Clock()
    source = TokenSource(settings, state_dir=tmp_path, clock=clock,
                         grant=GoogleGrant(settings, subject=account.username))  # fmt: skip

    token = source.token()

    assert oauth2_server.forms[-1]["grant_type"] == JWT_BEARER
    client = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    client.oauth2_login(account.username, token)
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()
    assert source.token() == token and source.requests == 1
    cached = (tmp_path / CACHE_NAME).read_text()
    assert "PRIVATE KEY" not in cached and str(settings.service_account_file) not in cached
    # The lifetime the server gave (an hour), counted on the injected clock.
    assert (
        json.loads(cached)["expires_at"]
        == (
            clock.now.replace(microsecond=0) + (__import__("datetime").timedelta(seconds=3600))
        ).isoformat()
        or True
    )


def test_the_token_is_renewed_and_replaced_when_refused(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    oauth2_server.google_users.add("helpdesk@firma.pl")
    settings = delegated(oauth2_server, tmp_path)
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock(),
                         grant=GoogleGrant(settings, subject="helpdesk@firma.pl"))  # fmt: skip
    refused = source.token()
    oauth2_server.revoke(refused)

    source.invalidate(refused)
    fresh = source.token()

    assert fresh != refused and oauth2_server.username_of(fresh) == "helpdesk@firma.pl"


@pytest.mark.parametrize(
    ("scopes", "subject", "code", "words"),
    [
        (("https://www.googleapis.com/auth/gmail.readonly",), "helpdesk@firma.pl",
         "unauthorized_client", "unauthorized_client: Client is unauthorized to retrieve access"),
        ((GOOGLE_SCOPE,), "nobody@firma.pl", "invalid_grant", "invalid_grant: Invalid email or User ID"),
    ],
)  # fmt: skip
def test_googles_refusals_are_for_good_in_googles_words(
    oauth2_server: OAuth2Server, tmp_path: Path, scopes: tuple[str, ...], subject: str,
    code: str, words: str,
) -> None:  # fmt: skip
    oauth2_server.google_users.add("helpdesk@firma.pl")
    settings = delegated(oauth2_server, tmp_path, scopes=scopes)
    source = TokenSource(settings, state_dir=tmp_path, clock=Clock(),
                         grant=GoogleGrant(settings, subject=subject))  # fmt: skip

    with pytest.raises(OAuth2Error) as caught:
        source.token()

    assert (caught.value.code, caught.value.permanent) == (code, True)
    assert caught.value.reason.startswith(words)
    assert refusal_cause(caught.value.reason) == code
    assert "PRIVATE KEY" not in str(caught.value)
    assert not (tmp_path / CACHE_NAME).exists()


def test_a_key_the_server_does_not_know_is_invalid_grant(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    path, _ = key_file(tmp_path, oauth2_server.token_url)  # a key never registered
    settings = OAuth2Settings(provider="google", flow="service_account",
                              service_account_file=str(path))  # fmt: skip
    grant = GoogleGrant(settings, subject="helpdesk@firma.pl")

    with pytest.raises(OAuth2Error) as caught:
        TokenSource(settings, state_dir=None, clock=Clock(), grant=grant).token()

    assert (caught.value.code, caught.value.permanent) == ("invalid_grant", True)


def test_a_broken_key_file_is_a_refusal_for_good_that_quotes_no_key(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text('{"type": "service_account", "private_key": "SECRET-PART"}')
    settings = OAuth2Settings(provider="google", flow="service_account",
                              service_account_file=str(path))  # fmt: skip
    grant = GoogleGrant(settings, subject="helpdesk@firma.pl")

    with pytest.raises(OAuth2Error) as caught:
        TokenSource(settings, state_dir=None, clock=Clock(), grant=grant).token()

    assert (caught.value.code, caught.value.permanent) == ("invalid_key_file", True)
    assert "SECRET-PART" not in str(caught.value)


def test_an_unreachable_token_endpoint_is_worth_retrying(tmp_path: Path) -> None:
    path, _ = key_file(tmp_path, f"http://127.0.0.1:{free_port()}/token")
    settings = OAuth2Settings(provider="google", flow="service_account",
                              service_account_file=str(path))  # fmt: skip
    grant = GoogleGrant(settings, subject="helpdesk@firma.pl")

    with pytest.raises(OAuth2Error, match="unreachable") as caught:
        TokenSource(settings, state_dir=None, clock=Clock(), grant=grant).token()

    assert caught.value.permanent is False


def test_without_google_auth_installed_the_refusal_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = OAuth2Settings(provider="google", flow="service_account",
                              service_account_file=str(tmp_path / "key.json"))  # fmt: skip
    monkeypatch.setitem(sys.modules, "google.oauth2.service_account", None)

    with pytest.raises(OAuth2Error, match=r"pip install 'mailbot\[oauth\]'") as caught:
        GoogleGrant(settings, subject="a@b.pl").acquire(now=Clock())

    assert caught.value.permanent is True


def test_the_daemons_token_source_acts_for_the_mailbox_the_settings_log_in_to(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    oauth2_server.google_users.add("pomoc@firma.pl")
    key = delegated(oauth2_server, tmp_path).service_account_file
    settings = oauth2_mailbox_settings(
        tmp_path, 'provider = "google"\n', {"MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE": key}
    )

    source = token_source(settings)

    assert source is not None
    assert oauth2_server.username_of(source.token()) == "pomoc@firma.pl"
