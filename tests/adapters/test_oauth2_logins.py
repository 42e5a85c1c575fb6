"""IMAP and SMTP logins with OAuth2 (XOAUTH2) against the suite's real servers: Dovecot and
an aiosmtpd sink that check each token at the tests' OAuth2 server. A token the server
refuses is replaced and the login tried once more; no token at all is a MailboxError
or a DeliveryError worth retrying, in the token endpoint's own words."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailbot.adapters.imap import ImapSource
from mailbot.adapters.oauth2 import TokenSource
from mailbot.adapters.smtp import SmtpSender, check
from mailbot.config import ImapSettings, OAuth2Settings, SmtpSettings
from mailbot.errors import DeliveryError, MailboxError
from tests.conftest import (
    Dovecot,
    ImapPeer,
    OAuth2RecordingHandler,
    SmtpSink,
    new_account,
    private_dovecot,
)
from tests.factories import Clock
from tests.oauth2_server import OAuth2Server

MAIL = b"From: k@acme.pl\r\nTo: support@firma.pl\r\nSubject: hi\r\n\r\nhi\r\n"


def tokens_for(server: OAuth2Server, username: str, state: Path) -> TokenSource:
    client_id, secret = f"c-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.add_client(client_id, secret, username=username)
    settings = OAuth2Settings(client_id=client_id, client_secret=secret, token_url=server.token_url)
    return TokenSource(settings, state_dir=state, clock=Clock())


def oauth2_account(dovecot: Dovecot) -> tuple[ImapSettings, ImapPeer]:
    """A new Dovecot user, settings to log in with OAuth2 (no password), and a peer."""
    account = new_account(dovecot)
    return replace(account, auth="oauth2", password=""), ImapPeer(account)


# --- IMAP ------------------------------------------------------------------------------------


def test_the_imap_source_logs_in_with_a_token_and_reads_the_inbox(
    dovecot: Dovecot, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings, peer = oauth2_account(dovecot)
    uid = peer.append(MAIL)
    source = ImapSource(settings, tokens=tokens_for(oauth2_server, settings.username, tmp_path))

    source.open()
    try:
        assert source.list_new(0) == [str(uid)]
        assert [mail.raw for mail in source.fetch([str(uid)])] == [MAIL]
    finally:
        source.close()
        peer.close()


def test_a_server_offering_only_oauthbearer_gets_an_oauthbearer_login(
    oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    url = oauth2_server.introspection_url
    with private_dovecot(introspection_url=url, token_mechanisms="oauthbearer") as dovecot:
        settings, peer = oauth2_account(dovecot)
        peer.close()
        tokens = tokens_for(oauth2_server, settings.username, tmp_path)
        greeted = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
        offered = greeted.capabilities()  # before login: the AUTH= mechanisms
        greeted.shutdown()
        assert b"AUTH=OAUTHBEARER" in offered and b"AUTH=XOAUTH2" not in offered

        source = ImapSource(settings, tokens=tokens)
        source.open()
        source.close()

    assert tokens.requests == 1


def test_a_token_refused_by_the_imap_server_is_replaced_and_the_login_tried_once_more(
    dovecot: Dovecot, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings, peer = oauth2_account(dovecot)
    peer.close()
    tokens = tokens_for(oauth2_server, settings.username, tmp_path)
    oauth2_server.revoke(tokens.token())  # dies early, the cached token still looks live

    source = ImapSource(settings, tokens=tokens)
    source.open()
    source.close()

    assert tokens.requests == 2


def test_a_token_for_another_mailbox_fails_after_one_retry(
    dovecot: Dovecot, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings, peer = oauth2_account(dovecot)
    peer.close()
    tokens = tokens_for(oauth2_server, "somebody-else", tmp_path)

    with pytest.raises(MailboxError, match=rf"login as '{settings.username}' failed"):
        ImapSource(settings, tokens=tokens).open()

    assert tokens.requests == 2


def test_no_token_from_the_endpoint_is_a_mailbox_error_in_its_words(
    dovecot: Dovecot, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings, peer = oauth2_account(dovecot)
    peer.close()
    refresh = oauth2_server.issue_refresh_token("app", settings.username)
    oauth2_server.revoke(refresh)
    tokens = TokenSource(
        OAuth2Settings(
            flow="refresh_token",
            client_id="app",
            token_url=oauth2_server.token_url,
            refresh_token=refresh,
        ),
        state_dir=tmp_path,
    )

    with pytest.raises(MailboxError) as caught:
        ImapSource(settings, tokens=tokens).open()

    assert "no OAuth2 token to log in with" in str(caught.value)
    assert "invalid_grant: The refresh token is invalid, expired or revoked." in str(caught.value)
    assert refresh not in str(caught.value)


# --- SMTP ------------------------------------------------------------------------------------


def smtp_settings(sink: SmtpSink, username: str = "support@firma.pl") -> SmtpSettings:
    return SmtpSettings(
        sink.host, sink.port, username, "", "none", False, "support@firma.pl",
        timedelta(seconds=10), "", auth="oauth2",
    )  # fmt: skip


def logins(sink: SmtpSink) -> list[tuple[str, bool]]:
    assert isinstance(sink.handler, OAuth2RecordingHandler)
    return sink.handler.logins


def send(sender: SmtpSender, name: str) -> None:
    async def go() -> None:
        await sender.send(
            mail_from="support@firma.pl", recipients=["k@acme.pl"], raw=MAIL, name=name
        )

    asyncio.run(go())


def test_the_smtp_sender_logs_in_with_xoauth2_and_sends(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    tokens = tokens_for(oauth2_server, "support@firma.pl", tmp_path)
    sender = SmtpSender(smtp_settings(oauth2_smtp_sink), tokens=tokens)

    send(sender, "m1")

    assert len(oauth2_smtp_sink.wait_for(1)) == 1
    assert logins(oauth2_smtp_sink) == [("support@firma.pl", True)]


def test_a_new_smtp_connection_after_the_token_expired_logs_in_again_with_a_fresh_one(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    tokens = tokens_for(oauth2_server, "support@firma.pl", tmp_path)
    sender = SmtpSender(smtp_settings(oauth2_smtp_sink), tokens=tokens)
    send(sender, "m1")  # the pool's connection closes with the event loop
    oauth2_server.expire()  # the server expires every token; ours looks live still

    send(sender, "m2")

    assert len(oauth2_smtp_sink.wait_for(2)) == 2
    user = "support@firma.pl"
    assert logins(oauth2_smtp_sink) == [(user, True), (user, False), (user, True)]
    assert tokens.requests == 2


def test_a_token_refused_twice_keeps_the_mail_for_a_retry(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    tokens = tokens_for(oauth2_server, "somebody-else@firma.pl", tmp_path)
    sender = SmtpSender(smtp_settings(oauth2_smtp_sink), tokens=tokens)

    with pytest.raises(DeliveryError) as caught:
        send(sender, "m1")

    assert caught.value.permanent is False
    assert "check the [smtp] settings" in str(caught.value)
    assert [ok for _user, ok in logins(oauth2_smtp_sink)] == [False, False]
    assert oauth2_smtp_sink.messages == []


def test_no_token_from_the_endpoint_keeps_the_mail_for_a_retry(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    settings = OAuth2Settings(
        client_id="nobody", client_secret="wrong", token_url=oauth2_server.token_url
    )
    sender = SmtpSender(
        smtp_settings(oauth2_smtp_sink), tokens=TokenSource(settings, state_dir=tmp_path)
    )

    with pytest.raises(DeliveryError) as caught:
        send(sender, "m1")

    assert caught.value.permanent is False
    assert "no OAuth2 token to log in with" in str(caught.value)
    assert "invalid_client" in str(caught.value)
    assert logins(oauth2_smtp_sink) == []


def test_the_smtp_check_logs_in_with_oauth2_and_says_so(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server, tmp_path: Path
) -> None:
    tokens = tokens_for(oauth2_server, "support@firma.pl", tmp_path)

    said = asyncio.run(check(smtp_settings(oauth2_smtp_sink), tokens=tokens))

    assert said.endswith("(none, logged in as support@firma.pl with OAuth2 (XOAUTH2))")
    assert logins(oauth2_smtp_sink) == [("support@firma.pl", True)]
