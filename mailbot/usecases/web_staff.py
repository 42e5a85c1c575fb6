"""The staff board (/staff, issue 15): sign-in by a mailed one-time link, sessions, the board.

- ``request_signin``: a staff address (``DeskPolicy.is_staff``) gets a mail with a
  link valid ``SIGNIN_LIFETIME`` (core.web_tokens); any other address gets nothing,
  and the caller shows the same page either way, so the form tells nobody who is
  staff. Requests are limited per client address (``IP_WINDOWS``, counted in the
  database by ``usecases.request_limits``, so every web process and a restart see
  the same counts) and per staff address (by the sign-in mails already queued), with
  core.submission_limits' windows. A staff address over its limit silently gets no
  mail (a 429 would tell it is staff).
- ``sign_in``: the link's token, verified and its nonce spent (single use), opens a
  session: a random cookie value of which only the SHA-256 is stored, lasting
  ``[web] staff_session``.
- ``board``: open tickets by the time to their next running deadline (overdue
  first), counts per tier and status; ``staff_ticket``: everything about one
  ticket, internal notes included; ``take``: assign it to the signed-in address
  through ``update_ticket`` (the SLA history records it as ``#assign`` does).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, TicketRow
from mailbot.config import is_email_address
from mailbot.core import web_tokens
from mailbot.core.limits import human_size
from mailbot.core.submission_limits import Verdict, Window, decide_submission
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import queue_ticketless_mail
from mailbot.usecases.request_limits import count_request
from mailbot.usecases.ticket_changes import update_ticket
from mailbot.usecases.views import one_ticket_summary, sla_detail

SIGNIN_KIND = "staff_signin"
# Per client address (every request counts) and per staff address (mails sent).
IP_WINDOWS = (Window("ip", 10, timedelta(hours=1)),)
ADDRESS_WINDOWS = (Window("ip", 3, timedelta(minutes=15)), Window("ip", 10, timedelta(days=1)))

SIGNIN_MAIL = """\
Link do logowania na tablicę zgłoszeń ({minutes} min, jednorazowy):
Sign-in link to the ticket board ({minutes} min, single use):

{link}

Jeśli to nie Ty prosiłeś o link, zignoruj tę wiadomość.
If you did not ask for it, ignore this message.
"""


def request_signin(desk: Desk, address: str, *, client: str, link_base: str) -> Verdict:
    """Mail a sign-in link to ``address`` if it is staff; refused only by the limit on
    ``client`` (its IP address, or "unknown"), which counts every request."""
    now = desk.clock()
    verdict = count_request(desk, SIGNIN_KIND, client, IP_WINDOWS)
    address = address.strip().lower()
    if not verdict.allowed or not (is_email_address(address) and desk.policy.is_staff(address)):
        return verdict
    with Session(desk.engine) as session:
        longest = max(window.period for window in ADDRESS_WINDOWS)
        sent = repo.signin_mails_since(address, SIGNIN_KIND, now - longest, session=session)
        if decide_submission(now=now, from_address=sent, from_everyone=(),
                             windows=ADDRESS_WINDOWS).allowed:  # fmt: skip
            _queue_signin_mail(desk, address, link_base=link_base, now=now, session=session)
            session.commit()
    return verdict


def _queue_signin_mail(
    desk: Desk, address: str, *, link_base: str, now: datetime, session: Session
) -> None:
    token = web_tokens.signin_token(desk.token_key, address=address,
                                    nonce=secrets.token_hex(16), now=now)  # fmt: skip
    minutes = int(web_tokens.SIGNIN_LIFETIME.total_seconds() // 60)
    queue_ticketless_mail(
        desk, kind=SIGNIN_KIND, recipients=(address,),
        subject="Logowanie na tablicę zgłoszeń / Ticket board sign-in",
        body=SIGNIN_MAIL.format(minutes=minutes, link=f"{link_base}/staff/login/{token}"),
        now=now, session=session,
    )  # fmt: skip


def signin_address(desk: Desk, token: str) -> str | None:
    """The staff address a link is for, while it is valid and unused (not spending it)."""
    claim = web_tokens.verify_signin(desk.token_key, token, now=desk.clock())
    if claim is None or not desk.policy.is_staff(claim.address):
        return None
    with Session(desk.engine) as session:
        return None if repo.nonce_spent(claim.nonce, session=session) else claim.address


def session_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


def sign_in(desk: Desk, token: str) -> str | None:
    """A new session's cookie value for a valid, unspent link (spending it), else None."""
    now = desk.clock()
    claim = web_tokens.verify_signin(desk.token_key, token, now=now)
    if claim is None or not desk.policy.is_staff(claim.address):
        return None
    cookie = secrets.token_urlsafe(32)
    with Session(desk.engine) as session:
        if not repo.spend_nonce(claim.nonce, now=now, session=session):
            return None
        repo.drop_expired_staff_sessions(now=now, session=session)
        repo.add_staff_session(session_hash(cookie), claim.address, now=now,
                               expires_at=now + desk.settings.web.staff_session,
                               session=session)  # fmt: skip
        session.commit()
    return cookie


def signed_in(desk: Desk, cookie: str) -> str | None:
    """The staff address of a live session, or None (also when the address is no longer
    staff: the settings changed since it signed in)."""
    if not cookie:
        return None
    with Session(desk.engine) as session:
        row = repo.live_staff_session(session_hash(cookie), now=desk.clock(), session=session)
    return row.address if row is not None and desk.policy.is_staff(row.address) else None


def sign_out(desk: Desk, cookie: str) -> None:
    with Session(desk.engine) as session:
        repo.end_staff_session(session_hash(cookie), session=session)
        session.commit()


# --- the board ---------------------------------------------------------------------------


def next_deadline(ticket: TicketRow) -> datetime | None:
    """The deadline running now: reaction until the first answer, then resolution unless the
    ticket waits for the customer (None: no clock runs)."""
    if ticket.first_response_at is None:
        return ticket.reaction_due
    if ticket.resolved_at is None and ticket.paused_since is None:
        return ticket.resolution_due
    return None


@dataclass(frozen=True)
class BoardRow:
    number: str
    tier: str
    status: str
    subject: str
    customer: str
    assignee: str
    deadline: str  # the company's local time, "" when no clock runs
    overdue: bool


@dataclass(frozen=True)
class Board:
    rows: Sequence[BoardRow]
    # (tier, status, count), open tickets and done ones alike
    counts: Sequence[tuple[str, str, int]]


def board(desk: Desk) -> Board:
    now = desk.clock()
    with Session(desk.engine) as session:
        tickets = repo.open_tickets(session=session)
        counts = repo.tickets_by_tier_and_status(session=session)
    far = datetime.max.replace(tzinfo=now.tzinfo)
    ordered = sorted(tickets, key=lambda t: (next_deadline(t) or far, t.seq))
    rows = [_row(desk, ticket, now) for ticket in ordered]
    return Board(rows, [(tier, status, n) for (tier, status), n in sorted(counts.items())])


def _row(desk: Desk, ticket: TicketRow, now: datetime) -> BoardRow:
    due = next_deadline(ticket)
    return BoardRow(
        number=ticket.number, tier=ticket.tier, status=ticket.status, subject=ticket.subject,
        customer=ticket.customer_address, assignee=ticket.assignee,
        deadline="" if due is None else desk.local_time(due),
        overdue=due is not None and due <= now,
    )  # fmt: skip


def staff_ticket(desk: Desk, number: str) -> dict[str, Any] | None:
    """The ticket, its deadlines and its whole timeline (messages, internal notes and SLA
    history, oldest first), times in the company's local time."""
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number.upper(), session=session)
        if ticket is None or ticket.id is None:
            return None
        entries: list[tuple[datetime, int, dict[str, Any]]] = []
        for message in repo.ticket_messages(ticket.id, session=session):
            entries.append((message.received_at, 0, {
                "kind": "message", "direction": message.direction, "sender": message.sender,
                "subject": message.subject, "body": message.body_text,
                "note": message.note, "internal": message.internal,
                "attachments": [_attachment(a) for a in
                                repo.message_attachments(message.id, session=session)],
            }))  # fmt: skip
        for event in repo.events_of(ticket.id, session=session):
            entries.append((event.at, 1, {"kind": "event", "event": event.kind,
                                          "detail": event.detail}))  # fmt: skip
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        return {
            **one_ticket_summary(ticket, session=session),
            "sla": sla_detail(ticket, desk.clock(), session=session),
            "next_deadline": _row(desk, ticket, desk.clock()),
            "timeline": [{"at": desk.local_time(at), **entry} for at, _, entry in entries],
        }


def _attachment(row: repo.AttachmentRow) -> dict[str, Any]:
    """An attachment as the board lists it; ``pruned_on``: the day ``mailbot db prune``
    removed its file (the board never reads the file itself)."""
    pruned_on = None if row.pruned_at is None else row.pruned_at.date().isoformat()
    return {"filename": row.filename, "content_type": row.content_type,
            "size": human_size(row.size), "pruned_on": pruned_on}  # fmt: skip


def take(desk: Desk, number: str, address: str) -> bool:
    """Assign the ticket to ``address`` as ``tickets set ... assignee`` does; False when there
    is no such ticket."""
    now = desk.clock()
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number.upper(), session=session)
        if ticket is None:
            return False
        update_ticket(desk, ticket, "assignee", address, by=address, now=now, session=session)
        session.commit()
    return True
