"""A refresh token revoked while the daemon runs (issue 16, item 3), against the suite's
Dovecot and SMTP sink, both checking tokens of the tests' OAuth2 server: one ERROR with
the provider's words, one mail to staff (waiting in the outbox, since SMTP logs in with
the same dead grant), ``mailbot status`` CRITICAL naming the cause and the fix; a second
failed cycle adds neither; a desk reloaded (SIGHUP) or restarted with a new refresh token
or secret is OK again and the mail flows, staff's notice included. No secret or token in
any log line or mail."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import sys
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import OutboxRow
from mailbot.adapters.oauth2 import LOGIN_NAME
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings, OAuth2Settings, SmtpSettings
from mailbot.runtime.daemon import Daemon
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import Level, judge, take_snapshot
from mailbot.usecases.oauth2_login import login
from tests import factories
from tests.conftest import Dovecot, ImapPeer, SmtpSink, new_account
from tests.factories import customer_mail
from tests.oauth2_server import OAuth2Server
from tests.runtime.test_backoff import FakeClock
from tests.runtime.test_oauth2_runs import mailbot, run_once_process, write_config

KIND = "staff_oauth2_refused"


class DeskClock:
    """The desk's clock: NOW until the test moves it."""

    def __init__(self) -> None:
        self.now = factories.NOW

    def __call__(self) -> datetime:
        return self.now


def refresh_token_desk(
    account: ImapSettings,
    sink: SmtpSink,
    server: OAuth2Server,
    database_url: str,
    state: Path,
    *,
    refresh_token: str,
    client_id: str,
    clock: DeskClock,
    smtp_oauth2: bool = True,
) -> Desk:
    """IMAP (and SMTP, with ``smtp_oauth2``) log in with tokens of the user's consent
    (``refresh_token``)."""
    base = factories.make_settings(account, sink, database_url, state)
    smtp: SmtpSettings = base.smtp
    if smtp_oauth2:
        smtp = replace(base.smtp, username=account.username, auth="oauth2")
    settings = replace(
        base,
        imap=replace(account, auth="oauth2", password=""),
        smtp=smtp,
        oauth2=OAuth2Settings(
            flow="refresh_token", client_id=client_id, token_url=server.token_url,
            refresh_token=refresh_token,
        ),
    )  # fmt: skip
    return build_desk(settings, clock=clock)


def outbox_kinds(desk: Desk) -> list[tuple[str, str]]:
    with Session(desk.engine) as session:
        return [(row.kind, row.status) for row in session.exec(select(OutboxRow)).all()]


def verdict(desk: Desk) -> tuple[Level, tuple[str, ...]]:
    snapshot = take_snapshot(desk.engine, now=desk.clock(), tz=desk.tz)
    found = judge(snapshot, desk.settings.health)
    return found.level, found.problems


def test_a_revoked_refresh_token_is_reported_once_and_a_new_one_on_reload_ends_it(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mailbot")
    account = new_account(dovecot)
    client_id = f"c-{uuid.uuid4().hex[:8]}"
    granted = oauth2_server.issue_refresh_token(client_id, account.username)
    clock, monotonic = DeskClock(), FakeClock()
    desk = refresh_token_desk(
        account, oauth2_smtp_sink, oauth2_server, database_url, tmp_path,
        refresh_token=granted, client_id=client_id, clock=clock,
    )  # fmt: skip
    with Session(desk.engine) as session:
        repo.import_contracts([factories.VIP, factories.WARRANTY], session=session)
        session.commit()
    fresh: list[str] = []  # the new refresh token, once the admin has it

    def reload() -> Desk:  # what SIGHUP reads: the settings with the new refresh token
        return refresh_token_desk(
            account, oauth2_smtp_sink, oauth2_server, database_url, tmp_path,
            refresh_token=fresh[0], client_id=client_id, clock=clock,
        )  # fmt: skip

    daemon = Daemon(desk, monotonic=monotonic, random_fraction=lambda: 0.5, reload=reload)
    cycle = lambda: asyncio.run(daemon.cycle())  # noqa: E731 - a short name for the steps
    peer = ImapPeer(account)
    try:
        peer.append(customer_mail("ola@acme.pl", "Przed"))
        assert cycle()
        assert verdict(desk)[0] is Level.OK
        assert [m.rcpt_tos for m in oauth2_smtp_sink.of_kind("ack")] == [("ola@acme.pl",)]

        # The user withdraws consent; the access token dies with it (as at Microsoft).
        oauth2_server.revoke(granted)
        oauth2_server.expire()
        peer.append(customer_mail("ola@acme.pl", "W trakcie"))
        before = oauth2_server.requests["refresh_token"]
        assert not cycle()

        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [r.getMessage() for r in errors] == [
            "OAuth2 token refresh refused: invalid_grant: The refresh token is invalid, expired"
            " or revoked. (HTTP 400); the refresh token is revoked or expired: give mailbot a"
            " new one (MAILBOT_OAUTH2__REFRESH_TOKEN or the systemd credential"
            " oauth2_refresh_token) and restart it (or send SIGHUP)"
        ]
        level, problems = verdict(desk)
        assert level is Level.CRITICAL
        assert problems[0].startswith("OAuth2 token refresh refused: invalid_grant: ")
        assert "MAILBOT_OAUTH2__REFRESH_TOKEN" in problems[0]
        # Staff are told; SMTP is the broken one too, so the notice waits in the outbox.
        assert outbox_kinds(desk).count((KIND, "queued")) == 1
        assert oauth2_smtp_sink.of_kind(KIND) == []

        # Later cycles, past the backoff and the outbox's retry delay: no second word.
        for _ in range(2):
            monotonic.now += 3600
            clock.now += timedelta(hours=1)
            assert not cycle()
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == errors
        assert [kind for kind, _ in outbox_kinds(desk)].count(KIND) == 1
        assert len(peer.messages("INBOX")) == 1
        # The endpoint was asked once: the IMAP login, the staff mail's SMTP login and the
        # later cycles came within the token source's own backoff (15 s at least).
        assert oauth2_server.requests["refresh_token"] - before == 1

        # The admin gives a new refresh token and sends SIGHUP.
        fresh.append(oauth2_server.issue_refresh_token(client_id, account.username))
        clock.now += timedelta(hours=1)
        monotonic.now += 3600
        assert asyncio.run(daemon.reload())
        assert cycle()
        assert verdict(daemon.desk) == (Level.OK, ())
    finally:
        daemon.parser.close()
        daemon.desk.engine.dispose()
        peer.close()

    assert peer_inbox_empty(account)
    acks = oauth2_smtp_sink.of_kind("ack")
    assert [m.rcpt_tos for m in acks] == [("ola@acme.pl",), ("ola@acme.pl",)]
    [told] = oauth2_smtp_sink.of_kind(KIND)
    assert told.rcpt_tos == factories.STAFF
    message = email.message_from_bytes(told.content, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    assert str(message["Subject"]).startswith(
        "[mailbot] Logowanie OAuth2 odrzucone (invalid_grant)"
    )
    body = message.get_content()
    assert "invalid_grant: The refresh token is invalid" in body
    assert "MAILBOT_OAUTH2__REFRESH_TOKEN" in body
    assert any("refusal is over" in r.getMessage() for r in caplog.records)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == errors
    logged = "\n".join(r.getMessage() for r in caplog.records)
    mailed = "\n".join(readable(m.content) for m in oauth2_smtp_sink.messages)
    for secret in [granted, *fresh, *oauth2_server.issued()]:
        assert secret not in logged and secret not in mailed


def readable(raw: bytes) -> str:
    """The mail as sent and its decoded subject and text."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    part = message.get_body(("plain",))
    text = part.get_content() if isinstance(part, email.message.EmailMessage) else ""
    return f"{raw.decode('ascii', 'replace')}\n{message['Subject']}\n{text}"


def peer_inbox_empty(account: ImapSettings) -> bool:
    peer = ImapPeer(account)
    try:
        return peer.messages("INBOX") == []
    finally:
        peer.close()


def test_staff_hear_at_once_when_smtp_needs_no_token(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    """Only IMAP logs in with OAuth2: the outbox goes on while the mailbox cannot be read,
    and the notice leaves in the failing cycle itself."""
    account = new_account(dovecot)
    client_id = f"c-{uuid.uuid4().hex[:8]}"
    granted = oauth2_server.issue_refresh_token(client_id, account.username)
    oauth2_server.revoke(granted)
    desk = refresh_token_desk(
        account, smtp_sink, oauth2_server, database_url, tmp_path,
        refresh_token=granted, client_id=client_id, clock=DeskClock(), smtp_oauth2=False,
    )  # fmt: skip
    daemon = Daemon(desk, monotonic=FakeClock(), random_fraction=lambda: 0.5)
    try:
        assert not asyncio.run(daemon.cycle())
        assert not asyncio.run(daemon.cycle())  # within the backoff: the sweep and the outbox
    finally:
        daemon.parser.close()
        desk.engine.dispose()

    [told] = smtp_sink.of_kind(KIND)
    assert told.rcpt_tos == factories.STAFF
    text = readable(told.content)
    assert "IMAP 127.0.0.1" in text and "SMTP 127.0.0.1" not in text
    assert "invalid_grant" in text and granted not in text


def test_a_rotated_client_secret_through_the_command_line_one_error_status_critical_then_ok(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    """The processes as an admin runs them: the provider rotated the app's secret; every
    `run --once` is a restart, and the refusal is still reported once."""
    account = new_account(dovecot)
    config = write_config(tmp_path, account, oauth2_smtp_sink, oauth2_server, database_url)
    old_secret = (tmp_path / ".env").read_text().strip().partition("=")[2]
    client_id = next(c for c, (s, _) in oauth2_server.clients.items() if s == old_secret)
    peer = ImapPeer(account)
    try:
        peer.append(customer_mail("ola@acme.pl", "Przed"))
        first = run_once_process(config)
        assert first.returncode == 0, first.stderr
        new_secret = uuid.uuid4().hex
        oauth2_server.add_client(client_id, new_secret, username=account.username)
        oauth2_server.expire()
        peer.append(customer_mail("ola@acme.pl", "W trakcie"))
        refused = [run_once_process(config) for _ in range(2)]
        status = mailbot(config, "status")
        (tmp_path / ".env").write_text(f"MAILBOT_OAUTH2__CLIENT_SECRET={new_secret}\n")
        fixed = run_once_process(config)
        after = mailbot(config, "status")
        inbox = peer.messages("INBOX")
    finally:
        peer.close()

    assert [run.returncode for run in refused] == [1, 1]
    errors = [line for run in refused for line in run.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors  # the second run (a restart) says no more
    assert "invalid_client: Client authentication failed. (HTTP 401)" in errors[0]
    assert (
        "fix [oauth2] client_id or the client secret (MAILBOT_OAUTH2__CLIENT_SECRET" in (errors[0])
    )
    assert status.returncode == 2, status.stdout + status.stderr
    assert status.stdout.startswith(
        "CRITICAL: OAuth2 token refresh refused: invalid_client: Client authentication failed."
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "the refusal is over" in fixed.stderr
    assert after.returncode == 0, after.stdout
    assert inbox == []
    logs = "".join(run.stdout + run.stderr for run in [first, *refused, status, fixed, after])
    for secret in [old_secret, new_secret, *oauth2_server.issued()]:
        assert secret not in logs


def test_a_revoked_stored_login_recovers_after_mailbot_oauth_login_without_a_reload(
    tmp_path: Path,
    dovecot: Dovecot,
    oauth2_server: OAuth2Server,
    oauth2_smtp_sink: SmtpSink,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The refresh token is the one mailbot oauth login stored: its revocation is reported
    with that fix; a new login (the generic device grant, approved at once) is used by the
    next attempt of the running daemon, within the token source's backoff, no SIGHUP."""
    caplog.set_level(logging.INFO, logger="mailbot")
    account = new_account(dovecot)
    client_id = f"c-{uuid.uuid4().hex[:8]}"
    clock, monotonic = DeskClock(), FakeClock()
    desk = refresh_token_desk(
        account, oauth2_smtp_sink, oauth2_server, database_url, tmp_path,
        refresh_token="", client_id=client_id, clock=clock,
    )  # fmt: skip
    settings = replace(desk.settings, oauth2=replace(
        desk.settings.oauth2, device_authorization_url=f"{oauth2_server.url}/device"))  # fmt: skip
    oauth2_server.approving_user = account.username

    def sign_in() -> None:  # mailbot oauth login, as the admin runs it beside the daemon
        login(settings, say=lambda _: None, pasted=sys.stdin, clock=clock, sleep=pytest.fail)

    sign_in()
    daemon = Daemon(desk, monotonic=monotonic, random_fraction=lambda: 0.5)
    cycle = lambda: asyncio.run(daemon.cycle())  # noqa: E731 - a short name for the steps
    peer = ImapPeer(account)
    try:
        peer.append(customer_mail("ola@acme.pl", "Przed"))
        assert cycle()
        stored = json.loads((tmp_path / LOGIN_NAME).read_text())["refresh_token"]
        oauth2_server.revoke(stored)  # consent withdrawn: the access token dies with it
        oauth2_server.expire()
        peer.append(customer_mail("ola@acme.pl", "W trakcie"))
        assert not cycle()
        level, problems = verdict(desk)
        assert level is Level.CRITICAL and "sign in again with mailbot oauth login" in problems[0]

        sign_in()
        monotonic.now += 3600  # the daemon's own mailbox backoff; the token source's is not over
        clock.now += timedelta(hours=1)
        assert cycle()
        assert verdict(desk) == (Level.OK, ())
    finally:
        daemon.parser.close()
        desk.engine.dispose()
        peer.close()

    assert [m.rcpt_tos for m in oauth2_smtp_sink.of_kind("ack")] == [("ola@acme.pl",)] * 2
    assert len(oauth2_smtp_sink.of_kind(KIND)) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "OAuth2 token obtained again: the refusal is over" in logged
    assert stored not in logged
