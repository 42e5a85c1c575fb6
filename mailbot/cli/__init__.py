"""The ``mailbot`` command: argument parsing and exit codes; one module per command group
(``run``: run, demo, check-config, status, inspect; ``contracts``; ``tickets``; ``sla``;
``billing``: time, report and the contract actions; ``db``; ``web``; ``oauth``).

Exit codes: 0 success, 1 a runtime failure (mailbox or database unreachable,
unknown ticket), 2 a configuration or usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mailbot import __version__
from mailbot.adapters.db import DatabaseError
from mailbot.cli import billing, db
from mailbot.cli import contracts as contracts_commands
from mailbot.cli import oauth as oauth_commands
from mailbot.cli import run as run_commands
from mailbot.cli import sla as sla_commands
from mailbot.cli import tickets as ticket_commands
from mailbot.cli import web as web_commands
from mailbot.cli.args import OneLineParser, refuse_unreadable, say
from mailbot.cli.common import EXIT_CONFIG, EXIT_FAILURE
from mailbot.errors import ConfigError, MailbotError
from mailbot.runtime.log_setup import LOG_FORMATS, configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mailbot",
        description="E-mail support desk: turns mails in a support mailbox into tickets with SLA "
        "deadlines and acknowledges them.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 configuration or usage error.",
    )
    parser.add_argument("--version", action="version", version=f"mailbot {__version__}")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="log lines on stderr as text (default; with syslog priorities under journald) "
        "or as one JSON object per line, for log shippers",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $MAILBOT_CONFIG, else /etc/mailbot/config.toml); "
        "secrets may come from a .env file beside it or MAILBOT_<SECTION>__<KEY> variables",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_commands.register(sub)
    contracts_commands.register(sub)
    ticket_commands.register(sub)
    sla_commands.register(sub)
    billing.register(sub)
    db.register(sub)
    web_commands.register(sub)
    oauth_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    problem = refuse_unreadable(argv)
    if problem is not None:
        say(f"mailbot: error: {problem}")
        return EXIT_CONFIG
    args = build_parser().parse_args(argv)
    configure_logging(args.log_format)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        say(f"mailbot: configuration error: {exc}")
        return EXIT_CONFIG
    except MailbotError as exc:
        say(f"mailbot: {exc}")
        return EXIT_FAILURE
    except DatabaseError as exc:
        # Its first line says what went wrong; the rest is the SQL and a link.
        say(f"mailbot: database error: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        return EXIT_FAILURE
    except OSError as exc:
        say(f"mailbot: {exc}")
        return EXIT_FAILURE
