"""The ``db`` commands: ``mailbot db upgrade``, ``mailbot db current`` and ``mailbot db prune``.

``mailbot.cli`` calls ``register``. Handlers return exit codes; a schema that
cannot be upgraded raises SchemaError, which the CLI turns into exit code 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import Engine, open_database, plain_engine, schema
from mailbot.bootstrap import system_clock
from mailbot.cli import args as kinds
from mailbot.cli.args import say
from mailbot.cli.common import EXIT_CONFIG, EXIT_OK
from mailbot.config import MIN_RETENTION, load_settings
from mailbot.core.limits import human_size
from mailbot.usecases.prune import PruneReport, prune


def _engine(args: argparse.Namespace) -> Engine:
    # A plain engine: make_engine would upgrade (or refuse) before we look.
    return plain_engine(load_settings(args.config).database.url)


def cmd_upgrade(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"database schema already at {after}")
    else:
        print(f"database schema upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        current = schema.current_revision(engine)
    finally:
        engine.dispose()
    head = schema.head_revision()
    state = "up to date" if current == head else f"behind: mailbot needs {head}"
    print(f"{current or 'none'} ({state})")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, reads_mailbox=False)
    older_than = args.older_than or settings.database.retention
    if older_than is None:
        say(
            'mailbot: nothing to prune by: set [database] retention (e.g. "365d") '
            "or give --older-than"
        )
        return EXIT_CONFIG
    engine = open_database(settings.database)
    try:
        report = prune(
            engine, AttachmentStore(settings.state_dir / "attachments"),
            older_than=older_than, now=system_clock(), dry_run=args.dry_run,
        )  # fmt: skip
    finally:
        engine.dispose()
    print(describe_prune(report))
    return EXIT_OK


def describe_prune(report: PruneReport) -> str:
    """What ``db prune`` says it removed (or would remove), a few lines."""
    verb = "would remove" if report.dry_run else "removed"
    lines = [
        f"older than {report.cutoff.isoformat(timespec='seconds')}"
        + (" (dry run: nothing changed)" if report.dry_run else ""),
        f"{verb} {report.ledger_rows} ledger row(s)",
        f"{verb} {report.files} attachment file(s), {human_size(report.bytes)}, "
        f"of {report.attachments} attachment(s) of resolved or closed tickets",
    ]
    if report.shared:
        lines.append(
            f"kept the file of {report.shared} old attachment(s): a newer attachment or one "
            "of a ticket still open has the same file"
        )
    if report.recent:
        lines.append(
            f"kept the file of {report.recent} old attachment(s): used in the last day "
            "(the next prune takes it)"
        )
    return "\n".join(lines)


_PRUNE_HELP = (
    "remove ledger rows, and the stored files of attachments of resolved or closed tickets, "
    "older than [database] retention (or --older-than)"
)
_PRUNE_DESCRIPTION = f"""Remove ledger rows, and the stored files of attachments of resolved or
closed tickets, older than [database] retention (or --older-than; at least
{MIN_RETENTION.days} days). Prints what it removed (with --dry-run: would remove).

Removed: ledger rows (the record of each mail taken from the mailbox, which guards against
taking a mail twice) processed before the cutoff; and the stored files of attachments of
messages received before the cutoff, on tickets resolved or closed and unchanged since
then, unless a newer attachment, an attachment of a ticket still open or a web form
waiting for its confirmation has the same file (files are stored once by their SHA-256).
The attachments stay listed on their tickets, marked "removed by db prune (DATE)".

Kept: tickets, the texts of messages, time entries, SLA events and everything billing
reads. A mail older than the cutoff found in the mailbox again is no longer recognised as
taken before.

Safe while mailbot run and mailbot web run: the work is done in small transactions, and a
file used in the last day is kept until a later prune. Without [database] retention and
--older-than it exits 2 and removes nothing."""


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="the database schema", description="the database schema")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("upgrade", cmd_upgrade, "migrate the database schema to this mailbot's revision"),
        ("current", cmd_current, "print the database schema's revision"),
    ):
        command = dsub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
    prune_command = dsub.add_parser(
        "prune",
        help=_PRUNE_HELP,
        description=_PRUNE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prune_command.add_argument(
        "--dry-run",
        action="store_true",
        help="only count what would be removed; change nothing",
    )
    prune_command.add_argument(
        "--older-than",
        type=kinds.retention,
        metavar="DURATION",
        help=f'remove what is older than this (e.g. "365d", at least {MIN_RETENTION.days}d) '
        "instead of [database] retention",
    )
    prune_command.set_defaults(handler=cmd_prune)
