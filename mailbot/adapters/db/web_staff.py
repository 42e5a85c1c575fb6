"""Queries of the staff board (/staff, issue 15): sessions and open tickets.

A session row holds the SHA-256 of the cookie, never the cookie. A sign-in link's
nonce is spent in ``adapters.db.nonces``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from mailbot.adapters.db.engine import Session
from mailbot.adapters.db.tables import OutboxRow, StaffSessionRow, TicketRow
from mailbot.core.sla import CLOSED_STATUSES
from mailbot.core.timeline import STATUSES

# Statuses of tickets still being worked on (resolved and closed ones are off the board):
# named, not "not resolved or closed", so that the board reads them by index.
_OPEN = tuple(status for status in STATUSES if status not in CLOSED_STATUSES)


def add_staff_session(
    id_hash: str, address: str, *, now: datetime, expires_at: datetime, session: Session
) -> None:
    session.add(StaffSessionRow(id_hash=id_hash, address=address, created_at=now,
                                expires_at=expires_at))  # fmt: skip


def live_staff_session(id_hash: str, *, now: datetime, session: Session) -> StaffSessionRow | None:
    """The session whose cookie hashes to ``id_hash``, unless it has expired."""
    row = session.get(StaffSessionRow, id_hash)
    return row if row is not None and row.expires_at > now else None


def end_staff_session(id_hash: str, *, session: Session) -> None:
    session.execute(sa.delete(StaffSessionRow).where(col(StaffSessionRow.id_hash) == id_hash))


def drop_expired_staff_sessions(*, now: datetime, session: Session) -> None:
    session.execute(sa.delete(StaffSessionRow).where(col(StaffSessionRow.expires_at) <= now))


def open_tickets(*, session: Session) -> Sequence[TicketRow]:
    """Tickets not resolved or closed (the board sorts them by their next deadline)."""
    return session.exec(select(TicketRow).where(col(TicketRow.status).in_(_OPEN))).all()


def signin_mails_since(
    address: str, kind: str, since: datetime, *, session: Session
) -> list[datetime]:
    """When sign-in mails of ``kind`` were queued to ``address`` since ``since``."""
    query = select(OutboxRow.created_at).where(
        col(OutboxRow.kind) == kind,
        col(OutboxRow.recipients) == address,
        col(OutboxRow.created_at) > since,
    )
    return list(session.exec(query).all())
