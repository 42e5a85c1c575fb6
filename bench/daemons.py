"""``mailbot run`` as the daemon runs in production: a subprocess with a config file of its own.

The config leaves ``[ingest]`` and ``[smtp] connections`` at mailbot's defaults, so the
figures are those of the shipped settings; it sets a short poll interval (the fallback
when IDLE is not used) and a high per-sender cap on automatic mail, so that every mail
of the corpus gets its acknowledgement.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.corpus import CONTRACTS, STAFF, SUPPORT
from bench.cpu import process_cpu
from bench.servers import Account, Sink

STOP_TIMEOUT = 60.0  # seconds a daemon gets to finish after SIGTERM before SIGKILL


def write_config(
    directory: Path,
    *,
    account: Account,
    sink: Sink,
    database: str,
    poll_interval: str,
    contracts: int = 0,
) -> Path:
    """A config (and its .env with the IMAP password) in ``directory``; returns its path.
    ``contracts``: the contracts file holds that many, the corpus's and more of other
    customers (``more_contracts``); 0: the corpus's alone."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.toml"
    config.write_text(f"""\
[general]
state_dir = "{directory / "state"}"
log_level = "INFO"

[imap]
host = "{account.host}"
port = {account.port}
username = "{account.username}"
tls = "none"
poll_interval = "{poll_interval}"
idle = true

[smtp]
host = "{sink.host}"
port = {sink.port}
username = ""
tls = "none"

[database]
url = "{database}"

[support]
address = "{SUPPORT}"
name = "Pomoc IT"
staff_addresses = ["{STAFF}"]
contracts_file = "contracts.toml"

[limits]
# The corpus has thousands of senders, some writing more than five times: the cap on
# automatic mail per address and hour would withhold acknowledgements and stall the run.
auto_replies_per_hour = 10000
""")
    (directory / "contracts.toml").write_text(CONTRACTS + more_contracts(contracts - 2))
    (directory / ".env").write_text(f"MAILBOT_IMAP__PASSWORD={account.password}\n")
    return config


def more_contracts(count: int) -> str:
    """``count`` warranty contracts of customers who do not write in the run (the corpus's
    senders are at firma0.pl to firma96.pl), two addresses and a domain each, in TOML."""
    return "".join(
        f"""
[[contract]]
id = "k{i}"
customer = "Klient {i}"
tier = "warranty"
addresses = ["a{i}@k{i}.pl", "b{i}@k{i}.pl"]
domains = ["k{i}.pl"]
valid_from = 2025-01-01
"""
        for i in range(max(count, 0))
    )


def upgrade_database(config: Path) -> None:
    """``mailbot db upgrade``, as an install does once before the daemons start.

    Two daemons starting at once on an empty database both try to create the schema,
    and one of them exits ("alembic_version already exists"): the runs migrate first.
    """
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), "db", "upgrade"],
        env=_clean_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mailbot db upgrade failed: {done.stderr.strip()}")


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}


@dataclass
class Daemon:
    """One ``mailbot run`` process; its log is ``log`` (mailbot logs to stderr)."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    peak_kib: dict[int, int] = field(default_factory=dict)  # VmHWM per pid of its tree
    # The largest sampled sum of the tree's proportional set sizes (shared pages, such as
    # the interpreter and the libraries, counted once).
    peak_pss_kib: int = 0
    # CPU seconds so far of each process of its tree (``sample_cpu``); a parse worker that
    # ended keeps what it used.
    cpu_s: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(self.config), "run"],
                env=_clean_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tree(self, parents: dict[int, int]) -> set[int]:
        """The process and its descendants (``parents``: pid -> ppid)."""
        return descendants(self.pid, parents) | {self.pid}

    def sample_memory(self, tree: set[int]) -> None:
        """Note the VmHWM of each process of ``tree`` (``tree()``) and the tree's PSS."""
        for pid in tree:
            kib = vm_hwm_kib(pid)
            if kib:
                self.peak_kib[pid] = max(kib, self.peak_kib.get(pid, 0))
        self.peak_pss_kib = max(self.peak_pss_kib, sum(pss_kib(pid) for pid in tree))

    def sample_cpu(self, tree: set[int]) -> None:
        """Note the CPU time of each process of ``tree`` (``tree()``)."""
        for pid in tree:
            self.cpu_s[pid] = max(process_cpu(pid), self.cpu_s.get(pid, 0.0))

    @property
    def main_cpu_s(self) -> float:
        return self.cpu_s.get(self.pid, 0.0)

    @property
    def workers_cpu_s(self) -> float:
        return sum(s for pid, s in self.cpu_s.items() if pid != self.pid)

    @property
    def peak_pss_mib(self) -> float:
        return self.peak_pss_kib / 1024

    @property
    def peak_mib(self) -> float:
        """The sum of the peaks of every process of the tree, in MiB."""
        return sum(self.peak_kib.values()) / 1024

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_mentions(self, text: str) -> bool:
        return self.log.exists() and text.encode() in self.log.read_bytes()


def process_parents() -> dict[int, int]:
    """pid -> parent pid of every process (no /proc/PID/task/*/children on every kernel)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name in parentheses may contain spaces: split after its ")".
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int, parents: dict[int, int]) -> set[int]:
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def vm_hwm_kib(pid: int) -> int:
    """The peak resident set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """The proportional set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
