"""Time recorded on tickets, and the billing marks on them (express, unjustified, warranty).

Called by the CLI (``mailbot time add``, ``tickets set NUMBER express on``) and
by staff commands in mail (``#time 1h30m``, ``#express``, ``#unjustified``).
Each function works inside the caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from mailbot.adapters.db import Session, TicketRow, TimeEntryRow
from mailbot.core.commands import MAX_ENTRY, MIN_ENTRY
from mailbot.core.durations import work_seconds
from mailbot.usecases.sla_state import record_event

FLAGS = ("express", "unjustified", "warranty")


def parse_work_duration(text: str) -> timedelta:
    """``1h30m``, ``90m``, ``1.5h``, ``2h`` (mailbot.core.durations) as a timedelta (whole seconds).

    Raises ValueError for anything else, for less than MIN_ENTRY (a minute) and for
    more than MAX_ENTRY (a day) in one entry: the rules ``#time`` is checked by too.
    """
    if text.strip().startswith("-"):
        raise ValueError(f"time worked must be positive, got {text!r}")
    # Decimal, not int: a run of 400 nines is just too long, never an overflow.
    seconds = work_seconds(text)
    if seconds is None:
        raise ValueError(f"expected a duration like 1h30m, 90m or 1.5h, got {text!r}")
    if seconds > Decimal(MAX_ENTRY.total_seconds()):
        raise ValueError(
            f"{text!r} is more than {MAX_ENTRY.total_seconds() / 3600:.0f} h in one entry; "
            "record each day's work separately"
        )
    duration = timedelta(seconds=int(seconds.to_integral_value()))
    if duration < MIN_ENTRY:
        raise ValueError(f"time worked must be at least a minute, got {text!r}")
    return duration


def add_time(
    ticket: TicketRow,
    duration: timedelta,
    *,
    at: datetime,
    by: str,
    note: str,
    session: Session,
    recorded_at: datetime | None = None,
) -> TimeEntryRow:
    """Record ``duration`` of work on ``ticket``, done at ``at`` (aware), by ``by``.

    ``recorded_at`` (default ``at``) is when it was entered, for the record.
    """
    assert ticket.id is not None
    if duration <= timedelta() or duration > MAX_ENTRY:
        raise ValueError(f"time worked must be between 1 s and {MAX_ENTRY}, got {duration}")
    entry = TimeEntryRow(
        ticket_id=ticket.id,
        seconds=int(duration.total_seconds()),
        at=at,
        by=by,
        note=note,
        created_at=recorded_at or at,
    )
    session.add(entry)
    session.flush()
    return entry


def set_flag(
    ticket: TicketRow, flag: str, on: bool, *, by: str, at: datetime, session: Session
) -> None:
    """Mark or unmark ``ticket`` as express, unjustified or warranty; kept in its history.

    The mark alone: ``ticket_changes.set_billing_flag`` also moves an express ticket's
    resolution deadline, and is what the CLI, mail commands and the web form call.
    """
    if flag not in FLAGS:
        raise ValueError(f"expected one of {', '.join(FLAGS)}, got {flag!r}")
    setattr(ticket, flag, on)
    ticket.updated_at = at
    session.add(ticket)
    record_event(ticket, "flag", f"{flag} {'on' if on else 'off'} by {by}", at=at, session=session)
