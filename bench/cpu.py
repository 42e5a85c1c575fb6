"""Where a run's CPU time went: the daemons' processes, the benchmark's own, the machine.

The rate to the last acknowledgement cannot pass the machine's CPU: a run that used C
seconds of CPU over all its processes could at best have taken C / cores seconds, every
core busy all the time. That bound, next to the raw fetch + parse rate, says how much of
the gap a faster pipeline could close on this machine and how much is the work itself.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during one run, from the daemons' start to the last acknowledgement."""

    daemons: float  # the daemons' main processes
    workers: float  # their parse workers (descendant processes)
    bench: float  # the benchmark's process: the SMTP sink, the watching of the inbox
    machine: float  # every core of the machine, busy (the above, Dovecot, the database...)
    cores: int
    seconds: float  # the run's time to the last acknowledgement

    @property
    def others(self) -> float:
        """Dovecot, PostgreSQL and anything else that ran meanwhile."""
        return max(0.0, self.machine - self.daemons - self.workers - self.bench)

    def per_mail_ms(self, mails: int) -> float:
        return 1000 * self.machine / mails if mails else 0.0

    def busy(self) -> float:
        """The share of the machine's cores that were busy over the run."""
        return self.machine / (self.cores * self.seconds) if self.seconds else 0.0

    def bound(self, mails: int) -> float:
        """Mails per second if the same CPU time had kept every core busy all the time."""
        return mails * self.cores / self.machine if self.machine else 0.0


def machine_busy() -> float:
    """Seconds all the machine's cores have been busy since boot (``/proc/stat``): user,
    nice, system, irq, softirq and steal time, not idle or I/O wait."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def own_cpu() -> float:
    """This process's CPU seconds, every thread (the sink's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds ``pid`` has used, user and system (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK
