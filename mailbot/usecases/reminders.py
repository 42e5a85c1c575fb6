"""The reminder sweep: reminders to staff before deadlines, an escalation after a missed one.

The state lives in the database, not in the scheduler: each open ticket
carries ``next_alert_at``, the moment of its earliest alert still to come, and
the sweep reads only the tickets whose moment has come, through an index. So
100,000 open tickets cost the sweep no more than 10, and nothing is lost when
the daemon restarts. Each alert is recorded (``alert``, unique per ticket and
key) in the same transaction that queues its mail in the outbox: at most one
mail per alert, even across crashes, and with several instances sweeping at
once (PostgreSQL locks each ticket row, skipping one that another instance
holds; on SQLite the alert's unique key refuses the second instance's copy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from mailbot.adapters import db as repo
from mailbot.adapters.db import AlertRow, IntegrityError, Session, TicketRow, alert_keys
from mailbot.core.humanize import human_duration
from mailbot.core.notices import Alert as AlertNotice
from mailbot.core.notices import Escalation, Reminder, StaffTier
from mailbot.core.sla import Alert, plan_alerts
from mailbot.core.tiers import Tier
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import STAFF_LANGUAGE, queue_staff_mail
from mailbot.usecases.sla_state import clock_of, deadlines_of

log = logging.getLogger("mailbot.alerts")


@dataclass
class SweepReport:
    tickets: int = 0
    sent: int = 0
    skipped: int = 0


def sweep(desk: Desk, *, limit: int = 500) -> SweepReport:
    """Queue every alert that is due now; each ticket in its own transaction."""
    now = desk.clock()
    report = SweepReport()
    with Session(desk.engine) as session:
        ids = repo.alert_due_ids(now, limit, session=session)
    for ticket_id in ids:
        if ticket_id is not None:
            _alert_ticket(desk, ticket_id, now, report)
    return report


def _alert_ticket(desk: Desk, ticket_id: int, now: datetime, report: SweepReport) -> None:
    try:
        _queue_due_alerts(desk, ticket_id, now, report)
    except IntegrityError:
        # SQLite has no FOR UPDATE: two instances may plan the same alert, and the alert's
        # unique key refuses the second one's whole transaction. That, and only that, is fine.
        if not _alerted_by_another(desk, ticket_id, now):
            raise
        log.info("ticket id %s: its due alerts were queued by another instance", ticket_id)


def _alerted_by_another(desk: Desk, ticket_id: int, now: datetime) -> bool:
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_id(ticket_id, session=session)
    return ticket is None or ticket.next_alert_at is None or ticket.next_alert_at > now


def _queue_due_alerts(desk: Desk, ticket_id: int, now: datetime, report: SweepReport) -> None:
    with Session(desk.engine) as session:
        # PostgreSQL: FOR UPDATE SKIP LOCKED (see ticket_to_sweep): a ticket being changed
        # elsewhere is left to the next sweep, without waiting.
        ticket = repo.ticket_to_sweep(ticket_id, session=session)
        if ticket is None or ticket.next_alert_at is None or ticket.next_alert_at > now:
            return
        policy = desk.policy.tiers[Tier(ticket.tier)]
        plan = plan_alerts(
            clock_of(ticket),
            policy,
            deadlines_of(ticket),
            done=alert_keys(ticket_id, session=session),
            now=now,
        )
        for alert in plan.skip:
            session.add(_row(ticket_id, alert, "skipped", now))
        for alert in plan.send:
            session.add(
                _row(ticket_id, alert, _queue_alert(desk, ticket, alert, now, session=session), now)
            )
        ticket.next_alert_at = plan.next_at
        session.add(ticket)
        session.commit()
    report.tickets += 1
    report.sent += len(plan.send)
    report.skipped += len(plan.skip)


def _row(ticket_id: int, alert: Alert, status: str, now: datetime) -> AlertRow:
    return AlertRow(
        ticket_id=ticket_id,
        key=alert.key,
        kind=alert.kind.value,
        escalation=alert.escalation,
        due_at=alert.due,
        planned_at=alert.at,
        status=status,
        late=alert.late(now),
        created_at=now,
    )


def _recipients(desk: Desk, ticket: TicketRow, alert: Alert) -> tuple[str, ...]:
    support = desk.settings.support
    if alert.escalation and support.escalation_address:
        return (support.escalation_address,)
    return (ticket.assignee,) if ticket.assignee else support.staff_addresses


def _queue_alert(
    desk: Desk, ticket: TicketRow, alert: Alert, now: datetime, *, session: Session
) -> str:
    """Queue the alert's mail; the alert's status."""
    what = "escalation" if alert.escalation else f"reminder {alert.before} before"
    customer = repo.contract_customer(ticket.contract_id, session=session)
    notice = alert_context(desk, ticket, alert, now, contract_customer=customer)
    recipients = _recipients(desk, ticket, alert)
    if not queue_staff_mail(desk, ticket, notice, now=now, session=session, recipients=recipients):
        log.warning(
            "%s: %s deadline %s: no staff address to send it to (set [support] staff_addresses)",
            ticket.number,
            alert.kind,
            what,
        )
        return "no_recipient"
    late = " (late)" if alert.late(now) else ""
    log.info(
        "%s: %s deadline %s queued for %s%s",
        ticket.number,
        alert.kind,
        what,
        ", ".join(recipients),
        late,
    )
    return "queued"


def alert_context(
    desk: Desk, ticket: TicketRow, alert: Alert, now: datetime, *, contract_customer: str
) -> AlertNotice:
    """The ``reminder`` or ``escalation`` mail of ``alert``."""
    notice = Escalation if alert.escalation else Reminder
    return notice(
        contract_customer=contract_customer,
        tier_label=StaffTier(ticket.tier),
        kind=alert.kind.value,
        due=desk.local_time(alert.due),
        planned_at=desk.local_time(alert.at),
        left=human_duration(alert.due - now, STAFF_LANGUAGE),
        overdue=human_duration(now - alert.due, STAFF_LANGUAGE),
        late=alert.late(now),
    )
