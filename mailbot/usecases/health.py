"""How the desk is doing, for ``mailbot status``, monitoring and the daemon's systemd STATUS.

The daemon records each poll in ``daemon_state`` (``record_poll``); a
``Snapshot`` reads that and the queues from the database, and ``judge`` turns
it into OK, WARNING or CRITICAL (exit codes 0, 1, 2, as Nagios-style checks
expect):

- CRITICAL: no successful poll for ``health.poll_critical`` (or ever), a
  mail waiting in the outbox for ``health.outbox_critical``, or the OAuth2
  token endpoint refusing for good (``usecases.oauth2_refusals`` records it
  in ``daemon_state`` row ``oauth2``; the line names the cause and the fix);
- WARNING: the same past ``health.poll_warning`` / ``health.outbox_warning``,
  or a reminder or escalation more than ``REMINDER_GRACE`` late (the sweep,
  every 20 seconds, is not keeping up or not running);
- overdue tickets and permanently failed mails are reported, not judged: they
  are the staff's business, and escalation mails already tell them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.adapters import db
from mailbot.adapters.db import DaemonStateRow, Engine, Session
from mailbot.config import HealthSettings
from mailbot.core.humanize import human_duration

POLL = "poll"
OAUTH2 = "oauth2"  # usecases.oauth2_refusals' row
REMINDER_GRACE = timedelta(minutes=5)
UNSENT = ("queued", "sending")


class Level(IntEnum):
    """The verdict; its value is ``mailbot status``'s exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    last_poll_at: datetime | None  # the last successful poll
    last_attempt_at: datetime | None
    last_error: str  # of the last attempt, "" when it succeeded
    mails_today: int  # taken from the mailbox since midnight, company time
    outbox_unsent: int
    oldest_unsent_at: datetime | None
    outbox_failed: int
    overdue_tickets: int
    reminders_late: int
    # Mails past a ticket's hourly cap, waiting for ``mailbot tickets release``.
    outbox_held: int = 0
    # The OAuth2 token endpoint's refusal for good and its fix ("" when none), and since when.
    oauth2_refused: str = ""
    oauth2_refused_since: datetime | None = None

    def age(self, moment: datetime | None) -> timedelta | None:
        return None if moment is None else max(self.now - moment, timedelta(0))


@dataclass(frozen=True)
class Verdict:
    level: Level
    problems: tuple[str, ...]


def record_poll(engine: Engine, *, now: datetime, error: str = "") -> None:
    """Remember a poll: successful when ``error`` is empty."""
    with Session(engine) as session:
        row = db.daemon_state(POLL, session=session) or DaemonStateRow(name=POLL)
        row.attempted_at = now
        row.error = error[:500]
        if not error:
            row.succeeded_at = now
        session.add(row)
        session.commit()


def take_snapshot(engine: Engine, *, now: datetime, tz: ZoneInfo) -> Snapshot:
    midnight = datetime.combine(now.astimezone(tz).date(), time(), tz)
    with Session(engine) as session:
        state = db.daemon_state(POLL, session=session)
        oauth2 = db.daemon_state(OAUTH2, session=session)
        unsent, oldest = db.unsent_mails(UNSENT, session=session)
        return Snapshot(
            now=now,
            last_poll_at=state.succeeded_at if state else None,
            last_attempt_at=state.attempted_at if state else None,
            last_error=state.error if state else "",
            mails_today=db.mails_taken_since(midnight, session=session),
            outbox_unsent=unsent,
            oldest_unsent_at=oldest,
            outbox_failed=db.outbox_with_status("failed", session=session),
            overdue_tickets=db.overdue_tickets(now, session=session),
            outbox_held=db.outbox_with_status("held", session=session),
            reminders_late=db.tickets_with_alert_due_by(now - REMINDER_GRACE, session=session),
            oauth2_refused=oauth2.error if oauth2 else "",
            oauth2_refused_since=oauth2.attempted_at if oauth2 and oauth2.error else None,
        )


def judge(snapshot: Snapshot, limits: HealthSettings) -> Verdict:
    """OK, WARNING or CRITICAL, with a line for each problem (see the module docstring)."""
    found: list[tuple[Level, str]] = []
    if snapshot.oauth2_refused:
        since = snapshot.age(snapshot.oauth2_refused_since)
        ago = f" (refused for {_age_text(since)})" if since is not None else ""
        found.append((Level.CRITICAL, f"{snapshot.oauth2_refused}{ago}"))
    poll_age = snapshot.age(snapshot.last_poll_at)
    error = f" (last attempt: {snapshot.last_error})" if snapshot.last_error else ""
    if poll_age is None:
        found.append((Level.CRITICAL, f"no successful poll yet{error}"))
    else:
        level = _level(poll_age, limits.poll_warning, limits.poll_critical)
        found.append((level, f"last successful poll {_age_text(poll_age)} ago{error}"))
    outbox_age = snapshot.age(snapshot.oldest_unsent_at)
    if outbox_age is not None:
        level = _level(outbox_age, limits.outbox_warning, limits.outbox_critical)
        found.append((level, f"oldest unsent mail queued {_age_text(outbox_age)} ago"))
    if snapshot.reminders_late:
        found.append((Level.WARNING, f"{snapshot.reminders_late} ticket(s) with reminders late"))
    problems = [(level, text) for level, text in found if level is not Level.OK]
    worst = max((level for level, _ in problems), default=Level.OK)
    return Verdict(worst, tuple(text for _, text in problems))


def _level(age: timedelta, warning: timedelta, critical: timedelta) -> Level:
    if age > critical:
        return Level.CRITICAL
    return Level.WARNING if age > warning else Level.OK


def summary(snapshot: Snapshot) -> str:
    """One line: ``3 mails today; 0 in outbox; 1 overdue; last poll 12s ago``."""
    poll_age = snapshot.age(snapshot.last_poll_at)
    poll = "no successful poll yet" if poll_age is None else f"last poll {_age_text(poll_age)} ago"
    parts = [
        f"{snapshot.mails_today} mails today",
        f"{snapshot.outbox_unsent} in outbox",
        f"{snapshot.overdue_tickets} overdue",
    ]
    if snapshot.reminders_late:
        parts.append(f"{snapshot.reminders_late} reminders late")
    if snapshot.outbox_held:
        parts.append(f"{snapshot.outbox_held} held for a person (tickets release)")
    if snapshot.oauth2_refused:
        parts.append("OAuth2 token refused (see mailbot status)")
    return "; ".join([*parts, poll])


def _age_text(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    return f"{seconds}s" if seconds < 120 else human_duration(age, "en")


def report(snapshot: Snapshot, verdict: Verdict) -> dict[str, Any]:
    """``mailbot status --json``: the verdict, its problems and every figure."""
    figures = asdict(snapshot)
    for key, value in figures.items():
        if isinstance(value, datetime):
            figures[key] = value.isoformat()
    age = snapshot.age(snapshot.last_poll_at)
    return {
        "status": verdict.level.name,
        "problems": list(verdict.problems),
        **figures,
        "last_poll_age_seconds": None if age is None else int(age.total_seconds()),
    }
