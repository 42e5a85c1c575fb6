"""Reminders and escalations end to end: Dovecot in, aiosmtpd out, the clock injected."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import AlertRow, OutboxRow
from mailbot.core.tickets import TicketStatus
from mailbot.usecases.desk import Desk
from mailbot.usecases.reminders import sweep
from mailbot.usecases.ticket_changes import set_status
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import (
    NOW,
    STAFF,
    Clock,
    customer_mail,
    deliver,
    run_once,
)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def vip_desk(desk: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink) -> Desk:
    """A desk at NOW with one VIP ticket, SOL-1, received at NOW and acknowledged."""
    timed = Desk(desk.engine, desk.settings, desk.renderer, desk.store, clock=clock)
    deliver(imap_client, customer_mail("jan@acme.pl", "Serwer stoi"))
    run_once(timed)
    assert len(smtp_sink.of_kind("ack")) == 1
    return timed


def staff_mails(smtp_sink: SmtpSink) -> list[email.message.EmailMessage]:
    """The reminders and escalations the staff received."""
    alerts = smtp_sink.of_kind("reminder", "escalation")
    parsed = [email.message_from_bytes(m.content, policy=email.policy.default) for m in alerts]
    return [m for m in parsed if isinstance(m, email.message.EmailMessage) and m["To"] == STAFF[0]]


def test_reminders_at_30_and_50_minutes_and_escalation_at_61(
    vip_desk: Desk, clock: Clock, smtp_sink: SmtpSink
) -> None:
    """VIP reaction (1 h) with the default reminders 30 and 10 minutes before."""
    clock.now = NOW + timedelta(minutes=29)
    run_once(vip_desk)
    assert staff_mails(smtp_sink) == []

    clock.now = NOW + timedelta(minutes=30)
    run_once(vip_desk)
    clock.now = NOW + timedelta(minutes=50)
    run_once(vip_desk)
    first, second = staff_mails(smtp_sink)
    assert first["Subject"].startswith("[SOL-1] Przypomnienie: termin reakcji za 30 min")
    assert second["Subject"].startswith("[SOL-1] Przypomnienie: termin reakcji za 10 min")
    assert second["Auto-Submitted"] == "auto-generated"
    assert "spóźnione" not in second.get_content()

    clock.now = NOW + timedelta(minutes=61)
    run_once(vip_desk)
    run_once(vip_desk)
    *_, escalation = staff_mails(smtp_sink)
    assert len(staff_mails(smtp_sink)) == 3
    assert escalation["Subject"].startswith("[SOL-1] Przekroczony termin reakcji")
    assert "1 min temu" in escalation.get_content()
    with Session(vip_desk.engine) as session:
        rows = session.exec(select(AlertRow).order_by(AlertRow.planned_at)).all()
    assert [(r.kind, r.escalation, r.status, r.late) for r in rows] == [
        ("reaction", False, "queued", False),
        ("reaction", False, "queued", False),
        ("reaction", True, "queued", False),
    ]


def test_a_missed_reminder_is_skipped_for_the_next_one(
    vip_desk: Desk, clock: Clock, smtp_sink: SmtpSink
) -> None:
    clock.now = NOW + timedelta(minutes=50)  # down from T+29 to T+50: the 30 min one was missed

    run_once(vip_desk)

    [reminder] = staff_mails(smtp_sink)
    assert "za 10 min" in reminder["Subject"]


def test_no_reminder_once_staff_reacted(vip_desk: Desk, clock: Clock, smtp_sink: SmtpSink) -> None:
    clock.now = NOW + timedelta(minutes=20)
    with Session(vip_desk.engine) as session:
        ticket = repo.ticket_by_number("SOL-1", session=session)
        assert ticket is not None
        set_status(
            vip_desk,
            ticket,
            TicketStatus.OPEN,
            by="tech@desk.example.pl",
            by_staff=True,
            now=clock.now,
            session=session,
        )
        session.commit()

    for minutes in (30, 50, 61, 120):
        clock.now = NOW + timedelta(minutes=minutes)
        run_once(vip_desk)

    assert staff_mails(smtp_sink) == []


def test_after_downtime_one_late_escalation_instead_of_three_mails(
    vip_desk: Desk, clock: Clock, smtp_sink: SmtpSink
) -> None:
    clock.now = NOW + timedelta(minutes=75)  # the daemon was down since NOW

    run_once(vip_desk)

    [escalation] = staff_mails(smtp_sink)
    assert escalation["Subject"].startswith("[SOL-1] Przekroczony termin reakcji")
    assert "spóźniona" in escalation.get_content()


def test_a_crash_between_queueing_and_sending_sends_the_reminder_once(
    vip_desk: Desk, clock: Clock, smtp_sink: SmtpSink
) -> None:
    clock.now = NOW + timedelta(minutes=30)
    sweep(vip_desk)  # queued in the outbox; the process dies before the flush

    run_once(vip_desk)  # the restarted daemon
    run_once(vip_desk)

    assert len(staff_mails(smtp_sink)) == 1
    with Session(vip_desk.engine) as session:
        kinds = [
            row.kind for row in session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
        ]
    assert kinds == ["staff_new", "ack", "reminder"]


def test_waiting_stops_the_resolution_clock_and_the_answer_moves_it(
    vip_desk: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    with Session(vip_desk.engine) as session:
        ticket = repo.ticket_by_number("SOL-1", session=session)
        assert ticket is not None
        before = ticket.resolution_due
        clock.now = NOW + timedelta(minutes=10)
        set_status(
            vip_desk,
            ticket,
            TicketStatus.WAITING,
            by="tech@desk.example.pl",
            by_staff=True,
            now=clock.now,
            session=session,
        )
        session.commit()
    clock.now = NOW + timedelta(hours=3, minutes=10)
    deliver(
        imap_client,
        customer_mail("jan@acme.pl", "Re: [SOL-1] Serwer stoi", "Już odpowiadam.\n"),
        at=clock.now,
    )

    run_once(vip_desk)

    with Session(vip_desk.engine) as session:
        ticket = repo.ticket_by_number("SOL-1", session=session)
        assert ticket is not None
        assert ticket.status == "open"
        assert ticket.resolution_due - before == timedelta(hours=3)  # VIP: 24/7, all of it counts
