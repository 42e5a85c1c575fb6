"""Apply a decision inside the caller's transaction: tickets, messages, attachments, outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.adapters import db as repo
from mailbot.adapters.db import AttachmentRow, MessageRow, Session, TicketRow
from mailbot.core.compose import reply_references
from mailbot.core.contracts import Contract
from mailbot.core.decide import AppendToTicket, OpenTicket
from mailbot.core.language import LanguageChoice, customer_language
from mailbot.core.mail import InboundMail, OutboundMail
from mailbot.core.notices import ACKS, Ack, CustomerTier, StaffTier, StaffUnverifiedSender
from mailbot.core.tickets import TicketStatus, subject_with_tag, ticket_number
from mailbot.core.tokens import CUSTOMER, verify
from mailbot.usecases.desk import Desk
from mailbot.usecases.followup import handle_followup, notify_new_ticket
from mailbot.usecases.mail_queue import (
    automatic_mail_allowed,
    base_context,
    new_message_id,
    queue_mail,
    queue_staff_mail,
)
from mailbot.usecases.status_links import with_status_link
from mailbot.usecases.ticket_changes import record_opened, set_billing_flag, start_clock

# The ticket's flag, in its first message's note and the log, when its sender was read from
# a From header RFC 5322 cannot read (mailbot.core.lenient_sender).
SENDER_READ_LENIENTLY = "sender read leniently"


@dataclass(frozen=True)
class Applied:
    outcome: str  # "ticket" or "followup"
    ticket_id: int
    summary: str


def apply_decision(
    desk: Desk,
    decision: OpenTicket | AppendToTicket,
    mail: InboundMail,
    *,
    now: datetime,
    session: Session,
    express_by: str = "",
    written: LanguageChoice | None = None,
) -> Applied:
    """Open the ticket or apply the follow-up; ``express_by`` (a new ticket only) is who asked
    for express service when it was submitted (the web form), ``written`` the language of
    the mail's text when the parse read it."""
    if isinstance(decision, OpenTicket):
        return open_ticket(
            desk, decision, mail, now=now, session=session, express_by=express_by, written=written
        )
    ticket = repo.ticket_by_number(decision.number, session=session)
    assert ticket is not None and ticket.id is not None, "decide() only names existing tickets"
    ticket_id = ticket.id

    def store(*, author: str, internal: bool, note: str) -> None:
        _store_message(
            desk,
            ticket_id,
            mail,
            now=now,
            session=session,
            author=author,
            internal=internal,
            note=note,
        )

    ticket.updated_at = now
    session.add(ticket)
    done = handle_followup(desk, ticket, mail, store=store, now=now, session=session)
    return Applied(
        "followup", ticket_id, f"{ticket.number} ({ticket.tier}): {decision.reason}; {done}"
    )


def open_ticket(
    desk: Desk,
    decision: OpenTicket,
    mail: InboundMail,
    *,
    now: datetime,
    session: Session,
    channel: str = "email",
    express_by: str = "",
    written: LanguageChoice | None = None,
) -> Applied:
    """A new ticket for ``mail`` (or a call, ``channel`` "phone"), acknowledged and announced.

    With ``express_by`` (who asked for it) the ticket is express from the start: flagged, and
    its resolution deadline the express one before the acknowledgement states it.
    """
    language = _language(decision, mail, written)
    ticket = _new_ticket(desk, decision, mail, language=language.language, now=now,
                         session=session)  # fmt: skip
    assert ticket.id is not None
    record_opened(desk, ticket, now=now, session=session)
    if express_by:
        set_billing_flag(desk, ticket, "express", True, by=express_by, now=now, session=session)
    _store_message(
        desk, ticket.id, mail, now=now, session=session, author="customer",
        note=_opening_note(desk, decision, mail, channel),
    )  # fmt: skip
    contract = decision.match.contract
    who = f"contract {contract.id}" if contract else "no contract"
    opened = f"{ticket.number} opened, tier {ticket.tier}, {who}, {language.describe()}"
    if mail.lenient_from:
        opened += f"; {SENDER_READ_LENIENTLY}"
    if decision.unverified is not None:
        opened += f"; unverified sender for contract {decision.unverified.id}"
        _tell_unverified(
            desk, ticket, decision.unverified, lenient=bool(mail.lenient_from), now=now,
            session=session,
        )  # fmt: skip
    if decision.note:  # e.g. why a ticket tag in the subject was not followed
        opened += f"; new ticket because {decision.note}"
    if not notify_new_ticket(desk, ticket, mail, now=now, session=session):
        opened += "; no staff address to notify"
    acknowledged = _acknowledge(desk, decision, ticket, mail, now=now, session=session)
    return Applied("ticket", ticket.id, f"{opened}; {acknowledged}")


def _language(
    decision: OpenTicket, mail: InboundMail, written: LanguageChoice | None
) -> LanguageChoice:
    """The ticket's language: its contract's (also an unverified one's: the customer's
    language is no privilege), else the one the mail was written in."""
    return customer_language(mail, decision.match.contract or decision.unverified, written=written)


def _new_ticket(
    desk: Desk,
    decision: OpenTicket,
    mail: InboundMail,
    *,
    language: str,
    now: datetime,
    session: Session,
) -> TicketRow:
    """The ticket's row, inserted, with its clock and deadlines as ``decide`` computed them."""
    contract = decision.match.contract
    seq = repo.next_ticket_seq(session=session)
    ticket = TicketRow(
        number=ticket_number(desk.settings.support.ticket_prefix, seq),
        seq=seq,
        customer_id=repo.contract_customer_id(contract.id, session=session) if contract else None,
        contract_id=contract.id if contract else None,
        tier=decision.match.tier.value,
        status=TicketStatus.NEW.value,
        subject=mail.subject[:500],
        customer_address=mail.from_address or "",
        customer_name=mail.from_name,
        language=language,
        received_at=now,
        reaction_due=decision.deadlines.reaction_due,
        resolution_due=decision.deadlines.resolution_due,
        follows=decision.follows,
        unverified_contract_id=decision.unverified.id if decision.unverified else None,
        updated_at=now,
    )
    start_clock(desk, ticket)
    repo.insert_new(ticket, session=session, row_id=repo.ticket_id_ahead(session=session))
    return ticket


def _acknowledge(
    desk: Desk,
    decision: OpenTicket,
    ticket: TicketRow,
    mail: InboundMail,
    *,
    now: datetime,
    session: Session,
) -> str:
    """Queue the acknowledgement unless a robot wrote or the address is over its cap."""
    if decision.no_ack_reason is not None:
        return f"no acknowledgement: {decision.no_ack_reason}"
    to = _ack_recipient(ticket, mail)
    if not automatic_mail_allowed(desk, to, now=now, session=session):
        return f"no acknowledgement: {to} is over the cap"
    contract = decision.match.contract
    confirm = decision.unverified.tier.value if decision.unverified else ""
    _queue_ack(
        desk, ticket, mail, to=to, contract_customer=contract.customer if contract else "",
        confirm_tier=confirm, now=now, session=session,
    )  # fmt: skip
    return "acknowledgement queued"


def _ack_recipient(ticket: TicketRow, mail: InboundMail) -> str:
    """RFC 3834 section 4: a service's answer goes to Reply-To when there is one; but an
    unverified sender's acknowledgement, whose answer can confirm the contract, goes only
    to the address the contract names: Reply-To is the forger's to choose."""
    if mail.reply_to and ticket.unverified_contract_id is None:
        return mail.reply_to[0]
    return ticket.customer_address


def _opening_note(desk: Desk, decision: OpenTicket, mail: InboundMail, channel: str) -> str:
    """The first message's note: how the ticket came and what staff should know about its
    sender (``tickets show`` and the staff board show it)."""
    notes = []
    if mail.lenient_from:
        notes.append(f"{SENDER_READ_LENIENTLY} from From: {mail.lenient_from[:300]}")
    if decision.unverified is not None and mail.lenient_from:
        notes.append(
            f"unverified: no proof of a sender read leniently (contract {decision.unverified.id})"
        )
    elif decision.unverified is not None:
        notes.append(
            f"unverified: {desk.settings.support.authserv_id} did not confirm the sender"
            f" (contract {decision.unverified.id})"
        )
    if channel != "email":
        notes.append(f"by {channel}")
    return "; ".join(notes)


def _tell_unverified(
    desk: Desk,
    ticket: TicketRow,
    contract: Contract,
    *,
    lenient: bool,
    now: datetime,
    session: Session,
) -> None:
    notice = StaffUnverifiedSender(
        sender=ticket.customer_address,
        contract=contract.id,
        tier=contract.tier.value,
        tier_label=StaffTier(contract.tier.value),
        authserv_id=desk.settings.support.authserv_id,
        lenient=lenient,
    )
    queue_staff_mail(desk, ticket, notice, now=now, session=session)


def _store_message(
    desk: Desk,
    ticket_id: int,
    mail: InboundMail,
    *,
    now: datetime,
    session: Session,
    author: str,
    internal: bool = False,
    note: str = "",
) -> None:
    row = {
        "ticket_id": ticket_id,
        "direction": "in",
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to,
        "references": " ".join(mail.references),
        "sender": mail.from_address or "",
        "recipients": ", ".join((*mail.to, *mail.cc)),
        "subject": mail.subject,
        "body_text": mail.body_text,
        "body_html": mail.body_html,
        "received_at": now,
        "note": "; ".join(filter(None, (note, *mail.defects)))[:1000],
        "author": author,
        "internal": internal,
    }
    if not mail.attachments:  # nothing needs its id: it may go in with others (add_row)
        repo.add_row(MessageRow, session=session, **row)
        return
    message_id = repo.insert_row(MessageRow, session=session, **row)
    for part in mail.attachments:
        session.add(
            AttachmentRow(
                message_id=message_id,
                filename=part.filename,
                content_type=part.content_type,
                size=part.size,
                sha256=desk.store.put(part.data),
                inline=part.inline,
            )
        )


def ack_context(
    desk: Desk, ticket: TicketRow, *, contract_customer: str, confirm_tier: str = ""
) -> Ack:
    """The acknowledgement of ``ticket`` (``ack_<tier>``); ``confirm_tier`` is the tier an
    unverified sender's contract would give, when they confirm by answering."""
    return ACKS[ticket.tier](
        contract_customer=contract_customer,
        confirm_tier_label=CustomerTier(confirm_tier),
        tier=ticket.tier,
        hourly_rate=desk.settings.billing.hourly_rate,
        vat_percent=desk.settings.billing.vat_percent,
        express=ticket.express,
    )


def _queue_ack(
    desk: Desk,
    ticket: TicketRow,
    mail: InboundMail,
    *,
    to: str,
    contract_customer: str,
    confirm_tier: str,
    now: datetime,
    session: Session,
) -> None:
    support = desk.settings.support
    notice = ack_context(
        desk, ticket, contract_customer=contract_customer, confirm_tier=confirm_tier
    )
    if to.lower() == ticket.customer_address.lower():
        # The link lets its holder read staff replies and answer as the customer: it goes
        # only to the ticket's own address, never to a Reply-To the writer chose.
        notice = with_status_link(desk, ticket, notice, session=session)
    rendered = desk.renderer.render(notice, ticket.language, base_context(desk, ticket))
    outbound = OutboundMail(
        message_id=new_message_id(desk, ticket, "ack", CUSTOMER),
        sender=desk.settings.smtp.from_address,
        recipients=(to,),
        subject=subject_with_tag(ticket.number, rendered.subject),
        body_text=rendered.body,
        in_reply_to=mail.message_id,
        # Our own signed ids go back to nobody: a customer-facing mail carries no token but
        # its own, whatever the incoming mail named.
        references=tuple(
            ref
            for ref in reply_references(mail.in_reply_to, mail.references, mail.message_id)
            if verify(desk.token_key, ref) is None
        ),
        extra_headers=(
            # RFC 3834: an automatic answer says so, and carries our loop marker.
            ("Auto-Submitted", "auto-replied"),
            ("X-Loop", support.address),
            ("X-Mailbot-Ticket", ticket.number),
            ("Content-Language", ticket.language),
        ),
    )
    queue_mail(desk, outbound, kind="ack", ticket=ticket, now=now, session=session)
