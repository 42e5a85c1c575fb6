"""The suite's servers take OAuth2 tokens: Dovecot (XOAUTH2, OAUTHBEARER through its oauth2
passdb asking the tests' OAuth2 server) and the SMTP sink (an aiosmtpd authenticator asking
the same server), while password logins go on as before. The OAuth2 tests of mailbot's own
adapters rely on them."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailbot.config import ImapSettings
from tests.conftest import Dovecot, OAuth2RecordingHandler, SmtpSink, new_account
from tests.oauth2_server import OAuth2Server


def imap(settings: ImapSettings) -> IMAPClient:
    return IMAPClient(settings.host, port=settings.port, ssl=False, timeout=10)


def test_dovecot_takes_a_live_token_for_its_user_over_xoauth2(
    dovecot: Dovecot, oauth2_server: OAuth2Server
) -> None:
    account = new_account(dovecot)
    client = imap(account)
    token = oauth2_server.issue_access_token(account.username)

    client.oauth2_login(account.username, token)

    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()


def test_dovecot_refuses_a_revoked_an_expired_and_another_users_token(
    dovecot: Dovecot, oauth2_server: OAuth2Server
) -> None:
    account, other = new_account(dovecot), new_account(dovecot)
    revoked = oauth2_server.issue_access_token(account.username)
    oauth2_server.revoke(revoked)
    expired = oauth2_server.issue_access_token(account.username)
    oauth2_server.expire(expired)
    others = oauth2_server.issue_access_token(other.username)

    for token in (revoked, expired, others, "at-never-issued"):
        client = imap(account)
        with pytest.raises(LoginError):
            client.oauth2_login(account.username, token)
        client.shutdown()


def test_password_logins_are_unchanged_beside_the_tokens(dovecot: Dovecot) -> None:
    account = new_account(dovecot)
    client = imap(account)
    client.login(account.username, account.password)
    client.logout()

    refused = imap(account)
    with pytest.raises(LoginError):
        refused.login(account.username, "wrong-password")
    refused.shutdown()


def send_with_token(sink: SmtpSink, user: str, token: str) -> None:
    async def send() -> None:
        client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, start_tls=False)
        await client.connect()
        try:
            await client.auth_xoauth2(user, token)
            await client.sendmail("support@firma.pl", ["k@acme.pl"], b"Subject: hi\r\n\r\nhi\r\n")
        finally:
            client.close()

    asyncio.run(send())


def test_the_smtp_sink_takes_mail_after_an_xoauth2_login_with_a_live_token(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server
) -> None:
    token = oauth2_server.issue_access_token("support@firma.pl")

    send_with_token(oauth2_smtp_sink, "support@firma.pl", token)

    assert len(oauth2_smtp_sink.wait_for(1)) == 1
    assert oauth2_smtp_handler(oauth2_smtp_sink).logins == [("support@firma.pl", True)]


def test_the_smtp_sink_refuses_an_expired_token_and_mail_without_a_login(
    oauth2_smtp_sink: SmtpSink, oauth2_server: OAuth2Server
) -> None:
    token = oauth2_server.issue_access_token("support@firma.pl")
    oauth2_server.expire(token)

    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
        send_with_token(oauth2_smtp_sink, "support@firma.pl", token)
    with pytest.raises(aiosmtplib.SMTPSenderRefused):
        asyncio.run(
            aiosmtplib.send(
                b"Subject: hi\r\n\r\nhi\r\n",
                sender="support@firma.pl",
                recipients=["k@acme.pl"],
                hostname=oauth2_smtp_sink.host,
                port=oauth2_smtp_sink.port,
                start_tls=False,
            )
        )

    assert refused.value.code == 535
    assert oauth2_smtp_sink.messages == []


def oauth2_smtp_handler(sink: SmtpSink) -> OAuth2RecordingHandler:
    assert isinstance(sink.handler, OAuth2RecordingHandler)
    return sink.handler
