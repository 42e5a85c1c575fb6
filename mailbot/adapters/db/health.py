"""The figures ``mailbot status`` judges the desk by: queues, mails taken, late tickets.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import LedgerRow, OutboxRow, TicketRow
from mailbot.adapters.db.tickets import unmet_by


def unsent_mails(statuses: Sequence[str], *, session: Session) -> tuple[int, datetime | None]:
    """How many mails are in ``statuses``, and when the oldest of them was queued."""
    count, oldest = session.exec(
        select(sa.func.count(), sa.func.min(OutboxRow.created_at)).where(
            col(OutboxRow.status).in_(statuses)
        )
    ).one()
    # min() over a TypeDecorator column comes back raw on SQLite: make it aware again.
    return int(count), _aware(oldest)


def mails_taken_since(moment: datetime, *, session: Session) -> int:
    return _count(session, LedgerRow, col(LedgerRow.processed_at) >= moment)


def outbox_with_status(status: str, *, session: Session) -> int:
    return _count(session, OutboxRow, col(OutboxRow.status) == status)


def overdue_tickets(now: datetime, *, session: Session) -> int:
    return _count(session, TicketRow, unmet_by(now))


def tickets_with_alert_due_by(moment: datetime, *, session: Session) -> int:
    return _count(session, TicketRow, col(TicketRow.next_alert_at) <= moment)


def _count(session: Session, table: Any, condition: sa.ColumnElement[bool]) -> int:
    return int(session.exec(select(sa.func.count()).select_from(table).where(condition)).one())


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite without type information
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
