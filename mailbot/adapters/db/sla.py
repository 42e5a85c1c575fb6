"""A ticket's SLA history: the alerts planned or sent, and the events that moved its deadlines.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import AlertRow, SlaEventRow


def alert_keys(ticket_id: int, *, session: Session) -> set[str]:
    return set(session.exec(select(AlertRow.key).where(AlertRow.ticket_id == ticket_id)).all())


def events_of(ticket_id: int, *, session: Session) -> list[SlaEventRow]:
    query = (
        select(SlaEventRow).where(SlaEventRow.ticket_id == ticket_id).order_by(col(SlaEventRow.id))
    )
    return list(session.exec(query).all())


def alerts_of(ticket_id: int, *, session: Session) -> list[AlertRow]:
    query = (
        select(AlertRow).where(AlertRow.ticket_id == ticket_id).order_by(col(AlertRow.planned_at))
    )
    return list(session.exec(query).all())
