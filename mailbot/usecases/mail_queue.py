"""Mail mailbot sends about a ticket: queued in the outbox and kept on the ticket, in one go.

Every outgoing mail goes through ``queue_mail`` inside the caller's
transaction, so a mail is queued exactly when the change that caused it is
committed. Customer mail is threaded to the customer's own messages and
carries the ticket's tag; staff mail carries the tag and Reply-To the desk, so
that a plain "reply" comes back to mailbot.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from mailbot.adapters import db as repo
from mailbot.adapters.db import MessageRow, Session, TicketRow
from mailbot.core.compose import compose
from mailbot.core.followup import staff_recipients as core_staff_recipients
from mailbot.core.mail import OutboundMail
from mailbot.core.notices import Notice, StaffHeld, TicketFields
from mailbot.core.tickets import subject_with_tag, ticket_tag
from mailbot.core.tokens import CUSTOMER, STAFF, Audience, signed_message_id
from mailbot.usecases.desk import Desk
from mailbot.usecases.status_links import with_status_link

log = logging.getLogger("mailbot.outgoing")

# Staff of a Polish company read Polish; the templates exist in English too.
STAFF_LANGUAGE = "pl"

# Outbox kinds a program writes to a customer on its own; ``[limits] auto_replies_per_hour``
# caps them per address, so that a robot we fail to recognise cannot keep a loop going.
AUTOMATIC_KINDS = ("ack", "status_reply", "status_open", "status_waiting", "status_resolved",
                   "status_closed", "status_reopened", "status_link")  # fmt: skip


def automatic_mail_allowed(desk: Desk, address: str, *, now: datetime, session: Session) -> bool:
    """False (and a log line) when ``address`` already had its automatic mails this hour."""
    cap = desk.settings.limits.auto_replies_per_hour
    sent = repo.automatic_mails_since(address, now - timedelta(hours=1), session=session)
    if sent < cap:
        return True
    log.warning("no automatic mail to %s: %d sent in the last hour (cap %d)", address, sent, cap)
    return False


# Everything that goes to a ticket's customer: the per-ticket cap counts these.
CUSTOMER_KINDS = ("relay", *AUTOMATIC_KINDS)


def _over_ticket_cap(desk: Desk, ticket: TicketRow, *, now: datetime, session: Session) -> bool:
    """True when the ticket's customer already had ``customer_mails_per_ticket_hour`` mails in
    the last hour: two robots that do not say so (an autoresponder and an out-of-office
    reply) answering each other through the desk. Staff are told once an hour."""
    assert ticket.id is not None
    cap = desk.settings.limits.customer_mails_per_ticket_hour
    hour_ago = now - timedelta(hours=1)
    if repo.ticket_mails_since(ticket.id, CUSTOMER_KINDS, hour_ago, session=session) < cap:
        return False
    log.warning(
        "%s: %d mails to %s in the last hour (cap %d); the next one is held for a person",
        ticket.number, cap, ticket.customer_address, cap,
    )  # fmt: skip
    if not repo.ticket_mails_since(ticket.id, ("staff_held",), hour_ago, session=session):
        queue_staff_mail(desk, ticket, StaffHeld(cap), now=now, session=session)
    return True


def _capped_address(kind: str, mail: OutboundMail) -> str:
    if kind in AUTOMATIC_KINDS and len(mail.recipients) == 1:
        return mail.recipients[0].lower()
    return ""


def queue_mail(
    desk: Desk,
    mail: OutboundMail,
    *,
    kind: str,
    ticket: TicketRow,
    now: datetime,
    session: Session,
    internal: bool = False,
    held: bool = False,
) -> None:
    """Put ``mail`` in the outbox and on the ticket, in the caller's transaction; a ``held``
    mail waits in the outbox until a person releases it (``mailbot tickets release``)."""
    assert ticket.id is not None
    sender_name = mail.sender_name or desk.settings.support.name
    # What produced it, for staff's mail filters and for tests: ack, relay, reminder...
    mail = replace(mail, extra_headers=(*mail.extra_headers, ("X-Mailbot-Kind", kind)))
    repo.add_outbox_row(
        session=session,
        ticket_id=ticket.id, kind=kind, message_id=mail.message_id, mail_from=mail.sender,
        recipients=",".join(mail.recipients), capped_address=_capped_address(kind, mail),
        raw=compose(mail, sender_name=sender_name, date=now),
        created_at=now, next_attempt_at=now, status="held" if held else "queued",
    )  # fmt: skip
    repo.add_row(
        MessageRow, session=session,
        ticket_id=ticket.id, direction="out", message_id=mail.message_id,
        in_reply_to=mail.in_reply_to, references=" ".join(mail.references), sender=mail.sender,
        recipients=", ".join(mail.recipients), subject=mail.subject, body_text=mail.body_text,
        received_at=now, note=f"{kind} (held)" if held else kind,
        author="mailbot" if kind != "relay" else "staff",
        internal=internal,
    )  # fmt: skip


def queue_ticketless_mail(
    desk: Desk,
    *,
    kind: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    now: datetime,
    session: Session,
    capped_address: str = "",
) -> None:
    """Put a mail about no ticket (a web form's confirmation link, a staff sign-in link, an
    OAuth2 refusal) in the outbox, in the caller's transaction, with the headers every such
    mail carries and an unguessable Message-ID (nobody answers it as proof)."""
    support = desk.settings.support
    domain = support.address.rpartition("@")[2] or "localhost"
    mail = OutboundMail(
        message_id=f"<{kind}.{secrets.token_hex(12)}@{domain}>",
        sender=desk.settings.smtp.from_address,
        recipients=tuple(recipients),
        subject=subject,
        body_text=body,
        extra_headers=(("Auto-Submitted", "auto-generated"), ("X-Loop", support.address),
                       ("X-Mailbot-Kind", kind)),
    )  # fmt: skip
    repo.add_outbox_row(
        session=session,
        ticket_id=None, kind=kind, message_id=mail.message_id, mail_from=mail.sender,
        recipients=",".join(mail.recipients), capped_address=capped_address,
        raw=compose(mail, sender_name=support.name, date=now),
        created_at=now, next_attempt_at=now, status="queued",
    )  # fmt: skip


def ticketless_fields(
    desk: Desk, *, subject: str = "", customer: str = "", customer_name: str = ""
) -> TicketFields:
    """What a template of a mail about no ticket may use: the desk's, the rest empty."""
    support = desk.settings.support
    return TicketFields(
        number="", tag="", subject=subject, customer=customer, customer_name=customer_name,
        reaction_due="", resolution_due="", status="", reopen_days=support.reopen_days,
        support_name=support.name, support_address=support.address,
    )  # fmt: skip


def new_message_id(desk: Desk, ticket: TicketRow, kind: str, audience: Audience) -> str:
    """A signed, unguessable Message-ID: an answer naming it proves its writer received the
    mail (``mailbot.core.tokens``)."""
    return signed_message_id(
        desk.token_key,
        number=ticket.number,
        kind=kind,
        audience=audience,
        nonce=secrets.token_hex(4),
        domain=desk.settings.support.address.rpartition("@")[2],
    )


def base_context(desk: Desk, ticket: TicketRow) -> TicketFields:
    """What every ticket template may use."""
    support = desk.settings.support
    return TicketFields(
        number=ticket.number,
        tag=ticket_tag(ticket.number),
        subject=ticket.subject or "(bez tematu)",
        customer=ticket.customer_address,
        customer_name=ticket.customer_name,
        reaction_due=desk.local_time(ticket.reaction_due),
        resolution_due=desk.local_time(ticket.resolution_due),
        status=ticket.status,
        reopen_days=support.reopen_days,
        support_name=support.name,
        support_address=support.address,
    )


def _customer_thread(ticket: TicketRow, *, session: Session) -> tuple[str | None, tuple[str, ...]]:
    """In-Reply-To and References for a mail to the customer: their first and last mails."""
    assert ticket.id is not None
    theirs = [
        m.message_id
        for m in repo.ticket_messages(ticket.id, session=session)
        if m.direction == "in" and m.author in ("", "customer") and m.message_id
    ]
    if not theirs:
        return None, ()
    return theirs[-1], tuple(dict.fromkeys((theirs[0], theirs[-1])))


def queue_customer_mail(
    desk: Desk,
    ticket: TicketRow,
    notice: Notice,
    *,
    now: datetime,
    session: Session,
    kind: str | None = None,
    sender_name: str = "",
    auto: bool = True,
) -> None:
    """Render ``notice`` in the ticket's language and queue it to the customer, threaded.

    An automatic mail (``auto``) past the address's hourly cap is not queued; any mail past
    the ticket's hourly cap is held for a person.
    """
    if auto and not automatic_mail_allowed(desk, ticket.customer_address, now=now, session=session):
        return
    held = _over_ticket_cap(desk, ticket, now=now, session=session)
    notice = with_status_link(desk, ticket, notice, session=session)
    rendered = desk.renderer.render(notice, ticket.language, base_context(desk, ticket))
    in_reply_to, references = _customer_thread(ticket, session=session)
    headers = [("X-Loop", desk.settings.support.address), ("X-Mailbot-Ticket", ticket.number)]
    if auto:  # RFC 3834: mail a program wrote on its own says so; a relayed person's reply does not
        headers.insert(0, ("Auto-Submitted", "auto-replied"))
    mail = OutboundMail(
        message_id=new_message_id(desk, ticket, kind or notice.template, CUSTOMER),
        sender=desk.settings.smtp.from_address,
        recipients=(ticket.customer_address,),
        subject=subject_with_tag(ticket.number, rendered.subject),
        body_text=rendered.body,
        in_reply_to=in_reply_to,
        references=references,
        extra_headers=(*headers, ("Content-Language", ticket.language)),
        sender_name=sender_name,
    )
    queue_mail(
        desk, mail, kind=kind or notice.template, ticket=ticket, now=now, session=session, held=held
    )


def staff_recipients(desk: Desk, ticket: TicketRow) -> tuple[str, ...]:
    """The ticket's assignee, else the staff list."""
    return core_staff_recipients(ticket.assignee, desk.settings.support.staff_addresses)


def queue_staff_mail(
    desk: Desk,
    ticket: TicketRow,
    notice: Notice,
    *,
    now: datetime,
    session: Session,
    recipients: Sequence[str] | None = None,
) -> bool:
    """Render ``notice`` for staff and queue it; False when there is nobody to send it to."""
    to = tuple(recipients if recipients is not None else staff_recipients(desk, ticket))
    if not to:
        return False
    rendered = desk.renderer.render(notice, STAFF_LANGUAGE, base_context(desk, ticket))
    mail = OutboundMail(
        message_id=new_message_id(desk, ticket, notice.template, STAFF),
        sender=desk.settings.smtp.from_address,
        recipients=to,
        subject=subject_with_tag(ticket.number, rendered.subject),
        body_text=rendered.body,
        extra_headers=(
            ("Auto-Submitted", "auto-generated"),
            ("X-Loop", desk.settings.support.address),
            ("X-Mailbot-Ticket", ticket.number),
            ("Reply-To", desk.settings.support.address),
        ),
    )
    queue_mail(
        desk, mail, kind=notice.template, ticket=ticket, now=now, session=session, internal=True
    )
    return True
