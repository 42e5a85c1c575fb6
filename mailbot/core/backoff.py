"""How long to wait before trying an unreachable server again.

Exponential backoff with *equal jitter*: after the n-th failure in a row the
exponential step is ``base * 2**(n-1)``, capped at ``cap``; the delay is half
that step plus a random share of the other half. So

- the wait never drops below half the step: a server that is down is not
  hammered, and the delays grow with every failure, whatever the random
  draws (the shortest wait after failure n+1 equals the longest after n);
- never exceeds ``cap``: once the server is back, it is noticed within
  ``cap``;
- several daemons cut off at the same moment do not all come back in the
  same second (the jitter spreads them).

"Full jitter" (anywhere in ``[0, step]``) spreads load better but may retry
at once after many failures; for one daemon and one mailbox, the steady
growth matters more.

Pure: the random number and the current time come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# 2**64 times any sensible base is far beyond any cap: stop doubling there (and avoid overflow).
_MAX_DOUBLINGS = 64


def backoff_delay(failures: int, *, base: timedelta, cap: timedelta, jitter: float) -> timedelta:
    """The wait after ``failures`` failures in a row (none after 0), equal jitter.

    ``jitter`` is a random number in [0, 1) (``random.random()``): 0 gives the
    shortest wait (half the step), values near 1 the longest (the whole step).
    """
    if failures <= 0:
        return timedelta(0)
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), not {jitter}")
    doublings = min(failures - 1, _MAX_DOUBLINGS)
    step = min(cap.total_seconds(), base.total_seconds() * 2.0**doublings)
    return timedelta(seconds=step / 2 + step / 2 * jitter)


@dataclass(frozen=True)
class Outage:
    """A run of failed attempts to reach a server, in monotonic seconds.

    ``since``: the first failure; ``failures``: how many in a row;
    ``retry_at``: no attempt is due before it.
    """

    since: float
    failures: int
    retry_at: float

    def due(self, now: float) -> bool:
        return now >= self.retry_at


def after_failure(
    outage: Outage | None, *, now: float, base: timedelta, cap: timedelta, jitter: float
) -> Outage:
    """The outage once an attempt at ``now`` failed (a new one when ``outage`` is None)."""
    since, failures = (now, 1) if outage is None else (outage.since, outage.failures + 1)
    delay = backoff_delay(failures, base=base, cap=cap, jitter=jitter)
    return Outage(since=since, failures=failures, retry_at=now + delay.total_seconds())
