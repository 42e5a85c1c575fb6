"""A ticket's status link (issue 15): made for the customer's mails, revoked by staff.

The link is ``{[web] base_url}/t/{token}``, the token a ``core.web_tokens`` status token
naming the ticket and its ``link_nonce``. The nonce is made with the first link, in the
transaction of the mail that carries it; a new nonce revokes every link made before.
Without a ``base_url`` there are no links and mails read as they always did.
"""

from __future__ import annotations

import secrets
from dataclasses import fields, replace
from typing import TypeVar

from mailbot.adapters.db import Session, TicketRow
from mailbot.core.notices import Notice
from mailbot.core.web_tokens import status_token
from mailbot.usecases.desk import Desk

N = TypeVar("N", bound=Notice)

_FIELD = "status_link"


def new_nonce() -> str:
    return secrets.token_hex(16)


def status_link(desk: Desk, ticket: TicketRow, *, session: Session) -> str:
    """The ticket's status link ("" without ``base_url``), giving it a nonce if it has none."""
    base = desk.settings.web.base_url
    if not base:
        return ""
    if not ticket.link_nonce:
        ticket.link_nonce = new_nonce()
        session.add(ticket)
    token = status_token(desk.token_key, number=ticket.number, nonce=ticket.link_nonce)
    return f"{base}/t/{token}"


def with_status_link(desk: Desk, ticket: TicketRow, notice: N, *, session: Session) -> N:
    """``notice`` carrying the ticket's status link, when its template shows one."""
    if _FIELD not in {f.name for f in fields(notice)}:
        return notice
    link = status_link(desk, ticket, session=session)
    return replace(notice, **{_FIELD: link}) if link else notice
