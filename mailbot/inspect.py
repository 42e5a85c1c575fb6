"""``mailbot inspect``: what mailbot reads from a mail, without storing anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from mailbot.adapters import repository as repo
from mailbot.adapters.db import make_engine
from mailbot.config import Settings
from mailbot.contracts_file import load_contracts_file
from mailbot.core.contracts import Contract, match_contract
from mailbot.core.parsing import parse_mail
from mailbot.core.tickets import find_ticket_number


def _contracts(settings: Settings) -> list[Contract]:
    """The contracts file when there is one (no database needed), else the database's."""
    if settings.support.contracts_file is not None:
        return load_contracts_file(settings.support.contracts_file)
    engine = make_engine(settings.database.url)
    try:
        with Session(engine) as session:
            return repo.load_contracts(session=session)
    finally:
        engine.dispose()


def inspect_mail(
    raw: bytes, settings: Settings | None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The parsed mail as a JSON-ready dict; with settings, also its tier and contract."""
    mail = parse_mail(raw)
    prefix = settings.support.ticket_prefix if settings else "SOL"
    summary: dict[str, Any] = {
        "message_id": mail.message_id,
        "from_address": mail.from_address,
        "from_name": mail.from_name,
        "to": list(mail.to),
        "cc": list(mail.cc),
        "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else None,
        "in_reply_to": mail.in_reply_to,
        "references": list(mail.references),
        "ticket_tag": find_ticket_number(mail.subject, prefix),
        "body_text": mail.body_text,
        "has_html": mail.body_html is not None,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in mail.attachments
        ],
        "auto_submitted": mail.auto_submitted,
        "size": mail.size,
        "defects": list(mail.defects),
    }
    if settings is not None:
        contracts = _contracts(settings)
        match = match_contract(mail.from_address, contracts, now or datetime.now(UTC))
        summary["tier"] = match.tier.value
        summary["contract"] = match.contract.id if match.contract else None
    return summary
