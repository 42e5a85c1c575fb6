"""When a mail counts as received: the moment its deadlines run from. Pure: ``now`` is passed in.

The mailbox's date (IMAP INTERNALDATE, a Maildir file's name or time) is the
rule, even when mailbot was down then. It is not believed when it cannot be
right, and then the time of intake counts:

1. No mailbox date, or one after ``now`` (a skewed server clock): ``now``.
2. Before 2000 (``EARLIEST``): a file name or a time stamp lost, not a mail
   that waited decades; every deadline would be long overdue at once.
3. More than a day (``SLACK``) before the mail's own ``Date`` header: a mail
   cannot reach the mailbox before it was written. A ``Date`` header further
   in the future than ``SLACK``, or before 2000, proves nothing (the sender's
   clock is wrong), so it is not used against the mailbox date.

In cases 2 and 3 the answer says why, for the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Received:
    """The moment a mail counts as received, and why the mailbox's date was not, if it was not."""

    at: datetime
    doubt: str | None = None


def received_time(mailbox: datetime | None, header: datetime | None, *, now: datetime) -> Received:
    """When the mail counts as received: ``mailbox`` (aware, or None) unless it is not to be
    believed (the module's rules); ``header`` is the mail's parsed ``Date`` (aware, or None)."""
    if mailbox is None or mailbox > now:
        return Received(now)
    if mailbox < EARLIEST:
        return Received(now, f"mailbox date {mailbox.isoformat()} is before {EARLIEST.year}")
    if header is not None and EARLIEST <= header <= now + SLACK and mailbox < header - SLACK:
        return Received(
            now,
            f"mailbox date {mailbox.isoformat()} is more than a day before the mail's Date"
            f" header {header.isoformat()}",
        )
    return Received(mailbox)
