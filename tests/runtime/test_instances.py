"""Several instances on one database and one mailbox: every mail once, every mail sent once.

- The intake lease (``mailbot.adapters.db.lease``): one holder at a time, free again
  after release and after its holder is killed, on SQLite and PostgreSQL.
- The database's safety net: two desks handling the same mail at the same moment
  store it once, and the loser takes it as handled (not quarantined); two desks
  sweeping reminders and flushing the outbox at the same moment send each mail once.
- Two ``mailbot run`` daemons on the same database and Dovecot mailbox ingest 500
  mails together: one ticket per mail, one acknowledgement per ticket at the SMTP
  server; and with one of them SIGKILLed mid-run (200 mails), the other finishes the work.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, create_engine, func, select

from mailbot.adapters.db import AlertRow, LedgerRow, OutboxRow, TicketRow, make_engine
from mailbot.adapters.db.lease import intake_lease, lease_key
from mailbot.adapters.mailbox import FetchedMail
from mailbot.adapters.smtp import make_sender
from mailbot.bootstrap import build_desk, make_source
from mailbot.config import ImapSettings, SmtpSettings
from mailbot.runtime.daemon import Daemon
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import MailKey, handle_mail
from mailbot.usecases.outbox import STALE_CLAIM, flush_outbox
from mailbot.usecases.reminders import sweep
from tests import factories
from tests.cli.test_cli import write_config
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import customer_mail
from tests.runtime.test_idle import running, until

MAILS = 500
# The kill test takes fewer: the instances ingest one at a time (that is the lease), at about
# 10-20 mails a second, and 200 are plenty for a kill mid-run and a take-over.
KILL_MAILS = 200
WAIT = 60.0  # seconds: a deadline for conditions, reached only when something is wrong
T = TypeVar("T")


def _until(condition: Callable[[], T], *, what: str, alive: Callable[[], str] = str) -> T:
    """Poll ``condition`` until it is true and return its value; ``alive()`` says what died."""
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        if dead := alive():
            raise AssertionError(dead)
        if time.monotonic() > deadline:
            raise TimeoutError(f"not after {WAIT} s: {what}\n{alive()}")
        time.sleep(0.05)
    return value


# --- the lease ---------------------------------------------------------------------------


def test_lease_key_is_stable_across_processes_and_fits_a_bigint() -> None:
    name = "imap://support@mail:993/INBOX"
    # Python's hash() of a str differs from process to process: another process must agree.
    code = f"from mailbot.adapters.db.lease import lease_key; print(lease_key({name!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    key = lease_key(name)
    assert int(other.stdout) == key
    assert 0 <= key < 2**63  # a PostgreSQL bigint
    assert lease_key("imap://support@mail:993/Other") != key


def test_only_one_holder_and_free_again_after_release(database_url: str) -> None:
    # Two engines, as two processes have: on PostgreSQL, two server sessions.
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        with intake_lease(first, "box") as held:
            assert held
            with intake_lease(second, "box") as also:
                assert not also
            with intake_lease(first, "box") as again:  # a lease is not re-entrant
                assert not again
            with intake_lease(second, "another box") as other:
                # PostgreSQL: a lease per mailbox; SQLite: one for the database (it has one writer).
                assert other == (first.dialect.name == "postgresql")
        with intake_lease(second, "box") as held:
            assert held
        with intake_lease(first, "box") as held:  # and the second gave it back
            assert held
    finally:
        first.dispose()
        second.dispose()


def test_in_memory_sqlite_always_gets_the_lease() -> None:
    engine = sa.create_engine("sqlite://")
    with intake_lease(engine, "box") as held, intake_lease(engine, "box") as also:
        assert held and also


HOLDER = """
import sys, time
from sqlalchemy import create_engine
from mailbot.adapters.db.lease import intake_lease
with intake_lease(create_engine(sys.argv[1]), "box") as held:
    print("held" if held else "refused", flush=True)
    time.sleep(600)  # until killed
"""


def test_lease_is_free_once_its_holder_is_killed(database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    engine = make_engine(database_url)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with intake_lease(engine, "box") as held:
            assert not held
        holder.send_signal(signal.SIGKILL)
        holder.wait()

        def free() -> bool:
            # PostgreSQL drops the lock when its backend sees the client's socket close.
            with intake_lease(engine, "box") as held:
                return held

        _until(free, what="the lease of a killed holder is free")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        engine.dispose()


# --- the instance without the lease ---------------------------------------------------------


def test_an_instance_without_the_lease_sends_the_readers_mail_soon(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    """Another instance reads the mailbox (here: the test holds its lease) and queues an
    acknowledgement: with an hour between polls, this one sends it within seconds."""
    hour = replace(desk.settings.imap, poll_interval=timedelta(hours=1), idle=False)
    quiet = replace(desk, settings=replace(desk.settings, imap=hour))
    daemon = Daemon(quiet)
    mailbox = make_source(quiet.settings).name

    async def scenario() -> None:
        async with running(daemon):
            await until(lambda: daemon.polls >= 1, "the first poll, skipped")
            key = MailKey(mailbox, 7, "1")
            raw = customer_mail("klient@firma.pl", "Awaria drukarki")
            await asyncio.to_thread(handle_mail, quiet, key, FetchedMail("1", raw))
            await until(lambda: smtp_sink.of_kind("ack"), "the acknowledgement")

    with intake_lease(quiet.engine, mailbox) as held:
        assert held
        asyncio.run(scenario())
    assert daemon.polls >= 2  # polls skipped for the lease, not one an hour
    assert len(smtp_sink.of_kind("ack")) == 1


# --- the safety net in the database ------------------------------------------------------


@contextmanager
def _other_desk(desk: Desk, **changes: Any) -> Iterator[Desk]:
    """Another instance of ``desk``: the same settings, an engine (a connection pool) of its own."""
    other = build_desk(desk.settings, clock=desk.clock)
    try:
        yield replace(other, **changes)
    finally:
        other.engine.dispose()


def _at_once(*calls: Callable[[], T]) -> list[T]:
    """Run ``calls`` in threads released together; their results, or the first error raised."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = calls[n]()
        except BaseException as exc:  # handed to the test's thread
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


RACES = 20


def test_one_mail_handled_by_two_desks_at_once_is_stored_once(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="mailbot.ingest")
    with _other_desk(desk) as other:
        for n in range(RACES):
            key = MailKey("imap://support@race/INBOX", 7, str(n + 1))
            raw = customer_mail(f"klient{n}@firma{n}.pl", f"Awaria nr {n}")
            fetched = FetchedMail(key.uid, raw, factories.NOW)
            mine, theirs = _at_once(
                partial(handle_mail, desk, key, fetched), partial(handle_mail, other, key, fetched)
            )
            assert mine == theirs  # the loser reports the winner's ticket
            assert mine.kind == "ticket"
    with Session(desk.engine) as session:
        ledger = session.exec(select(LedgerRow)).all()
        tickets = session.exec(select(TicketRow)).all()
        acks = session.exec(select(OutboxRow).where(OutboxRow.kind == "ack")).all()
    assert sorted(int(row.uid) for row in ledger) == list(range(1, RACES + 1))
    assert {row.outcome for row in ledger} == {"ticket"}  # none quarantined
    assert sorted(t.subject for t in tickets) == sorted(f"Awaria nr {n}" for n in range(RACES))
    assert len(acks) == RACES
    raced = [r for r in caplog.records if "another process stored it first" in r.getMessage()]
    # Both desks parse before either writes: the loser's commit is refused nearly every time.
    assert raced, "no race happened: the test did not test the unique key"


TICKETS = 30


def test_two_desks_sweeping_and_flushing_at_once_send_each_mail_once(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    for n in range(TICKETS):
        uid = str(n + 1)
        raw = customer_mail(f"klient{n}@klos.pl", f"Awaria nr {n}")  # warranty, by domain
        handle_mail(desk, MailKey("imap://support@sweep/INBOX", 7, uid), FetchedMail(uid, raw))
    # Ten days on, both deadlines of every ticket have passed: escalations are due.
    later = replace(desk, clock=lambda: factories.NOW + timedelta(days=10))

    def sweep_and_flush(instance: Desk) -> None:
        sweep(instance)
        asyncio.run(flush_outbox(instance, make_sender(instance.settings.smtp), limit=1000))

    with _other_desk(desk, clock=later.clock) as other:
        _at_once(lambda: sweep_and_flush(later), lambda: sweep_and_flush(other))
    with Session(desk.engine) as session:
        outbox = session.exec(select(OutboxRow)).all()
        alerts = session.exec(select(AlertRow).where(AlertRow.status == "queued")).all()
    sent = smtp_sink.messages
    ids = [_header(m.content, b"Message-ID") for m in sent]
    assert {row.status for row in outbox} == {"sent"}
    assert len(ids) == len(set(ids)) == len(outbox)  # each row once at the server
    escalations = [row for row in outbox if row.kind == "escalation"]
    assert len(escalations) == len(alerts) == 2 * TICKETS  # each alert queued once
    assert len({(a.ticket_id, a.key) for a in alerts}) == len(alerts)


def _header(raw: bytes, name: bytes) -> str:
    found = re.search(rb"^" + name + rb": *(\S+)", raw, re.MULTILINE | re.IGNORECASE)
    assert found, name
    return found.group(1).decode()


# --- two daemons on one database and one mailbox -----------------------------------------


class Instance:
    """A ``mailbot run`` daemon in a process of its own, logging to a file of its own."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.log_file = config.parent / f"{name}.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
                env=clean,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def log(self) -> str:
        return self.log_file.read_text()

    def ingested(self) -> int:
        """Mails this instance stored (one ``mailbot.ingest: mail ...`` line each)."""
        return self.log().count("mailbot.ingest: mail ")

    def sent(self) -> int:
        return len(re.findall(r"mailbot\.outbox: outbox \d+ .* sent to ", self.log()))

    def took_back(self) -> int:
        """Mails it queued again at its start, claimed by a dead process of its instance."""
        found = re.findall(
            r"mailbot\.outbox: outbox: (\d+) mail\(s\) claimed by process", self.log()
        )
        return sum(map(int, found))

    def died(self) -> str:
        """What it said if it exited; "" while it runs."""
        return "" if self.process.poll() is None else f"{self.name} exited:\n{self.log()[-3000:]}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=WAIT) == 0, self.log()[-3000:]


@contextmanager
def _two_daemons(config: Path) -> Iterator[tuple[Instance, Instance]]:
    first = Instance("first", config)
    instances = [first]
    try:
        # The second starts once the first is up: two instances importing the contracts
        # file into an empty table at the same moment would both insert the customer
        # (see the report of issue 8; the lease does not cover start-up).
        _until(lambda: "mailbot running" in first.log(), what="first up", alive=first.died)
        second = Instance("second", config)
        instances.append(second)
        yield first, second
    finally:
        for instance in instances:
            if instance.process.poll() is None:
                instance.process.kill()
                instance.process.wait()


def _config(tmp_path: Path, imap: ImapSettings, smtp: SmtpSink, database_url: str) -> Path:
    config = write_config(tmp_path, imap, smtp, database_url)
    text = config.read_text().replace('poll_interval = "5s"', 'poll_interval = "1s"')
    # Small batches: the kill test needs an instance that is half-way through its mails.
    config.write_text(text + "\n[ingest]\nbatch_size = 10\n")
    return config


def _mail(n: int) -> bytes:
    # Distinct senders: the per-sender cap must not be what keeps acknowledgements down.
    return customer_mail(f"klient{n}@firma{n % 7}.pl", f"Awaria nr {n}")


def _count(engine: sa.Engine, *where: Any, table: Any = TicketRow) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table).where(*where)).one()


def _none_queued(engine: sa.Engine) -> bool:
    return _count(engine, col(OutboxRow.status) == "queued", table=OutboxRow) == 0


def _all_done(engine: sa.Engine, mails: int) -> bool:
    """Every mail has its ticket and every queued mail went out."""
    unsent = _count(engine, col(OutboxRow.status) != "sent", table=OutboxRow)
    return _count(engine) == mails and unsent == 0


def _assert_each_mail_once(
    engine: sa.Engine, peer: ImapPeer, smtp_sink: SmtpSink, *, mails: int, resent: int = 0
) -> None:
    """One ticket per mail, one acknowledgement (Message-ID) per ticket; up to ``resent``
    copies of an acknowledgement whose sender was killed before it could mark it sent."""
    with Session(engine) as session:
        tickets = session.exec(select(TicketRow)).all()
        ledger = session.exec(select(LedgerRow)).all()
    acks = smtp_sink.of_kind("ack")
    ack_ids = [_header(m.content, b"Message-ID") for m in acks]
    acked = {_header(m.content, b"X-Mailbot-Ticket") for m in acks}
    assert sorted(t.subject for t in tickets) == sorted(f"Awaria nr {n}" for n in range(mails))
    assert len(ledger) == mails and {row.outcome for row in ledger} == {"ticket"}
    assert acked == {t.number for t in tickets}
    assert len(set(ack_ids)) == mails
    assert len(ack_ids) - mails <= resent
    assert peer.messages("INBOX") == []
    assert len(peer.messages("Processed")) == mails
    assert "Quarantine" not in peer.folders() or peer.messages("Quarantine") == []


def test_two_daemons_ingest_500_mails_together_each_once(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    config = _config(tmp_path, imap_settings, smtp_sink, database_url)
    engine = create_engine(database_url)
    for n in range(MAILS // 2):
        imap_client.append(_mail(n))
    try:
        with _two_daemons(config) as (first, second):
            # The rest arrives while both run: the lease changes hands between polls.
            for n in range(MAILS // 2, MAILS):
                imap_client.append(_mail(n))

            def alive() -> str:
                return first.died() or second.died()

            _until(lambda: _all_done(engine, MAILS), what="every mail stored and sent", alive=alive)
            first.stop()
            second.stop()
        _assert_each_mail_once(engine, imap_client, smtp_sink, mails=MAILS)
        print(f"two daemons: ingested {first.ingested()} + {second.ingested()}, "
              f"sent {first.sent()} + {second.sent()}")  # fmt: skip
        assert first.ingested() + second.ingested() == MAILS  # no mail stored by both
        assert first.sent() + second.sent() == MAILS
    finally:
        engine.dispose()


def test_one_of_two_daemons_killed_mid_run_loses_nothing(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    config = _config(tmp_path, imap_settings, smtp_sink, database_url)
    engine = create_engine(database_url)
    for n in range(KILL_MAILS // 2):
        imap_client.append(_mail(n))
    try:
        with _two_daemons(config) as (first, second):
            # The first took the lease for these at its first poll: kill it half-way through.
            _until(lambda: _count(engine) >= KILL_MAILS // 4, what="a quarter", alive=first.died)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            killed_at = datetime.now(UTC)
            at_kill = _count(engine)
            assert at_kill < KILL_MAILS // 2, "the first had ingested all it held: kill it sooner"
            for n in range(KILL_MAILS // 2, KILL_MAILS):
                imap_client.append(_mail(n))
            _until(lambda: _count(engine) == KILL_MAILS, what="every ticket", alive=second.died)
            _until(partial(_none_queued, engine), what="every mail claimed", alive=second.died)
            # A mail the killed instance had claimed stays "sending" until the claim is
            # STALE_CLAIM (10 minutes) old; it may or may not have reached the server.
            # Rather than wait, the test ages that claim, as those minutes would. (The two
            # share a state_dir, so they are one instance: if the second started after the
            # kill, it took the dead one's claims back at its start instead.)
            aged = _age_claims_before(engine, killed_at)
            _until(lambda: _all_done(engine, KILL_MAILS), what="every mail sent", alive=second.died)
            second.stop()
        resent = aged + second.took_back()
        _assert_each_mail_once(engine, imap_client, smtp_sink, mails=KILL_MAILS, resent=resent)
        print(f"killed one daemon at {at_kill} tickets; it ingested {first.ingested()}, "
              f"sent {first.sent()}; the survivor ingested {second.ingested()}, "
              f"sent {second.sent()}; {aged} claim(s) aged, "
              f"{second.took_back()} taken back")  # fmt: skip
        # A daemon has at most one mail in flight per SMTP connection ([smtp] connections).
        assert resent <= SMTP_CONNECTIONS
        assert second.ingested() >= KILL_MAILS // 2  # the survivor took the lease over
    finally:
        engine.dispose()


# The default of [smtp] connections, which the test config leaves alone.
SMTP_CONNECTIONS = next(f.default for f in fields(SmtpSettings) if f.name == "connections")


def _age_claims_before(engine: sa.Engine, moment: datetime) -> int:
    """Make claims taken before ``moment`` (by a killed instance) look STALE_CLAIM old."""
    with Session(engine) as session:
        aged = session.execute(
            sa.update(OutboxRow)
            .where(col(OutboxRow.status) == "sending", col(OutboxRow.next_attempt_at) < moment)
            .values(next_attempt_at=moment - STALE_CLAIM)
        )
        session.commit()
        return int(getattr(aged, "rowcount", 0))
