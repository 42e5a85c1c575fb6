"""The ``db`` commands: ``mailbot db upgrade`` and ``mailbot db current``.

``mailbot.cli`` calls ``register``. Handlers return exit codes; a schema that
cannot be upgraded raises SchemaError, which the CLI turns into exit code 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from mailbot.adapters.db import Engine, plain_engine, schema
from mailbot.config import load_settings


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


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="the database schema", description="the database schema")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("upgrade", cmd_upgrade, "migrate the database schema to this mailbot's revision"),
        ("current", cmd_current, "print the database schema's revision"),
    ):
        command = dsub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
