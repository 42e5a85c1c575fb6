"""Changes to a ticket's status and tier, with what they do to its deadlines.

Used by the CLI (``mailbot tickets set``), by customer follow-ups (a waiting
ticket goes back to ``open``), by staff commands in mail and by the web form
(express, which moves the resolution deadline of a post-warranty ticket).
Each change is applied inside the caller's transaction and leaves an
``sla_event`` behind, so ``tickets show`` can explain every deadline.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TypeVar

from mailbot.adapters.db import Session, TicketRow
from mailbot.config import describe_value, is_email_address
from mailbot.core.sla import Change, change_status, next_alert_at, set_express
from mailbot.core.tickets import TicketStatus
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError
from mailbot.usecases.desk import Desk
from mailbot.usecases.sla_state import clock_of, deadlines_of, record_event, store_clock
from mailbot.usecases.timesheet import FLAGS, set_flag

E = TypeVar("E", bound=Enum)


def set_status(
    desk: Desk,
    ticket: TicketRow,
    status: TicketStatus,
    *,
    by: str,
    by_staff: bool,
    now: datetime,
    session: Session,
) -> list[str]:
    """Move ``ticket`` to ``status``; returns the SLA events it caused."""
    policy = desk.policy.tiers[Tier(ticket.tier)]
    change = Change(ticket.status, status.value, now, by_staff=by_staff)
    clock, events = change_status(clock_of(ticket), policy, change)
    record_event(
        ticket, "status", f"{ticket.status} -> {status.value} by {by}", at=now, session=session
    )
    ticket.status = status.value
    ticket.updated_at = now
    store_clock(ticket, clock, policy, session=session)
    for event in events:
        record_event(
            ticket,
            event.partition(":")[0],
            _with_deadlines(desk, ticket, event),
            at=now,
            session=session,
        )
    return events


def set_tier(
    desk: Desk, ticket: TicketRow, tier: Tier, *, by: str, now: datetime, session: Session
) -> str:
    """Reclassify ``ticket``: both deadlines are recomputed from when it was received."""
    old = ticket.tier
    ticket.tier = tier.value
    ticket.updated_at = now
    store_clock(ticket, clock_of(ticket), desk.policy.tiers[tier], session=session)
    detail = _with_deadlines(desk, ticket, f"tier {old} -> {tier.value} by {by}")
    record_event(ticket, "tier_changed", detail, at=now, session=session)
    return detail


def update_ticket(
    desk: Desk,
    ticket: TicketRow,
    field: str,
    value: str,
    *,
    by: str,
    now: datetime,
    session: Session,
) -> list[str]:
    """``mailbot tickets set``: change status, tier, assignee or a billing flag
    (express, unjustified, warranty: on or off); what it did, for the user."""
    if field == "status":
        status = _choice(TicketStatus, value, "status")
        staff = by == "admin" or desk.policy.is_staff(by.lower())
        return [
            f"status -> {status.value}",
            *set_status(desk, ticket, status, by=by, by_staff=staff, now=now, session=session),
        ]
    if field == "tier":
        return [
            set_tier(desk, ticket, _choice(Tier, value, "tier"), by=by, now=now, session=session)
        ]
    if field in FLAGS:
        return _set_flag(desk, ticket, field, value, by=by, now=now, session=session)
    ticket.assignee = _staff_assignee(desk, value)
    ticket.updated_at = now
    session.add(ticket)
    record_event(
        ticket,
        "assigned",
        f"assignee {ticket.assignee or '(staff list)'} by {by}",
        at=now,
        session=session,
    )
    return [f"assignee -> {ticket.assignee or '(staff list)'}"]


def _set_flag(
    desk: Desk,
    ticket: TicketRow,
    flag: str,
    value: str,
    *,
    by: str,
    now: datetime,
    session: Session,
) -> list[str]:
    """``express|unjustified|warranty on|off``, as the #express/#unjustified mail commands do;
    what it did, with the new deadlines when express moved them."""
    if value.strip().lower() not in ("on", "off"):
        raise ConfigError(f"{flag}: {value!r} is not one of on, off")
    on = value.strip().lower() == "on"
    moved = set_billing_flag(desk, ticket, flag, on, by=by, now=now, session=session)
    return [f"{flag} -> {'on' if on else 'off'}", *moved]


def set_billing_flag(
    desk: Desk,
    ticket: TicketRow,
    flag: str,
    on: bool,
    *,
    by: str,
    now: datetime,
    session: Session,
) -> list[str]:
    """Mark or unmark ``ticket`` (``timesheet.set_flag``); express also moves its resolution
    deadline (``core.sla.set_express``), recorded in its SLA history. Returns that record
    (nothing for the other flags, or when express was already so)."""
    clock = clock_of(ticket)  # before the flag changes: set_express compares with it
    set_flag(ticket, flag, on, by=by, at=now, session=session)
    if flag != "express":
        return []
    policy = desk.policy.tiers[Tier(ticket.tier)]
    clock, events = set_express(clock, policy, on)
    store_clock(ticket, clock, policy, session=session)
    details = [_with_deadlines(desk, ticket, event) for event in events]
    for detail in details:
        record_event(ticket, "express", detail, at=now, session=session)
    return details


def _staff_assignee(desk: Desk, value: str) -> str:
    """A staff address (``[support] staff_addresses``, or one in ``staff_domains``), or ""
    for the staff list: an assignee gets the customer's mail, so nobody else may be one."""
    address = value.strip().lower()
    if address and not (is_email_address(address) and desk.policy.is_staff(address)):
        shown = describe_value(value)
        raise ConfigError(
            f"assignee: {shown} is not a staff address; expected one of [support]"
            " staff_addresses or an address in staff_domains, or '' for the staff list"
        )
    return address


def _choice(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value.strip().lower())
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise ConfigError(f"{what}: {value!r} is not one of {choices}") from None


def start_clock(desk: Desk, ticket: TicketRow) -> None:
    """A new ticket's first alert, set before its row is inserted: it has no alerts to look
    up yet, and the value goes in with the INSERT instead of an UPDATE after. Its deadlines
    are the decision's (``decide`` computed them from the same received time and tier)."""
    assert ticket.id is None, "only for a ticket not stored yet"
    policy = desk.policy.tiers[Tier(ticket.tier)]
    ticket.next_alert_at = next_alert_at(clock_of(ticket), policy, deadlines_of(ticket), done=set())


def record_opened(desk: Desk, ticket: TicketRow, *, now: datetime, session: Session) -> None:
    """The first entry of a ticket's SLA history (its clock is ``start_clock``'s)."""
    policy = desk.policy.tiers[Tier(ticket.tier)]
    detail = (
        f"tier {ticket.tier}, calendar {policy.calendar.name}: reaction {policy.reaction}, "
        f"resolution {policy.resolution} from {desk.local_time(ticket.received_at)}"
    )
    record_event(ticket, "received", _with_deadlines(desk, ticket, detail), at=now, session=session)


def _with_deadlines(desk: Desk, ticket: TicketRow, text: str) -> str:
    return (
        f"{text}; reaction due {desk.local_time(ticket.reaction_due)}, "
        f"resolution due {desk.local_time(ticket.resolution_due)}"
    )
