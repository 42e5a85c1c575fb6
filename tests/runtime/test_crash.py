"""Exactly once through crashes: ``mailbot run --once`` killed with SIGKILL, again and again.

300 mails wait in a Dovecot inbox. A subprocess ingests them and is killed
with SIGKILL at seeded random moments (at least 20 times) wherever it happens
to be: parsing, inside a transaction, between the commit and the IMAP move,
while sending. A final clean run then finishes the work. Afterwards every
mail has exactly one ticket, every ticket exactly one acknowledgement at the
SMTP server, the inbox is empty and every mail is in the processed folder.

A second test takes the servers away instead of the process: the daemon
(``mailbot run``) works through 100 mails while the SMTP server answers
"451 Try later" and Dovecot is stopped and started again under it; once both
are back, every mail has one ticket and one acknowledgement, and the daemon
never exited.

A third kills the daemon itself (``mailbot run``), 30 times while it sends
300 acknowledgements, restarting it after each kill: the restart takes back
the dead process's claims at once, so every acknowledgement is at the sink
within 60 s of the final restart.

The one window a crash may duplicate a mail is between the SMTP server's
acceptance and the commit that marks it sent (README, "After a crash"): at
most one mail per SMTP connection per kill. Such a copy keeps its Message-ID,
so the tests count acknowledgements by Message-ID per ticket and report raw
copies separately.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, create_engine, func, select

from mailbot.adapters.db import DaemonStateRow, OutboxRow, TicketRow
from mailbot.config import ImapSettings, SmtpSettings
from mailbot.usecases.health import POLL
from tests.cli.test_cli import write_config
from tests.conftest import ImapPeer, SmtpSink, new_account, private_dovecot
from tests.factories import customer_mail

MAILS = 300
KILLS = 20
SEED = 20261125
OUTAGE_MAILS = 100  # 90 in the inbox at the start, 10 more once Dovecot is back
WAIT = 120.0  # seconds: a deadline for conditions, reached only when something is wrong


def run_once(config: Path) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    # The last run's log, for the failure message: each run writes over it.
    with (config.parent / "run.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"],
            env=clean,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def test_sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, imap_settings: ImapSettings, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    database = f"sqlite:///{tmp_path / 'state' / 'mailbot.db'}"
    config = write_config(tmp_path, imap_settings, smtp_sink, database)
    for n in range(MAILS):
        # Distinct senders: the per-sender cap must not be what keeps acknowledgements down.
        imap_client.append(customer_mail(f"klient{n}@firma{n % 7}.pl", f"Awaria nr {n}"))
    chance = random.Random(SEED)

    kills = 0
    while kills < KILLS:
        process = run_once(config)
        time.sleep(chance.uniform(0.2, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        assert kills or imap_client.messages("INBOX"), "one run finished everything: kill sooner"
    engine = create_engine(database)
    with Session(engine) as session:
        stuck = session.exec(select(OutboxRow).where(OutboxRow.status == "sending")).all()
    # A mail claimed for sending when its process died is queued again by the next run at
    # its start (it may or may not have reached the server), not after STALE_CLAIM.
    for _ in range(2):  # one run is enough; the second shows there is nothing left to do
        assert run_once(config).wait(timeout=300) == 0, (config.parent / "run.log").read_text()

    with Session(engine) as session:
        tickets = session.exec(select(TicketRow)).all()
        unsent = session.exec(select(OutboxRow).where(OutboxRow.status != "sent")).all()
    engine.dispose()
    assert unsent == []
    acks = smtp_sink.of_kind("ack")
    ack_ids = [_header(m.content, b"Message-ID") for m in acks]
    acked_tickets = [_header(m.content, b"X-Mailbot-Ticket") for m in acks]
    subjects = sorted(t.subject for t in tickets)

    assert subjects == sorted(f"Awaria nr {n}" for n in range(MAILS))  # one ticket per mail
    assert sorted(set(acked_tickets)) == sorted(t.number for t in tickets)
    assert len(set(ack_ids)) == MAILS  # one acknowledgement (one Message-ID) per ticket
    copies = len(ack_ids) - len(set(ack_ids))
    assert copies <= kills  # at most one per kill, and only in the send-then-commit window
    assert imap_client.messages("INBOX") == []
    assert len(imap_client.messages("Processed")) == MAILS
    assert "Quarantine" not in imap_client.folders() or imap_client.messages("Quarantine") == []
    print(f"crash test: {kills} kills, {MAILS} mails, {len(tickets)} tickets, "
          f"{len(acks)} acknowledgements ({copies} resent copies, "
          f"{len(stuck)} interrupted sends)")  # fmt: skip


DAEMON_KILLS = 30
DAEMON_SEED = 20261206
RESTART_LIMIT = 60.0  # seconds: every acknowledgement at the sink after the final restart
# The default of [smtp] connections, which the test config leaves alone.
CONNECTIONS = next(f.default for f in fields(SmtpSettings) if f.name == "connections")


class Daemon:
    """``mailbot run`` in a process of its own; every life logs to one file, in turn."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log_file = config.parent / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.lives = 0

    def start(self) -> subprocess.Popen[bytes]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
        self.lives += 1
        with self.log_file.open("ab") as log:
            log.write(f"--- life {self.lives} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(self.config), "run"],
                env=clean,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        return self.process

    def running(self) -> bool:
        """True while it runs; an exit of its own is a failure."""
        assert self.process is not None and self.process.poll() is None, (
            f"the daemon exited:\n{self.tail()}"
        )
        return True

    def kill(self) -> int:
        """SIGKILL; the pid it had."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return self.process.pid

    def tail(self) -> str:
        return self.log_file.read_text()[-5000:]

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_daemon_killed_30_times_while_sending_sends_each_mail_again_at_most_once_per_connection(
    tmp_path: Path, imap_settings: ImapSettings, imap_client: ImapPeer, smtp_sink: SmtpSink,
    database_url: str,
) -> None:  # fmt: skip
    """One instance, SIGKILLed at seeded random moments of its work on 300 mails.

    Each moment is a number of further acknowledgements at the sink (1 to 12): a kill
    lands while mails are on the wire. After each kill the
    test notes the mails the dead process held claimed; the restart takes them back at
    once, so after the final restart every acknowledgement is at the sink within
    RESTART_LIMIT. A mail goes out twice only if the server took it just before the
    kill: each copy beyond the first is owed to a kill at which it was claimed, and a
    process holds at most one claim per SMTP connection.
    """
    config = write_config(tmp_path, imap_settings, smtp_sink, database_url)
    for n in range(MAILS):
        imap_client.append(customer_mail(f"klient{n}@firma{n % 7}.pl", f"Awaria nr {n}"))
    engine = create_engine(database_url)
    chance = random.Random(DAEMON_SEED)
    daemon = Daemon(config)
    claimed_at_kill: list[set[str]] = []  # per kill: Message-IDs its process held claimed
    try:
        for _ in range(DAEMON_KILLS):
            daemon.start()
            _wait(
                daemon,
                partial(_received, smtp_sink, len(smtp_sink.messages) + chance.randint(1, 12)),
            )
            pid = daemon.kill()
            claimed_at_kill.append(_claimed_by(engine, pid))
        missing = MAILS - _acked(smtp_sink)
        restarted = time.monotonic()
        daemon.start()
        slowest = _wait(daemon, lambda: _acked(smtp_sink) == MAILS and time.monotonic() - restarted,
                        limit=RESTART_LIMIT)  # fmt: skip
        _wait(daemon, lambda: _count(engine, TicketRow) == MAILS and _all_sent(engine))
        daemon.running()
    finally:
        daemon.close()
        engine.dispose()

    acks = smtp_sink.of_kind("ack")
    assert len(acks) == len(smtp_sink.messages)  # nothing but acknowledgements here
    copies = Counter(_header(m.content, b"Message-ID") for m in acks)
    assert len(copies) == MAILS  # one acknowledgement (one Message-ID) per ticket
    assert all(len(claimed) <= CONNECTIONS for claimed in claimed_at_kill)
    for message_id, count in copies.items():
        owed = sum(message_id in claimed for claimed in claimed_at_kill)
        assert count - 1 <= owed, f"{message_id}: {count} copies, claimed at {owed} kill(s)"
    duplicates = sum(copies.values()) - MAILS
    assert duplicates <= DAEMON_KILLS * CONNECTIONS
    print(f"daemon kill test ({engine.dialect.name}): {len(claimed_at_kill)} kills, "
          f"{MAILS} mails, {duplicates} duplicate(s) (same Message-ID; "
          f"{sum(map(len, claimed_at_kill))} claims held at the kills), the {missing} "
          f"acknowledgement(s) still missing all at the sink {slowest:.1f} s after the "
          f"final restart")  # fmt: skip


def _wait(daemon: Daemon, condition: Any, *, limit: float = WAIT) -> Any:
    """Poll ``condition`` until it is true (and return its value); the daemon must stay up."""
    deadline = time.monotonic() + limit
    while not (value := condition()):
        daemon.running()
        if time.monotonic() > deadline:
            raise TimeoutError(f"not after {limit} s:\n{daemon.tail()}")
        time.sleep(0.005)
    return value


def _received(sink: SmtpSink, count: int) -> bool:
    """``count`` mails at the sink, or every acknowledgement already (nothing more will come)."""
    return len(sink.messages) >= count or _acked(sink) == MAILS


def _acked(sink: SmtpSink) -> int:
    """Distinct acknowledgements (Message-IDs) at the sink."""
    return len({_header(m.content, b"Message-ID") for m in sink.messages})


def _claimed_by(engine: sa.Engine, pid: int) -> set[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxRow).where(OutboxRow.status == "sending", OutboxRow.claimed_pid == pid)
        ).all()
        return {row.message_id for row in rows}


def _all_sent(engine: sa.Engine) -> bool:
    with Session(engine) as session:
        return not session.exec(select(OutboxRow).where(OutboxRow.status != "sent")).first()


def test_dovecot_restart_and_smtp_451_mid_run_deliver_everything_once(
    tmp_path: Path, smtp_sink: SmtpSink, database_url: str
) -> None:
    # A Dovecot of its own: stopping the session's one would break the other tests' accounts.
    with private_dovecot() as server:
        imap = new_account(server)
        config = write_config(tmp_path, imap, smtp_sink, database_url)
        # max_backoff: once Dovecot is back, the daemon tries again within 5 s (15 min by
        # default): what an operator can expect, made short enough for a test. One mail a
        # batch: batched intake takes 90 mails in well under the second Dovecot takes to
        # stop; one by one it is still ingesting when the server goes away.
        config.write_text(
            config.read_text().replace(
                'poll_interval = "5s"', 'poll_interval = "1s"\nmax_backoff = "5s"'
            )
            + "\n[ingest]\nbatch_size = 1\n"
        )
        first = OUTAGE_MAILS * 9 // 10
        peer = ImapPeer(imap)
        for n in range(first):
            peer.append(customer_mail(f"klient{n}@firma{n % 7}.pl", f"Awaria nr {n}"))
        peer.close()
        smtp_sink.reply_with("451 4.3.0 Try later")
        engine = create_engine(database_url)
        log_file = tmp_path / "daemon.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
        with log_file.open("wb") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
                env=clean,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        peer = None
        try:
            # Dovecot goes away while the daemon is ingesting (its first poll, most likely).
            _until(daemon, log_file, lambda: _count(engine, TicketRow) >= 10)
            # Stopping the master leaves a running imap process to finish its session:
            # cut the daemon's connection too, as a crashed or restarted server would.
            server.doveadm("kick", imap.username)
            at_stop = _count(engine, TicketRow)
            server.stop()
            stopped_at = datetime.now(UTC)
            assert at_stop < first, "the daemon had ingested everything: stop Dovecot sooner"
            # The outage is logged once, not at every retry: wait for a poll that failed
            # against the stopped server, as `mailbot status` sees it.
            _until(daemon, log_file, lambda: _failed_since(engine, stopped_at))
            assert daemon.poll() is None, "the daemon exited on the IMAP outage"
            server.start()  # the same ports, folder and mail
            peer = ImapPeer(imap)
            for n in range(first, OUTAGE_MAILS):
                peer.append(customer_mail(f"klient{n}@firma{n % 7}.pl", f"Awaria nr {n}"))
            _until(daemon, log_file, lambda: _count(engine, TicketRow) == OUTAGE_MAILS)
            _until(daemon, log_file, lambda: not peer.messages("INBOX"))
            refused = _until(daemon, log_file, lambda: _refused(engine))
            assert refused > 0 and smtp_sink.messages == []  # 451 so far: nothing accepted
            smtp_sink.reply_with("250 2.0.0 OK")
            # The outbox retries a 4xx after 1 minute, then 5, 15...: rather than wait real
            # minutes, the test moves the queued rows' next attempt to now (again, in case
            # an attempt answered 451 just before the switch).
            _until(daemon, log_file, lambda: _send_queued_now(engine) == 0)
            assert daemon.poll() is None, "the daemon exited during the outages"
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=WAIT) == 0, log_file.read_text()

            with Session(engine) as session:
                tickets = session.exec(select(TicketRow)).all()
                unsent = session.exec(select(OutboxRow).where(OutboxRow.status != "sent")).all()
            assert unsent == []
            acks = smtp_sink.of_kind("ack")
            ack_ids = [_header(m.content, b"Message-ID") for m in acks]
            acked_tickets = [_header(m.content, b"X-Mailbot-Ticket") for m in acks]
            subjects = sorted(t.subject for t in tickets)
            assert subjects == sorted(f"Awaria nr {n}" for n in range(OUTAGE_MAILS))
            assert sorted(acked_tickets) == sorted(t.number for t in tickets)  # once each
            assert len(set(ack_ids)) == len(ack_ids) == OUTAGE_MAILS  # no process died: no copy
            assert peer.messages("INBOX") == []
            assert len(peer.messages("Processed")) == OUTAGE_MAILS
            assert "Quarantine" not in peer.folders() or peer.messages("Quarantine") == []
            # Each outage (the kick and the stop may make one or two) is logged when it
            # begins and when it ends, not at every failed attempt.
            log_text = log_file.read_text()
            began = log_text.count("retrying with backoff up to 0:00:05")
            assert began >= 1 and log_text.count("mailbox back after") == began, log_text
            print(f"outage test: {OUTAGE_MAILS} mails, Dovecot stopped at {at_stop} tickets, "
                  f"{refused} SMTP attempts answered 451, {len(acks)} acknowledgements")  # fmt: skip
        finally:
            if peer is not None:  # closed on failure too: a leaked socket fails a later test
                peer.close()
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            engine.dispose()


def _until(daemon: subprocess.Popen[bytes], log_file: Path, condition: Any) -> Any:
    """Poll ``condition`` until it is true (and return its value); the daemon must stay up."""
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        assert daemon.poll() is None, f"the daemon exited:\n{log_file.read_text()}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"not after {WAIT} s:\n{log_file.read_text()[-5000:]}")
        time.sleep(0.05)
    return value


def _count(engine: sa.Engine, table: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def _refused(engine: sa.Engine) -> int:
    """Outbox attempts that failed (451) and wait for a retry."""
    with Session(engine) as session:
        rows = session.exec(select(OutboxRow).where(col(OutboxRow.attempts) > 0)).all()
        return sum(row.attempts for row in rows)


def _failed_since(engine: sa.Engine, moment: datetime) -> bool:
    """Whether the daemon's last poll failed, at ``moment`` or later."""
    with Session(engine) as session:
        state = session.get(DaemonStateRow, POLL)
    return bool(state and state.error and state.attempted_at and state.attempted_at >= moment)


def _send_queued_now(engine: sa.Engine) -> int:
    """Make every queued mail due at once; the number of mails not sent yet."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.exec(
            sa.update(OutboxRow)
            .where(col(OutboxRow.status) == "queued", col(OutboxRow.next_attempt_at) > now)
            .values(next_attempt_at=now - timedelta(seconds=1))
        )
        session.commit()
        return len(session.exec(select(OutboxRow).where(OutboxRow.status != "sent")).all())


def _header(raw: bytes, name: bytes) -> str:
    found = re.search(rb"^" + name + rb": *(\S+)", raw, re.MULTILINE | re.IGNORECASE)
    assert found, name
    return found.group(1).decode()
