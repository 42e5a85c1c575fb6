"""Flush the outbox: send queued mail, mark it sent at once, retry transient failures.

A row is marked ``sent`` in its own commit right after the server accepted
it, so a retry never repeats an accepted mail (the window left is a crash
between the server's "250 OK" and that commit).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from mailbot.adapters import repository as repo
from mailbot.adapters.db import OutboxRow
from mailbot.adapters.smtp import MailSender
from mailbot.errors import DeliveryError
from mailbot.service import Desk

log = logging.getLogger("mailbot.outbox")

# Waits between attempts; past the last one the mail is given up as failed
# (about two days of trying, like a mail server's queue lifetime).
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 240, 480, 720, 720, 720))


@dataclass(frozen=True)
class PendingMail:
    id: int
    kind: str
    message_id: str
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int


@dataclass
class FlushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def retry_delay(attempts: int) -> timedelta | None:
    """The wait before attempt ``attempts + 1``, or None when it is time to give up."""
    return RETRY_DELAYS[attempts - 1] if 0 < attempts <= len(RETRY_DELAYS) else None


def _due(desk: Desk, now: datetime, limit: int) -> list[PendingMail]:
    with Session(desk.engine) as session:
        return [
            PendingMail(
                r.id or 0,
                r.kind,
                r.message_id,
                r.mail_from,
                r.recipients.split(","),
                r.raw,
                r.attempts,
            )
            for r in repo.due_outbox(now, session=session, limit=limit)
        ]


def _update(desk: Desk, mail_id: int, **values: object) -> None:
    with Session(desk.engine) as session:
        session.execute(
            sa.update(OutboxRow)
            .where(col(OutboxRow.id) == mail_id, col(OutboxRow.status) == "queued")
            .values(**values)
        )
        session.commit()


def _after_failure(desk: Desk, mail: PendingMail, error: DeliveryError, now: datetime) -> str:
    attempts = mail.attempts + 1
    delay = None if error.permanent else retry_delay(attempts)
    if delay is None:
        _update(desk, mail.id, status="failed", attempts=attempts, last_error=str(error)[:1000])
        log.error(
            "outbox %s (%s, %s): failed for good: %s", mail.id, mail.kind, mail.message_id, error
        )
        return "failed"
    _update(
        desk, mail.id, attempts=attempts, last_error=str(error)[:1000], next_attempt_at=now + delay
    )
    log.warning("outbox %s (%s): not sent, retry in %s: %s", mail.id, mail.kind, delay, error)
    return "retrying"


async def flush_outbox(desk: Desk, sender: MailSender, *, limit: int = 100) -> FlushReport:
    """Send what is due now; every outcome is committed before the next mail."""
    report = FlushReport()
    now = desk.clock()
    for mail in await asyncio.to_thread(_due, desk, now, limit):
        try:
            await sender.send(
                mail_from=mail.mail_from,
                recipients=mail.recipients,
                raw=mail.raw,
                name=f"{mail.id:06d}-{mail.kind}",
            )
        except DeliveryError as error:
            outcome = await asyncio.to_thread(_after_failure, desk, mail, error, now)
            setattr(report, outcome, getattr(report, outcome) + 1)
            continue
        await asyncio.to_thread(
            _update, desk, mail.id, status="sent", attempts=mail.attempts + 1, sent_at=desk.clock()
        )
        log.info(
            "outbox %s (%s) sent to %s: %s",
            mail.id,
            mail.kind,
            ",".join(mail.recipients),
            mail.message_id,
        )
        report.sent += 1
    return report
