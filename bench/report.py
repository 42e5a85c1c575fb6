"""docs/benchmarks.md from one invocation's figures: the machine, the runs, the targets."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench.history import (
    TARGET_BILLING_S,
    TARGET_SWEEP_MS,
    TARGET_TICKET_COMMAND_MS,
    QueryTimes,
)
from bench.pipeline import LatencyResult, RunResult
from bench.stages import FETCH_BATCH, Limits
from bench.sweep import SweepResult
from bench.verdict import STEADY_RUNS, at_least, figures, median, median_share, provisional

MB = 1_000_000  # memory is reported in MB of 10^6 bytes, as the target is written
# The raw figures, measured on another machine.
REFERENCE = {
    "fetch": "2,500-3,300",
    "parse": "~550",
    "insert sqlite": "~2,500",
    "render": "~1,100",
    "1 connection": "570",
    "8 connections": "1,300",
}


@dataclass
class Results:
    command: str
    date: str
    machine: dict[str, str]
    runs: list[RunResult] = field(default_factory=list)
    latency: LatencyResult | None = None
    limits: Limits | None = None
    sweeps: list[SweepResult] = field(default_factory=list)
    minutes: float = 0.0  # how long the whole invocation took


def machine(postgresql: str) -> dict[str, str]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    ]
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    ram_gib = int(meminfo["MemTotal"].split()[0]) / 1024 / 1024
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": f"{models[0] if models else platform.processor()} x {len(models) or os.cpu_count()}",
        "RAM": f"{ram_gib:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "Dovecot": _output(["dovecot", "--version"]) or _output(["/usr/sbin/dovecot", "--version"]),
        "PostgreSQL": _postgresql_version(postgresql),
        "mailbot": _output(["git", "describe", "--always", "--dirty"]),
        "load average at the start (1, 5, 15 min)": load,
    }


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def _postgresql_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(sa.text("SHOW server_version")).scalar())
    except sa.exc.OperationalError:
        return "not reachable"
    finally:
        engine.dispose()


def write(results: Results, path: Path) -> None:
    sections = [
        _head(results),
        _targets(results),
        _runs(results.runs),
        _cpu(results.runs, results.limits),
        _latency(results.latency),
        _limits(results.limits, results.runs),
        _sweeps(results.sweeps),
        _scale(results.runs),
        _how(),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = _hand_written(path)
    path.write_text("\n".join(s for s in sections if s) + kept)


# The page's sections from this line on are written by hand (measurements of single parts,
# with their own commands and dates): a new report keeps them.
HAND_WRITTEN = "<!-- Written by hand from here on: the benchmark keeps what follows. -->"


def _hand_written(path: Path) -> str:
    """What ``path`` holds from the ``HAND_WRITTEN`` line on ("" when none)."""
    text = path.read_text() if path.exists() else ""
    at = text.find(HAND_WRITTEN)
    return "" if at < 0 else "\n" + text[at:]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _head(results: Results) -> str:
    rows = [(k, v) for k, v in results.machine.items()]
    return (
        "# Benchmarks\n\n"
        "Written by the benchmark itself (`bench/`, issue 8); re-run the command below to "
        "regenerate this page.\n\n"
        f"- Date: {results.date} (the whole invocation took {results.minutes:.1f} minutes)\n"
        f"- Command: `{results.command}`\n\n"
        + _caveats(results)
        + "## Machine\n\n"
        + _table(("", ""), rows)
        + "\nThe load average shows whether other work shared the machine: the figures of a "
        "loaded machine are lower and noisier than those of an idle one.\n"
    )


def _caveats(results: Results) -> str:
    notes = []
    full = {(n, db, i) for n in (1_000, 10_000) for db in ("sqlite", "postgresql") for i in (1, 2)}
    measured = {(r.mails, r.db, r.instances) for r in results.runs}
    if not full <= measured or None in (results.limits, results.latency) or not results.sweeps:
        notes.append(
            "**Partial**: this invocation measured only part of what `--all` measures; the "
            "targets below say which figures are missing or provisional."
        )
    cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if load > cpus / 2:
        notes.append(
            f"**Busy machine**: other work shared it (load average {load:.1f} at the end, on "
            f"{cpus} CPUs); every figure here is lower and noisier than an idle machine's."
        )
    return "".join(f"{note}\n\n" for note in notes)


def _verdict(ok: bool | None) -> str:
    return {True: "pass", False: "**fail**", None: "not measured"}[ok]


def _targets(results: Results) -> str:
    rows = [_ingest_target(results), _latency_target(results.latency), _memory_target(results.runs)]
    rows += [_two_instances_target(results.runs), _sweep_target(results.sweeps)]
    scale = [
        _to_last_ack_target(results),
        *_contract_targets(results.runs),
        _postgresql_target(results.runs),
        *_history_targets(results.runs),
        _scale_memory_target(results.runs),
    ]
    return (
        "## Targets\n\nIssue 8's:\n\n"
        + _table(("Target", "Measured", "Result"), rows)
        + "\nIssue 17's (scale):\n\n"
        + _table(("Target", "Measured", "Result"), scale)
    )


def _plain(runs: Sequence[RunResult]) -> list[RunResult]:
    """The runs on the corpus's own contracts and an empty database."""
    return [r for r in runs if r.contracts == 2 and not r.history and not r.error]


def _to_last_ack_target(results: Results) -> tuple[str, str, str]:
    target = "To the last acknowledgement: at least 60 % of the raw fetch + parse rate, SQLite"
    plain = _plain(results.runs)
    run = _largest(plain, "sqlite", 1)
    if run is None or results.limits is None or not results.limits.fetch_and_parse:
        return target, "-", _verdict(None)
    rates = _rates(plain, "sqlite", 1, run.mails)
    share = statistics.median(rates) / results.limits.fetch_and_parse
    measured = (
        f"{statistics.median(rates):.0f} of {results.limits.fetch_and_parse:.0f} mails/s ="
        f" {share:.0%} (N = {run.mails:,}{_each(rates)})"
    )
    bounds = [
        r.cpu.bound(r.mails)
        for r in plain
        if (r.db, r.instances, r.mails) == ("sqlite", 1, run.mails) and r.cpu
    ]
    if bounds:
        bound = statistics.median(bounds)
        measured += (
            f"; the CPU the runs used allows at most {bound:.0f} mails/s ="
            f" {bound / results.limits.fetch_and_parse:.0%} with every core busy"
            " (see Where the CPU went)"
        )
    return target, measured, _verdict(share >= 0.6)


def _each(rates: Sequence[float]) -> str:
    """With several runs: that the figure is their median, and each run's figure."""
    return f"; {_runs_note(rates)}: {figures(rates)}" if len(rates) > 1 else ""


def _scaled_runs(runs: Sequence[RunResult], *, contracts: int = 2, history: int = 0,
                db: str = "sqlite") -> list[RunResult]:  # fmt: skip
    """The runs of 1 instance of that scale that did not fail, in their order."""
    return [
        r for r in runs
        if (r.contracts, r.history, r.db, r.instances) == (contracts, history, db, 1)
        and not r.error
    ]  # fmt: skip


def _scaled(runs: Sequence[RunResult], *, contracts: int = 2, history: int = 0,
            db: str = "sqlite") -> RunResult | None:  # fmt: skip
    found = _scaled_runs(runs, contracts=contracts, history=history, db=db)
    return found[-1] if found else None


def _after_start(run: RunResult) -> float | None:
    """Mails per second from "mailbot running" to the empty inbox: the intake without the
    start-up, which with many contracts imports the contracts file first."""
    if run.empty_after is None or run.startup is None or run.empty_after <= run.startup:
        return None
    return run.mails / (run.empty_after - run.startup)


def _defined(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _runs_note(*groups: Sequence[float]) -> str:
    """How many runs the medians are taken from."""
    counts = sorted({len(group) for group in groups})
    return f"median of {' or '.join(str(n) for n in counts)} runs"


def _median_verdict(ok: bool | None, *groups: Sequence[float]) -> str:
    """The verdict, called provisional when a median rests on too few runs."""
    if ok is None or not provisional(*groups):
        return _verdict(ok)
    return f"{_verdict(ok)}, provisional (fewer than {STEADY_RUNS} runs)"


CONTRACTS_BASE, CONTRACTS_BIG = 10, 20_000


def _contract_targets(runs: Sequence[RunResult]) -> list[tuple[str, str, str]]:
    bases = _scaled_runs(runs, contracts=CONTRACTS_BASE)
    bigs = _scaled_runs(runs, contracts=CONTRACTS_BIG)
    rate = "20,000 contracts: ingest at least 90 % of its rate with 10 contracts"
    start = "20,000 contracts: a start with an unchanged 20,000-contract file under 3 s"
    first = "20,000 contracts: importing them under 10 s (the first start, which imports the file)"
    if not bases or not bigs:
        return [(row, "-", _verdict(None)) for row in (rate, start, first)]
    return [
        (rate, *_contract_rate(bases, bigs)),
        _restart_target(start, bases, bigs),
        _import_target(first, bases, bigs),
    ]


def _contract_rate(bases: Sequence[RunResult], bigs: Sequence[RunResult]) -> tuple[str, str]:
    """The intake after the start-up, 20,000 contracts against 10: medians of the runs."""
    ours = _defined([_after_start(r) for r in bigs])
    theirs = _defined([_after_start(r) for r in bases])
    share = median_share(ours, theirs)
    if share is None:
        return "-", _verdict(None)
    mails = ", ".join(f"{n:,}" for n in sorted({r.mails for r in (*bases, *bigs)}))
    measured = (
        f"{median(ours):.0f} vs {median(theirs):.0f} mails/s after the start-up = {share:.0%}"
        f" ({mails} mails, {_runs_note(ours, theirs)}; 20,000 contracts: {figures(ours)};"
        f" 10: {figures(theirs)}; with the start-up, medians"
        f" {median([r.ingest_rate for r in bigs]):.0f} vs"
        f" {median([r.ingest_rate for r in bases]):.0f})"
    )
    return measured, _median_verdict(at_least(share, 0.9), ours, theirs)


def _restart_target(
    target: str, bases: Sequence[RunResult], bigs: Sequence[RunResult]
) -> tuple[str, str, str]:
    """The start of a daemon again after the run, its contracts file unchanged: it must
    skip the import (its log says so) and be running within 3 s (the median)."""
    restarts = _defined([r.restart for r in bigs])
    took = median(restarts)
    if took is None:
        return target, "-", _verdict(None)
    imported = sum(1 for r in bigs if r.restart is not None and not r.restart_skipped_import)
    again = f"; it imported the file again in {imported} of them" if imported else ""
    measured = (
        f'{took:.1f} s, process start to "mailbot running" ({_runs_note(restarts)}:'
        f" {figures(restarts, '.1f')} s; 10 contracts: {_median_s([r.restart for r in bases])};"
        f" the first start, importing: {_median_s([r.startup for r in bigs])}){again}"
    )
    return target, measured, _median_verdict(not imported and took < 3, restarts)


def _import_target(
    target: str, bases: Sequence[RunResult], bigs: Sequence[RunResult]
) -> tuple[str, str, str]:
    """The first start with 20,000 contracts, which imports the file: under 10 s (median)."""
    starts = _defined([r.startup for r in bigs])
    took = median(starts)
    if took is None:
        return target, "-", _verdict(None)
    measured = (
        f"{took:.1f} s ({_runs_note(starts)}: {figures(starts, '.1f')} s;"
        f" 10 contracts: {_median_s([r.startup for r in bases])})"
    )
    return target, measured, _median_verdict(took < 10, starts)


def _median_s(values: Sequence[float | None]) -> str:
    found = median(_defined(values))
    return "-" if found is None else f"{found:.1f} s"


def _postgresql_target(runs: Sequence[RunResult]) -> tuple[str, str, str]:
    target = "PostgreSQL ingest at least 60 % of SQLite's, 1 instance"
    plain = _plain(runs)
    n = max((r.mails for r in plain if r.db == "postgresql"), default=0)
    lite = _rates(plain, "sqlite", 1, n, ingest=True)
    pg = _rates(plain, "postgresql", 1, n, ingest=True)
    share = median_share(pg, lite)
    if share is None:
        return target, "-", _verdict(None)
    measured = (
        f"{median(pg):.0f} vs {median(lite):.0f} mails/s = {share:.0%} (N = {n:,},"
        f" {_runs_note(pg, lite)}; PostgreSQL: {figures(pg)}; SQLite: {figures(lite)})"
    )
    return target, measured, _median_verdict(at_least(share, 0.6), pg, lite)


def _history_targets(runs: Sequence[RunResult]) -> list[tuple[str, str, str]]:
    rows = []
    for db in ("sqlite", "postgresql"):
        empty, full = _scaled(runs, db=db), _scaled(runs, history=1_000_000, db=db)
        target = f"1,000,000 tickets ({db}): ingest at least 80 % of its rate on an empty database"
        if empty is None or full is None or not empty.ingest_rate:
            rows.append((target, "-", _verdict(None)))
        else:
            share = full.ingest_rate / empty.ingest_rate
            measured = f"{full.ingest_rate:.0f} vs {empty.ingest_rate:.0f} mails/s = {share:.0%}"
            rows.append((target, measured, _verdict(share >= 0.8)))
        q = full.queries if full is not None else None
        target = (
            f"1,000,000 tickets ({db}): sweep under 100 ms, tickets list --overdue and"
            " tickets show under 200 ms, a month's report billing under 2 s"
        )
        if q is None:
            rows.append((target, "-", _verdict(None)))
            continue
        measured = (
            f"sweep {q.sweep_ms:.1f} ms, list --overdue {q.overdue_list_ms:.0f} ms, show"
            f" {q.show_ms:.0f} ms, billing {q.billing_month_ms / 1000:.2f} s"
        )
        ok = (
            q.sweep_ms < TARGET_SWEEP_MS
            and max(q.overdue_list_ms, q.show_ms) < TARGET_TICKET_COMMAND_MS
            and q.billing_month_ms < TARGET_BILLING_S * 1000
        )
        rows.append((target, measured, _verdict(ok)))
    return rows


def _scale_memory_target(runs: Sequence[RunResult]) -> tuple[str, str, str]:
    target = "Memory under 150 MB (PSS of the process tree) in every scale run"
    scaled = [r for r in runs if (r.contracts != 2 or r.history) and r.peak_pss_mib]
    if not scaled:
        return target, "-", _verdict(None)
    peak, run = max((max(r.peak_pss_mib), r) for r in scaled)
    mb = peak * 1024 * 1024 / MB
    measured = (
        f"{mb:.0f} MB at most ({run.db}, {run.contracts:,} contracts,"
        f" {run.history:,} tickets of history)"
    )
    return target, measured, _verdict(mb < 150)


def _largest(runs: Sequence[RunResult], db: str, instances: int) -> RunResult | None:
    fitting = [r for r in runs if r.db == db and r.instances == instances and not r.error]
    return max(fitting, key=lambda r: r.mails, default=None)


def _note_n(run: RunResult) -> str:
    return "" if run.mails >= 10_000 else f" (N = {run.mails:,}, not 10,000: provisional)"


def _ingest_target(results: Results) -> tuple[str, str, str]:
    target = "Ingest at least 60 % of the raw fetch + parse rate, N = 10,000, SQLite"
    plain = _plain(results.runs)
    run = _largest(plain, "sqlite", 1)
    if run is None or results.limits is None or not results.limits.fetch_and_parse:
        return target, "-", _verdict(None)
    rates = _rates(plain, "sqlite", 1, run.mails, ingest=True)
    share = statistics.median(rates) / results.limits.fetch_and_parse
    measured = (
        f"{statistics.median(rates):.0f} of {results.limits.fetch_and_parse:.0f} mails/s ="
        f" {share:.0%} (to the last acknowledgement:"
        f" {_median_rate(plain, 'sqlite', 1, run.mails):.0f} mails/s{_each(rates)})"
        f"{_note_n(run)}"
    )
    return target, measured, _verdict(share >= 0.6)


def _latency_target(latency: LatencyResult | None) -> tuple[str, str, str]:
    target = "Acknowledgement with IDLE at 1 mail/s: median under 2 s, p99 under 5 s"
    if latency is None or not latency.latencies:
        return target, "-", _verdict(None)
    measured = (
        f"median {latency.p50:.2f} s, p99 {latency.p99:.2f} s ({len(latency.latencies)} mails, "
        f"poll interval {latency.poll_interval})"
    )
    return target, measured, _verdict(latency.p50 < 2 and latency.p99 < 5 and not latency.error)


def _memory_target(runs: Sequence[RunResult]) -> tuple[str, str, str]:
    target = "Peak memory under 150 MB, N = 10,000 with attachments"
    done = [r for r in runs if not r.error and r.peak_mib]
    if not done:
        return target, "-", _verdict(None)
    largest = max(r.mails for r in done)
    peak, run = max((max(r.peak_pss_mib or [0.0]), r) for r in done if r.mails == largest)
    mb = peak * 1024 * 1024 / MB
    rss = max(run.peak_mib) * 1024 * 1024 / MB
    where = f"{run.db}, {run.instances} instance(s)"
    measured = (
        f"{mb:.0f} MB at most, proportional set size of the process tree ({where});"
        f" {rss:.0f} MB adding up each process's peak RSS, which counts shared pages in"
        f" every process{_note_n(run)}"
    )
    return target, measured, _verdict(mb < 150)


def _two_instances_target(runs: Sequence[RunResult]) -> tuple[str, str, str]:
    target = "Two instances on PostgreSQL: zero duplicates in 10 runs, throughput at least one's"
    two = [r for r in runs if r.db == "postgresql" and r.instances == 2]
    if not two:
        return target, "-", _verdict(None)
    duplicates = sum(r.duplicates for r in two)
    failed = sum(1 for r in two if r.error)
    n = max(r.mails for r in two)
    rate2 = _median_rate(runs, "postgresql", 2, n)
    rate1 = _median_rate(runs, "postgresql", 1, n)
    compare = f"; {rate2:.0f} vs {rate1:.0f} mails/s with one (N = {n:,})" if rate1 else ""
    measured = f"{duplicates} duplicates in {len(two)} runs ({failed} failed){compare}"
    if duplicates or failed:
        return target, measured, _verdict(False)
    if len(two) < 10:
        return target, measured, f"none so far; too few runs to judge ({len(two)} of 10)"
    return target, measured, _verdict(bool(rate1) and rate2 >= rate1)


def _rates(
    runs: Sequence[RunResult], db: str, instances: int, mails: int, *, ingest: bool = False
) -> list[float]:
    """The rates to the last acknowledgement (``ingest``: to the empty inbox) of the runs of
    that configuration that did not fail, in their order."""
    return [
        r.ingest_rate if ingest else r.rate
        for r in runs
        if (r.db, r.instances, r.mails) == (db, instances, mails) and not r.error
    ]


def _median_rate(
    runs: Sequence[RunResult], db: str, instances: int, mails: int, *, ingest: bool = False
) -> float:
    """The median of ``_rates`` (0 when there is none)."""
    return median(_rates(runs, db, instances, mails, ingest=ingest)) or 0.0


def _sweep_target(sweeps: Sequence[SweepResult]) -> tuple[str, str, str]:
    target = "Reminder sweep with 100,000 open tickets under 100 ms on SQLite (issue 3)"
    found = [s for s in sweeps if s.db == "sqlite"]
    if not found:
        return target, "-", _verdict(None)
    s = max(found, key=lambda s: s.tickets)
    measured = f"median {s.median_ms:.1f} ms, max {s.max_ms:.1f} ms ({s.tickets:,} tickets)"
    return target, measured, _verdict(s.median_ms < 100)


def _runs(runs: Sequence[RunResult]) -> str:
    if not runs:
        return ""
    header = (
        "Database",
        "Instances",
        "Mails",
        "Mails/s to the last ack",
        "Inbox empty after",
        "Ingest mails/s",
        "Start-up",
        "Peak memory, PSS (MB, per instance)",
        "Peak RSS summed (MB)",
        "Duplicates",
        "Load after",
        "Result",
    )
    rows = [
        (
            r.db,
            r.instances,
            f"{r.mails:,}",
            f"{r.rate:.1f}",
            _seconds(r.empty_after),
            f"{r.ingest_rate:.1f}",
            _seconds(r.startup),
            ", ".join(f"{m * 1024 * 1024 / MB:.0f}" for m in r.peak_pss_mib),
            ", ".join(f"{m * 1024 * 1024 / MB:.0f}" for m in r.peak_mib),
            r.duplicates,
            f"{r.load:.1f}",
            r.error or "ok",
        )
        for r in runs
    ]
    return (
        "## End-to-end throughput\n\n"
        "The inbox holds N mails when the daemons start; the time runs from their start to "
        'the last acknowledgement at the sink. "Inbox empty after" is the start to the '
        "moment the inbox held no mail; the ingest rate is N divided by it. Both include "
        'the start-up (from the process\'s start to "mailbot running" in its log; the schema '
        'is migrated before, by `mailbot db upgrade`) given in its own column. "Load after" '
        "is the machine's 1-minute load average at the end of the run.\n\n" + _table(header, rows)
    )


def _cpu(runs: Sequence[RunResult], limits: Limits | None) -> str:
    measured = [r for r in runs if r.cpu is not None and not r.error]
    if not measured:
        return ""
    header = (
        "Database", "Instances", "Mails", "Contracts", "History", "To the last ack",
        "Daemon (s)", "Parse worker (s)", "Sink and watching (s)", "Others (s)",
        "CPU a mail (ms)", "Cores busy", "Bound (mails/s)", "Bound / fetch + parse",
    )  # fmt: skip
    rows = []
    for r in measured:
        assert r.cpu is not None
        bound = r.cpu.bound(r.mails)
        fetch_parse = limits.fetch_and_parse if limits else 0.0
        rows.append(
            (
                r.db,
                r.instances,
                f"{r.mails:,}",
                f"{r.contracts:,}",
                f"{r.history:,}",
                f"{r.seconds:.1f} s",
                f"{r.cpu.daemons:.1f}",
                f"{r.cpu.workers:.1f}",
                f"{r.cpu.bench:.1f}",
                f"{r.cpu.others:.1f}",
                f"{r.cpu.per_mail_ms(r.mails):.1f}",
                f"{r.cpu.busy():.0%} of {r.cpu.cores}",
                f"{bound:.0f}",
                f"{bound / fetch_parse:.0%}" if fetch_parse else "-",
            )
        )
    return (
        "## Where the CPU went\n\n"
        "CPU seconds of each end-to-end run, from the daemons' start to the last "
        "acknowledgement: the daemons' main processes, their parse workers, the benchmark's "
        "own process (the SMTP sink that receives every mail mailbot sends, and the watching "
        "of the inbox), and the rest of the machine's busy time (Dovecot, PostgreSQL, the "
        "kernel, anything else that ran). The bound is the rate had that CPU time kept every "
        "core busy from start to end: no arrangement of the same work on this machine "
        "reaches past it; beside it, the bound as a share of the raw fetch + parse rate. "
        "Other work on the machine during a run counts in Others and lowers its bound: "
        "the figures of an idle machine are the ones to read.\n\n" + _table(header, rows)
    )


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "-"


def _latency(latency: LatencyResult | None) -> str:
    if latency is None:
        return ""
    rows = [
        (
            latency.db,
            len(latency.latencies),
            f"{latency.interval:g} s",
            latency.poll_interval,
            f"{latency.p50:.2f} s",
            f"{latency.p99:.2f} s",
            f"{latency.max:.2f} s",
            latency.duplicates,
            latency.error or "ok",
        )
    ]
    header = (
        "Database",
        "Mails",
        "One mail every",
        "Poll interval",
        "Median",
        "p99",
        "Max",
        "Duplicates",
        "Result",
    )
    return (
        "## Acknowledgement latency\n\n"
        "The daemon runs on an empty inbox (IDLE on, as shipped); one mail is APPENDed at a "
        "time, and each acknowledgement is matched to its mail by In-Reply-To. Latency: from "
        "the start of the APPEND to the acknowledgement's arrival at the sink. The poll "
        "interval is long on purpose, so that only IDLE can make the answer quick.\n\n"
        + _table(header, rows)
    )


def _limits(limits: Limits | None, runs: Sequence[RunResult]) -> str:
    if limits is None:
        return ""
    rows: list[tuple[str, str, str]] = [
        (
            f"imapclient UID FETCH BODY.PEEK[], {FETCH_BATCH} a command",
            f"{limits.fetch:,.0f}",
            REFERENCE["fetch"],
        ),
        ("parse_mail", f"{limits.parse:,.0f}", REFERENCE["parse"]),
        ("fetch, then parse", f"{limits.fetch_and_parse:,.0f}", ""),
        ("imapclient UID MOVE, 100 mails a command", f"{limits.move:,.0f}", ""),
    ]
    for db, rate in limits.insert.items():
        rows.append(
            (
                f"insert a ticket and its mail, a commit per mail ({db})",
                f"{rate:,.0f}",
                REFERENCE["insert sqlite"] if db == "sqlite" else "",
            )
        )
    rows.append(
        ("render and compose an acknowledgement", f"{limits.render:,.0f}", REFERENCE["render"])
    )
    for label, rate in limits.smtp.items():
        rows.append((f"aiosmtplib to the sink, {label}", f"{rate:,.0f}", REFERENCE.get(label, "")))
    rows.append(("all of the above one after the other", f"{_serial(limits):,.0f}", ""))
    return (
        f"## Raw limits of the stages\n\nEach stage alone on the same {limits.mails:,} mails, "
        "with the libraries mailbot uses and nothing around them (mails per second; the "
        "reference is the issue's, from another machine).\n\n"
        + _table(("Stage", "Mails/s", "Reference"), rows)
        + _closeness(limits, runs)
    )


def _serial(limits: Limits) -> float:
    """Every stage once per mail, one after the other (SQLite, one kept SMTP connection)."""
    rates = [limits.fetch, limits.parse, limits.move, limits.insert.get("sqlite", 0.0)]
    rates.append(limits.render)
    rates.append(limits.smtp.get("1 connection", 0.0))
    if not all(rates):
        return 0.0
    return 1 / sum(1 / r for r in rates)


def _closeness(limits: Limits, runs: Sequence[RunResult]) -> str:
    serial = _serial(limits)
    if not limits.fetch_and_parse or not serial:
        return ""
    lines = [
        f"- {r.db}, {r.instances} instance(s), N = {r.mails:,}: ingest "
        f"{r.ingest_rate / limits.fetch_and_parse:.0%} of fetch + parse; end to end "
        f"{r.rate / serial:.0%} of all the stages one after the other\n"
        for r in runs
        if not r.error
    ]
    return ("\nHow close mailbot gets:\n\n" + "".join(lines)) if lines else ""


def _sweeps(sweeps: Sequence[SweepResult]) -> str:
    if not sweeps:
        return ""
    rows = [
        (
            s.db,
            f"{s.tickets:,}",
            f"{s.median_ms:.1f} ms",
            f"{s.max_ms:.1f} ms",
            f"{s.peak_kib:,.0f} KiB",
            f"{s.busy_ms:.0f} ms ({s.queued} reminders)",
        )
        for s in sweeps
    ]
    header = (
        "Database",
        "Open tickets",
        "Sweep median",
        "Max",
        "One sweep allocates",
        "A sweep with reminders due",
    )
    return (
        "## Reminder sweep\n\n"
        "`bench/sweep.py`: N open tickets whose next alerts lie ahead, 20 of them due now; "
        "the timed sweeps find nothing due, as between two reminders.\n\n" + _table(header, rows)
    )


def _scale(runs: Sequence[RunResult]) -> str:
    scaled = [r for r in runs if r.contracts != 2 or r.history]
    if not scaled:
        return ""
    rows = [
        (
            r.db, f"{r.contracts:,}", f"{r.history:,}",
            f"{r.history_fill:.0f} s" if r.history else "-", f"{r.mails:,}",
            f"{r.ingest_rate:.1f}", f"{r.rate:.1f}", _seconds(r.startup),
            _seconds(r.restart),
            ", ".join(f"{m * 1024 * 1024 / MB:.0f}" for m in r.peak_pss_mib),
            _queries(r.queries), r.error or "ok",
        )
        for r in scaled
    ]  # fmt: skip
    header = (
        "Database", "Contracts", "Tickets of history", "Generated in", "Mails",
        "Ingest mails/s", "Mails/s to the last ack", "Start-up", "Start, file unchanged",
        "Peak PSS (MB)",
        "Sweep / list --overdue / show / billing", "Result",
    )  # fmt: skip
    return (
        "## Scale: contracts and history\n\n"
        "The same runs with a contracts file of N contracts (the corpus's two and more of"
        " customers who do not write: two addresses and a domain each; with `--all`, 3"
        " rounds of 3,000 mails), or with a database"
        " holding N tickets of history first (`bench/history.py`: spread over three years,"
        " three messages, two SLA events, a ledger row, a sent outbox row and for two tiers"
        " in three a time entry each, the newest 2,000 still open). On that history, after"
        " the run, in the benchmark's process: the reminder sweep, the `tickets list"
        " --overdue` and `tickets show` use cases and a month's `report billing`, the median"
        " of 5 after a warm-up (a command's own Python start, about 0.2 s, comes on top)."
        ' "Start, file unchanged": after a contracts run, one daemon started again on its'
        " database with the same contracts file, from the process's start to \"mailbot"
        " running\" in its log (the import skipped: the file's digest is the one recorded)."
        "\n\n" + _table(header, rows)
    )


def _queries(q: QueryTimes | None) -> str:
    if q is None:
        return "-"
    return (
        f"{q.sweep_ms:.1f} ms / {q.overdue_list_ms:.0f} ms / {q.show_ms:.0f} ms /"
        f" {q.billing_month_ms / 1000:.2f} s"
    )


def _how() -> str:
    return """## Running it

    .venv/bin/python -m bench --all --write docs/benchmarks.md

needs what `./tests/run` needs (Dovecot, openssl, and PostgreSQL on 127.0.0.1:5432 with
trust authentication; `--postgresql URL` names another server, where each run creates
and drops a database of its own). `--all` is N = 1,000 and 10,000 on SQLite and
PostgreSQL with 1 and 2 instances (1 instance with N = 10,000 in 3 rounds), 10 more
two-instance PostgreSQL runs of 1,000 mails for the duplicates target, the latency run,
the raw limits on 10,000 mails and the reminder sweep with 100,000 tickets on both
databases, the contract scale (10, 2,000 and 20,000 contracts, 3 rounds of 3,000 mails)
and the history scale (an empty database and 1,000,000 tickets, on both). The parts one
at a time:

- `--mails N[,N...]` (repeatable), `--db sqlite|postgresql|both`, `--instances 1|2|both`,
  `--repeat K`: end-to-end throughput runs, each configuration K times, in K rounds;
- `--intake-rounds K`: the runs of 1 instance with the largest N on each database in at
  least K rounds, for the PostgreSQL-to-SQLite target (`--all`: 3);
- `--duplicate-runs K`: K more runs of 2 instances on PostgreSQL with the smallest N;
- `--latency` (`--latency-mails 60 --latency-interval 1 --latency-poll-interval 60s`);
- `--limits` (`--limit-mails N`, default the largest `--mails`);
- `--sweep` (`--sweep-tickets 100000`), which runs `bench/sweep.py`'s measurement;
- `--contracts N[,N...]`: runs of 1 instance on SQLite with N contracts in the file, of
  `--contract-mails N` mails (default the smallest N; `--all`: 3,000), in
  `--contract-rounds K` rounds (`--all`: 3);
- `--history N[,N...]`: runs of 1 instance on each `--db` with N tickets of history;
- `--write PATH` writes this page, `--json PATH` the raw figures; `--seed`,
  `--poll-interval` (of the throughput runs, default 1s) and `--timeout SECONDS` (a run
  that takes longer fails instead of hanging; default 120 s + 0.5 s a mail).

Progress goes to stderr; the page also goes to stdout. The exit status is 1 when a
run failed (timed out, a daemon exited).

## How it is measured

- The mails (`bench/corpus.py`) are the same for the same seed: Polish text of 1-5 KB,
  about 15 % HTML (multipart/alternative), 15 % ISO-8859-2 quoted-printable and 10 %
  with a 50-300 KB attachment (base64), from senders spread over 97 customer domains
  (two under contract). The inbox is filled over one IMAP connection (MULTIAPPEND);
  the server stamps each mail's INTERNALDATE with the fill time.
- Each end-to-end run has its own Dovecot account (of a private Dovecot), a fresh
  database (a SQLite file, or a PostgreSQL database created for the run) and starts
  `python -m mailbot run` as a subprocess per instance, with a config that leaves
  `[ingest]` and `[smtp] connections` at mailbot's defaults, polls every second as the
  fallback to IDLE, names one staff address (so every ticket also sends a staff notice)
  and lifts the per-sender cap on automatic mail. SMTP goes to an aiosmtpd sink in the
  benchmark's process.
- A mail counts as acknowledged when an acknowledgement (`X-Mailbot-Kind: ack`) whose
  In-Reply-To is its Message-ID reaches the sink; a duplicate is a mail acknowledged
  more than once (the sink is watched for 3 s more after the last one).
- Peak memory is the largest sum of the proportional set sizes (`Pss` of
  `/proc/<pid>/smaps_rollup`) over a daemon's process and all its descendants (the
  parse worker), sampled every 0.2 s and just before SIGTERM: memory shared by several
  of them (the interpreter and libraries) counts once. Beside it, the sum of each
  process's own peak RSS (VmHWM of `/proc/<pid>/status`), which counts every shared page
  in every process.
- The benchmark runs on the same machine as Dovecot, PostgreSQL and the sink, which
  take CPU too. The CPU time of a run (Where the CPU went) is read from `/proc`: each
  daemon process's and parse worker's own (`/proc/<pid>/stat`, sampled with the memory
  and at the last acknowledgement), the benchmark process's (`getrusage`), and the
  machine's busy time over all cores (`/proc/stat`: user, nice, system, irq, softirq,
  steal), whose remainder is Others.
- The targets that compare two configurations (20,000 contracts against 10; PostgreSQL
  against SQLite, 1 instance, the largest N) are judged from repeated runs: one short
  run of each gave verdicts that flipped between invocations (the 10-contract intake
  varied from 181 to 237 mails/s). `--all` runs each configuration 3 times, in rounds
  (10, 2,000, 20,000 contracts, then again and again; SQLite, PostgreSQL, then again
  and again), so that a drift of the machine's load touches both sides alike. The
  share is the median of one side divided by the median of the other (20,000
  contracts' by 10's, PostgreSQL's by SQLite's), so that one disturbed run moves
  neither; the verdict compares that share with the target's. The row gives every
  run's figure in the order of the runs, and the medians; with fewer than 3 runs of a
  configuration its result says that the verdict is provisional. The start-up targets
  of the contract scale take the medians of the same runs. The contract runs take
  3,000 mails, so that their intake after the start-up lasts about 10 s, which the
  0.2 s looks at the log and at the inbox measure to a few per cent (with 1,000 mails,
  about 3 s: to some 10 %).
"""
