"""Turns at SQLite's one write lock between the daemon's threads.

SQLite lets one connection write at a time, and a connection that finds the lock
taken sleeps in its busy handler (1, 2, 5 ... 100 ms) and tries again. The intake
stores a batch of mails in one transaction (a third of a second for 100 mails)
and begins the next one at once; the outbox's commits (a claim and a "sent" mark
for each mail, which must be committed before that worker's next mail goes)
came in between only by luck: in a burst of 2,000 mails they waited 0.5-0.9 s
each, and 50 of the 2,000 acknowledgements had gone when the inbox was empty
(``python -m bench --mails 2000``).

``WriteTurns`` makes the waiting fair inside one process. A short write (the
outbox's) says it is waiting (``short``); the long one (the intake's batch,
``long``) looks between two mails (``wanted``), commits what it has, and lets
the writes that were waiting go first (``give_way``), at most every
``GIVE_WAY_EVERY``: the outbox's writes that come meanwhile share the next turn
(one commit), and the intake is not cut into a commit a mail. The turns only
order the threads of this process; SQLite's own lock still keeps other
processes (a command, a ``run --once``) correct, and every wait here is
bounded, so a turn that is never given costs time, never a hang. PostgreSQL
locks rows, not the database: there the turns do nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Longest wait for a turn; past it the write goes ahead and SQLite's busy handler decides.
TURN_WAIT = 2.0
# The long write gives way at most this often (seconds). Measured on 2,000 mails
# (python -m bench --mails 2000): 20 ms sent about 110 mails a second while the inbox was
# read and slowed the intake less than 5 ms, which cut it into a commit for nearly every mail.
GIVE_WAY_EVERY = 0.02


class WriteTurns:
    """Fair turns at one database's write lock among this process's threads."""

    def __init__(
        self,
        *,
        enabled: bool,
        wait: float = TURN_WAIT,
        every: float = GIVE_WAY_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._wait = wait
        self._every = every
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._long = False  # a long write holds the lock between two of its commits
        self._taken = 0.0  # when it last took its turn
        self._arrived = 0  # short writes that asked for a turn, ever
        self._finished = 0  # ... and that ended
        self._running = 0  # short writes under way now

    def wanted(self) -> bool:
        """A short write waits, and the long one has had its turn long enough (read
        without the lock: a late answer costs one mail's wait)."""
        return (
            self.enabled
            and self._arrived > self._finished
            and self._monotonic() - self._taken >= self._every
        )

    @contextmanager
    def short(self) -> Iterator[None]:
        """A short write's turn: it begins when no long write holds the lock."""
        if not self.enabled:
            yield
            return
        with self._changed:
            self._arrived += 1
            self._changed.wait_for(lambda: not self._long, timeout=self._wait)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._finished += 1
                self._changed.notify_all()

    @contextmanager
    def long(self) -> Iterator[None]:
        """A long write's turn, which it keeps until it ends or gives way."""
        if not self.enabled:
            yield
            return
        self._take()
        try:
            yield
        finally:
            self._release()

    def give_way(self) -> None:
        """Between two commits of the long write: the short writes that asked until now
        go first; then the long one takes its turn again."""
        if not self.enabled:
            return
        self._release()
        with self._changed:
            due = self._arrived
            self._changed.wait_for(lambda: self._finished >= due, timeout=self._wait)
        self._take()

    def _take(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: not self._running, timeout=self._wait)
            self._long = True
            self._taken = self._monotonic()

    def _release(self) -> None:
        with self._changed:
            self._long = False
            self._changed.notify_all()
