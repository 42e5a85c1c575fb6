"""Exactly once through crashes: ``mailbot run --once`` killed with SIGKILL, again and again.

300 mails wait in a Dovecot inbox. A subprocess ingests them and is killed
with SIGKILL at seeded random moments (at least 20 times) wherever it happens
to be: parsing, inside a transaction, between the commit and the IMAP move,
while sending. A final clean run then finishes the work. Afterwards every
mail has exactly one ticket, every ticket exactly one acknowledgement at the
SMTP server, the inbox is empty and every mail is in the processed folder.

The one window a crash may duplicate a mail is between the SMTP server's
acceptance and the commit that marks it sent (README: "at least once, in
practice once"); such a copy keeps its Message-ID, so the test counts
acknowledgements by Message-ID per ticket and reports raw copies separately.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlmodel import Session, create_engine, select

from mailbot.adapters.db import OutboxRow, TicketRow
from mailbot.config import ImapSettings
from mailbot.outbox import STALE_CLAIM
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import customer_mail
from tests.test_cli import write_config

MAILS = 300
KILLS = 20
SEED = 20261125


def run_once(config: Path) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"],
        env=clean,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
    assert run_once(config).wait(timeout=300) == 0
    # A mail claimed for sending when its process died is queued again once the claim is
    # STALE_CLAIM old (it may or may not have reached the server): let that time pass.
    with Session(engine) as session:
        stuck = session.exec(select(OutboxRow).where(OutboxRow.status == "sending")).all()
        for row in stuck:
            row.next_attempt_at -= STALE_CLAIM
            session.add(row)
        session.commit()
    for _ in range(2):  # one run is enough; the second shows there is nothing left to do
        assert run_once(config).wait(timeout=300) == 0

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


def _header(raw: bytes, name: bytes) -> str:
    found = re.search(rb"^" + name + rb": *(\S+)", raw, re.MULTILINE | re.IGNORECASE)
    assert found, name
    return found.group(1).decode()
