"""Requests counted in the web process's memory, per client address and in all, against
``core.submission_limits`` windows: the lost-link form and the staff sign-in form.

The web side runs as one process, so memory is enough to stop one address from
having mail sent again and again; a restart forgets the counts. The form
submissions themselves are counted from their rows in the database instead.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime

from mailbot.core.submission_limits import Verdict, Window, decide_submission

# Clients remembered before those with no request in the windows are forgotten (a bound
# on the memory when many addresses ask: an IPv6 client has plenty).
MAX_CLIENTS = 10_000


@dataclass
class RecentRequests:
    """The times of recent requests by client address and from everyone, for ``windows``.
    Handlers run in Starlette's thread pool, hence the lock."""

    windows: tuple[Window, ...]
    times: dict[str, deque[datetime]] = field(default_factory=lambda: defaultdict(deque))
    everyone: deque[datetime] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def verdict(self, client: str, now: datetime) -> Verdict:
        """Whether one more request from ``client`` at ``now`` is taken (and then counted)."""
        start = now - max(window.period for window in self.windows)
        with self.lock:
            if len(self.times) >= MAX_CLIENTS:
                quiet = [
                    key for key, times in self.times.items() if not times or times[-1] <= start
                ]
                for key in quiet:
                    del self.times[key]
            recent = self.times[client]
            for times in (recent, self.everyone):
                while times and times[0] <= start:
                    times.popleft()
            verdict = decide_submission(
                now=now, from_address=recent, from_everyone=self.everyone, windows=self.windows
            )
            if verdict.allowed:
                recent.append(now)
                self.everyone.append(now)
        return verdict
