"""Follow-ups on a ticket: customer answers, staff replies with commands, status questions.

The e-mail thread is the interface (issue 4):

- A customer's answer is kept on the ticket and staff are told. On a waiting
  ticket it resumes the SLA clock; on a resolved one (within the reopen
  window, see ``decide``) it reopens the ticket and the customer is told.
- A customer asking ``status`` (the whole text, or a subject ``STATUS
  [SOL-1]``) gets the ticket's status back, if the ticket is theirs.
- A staff reply (from ``staff_addresses``/``staff_domains``, with proof: an
  answer to our mail to staff, or DMARC/DKIM from ``authserv_id``; see
  ``mailbot.core.identity``) counts as the reaction, runs its ``#commands``
  and is relayed to the customer from the desk's address with the quoted
  history cut. ``#internal`` or a reply of commands only relays nothing. A
  command error relays nothing, changes nothing, keeps the mail as an internal
  note and tells the staff member. A staff-looking mail without proof is a
  note, and the address it claims is told once per ticket.
- A customer whose contract needs an authenticated sender, and whose mail had
  none, confirms by answering the acknowledgement with ``potwierdzam``: the
  ticket gets the contract's tier.
- Robots (out-of-office replies and the like, staff's also by their wording)
  are kept as notes and change nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, TicketRow
from mailbot.core.automation import autoreply_wording, robot_reason
from mailbot.core.commands import Command, ParsedReply, parse_reply, work_minutes
from mailbot.core.identity import confirms_address, signed_references, staff_proof
from mailbot.core.mail import InboundMail
from mailbot.core.quoting import NOTIFICATION_MARKER, strip_quoted
from mailbot.core.tickets import TicketStatus
from mailbot.core.tiers import Tier
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import TIER_LABELS, queue_customer_mail, queue_staff_mail
from mailbot.usecases.ticket_changes import set_status, set_tier, update_ticket
from mailbot.usecases.timesheet import add_time, set_flag

log = logging.getLogger("mailbot.conversation")

STATUS_LABELS = {
    "pl": {"new": "przyjęte", "open": "w realizacji", "waiting": "czekamy na Państwa odpowiedź",
           "resolved": "rozwiązane", "closed": "zamknięte"},
    "en": {"new": "received", "open": "in progress", "waiting": "waiting for your answer",
           "resolved": "resolved", "closed": "closed"},
}  # fmt: skip


def status_label(status: str, language: str) -> str:
    return STATUS_LABELS.get(language, STATUS_LABELS["pl"]).get(status, status)


# "STATUS [SOL-12]" (after any Re:), not "Status of my printer".
_STATUS_SUBJECT = re.compile(r"^\s*((re|odp|aw)\s*:\s*)*status\s*\[[^\]]+\]\s*$", re.IGNORECASE)


def is_status_query(mail: InboundMail, text: str) -> bool:
    """The customer asks where their ticket stands: "status" alone, or a STATUS subject."""
    words = text.strip().strip(".?!").lower()
    if _STATUS_SUBJECT.match(mail.subject) is not None:
        return words in ("", "status", "stan")  # a real answer under that subject is an answer
    return words in ("status", "stan")


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
    sender = mail.from_address or ""
    text = strip_quoted(mail.body_text)
    staff = desk.policy.is_staff(sender)
    # Robots first, staff's too: a technician's out-of-office answering our
    # notification must not be relayed to the customer, count as the reaction,
    # or start a loop with the customer's own autoresponder. Staff's robots are
    # recognised by their wording too: many send none of RFC 3834's headers.
    robot = robot_reason(mail, own_addresses=desk.policy.own_addresses)
    if robot is None and staff:
        robot = autoreply_wording(mail.subject, text)
    if robot:
        store(
            author="staff" if staff else "customer", internal=True, note=f"automatic mail: {robot}"
        )
        return f"automatic mail kept as a note ({robot})"
    if staff:
        proof = _staff_proof(desk, ticket, mail, session=session)
        if proof is None:
            return _unproven_staff_mail(desk, ticket, sender, store=store, now=now, session=session)
        return _staff_mail(desk, ticket, mail, text, store=store, now=now, session=session)
    if ticket.unverified_contract_id and confirms_address(
        mail, text, number=ticket.number, key=desk.token_key
    ):
        return _confirm_address(desk, ticket, store=store, now=now, session=session)
    return _customer_mail(desk, ticket, mail, text, store=store, now=now, session=session)


def _staff_proof(
    desk: Desk, ticket: TicketRow, mail: InboundMail, *, session: Session
) -> str | None:
    tokens = signed_references(mail, desk.token_key, number=ticket.number)
    sent_to = repo.outbox_recipients([t.message_id for t in tokens], session=session)
    return staff_proof(
        mail, number=ticket.number, policy=desk.policy, key=desk.token_key, sent_to=sent_to
    )


def _unproven_staff_mail(
    desk: Desk,
    ticket: TicketRow,
    sender: str,
    *,
    store: Callable[..., None],
    now: datetime,
    session: Session,
) -> str:
    """A mail from a staff address with no proof: kept as a note, nothing else. The address
    it claims is told once per ticket, so that a real staff member who wrote a fresh mail
    learns to answer the notification (our mail to them is the proof they lack)."""
    authserv = desk.settings.support.authserv_id
    store(author="staff", internal=True, note="unverified staff mail: no proof of its sender")
    log.warning(
        "%s: a mail claiming to be from staff %s has no proof (not an answer to our mail to"
        " staff%s); kept as a note, nothing relayed or changed",
        ticket.number, sender, f", no DMARC/DKIM pass from {authserv}" if authserv else "",
    )  # fmt: skip
    assert ticket.id is not None
    # Only a listed address hears of it; for any other address of a staff domain the
    # listed staff do, once per ticket: our notice must never go where a forger chose.
    staff = desk.settings.support.staff_addresses
    told = (sender,) if sender in staff else staff
    if not told or repo.ticket_mail_sent(
        ticket.id, "staff_unverified", ",".join(told), session=session
    ):
        return f"unverified staff mail from {sender} kept as an internal note"
    queue_staff_mail(
        desk, ticket, "staff_unverified", {"sender": sender, "authserv_id": authserv},
        now=now, session=session, recipients=told,
    )  # fmt: skip
    return f"unverified staff mail from {sender} kept as an internal note; {', '.join(told)} told"


def _confirm_address(
    desk: Desk, ticket: TicketRow, *, store: Callable[..., None], now: datetime, session: Session
) -> str:
    """The customer answered our acknowledgement with "potwierdzam": the address is theirs,
    so the ticket gets its contract's tier, deadlines from its receipt, and staff are told."""
    contract_id = ticket.unverified_contract_id
    assert contract_id is not None
    tier = repo.contract_tier(contract_id, session=session)
    store(author="customer", internal=False, note=f"address confirmed for contract {contract_id}")
    if not tier:  # the contract was removed meanwhile: nothing to give
        return f"confirmation for contract {contract_id}, which no longer exists"
    ticket.contract_id = contract_id
    ticket.customer_id = repo.contract_customer_id(contract_id, session=session)
    ticket.unverified_contract_id = None
    set_tier(desk, ticket, Tier(tier), by=ticket.customer_address, now=now, session=session)
    context = {"contract": contract_id, "tier_label": TIER_LABELS.get(tier, tier)}
    queue_staff_mail(desk, ticket, "staff_confirmed", context, now=now, session=session)
    return f"{ticket.customer_address} confirmed the address: contract {contract_id}, tier {tier}"


def _customer_mail(
    desk: Desk,
    ticket: TicketRow,
    mail: InboundMail,
    text: str,
    *,
    store: Callable[..., None],
    now: datetime,
    session: Session,
) -> str:
    sender = mail.from_address or ""
    if is_status_query(mail, text) and _belongs(desk, ticket, sender, session=session):
        store(author="customer", internal=False, note="status question")
        queue_customer_mail(
            desk,
            ticket,
            "status_reply",
            _status_context(desk, ticket, session=session),
            now=now,
            session=session,
        )
        return "status question answered"
    store(author="customer", internal=False, note="")
    summary = "customer follow-up"
    reopening = ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    if ticket.status in (TicketStatus.WAITING, TicketStatus.RESOLVED, TicketStatus.CLOSED):
        set_status(
            desk, ticket, TicketStatus.OPEN, by=sender, by_staff=False, now=now, session=session
        )
        summary += "; reopened" if reopening else "; back to open, SLA clock running"
    if reopening:
        queue_customer_mail(desk, ticket, "status_reopened", {}, now=now, session=session)
    notified = queue_staff_mail(
        desk,
        ticket,
        "staff_followup",
        _staff_context(desk, ticket, mail, text, session=session),
        now=now,
        session=session,
    )
    return summary + ("; staff notified" if notified else "; no staff address to notify")


def _belongs(desk: Desk, ticket: TicketRow, sender: str, *, session: Session) -> bool:
    if sender == ticket.customer_address:
        return True
    contracts = repo.load_contracts(session=session)
    mine = next((c for c in contracts if c.id == ticket.contract_id), None)
    return mine is not None and (
        sender in mine.addresses or sender.rpartition("@")[2] in mine.domains
    )


def _status_context(desk: Desk, ticket: TicketRow, *, session: Session) -> dict[str, Any]:
    language = ticket.language
    met = {"pl": "spełniona", "en": "met"}.get(language, "met")
    due = {"pl": "termin", "en": "due"}.get(language, "due")
    assert ticket.id is not None
    last = repo.ticket_messages(ticket.id, session=session)
    return {
        "status_label": status_label(ticket.status, language),
        "reaction_state": f"{met} {desk.local_time(ticket.first_response_at)}"
        if ticket.first_response_at
        else f"{due} {desk.local_time(ticket.reaction_due)}",
        "resolution_state": f"{met} {desk.local_time(ticket.resolved_at)}"
        if ticket.resolved_at
        else f"{due} {desk.local_time(ticket.resolution_due)}",
        "last_activity": desk.local_time(last[-1].received_at) if last else "-",
    }


def _staff_context(
    desk: Desk, ticket: TicketRow, mail: InboundMail | None, text: str, *, session: Session
) -> dict[str, Any]:
    contract = next(
        (c for c in repo.load_contracts(session=session) if c.id == ticket.contract_id), None
    )
    return {
        "marker": NOTIFICATION_MARKER,
        "tier_label": TIER_LABELS.get(ticket.tier, ticket.tier),
        "contract_customer": contract.customer if contract else "",
        "procedures": getattr(contract, "procedures", "") if ticket.tier == "vip" else "",
        "attachments": [a.filename for a in mail.attachments] if mail else [],
        "text": text or "(bez treści)",
        "follows": ticket.follows or "",
        # Why only the fallback reader read the mail (the parse deadline, say), or "".
        "unparsed": mail.unparsed if mail else "",
    }


def notify_new_ticket(
    desk: Desk, ticket: TicketRow, mail: InboundMail, *, now: datetime, session: Session
) -> bool:
    """Tell staff about a new ticket; False when there is nobody to tell."""
    context = _staff_context(desk, ticket, mail, mail.body_text.strip(), session=session)
    return queue_staff_mail(desk, ticket, "staff_new", context, now=now, session=session)


def _staff_mail(
    desk: Desk,
    ticket: TicketRow,
    mail: InboundMail,
    text: str,
    *,
    store: Callable[..., None],
    now: datetime,
    session: Session,
) -> str:
    sender = mail.from_address or ""
    parsed = parse_reply(text, is_staff=desk.policy.is_staff)
    if parsed.errors:
        store(author="staff", internal=True, note="command errors: " + "; ".join(parsed.errors))
        queue_staff_mail(
            desk,
            ticket,
            "staff_error",
            {"errors": list(parsed.errors)},
            now=now,
            session=session,
            recipients=(sender,),
        )
        return f"staff reply with command errors, kept as a note; {sender} told"
    internal = parsed.internal or not parsed.body.strip()
    store(
        author="staff",
        internal=internal,
        note=" ".join(f"#{c.name} {c.arg}".strip() for c in parsed.commands),
    )
    status_note = _run_commands(desk, ticket, parsed, sender=sender, now=now, session=session)
    if internal:
        if status_note and not parsed.internal:
            queue_customer_mail(
                desk, ticket, f"status_{ticket.status}", {}, now=now, session=session
            )
        return f"staff reply by {sender}, not relayed" + (f"; {status_note}" if status_note else "")
    staff_name = mail.from_name or sender
    queue_customer_mail(
        desk, ticket, "relay",
        {"text": parsed.body.strip(), "staff_name": staff_name,
         "status_line": status_label(ticket.status, ticket.language) if status_note else ""},
        now=now, session=session, kind="relay", auto=False,
        sender_name=f"{staff_name} ({desk.settings.support.name})",
    )  # fmt: skip
    return f"staff reply by {sender} relayed to {ticket.customer_address}" + (
        f"; {status_note}" if status_note else ""
    )


def _run_commands(
    desk: Desk,
    ticket: TicketRow,
    parsed: ParsedReply,
    *,
    sender: str,
    now: datetime,
    session: Session,
) -> str:
    """Carry out the commands; the new status when one was set. The reply itself is a staff
    action: it meets the reaction deadline and a new ticket becomes open."""
    status_set = ""
    for command in parsed.commands:
        _run(desk, ticket, command, sender=sender, now=now, session=session)
        status_set = command.arg if command.name == "status" else status_set
    if not status_set:
        target = (
            TicketStatus.OPEN if ticket.status == TicketStatus.NEW else TicketStatus(ticket.status)
        )
        set_status(desk, ticket, target, by=sender, by_staff=True, now=now, session=session)
    return f"status {status_set}" if status_set else ""


def _run(
    desk: Desk, ticket: TicketRow, command: Command, *, sender: str, now: datetime, session: Session
) -> None:
    if command.name in ("status", "tier"):
        update_ticket(desk, ticket, command.name, command.arg, by=sender, now=now, session=session)
    elif command.name == "assign":
        update_ticket(desk, ticket, "assignee", command.arg, by=sender, now=now, session=session)
    elif command.name == "time":
        add_time(
            ticket,
            timedelta(minutes=work_minutes(command.arg)),
            at=now,
            by=sender,
            note="#time in a reply",
            session=session,
        )
    elif command.name in ("express", "unjustified"):
        set_flag(ticket, command.name, True, by=sender, at=now, session=session)
