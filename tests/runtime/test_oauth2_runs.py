"""The daemon with OAuth2 logins against the suite's real servers: mail read over IMAP and
acknowledged over SMTP, both with XOAUTH2 tokens of the tests' OAuth2 server; a token that
expired between two cycles is replaced, and no mail is lost or sent twice."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from mailbot.adapters import db as repo
from mailbot.adapters.oauth2 import CACHE_NAME
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings, OAuth2Settings, SmtpSettings
from mailbot.runtime.daemon import Daemon
from mailbot.usecases.desk import Desk
from tests import factories
from tests.conftest import Dovecot, ImapPeer, OAuth2RecordingHandler, SmtpSink, new_account
from tests.factories import customer_mail, run_once
from tests.oauth2_server import OAuth2Server
from tests.runtime.test_idle import HOUR, append_and_time, running, settled, until


def new_client(server: OAuth2Server, mailbox: str) -> tuple[str, str]:
    client_id, secret = f"c-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.add_client(client_id, secret, username=mailbox)
    return client_id, secret


def smtp_logins(sink: SmtpSink) -> list[bool]:
    assert isinstance(sink.handler, OAuth2RecordingHandler)
    return [accepted for _user, accepted in sink.handler.logins]


def oauth2_desk(
    account: ImapSettings,
    sink: SmtpSink,
    server: OAuth2Server,
    database_url: str,
    state: Path,
    **imap: object,
) -> Desk:
    """A desk whose IMAP and SMTP logins use tokens of one client of ``server`` for the
    account's mailbox; ``imap`` changes its ImapSettings."""
    client_id, secret = new_client(server, account.username)
    base = factories.make_settings(account, sink, database_url, state)
    smtp: SmtpSettings = replace(base.smtp, username=account.username, auth="oauth2")
    settings = replace(
        base,
        imap=replace(account, auth="oauth2", password="", **imap),
        smtp=smtp,
        oauth2=OAuth2Settings(
            client_id=client_id, client_secret=secret, token_url=server.token_url
        ),
    )
    desk = build_desk(settings, clock=lambda: factories.NOW)
    with Session(desk.engine) as session:
        repo.import_contracts([factories.VIP, factories.WARRANTY], session=session)
        session.commit()
    return desk


def write_config(
    directory: Path, imap: ImapSettings, smtp: SmtpSink, server: OAuth2Server, database: str
) -> Path:
    """The mailbox's one OAuth2 client logs in to both servers, as with Microsoft 365."""
    client_id, secret = new_client(server, imap.username)
    config = directory / "config.toml"
    config.write_text(f"""
[general]
state_dir = "state"

[imap]
host = "{imap.host}"
port = {imap.port}
username = "{imap.username}"
auth = "oauth2"
tls = "none"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
username = "{imap.username}"
auth = "oauth2"
tls = "none"

[oauth2]
provider = "generic"
flow = "client_credentials"
client_id = "{client_id}"
scope = "mail"
token_url = "{server.token_url}"

[database]
url = "{database}"

[support]
address = "support@desk.example.pl"
""")
    (directory / ".env").write_text(f"MAILBOT_OAUTH2__CLIENT_SECRET={secret}\n")
    return config


def mailbot(config: Path, *command: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *command],
        capture_output=True, text=True, env=clean, timeout=120, check=False,
    )  # fmt: skip


def run_once_process(config: Path) -> subprocess.CompletedProcess[str]:
    return mailbot(config, "run", "--once")


def test_check_config_logs_in_to_both_servers_with_oauth2(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
) -> None:
    account = new_account(dovecot)
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, account, oauth2_smtp_sink, oauth2_server, database)

    done = mailbot(config, "check-config")

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"(?m)^imap: OK: .* logged in with OAuth2 \(XOAUTH2\), folders", done.stdout)
    assert re.search(r"(?m)^smtp: OK: .* with OAuth2 \(XOAUTH2\)\)$", done.stdout)
    assert smtp_logins(oauth2_smtp_sink) == [True]


def test_check_config_names_the_token_endpoints_refusal(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
) -> None:
    account = new_account(dovecot)
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, account, oauth2_smtp_sink, oauth2_server, database)
    (tmp_path / ".env").write_text("MAILBOT_OAUTH2__CLIENT_SECRET=wrong-secret\n")

    done = mailbot(config, "check-config")

    assert done.returncode == 1
    for name in ("imap", "smtp"):
        assert re.search(
            rf"(?m)^{name}: FAILED: .*no OAuth2 token to log in with: .*invalid_client:"
            r" Client authentication failed\. \(HTTP 401\)$",
            done.stdout,
        ), done.stdout
    assert "wrong-secret" not in done.stdout + done.stderr


def test_run_once_reads_and_acknowledges_with_oauth2_and_renews_an_expired_token(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    account = new_account(dovecot)
    peer = ImapPeer(account)
    config = write_config(tmp_path, account, oauth2_smtp_sink, oauth2_server, database_url)
    peer.append(customer_mail("jan@acme.pl", "Serwer nie działa"))
    before = oauth2_server.requests["client_credentials"]

    first = run_once_process(config)
    oauth2_server.expire()  # between the runs: the cached token dies, still looks live
    peer.append(customer_mail("ola@acme.pl", "Drukarka"))
    second = run_once_process(config)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    acks = oauth2_smtp_sink.wait_for(2)
    assert sorted(m.rcpt_tos for m in acks) == [("jan@acme.pl",), ("ola@acme.pl",)]
    assert smtp_logins(oauth2_smtp_sink) == [True, True]  # the second run's token was fresh
    assert oauth2_server.requests["client_credentials"] - before == 2
    assert peer.messages("INBOX") == [] and len(peer.messages("Processed")) == 2
    cache = tmp_path / "state" / CACHE_NAME
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    secret = (tmp_path / ".env").read_text().strip().partition("=")[2]
    for token in [*oauth2_server.issued(), secret]:
        assert token not in first.stderr + second.stderr
    peer.close()


def test_a_token_expired_between_two_daemon_cycles_is_replaced_and_nothing_is_lost(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    account = new_account(dovecot)
    peer = ImapPeer(account)
    desk = oauth2_desk(account, oauth2_smtp_sink, oauth2_server, database_url, tmp_path)
    tokens = desk.oauth2_tokens
    assert tokens is not None
    try:
        peer.append(customer_mail("jan@acme.pl", "Serwer nie działa"))
        run_once(desk)
        oauth2_server.expire()
        peer.append(customer_mail("ola@acme.pl", "Drukarka"))
        run_once(desk)
        run_once(desk)  # a third cycle finds nothing new and sends nothing again
    finally:
        desk.engine.dispose()

    customers = oauth2_smtp_sink.not_to(*factories.STAFF)
    assert sorted(m.rcpt_tos for m in customers) == [("jan@acme.pl",), ("ola@acme.pl",)]
    sent = oauth2_smtp_sink.messages  # staff's notices of the VIP ticket too, each once
    ids = [re.search(rb"^Message-ID: (\S+)", m.content, re.M | re.I) for m in sent]
    assert all(ids) and len({found.group(1) for found in ids if found}) == len(sent)
    assert tokens.requests == 2  # the first token, then one after the IMAP server refused it
    assert smtp_logins(oauth2_smtp_sink) and all(smtp_logins(oauth2_smtp_sink))
    assert len(peer.messages("Processed")) == 2
    assert json.loads((tmp_path / CACHE_NAME).read_text())["access_token"] in (
        oauth2_server.issued()
    )
    peer.close()


def test_the_idle_connection_logs_in_again_with_a_fresh_token_after_it_expired(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    account = new_account(dovecot)
    # An hour between polls: after the reconnection only IDLE can find the mail.
    desk = oauth2_desk(
        account, oauth2_smtp_sink, oauth2_server, database_url, tmp_path,
        poll_interval=HOUR, max_backoff=timedelta(seconds=1),
    )  # fmt: skip
    tokens = desk.oauth2_tokens
    assert tokens is not None
    daemon = Daemon(desk)
    peer = ImapPeer(account)

    async def scenario() -> None:
        async with running(daemon):
            watcher = await settled(daemon)
            await append_and_time(peer, oauth2_smtp_sink, "Przed")
            oauth2_server.expire()  # every token dies; the IDLE connection is cut
            await asyncio.to_thread(dovecot.doveadm, "kick", account.username)
            await until(lambda: watcher.connections >= 2, "the watcher logged in again")
            again = await asyncio.to_thread(ImapPeer, account)  # the kick cut ours too
            try:
                await append_and_time(again, oauth2_smtp_sink, "Po")
            finally:
                again.close()

    try:
        asyncio.run(scenario())
    finally:
        desk.engine.dispose()
        peer.close()

    acks = oauth2_smtp_sink.of_kind("ack")
    assert sorted(m.rcpt_tos for m in acks) == [("nowy@firma.pl",), ("nowy@firma.pl",)]
    assert tokens.requests == 2  # one renewal, however many connections were refused
    assert smtp_logins(oauth2_smtp_sink) and all(smtp_logins(oauth2_smtp_sink))
