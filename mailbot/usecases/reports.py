"""The month's reports: read the database, hand plain values to the pure core.

``billing_invoice`` feeds ``core.billing.bill_month``; ``sla_month`` feeds
``core.sla_report``. A ticket without a contract (an unknown sender, or a
customer whose contract had ended when the ticket came) is billed to the
contract that names its sender's address or domain regardless of dates, so a
customer whose warranty ended mid-month stays one customer; failing that, to
the sender's address.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailbot.adapters import db
from mailbot.adapters.db import Session, TicketRow, TicketTerms
from mailbot.config import Settings
from mailbot.core.billing import (
    BillableTicket,
    Invoice,
    Month,
    PackageStanding,
    Prices,
    WorkEntry,
    bill_month,
    package_standing,
)
from mailbot.core.contracts import Contract, ContractIndex, preferred, sender_domain
from mailbot.core.sla_report import SlaTicket, TierSla, sla_by_tier
from mailbot.core.tiers import Tier


def month_bounds(month: Month, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, on the company's clock (aware)."""
    start = datetime.combine(month.first_day, time(), tz)
    end = datetime.combine(month.last_day + timedelta(days=1), time(), tz)
    return start, end


def prices(settings: Settings) -> Prices:
    billing = settings.billing
    return Prices(
        hourly_rate=billing.hourly_rate,
        vat_percent=billing.vat_percent,
        vip_monthly_fee=billing.vip_monthly_fee,
        express_multiplier=billing.express_multiplier,
    )


def billing_customer(ticket: TicketTerms, contracts: ContractIndex) -> str:
    """The contract id the ticket is billed to (see the module docstring)."""
    if ticket.contract_id:
        return ticket.contract_id
    address = ticket.customer_address.lower()
    for level in (
        contracts.by_address.get(address, ()),
        contracts.by_domain.get(sender_domain(address), ()),
    ):
        if level:
            return preferred(level).id
    return address


def billable(ticket: TicketTerms, contracts: ContractIndex) -> BillableTicket:
    return BillableTicket(
        number=ticket.number,
        customer=billing_customer(ticket, contracts),
        tier=Tier(ticket.tier),
        opened_at=ticket.received_at,
        contract_id=ticket.contract_id,
        express=ticket.express,
        unjustified=ticket.unjustified,
        warranty=ticket.warranty,
    )


def _month_inputs(
    settings: Settings, month: Month, *, session: Session
) -> tuple[list[Contract], list[BillableTicket], list[WorkEntry]]:
    """What ``core.billing`` needs for ``month``: contracts, tickets, work entries."""
    start, end = month_bounds(month, ZoneInfo(settings.support.timezone))
    index = db.contract_index(session=session)  # kept until the contracts change
    rows = db.work_between(start, end, session=session)
    entries = [WorkEntry(w.number, w.at, timedelta(seconds=w.seconds)) for w in rows]
    # Every unjustified ticket too: the first N of a month are free, counted by opening.
    tickets = db.worked_or_unjustified(start, end, session=session)
    return list(index.contracts), [billable(t, index) for t in tickets], entries


def billing_invoice(settings: Settings, month: Month, *, session: Session) -> Invoice:
    """The month's invoice lines for every customer."""
    contracts, tickets, entries = _month_inputs(settings, month, session=session)
    return bill_month(
        month,
        contracts=contracts,
        tickets=tickets,
        entries=entries,
        prices=prices(settings),
        tz=ZoneInfo(settings.support.timezone),
    )


def vip_standing(
    settings: Settings, month: Month, contract_id: str, *, session: Session
) -> PackageStanding | None:
    """A VIP contract's package hours used and free unjustified tickets left in ``month``;
    None when ``contract_id`` names no VIP contract."""
    contracts, tickets, entries = _month_inputs(settings, month, session=session)
    contract = next((c for c in contracts if c.id == contract_id), None)
    if contract is None or contract.tier is not Tier.VIP:
        return None
    return package_standing(
        month,
        contract,
        contracts=contracts,
        tickets=tickets,
        entries=entries,
        prices=prices(settings),
        tz=ZoneInfo(settings.support.timezone),
    )


def _sla_ticket(ticket: TicketRow) -> SlaTicket:
    return SlaTicket(
        tier=Tier(ticket.tier),
        received_at=ticket.received_at,
        reaction_due=ticket.reaction_due,
        first_response_at=ticket.first_response_at,
        resolution_due=ticket.resolution_due,
        resolved_at=ticket.resolved_at,
        waiting=ticket.paused_since is not None,
    )


def sla_month(
    settings: Settings, month: Month, *, now: datetime, session: Session
) -> list[TierSla]:
    """Per tier: the tickets received in the month and how their deadlines went."""
    start, end = month_bounds(month, ZoneInfo(settings.support.timezone))
    tickets: Iterable[TicketRow] = db.received_between(start, end, session=session)
    return sla_by_tier((_sla_ticket(t) for t in tickets), now)
