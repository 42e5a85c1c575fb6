"""The systemd notification protocol (sd_notify(3)), without the C library or a package.

A notification is one datagram of ``KEY=VALUE`` lines sent to the
``AF_UNIX`` socket named in ``$NOTIFY_SOCKET``; a name starting with ``@`` is
in the abstract namespace (the ``@`` stands for a leading NUL byte). Without
``$NOTIFY_SOCKET`` (not under systemd, or ``Type=simple``) every call does
nothing, so the daemon never needs to ask whether it runs under systemd.

The watchdog (sd_watchdog_enabled(3)): ``$WATCHDOG_USEC`` is the interval in
microseconds, and applies to this process only when ``$WATCHDOG_PID`` is unset
or our pid. systemd advises pinging at half the interval.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

log = logging.getLogger("mailbot.sdnotify")


@dataclass(frozen=True)
class Notifier:
    """Sends notifications to ``address`` (None: nowhere); never raises."""

    address: str | None = None
    watchdog: timedelta | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_interval(env, os.getpid()))

    def send(self, *assignments: str) -> bool:
        """Send ``READY=1``, ``STATUS=...`` ... as one datagram; False when it was not sent."""
        if self.address is None or not assignments:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, target)
        except OSError as exc:
            # systemd restarting or gone: the service itself must go on.
            log.debug("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", status_line(status))

    def status(self, status: str) -> bool:
        return self.send(status_line(status))

    def reloading(self, monotonic_usec: int) -> bool:
        # MONOTONIC_USEC: systemd >= 253 wants it with RELOADING=1 (Type=notify-reload).
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def ping_watchdog(self) -> bool:
        return self.watchdog is not None and self.send("WATCHDOG=1")


def status_line(text: str) -> str:
    """``STATUS=`` with ``text`` on one line (a newline would start another assignment)."""
    return "STATUS=" + " ".join(text.split())


def watchdog_interval(environ: Mapping[str, str], pid: int) -> timedelta | None:
    """The watchdog interval systemd expects pings within, or None when there is none for us."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return timedelta(microseconds=int(usec))
