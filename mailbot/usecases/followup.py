"""Follow-ups on a ticket: load what ``mailbot.core.followup`` decides on, apply what it says.

What a customer's answer, a staff reply with commands, a status question, an address
confirmation or a robot's mail does is decided in ``mailbot.core.followup``; here the
decision's note, ticket changes and mails are applied in the caller's transaction, in
that order (a relay's status line and a ``status_*`` mail follow the commands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, TicketRow
from mailbot.core.followup import (
    AddTime,
    ConfirmContract,
    FollowupDecision,
    FollowupDesk,
    FollowupFacts,
    SetFlag,
    SetStatus,
    TicketChange,
    TicketSnapshot,
    ToCustomer,
    ToStaff,
    UpdateField,
    decide_followup,
    is_status_query,
    staff_announcement,
    unverified_recipients,
)
from mailbot.core.identity import signed_references
from mailbot.core.mail import InboundMail
from mailbot.core.notices import StaffNew
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import queue_customer_mail, queue_staff_mail
from mailbot.usecases.ticket_changes import set_billing_flag, set_status, set_tier, update_ticket
from mailbot.usecases.timesheet import add_time

# is_status_query is imported from here too (tests/test_conversation_core.py).
__all__ = ["handle_followup", "is_status_query", "notify_new_ticket"]

log = logging.getLogger("mailbot.conversation")


def handle_followup(
    desk: Desk,
    ticket: TicketRow,
    mail: InboundMail,
    *,
    store: Callable[..., None],
    now: datetime,
    session: Session,
) -> str:
    """Apply a mail that ``decide`` joined to ``ticket``; a summary for the log.

    ``store(author=..., internal=..., note=...)`` keeps the mail on the ticket.
    """
    decision = decide_followup(
        mail,
        ticket=snapshot(ticket),
        desk=followup_desk(desk),
        facts=_facts(desk, ticket, mail, now=now, session=session),
    )
    _apply(desk, ticket, decision, store=store, now=now, session=session)
    return decision.summary


def snapshot(ticket: TicketRow) -> TicketSnapshot:
    return TicketSnapshot(
        number=ticket.number,
        status=ticket.status,
        tier=ticket.tier,
        language=ticket.language,
        customer_address=ticket.customer_address,
        reaction_due=ticket.reaction_due,
        resolution_due=ticket.resolution_due,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        assignee=ticket.assignee,
        contract_id=ticket.contract_id,
        unverified_contract_id=ticket.unverified_contract_id,
        follows=ticket.follows,
    )


def followup_desk(desk: Desk) -> FollowupDesk:
    support = desk.settings.support
    return FollowupDesk(
        policy=desk.policy,
        token_key=desk.token_key,
        staff_addresses=tuple(support.staff_addresses),
        support_name=support.name,
    )


def _facts(
    desk: Desk, ticket: TicketRow, mail: InboundMail, *, now: datetime, session: Session
) -> FollowupFacts:
    """Everything the decision may need, looked up before it: a few small queries (the
    contracts are read once per session)."""
    assert ticket.id is not None
    sender = mail.from_address or ""
    tokens = signed_references(mail, desk.token_key, number=ticket.number)
    told = unverified_recipients(sender, desk.settings.support.staff_addresses)
    unverified = ticket.unverified_contract_id
    return FollowupFacts(
        now=now,
        sent_to=repo.outbox_recipients([t.message_id for t in tokens], session=session),
        contract=repo.contract_by_id(ticket.contract_id, session=session),
        unverified_told=bool(told)
        and repo.ticket_mail_sent(ticket.id, "staff_unverified", ",".join(told), session=session),
        confirm_tier=repo.contract_tier(unverified, session=session) if unverified else "",
    )


def _apply(
    desk: Desk,
    ticket: TicketRow,
    decision: FollowupDecision,
    *,
    store: Callable[..., None],
    now: datetime,
    session: Session,
) -> None:
    note = decision.note
    store(author=note.author, internal=note.internal, note=note.text)
    if decision.warning:
        log.warning("%s", decision.warning)
    for change in decision.changes:
        _change(desk, ticket, change, now=now, session=session)
    for notice in decision.notices:
        _queue(desk, ticket, notice, now=now, session=session)


def _change(
    desk: Desk, ticket: TicketRow, change: TicketChange, *, now: datetime, session: Session
) -> None:
    match change:
        case SetStatus(status=status, by=by, by_staff=by_staff):
            set_status(desk, ticket, status, by=by, by_staff=by_staff, now=now, session=session)
        case UpdateField(name=name, value=value, by=by):
            update_ticket(desk, ticket, name, value, by=by, now=now, session=session)
        case AddTime(minutes=minutes, by=by, note=note):
            add_time(ticket, timedelta(minutes=minutes), at=now, by=by, note=note, session=session)
        case SetFlag(flag=flag, by=by):
            set_billing_flag(desk, ticket, flag, True, by=by, now=now, session=session)
        case ConfirmContract(contract_id=contract_id, tier=tier, by=by):
            ticket.contract_id = contract_id
            ticket.customer_id = repo.contract_customer_id(contract_id, session=session)
            ticket.unverified_contract_id = None
            set_tier(desk, ticket, tier, by=by, now=now, session=session)


def _queue(
    desk: Desk, ticket: TicketRow, mail: ToCustomer | ToStaff, *, now: datetime, session: Session
) -> None:
    if isinstance(mail, ToCustomer):
        queue_customer_mail(
            desk, ticket, mail.notice, now=now, session=session,
            kind=mail.kind, auto=mail.auto, sender_name=mail.sender_name,
        )  # fmt: skip
    else:
        queue_staff_mail(
            desk, ticket, mail.notice, now=now, session=session, recipients=mail.recipients
        )


def notify_new_ticket(
    desk: Desk, ticket: TicketRow, mail: InboundMail, *, now: datetime, session: Session
) -> bool:
    """Tell staff about a new ticket; False when there is nobody to tell."""
    contract = repo.contract_by_id(ticket.contract_id, session=session)
    notice = staff_announcement(StaffNew, snapshot(ticket), contract, mail, mail.body_text.strip())
    return queue_staff_mail(desk, ticket, notice, now=now, session=session)
