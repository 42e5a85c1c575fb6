"""A ticket row's SLA: read it as core values, write changes back, keep ``next_alert_at`` right."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailbot.adapters import db
from mailbot.adapters.db import Session, SlaEventRow, TicketRow, alert_keys
from mailbot.core.sla import Deadlines, SlaClock, TierPolicy, clock_deadlines, next_alert_at


def clock_of(ticket: TicketRow) -> SlaClock:
    return SlaClock(
        received_at=ticket.received_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        paused_since=ticket.paused_since,
        paused=timedelta(seconds=ticket.paused_seconds),
        express=ticket.express,
    )


def deadlines_of(ticket: TicketRow) -> Deadlines:
    return Deadlines(ticket.reaction_due, ticket.resolution_due)


def store_clock(
    ticket: TicketRow, clock: SlaClock, policy: TierPolicy, *, session: Session
) -> None:
    """Write ``clock`` to ``ticket``, recompute its deadlines from the received time (on the
    express window when it is express), and its next alert."""
    due = clock_deadlines(clock, policy)
    ticket.first_response_at = clock.first_response_at
    ticket.resolved_at = clock.resolved_at
    ticket.paused_since = clock.paused_since
    ticket.paused_seconds = clock.paused.total_seconds()
    ticket.express = clock.express
    ticket.reaction_due = due.reaction_due
    ticket.resolution_due = due.resolution_due
    refresh_next_alert(ticket, policy, session=session)


def refresh_next_alert(ticket: TicketRow, policy: TierPolicy, *, session: Session) -> None:
    done = alert_keys(ticket.id, session=session) if ticket.id is not None else set()
    ticket.next_alert_at = next_alert_at(clock_of(ticket), policy, deadlines_of(ticket), done=done)
    session.add(ticket)


def record_event(
    ticket: TicketRow, kind: str, detail: str, *, at: datetime, session: Session
) -> None:
    assert ticket.id is not None
    db.add_row(SlaEventRow, session=session, ticket_id=ticket.id, at=at, kind=kind, detail=detail)
