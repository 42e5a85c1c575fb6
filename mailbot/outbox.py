"""Flush the outbox: claim a mail, send it, mark it sent at once, retry transient failures.

Exactly once, as far as SMTP allows:

- A row is claimed (``queued`` -> ``sending``) by a conditional UPDATE before
  it is sent, so two flushers (the daemon and a ``run --once`` from cron, or
  two instances on PostgreSQL) never send the same mail.
- It is marked ``sent`` in its own commit right after the server accepted it,
  so a retry never repeats an accepted mail. The window left is a crash
  between the server's "250 OK" and that commit; a row still ``sending``
  long after (``STALE_CLAIM``) was most likely interrupted before the server
  took it, and is queued again with a warning in the log.
- A temporary failure (4xx, no connection) is retried with backoff and ends
  the flush, since the next mails would wait for the same dead server; a
  permanent one (5xx for this mail, or a mail that cannot be encoded) marks
  that row ``failed`` and the flush goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col

from mailbot.adapters import repository as repo
from mailbot.adapters.db import OutboxRow, TicketRow
from mailbot.adapters.smtp import MailSender
from mailbot.errors import DeliveryError
from mailbot.service import Desk

log = logging.getLogger("mailbot.outbox")

# Waits between attempts; past the last one the mail is given up as failed
# (about two days of trying, like a mail server's queue lifetime).
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 240, 480, 720, 720, 720))
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class PendingMail:
    id: int
    kind: str
    message_id: str
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int
    ticket: str = "-"  # its number, for the log; "-" for a mail of no ticket


@dataclass
class FlushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def retry_delay(attempts: int) -> timedelta | None:
    """The wait before attempt ``attempts + 1``, or None when it is time to give up."""
    return RETRY_DELAYS[attempts - 1] if 0 < attempts <= len(RETRY_DELAYS) else None


def _pending(row: OutboxRow, *, session: Session) -> PendingMail:
    assert row.id is not None
    recipients = row.recipients.split(",")
    ticket = session.get(TicketRow, row.ticket_id) if row.ticket_id is not None else None
    return PendingMail(
        row.id,
        row.kind,
        row.message_id,
        row.mail_from,
        recipients,
        row.raw,
        row.attempts,
        ticket.number if ticket else "-",
    )


def _rowcount(result: object) -> int:
    """Rows an UPDATE changed (its result is a CursorResult; the session types it loosely)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _due_ids(desk: Desk, now: datetime, limit: int) -> list[int]:
    with Session(desk.engine) as session:
        stale = _rowcount(
            session.execute(
                sa.update(OutboxRow)
                .where(
                    col(OutboxRow.status) == "sending",
                    col(OutboxRow.next_attempt_at) <= now - STALE_CLAIM,
                )
                .values(status="queued")
            )
        )
        session.commit()
        if stale:
            log.warning("outbox: %d mail(s) interrupted while sending are queued again", stale)
        return [row.id for row in repo.due_outbox(now, session=session, limit=limit) if row.id]


def _claim(desk: Desk, mail_id: int, now: datetime) -> PendingMail | None:
    """Take the row for sending; None when another flusher took it first."""
    with Session(desk.engine) as session:
        taken = _rowcount(
            session.execute(
                sa.update(OutboxRow)
                .where(col(OutboxRow.id) == mail_id, col(OutboxRow.status) == "queued")
                # The claim's own time: a long flush must not make its later
                # claims look stale to another flusher at once.
                .values(status="sending", next_attempt_at=desk.clock())
            )
        )
        session.commit()
        row = session.get(OutboxRow, mail_id) if taken == 1 else None
        return _pending(row, session=session) if row else None


def _update(desk: Desk, mail_id: int, **values: object) -> None:
    with Session(desk.engine) as session:
        session.execute(
            sa.update(OutboxRow)
            .where(col(OutboxRow.id) == mail_id, col(OutboxRow.status) == "sending")
            .values(**values)
        )
        session.commit()


def _after_failure(desk: Desk, mail: PendingMail, error: DeliveryError, now: datetime) -> str:
    attempts = mail.attempts + 1
    delay = None if error.permanent else retry_delay(attempts)
    reason = str(error)[:1000]
    if delay is None:
        _update(desk, mail.id, status="failed", attempts=attempts, last_error=reason)
        log.error(
            "outbox %s (%s, ticket %s, %s): failed for good: %s",
            mail.id,
            mail.kind,
            mail.ticket,
            mail.message_id,
            error,
        )
        return "failed"
    _update(
        desk,
        mail.id,
        status="queued",
        attempts=attempts,
        last_error=reason,
        next_attempt_at=now + delay,
    )
    log.warning(
        "outbox %s (%s, ticket %s): not sent, retry in %s: %s",
        mail.id,
        mail.kind,
        mail.ticket,
        delay,
        error,
    )
    return "retrying"


async def _send(sender: MailSender, mail: PendingMail) -> DeliveryError | None:
    """Send one mail; the failure as a value, whatever went wrong."""
    try:
        await sender.send(
            mail_from=mail.mail_from,
            recipients=mail.recipients,
            raw=mail.raw,
            name=f"{mail.id:06d}-{mail.kind}",
        )
    except DeliveryError as error:
        return error
    except Exception as exc:  # a row that cannot be sent must not block the ones after it
        log.exception("outbox %s: cannot be sent", mail.id)
        return DeliveryError(f"cannot be sent: {exc!r}", permanent=True)
    return None


async def flush_outbox(
    desk: Desk,
    sender: MailSender,
    *,
    limit: int = 100,
    should_stop: Callable[[], bool] = lambda: False,
) -> FlushReport:
    """Send what is due now; every outcome is committed before the next mail."""
    report = FlushReport()
    now = desk.clock()
    for mail_id in await asyncio.to_thread(_due_ids, desk, now, limit):
        if should_stop():
            break
        mail = await asyncio.to_thread(_claim, desk, mail_id, now)
        if mail is None:
            continue
        error = await _send(sender, mail)
        if error is None:
            await asyncio.to_thread(
                _update,
                desk,
                mail.id,
                status="sent",
                attempts=mail.attempts + 1,
                sent_at=desk.clock(),
            )
            log.info(
                "outbox %s (%s, ticket %s) sent to %s: %s",
                mail.id,
                mail.kind,
                mail.ticket,
                ",".join(mail.recipients),
                mail.message_id,
            )
            report.sent += 1
            continue
        outcome = await asyncio.to_thread(_after_failure, desk, mail, error, now)
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == "retrying":
            break  # the server is unwell: the rest waits for the next flush
    return report
