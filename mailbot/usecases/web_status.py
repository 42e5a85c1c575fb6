"""The customer's status page (issue 15): what it shows, an answer typed on it, a lost link.

A status link names a ticket and its current ``link_nonce`` (``status_links``); a link
that is tampered with, expired or revoked finds nothing, and the page says 404. The
page shows only what ``core.timeline`` lets a customer see. An answer typed on the page
becomes the mail the customer would have sent (from their address, in reply to our last
mail to them) and goes through ``ingest.apply_mail`` like any mail.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, TicketRow
from mailbot.core.billing import Month, PackageStanding
from mailbot.core.mail import InboundMail
from mailbot.core.notices import StatusLink
from mailbot.core.submission_limits import Verdict
from mailbot.core.tickets import subject_with_tag
from mailbot.core.tiers import Tier
from mailbot.core.timeline import DeadlineView, TicketFacts, TimelineEntry, deadlines, timeline
from mailbot.core.web_tokens import verify_status
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import apply_mail
from mailbot.usecases.mail_queue import queue_customer_mail
from mailbot.usecases.reports import vip_standing
from mailbot.usecases.request_limits import count_request, submission_windows
from mailbot.usecases.status_links import new_nonce, status_link

log = logging.getLogger("mailbot.web")

LOST_LINK_KIND = "lost_link"  # its requests in web_request

# An answer typed on the page: about ten pages of text; longer ones are refused (400).
MAX_ANSWER_LENGTH = 20_000


@dataclass(frozen=True)
class StatusPage:
    """What the customer's page shows; times are aware (UTC)."""

    number: str
    subject: str
    tier: str
    status: str
    reaction: DeadlineView
    resolution: DeadlineView
    entries: tuple[TimelineEntry, ...]
    # A VIP contract's month so far; None for other tickets.
    package: PackageStanding | None = None


def _ticket_of(desk: Desk, token: str, *, session: Session) -> TicketRow | None:
    """The ticket a valid, unrevoked status link names."""
    claim = verify_status(desk.token_key, token, now=desk.clock())
    if claim is None:
        return None
    ticket = repo.ticket_by_number(claim.number, session=session)
    if ticket is None or not claim.nonce_is(ticket.link_nonce or ""):
        return None
    return ticket


def _facts(ticket: TicketRow) -> TicketFacts:
    return TicketFacts(
        status=ticket.status, received_at=ticket.received_at,
        reaction_due=ticket.reaction_due, resolution_due=ticket.resolution_due,
        first_response_at=ticket.first_response_at, resolved_at=ticket.resolved_at,
        paused_since=ticket.paused_since,
    )  # fmt: skip


def status_page(desk: Desk, token: str) -> StatusPage | None:
    """The page ``token`` opens, or None (404)."""
    with Session(desk.engine) as session:
        ticket = _ticket_of(desk, token, session=session)
        if ticket is None or ticket.id is None:
            return None
        facts = _facts(ticket)
        entries = timeline(
            facts,
            repo.status_events(ticket.id, session=session),
            repo.customer_visible_messages(ticket.id, session=session),
        )
        reaction, resolution = deadlines(facts, desk.clock())
        return StatusPage(
            number=ticket.number, subject=ticket.subject, tier=ticket.tier,
            status=ticket.status, reaction=reaction, resolution=resolution, entries=entries,
            package=_package(desk, ticket, session=session),
        )  # fmt: skip


def _package(desk: Desk, ticket: TicketRow, *, session: Session) -> PackageStanding | None:
    """This month's package standing of a VIP ticket's contract (core.billing's rules)."""
    if ticket.tier != Tier.VIP.value or not ticket.contract_id:
        return None
    today = desk.clock().astimezone(desk.tz)
    month = Month(today.year, today.month)
    return vip_standing(desk.settings, month, ticket.contract_id, session=session)


def answer_from_page(desk: Desk, token: str, text: str) -> bool:
    """Add ``text`` to the ticket as its customer's mail; False when the link finds nothing."""
    with Session(desk.engine) as session:
        ticket = _ticket_of(desk, token, session=session)
        if ticket is None or ticket.id is None:
            return False
        now = desk.clock()
        domain = desk.settings.support.address.rpartition("@")[2]
        in_reply_to = repo.last_customer_facing_message_id(ticket.id, session=session)
        mail = InboundMail(
            message_id=f"<web.{secrets.token_hex(12)}@{domain}>",
            from_address=ticket.customer_address, from_name=ticket.customer_name,
            subject=f"Re: {subject_with_tag(ticket.number, ticket.subject)}",
            date=now, to=(desk.settings.support.address,),
            in_reply_to=in_reply_to, references=(in_reply_to,) if in_reply_to else (),
            body_text=text,
        )  # fmt: skip
        number = ticket.number
        outcome = apply_mail(desk, mail, now=now, session=session)
        session.commit()
    log.info("%s: an answer from the status page: %s", number, outcome.kind)
    return True


def current_link(desk: Desk, number: str) -> str | None:
    """The ticket's status link as mails carry it ("" without ``[web] base_url``), or None
    when there is no such ticket; the first link gives the ticket its nonce."""
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        if ticket is None:
            return None
        link = status_link(desk, ticket, session=session)
        session.commit()
    return link


def revoke_link(desk: Desk, number: str) -> str | None:
    """Give the ticket a new nonce (every link made before stops working); its new link
    ("" without ``[web] base_url``), or None when there is no such ticket."""
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        if ticket is None:
            return None
        ticket.link_nonce = new_nonce()
        session.add(ticket)
        link = status_link(desk, ticket, session=session)
        session.commit()
    log.info("%s: status links revoked", number)
    return link


def count_lost_link_request(desk: Desk, client: str) -> Verdict:
    """Whether one more lost-link request from ``client`` (an IP address, or "unknown") is
    taken: every request counts against the ``[web] submissions_per_*`` limits, in the
    database (``usecases.request_limits``), whether or not it names a ticket."""
    windows = submission_windows(desk.settings.web)
    return count_request(desk, LOST_LINK_KIND, client, windows)


def send_lost_link(desk: Desk, number: str, address: str) -> bool:
    """Queue the ticket's link to its customer when ``address`` is theirs; whether it was.
    The page answers the same either way: the caller must not tell."""
    if not desk.settings.web.base_url:
        return False
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number.strip().upper(), session=session)
        if ticket is None or ticket.customer_address.lower() != address.strip().lower():
            return False
        link = status_link(desk, ticket, session=session)
        queue_customer_mail(
            desk, ticket, StatusLink(status_link=link), now=desk.clock(), session=session
        )
        session.commit()
    log.info("%s: the status link sent again on request", number)
    return True
