"""Delivery-status reports about our own mails: mark the mail failed, tell staff, no ticket.

A bounce (RFC 3464 ``multipart/report; report-type=delivery-status``) names
the returned mail by the Message-ID in its ``message/rfc822`` or
``text/rfc822-headers`` part, or in In-Reply-To/References. When that is one
of our outbox mails, the outbox row is marked ``failed`` with the report's
diagnosis as ``last_error``, the ticket's staff get ``staff_bounce``, and the
report opens no ticket. A report about a mail we do not know is left to the
usual decision (a robot's mail: a ticket without an acknowledgement).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from mailbot.adapters import db as repo
from mailbot.adapters.db import OutboxRow, Session
from mailbot.core.mail import InboundMail
from mailbot.core.notices import StaffBounce
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import queue_staff_mail

log = logging.getLogger("mailbot.bounces")

# Outbox kinds that go to staff, besides the staff_* notifications.
_STAFF_KINDS = frozenset({"reminder", "escalation"})

# RFC 3464 section 2.3.6: "Diagnostic-Code: smtp; 550 5.1.1 user unknown", the best
# account of what went wrong; else section 2.3.4's "Status: 5.1.1".
_FIELDS = tuple(
    re.compile(rf"^\s*{name}\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
    for name in ("Diagnostic-Code", "Status")
)


def diagnosis(mail: InboundMail) -> str:
    """The report's Diagnostic-Code (else Status) from its text, else its subject."""
    texts = [mail.body_text, *(a.data.decode("utf-8", "replace") for a in mail.attachments
                              if a.content_type == "message/delivery-status")]  # fmt: skip
    for field in _FIELDS:
        for text in texts:
            found = field.search(text)
            if found:
                return " ".join(found[1].split())[:500]
    return mail.subject[:500] or "delivery failed"


def handle_bounce(desk: Desk, mail: InboundMail, *, now: datetime, session: Session) -> str | None:
    """Mark the outgoing mails ``mail`` reports on as failed; a summary, or None if none is ours."""
    ids = (*mail.reported_message_ids, mail.in_reply_to or "", *mail.references)
    rows = repo.outbox_by_message_ids(ids, session=session)
    if not rows:
        return None
    why = diagnosis(mail)
    for row in rows:
        _mark_bounced(desk, row, why, now=now, session=session)
    return "bounce for " + ", ".join(f"{row.kind} {row.message_id}" for row in rows) + f": {why}"


def _mark_bounced(desk: Desk, row: OutboxRow, why: str, *, now: datetime, session: Session) -> None:
    row.status = "failed"
    row.last_error = f"bounced: {why}"[:1000]
    session.add(row)
    log.warning("outbox %s (%s to %s) bounced: %s", row.id, row.kind, row.recipients, why)
    if row.kind.startswith("staff_") or row.kind in _STAFF_KINDS:
        return  # telling staff that a mail to staff bounced would bounce again: a loop
    ticket = repo.ticket_by_id(row.ticket_id, session=session) if row.ticket_id else None
    if ticket is None:
        return
    notice = StaffBounce(
        recipients=row.recipients, kind=row.kind, diagnosis=why, bounced_message_id=row.message_id
    )
    queue_staff_mail(desk, ticket, notice, now=now, session=session)
