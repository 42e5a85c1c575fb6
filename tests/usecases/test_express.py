"""Express service moves the resolution deadline of a post-warranty ticket: ``#express`` in a
staff reply and ``mailbot tickets set NUMBER express on|off`` (``update_ticket``), on a real
database, Dovecot in and aiosmtpd out, the clock injected.

NOW is Wednesday 18 November 2026, 10:30 in Warsaw (09:30 UTC). A post-warranty ticket
received then is due for resolution 14 working days later, on Tuesday 8 December 10:30; an
express one 2 working days later, on Friday 20 November 10:30.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import AlertRow, SlaEventRow
from mailbot.usecases.desk import Desk
from mailbot.usecases.reminders import sweep
from mailbot.usecases.ticket_changes import update_ticket
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import NOW, Clock, customer_mail
from tests.usecases.test_conversation import last_of, staff_reply, step, ticket

NORMAL_DUE = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
EXPRESS_DUE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
STRANGER = "anna@example.com"  # no contract: post-warranty


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def timed(desk: Desk, clock: Clock) -> Desk:
    return Desk(desk.engine, desk.settings, desk.renderer, desk.store, clock=clock)


def events(desk: Desk, kind: str) -> list[str]:
    with Session(desk.engine) as session:
        rows = session.exec(select(SlaEventRow).where(SlaEventRow.kind == kind)).all()
        return [row.detail for row in rows]


def set_field(
    desk: Desk, field: str, value: str, *, at: datetime, number: str = "SOL-1"
) -> list[str]:
    """``mailbot tickets set NUMBER FIELD VALUE`` at ``at``, as the CLI does it."""
    with Session(desk.engine) as session:
        row = repo.ticket_by_number(number, session=session)
        assert row is not None
        said = update_ticket(desk, row, field, value, by="admin", now=at, session=session)
        session.commit()
    return said


def test_hash_express_in_a_staff_reply_moves_the_resolution_deadline_and_its_alerts(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail(STRANGER, "Laptop nie startuje"), 0)
    assert ticket(timed).resolution_due == NORMAL_DUE
    notification = last_of(smtp_sink, "staff_new")

    reply = staff_reply("#express\nZajmiemy się tym w trybie ekspresowym.", notification)
    step(timed, clock, imap_client, reply, 20)

    sol1 = ticket(timed)
    assert sol1.express and sol1.status == "open"
    assert sol1.resolution_due == EXPRESS_DUE
    assert sol1.reaction_due == datetime(2026, 11, 19, 9, 30, tzinfo=UTC)  # unchanged
    [moved] = events(timed, "express")
    assert moved.startswith("express: the resolution deadline runs on the express window 2d;")
    assert moved.endswith("resolution due 2026-11-20 10:30 CET")
    # The reaction is met; the first alert left is the resolution reminder 1 working day
    # before the express deadline.
    assert sol1.next_alert_at == EXPRESS_DUE - timedelta(days=1)

    # Past the express deadline the sweep escalates it, not the 14-day one.
    clock.now = EXPRESS_DUE + timedelta(minutes=1)
    sweep(timed)
    with Session(timed.engine) as session:
        alerts = session.exec(select(AlertRow).where(AlertRow.status == "queued")).all()
        [escalation] = [alert for alert in alerts if alert.escalation]
    assert (escalation.kind, escalation.due_at) == ("resolution", EXPRESS_DUE)


def test_tickets_set_express_on_and_off_with_time_waiting_for_the_customer(
    timed: Desk, clock: Clock, imap_client: ImapPeer
) -> None:
    step(timed, clock, imap_client, customer_mail(STRANGER, "Laptop nie startuje"), 0)

    said = set_field(timed, "express", "on", at=NOW + timedelta(minutes=10))
    assert said[0] == "express -> on" and said[1].endswith("resolution due 2026-11-20 10:30 CET")
    assert ticket(timed).resolution_due == EXPRESS_DUE

    # The ticket waits for the customer from Wednesday 11:30 to Thursday 11:30: one working
    # day that does not count, so the express deadline moves to Monday 23 November.
    set_field(timed, "status", "waiting", at=NOW + timedelta(hours=1))
    assert ticket(timed).resolution_due == EXPRESS_DUE  # the pause has not ended yet
    set_field(timed, "status", "open", at=NOW + timedelta(hours=25))
    sol1 = ticket(timed)
    assert sol1.express and sol1.paused_seconds == 24 * 3600
    assert sol1.resolution_due == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

    # Off: the normal 14 working days, plus the day waited (Wednesday 9 December).
    said = set_field(timed, "express", "off", at=NOW + timedelta(hours=26))
    assert said[0] == "express -> off"
    sol1 = ticket(timed)
    assert not sol1.express
    assert sol1.resolution_due == NORMAL_DUE + timedelta(days=1)
    assert [event.partition(";")[0] for event in events(timed, "express")] == [
        "express: the resolution deadline runs on the express window 2d",
        "express off: the resolution deadline runs on the window 14d",
    ]
    assert events(timed, "flag") == ["express on by admin", "express off by admin"]


def test_express_on_another_tier_keeps_its_deadlines(
    timed: Desk, clock: Clock, imap_client: ImapPeer
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Drukarka"), 0)  # VIP
    before = ticket(timed)
    assert before.tier == "vip"

    said = set_field(timed, "express", "on", at=NOW + timedelta(minutes=10))

    after = ticket(timed)
    assert after.express  # the billing mark, as before (billing ignores it off post-warranty)
    assert (after.reaction_due, after.resolution_due) == (
        before.reaction_due,
        before.resolution_due,
    )
    assert said[1].startswith("express: this tier has no express service, the deadlines stay;")
