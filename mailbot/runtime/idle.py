"""Waiting for new mail with IMAP IDLE (RFC 2177): a mail is taken at once, not at the next poll.

The watcher holds an IMAP connection of its own, in a daemon thread. It
selects the inbox, issues IDLE and waits; when the server announces new mail
it calls ``wake``, and the daemon runs its poll now. The watcher only signals:
the poll does the work on its own connection, so the rule "commit, then move"
stays in one place (``service.ingest``).

- IDLE is re-issued every ``reissue`` (24 minutes): a server may drop a client
  idle for 30 minutes, so RFC 2177 section 3 asks clients to re-issue it at
  least every 29.
- The wait is cut into slices of at most ``check_every`` (a second), so a stop
  request is seen at once even though imapclient's wait cannot be interrupted.
- Each new connection wakes the poll once IDLE is in place: a mail that came
  between the last poll and the start of IDLE (or while the connection was
  down) would otherwise wait for the periodic poll.
- A lost connection is reopened with backoff (``core.backoff``, from
  ``retry_base`` up to ``imap.max_backoff``), logged when lost and when back,
  not per attempt. The periodic poll goes on meanwhile.
- A server without IDLE: logged once; the watcher ends and polling does the work.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from mailbot.adapters.imap import ImapSource
from mailbot.adapters.oauth2 import TokenSource
from mailbot.config import ImapSettings
from mailbot.core.backoff import Outage, after_failure
from mailbot.errors import MailboxError

log = logging.getLogger("mailbot.idle")

REISSUE = timedelta(minutes=24)
CHECK_EVERY = 1.0  # seconds
RETRY_BASE = timedelta(seconds=2)


class IdleSource(Protocol):
    """What the watcher needs of a mailbox: ``ImapSource`` (a test may give another)."""

    @property
    def supports_idle(self) -> bool: ...

    def open(self) -> int: ...

    def close(self) -> None: ...

    def idle_start(self) -> None: ...

    def idle_wait(self, timeout: float) -> bool: ...

    def idle_end(self) -> bool: ...


class IdleWatcher:
    """Calls ``wake()`` (from its own thread) whenever new mail may be in the inbox."""

    def __init__(
        self,
        settings: ImapSettings,
        *,
        wake: Callable[[], None],
        source: Callable[[], IdleSource] | None = None,
        reissue: timedelta = REISSUE,
        check_every: float = CHECK_EVERY,
        retry_base: timedelta = RETRY_BASE,
        random_fraction: Callable[[], float] = random.random,
        tokens: TokenSource | None = None,
    ) -> None:
        self._settings = settings
        self._wake = wake
        self._source = source or (lambda: ImapSource(settings, tokens=tokens))
        self._reissue = reissue.total_seconds()
        self._check_every = check_every
        self._retry_base = retry_base
        self._random = random_fraction
        self._halt = threading.Event()
        self._outage: Outage | None = None  # the connection is down since...
        self._thread = threading.Thread(target=self._run, name="mailbot-idle", daemon=True)
        # Counters, for the log and for tests: how often IDLE was re-issued, and connections.
        self.reissues = 0
        self.connections = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end IDLE and log out (within ``check_every``); does not wait."""
        self._halt.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._halt.is_set():
            source = self._source()
            try:
                source.open()
                if not source.supports_idle:
                    log.info(
                        "the IMAP server does not offer IDLE; polling every %s",
                        self._settings.poll_interval,
                    )
                    return
                self._watch(source)
            except Exception as exc:  # whatever broke the connection, try again later
                self._outage = self._failed(self._outage, exc)
                self._halt.wait(max(0.0, self._outage.retry_at - time.monotonic()))
            finally:
                source.close()

    def _watch(self, source: IdleSource) -> None:
        """IDLE until stopped (or until the connection fails: raises), re-issued every
        ``reissue``."""
        source.idle_start()
        self.connections += 1
        outage, self._outage = self._outage, None
        if outage is not None:
            log.info("IDLE connection back after %d failed attempt(s)", outage.failures)
        elif self.connections == 1:
            log.info("waiting for new mail with IDLE in %r", self._settings.folder)
        self._wake()  # whatever came before IDLE was in place
        while True:
            ends_at = time.monotonic() + self._reissue
            while not self._halt.is_set() and (left := ends_at - time.monotonic()) > 0:
                if source.idle_wait(min(self._check_every, left)):
                    self._wake()
            if source.idle_end():
                self._wake()
            if self._halt.is_set():
                return
            source.idle_start()
            self.reissues += 1
            log.debug("IDLE re-issued (%d)", self.reissues)

    def _failed(self, outage: Outage | None, exc: Exception) -> Outage:
        cap = self._settings.max_backoff
        now = time.monotonic()
        failed = after_failure(
            outage, now=now, base=self._retry_base, cap=cap, jitter=self._random()
        )
        if outage is None:
            # The poll logs the outage itself (at ERROR); this says what becomes of IDLE.
            level = logging.WARNING if isinstance(exc, MailboxError) else logging.ERROR
            log.log(
                level,
                "IDLE connection lost: %s; reconnecting with backoff up to %s, polling meanwhile",
                exc,
                cap,
                exc_info=not isinstance(exc, MailboxError),
            )
        else:
            log.debug("IDLE reconnect failed (%d): %s", failed.failures, exc)
        return failed
