"""End-to-end runs: mailbot daemons against a private Dovecot and an aiosmtpd sink.

Throughput: the inbox is filled first; the clock runs from the daemons' start to the
last acknowledgement at the sink (and, separately, to the inbox being empty).
Latency: the daemon runs on an empty inbox and mails arrive one by one; each
acknowledgement is matched to its mail by In-Reply-To, from APPEND to receipt.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.corpus import BenchMail, Corpus, make_corpus
from bench.cpu import CpuUse, machine_busy, own_cpu
from bench.daemons import Daemon, process_parents, upgrade_database, write_config
from bench.history import QueryTimes, fill_history, query_times
from bench.servers import Account, Arrival, Sink, fill, fresh_database, inbox_count, new_account
from tests.conftest import Dovecot

TICK = 0.2  # seconds between two looks at the sink, the inbox and the processes' memory
PROGRESS_EVERY = 5.0  # seconds between two progress lines on stderr
SETTLE = 3.0  # seconds to wait after the last acknowledgement for late duplicates


def progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Setup:
    """What every end-to-end run shares."""

    dovecot: Dovecot
    sink: Sink
    postgresql: str  # the server's URL; each PostgreSQL run gets a database of its own
    corpus: Corpus  # the mails of the runs, made once
    poll_interval: str
    timeout: Callable[[int], float]  # seconds a run of N mails may take before it fails


@dataclass
class RunResult:
    db: str
    instances: int
    mails: int
    seconds: float = 0.0  # daemons' start to the last acknowledgement at the sink
    empty_after: float | None = None  # daemons' start to an empty inbox
    startup: float | None = None  # daemons' start to "mailbot running" in the (first) log
    # A contract-scale run (--contracts): after it, one daemon started again on the same
    # config and database, the contracts file unchanged: its start to "mailbot running",
    # and whether its log said the import was skipped (the file unchanged since).
    restart: float | None = None
    restart_skipped_import: bool = False
    fill_rate: float = 0.0  # APPEND, mails per second
    acked: int = 0  # mails with at least one acknowledgement
    duplicates: int = 0  # mails with more than one
    stray: int = 0  # acknowledgements answering no mail of the corpus
    peak_mib: list[float] = field(default_factory=list)  # per daemon, its tree's VmHWM sum
    peak_pss_mib: list[float] = field(default_factory=list)  # per daemon, its tree's peak PSS
    exit_codes: list[int | None] = field(default_factory=list)
    load: float = 0.0  # the machine's 1-minute load average at the end of the run
    error: str = ""
    contracts: int = 2  # in the contracts file: the corpus's two, or more (--contracts)
    history: int = 0  # tickets of history in the database before the run (--history)
    history_fill: float = 0.0  # seconds the history took to generate
    queries: QueryTimes | None = None  # on that history, after the run
    cpu: CpuUse | None = None  # CPU time from the daemons' start to the last acknowledgement

    @property
    def rate(self) -> float:
        return self.mails / self.seconds if self.seconds else 0.0

    @property
    def ingest_rate(self) -> float:
        return self.mails / self.empty_after if self.empty_after else 0.0


@dataclass
class _Watch:
    """What the polling loop of a run has seen so far."""

    started: float
    machine_cpu: float = 0.0  # ``machine_busy()`` at the start
    bench_cpu: float = 0.0  # ``own_cpu()`` at the start
    empty_at: float | None = None
    running_at: float | None = None
    last_progress: float = 0.0


def throughput(
    setup: Setup, *, db: str, instances: int, mails: int, contracts: int = 0, history: int = 0
) -> RunResult:
    """One run: fill the inbox with ``mails`` mails, start ``instances`` daemons, wait.
    ``contracts``: that many in the contracts file (0: the corpus's two); ``history``: the
    database holds that many tickets of history first (``bench.history``), and what the
    CLI and the reminders run on it is timed after the run."""
    result = RunResult(db, instances, mails, contracts=contracts or 2, history=history)
    progress(f"{db}, {instances} instance(s), {mails} mails: making the mails, filling the inbox")
    corpus = setup.corpus.first(mails)
    account = new_account(setup.dovecot)
    result.fill_rate = mails / fill(account, corpus)
    setup.sink.handler.clear()
    with (
        tempfile.TemporaryDirectory(prefix="mailbot-bench-") as temp,
        fresh_database(db, directory=Path(temp), postgresql=setup.postgresql) as url,
    ):
        daemons = [
            Daemon(
                write_config(
                    Path(temp) / f"instance{i}",
                    account=account,
                    sink=setup.sink,
                    database=url,
                    poll_interval=setup.poll_interval,
                    contracts=contracts,
                ),
                Path(temp) / f"instance{i}.log",
            )
            for i in range(instances)
        ]
        upgrade_database(daemons[0].config)
        if history:
            progress(f"  generating {history:,} tickets of history")
            result.history_fill = fill_history(str(daemons[0].config), history, now=_now())
        try:
            _drive(setup, daemons, account, corpus, result)
        finally:
            result.exit_codes = [d.stop() for d in daemons]
        if contracts and not result.error:
            _restart(daemons[0].config, Path(temp) / "restart.log", result)
        if history and not result.error:
            result.queries = query_times(str(daemons[0].config), tickets=history, now=_now())
        result.peak_mib = [d.peak_mib for d in daemons]
        result.peak_pss_mib = [d.peak_pss_mib for d in daemons]
        result.load = os.getloadavg()[0]
        _count(result, corpus, setup.sink.handler.acks())
        if result.error:
            _keep_logs(daemons, result)
    progress(_summary(result))
    return result


def _now() -> datetime:
    return datetime.now(UTC)


def _drive(
    setup: Setup, daemons: list[Daemon], account: Account, corpus: list[BenchMail], r: RunResult
) -> None:
    """Start the daemons and watch until every mail is acknowledged, or the time is up."""
    expected = {m.message_id for m in corpus}
    deadline = time.monotonic() + setup.timeout(len(corpus))
    watcher = account.client()
    try:
        watch = _Watch(time.monotonic(), machine_busy(), own_cpu())
        watch.last_progress = watch.started
        for daemon in daemons:
            daemon.start()
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            acks = setup.sink.handler.acks()
            acked = len({a.in_reply_to for a in acks} & expected)
            _look(watch, daemons, watcher, now)
            if acked == len(expected):
                r.seconds = max(a.at for a in acks if a.in_reply_to in expected) - watch.started
                r.cpu = _cpu_use(watch, daemons, r.seconds)
                time.sleep(SETTLE)
                break
            if not all(d.alive() for d in daemons):
                r.error = "a daemon exited"
                break
            if now > deadline:
                r.error = f"timed out with {acked} of {len(expected)} acknowledged"
                break
            if now - watch.last_progress >= PROGRESS_EVERY:
                watch.last_progress = now
                progress(f"  {now - watch.started:6.1f} s: {acked} acknowledged")
        _look(watch, daemons, watcher, time.monotonic())
        r.empty_after = watch.empty_at - watch.started if watch.empty_at else None
        r.startup = watch.running_at - watch.started if watch.running_at else None
    finally:
        watcher.logout()


def _cpu_use(watch: _Watch, daemons: Sequence[Daemon], seconds: float) -> CpuUse:
    """The CPU the run used until now (the last acknowledgement, to a look's ``TICK``)."""
    parents = process_parents()
    for daemon in daemons:
        daemon.sample_cpu(daemon.tree(parents))
    return CpuUse(
        daemons=sum(d.main_cpu_s for d in daemons),
        workers=sum(d.workers_cpu_s for d in daemons),
        bench=own_cpu() - watch.bench_cpu,
        machine=machine_busy() - watch.machine_cpu,
        cores=os.cpu_count() or 1,
        seconds=seconds,
    )


# Seconds between two looks at a restarted daemon's log: its start is timed to this.
RESTART_TICK = 0.05
RESTART_TIMEOUT = 60.0


def _restart(config: Path, log: Path, result: RunResult) -> None:
    """Start a daemon again on ``config`` (the run's database, the contracts file it
    imported), time its start to "mailbot running" in its log, stop it."""
    progress("  starting the daemon again, the contracts file unchanged")
    daemon = Daemon(config, log)
    started = time.monotonic()
    daemon.start()
    try:
        while not daemon.log_mentions("mailbot running"):
            if not daemon.alive() or time.monotonic() - started > RESTART_TIMEOUT:
                result.error = "the daemon started again did not start"
                _keep_logs([daemon], result)
                return
            time.sleep(RESTART_TICK)
        result.restart = time.monotonic() - started
        result.restart_skipped_import = daemon.log_mentions("unchanged since the last import")
    finally:
        daemon.stop()


def _look(watch: _Watch, daemons: Sequence[Daemon], watcher: object, now: float) -> None:
    parents = process_parents()
    for daemon in daemons:
        if daemon.alive():
            tree = daemon.tree(parents)
            daemon.sample_memory(tree)
            daemon.sample_cpu(tree)
    if watch.running_at is None and daemons[0].log_mentions("mailbot running"):
        watch.running_at = now
    if watch.empty_at is None and inbox_count(watcher) == 0:
        watch.empty_at = now


def _count(result: RunResult, corpus: list[BenchMail], acks: list[Arrival]) -> None:
    per_mail = Counter(a.in_reply_to for a in acks)
    expected = {m.message_id for m in corpus}
    result.acked = sum(1 for m in expected if per_mail[m])
    result.duplicates = sum(1 for m in expected if per_mail[m] > 1)
    result.stray = sum(n for m, n in per_mail.items() if m not in expected)


def _keep_logs(daemons: Sequence[Daemon], result: RunResult) -> None:
    """A failed run's daemon logs outlive its temporary folder: their tails go to stderr."""
    for daemon in daemons:
        tail = (
            daemon.log.read_text(errors="replace").splitlines()[-15:] if daemon.log.exists() else []
        )
        progress(f"{result.error}; the end of {daemon.log.name}:\n" + "\n".join(tail))


def _summary(r: RunResult) -> str:
    if r.error:
        return f"{r.db}, {r.instances} instance(s), {r.mails} mails: FAILED ({r.error})"
    empty = f"{r.empty_after:.1f} s" if r.empty_after is not None else "?"
    restart = (
        f"; started again with the file unchanged in {r.restart:.1f} s"
        f"{'' if r.restart_skipped_import else ' (it imported the file again)'}"
        if r.restart is not None
        else ""
    )
    return (
        f"{r.db}, {r.instances} instance(s), {r.mails} mails, {r.contracts:,} contracts, "
        f"{r.history:,} tickets of history: {r.rate:.1f} mails/s to the last "
        f"acknowledgement ({r.seconds:.1f} s; inbox empty after {empty}), "
        f"{r.duplicates} duplicated, peak {', '.join(f'{m:.0f}' for m in r.peak_mib)} MiB"
        f"{restart}"
    )


@dataclass
class LatencyResult:
    db: str
    mails: int
    interval: float  # seconds between two APPENDs
    poll_interval: str
    latencies: list[float] = field(default_factory=list)  # seconds, APPEND to the sink
    duplicates: int = 0
    error: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return _percentile(self.latencies, 99)

    @property
    def max(self) -> float:
        return max(self.latencies, default=float("nan"))


def _percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (the value below which ``p`` % of the values lie)."""
    if not values:
        return float("nan")
    ranked = sorted(values)
    rank = math.ceil(len(ranked) * p / 100)  # 1-based
    return ranked[max(0, min(len(ranked), rank) - 1)]


def latency(
    setup: Setup, *, db: str, mails: int, interval: float, poll_interval: str
) -> LatencyResult:
    """Mail arriving every ``interval`` seconds at a running daemon: APPEND to acknowledgement."""
    result = LatencyResult(db, mails, interval, poll_interval)
    corpus = make_corpus(mails, seed=setup.corpus.seed, first=1_000_000)  # none of the runs' mails
    account = new_account(setup.dovecot)
    setup.sink.handler.clear()
    with (
        tempfile.TemporaryDirectory(prefix="mailbot-bench-") as temp,
        fresh_database(db, directory=Path(temp), postgresql=setup.postgresql) as url,
    ):
        config = write_config(
            Path(temp) / "instance0",
            account=account,
            sink=setup.sink,
            database=url,
            poll_interval=poll_interval,
        )
        daemon = Daemon(config, Path(temp) / "instance0.log")
        upgrade_database(config)
        try:
            daemon.start()
            _measure_latency(setup, daemon, account, corpus, result)
        finally:
            daemon.stop()
        if result.error:
            _keep_logs([daemon], RunResult(db, 1, mails, error=result.error))
    progress(
        f"latency, {db}: median {result.p50:.2f} s, p99 {result.p99:.2f} s, max {result.max:.2f} s"
        + (f" FAILED ({result.error})" if result.error else "")
    )
    return result


def _measure_latency(
    setup: Setup, daemon: Daemon, account: Account, corpus: list[BenchMail], r: LatencyResult
) -> None:
    deadline = time.monotonic() + 60.0
    while not daemon.log_mentions("mailbot running"):  # started, first poll under way
        if time.monotonic() > deadline or not daemon.alive():
            r.error = "the daemon did not start"
            return
        time.sleep(TICK)
    time.sleep(2.0)  # the first (empty) poll is over, the daemon waits for mail
    appended = _append_slowly(account, corpus, r.interval)
    deadline = time.monotonic() + setup.timeout(len(corpus))
    said = time.monotonic()
    while (
        acked := len({a.in_reply_to for a in setup.sink.handler.acks()} & appended.keys())
    ) < len(corpus):
        if time.monotonic() > deadline or not daemon.alive():
            r.error = "not every mail was acknowledged in time"
            break
        if time.monotonic() - said > PROGRESS_EVERY:
            said = time.monotonic()
            progress(f"  latency: {acked} of {len(corpus)} acknowledged")
        time.sleep(TICK)
    time.sleep(SETTLE)
    first: dict[str, float] = {}
    for ack in sorted(setup.sink.handler.acks(), key=lambda a: a.at):
        first.setdefault(ack.in_reply_to, ack.at)
    r.latencies = [first[m] - at for m, at in appended.items() if m in first]
    counts = Counter(a.in_reply_to for a in setup.sink.handler.acks())
    r.duplicates = sum(1 for m in appended if counts[m] > 1)


def _append_slowly(account: Account, corpus: list[BenchMail], interval: float) -> dict[str, float]:
    """APPEND one mail every ``interval`` seconds; Message-ID -> when its APPEND began."""
    client = account.client()
    appended: dict[str, float] = {}
    start = time.monotonic()
    try:
        for n, mail in enumerate(corpus):
            time.sleep(max(0.0, start + n * interval - time.monotonic()))
            appended[mail.message_id] = time.monotonic()
            client.append("INBOX", mail.raw)
            if n % 10 == 9:
                progress(f"  latency: {n + 1} of {len(corpus)} mails appended")
    finally:
        client.logout()
    return appended
