"""Time recorded on tickets, read for ``mailbot time list`` and for the month's invoice.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

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


class WorkDone(NamedTuple):
    """One time entry of a month's work, as billing reads it."""

    number: str  # the ticket's
    at: datetime
    seconds: int


class TicketTerms(NamedTuple):
    """What billing reads of a ticket: the columns, not the row (a busy month has tens of
    thousands; building an ORM object for each took most of ``report billing``'s time)."""

    number: str
    received_at: datetime
    tier: str
    contract_id: str | None
    customer_address: str
    express: bool
    unjustified: bool
    warranty: bool


_TERMS = tuple(
    col(column)
    for column in (TicketRow.number, TicketRow.received_at, TicketRow.tier,
                   TicketRow.contract_id, TicketRow.customer_address, TicketRow.express,
                   TicketRow.unjustified, TicketRow.warranty)
)  # fmt: skip


def work_between(start: datetime, end: datetime, *, session: Session) -> list[WorkDone]:
    """The entries of work done in ``start`` <= at < ``end``, each with its ticket's number."""
    rows = session.exec(
        select(TicketRow.number, TimeEntryRow.at, TimeEntryRow.seconds)
        .join(TicketRow, col(TicketRow.id) == col(TimeEntryRow.ticket_id))
        .where(col(TimeEntryRow.at) >= start, col(TimeEntryRow.at) < end)
    )
    return [WorkDone._make(row) for row in rows]


def worked_or_unjustified(start: datetime, end: datetime, *, session: Session) -> list[TicketTerms]:
    """The tickets with work done in ``start`` <= at < ``end``, and every ticket marked
    unjustified; each once.

    Two statements, each read by an index: one ``OR`` of them would scan every ticket,
    and naming the worked tickets by number would bind one parameter per ticket (tens of
    thousands in a busy month)."""
    worked = select(TimeEntryRow.ticket_id).where(
        col(TimeEntryRow.at) >= start, col(TimeEntryRow.at) < end
    )
    read = session.connection().execute  # sqlmodel's select takes at most four columns
    tickets = {
        row[0]: TicketTerms._make(row)
        for row in read(sa.select(*_TERMS).where(col(TicketRow.id).in_(worked)))
    }
    unjustified = sa.select(*_TERMS).where(col(TicketRow.unjustified) == True)  # noqa: E712 - SQL
    for row in read(unjustified):
        tickets.setdefault(row[0], TicketTerms._make(row))
    return list(tickets.values())
