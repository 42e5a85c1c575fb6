"""The commands that run or check the desk: ``run``, ``demo``, ``check-config``, ``status``,
``inspect``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from mailbot.adapters.db import small_page_cache
from mailbot.bootstrap import build_desk, open_desk, system_clock
from mailbot.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_command,
    load,
)
from mailbot.config import Settings
from mailbot.runtime.log_setup import apply_log_settings
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import judge, report, take_snapshot

# Each of the daemon's SQLite connections (one per thread that works: intake, outbox,
# sweep, heartbeat) keeps this much of the database in its memory instead of SQLite's
# 2,000 KiB; see adapters.db.small_page_cache and cmd_run.
DAEMON_PAGE_CACHE_KIB = 256
# glibc malloc heaps (arenas) the daemon's threads share; see runtime.memory.limit_heaps.
DAEMON_HEAPS = 2

# The commands' own modules are imported where they run: the daemon's (APScheduler, the IMAP
# client, the parse worker), the demo's and the checks' would otherwise load into every
# command, `mailbot web` included, whose memory is a target of its own (bench.web).


def cmd_run(args: argparse.Namespace) -> int:
    from mailbot.runtime.daemon import Daemon  # noqa: PLC0415 - see above
    from mailbot.runtime.heartbeat import Heartbeat  # noqa: PLC0415
    from mailbot.runtime.memory import limit_heaps, release_free_memory  # noqa: PLC0415
    from mailbot.runtime.sdnotify import Notifier  # noqa: PLC0415

    def reload() -> Desk:
        desk = open_desk(args.config)
        # Issue 17: the daemon's memory (PSS of its tree) must stay under 150 MB. Its reads
        # are lookups by key that the file cache serves as well, and its writes append.
        small_page_cache(desk.engine, DAEMON_PAGE_CACHE_KIB)
        # The contracts import at start freed more than the intake ever takes back.
        release_free_memory()
        _apply_log_settings(desk.settings)
        return desk

    # The intake, the outbox, the sweep and the heartbeat each run in threads: with a heap
    # each, the tree's peak PSS was 2 to 3 MB more (issue 17, bench --contracts 20000).
    limit_heaps(DAEMON_HEAPS)
    desk = reload()
    daemon = Daemon(desk, heartbeat=Heartbeat(Notifier.from_environ()), reload=reload)
    if args.once:
        return EXIT_OK if asyncio.run(daemon.run_once()) else EXIT_FAILURE
    asyncio.run(daemon.run_forever())
    return EXIT_OK


def _apply_log_settings(settings: Settings) -> None:
    apply_log_settings(
        settings.log_level,
        settings.log_levels,
        secrets=settings.secrets,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from mailbot.demo import run_demo, serve_demo  # noqa: PLC0415 - see cmd_run

    if args.serve:
        return serve_demo(Path(args.dir), port=args.port, out=sys.stdout)
    if args.port is not None:
        print("mailbot demo: --port goes with --serve", file=sys.stderr)
        return EXIT_FAILURE
    return run_demo(Path(args.dir), out=sys.stdout)


def cmd_check_config(args: argparse.Namespace) -> int:
    from mailbot.config_check import connection_checks, offline_checks  # noqa: PLC0415

    settings = load(args)
    checks = offline_checks(settings)
    for check in checks:
        print(f"{check.name}: {'OK' if check.ok else 'WARNING'}: {check.detail}", flush=True)
    if args.offline:
        print("database, imap, smtp: not tried (--offline)")
        return EXIT_OK
    failed = 0
    for check in connection_checks(settings):
        print(f"{check.name}: {'OK' if check.ok else 'FAILED'}: {check.detail}", flush=True)
        failed += not check.ok
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    settings = load(args)
    desk = build_desk(settings)
    snapshot = take_snapshot(desk.engine, now=desk.clock(), tz=desk.tz)
    verdict = judge(snapshot, settings.health)
    shown = report(snapshot, verdict)
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return int(verdict.level)
    print(f"{verdict.level.name}: " + ("; ".join(verdict.problems) or "mailbot is polling"))
    for key, value in shown.items():
        if key not in ("status", "problems", "now"):
            print(f"  {key}: {value if value is not None else '-'}")
    return int(verdict.level)


def cmd_inspect(args: argparse.Namespace) -> int:
    from mailbot.inspection import inspect_mail, read_mails  # noqa: PLC0415

    settings = load(args) if (args.config or os.environ.get("MAILBOT_CONFIG")) else None
    for path in args.file:
        for name, raw in read_mails(Path(path)):
            summary = {"file": name, **inspect_mail(raw, settings, now=system_clock())}
            if args.json:  # one object per mail and line (JSON Lines)
                print(json.dumps(summary, ensure_ascii=False))
                continue
            for key, value in summary.items():
                if key not in ("body_text", "body_html"):
                    print(f"{key}: {value}")
            print()
            print(summary["body_text"])
            print()
    return EXIT_OK


def register(sub: Any) -> None:
    run = add_command(sub, "run", cmd_run, "run the daemon: poll the mailbox and send the outbox")
    run.add_argument(
        "--once", action="store_true", help="one poll and one outbox flush, then exit (cron, tests)"
    )
    _register_demo(sub)
    _register_checks(sub)


def _register_demo(sub: Any) -> None:
    demo = add_command(
        sub, "demo", cmd_demo, "run the whole pipeline on a built-in demo (no servers needed)"
    )
    demo.add_argument(
        "--dir",
        default="var/demo",
        help="folder for the demo's mailbox, database and mail (default: var/demo; emptied first)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="then keep the web side running on 127.0.0.1 with the demo's tickets (the start "
        "page and forms, the staff board: sign in as technik@serwis.example.pl, the link is "
        "written to DIR/sent/), polling and sending every 2 s like `mailbot run`; prints the "
        "addresses; stops on Ctrl-C or SIGTERM",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        help="with --serve: the port on 127.0.0.1 (default: a free one)",
    )


def _register_checks(sub: Any) -> None:
    """The commands that look without changing anything: check-config, status, inspect."""
    check = add_command(
        sub,
        "check-config",
        cmd_check_config,
        "validate the configuration, render every template, read the contracts file, then "
        "connect to the database, IMAP and SMTP servers; exit 1 when a connection fails",
    )
    check.add_argument(
        "--offline", action="store_true", help="skip the database, IMAP and SMTP connections"
    )
    status = add_command(
        sub,
        "status",
        cmd_status,
        "how the desk is doing: last successful poll, mails today, outbox, overdue tickets, "
        "late reminders; exit 0 OK, 1 warning, 2 critical (thresholds: [health])",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    inspect = add_command(
        sub,
        "inspect",
        cmd_inspect,
        "parse mail files without storing them and show what mailbot reads from each and"
        " how it would treat it (tier and contract too, given --config)",
    )
    inspect.add_argument(
        "file",
        metavar="FILE.eml",
        nargs="+",
        help="a mail as RFC 5322 bytes, a directory of them, a Maildir or an mbox",
    )
    inspect.add_argument(
        "--json", action="store_true", help="print one JSON object per mail and line"
    )
