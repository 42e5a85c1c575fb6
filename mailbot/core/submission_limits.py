"""Whether one more web submission may be taken now: per-IP and global sliding windows.

Spam through web forms is the recurring complaint about helpdesks' portals, so
every submission counts against windows such as "5 an hour and 20 a day from
one address" and a global cap across all addresses. A refusal carries the
seconds until the oldest submission that blocks leaves its window, for the
``Retry-After`` field of a 429 answer (RFC 6585 section 4, RFC 9110 section
10.2.3).

The caller reads the times of recent submissions (the address's and everyone's,
within the longest window); in each window only the newest ``count`` of them
matter, so it may read no more than that. Windows are sliding: a submission
stops counting ``period`` after it was made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Scope = Literal["ip", "global"]


@dataclass(frozen=True)
class Window:
    """At most ``count`` submissions within any ``period``, from one address or from all."""

    scope: Scope
    count: int
    period: timedelta

    def __post_init__(self) -> None:
        if self.count < 0 or self.period <= timedelta(0):
            raise ValueError(f"a window needs a count >= 0 and a period > 0, got {self}")


# The defaults per address; the global cap is ours. All three become settings.
DEFAULT_WINDOWS = (
    Window("ip", 5, timedelta(hours=1)),
    Window("ip", 20, timedelta(days=1)),
    Window("global", 200, timedelta(hours=1)),
)


@dataclass(frozen=True)
class Verdict:
    """``allowed``, or refused by ``window`` until ``retry_after`` seconds have passed."""

    allowed: bool
    retry_after: int = 0
    window: Window | None = None


ALLOW = Verdict(True)


def decide_submission(
    *,
    now: datetime,
    from_address: Sequence[datetime],
    from_everyone: Sequence[datetime],
    windows: Sequence[Window] = DEFAULT_WINDOWS,
) -> Verdict:
    """Whether a submission made at ``now`` is taken, given the times of earlier ones from
    the same client address and from everyone; the refusal that waits longest wins, so a
    client told to come back is not refused again by another window at that moment."""
    refusals = [
        _refusal(window, now, from_address if window.scope == "ip" else from_everyone)
        for window in windows
    ]
    blocking = [verdict for verdict in refusals if verdict is not None]
    return max(blocking, key=lambda verdict: verdict.retry_after, default=ALLOW)


def _refusal(window: Window, now: datetime, times: Sequence[datetime]) -> Verdict | None:
    start = now - window.period
    recent = sorted((t for t in times if start < t <= now), reverse=True)
    if len(recent) < window.count:
        return None
    if window.count == 0:  # the form is closed for this scope
        return Verdict(False, math.ceil(window.period.total_seconds()), window)
    # One more is allowed once the count-th newest has left the window.
    frees_at = recent[window.count - 1] + window.period
    return Verdict(False, max(math.ceil((frees_at - now).total_seconds()), 1), window)
