"""Bounces of our own mails, in any format: mark the mail failed, tell staff, no ticket.

A bounce (an RFC 3464 report, or a notice in another MTA's format that
mailbot.core.bounces reads) is linked to the outbox mail it reports by the
returned mail's Message-ID (its attached copy or headers, a ``Message-ID:``
line of the quoted text, In-Reply-To/References), else by a failed address
and our most recent mail to it within ``ADDRESS_WINDOW``. A permanent failure
marks the outbox row ``failed`` with the server's text as ``last_error`` and
the ticket's staff get ``staff_bounce``; a temporary one (a delay) is noted on
the row, which stays sent. A bounce opens no ticket; one about no mail of ours
is quarantined (mailbot.usecases.ingest).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.adapters import db as repo
from mailbot.adapters.db import OutboxRow, Session
from mailbot.core.bounces import diagnosis, says_delayed
from mailbot.core.mail import InboundMail
from mailbot.core.notices import StaffBounce, goes_to_staff
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import queue_staff_mail

log = logging.getLogger("mailbot.bounces")

# How far back a bounce that names only an address is matched to our last mail to it.
# MTAs retry a deferred mail for four to five days before giving up (RFC 5321 section
# 4.5.4.1), so the notice comes within about five days of the sending; seven leave room
# for a slow notice, while an older mail to the address is likelier not the one reported.
ADDRESS_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class BounceLink:
    """An outbox mail a bounce reports on; ``delayed``: only a temporary failure."""

    row: OutboxRow
    delayed: bool


def linked_outbox(mail: InboundMail, *, now: datetime, session: Session) -> list[BounceLink]:
    """The outbox mails ``mail`` reports on: by Message-ID, else by a failed address."""
    ids = (*mail.reported_message_ids, mail.in_reply_to or "", *mail.references)
    rows = list(repo.outbox_by_message_ids(ids, session=session))
    if not rows:
        since = now - ADDRESS_WINDOW
        found = (repo.last_sent_to(address, since, session=session)
                 for address in (*mail.bounced_addresses, *mail.delayed_addresses))  # fmt: skip
        rows = list({row.id: row for row in found if row is not None}.values())
    return [BounceLink(row, _only_delayed(mail, row)) for row in rows]


def _only_delayed(mail: InboundMail, row: OutboxRow) -> bool:
    """Whether the bounce says only that delivery of ``row`` is delayed (not a failure)."""
    recipients = {a.strip().lower() for a in row.recipients.split(",")}
    if recipients & set(mail.bounced_addresses):
        return False
    if recipients & set(mail.delayed_addresses):
        return True
    # A report that names other addresses (a forwarding, an alias) or none we could read:
    # what it says overall.
    if mail.bounced_addresses:
        return False
    return bool(mail.delayed_addresses) or says_delayed(mail)


def handle_bounce(desk: Desk, mail: InboundMail, *, now: datetime, session: Session) -> str | None:
    """Mark the outgoing mails ``mail`` reports on; a summary, or None if none is ours."""
    links = linked_outbox(mail, now=now, session=session)
    if not links:
        return None
    why = diagnosis(mail)
    for link in links:
        if link.delayed:
            _note_delay(link.row, why, session=session)
        else:
            _mark_bounced(desk, link.row, why, now=now, session=session)
    what = ", ".join(
        f"{'delay of' if link.delayed else ''} {link.row.kind} {link.row.message_id}".strip()
        for link in links
    )
    return f"bounce for {what}: {why}"


def _note_delay(row: OutboxRow, why: str, *, session: Session) -> None:
    if row.status == "failed":
        return  # a delay notice after the failure tells nothing new
    row.last_error = f"delayed: {why}"[:1000]
    session.add(row)
    log.info("outbox %s (%s to %s) delayed: %s", row.id, row.kind, row.recipients, why)


def _mark_bounced(desk: Desk, row: OutboxRow, why: str, *, now: datetime, session: Session) -> None:
    row.status = "failed"
    row.last_error = f"bounced: {why}"[:1000]
    session.add(row)
    log.warning("outbox %s (%s to %s) bounced: %s", row.id, row.kind, row.recipients, why)
    if goes_to_staff(row.kind):
        return  # telling staff that a mail to staff bounced would bounce again: a loop
    ticket = repo.ticket_by_id(row.ticket_id, session=session) if row.ticket_id else None
    if ticket is None:
        return
    notice = StaffBounce(
        recipients=row.recipients, kind=row.kind, diagnosis=why, bounced_message_id=row.message_id
    )
    queue_staff_mail(desk, ticket, notice, now=now, session=session)
