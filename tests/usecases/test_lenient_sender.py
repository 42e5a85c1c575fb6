"""Senders RFC 5322 cannot read (issue 18, item 2), end to end: Dovecot in, aiosmtpd out,
SQLite (and PostgreSQL with MAILBOT_TEST_DATABASE_URL).

Such a mail opens a ticket flagged "sender read leniently" (its first message's note,
which ``tickets show`` prints, and the staff notification) and is acknowledged when the
repaired address is valid; a From without any address still goes to quarantine.
"""

from __future__ import annotations

import email
import email.policy
import uuid

from sqlmodel import Session, select

from mailbot.adapters.db import LedgerRow, MessageRow, OutboxRow, TicketRow
from mailbot.usecases.desk import Desk
from mailbot.usecases.views import ticket_detail
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import STAFF, SUPPORT, deliver, run_once
from tests.usecases.test_mail_safety import rows


def raw_mail(from_header: str, subject: str = "Drukarka", **headers: str) -> bytes:
    """A mail whose From is written as given, byte for byte (UTF-8 where it is not ASCII)."""
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (
        f"From: {from_header}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Date: Wed, 18 Nov 2026 10:29:00 +0100\r\nMessage-ID: <{uuid.uuid4().hex}@x.pl>\r\n"
        f"{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Nie działa drukarka.\r\n"
    ).encode()


def body_of(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def ledger(desk: Desk) -> list[tuple[str, str]]:
    return [(row.outcome, row.reason) for row in rows(desk, LedgerRow)]


def opening_note(desk: Desk) -> str:
    with Session(desk.engine) as session:
        first = session.exec(select(MessageRow).order_by(MessageRow.id)).first()
        assert first is not None
        return first.note


def test_an_unquoted_name_with_spaces_opens_a_flagged_ticket_that_is_acknowledged(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, raw_mail("Dział IT firma@example.pl"))

    run_once(desk)

    [ticket] = rows(desk, TicketRow)
    assert (ticket.customer_address, ticket.customer_name) == ("firma@example.pl", "Dział IT")
    assert "sender read leniently from From: Dział IT firma@example.pl" in opening_note(desk)
    [(outcome, reason)] = ledger(desk)
    assert outcome == "ticket" and "sender read leniently" in reason
    [ack] = smtp_sink.of_kind("ack")
    assert ack.rcpt_tos == ("firma@example.pl",)
    [staff_new] = smtp_sink.of_kind("staff_new")
    assert staff_new.rcpt_tos == STAFF
    text = body_of(staff_new.content)
    assert "nadawcę odczytano w trybie tolerancyjnym" in text
    assert "Dział IT firma@example.pl" in text
    # What `mailbot tickets show` prints, from the same dict its --json gives.
    detail = ticket_detail(desk.settings, ticket.number, now=ticket.received_at)
    assert detail is not None
    assert "sender read leniently" in detail["messages"][0]["note"]


def test_a_trailing_dot_on_a_contract_address_opens_an_unverified_ticket(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    # jan@acme.pl has a VIP contract, which requires an authenticated sender: a From read
    # leniently never proves one, so the ticket runs at post-warranty until jan confirms.
    deliver(imap_client, raw_mail("Jan Kowalski <jan@acme.pl.>"))

    run_once(desk)

    [ticket] = rows(desk, TicketRow)
    assert ticket.customer_address == "jan@acme.pl"
    assert (ticket.tier, ticket.contract_id, ticket.unverified_contract_id) == (
        "post_warranty",
        None,
        "acme-vip",
    )
    assert "no proof of a sender read leniently" in opening_note(desk)
    [ack] = smtp_sink.of_kind("ack")
    assert ack.rcpt_tos == ("jan@acme.pl",)
    [told] = smtp_sink.of_kind("staff_unverified_sender")
    text = body_of(told.content)
    assert "odczytano w trybie" in text and "serwer pocztowy" not in text


def test_a_lenient_sender_that_is_no_valid_address_gets_no_acknowledgement(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, raw_mail("Jan <jan@@example.pl>"))

    run_once(desk)

    [ticket] = rows(desk, TicketRow)
    assert ticket.customer_address == "jan@@example.pl"
    assert smtp_sink.of_kind("ack") == []
    assert len(smtp_sink.of_kind("staff_new")) == 1
    [(outcome, reason)] = ledger(desk)
    assert outcome == "ticket" and "not a valid address" in reason


def test_a_from_without_any_address_is_still_quarantined(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, raw_mail('"x@evil.example" <>'))

    run_once(desk)

    assert rows(desk, TicketRow) == []
    assert ledger(desk) == [("quarantined", "no sender address (From) could be read")]
    assert len(imap_client.messages("Quarantine")) == 1
    assert smtp_sink.messages == []


def test_a_bare_mailer_daemon_bounce_of_our_acknowledgement_marks_it_failed(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, raw_mail("Dział IT firma@example.pl"))
    run_once(desk)
    [ack] = [row for row in rows(desk, OutboxRow) if row.kind == "ack"]
    bounce = raw_mail(
        "MAILER-DAEMON",
        "failure notice",
        Return_Path="<>",
        In_Reply_To=ack.message_id,
    )
    deliver(imap_client, bounce)
    deliver(
        imap_client,
        raw_mail("Mail Delivery System <MAILER-DAEMON>", "Undelivered", Return_Path="<>"),
    )

    run_once(desk)

    outcomes = [outcome for outcome, _ in ledger(desk)]
    assert outcomes == ["ticket", "bounce", "quarantined"]
    [failed] = [row for row in rows(desk, OutboxRow) if row.id == ack.id]
    assert failed.status == "failed"
    reason = ledger(desk)[2][1]
    assert reason == "a bounce about no mail we sent (no address read)"
    assert len(rows(desk, TicketRow)) == 1
