"""Tickets opened by hand: a VIP customer calls, staff type it in (``mailbot tickets open``).

Such a ticket gets the same tier, deadlines, acknowledgement and staff
notification as one that came by mail; only its first message says where it
came from. ``received`` lets staff enter a call taken earlier: the deadlines
run from the call, not from the typing.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.adapters import db
from mailbot.adapters.db import Session
from mailbot.core.contracts import Match
from mailbot.core.decide import OpenTicket
from mailbot.core.mail import InboundMail
from mailbot.core.sla import deadlines
from mailbot.errors import ConfigError
from mailbot.usecases.apply import open_ticket
from mailbot.usecases.desk import Desk


def open_by_hand(
    desk: Desk,
    *,
    contract_id: str,
    subject: str,
    body: str,
    channel: str,
    received: datetime,
    address: str | None = None,
) -> str:
    """Open a ticket for ``contract_id``; its number."""
    with Session(desk.engine) as session:
        contract = db.contract_by_id(contract_id, session=session)
        if contract is None:
            raise ConfigError(
                f"--contract: no contract {contract_id!r} (see mailbot contracts list)"
            )
        customer = address or contract.billing_email or min(contract.addresses, default="")
        if not customer:
            raise ConfigError(
                f"--from: contract {contract_id!r} has no address to answer; give one"
            )
        mail = InboundMail(
            message_id=None, from_address=customer.lower(), from_name=contract.customer,
            subject=subject, date=received, body_text=body,
        )  # fmt: skip
        decision = OpenTicket(
            match=Match(contract, contract.tier),
            deadlines=deadlines(received, desk.policy.tiers[contract.tier]),
            no_ack_reason=None,
            note=f"opened by hand ({channel})",
        )
        applied = open_ticket(desk, decision, mail, now=received, session=session, channel=channel)
        number = db.ticket_number_of(applied.ticket_id, session=session)
        session.commit()
    return number
