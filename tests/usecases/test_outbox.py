"""The outbox against a real SMTP server: each mail once, failures sorted by cause; the
claims of a dead process taken back at once, another instance's after the stale limit."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db import OutboxRow, TicketRow
from mailbot.adapters.db.claims import process_gone, process_start
from mailbot.adapters.smtp import make_sender
from mailbot.bootstrap import make_source
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import ingest
from mailbot.usecases.outbox import (
    RETRY_DELAYS,
    STALE_CLAIM,
    FlushReport,
    claim_owner,
    flush_outbox,
    send_groups,
    take_back,
    take_round,
)
from tests.conftest import ImapPeer, ReceivedMail, SmtpSink
from tests.factories import NOW, STAFF, SUPPORT, customer_mail, deliver


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


def flush(desk: Desk, *, limit: int = 100) -> FlushReport:
    """One flush of ``desk``'s outbox in rounds of ``limit`` mails, its SMTP pool closed after."""

    async def flush_and_close() -> FlushReport:
        sender = make_sender(desk.settings.smtp)
        try:
            return await flush_outbox(desk, sender, limit=limit)
        finally:
            await sender.close()

    return asyncio.run(flush_and_close())


def with_smtp(desk: Desk, *, connections: int) -> Desk:
    smtp = replace(desk.settings.smtp, connections=connections)
    return replace(desk, settings=replace(desk.settings, smtp=smtp))


def queue(
    desk: Desk, *recipients: str, subject: str, ticket_id: int | None = None, kind: str = "relay"
) -> int:
    """Put a small mail in the outbox, due now; its Subject and Message-ID name it."""
    message_id = f"<{subject}@desk.example.pl>"
    raw = (
        f"From: {SUPPORT}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n\r\nHello.\r\n"
    ).encode()
    with Session(desk.engine) as session:
        row = OutboxRow(
            ticket_id=ticket_id, kind=kind, message_id=message_id, mail_from=SUPPORT,
            recipients=",".join(recipients), raw=raw, created_at=NOW, next_attempt_at=NOW,
        )  # fmt: skip
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def subjects(mails: list[ReceivedMail]) -> list[str]:
    """The Subjects of ``mails`` (as ``queue`` writes them: one word)."""
    found = [re.search(rb"^Subject: (\S+)", m.content, re.MULTILINE) for m in mails]
    return [match[1].decode() if match else "" for match in found]


def outbox_row(desk: Desk, mail_id: int) -> OutboxRow:
    with Session(desk.engine) as session:
        row = session.get(OutboxRow, mail_id)
        assert row is not None
        return row


def test_a_recipient_refused_for_good_fails_and_the_next_mail_still_goes(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    smtp_sink.handler.refuse["gone@acme.pl"] = "550 5.1.1 No such user"
    queue_acks(desk, imap_client, "gone@acme.pl", "jan@acme.pl")

    flush(desk)

    assert statuses(desk) == [("gone@acme.pl", "failed"), ("jan@acme.pl", "sent")]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("jan@acme.pl",)]


def test_a_refusal_among_mails_marked_together_fails_only_that_mail(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    """A worker's refused mail is recorded on its own; the marks of the mails around it,
    committed with the workers' next claims, mark only those."""
    desk = with_smtp(desk, connections=2)
    smtp_sink.handler.refuse["gone@acme.pl"] = "550 5.1.1 No such user"
    ids = [
        queue(desk, *recipients, subject=f"m{n}")
        for n, recipients in enumerate(
            (["a@acme.pl"], ["gone@acme.pl"], ["b@acme.pl", "gone@acme.pl"], ["c@acme.pl"],
             ["d@acme.pl"], ["e@acme.pl"])
        )
    ]  # fmt: skip

    report = flush(desk)

    assert report == FlushReport(sent=5, retrying=0, failed=1)
    rows = [outbox_row(desk, i) for i in ids]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("failed", 1)] + [
        ("sent", 1)
    ] * 4
    assert rows[2].last_error.startswith("sent to b@acme.pl; refused gone@acme.pl: 550")
    assert [r.last_error for r in rows[3:]] == ["", "", ""]
    assert sorted(subjects(smtp_sink.messages)) == ["m0", "m2", "m3", "m4", "m5"]


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


@pytest.mark.parametrize(
    ("due", "groups"),
    [
        ([], []),
        ([(1, "a@x.pl", None), (2, "b@x.pl", None), (3, "a@x.pl", None)], [[1, 3], [2]]),
        # A mail to two addresses ties their queues together, before and after it.
        ([(1, "a@x.pl", 7), (2, "b@x.pl", 7), (3, "b@x.pl,a@x.pl", 7), (4, "c@x.pl", 7),
          (5, "b@x.pl", 7)],
         [[1, 2, 3, 5], [4]]),
        # Through a chain: a-b, then b-c, then c alone.
        ([(1, "c@x.pl", None), (2, "a@x.pl,b@x.pl", None), (3, "d@x.pl", None),
          (4, "b@x.pl,c@x.pl", None)],
         [[1, 2, 4], [3]]),
        ([(1, "Jan@X.pl", 7), (2, "jan@x.pl", 7)], [[1, 2]]),
        # One address, several tickets (a burst's notices to staff): a group per ticket,
        # and the mails of no ticket in one more.
        ([(1, "staff@x.pl", 1), (2, "staff@x.pl", 2), (3, "staff@x.pl", 1),
          (4, "staff@x.pl", None), (5, "staff@x.pl", None)],
         [[1, 3], [2], [4, 5]]),
        # A mail of ticket 1 to a@ and b@ ties only ticket 1's mails to them.
        ([(1, "a@x.pl", 1), (2, "a@x.pl", 2), (3, "a@x.pl,b@x.pl", 1), (4, "b@x.pl", 2),
          (5, "b@x.pl", 1)],
         [[1, 3, 5], [2], [4]]),
    ],
)  # fmt: skip
def test_mails_of_one_ticket_sharing_an_address_fall_in_one_group_in_queue_order(
    due: list[tuple[int, str, int | None]], groups: list[list[int]]
) -> None:
    assert send_groups(due) == groups


def due(*ids: int) -> list[tuple[int, str, int | None]]:
    return [(i, f"r{i}@acme.pl", None) for i in ids]


@pytest.mark.parametrize(
    ("customers", "staff", "limit", "chosen"),
    [
        ([1, 3, 5], [2, 4], 10, [1, 2, 3, 4, 5]),  # room for all: everything, in queue order
        ([], [2, 4], 2, [2, 4]),  # staff's alone
        ([5, 6, 7, 8, 9], [1, 2, 3, 4], 4, [1, 5, 6, 7]),  # a backlog: a quarter for staff
        ([5, 6], [1, 2, 3, 4], 4, [1, 2, 5, 6]),  # staff's fill what customers leave
        ([1, 2, 3, 4, 5, 6, 7, 8], [], 4, [1, 2, 3, 4]),  # customers' alone
        ([3, 4, 5], [1, 2], 3, [3, 4, 5]),  # a round under four: no quarter to keep
    ],
)
def test_a_round_takes_the_customers_mails_first_and_keeps_a_quarter_for_staff(
    customers: list[int], staff: list[int], limit: int, chosen: list[int]
) -> None:
    assert take_round(due(*customers), due(*staff), limit) == due(*chosen)


def test_in_a_backlog_the_acknowledgements_go_before_the_staff_notices_queued_with_them(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    for n in range(1, 9):  # a burst: each new ticket's staff notice, then its acknowledgement
        queue(desk, STAFF[0], subject=f"staff{n}", kind="staff_new")
        queue(desk, f"k{n}@acme.pl", subject=f"ack{n}", kind="ack")

    assert flush(desk, limit=4).sent == 16
    got = subjects(smtp_sink.messages)
    # Rounds of four: three acknowledgements and one notice each while both wait (the
    # acknowledgements of one round go to different customers, in parallel).
    assert sorted(s for s in got[:12] if s.startswith("ack")) == [f"ack{n}" for n in range(1, 9)]
    # The notices, all to one address and of no ticket, keep their queue order.
    assert [s for s in got if s.startswith("staff")] == [f"staff{n}" for n in range(1, 9)]


def test_mails_to_one_address_keep_their_order_while_others_go_in_parallel(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    desk = with_smtp(desk, connections=2)
    smtp_sink.handler.hold_data = 2  # no DATA answered before two sessions are in it at once
    for n, recipients in enumerate(
        (["a@acme.pl"], ["a@acme.pl"], ["b@acme.pl"], ["a@acme.pl", "b@acme.pl"],
         ["c@acme.pl"], ["a@acme.pl"], ["b@acme.pl"]), start=1,
    ):  # fmt: skip
        queue(desk, *recipients, subject=f"m{n}")

    report = flush(desk)

    assert report.sent == 7
    assert smtp_sink.handler.most_in_data == 2
    assert subjects(smtp_sink.to("a@acme.pl")) == ["m1", "m2", "m4", "m6"]
    assert subjects(smtp_sink.to("b@acme.pl")) == ["m3", "m4", "m7"]
    assert subjects(smtp_sink.to("c@acme.pl")) == ["m5"]


def ticket_of(desk: Desk, seq: int) -> int:
    """A bare ticket row, for mails queued about it."""
    with Session(desk.engine) as session:
        ticket = TicketRow(
            number=f"SOL-{seq}", seq=seq, tier="warranty", status="open", subject=f"Sprawa {seq}",
            customer_address="jan@acme.pl", received_at=NOW, reaction_due=NOW,
            resolution_due=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add(ticket)
        session.commit()
        assert ticket.id is not None
        return ticket.id


def test_notices_of_two_tickets_to_one_address_go_in_parallel_each_ticket_in_order(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    desk = with_smtp(desk, connections=2)
    smtp_sink.handler.hold_data = 2  # no DATA answered before two sessions are in it at once
    first, second = ticket_of(desk, 1), ticket_of(desk, 2)
    for n, ticket in enumerate((first, first, second, first, second), start=1):
        queue(desk, *STAFF, subject=f"m{n}", ticket_id=ticket)

    report = flush(desk)

    assert report.sent == 5
    assert smtp_sink.handler.most_in_data == 2  # a burst's notices do not queue on one connection
    got = subjects(smtp_sink.to(STAFF[0]))
    assert [s for s in got if s in {"m1", "m2", "m4"}] == ["m1", "m2", "m4"]
    assert [s for s in got if s in {"m3", "m5"}] == ["m3", "m5"]


def test_a_transient_failure_stops_every_worker_from_claiming_more(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    desk = with_smtp(desk, connections=2)
    smtp_sink.handler.hold_data = 2  # both workers have a mail in DATA when it fails
    smtp_sink.reply_with("451 4.3.0 Try later")
    ids = [queue(desk, f"k{n}@acme.pl", subject=f"m{n}") for n in range(6)]

    report = flush(desk)

    assert report == FlushReport(sent=0, retrying=2, failed=0)
    rows = [outbox_row(desk, mail_id) for mail_id in ids]
    assert [r.status for r in rows] == ["queued"] * 6
    tried = [r for r in rows if r.attempts]
    assert len(tried) == 2
    assert all(r.next_attempt_at == NOW + RETRY_DELAYS[0] for r in tried)
    assert all(r.next_attempt_at == NOW and r.last_error == "" for r in rows if not r.attempts)
    assert smtp_sink.messages == []


def open_ticket(desk: Desk, imap: ImapPeer) -> TicketRow:
    """A ticket of jan@acme.pl's, its acknowledgement sent already."""
    queue_acks(desk, imap, "jan@acme.pl")
    flush(desk)
    with Session(desk.engine) as session:
        return session.exec(select(TicketRow)).one()


def test_recipients_refused_for_good_are_reported_and_the_others_get_the_mail_once(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = open_ticket(desk, imap_client)
    staffed = replace(desk, settings=replace(
        desk.settings, support=replace(desk.settings.support, staff_addresses=STAFF)))  # fmt: skip
    smtp_sink.handler.refuse["gone@acme.pl"] = "550 5.1.1 No such user"
    mail_id = queue(staffed, "jan@acme.pl", "gone@acme.pl", subject="m1", ticket_id=ticket.id)

    with caplog.at_level(logging.ERROR, logger="mailbot.outbox"):
        report = flush(staffed)

    assert report.sent == 1
    row = outbox_row(staffed, mail_id)
    assert row.status == "sent" and row.attempts == 1
    assert "gone@acme.pl: 550 5.1.1 No such user" in row.last_error
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "gone@acme.pl" in error.getMessage() and ticket.number in error.getMessage()
    # Staff hear of it as of a bounce, and the next flush sends them that.
    flush(staffed)
    [notice] = smtp_sink.of_kind("staff_bounce")
    assert notice.rcpt_tos == STAFF
    assert b"gone@acme.pl" in notice.content and b"550 5.1.1" in notice.content
    assert subjects(smtp_sink.to("jan@acme.pl")).count("m1") == 1
    assert smtp_sink.to("gone@acme.pl") == []


def test_recipients_refused_for_now_get_the_same_mail_later_and_the_others_only_once(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    now = [NOW]
    desk = replace(desk, clock=lambda: now[0])
    ticket = open_ticket(desk, imap_client)
    smtp_sink.handler.refuse["busy@acme.pl"] = "450 4.2.1 Mailbox busy"
    mail_id = queue(desk, "jan@acme.pl", "busy@acme.pl", subject="m1", ticket_id=ticket.id)

    first = flush(desk)

    assert first == FlushReport(sent=0, retrying=1, failed=0)
    row = outbox_row(desk, mail_id)
    assert (row.status, row.recipients, row.attempts) == ("queued", "busy@acme.pl", 1)
    assert row.next_attempt_at == NOW + RETRY_DELAYS[0]
    assert "busy@acme.pl: 450 4.2.1 Mailbox busy" in row.last_error
    assert flush(desk) == FlushReport()  # not due yet

    del smtp_sink.handler.refuse["busy@acme.pl"]
    now[0] = NOW + RETRY_DELAYS[0]
    assert flush(desk).sent == 1

    row = outbox_row(desk, mail_id)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, now[0])
    [to_jan] = [m for m in smtp_sink.to("jan@acme.pl") if b"Subject: m1" in m.content]
    [to_busy] = smtp_sink.to("busy@acme.pl")
    assert to_busy.rcpt_tos == ("busy@acme.pl",)
    assert to_busy.content == to_jan.content  # the same Message-ID: a client folds the two


def test_one_flush_sends_a_backlog_bigger_than_its_round(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """A burst (the inbox after a holiday) goes out in one flush, ``limit`` mails a round."""
    queue_acks(desk, imap_client, *(f"k{n}@acme.pl" for n in range(23)))

    report = flush(desk, limit=5)

    assert report.sent == 23
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(
        f"k{n}@acme.pl" for n in range(23)
    )
    assert {status for _, status in statuses(desk)} == {"sent"}


def test_marks_and_claims_of_the_workers_share_commits(desk: Desk, smtp_sink: SmtpSink) -> None:
    """A "sent" mark is committed with the claim of its worker's next mail and with the
    other workers' writes of the moment: about one commit (one disk flush) per round of
    the workers, not two per mail."""
    desk = with_smtp(desk, connections=4)
    smtp_sink.handler.hold_data = 4  # the first four accepted at once: their marks meet
    ids = [queue(desk, f"k{n}@acme.pl", subject=f"m{n}") for n in range(16)]

    with recorded_transactions(desk) as transactions:
        report = flush(desk)

    assert report.sent == 16 and len(smtp_sink.messages) == 16
    assert [outbox_row(desk, i).status for i in ids] == ["sent"] * 16
    marks = [sum("sent_at" in sql for sql in t) for t in transactions]
    assert sum(marks) == 16
    assert max(marks) >= 2, transactions  # marks of several workers in one commit
    # Each worker: its first claim, then a mark with the next claim, its last mark alone.
    assert len(transactions) <= 16 + 2 * 4, f"{len(transactions)} commits for 16 mails"


@contextmanager
def recorded_transactions(desk: Desk) -> Iterator[list[list[str]]]:
    """The statements of each transaction committed on ``desk``'s engine meanwhile (one for
    each row of an executemany)."""
    transactions: list[list[str]] = []
    open_ones: dict[int, list[str]] = {}

    def statement(
        connection: sa.Connection, cursor: object, sql: str, values: Any, _: object, many: bool
    ) -> None:  # a statement run for many rows at once counts once for each
        open_ones.setdefault(id(connection), []).extend([sql] * (len(values) if many else 1))

    def commit(connection: sa.Connection) -> None:
        transactions.append(open_ones.pop(id(connection), []))

    sa.event.listen(desk.engine, "before_cursor_execute", statement)
    sa.event.listen(desk.engine, "commit", commit)
    try:
        yield transactions
    finally:
        sa.event.remove(desk.engine, "before_cursor_execute", statement)
        sa.event.remove(desk.engine, "commit", commit)


def test_a_worker_sends_its_next_mail_only_once_the_one_before_is_marked(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    """The once-only window stays one mail per connection with shared commits: whenever the
    server is handed a mail, of the mails it accepted before at most one per *other*
    connection is not marked sent yet (the worker's own mail before is)."""
    connections = 3
    desk = with_smtp(desk, connections=connections)
    ids = {f"<m{n}@desk.example.pl>": queue(desk, f"k{n}@acme.pl", subject=f"m{n}")
           for n in range(18)}  # fmt: skip
    unmarked_at_data: list[int] = []
    take_data = smtp_sink.handler.handle_DATA

    async def handle_data(server: object, session: object, envelope: Any) -> str:
        accepted = {message_id(m.content) for m in smtp_sink.messages}
        with Session(desk.engine) as reading:
            rows = reading.exec(
                select(OutboxRow.status).where(col(OutboxRow.id).in_([ids[a] for a in accepted]))
            ).all()
        unmarked_at_data.append(sum(status != "sent" for status in rows))
        return await take_data(server, session, envelope)

    smtp_sink.handler.handle_DATA = handle_data  # type: ignore[method-assign]

    assert flush(desk).sent == 18

    assert len(unmarked_at_data) == 18
    assert max(unmarked_at_data) <= connections - 1, unmarked_at_data
    assert [outbox_row(desk, i).status for i in ids.values()] == ["sent"] * 18


def test_a_mail_read_ahead_goes_as_claimed_or_not_at_all_when_its_row_changed_meanwhile(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    """A worker reads its next mail ahead and starts its envelope before the claim is
    committed: if the row changed in between, the claimed one goes; if another flusher
    took it, nothing goes."""
    desk = with_smtp(desk, connections=1)
    ids = [queue(desk, "a@acme.pl", subject=f"m{n}") for n in range(3)]  # one worker, in turn
    change = {  # at the server's DATA of the mail before, once each was read ahead
        "m0": {"recipients": "a@acme.pl,b@acme.pl"},
        "m1": {"status": "sending"},  # another flusher's claim
    }
    take_data = smtp_sink.handler.handle_DATA

    async def handle_data(server: object, session: object, envelope: Any) -> str:
        [subject] = subjects([ReceivedMail("", (), envelope.original_content)])
        if subject in change:
            later = ids[int(subject[1:]) + 1]
            with Session(desk.engine) as writing:
                writing.execute(
                    sa.update(OutboxRow).where(col(OutboxRow.id) == later).values(change[subject])
                )
                writing.commit()
        return await take_data(server, session, envelope)

    smtp_sink.handler.handle_DATA = handle_data  # type: ignore[method-assign]

    assert flush(desk) == FlushReport(sent=2)

    assert [(m.rcpt_tos, subjects([m])) for m in smtp_sink.messages] == [
        (("a@acme.pl",), ["m0"]),
        (("a@acme.pl", "b@acme.pl"), ["m1"]),
    ]
    assert [outbox_row(desk, i).status for i in ids] == ["sent", "sent", "sending"]


def message_id(content: bytes) -> str:
    found = re.search(rb"^Message-ID: (\S+)", content, re.MULTILINE)
    return found[1].decode() if found else ""


def test_a_claim_names_its_owner(desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink) -> None:
    queue_acks(desk, imap_client, "jan@acme.pl")
    flush(desk)
    with Session(desk.engine) as session:
        row = session.exec(select(OutboxRow)).one()
    me = claim_owner(desk)
    assert (row.status, row.claimed_by, row.claimed_pid) == ("sent", me.instance, os.getpid())
    assert (row.claimed_started, row.claim_token) == (me.started, me.token)
    assert me.instance == f"{socket.gethostname()}:{desk.settings.state_dir.absolute()}"
    assert me.started is not None  # Linux: the process's start from /proc


# --- claims of dead processes ---------------------------------------------------------

# A flusher in a process of its own: the test's settings (pickled on stdin), the test's clock.
FLUSHER = """
import asyncio, pickle, sys
from datetime import datetime
from mailbot.adapters.smtp import make_sender
from mailbot.usecases.outbox import flush_outbox
from mailbot.bootstrap import build_desk
settings = pickle.load(sys.stdin.buffer)
now = datetime.fromisoformat(sys.argv[1])
desk = build_desk(settings, clock=lambda: now)
asyncio.run(flush_outbox(desk, make_sender(settings.smtp)))
"""
WAIT = 30.0  # seconds: a deadline for conditions, reached only when something is wrong


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not after {WAIT} s: {what}")
        time.sleep(0.02)


@contextmanager
def flusher_stuck_sending(
    desk: Desk, tmp_path: Path, *, state_dir: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Another process flushing ``desk``'s outbox, stuck sending its claimed mail: its SMTP
    server takes the connection but never greets (the claim is made, nothing is sent).
    With ``state_dir`` it is another instance (on this machine)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes connections; nobody ever answers them
        smtp = replace(
            desk.settings.smtp, port=silent.getsockname()[1], timeout=timedelta(minutes=2)
        )
        settings = replace(desk.settings, smtp=smtp, state_dir=state_dir or desk.settings.state_dir)
        with (tmp_path / "flusher.log").open("wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-c", FLUSHER, NOW.isoformat()], stdin=subprocess.PIPE, stderr=log
            )
        try:
            assert child.stdin is not None
            child.stdin.write(pickle.dumps(settings))
            child.stdin.close()
            _until(lambda: _claimed_by(desk) == child.pid or child.poll() is not None, "a claim")
            assert child.poll() is None, (tmp_path / "flusher.log").read_text()
            yield child
        finally:
            child.kill()
            child.wait()


def _claimed_by(desk: Desk) -> int | None:
    with Session(desk.engine) as session:
        row = session.exec(select(OutboxRow).where(OutboxRow.status == "sending")).first()
        return None if row is None else row.claimed_pid


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_start_takes_back_at_once_the_claims_of_its_own_dead_process(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    queue_acks(desk, imap_client, "jan@acme.pl")
    with flusher_stuck_sending(desk, tmp_path) as other:
        kill(other)
    assert statuses(desk) == [("jan@acme.pl", "sending")]

    assert take_back(desk) == 1  # at once: the clock has not moved
    assert statuses(desk) == [("jan@acme.pl", "queued")]
    assert flush(desk).sent == 1
    assert len(smtp_sink.messages) == 1
    assert take_back(desk) == 0


def test_the_claims_of_a_live_process_are_not_taken_back(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    queue_acks(desk, imap_client, "jan@acme.pl")
    with flusher_stuck_sending(desk, tmp_path):
        assert take_back(desk) == 0
        assert flush(desk) == FlushReport()
        assert statuses(desk) == [("jan@acme.pl", "sending")]
    assert smtp_sink.messages == []


def test_another_instances_claims_wait_for_the_stale_limit(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    queue_acks(desk, imap_client, "jan@acme.pl")
    with flusher_stuck_sending(desk, tmp_path, state_dir=tmp_path / "other") as other:
        kill(other)

    assert take_back(desk) == 0  # dead, but not this instance's: it cannot know
    assert flush(desk) == FlushReport()
    assert flush(replace(desk, clock=lambda: NOW + STALE_CLAIM - timedelta(seconds=1))) == (
        FlushReport()
    )
    assert statuses(desk) == [("jan@acme.pl", "sending")]
    assert flush(replace(desk, clock=lambda: NOW + STALE_CLAIM)).sent == 1
    assert len(smtp_sink.messages) == 1


def test_a_kill_before_the_shared_commit_resends_at_most_one_mail_per_connection(
    desk: Desk, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A flusher is killed the moment the server has taken three mails at once, one per
    connection, whose marks share a commit that has not happened (or not for all): the
    restart sends again only mails the dead process held claimed, at most one per connection."""
    connections = 3
    desk = with_smtp(desk, connections=connections)
    ids = [queue(desk, f"k{n}@acme.pl", subject=f"m{n}") for n in range(12)]
    smtp_sink.handler.hold_data = connections  # the first three are taken together
    flusher: list[subprocess.Popen[bytes]] = []
    take_data = smtp_sink.handler.handle_DATA

    async def handle_data(server: object, session: object, envelope: Any) -> str:
        reply = await take_data(server, session, envelope)
        if len(smtp_sink.messages) == connections:  # taken: killed before it hears so
            flusher[0].send_signal(signal.SIGKILL)
        return reply

    smtp_sink.handler.handle_DATA = handle_data  # type: ignore[method-assign]
    with (tmp_path / "flusher.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", FLUSHER, NOW.isoformat()], stdin=subprocess.PIPE, stderr=log
        )
    flusher.append(child)
    assert child.stdin is not None
    child.stdin.write(pickle.dumps(desk.settings))
    child.stdin.close()
    assert child.wait(timeout=WAIT) == -signal.SIGKILL, (tmp_path / "flusher.log").read_text()
    with Session(desk.engine) as session:
        held = session.exec(
            select(OutboxRow.message_id).where(
                OutboxRow.status == "sending", OutboxRow.claimed_pid == child.pid
            )
        ).all()

    assert 1 <= len(held) <= connections  # the last one taken is unmarked for sure
    assert take_back(desk) == len(held)
    assert flush(desk).sent == len(held) + 12 - connections

    assert [outbox_row(desk, i).status for i in ids] == ["sent"] * 12
    copies = Counter(message_id(m.content) for m in smtp_sink.messages)
    assert set(copies) == {f"<m{n}@desk.example.pl>" for n in range(12)}
    resent = {mid for mid, count in copies.items() if count > 1}
    assert resent <= set(held)  # only a mail claimed by the dead process goes out twice
    assert 1 <= len(resent) <= connections and max(copies.values()) == 2


def test_a_process_is_gone_when_its_pid_ended_or_was_reused() -> None:
    me = os.getpid()
    started = process_start(me)
    assert started is not None
    assert not process_gone(me, started)
    assert not process_gone(me, None)  # start unknown: the pid alone
    assert process_gone(me, started + 1)  # the pid now names another process
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert process_gone(ended.pid, None)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    _until(lambda: Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] == "Z", "zombie")
    assert process_gone(zombie.pid, None)  # ended, not yet reaped
    zombie.wait()
