"""Tickets and their messages: numbers, look-ups, lists and the deadline filter.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db import per_transaction
from mailbot.adapters.db.tables import AttachmentRow, CounterRow, MessageRow, TicketRow
from mailbot.core.decide import TicketRef

TICKET_COUNTER = "ticket"


@dataclass
class _Numbers:
    """The ticket numbers a transaction took ahead (``take_ticket_numbers``): theirs only,
    a rollback frees them. ``next`` to ``last`` are left; ``may_open`` is how many tickets
    the transaction may still open."""

    may_open: int
    next: int = 1
    last: int = 0
    # Ids of the ticket table taken ahead from its sequence (``ticket_id_ahead``).
    ids: list[int] = field(default_factory=list)
    ids_wanted: int = 1


# Where a session keeps its transaction's ``_Numbers``.
_TAKEN = "mailbot.ticket_numbers"


def take_ticket_numbers(count: int, *, session: Session) -> None:
    """Up to ``count`` tickets may be opened in this transaction: the first of them takes
    the numbers of all in one statement (a round trip a ticket on PostgreSQL). Call
    ``give_back_ticket_numbers`` before the commit, or the numbers not used are skipped."""
    per_transaction.keep(session, _TAKEN, _Numbers(count, ids_wanted=max(1, count)))


def next_ticket_seq(*, session: Session) -> int:
    """The next ticket sequence number; never reused, even after a rollback elsewhere commits.

    Numbers taken ahead stay this transaction's: the counter's row stays locked by it
    until it ends, so nobody else numbers a ticket meanwhile.
    """
    numbers = _numbers(session)
    if numbers.next > numbers.last:
        step = max(1, numbers.may_open)
        numbers.last = _bump(step, session=session)
        numbers.next = numbers.last - step + 1
    numbers.may_open -= 1
    numbers.next += 1
    return numbers.next - 1


def ticket_id_ahead(*, session: Session) -> int | None:
    """On PostgreSQL, an id for a new ticket, taken from the table's sequence ahead for the
    tickets ``take_ticket_numbers`` announced, in one statement: a ticket inserted with its
    id known can wait (``rows.insert_new``) and go in with the batch's others, instead of an
    INSERT ... RETURNING round trip each. None elsewhere (SQLite's INSERT costs no trip)."""
    if session.connection().dialect.name != "postgresql":
        return None
    numbers = _numbers(session)
    if not numbers.ids:
        taken = session.connection().execute(_ids_ahead(), {"count": numbers.ids_wanted})
        numbers.ids = [int(row_id) for row_id in taken.scalars()]
        numbers.ids_wanted = 1  # more tickets than announced: one at a time after these
    return numbers.ids.pop(0)


@functools.cache
def _ids_ahead() -> sa.TextClause:
    # A sequence hands out each value once, whatever becomes of the transaction: an id
    # taken and not used is a gap, which nothing reads (ticket numbers are the counter's).
    return sa.text(
        "SELECT nextval(pg_get_serial_sequence('ticket', 'id')) FROM generate_series(1, :count)"
    )


def _numbers(session: Session) -> _Numbers:
    """The session's current transaction's numbers (new ones, if it took none)."""
    session.connection()  # the transaction begins, if it had not
    numbers: _Numbers | None = per_transaction.kept(session, _TAKEN)
    if numbers is None:
        numbers = _Numbers(1)
        per_transaction.keep(session, _TAKEN, numbers)
    return numbers


def _bump(step: int, *, session: Session) -> int:
    """Count the ticket counter up by ``step``; its new value."""
    values = {"counter": TICKET_COUNTER, "step": step}
    bumped = session.connection().execute(_bump_counter(), values).scalar()
    if bumped is not None:
        return int(bumped)
    session.add(CounterRow(name=TICKET_COUNTER, value=step))
    session.flush()
    return step


def give_back_ticket_numbers(*, session: Session) -> None:
    """Give back the numbers ``take_ticket_numbers`` took and no ticket used, so that
    ticket numbers have no gaps; before the commit."""
    numbers = _numbers(session)
    per_transaction.drop(session, _TAKEN)
    if numbers.next <= numbers.last:
        values = {"counter": TICKET_COUNTER, "step": numbers.next - numbers.last - 1}
        session.connection().execute(_bump_counter(), values)


@functools.cache
def _bump_counter() -> sa.Update:
    counter = CounterRow.__table__  # type: ignore[attr-defined]
    return (
        sa.update(counter)
        .where(counter.c.name == sa.bindparam("counter"))
        .values(value=counter.c.value + sa.bindparam("step"))
        .returning(counter.c.value)
    )


def _ref(row: TicketRow) -> TicketRef:
    return TicketRef(row.number, row.customer_address, row.contract_id, row.status, row.resolved_at)


# Built once: the status page looks a ticket up by number on every request.
_BY_NUMBER = select(TicketRow).where(TicketRow.number == sa.bindparam("number"))


def ticket_by_number(number: str, *, session: Session) -> TicketRow | None:
    return session.exec(_BY_NUMBER, params={"number": number}).first()


def ticket_number_of(ticket_id: int, *, session: Session) -> str:
    row = session.get(TicketRow, ticket_id)
    assert row is not None, f"no ticket with id {ticket_id}"
    return row.number


def ticket_by_id(ticket_id: int, *, session: Session) -> TicketRow | None:
    return session.get(TicketRow, ticket_id)


def ticket_ref(number: str | None, *, session: Session) -> TicketRef | None:
    row = ticket_by_number(number, session=session) if number else None
    return _ref(row) if row else None


def tickets_by_message_ids(ids: Iterable[str], *, session: Session) -> dict[str, TicketRef]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    rows = session.exec(
        select(MessageRow.message_id, TicketRow)
        .join(TicketRow, col(TicketRow.id) == col(MessageRow.ticket_id))
        .where(col(MessageRow.message_id).in_(wanted))
    ).all()
    return {mid: _ref(ticket) for mid, ticket in rows if mid}


def list_tickets(
    *, session: Session, limit: int = 100, due_before: datetime | None = None
) -> Sequence[TicketRow]:
    """The newest tickets; with ``due_before``, only those with a deadline still unmet by then."""
    query = select(TicketRow)
    if due_before is not None:
        query = query.where(unmet_by(due_before))
    return session.exec(query.order_by(col(TicketRow.seq).desc()).limit(limit)).all()


def unmet_by(moment: datetime) -> sa.ColumnElement[bool]:
    """Tickets with a deadline due by ``moment`` and still unmet (``moment`` = now: overdue)."""
    reaction_open = sa.and_(
        col(TicketRow.first_response_at).is_(None), col(TicketRow.reaction_due) <= moment
    )
    resolution_open = sa.and_(
        col(TicketRow.resolved_at).is_(None),
        col(TicketRow.paused_since).is_(None),  # waiting: its deadline is not running
        col(TicketRow.resolution_due) <= moment,
    )
    return sa.or_(reaction_open, resolution_open)


def ticket_messages(ticket_id: int, *, session: Session) -> Sequence[MessageRow]:
    return session.exec(
        select(MessageRow).where(MessageRow.ticket_id == ticket_id).order_by(col(MessageRow.id))
    ).all()


def received_between(start: datetime, end: datetime, *, session: Session) -> Sequence[TicketRow]:
    """The tickets received in ``start`` <= received_at < ``end``."""
    return session.exec(
        select(TicketRow).where(
            col(TicketRow.received_at) >= start, col(TicketRow.received_at) < end
        )
    ).all()


def alert_due_ids(now: datetime, limit: int, *, session: Session) -> list[int]:
    """The ids of up to ``limit`` tickets whose next alert is due by ``now``, soonest first."""
    ids = session.exec(
        select(TicketRow.id)
        .where(col(TicketRow.next_alert_at) <= now)
        .order_by(col(TicketRow.next_alert_at))
        .limit(limit)
    ).all()
    return [ticket_id for ticket_id in ids if ticket_id is not None]


def ticket_to_sweep(ticket_id: int, *, session: Session) -> TicketRow | None:
    """Ticket ``ticket_id``, locked for this transaction; None when it is gone or locked.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so a ticket another instance is sweeping
    (or another transaction is changing) is left to it, without waiting; the next
    sweep looks again if it still has an alert due. (SQLite has no FOR UPDATE.)
    """
    return session.exec(
        select(TicketRow).where(TicketRow.id == ticket_id).with_for_update(skip_locked=True)
    ).first()


def message_attachments(message_id: int | None, *, session: Session) -> Sequence[AttachmentRow]:
    """A message's attachments, in the order they were stored."""
    return session.exec(
        select(AttachmentRow)
        .where(AttachmentRow.message_id == message_id)
        .order_by(col(AttachmentRow.id))
    ).all()
