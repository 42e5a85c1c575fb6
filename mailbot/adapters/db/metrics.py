"""The figures ``/metrics`` exposes (issue 15), counted by the database at scrape time.

Every function takes the session as a keyword argument and never commits. Each is
one aggregate query, so a scrape costs the same with 100 tickets as with 100,000
(give or take the index scans).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import LedgerRow, OutboxRow, TicketRow


@dataclass(frozen=True)
class ResponseTimes:
    """First-response times in seconds: how many fell within each bound, their count and sum."""

    within: tuple[int, ...]  # one count per bound, cumulative (Prometheus buckets)
    count: int
    total_seconds: float


def tickets_by_tier_and_status(*, session: Session) -> dict[tuple[str, str], int]:
    rows = session.exec(
        select(TicketRow.tier, TicketRow.status, sa.func.count()).group_by(
            col(TicketRow.tier), col(TicketRow.status)
        )
    ).all()
    return {(tier, status): int(count) for tier, status, count in rows}


def outbox_by_status(*, session: Session) -> dict[str, int]:
    rows = session.exec(
        select(OutboxRow.status, sa.func.count()).group_by(col(OutboxRow.status))
    ).all()
    return {status: int(count) for status, count in rows}


def mails_taken_by_outcome(*, session: Session) -> dict[str, int]:
    rows = session.exec(
        select(LedgerRow.outcome, sa.func.count()).group_by(col(LedgerRow.outcome))
    ).all()
    return {outcome: int(count) for outcome, count in rows}


def first_response_times(bounds: Sequence[float], *, session: Session) -> ResponseTimes:
    """The time from receipt to the first staff response of every ticket that has one."""
    seconds = _seconds_between(session, TicketRow.received_at, TicketRow.first_response_at)
    columns: list[sa.ColumnElement[Any]] = [
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(seconds), 0.0),
    ]
    columns += [sa.func.count(sa.case((seconds <= bound, 1))) for bound in bounds]
    row = session.execute(
        sa.select(*columns).where(col(TicketRow.first_response_at).is_not(None))
    ).one()
    count, total, *within = row
    return ResponseTimes(tuple(int(n) for n in within), int(count), float(total))


def _seconds_between(
    session: Session, start: datetime, end: datetime | None
) -> sa.ColumnElement[float]:
    """``end - start`` in seconds, in the database's own dialect (the columns as SQLModel
    declares them: datetimes to the type checker, columns at run time)."""
    begin, finish = col(start), col(end)
    if session.get_bind().dialect.name == "sqlite":
        # julianday() counts days in a double: round off its last bits to whole milliseconds.
        days = sa.func.julianday(finish) - sa.func.julianday(begin)
        return sa.func.round(days * 86400.0, 3)
    return sa.cast(sa.func.extract("epoch", finish - begin), sa.Float)
