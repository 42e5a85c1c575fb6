"""SLA: a ticket's deadlines, how they move, and which reminders are due. Pure.

The rules (SERVICE_TERMS.md and issue 3):

- Reaction due = received + the tier's reaction window, on the tier's
  calendar. It is met by the first staff action (a reply or a status change),
  never by the automatic acknowledgement, and it never pauses.
- Resolution due = received + the resolution window + the working time the
  ticket spent waiting for the customer (status ``waiting``), on the tier's
  calendar. It is met when the ticket is resolved. While the ticket waits,
  the resolution clock stands still; when the customer answers, the deadline
  moves by exactly the paused working time.
- A tier change (staff reclassify the ticket) recomputes both deadlines from
  the original received time, keeping the paused time.
- Express (a post-warranty service, SERVICE_TERMS.md): an express ticket's
  resolution is due after the tier's express window instead of its normal one
  (never later than the normal one), counted the same way: from the received
  time, on the tier's calendar, plus the paused time. Turning express on or off
  recomputes the resolution deadline; on a tier without an express window the
  flag changes no deadline.
- Alerts: before each unmet deadline, reminders at the tier's offsets
  (working time on its calendar); at the deadline, if still unmet, one
  escalation. Each alert has a key that names its deadline, so it is sent at
  most once; when the deadline moves, the alerts of the new one are new.
- Alerts missed while the daemon was down are not all sent at once: of the
  alerts due for one deadline, only the latest goes out (the escalation if
  the deadline has passed), marked late; the older ones are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from mailbot.core.calendar import (
    Calendar,
    WorkingDuration,
    add_working_time,
    subtract_working_time,
    working_length,
    working_time_between,
)
from mailbot.core.humanize import human_duration

# An alert sent more than this after its planned moment says it is late
# (the sweep runs every 20 s; more than this means the daemon was not running).
LATE_AFTER = timedelta(minutes=2)


class DeadlineKind(StrEnum):
    REACTION = "reaction"
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class TierPolicy:
    """A tier's promise: its calendar, both windows, and the reminder offsets."""

    calendar: Calendar
    reaction: WorkingDuration
    resolution: WorkingDuration
    reaction_reminders: tuple[WorkingDuration, ...] = ()
    resolution_reminders: tuple[WorkingDuration, ...] = ()
    # The resolution window of an express ticket; None: the tier has no express service.
    express_resolution: WorkingDuration | None = None

    def reminders(self, kind: DeadlineKind) -> tuple[WorkingDuration, ...]:
        return (
            self.reaction_reminders if kind is DeadlineKind.REACTION else self.resolution_reminders
        )


@dataclass(frozen=True)
class Deadlines:
    reaction_due: datetime
    resolution_due: datetime


def deadlines(
    received_at: datetime,
    policy: TierPolicy,
    *,
    paused: timedelta = timedelta(0),
    express: bool = False,
) -> Deadlines:
    """Both deadlines of a ticket received at ``received_at`` that waited ``paused`` (working);
    an ``express`` one's resolution is ``express_resolution_due``'s when its tier has one."""
    cal = policy.calendar
    resolution = working_length(cal, policy.resolution) + paused
    normal = add_working_time(cal, received_at, resolution)
    faster = express_resolution_due(received_at, policy, paused=paused) if express else None
    return Deadlines(
        reaction_due=add_working_time(cal, received_at, policy.reaction),
        resolution_due=normal if faster is None else faster,
    )


def express_resolution_due(
    received_at: datetime, policy: TierPolicy, *, paused: timedelta = timedelta(0)
) -> datetime | None:
    """The resolution deadline of an express ticket received at ``received_at`` that waited
    ``paused`` (working time): the tier's express window plus the paused time, on its
    calendar, never later than the normal deadline; None when the tier has no express."""
    if policy.express_resolution is None:
        return None
    cal = policy.calendar
    window = min(
        working_length(cal, policy.express_resolution), working_length(cal, policy.resolution)
    )
    return add_working_time(cal, received_at, window + paused)


@dataclass(frozen=True)
class SlaClock:
    """What the SLA needs to remember about one ticket."""

    received_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    paused_since: datetime | None = None
    paused: timedelta = timedelta(0)  # working time spent waiting, pauses that ended
    express: bool = False  # the resolution runs on the tier's express window, if it has one

    @property
    def waiting(self) -> bool:
        return self.paused_since is not None


def clock_deadlines(clock: SlaClock, policy: TierPolicy) -> Deadlines:
    """The deadlines of the ticket whose clock is ``clock``: from its received time, with the
    pauses that ended, and on the express window when it is express."""
    return deadlines(clock.received_at, policy, paused=clock.paused, express=clock.express)


def pause(clock: SlaClock, at: datetime) -> SlaClock:
    """The ticket starts waiting for the customer at ``at``."""
    return clock if clock.waiting else replace(clock, paused_since=at)


def resume(clock: SlaClock, policy: TierPolicy, at: datetime) -> tuple[SlaClock, timedelta]:
    """The ticket stops waiting at ``at``; returns the new clock and the working time paused."""
    if clock.paused_since is None:
        return clock, timedelta(0)
    gone = max(working_time_between(policy.calendar, clock.paused_since, at), timedelta(0))
    return replace(clock, paused_since=None, paused=clock.paused + gone), gone


def staff_acted(clock: SlaClock, at: datetime) -> SlaClock:
    """A person on the staff replied or changed the status: the reaction is met (once)."""
    return clock if clock.first_response_at else replace(clock, first_response_at=at)


CLOSED_STATUSES = frozenset({"resolved", "closed"})


@dataclass(frozen=True)
class Change:
    """A status change, applied by ``change_status``."""

    old: str
    new: str
    at: datetime
    by_staff: bool


def change_status(
    clock: SlaClock, policy: TierPolicy, change: Change
) -> tuple[SlaClock, list[str]]:
    """The SLA clock after ``change``, and what it did to the deadlines, for the ticket's history.

    Waiting starts the pause and anything else ends it; resolved or closed
    meets the resolution deadline, and leaving them reopens it; a change by
    staff meets the reaction deadline.
    """
    events: list[str] = []
    if change.by_staff and clock.first_response_at is None:
        clock = staff_acted(clock, change.at)
        events.append("first_response: the reaction deadline is met")
    if change.old == "waiting" and change.new != "waiting":
        clock, gone = resume(clock, policy, change.at)
        moved = human_duration(gone, "en")
        events.append(f"resumed: the resolution deadline moves by {moved} of working time")
    if change.new == "waiting" and not clock.waiting:
        clock = pause(clock, change.at)
        events.append("paused: waiting for the customer, the resolution clock stops")
    if change.new in CLOSED_STATUSES and clock.resolved_at is None:
        clock = replace(clock, resolved_at=change.at)
        events.append("resolved: the resolution deadline is met")
    elif change.new not in CLOSED_STATUSES and clock.resolved_at is not None:
        clock = replace(clock, resolved_at=None)
        events.append("reopened: the resolution deadline applies again")
    return clock, events


def set_express(clock: SlaClock, policy: TierPolicy, on: bool) -> tuple[SlaClock, list[str]]:
    """The SLA clock with express ``on`` or off, and what it did to the resolution deadline,
    for the ticket's history (nothing when the flag does not change)."""
    if clock.express == on:
        return clock, []
    clock = replace(clock, express=on)
    if policy.express_resolution is None:
        return clock, ["express: this tier has no express service, the deadlines stay"]
    if on:
        window = policy.express_resolution
        return clock, [f"express: the resolution deadline runs on the express window {window}"]
    return clock, [f"express off: the resolution deadline runs on the window {policy.resolution}"]


def met(clock: SlaClock, kind: DeadlineKind) -> datetime | None:
    """When the deadline of ``kind`` was met, or None."""
    return clock.first_response_at if kind is DeadlineKind.REACTION else clock.resolved_at


@dataclass(frozen=True)
class Alert:
    """A reminder ``before`` a deadline, or the escalation (``before`` None) at it."""

    kind: DeadlineKind
    due: datetime
    at: datetime
    before: WorkingDuration | None = None

    @property
    def escalation(self) -> bool:
        return self.before is None

    @property
    def key(self) -> str:
        """Unique per ticket: the deadline kind, the offset and the deadline itself."""
        offset = "escalation" if self.before is None else _offset_text(self.before)
        return f"{self.kind}:{offset}:{self.due.isoformat()}"

    def late(self, now: datetime) -> bool:
        return now - self.at > LATE_AFTER


def _offset_text(offset: WorkingDuration) -> str:
    return f"{offset.days}d{int(offset.time.total_seconds())}s"


def planned_alerts(clock: SlaClock, policy: TierPolicy, due: Deadlines) -> list[Alert]:
    """Every alert of the unmet deadlines, in time order.

    While the ticket waits for the customer its resolution deadline is not
    final, so it has no alerts then. A reminder that would fall before the ticket
    was received is left out.
    """
    alerts: list[Alert] = []
    for kind, deadline in (
        (DeadlineKind.REACTION, due.reaction_due),
        (DeadlineKind.RESOLUTION, due.resolution_due),
    ):
        if met(clock, kind) or (kind is DeadlineKind.RESOLUTION and clock.waiting):
            continue
        for offset in policy.reminders(kind):
            at = subtract_working_time(policy.calendar, deadline, offset)
            # A reminder longer than the window (an express deadline has the tier's resolution
            # reminders) would fall before the ticket came: it is left out, not sent at once.
            if at >= clock.received_at:
                alerts.append(Alert(kind, deadline, at, offset))
        alerts.append(Alert(kind, deadline, deadline))
    return sorted(alerts, key=lambda a: (a.at, a.kind))


def next_alert_at(
    clock: SlaClock, policy: TierPolicy, due: Deadlines, *, done: Iterable[str]
) -> datetime | None:
    """When the earliest alert not yet sent or skipped falls due (None: no more alerts)."""
    done_keys = set(done)
    return min(
        (a.at for a in planned_alerts(clock, policy, due) if a.key not in done_keys), default=None
    )


@dataclass(frozen=True)
class AlertPlan:
    send: tuple[Alert, ...]
    skip: tuple[Alert, ...]
    next_at: datetime | None  # the earliest alert still to come, for the sweep's index


def plan_alerts(
    clock: SlaClock, policy: TierPolicy, due: Deadlines, *, done: Iterable[str], now: datetime
) -> AlertPlan:
    """Which alerts to send now, which to skip for good, and when to look again.

    ``done`` holds the keys of alerts already sent or skipped.
    """
    done_keys = set(done)
    pending = [a for a in planned_alerts(clock, policy, due) if a.key not in done_keys]
    ripe = [a for a in pending if a.at <= now]
    send: list[Alert] = []
    skip: list[Alert] = []
    for kind in DeadlineKind:
        mine = [a for a in ripe if a.kind is kind]
        if mine:
            send.append(mine[-1])  # the latest: the escalation if the deadline passed
            skip.extend(mine[:-1])
    later = [a.at for a in pending if a.at > now]
    return AlertPlan(tuple(send), tuple(skip), min(later, default=None))
