"""The outbox against a real SMTP server: each mail once, failures sorted by cause."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from mailbot.adapters.db import OutboxRow
from mailbot.adapters.smtp import make_sender
from mailbot.outbox import STALE_CLAIM, flush_outbox
from mailbot.service import Desk, ingest
from mailbot.wiring import make_source
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import customer_mail, deliver


@pytest.fixture
def desk(desk: Desk) -> Desk:
    """The shared desk without a staff list: the outbox holds only acknowledgements here."""
    support = replace(desk.settings.support, staff_addresses=())
    return Desk(
        desk.engine, replace(desk.settings, support=support), desk.renderer, desk.store, desk.clock
    )


def queue_acks(desk: Desk, imap: ImapPeer, *senders: str) -> None:
    for sender in senders:
        deliver(imap, customer_mail(sender, f"Od {sender}"))
    ingest(desk, make_source(desk.settings))


def statuses(desk: Desk) -> list[tuple[str, str]]:
    with Session(desk.engine) as session:
        rows = session.exec(
            select(OutboxRow).where(OutboxRow.kind == "ack").order_by(col(OutboxRow.id))
        ).all()
        return [(row.recipients, row.status) for row in rows]


def flush(desk: Desk) -> None:
    async def flush_and_close() -> None:
        sender = make_sender(desk.settings.smtp)
        try:
            await flush_outbox(desk, sender)
        finally:
            await sender.close()

    asyncio.run(flush_and_close())


def test_a_recipient_refused_for_good_fails_and_the_next_mail_still_goes(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    smtp_sink.handler.refuse["gone@acme.pl"] = "550 5.1.1 No such user"
    queue_acks(desk, imap_client, "gone@acme.pl", "jan@acme.pl")

    flush(desk)

    assert statuses(desk) == [("gone@acme.pl", "failed"), ("jan@acme.pl", "sent")]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("jan@acme.pl",)]


def test_a_recipient_refused_for_now_is_retried_later(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    smtp_sink.handler.refuse["busy@acme.pl"] = "450 4.2.1 Mailbox busy"
    queue_acks(desk, imap_client, "busy@acme.pl")

    flush(desk)

    assert statuses(desk) == [("busy@acme.pl", "queued")]
    with Session(desk.engine) as session:
        row = session.exec(select(OutboxRow)).one()
    assert row.attempts == 1 and row.next_attempt_at > desk.clock()


def test_an_address_the_server_cannot_take_fails_without_blocking_the_outbox(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    queue_acks(desk, imap_client, "józef@żółw.pl", "jan@acme.pl")

    flush(desk)

    assert statuses(desk) == [("józef@żółw.pl", "failed"), ("jan@acme.pl", "sent")]


def test_a_mail_claimed_by_another_flusher_is_not_sent_twice(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    queue_acks(desk, imap_client, "jan@acme.pl")
    with Session(desk.engine) as session:
        row = session.exec(select(OutboxRow)).one()
        row.status = "sending"  # another process is sending it right now
        session.add(row)
        session.commit()

    flush(desk)

    assert smtp_sink.messages == []
    assert statuses(desk) == [("jan@acme.pl", "sending")]


def test_a_claim_abandoned_by_a_crash_is_sent_after_a_while(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    queue_acks(desk, imap_client, "jan@acme.pl")
    with Session(desk.engine) as session:
        row = session.exec(select(OutboxRow)).one()
        row.status = "sending"
        row.next_attempt_at = desk.clock() - STALE_CLAIM - timedelta(seconds=1)
        session.add(row)
        session.commit()

    flush(desk)

    assert len(smtp_sink.messages) == 1
    assert statuses(desk) == [("jan@acme.pl", "sent")]


def test_long_message_ids_stay_literal_so_clients_can_thread(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    long_id = "<" + "A1B2C3D4" * 12 + "@EXCH01.firma.example.onmicrosoft.com>"
    deliver(imap_client, customer_mail("jan@acme.pl", "Outlook", Message_ID=long_id))
    ingest(desk, make_source(desk.settings))

    flush(desk)

    [sent] = smtp_sink.messages
    assert f"In-Reply-To: {long_id}\r\n".encode() in sent.content
    assert f"References: {long_id}\r\n".encode() in sent.content
