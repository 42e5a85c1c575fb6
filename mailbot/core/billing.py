"""A month's invoice lines from contracts, tickets and the time recorded on them (issue 6).

The rules (SERVICE_TERMS.md, and the decisions where it is silent):

1. Time belongs to the month, in the company's time zone, in which the work
   was done. Per ticket per month the time is summed, then rounded up to whole
   started hours: 1 h 01 min is 2 h. Time on 30 November and on 1 December is
   two tickets' months, rounded separately.
2. A ticket is billed by the tier it has: the one it was opened with (the
   contract valid that day), or the one staff set. A warranty that ends in the
   middle of the month leaves the tickets opened before the end under warranty,
   even for work done after it; tickets opened after it are post-warranty.
3. Warranty work (a warranty ticket, or any ticket flagged ``warranty``) is
   listed with its hours and billed at 0; it does not use VIP package hours.
4. Post-warranty: started hours x the hourly rate (the contract's, else the
   [billing] setting); an express ticket x the express multiplier (2).
   ``express`` on a ticket of another tier changes nothing.
5. VIP: the monthly fee for every month the VIP contract is valid on at least
   one day (not prorated). The rounded hours of its tickets, in the order the
   tickets were opened, use the package hours first; what is beyond them is
   billed at the hourly rate; the rest of the package lapses. A VIP-tier ticket
   without a VIP contract has no fee and no package.
6. Unjustified (a VIP ticket flagged ``unjustified``): ranked by opening among
   the customer's unjustified tickets opened in the same month; the first
   ``free_unjustified`` cost nothing, each further one is billed at its started
   hours (at least 1 in the month it was opened) x the rate. Unjustified
   tickets are outside the package: they neither use nor are paid by it.
   ``unjustified`` on a ticket of another tier changes nothing.
7. Money is Decimal: a line's net is hours billed x rate x multiplier, rounded
   half-up to 0.01; a customer's VAT is their net x the VAT rate, rounded
   half-up; gross is net + VAT. The grand total adds up the customers, so it
   equals the sum of their invoices.

One line per ticket with time in the month (and per unjustified ticket opened
in it), with ``hours_billed`` the hours charged (0 for warranty, free or
package work), plus one line per VIP fee.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier

CENT = Decimal("0.01")
ZERO = Decimal(0)
ONE = Decimal(1)


def money(amount: Decimal) -> Decimal:
    """Rounded half-up to the grosz (0.01 PLN)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``2026-11``; raises ValueError otherwise."""
        found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"expected a month like 2026-11, got {text!r}")
        return cls(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        following = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return following - timedelta(days=1)

    def of(self, moment: datetime, tz: ZoneInfo) -> bool:
        """Whether the aware ``moment`` falls in this month on the company's clock."""
        local = moment.astimezone(tz)
        return (local.year, local.month) == (self.year, self.month)

    def covered_by(self, contract: Contract) -> bool:
        """Whether ``contract`` is valid on at least one day of this month."""
        return contract.valid_from <= self.last_day and (
            contract.valid_until is None or contract.valid_until >= self.first_day
        )


@dataclass(frozen=True)
class Prices:
    """The [billing] settings: net PLN, VAT in percent."""

    hourly_rate: Decimal = Decimal(120)
    vat_percent: Decimal = Decimal(23)
    # The fee of a VIP contract that names none.
    vip_monthly_fee: Decimal = Decimal(290)
    express_multiplier: Decimal = Decimal(2)


@dataclass(frozen=True)
class BillableTicket:
    """A ticket as billing sees it. ``customer`` groups the invoice (the contract id)."""

    number: str
    customer: str
    tier: Tier
    opened_at: datetime
    contract_id: str | None = None
    express: bool = False
    unjustified: bool = False
    warranty: bool = False


@dataclass(frozen=True)
class WorkEntry:
    """Time recorded on a ticket: ``duration`` of work done at ``at`` (aware)."""

    ticket: str
    at: datetime
    duration: timedelta


class LineKind(StrEnum):
    VIP_FEE = "vip_fee"
    VIP_PACKAGE = "vip_package"  # all its hours came from the package
    VIP_HOURS = "vip_hours"  # some or all beyond the package
    UNJUSTIFIED_FREE = "unjustified_free"
    UNJUSTIFIED = "unjustified"
    POST_WARRANTY = "post_warranty"
    EXPRESS = "express"
    WARRANTY = "warranty"


@dataclass(frozen=True)
class InvoiceLine:
    customer: str
    ticket: str | None  # None for the VIP fee
    kind: LineKind
    tier: Tier
    hours_recorded: Decimal | None  # the month's time in hours, to 0.01; None for the fee
    hours_billed: Decimal | None  # the hours charged; None for the fee
    rate: Decimal  # per hour, or the fee
    multiplier: Decimal
    net: Decimal


@dataclass(frozen=True)
class Subtotal:
    customer: str  # "" for the grand total
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True)
class Invoice:
    month: Month
    lines: tuple[InvoiceLine, ...]
    customers: tuple[Subtotal, ...]
    total: Subtotal


def started_hours(duration: timedelta) -> int:
    """Whole hours, every started one counted: 1 h 01 min is 2."""
    return math.ceil(duration / timedelta(hours=1))


def recorded_hours(duration: timedelta) -> Decimal:
    return money(Decimal(int(duration.total_seconds())) / 3600)


def bill_month(
    month: Month,
    *,
    contracts: Iterable[Contract],
    tickets: Iterable[BillableTicket],
    entries: Iterable[WorkEntry],
    prices: Prices,
    tz: ZoneInfo,
) -> Invoice:
    """The month's invoice. ``tickets`` must hold every ticket with an entry, and every
    unjustified ticket opened in the month (or in the month of an earlier one's entry)."""
    lines, _ = _month_lines(
        month, contracts=contracts, tickets=tickets, entries=entries, prices=prices, tz=tz
    )
    return _invoice(month, lines, prices)


@dataclass(frozen=True)
class PackageStanding:
    """A VIP contract's month so far: its package hours used and its free unjustified
    tickets left (what the customer's status page shows)."""

    package_hours: Decimal
    hours_used: Decimal
    free_unjustified: int
    free_unjustified_left: int


def package_standing(
    month: Month,
    contract: Contract,
    *,
    contracts: Iterable[Contract],
    tickets: Iterable[BillableTicket],
    entries: Iterable[WorkEntry],
    prices: Prices,
    tz: ZoneInfo,
) -> PackageStanding:
    """``contract``'s standing in ``month`` by the rules of ``bill_month`` (same inputs)."""
    all_tickets = list(tickets)
    _, package_left = _month_lines(
        month, contracts=contracts, tickets=all_tickets, entries=entries, prices=prices, tz=tz
    )
    package = contract.package_hours if month.covered_by(contract) else ZERO
    unjustified = sum(
        1
        for t in all_tickets
        if _is_unjustified(t) and t.customer == contract.id and month.of(t.opened_at, tz)
    )
    return PackageStanding(
        package_hours=package,
        hours_used=package - package_left.get(contract.id, package),
        free_unjustified=contract.free_unjustified,
        free_unjustified_left=max(contract.free_unjustified - unjustified, 0),
    )


def _month_lines(
    month: Month,
    *,
    contracts: Iterable[Contract],
    tickets: Iterable[BillableTicket],
    entries: Iterable[WorkEntry],
    prices: Prices,
    tz: ZoneInfo,
) -> tuple[list[InvoiceLine], dict[str, Decimal]]:
    """The month's lines, and each VIP contract's package hours left after them."""
    by_id = {c.id: c for c in contracts}
    all_tickets = list(tickets)
    worked = _time_per_ticket(month, entries, tz)
    billed = [
        t
        for t in all_tickets
        if t.number in worked or (_is_unjustified(t) and month.of(t.opened_at, tz))
    ]
    billed.sort(key=lambda t: (t.opened_at, t.number))
    lines = [*_fee_lines(month, by_id.values(), prices)]
    package_left = {
        c.id: c.package_hours for c in by_id.values() if c.tier is Tier.VIP and month.covered_by(c)
    }
    for ticket in billed:
        contract = by_id.get(ticket.contract_id or "")
        terms = _Terms(ticket, contract, prices, worked.get(ticket.number, timedelta()))
        if _is_unjustified(ticket):
            rank = _unjustified_rank(ticket, all_tickets, tz)
            lines.append(_unjustified_line(terms, rank, first_month=month.of(ticket.opened_at, tz)))
        else:
            lines.append(_work_line(terms, package_left))
    lines.sort(key=lambda line: line.customer)  # stable: fee first, then opening order
    return lines, package_left


@dataclass(frozen=True)
class _Terms:
    """One ticket's month: its contract, rate and time."""

    ticket: BillableTicket
    contract: Contract | None
    prices: Prices
    worked: timedelta

    @property
    def rate(self) -> Decimal:
        if self.contract is not None and self.contract.hourly_rate is not None:
            return self.contract.hourly_rate
        return self.prices.hourly_rate

    @property
    def vip(self) -> Contract | None:
        """The VIP contract whose package and free tickets apply, if any."""
        return self.contract if self.contract and self.contract.tier is Tier.VIP else None

    def line(self, kind: LineKind, billed: Decimal, multiplier: Decimal = ONE) -> InvoiceLine:
        return InvoiceLine(
            customer=self.ticket.customer,
            ticket=self.ticket.number,
            kind=kind,
            tier=self.ticket.tier,
            hours_recorded=recorded_hours(self.worked),
            hours_billed=billed,
            rate=self.rate,
            multiplier=multiplier,
            net=money(billed * self.rate * multiplier),
        )


def _time_per_ticket(
    month: Month, entries: Iterable[WorkEntry], tz: ZoneInfo
) -> dict[str, timedelta]:
    worked: dict[str, timedelta] = {}
    for entry in entries:
        if month.of(entry.at, tz):
            worked[entry.ticket] = worked.get(entry.ticket, timedelta()) + entry.duration
    return worked


def _is_warranty(ticket: BillableTicket) -> bool:
    return ticket.warranty or ticket.tier is Tier.WARRANTY


def _is_unjustified(ticket: BillableTicket) -> bool:
    return ticket.unjustified and ticket.tier is Tier.VIP and not _is_warranty(ticket)


def _fee_lines(
    month: Month, contracts: Iterable[Contract], prices: Prices
) -> Iterable[InvoiceLine]:
    for contract in sorted(contracts, key=lambda c: c.id):
        if contract.tier is Tier.VIP and month.covered_by(contract):
            fee = (
                contract.monthly_fee if contract.monthly_fee is not None else prices.vip_monthly_fee
            )
            yield InvoiceLine(
                contract.id, None, LineKind.VIP_FEE, Tier.VIP, None, None, fee, ONE, money(fee)
            )


def _work_line(terms: _Terms, package_left: dict[str, Decimal]) -> InvoiceLine:
    hours = Decimal(started_hours(terms.worked))
    if _is_warranty(terms.ticket):
        return terms.line(LineKind.WARRANTY, ZERO)
    if terms.ticket.tier is Tier.POST_WARRANTY:
        if terms.ticket.express:
            return terms.line(LineKind.EXPRESS, hours, terms.prices.express_multiplier)
        return terms.line(LineKind.POST_WARRANTY, hours)
    vip = terms.vip
    left = package_left.get(vip.id, ZERO) if vip else ZERO
    used = min(left, hours)
    if vip:
        package_left[vip.id] = left - used
    beyond = hours - used
    return terms.line(LineKind.VIP_HOURS if beyond else LineKind.VIP_PACKAGE, beyond)


def _unjustified_rank(
    ticket: BillableTicket, tickets: Sequence[BillableTicket], tz: ZoneInfo
) -> int:
    """1 for the customer's first unjustified ticket opened in that month, 2 for the next..."""
    opened = ticket.opened_at.astimezone(tz)
    same_month = Month(opened.year, opened.month)
    peers = sorted(
        (t.opened_at, t.number)
        for t in tickets
        if _is_unjustified(t) and t.customer == ticket.customer and same_month.of(t.opened_at, tz)
    )
    return peers.index((ticket.opened_at, ticket.number)) + 1


def _unjustified_line(terms: _Terms, rank: int, *, first_month: bool) -> InvoiceLine:
    free = terms.vip.free_unjustified if terms.vip else 0
    if rank <= free:
        return terms.line(LineKind.UNJUSTIFIED_FREE, ZERO)
    hours = started_hours(terms.worked)
    return terms.line(LineKind.UNJUSTIFIED, Decimal(max(hours, 1) if first_month else hours))


def _invoice(month: Month, lines: Sequence[InvoiceLine], prices: Prices) -> Invoice:
    nets: dict[str, Decimal] = {}
    for line in lines:
        nets[line.customer] = nets.get(line.customer, ZERO) + line.net
    customers = tuple(_subtotal(name, net, prices) for name, net in sorted(nets.items()))
    total = Subtotal(
        "",
        sum((c.net for c in customers), ZERO),
        sum((c.vat for c in customers), ZERO),
        sum((c.gross for c in customers), ZERO),
    )
    return Invoice(month, tuple(lines), customers, total)


def _subtotal(customer: str, net: Decimal, prices: Prices) -> Subtotal:
    net = money(net)
    vat = money(net * prices.vat_percent / 100)
    return Subtotal(customer, net, vat, net + vat)


def only_customer(invoice: Invoice, customer: str) -> Invoice:
    """The invoice of one customer; its total is that customer's subtotal."""
    lines = tuple(line for line in invoice.lines if line.customer == customer)
    customers = tuple(c for c in invoice.customers if c.customer == customer)
    total = customers[0] if customers else Subtotal("", ZERO, ZERO, ZERO)
    return Invoice(invoice.month, lines, customers, Subtotal("", total.net, total.vat, total.gross))
