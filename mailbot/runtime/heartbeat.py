"""What the daemon tells systemd, and the admin, about its progress.

- ``READY=1`` after the first poll, whether it reached the mailbox or not:
  the STATUS beside it says which; or as soon as the first mail of that poll
  is handled, so a long backlog does not exceed systemd's start timeout.
- ``STATUS=`` after every poll and sweep: ``idle; 3 mails today; 0 in
  outbox; 1 overdue; last poll 12s ago``, or ``poll failed: ...; ...``.
- ``WATCHDOG=1`` only while polling progresses: after each poll that ended
  (successfully or with a handled failure), and from the timer (``tick``) only
  when the last poll ended, or a mail was handled, within the watchdog
  interval. A poll stuck in the mailbox or the database therefore stops the
  pings, and systemd restarts mailbot after ``WatchdogSec=``.

Each poll is also recorded in the database (``health.record_poll``) for
``mailbot status``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from mailbot.adapters.db import DatabaseError
from mailbot.runtime.sdnotify import Notifier
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import record_poll, summary, take_snapshot

log = logging.getLogger("mailbot.daemon")

_STATUS_ERROR_LENGTH = 200


class Heartbeat:
    def __init__(
        self, notifier: Notifier, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.notifier = notifier
        self._monotonic = monotonic
        self._last_progress: float | None = None
        self._ready = False
        self._state = "starting"

    def progress(self) -> None:
        """A mail was handled or a poll ended: the daemon is alive and moving."""
        self._last_progress = self._monotonic()

    def mail_handled(self) -> None:
        """Progress; and READY already if this is the first poll, working through a backlog
        (after a long downtime it may take longer than systemd waits for a start)."""
        self.progress()
        if not self._ready:
            self._state = "taking mail from the inbox"
            self.notifier.ready(f"{self._state} (first poll)")
            self._ready = True

    def poll_done(self, desk: Desk, *, error: str = "") -> None:
        """After a poll: record it, tell systemd (READY the first time), feed the watchdog.

        Blocks on the database: call it off the event loop.
        """
        self._state = f"poll failed: {error[:_STATUS_ERROR_LENGTH]}" if error else "idle"
        try:
            record_poll(desk.engine, now=desk.clock(), error=error)
        except DatabaseError as exc:
            log.error("cannot record the poll in the database: %s", exc)
        self.progress()
        status = self._status(desk)
        if self._ready:
            self.notifier.status(status)
        else:
            self.notifier.ready(status)
            self._ready = True
        self.notifier.ping_watchdog()

    def refresh(self, desk: Desk) -> None:
        """A fresh STATUS between polls (the ages in it move); no watchdog ping."""
        if self._ready:
            self.notifier.status(self._status(desk))

    def tick(self) -> bool:
        """The watchdog timer: ping only if polling progressed within the interval."""
        interval = self.notifier.watchdog
        if interval is None or self._last_progress is None:
            return False
        if self._monotonic() - self._last_progress > interval.total_seconds():
            log.warning("no poll progress for %s; not feeding the systemd watchdog", interval)
            return False
        return self.notifier.ping_watchdog()

    def reloading(self) -> None:
        self.notifier.reloading(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def reloaded(self, desk: Desk, *, error: str = "") -> None:
        """``READY=1`` again after a reload; a refused one says so in the STATUS."""
        status = self._status(desk)
        if error:
            status = f"reload refused ({error[:_STATUS_ERROR_LENGTH]}); {status}"
        self.notifier.ready(status)

    def stopping(self) -> None:
        self.notifier.stopping()

    def _status(self, desk: Desk) -> str:
        try:
            snapshot = take_snapshot(desk.engine, now=desk.clock(), tz=desk.tz)
        except DatabaseError as exc:
            return f"{self._state}; database unavailable: {str(exc).splitlines()[0]}"
        return f"{self._state}; {summary(snapshot)}"
