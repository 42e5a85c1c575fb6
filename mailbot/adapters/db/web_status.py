"""The status page's queries (issue 15): what a ticket's customer may see of its history.

Only the columns the page needs are read: never a sender's or recipient's address,
never an internal message, never a history row other than a status change.
Every function takes the session as a keyword argument and never commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import MessageRow, SlaEventRow
from mailbot.core.timeline import HistoryEvent, MessageFacts

# Built once: the page runs these on every request, and building a statement costs more
# than SQLite takes to answer it (SQLAlchemy's compiled cache still needs each new one's key).
_STATUS_EVENTS = (
    sa.select(col(SlaEventRow.at), col(SlaEventRow.kind), col(SlaEventRow.detail))
    .where(
        col(SlaEventRow.ticket_id) == sa.bindparam("ticket_id"), col(SlaEventRow.kind) == "status"
    )
    .order_by(col(SlaEventRow.id))
)
_VISIBLE_MESSAGES = (
    sa.select(
        col(MessageRow.received_at),
        col(MessageRow.direction),
        col(MessageRow.author),
        col(MessageRow.internal),
        col(MessageRow.note),
        col(MessageRow.body_text),
    )
    .where(
        col(MessageRow.ticket_id) == sa.bindparam("ticket_id"), col(MessageRow.internal).is_(False)
    )
    .order_by(col(MessageRow.received_at), col(MessageRow.id))
)


def status_events(ticket_id: int, *, session: Session) -> list[HistoryEvent]:
    """The ticket's status changes, oldest first."""
    rows = session.connection().execute(_STATUS_EVENTS, {"ticket_id": ticket_id}).all()
    return [HistoryEvent(at, kind, detail) for at, kind, detail in rows]


def customer_visible_messages(ticket_id: int, *, session: Session) -> list[MessageFacts]:
    """The ticket's messages that are not internal, oldest first, without addresses."""
    rows = session.connection().execute(_VISIBLE_MESSAGES, {"ticket_id": ticket_id}).all()
    return [
        MessageFacts(at, d, author, internal, note, body)
        for at, d, author, internal, note, body in rows
    ]


def last_customer_facing_message_id(ticket_id: int, *, session: Session) -> str | None:
    """The Message-ID of the newest mail that went to the ticket's customer."""
    query = (
        select(MessageRow.message_id)
        .where(
            MessageRow.ticket_id == ticket_id,
            MessageRow.direction == "out",
            col(MessageRow.internal).is_(False),
            col(MessageRow.message_id).is_not(None),
        )
        .order_by(col(MessageRow.received_at).desc(), col(MessageRow.id).desc())
        .limit(1)
    )
    return session.exec(query).first()
