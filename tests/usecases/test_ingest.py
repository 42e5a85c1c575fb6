"""End to end against real servers: Dovecot in, aiosmtpd out, SQLite (and PostgreSQL).

Each test puts mail in a fresh Dovecot account, runs what ``mailbot run
--once`` runs (one poll, one outbox flush) and looks at the results where a
person would: the IMAP folders, the SMTP server's mail and the tickets.
"""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import AttachmentRow, LedgerRow, MessageRow, OutboxRow, TicketRow
from mailbot.adapters.imap import ImapSource
from mailbot.adapters.mailbox import Destination
from mailbot.adapters.maildir import MaildirSource
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import ingest
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import NOW, SUPPORT, customer_mail, deliver, run_once


def tickets(desk: Desk) -> list[TicketRow]:
    with Session(desk.engine) as session:
        return list(session.exec(select(TicketRow).order_by(TicketRow.seq)).all())


def parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_vip_mail_opens_one_vip_ticket_and_gets_one_acknowledgement(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    raw = customer_mail("jan@acme.pl", "Serwer nie odpowiada")
    received = NOW - timedelta(minutes=20)  # mailbot was down when the mail arrived
    deliver(imap_client, raw, at=received)

    run_once(desk)

    [ticket] = tickets(desk)
    assert (ticket.number, ticket.tier, ticket.contract_id, ticket.status) == (
        "SOL-1",
        "vip",
        "acme-vip",
        "new",
    )
    assert ticket.received_at == received
    assert ticket.customer_id is not None
    assert ticket.reaction_due == received + timedelta(hours=1)
    assert ticket.resolution_due == received + timedelta(days=2)
    [sent] = smtp_sink.of_kind("ack")
    assert sent.rcpt_tos == ("jan@acme.pl",)
    assert sent.mail_from == SUPPORT
    ack = parse(sent.content)
    assert ack["Subject"].startswith("[SOL-1] ")
    assert "Serwer nie odpowiada" in ack["Subject"]
    assert ack["In-Reply-To"] == parse(raw)["Message-ID"]
    assert parse(raw)["Message-ID"] in ack["References"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Message-ID"] and ack["Message-ID"] != parse(raw)["Message-ID"]
    body = ack.get_content()
    # deadlines in the customer's local time (Warsaw, CET in November)
    assert "2026-11-18 11:10 CET" in body and "2026-11-20 10:10 CET" in body
    assert "VIP" in body
    # the mail left the inbox only for the processed folder, unchanged
    assert imap_client.messages("INBOX") == []
    assert [m for _, m in imap_client.messages("Processed")] == [raw]


def test_a_mailbox_date_in_the_future_counts_as_now(desk: Desk, tmp_path: Path) -> None:
    """A skewed mailbox clock must not push deadlines out. (Dovecot refuses future
    INTERNALDATEs itself, so this uses a Maildir, whose file names carry the time.)"""
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    future = int((NOW + timedelta(hours=3)).timestamp())
    (maildir / "new" / f"{future}.M1P1.mailhost").write_bytes(customer_mail("jan@acme.pl", "Zegar"))

    ingest(desk, MaildirSource(maildir, "Processed", "Quarantine"))

    [ticket] = tickets(desk)
    assert ticket.received_at == NOW


def test_unknown_sender_gets_post_warranty_and_the_price(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, customer_mail("ktos@gmail.example", "Laptop się nie włącza"))

    run_once(desk)

    [ticket] = tickets(desk)
    assert (ticket.tier, ticket.contract_id) == ("post_warranty", None)
    # 14 working days from Wednesday 18 November 10:30 CET: 19-20 Nov (2), 23-27 Nov (7),
    # 30 Nov-4 Dec (12), 7-8 Dec (14): Tuesday 8 December 10:30 CET.
    assert ticket.resolution_due == datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    [sent] = smtp_sink.of_kind("ack")
    body = parse(sent.content).get_content()
    assert "120 PLN netto" in body and "23% VAT" in body
    assert parse(sent.content)["Subject"].startswith("[SOL-1] ")


def test_domain_contract_gives_warranty(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, customer_mail("maria@klos.pl", "Kasa fiskalna"))

    run_once(desk)

    [ticket] = tickets(desk)
    assert (ticket.tier, ticket.contract_id) == ("warranty", "klos-gw")
    assert "gwarancji" in parse(smtp_sink.of_kind("ack")[0].content).get_content()


def test_broken_mail_is_quarantined_and_the_next_is_still_processed(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    # No headers, no sender: nothing to open a ticket for. (No NUL bytes: Dovecot rewrites those.)
    broken = b"\xff\xfe this is no mail at all\r\n\r\n\x80\x81 garbage\r\n"
    deliver(imap_client, broken)
    deliver(imap_client, customer_mail("jan@acme.pl", "Drugie zgłoszenie"))

    run_once(desk)

    assert [m for _, m in imap_client.messages("Quarantine")] == [broken]
    assert len(imap_client.messages("Processed")) == 1
    assert imap_client.messages("INBOX") == []
    assert [t.subject for t in tickets(desk)] == ["Drugie zgłoszenie"]
    assert len(smtp_sink.of_kind("ack")) == 1
    with Session(desk.engine) as session:
        outcomes = sorted(row.outcome for row in session.exec(select(LedgerRow)))
        reasons = [
            row.reason
            for row in session.exec(select(LedgerRow).where(LedgerRow.outcome == "quarantined"))
        ]
    assert outcomes == ["quarantined", "ticket"]
    assert "sender" in reasons[0]


def test_running_once_twice_opens_no_second_ticket(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, customer_mail("jan@acme.pl", "Raz"))

    run_once(desk)
    run_once(desk)

    assert len(tickets(desk)) == 1
    assert len(smtp_sink.of_kind("ack")) == 1


class CrashOnMove(ImapSource):
    """The real adapter, dying the way a killed process would: after the commit, before the move."""

    def move_all(self, uids: Sequence[str], *, to: Destination) -> None:
        raise KeyboardInterrupt("killed between commit and move")


def test_crash_after_commit_before_move_does_not_open_a_second_ticket(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """The ledger remembers the mail: found again in the inbox, it is only moved."""
    deliver(imap_client, customer_mail("jan@acme.pl", "Raz"))
    with pytest.raises(KeyboardInterrupt):
        ingest(desk, CrashOnMove(desk.settings.imap))
    assert len(imap_client.messages("INBOX")) == 1

    run_once(desk)

    assert len(tickets(desk)) == 1
    assert len(smtp_sink.of_kind("ack")) == 1, (
        "the acknowledgement queued before the crash goes out once"
    )
    assert imap_client.messages("INBOX") == []
    assert len(imap_client.messages("Processed")) == 1


def test_the_same_mail_delivered_twice_opens_one_ticket(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """Same Message-ID under a new UID (sent to two of our aliases, or restored by an admin)."""
    raw = customer_mail("jan@acme.pl", "Raz")
    deliver(imap_client, raw)
    run_once(desk)
    deliver(imap_client, raw)

    run_once(desk)

    assert len(tickets(desk)) == 1
    assert len(smtp_sink.of_kind("ack")) == 1
    assert imap_client.messages("INBOX") == []
    assert len(imap_client.messages("Processed")) == 2


def test_reply_with_the_tag_joins_the_ticket_without_a_second_acknowledgement(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, customer_mail("jan@acme.pl", "Drukarka"))
    run_once(desk)
    ack = parse(smtp_sink.of_kind("ack")[0].content)
    deliver(
        imap_client,
        customer_mail(
            "jan@acme.pl",
            "Re: [SOL-1] Drukarka",
            "Dalej nie działa.\n",
            In_Reply_To=ack["Message-ID"],
        ),
    )

    run_once(desk)

    assert len(tickets(desk)) == 1
    assert len(smtp_sink.of_kind("ack")) == 1
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number("SOL-1", session=session)
        assert ticket is not None and ticket.id is not None
        shown = [
            m.direction for m in repo.ticket_messages(ticket.id, session=session) if not m.internal
        ]
    assert shown == ["in", "out", "in"]  # the customer's mail, our acknowledgement, the answer


def test_auto_reply_opens_a_ticket_but_gets_no_acknowledgement(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(
        imap_client, customer_mail("jan@acme.pl", "Out of office", Auto_Submitted="auto-replied")
    )

    run_once(desk)

    assert len(tickets(desk)) == 1
    assert smtp_sink.of_kind("ack") == []
    with Session(desk.engine) as session:
        assert session.exec(select(OutboxRow).where(OutboxRow.kind == "ack")).all() == []


def test_smtp_outage_keeps_the_acknowledgement_queued_and_sends_it_once_later(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    now = [NOW]
    desk = Desk(desk.engine, desk.settings, desk.renderer, desk.store, clock=lambda: now[0])
    smtp_sink.reply_with("451 4.3.0 Try again later")
    deliver(imap_client, customer_mail("jan@acme.pl", "Pilne"))

    run_once(desk)
    assert smtp_sink.of_kind("ack") == []
    assert imap_client.messages("INBOX") == [], (
        "the mail is stored; the outage only delays the answer"
    )

    smtp_sink.reply_with("250 2.0.0 OK")
    run_once(desk)  # the mail that met the 451 waits its minute; the rest goes
    assert smtp_sink.of_kind("staff_new") == []
    now[0] = NOW + timedelta(minutes=2)
    run_once(desk)
    run_once(desk)
    assert len(smtp_sink.of_kind("ack")) == 1
    assert len(smtp_sink.of_kind("staff_new")) == 1


def test_a_broken_database_leaves_the_mail_in_the_inbox_not_in_quarantine(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """Storage failures are not the mail's fault: it waits in the inbox for the next poll."""
    deliver(imap_client, customer_mail("jan@acme.pl", "Baza"))
    tables = [AttachmentRow.__table__, MessageRow.__table__]  # type: ignore[attr-defined]
    for table in tables:
        table.drop(desk.engine)

    run_once(desk)  # logs the error; the daemon lives on

    assert len(imap_client.messages("INBOX")) == 1
    assert imap_client.messages("Quarantine") == []
    for table in reversed(tables):
        table.create(desk.engine)
    run_once(desk)
    assert imap_client.messages("INBOX") == []
    assert len(tickets(desk)) == 1
    assert len(smtp_sink.of_kind("ack")) == 1


def test_a_reused_message_id_with_other_content_is_kept_and_flagged(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """A mailer that guesses or reuses Message-IDs must not make real mail vanish."""
    deliver(
        imap_client,
        customer_mail("jan@acme.pl", "Pierwsze", "Serwer stoi.\n", Message_ID="<same@acme.pl>"),
    )
    run_once(desk)
    deliver(
        imap_client,
        customer_mail("ewa@klos.pl", "Drugie", "Drukarka.\n", Message_ID="<same@acme.pl>"),
    )

    run_once(desk)

    assert [t.subject for t in tickets(desk)] == ["Pierwsze", "Drugie"]
    with Session(desk.engine) as session:
        flagged = session.exec(select(MessageRow).where(MessageRow.subject == "Drugie")).one()
    assert "different content" in flagged.note


def test_a_mail_without_message_id_delivered_twice_opens_one_ticket(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    raw = customer_mail("jan@acme.pl", "Bez identyfikatora", "Treść.\n", Message_ID="")
    deliver(imap_client, raw)
    run_once(desk)
    deliver(imap_client, raw)

    run_once(desk)

    assert len(tickets(desk)) == 1
    assert len(smtp_sink.of_kind("ack")) == 1
    assert imap_client.messages("INBOX") == []


# --- received times that make sense (issue 13, item 9) ---------------------------------------


def maildir_with(tmp_path: Path, files: dict[str, tuple[bytes, datetime]]) -> MaildirSource:
    """A Maildir whose new/ holds ``files`` (name -> (mail, modification time)), put there
    by hand: their names are not Maildir unique names."""
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for name, (raw, mtime) in files.items():
        path = maildir / "new" / name
        path.write_bytes(raw)
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return MaildirSource(maildir, "Processed", "Quarantine")


def test_maildir_files_named_0_and_1_are_received_at_their_file_time(
    desk: Desk, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """Files named 0.eml and 1.eml once counted as received on 1970-01-01: no contract was
    valid then, and both deadlines were decades overdue (escalations at once)."""
    delivered = NOW - timedelta(minutes=10)
    source = maildir_with(
        tmp_path,
        {
            "0.eml": (customer_mail("jan@acme.pl", "Serwer"), delivered),
            "1.eml": (customer_mail("jan@acme.pl", "Drukarka"), delivered),
        },
    )

    ingest(desk, source)

    assert [(t.tier, t.contract_id, t.received_at) for t in tickets(desk)] == [
        ("vip", "acme-vip", delivered),
        ("vip", "acme-vip", delivered),
    ]
    assert all(t.reaction_due > NOW for t in tickets(desk))


def test_a_mailbox_date_before_2000_counts_as_intake_and_the_log_says_so(
    desk: Desk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lost = datetime(1980, 1, 1, tzinfo=UTC)  # e.g. unpacked from an archive without times
    source = maildir_with(tmp_path, {"restored.eml": (customer_mail("jan@acme.pl", "X"), lost)})

    ingest(desk, source)

    [ticket] = tickets(desk)
    assert (ticket.tier, ticket.received_at) == ("vip", NOW)
    [warning] = [r.getMessage() for r in caplog.records if "received at intake" in r.getMessage()]
    assert (
        "restored.eml" in warning
        and "mailbox date 1980-01-01T00:00:00+00:00 is before 2000" in warning
    )


def test_an_imap_date_days_before_the_mails_own_date_counts_as_intake(
    desk: Desk, imap_client: ImapPeer, caplog: pytest.LogCaptureFixture
) -> None:
    written = NOW - timedelta(hours=1)
    raw = customer_mail("jan@acme.pl", "Stary zegar")
    raw = raw.replace(b"Wed, 25 Nov 2026 10:29:00 +0100", b"Wed, 18 Nov 2026 09:30:00 +0100")
    deliver(imap_client, raw, at=written - timedelta(days=3))  # a mailbox clock days behind

    run_once(desk)

    [ticket] = tickets(desk)
    assert ticket.received_at == NOW
    assert any(
        "more than a day before the mail's Date header 2026-11-18T09:30:00+01:00" in r.getMessage()
        and "received at intake" in r.getMessage()
        for r in caplog.records
    )


def test_an_imap_date_within_a_day_of_the_mails_date_is_believed(
    desk: Desk, imap_client: ImapPeer, caplog: pytest.LogCaptureFixture
) -> None:
    raw = customer_mail("jan@acme.pl", "Serwer")
    raw = raw.replace(b"Wed, 25 Nov 2026 10:29:00 +0100", b"Wed, 18 Nov 2026 08:00:00 +0100")
    deliver(imap_client, raw, at=NOW - timedelta(hours=2))

    run_once(desk)

    [ticket] = tickets(desk)
    assert ticket.received_at == NOW - timedelta(hours=2)
    assert not [r for r in caplog.records if "received at intake" in r.getMessage()]
