"""Tickets as plain dicts for the CLI (text and ``--json``)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from mailbot.adapters import repository as repo
from mailbot.adapters.db import AttachmentRow, TicketRow, make_engine
from mailbot.config import Settings


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_summary(ticket: TicketRow, *, session: Session) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "tier": ticket.tier,
        "status": ticket.status,
        "customer": ticket.customer_address,
        "customer_name": ticket.customer_name,
        "contract": ticket.contract_id,
        "contract_customer": repo.contract_customer(ticket.contract_id, session=session),
        "subject": ticket.subject,
        "received_at": _iso(ticket.received_at),
        "reaction_due": _iso(ticket.reaction_due),
        "resolution_due": _iso(ticket.resolution_due),
        "first_response_at": _iso(ticket.first_response_at),
    }


def ticket_summaries(settings: Settings, *, limit: int) -> list[dict[str, Any]]:
    with Session(make_engine(settings.database.url)) as session:
        return [
            ticket_summary(t, session=session)
            for t in repo.list_tickets(session=session, limit=limit)
        ]


def ticket_detail(settings: Settings, number: str) -> dict[str, Any] | None:
    with Session(make_engine(settings.database.url)) as session:
        ticket = repo.ticket_by_number(number.upper(), session=session)
        if ticket is None or ticket.id is None:
            return None
        messages = []
        for message in repo.ticket_messages(ticket.id, session=session):
            attachments = session.exec(
                select(AttachmentRow)
                .where(AttachmentRow.message_id == message.id)
                .order_by(col(AttachmentRow.id))
            ).all()
            messages.append(
                {
                    "direction": message.direction,
                    "message_id": message.message_id,
                    "sender": message.sender,
                    "recipients": message.recipients,
                    "subject": message.subject,
                    "received_at": _iso(message.received_at),
                    "body_text": message.body_text,
                    "note": message.note,
                    "attachments": [
                        {
                            "filename": a.filename,
                            "content_type": a.content_type,
                            "size": a.size,
                            "sha256": a.sha256,
                        }
                        for a in attachments
                    ],
                }
            )
        return {**ticket_summary(ticket, session=session), "messages": messages}
