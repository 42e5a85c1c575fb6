"""Time recorded on tickets, read for ``mailbot time list`` and for the month's invoice.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import TicketRow, TimeEntryRow


def time_entries(
    *,
    session: Session,
    ticket_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Sequence[tuple[TimeEntryRow, TicketRow]]:
    """Entries with their tickets, oldest work first; ``start`` <= at < ``end`` when given."""
    query = select(TimeEntryRow, TicketRow).join(
        TicketRow, col(TicketRow.id) == col(TimeEntryRow.ticket_id)
    )
    if ticket_id is not None:
        query = query.where(TimeEntryRow.ticket_id == ticket_id)
    if start is not None:
        query = query.where(col(TimeEntryRow.at) >= start)
    if end is not None:
        query = query.where(col(TimeEntryRow.at) < end)
    return session.exec(query.order_by(col(TimeEntryRow.at), col(TimeEntryRow.id))).all()


def work_between(
    start: datetime, end: datetime, *, session: Session
) -> Sequence[tuple[TimeEntryRow, str]]:
    """The entries of work done in ``start`` <= at < ``end``, each with its ticket's number."""
    return session.exec(
        select(TimeEntryRow, TicketRow.number)
        .join(TicketRow, col(TicketRow.id) == col(TimeEntryRow.ticket_id))
        .where(col(TimeEntryRow.at) >= start, col(TimeEntryRow.at) < end)
    ).all()


def worked_or_unjustified(numbers: set[str], *, session: Session) -> Sequence[TicketRow]:
    """The tickets numbered ``numbers``, and every ticket marked unjustified."""
    return session.exec(
        select(TicketRow).where(
            sa.or_(col(TicketRow.number).in_(numbers), col(TicketRow.unjustified).is_(True))
        )
    ).all()
