"""Tickets as plain dicts for the CLI (text and ``--json``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from mailbot.adapters import db
from mailbot.adapters.db import Session, TicketRow, alerts_of, events_of, open_database
from mailbot.config import Settings


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_summary(ticket: TicketRow, *, customers: Mapping[str, str]) -> dict[str, Any]:
    """``customers``: the customer of each contract (``db.contract_customers``)."""
    return {
        "number": ticket.number,
        "tier": ticket.tier,
        "status": ticket.status,
        "customer": ticket.customer_address,
        "customer_name": ticket.customer_name,
        "contract": ticket.contract_id,
        "contract_customer": customers.get(ticket.contract_id or "", ""),
        "subject": ticket.subject,
        "language": ticket.language,  # of the mails to the customer (mailbot.core.language)
        "received_at": _iso(ticket.received_at),
        "reaction_due": _iso(ticket.reaction_due),
        "resolution_due": _iso(ticket.resolution_due),
        "first_response_at": _iso(ticket.first_response_at),
        "resolved_at": _iso(ticket.resolved_at),
        "waiting_since": _iso(ticket.paused_since),
        "assignee": ticket.assignee,
    }


def one_ticket_summary(ticket: TicketRow, *, session: Session) -> dict[str, Any]:
    customers = db.contract_customers([ticket.contract_id], session=session)
    return ticket_summary(ticket, customers=customers)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on an engine of its own, disposed after (no connection left open)."""
    engine = open_database(settings.database)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def ticket_summaries(
    settings: Settings, *, limit: int, due_before: datetime | None = None
) -> list[dict[str, Any]]:
    """The newest tickets; with ``due_before``, those with an unmet deadline up to then."""
    with _session(settings) as session:
        tickets = db.list_tickets(session=session, limit=limit, due_before=due_before)
        customers = db.contract_customers((t.contract_id for t in tickets), session=session)
        return [ticket_summary(t, customers=customers) for t in tickets]


def _deadline(due: datetime, met: datetime | None, now: datetime) -> dict[str, Any]:
    state = "met" if met and met <= due else "missed" if (met or now) > due else "running"
    return {"due": _iso(due), "met_at": _iso(met), "state": state}


def sla_detail(ticket: TicketRow, now: datetime, *, session: Session) -> dict[str, Any]:
    """Each deadline with whether it was met, its alerts, and the events that moved it."""
    assert ticket.id is not None
    resolution = _deadline(ticket.resolution_due, ticket.resolved_at, now)
    if ticket.paused_since is not None and ticket.resolved_at is None:
        resolution["state"] = "paused"
    return {
        "reaction": _deadline(ticket.reaction_due, ticket.first_response_at, now),
        "resolution": resolution,
        "alerts": [
            {
                "kind": a.kind,
                "what": "escalation" if a.escalation else "reminder",
                "planned_at": _iso(a.planned_at),
                "status": a.status,
                "late": a.late,
            }
            for a in alerts_of(ticket.id, session=session)
        ],
        "next_alert_at": _iso(ticket.next_alert_at),
        "history": [
            {"at": _iso(e.at), "kind": e.kind, "detail": e.detail}
            for e in events_of(ticket.id, session=session)
        ],
    }


def ticket_detail(settings: Settings, number: str, *, now: datetime) -> dict[str, Any] | None:
    with _session(settings) as session:
        ticket = db.ticket_by_number(number.upper(), session=session)
        if ticket is None or ticket.id is None:
            return None
        messages = []
        for message in db.ticket_messages(ticket.id, session=session):
            attachments = db.message_attachments(message.id, session=session)
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
                    "author": message.author,
                    "internal": message.internal,
                    "attachments": [
                        {
                            "filename": a.filename,
                            "content_type": a.content_type,
                            "size": a.size,
                            "sha256": a.sha256,
                            # When ``mailbot db prune`` removed the file; None: kept.
                            "pruned_at": _iso(a.pruned_at),
                        }
                        for a in attachments
                    ],
                }
            )
        return {
            **one_ticket_summary(ticket, session=session),
            "sla": sla_detail(ticket, now, session=session),
            "messages": messages,
        }
