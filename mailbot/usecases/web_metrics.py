"""The desk's figures for ``/metrics`` (issue 15), read from the database at scrape time.

What the database can give, each as the database holds it now: tickets by tier
and status, overdue tickets, first-response times (tickets that have one), the
outbox by status with the age of its oldest unsent mail, the time since the last
successful poll (the daemon records it in ``daemon_state``), and the mails taken
from the mailbox by outcome (the ledger). Nothing is counted in the web process
itself, so every web process (and a restart) shows the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.adapters import db
from mailbot.adapters.db import ResponseTimes, Session
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import POLL, UNSENT

# Seconds: 5 and 15 minutes, 1, 2, 4, 8 hours, 1, 2, 5 days (the tiers' reaction windows
# are 1 h and 24 h of working time, so most answers fall between these).
RESPONSE_BOUNDS = (300.0, 900.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 432000.0)


@dataclass(frozen=True)
class DeskFigures:
    now: datetime
    tickets: dict[tuple[str, str], int]  # (tier, status) -> how many
    overdue_tickets: int
    first_response: ResponseTimes  # within RESPONSE_BOUNDS
    outbox: dict[str, int]  # status -> how many
    oldest_unsent_age: float | None  # seconds; None when nothing waits
    last_poll_age: float | None  # seconds; None before the first successful poll
    mails_taken: dict[str, int]  # ledger outcome -> how many, ever


def desk_figures(desk: Desk) -> DeskFigures:
    now = desk.clock()
    with Session(desk.engine) as session:
        state = db.daemon_state(POLL, session=session)
        _, oldest = db.unsent_mails(UNSENT, session=session)
        return DeskFigures(
            now=now,
            tickets=db.tickets_by_tier_and_status(session=session),
            overdue_tickets=db.overdue_tickets(now, session=session),
            first_response=db.first_response_times(RESPONSE_BOUNDS, session=session),
            outbox=db.outbox_by_status(session=session),
            oldest_unsent_age=_age(now, oldest),
            last_poll_age=_age(now, state.succeeded_at if state else None),
            mails_taken=db.mails_taken_by_outcome(session=session),
        )


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else max((now - moment).total_seconds(), 0.0)
