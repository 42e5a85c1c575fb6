"""Every real-world mail of the shared corpus through the whole pipeline, against Dovecot.

Whatever a mail is (broken MIME, odd charsets, bounces, auto-replies), it
gets a defined outcome in the ledger, leaves the inbox, and the daemon keeps
going: no mail is lost, none is processed twice, and robots get no answer.
"""

from __future__ import annotations

from sqlmodel import Session, select

from mailbot.adapters.db import LedgerRow, OutboxRow
from mailbot.usecases.desk import Desk
from tests.conftest import ImapPeer, SmtpSink
from tests.core.test_mail_corpus import corpus_dir, corpus_files
from tests.factories import NOW, run_once

OUTCOMES = {"ticket", "followup", "ignored", "duplicate", "quarantined"}


def test_every_corpus_mail_gets_a_defined_outcome(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    files = corpus_files(corpus_dir()) if corpus_dir().is_dir() else []
    assert len(files) > 100, f"the mail corpus is missing: set MAILBOT_MAIL_CORPUS ({corpus_dir()})"
    for path in files:
        imap_client.append(path.read_bytes(), received_at=NOW)

    for _ in range(4):  # the outbox sends at most 100 mails a cycle; later runs find nothing new
        run_once(desk)

    assert imap_client.messages("INBOX") == []
    landed = len(imap_client.messages("Processed")) + len(imap_client.messages("Quarantine"))
    assert landed == len(files)
    with Session(desk.engine) as session:
        ledger = session.exec(select(LedgerRow)).all()
        outbox = session.exec(select(OutboxRow)).all()
    assert len(ledger) == len(files)
    assert {row.outcome for row in ledger} <= OUTCOMES
    # Only mails that opened a ticket may be acknowledged, each at most once.
    acks = [row for row in outbox if row.kind == "ack"]
    assert len(acks) <= sum(row.outcome == "ticket" for row in ledger)
    assert len(smtp_sink.messages) == len(outbox)
    assert all(row.status == "sent" for row in outbox)
