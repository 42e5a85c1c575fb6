"""The ``mailbot`` command: argument parsing and exit codes.

Exit codes: 0 success, 1 a runtime failure (mailbox or database unreachable,
unknown ticket), 2 a configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from mailbot import __version__, cli_args, cli_billing, cli_db
from mailbot.adapters import repository as repo
from mailbot.adapters.db import open_database
from mailbot.bootstrap import build_desk, open_desk
from mailbot.cli_args import OneLineParser, refuse_unreadable, say
from mailbot.cli_billing import refuse_when_file_rules
from mailbot.config import Settings, load_settings
from mailbot.config_check import connection_checks, offline_checks
from mailbot.contracts_file import load_contracts_file
from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier
from mailbot.demo import run_demo
from mailbot.errors import ConfigError, MailbotError
from mailbot.inspection import inspect_mail, read_mails
from mailbot.runtime.daemon import Daemon
from mailbot.runtime.heartbeat import Heartbeat
from mailbot.runtime.log_setup import LOG_FORMATS, apply_log_settings, configure_logging
from mailbot.runtime.sdnotify import Notifier
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import judge, report, take_snapshot
from mailbot.usecases.phone import open_by_hand
from mailbot.usecases.sla_explain import explain, local_moment
from mailbot.usecases.ticket_changes import update_ticket
from mailbot.usecases.views import ticket_detail, ticket_summaries

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("mailbot")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_run(args: argparse.Namespace) -> int:
    def reload() -> Desk:
        desk = open_desk(args.config)
        _apply_log_settings(desk.settings)
        return desk

    desk = reload()
    daemon = Daemon(desk, heartbeat=Heartbeat(Notifier.from_environ()), reload=reload)
    if args.once:
        return EXIT_OK if asyncio.run(daemon.run_once()) else EXIT_FAILURE
    asyncio.run(daemon.run_forever())
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:

    return run_demo(Path(args.dir), out=sys.stdout)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
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
    settings = _settings(args)
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

    settings = _settings(args) if (args.config or os.environ.get("MAILBOT_CONFIG")) else None
    for path in args.file:
        for name, raw in read_mails(Path(path)):
            summary = {"file": name, **inspect_mail(raw, settings)}
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


def cmd_contracts_import(args: argparse.Namespace) -> int:

    settings = _settings(args)
    file = Path(args.file)
    # The contracts file itself may be imported now (start and reload do the same); any
    # other file would add contracts that the contracts file does not know.
    configured = settings.support.contracts_file
    if configured is not None and not _same_file(file, configured):
        refuse_when_file_rules(settings, f"add the contracts of {file} there")
    contracts = load_contracts_file(file)
    with Session(open_database(settings.database)) as session:
        report = repo.import_contracts(contracts, session=session)
        session.commit()
    for label, ids in (
        ("added", report.added),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        print(
            f"{label}: {len(ids)}"
            + (f" ({', '.join(ids)})" if ids and label != "unchanged" else "")
        )
    return EXIT_OK


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def cmd_contracts_list(args: argparse.Namespace) -> int:

    settings = _settings(args)
    with Session(open_database(settings.database)) as session:
        contracts = repo.load_contracts(session=session)
    vip_default = settings.support.vip_requires_authentication
    rows = [
        {
            "id": c.id,
            "customer": c.customer,
            "tier": c.tier.value,
            "addresses": sorted(c.addresses),
            "domains": sorted(c.domains),
            "valid_from": c.valid_from.isoformat(),
            "valid_until": c.valid_until.isoformat() if c.valid_until else None,
            "language": c.language,
            # What applies now, and whether the contract says so or its tier's default does.
            "require_authentication": c.requires_authentication(vip_default=vip_default),
            "require_authentication_default": c.require_authentication is None,
            "auth": _auth_label(c, vip_default=vip_default),
        }
        for c in sorted(contracts, key=lambda c: c.id)
    ]
    _print_rows(rows, args.json, ("id", "tier", "auth", "customer", "valid_from", "valid_until"))
    if (
        not args.json
        and not settings.support.authserv_id
        and any(r["require_authentication"] for r in rows)
    ):
        print(
            "note: [support] authserv_id is not set, so no sender can be verified:"
            " every contract trusts the From address",
            file=sys.stderr,
        )
    return EXIT_OK


def _auth_label(contract: Contract, *, vip_default: bool) -> str:
    """The contracts table's AUTH cell: "required", "not required", "(default)" when unsaid."""
    required = contract.requires_authentication(vip_default=vip_default)
    label = "required" if required else "not required"
    return f"{label} (default)" if contract.require_authentication is None else label


def cmd_tickets_list(args: argparse.Namespace) -> int:

    due_before = None
    if args.overdue:
        due_before = datetime.now(UTC)
    elif args.due_within:
        due_before = datetime.now(UTC) + args.due_within
    rows = ticket_summaries(_settings(args), limit=args.limit, due_before=due_before)
    _print_rows(
        rows, args.json, ("number", "tier", "status", "customer", "reaction_due", "subject")
    )
    return EXIT_OK


def cmd_tickets_open(args: argparse.Namespace) -> int:
    desk = build_desk(_settings(args))
    received = local_moment(args.received, desk.tz) if args.received else datetime.now(UTC)
    number = open_by_hand(
        desk, contract_id=args.contract, subject=args.subject, body=args.body,
        channel=args.channel, received=received, address=args.from_address,
    )  # fmt: skip
    asyncio.run(
        Daemon(desk).sweep_cycle()
    )  # the acknowledgement goes out now, not at the next poll
    if args.json:
        print(
            json.dumps(
                ticket_detail(desk.settings, number, now=desk.clock()), ensure_ascii=False, indent=2
            )
        )
    else:
        print(number)
    return EXIT_OK


def cmd_tickets_show(args: argparse.Namespace) -> int:

    detail = ticket_detail(_settings(args), args.number, now=datetime.now(UTC))
    if detail is None:
        say(f"mailbot: no ticket {args.number}")
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
        return EXIT_OK
    for key, value in detail.items():
        if key not in ("messages", "sla"):
            print(f"{key}: {value}")
    _print_sla(detail["sla"])
    print("\ntimeline:")
    for message in detail["messages"]:
        arrow = "<-" if message["direction"] == "in" else "->"
        who = message["sender"] if message["direction"] == "in" else message["recipients"]
        internal = " [internal]" if message["internal"] else ""
        print(
            f"\n{message['received_at']} {arrow} {message['author'] or '?'} {who}{internal}: "
            f"{message['subject']}"
        )
        print("    " + message["body_text"].rstrip().replace("\n", "\n    "))
    return EXIT_OK


def _print_sla(sla: dict[str, Any]) -> None:
    for kind in ("reaction", "resolution"):
        deadline = sla[kind]
        met = f" at {deadline['met_at']}" if deadline["met_at"] else ""
        print(f"{kind} deadline: {deadline['due']} ({deadline['state']}{met})")
    for alert in sla["alerts"]:
        late = ", late" if alert["late"] else ""
        what = f"{alert['kind']} {alert['what']}"
        print(f"  {what} planned {alert['planned_at']}: {alert['status']}{late}")
    if sla["next_alert_at"]:
        print(f"  next alert at {sla['next_alert_at']}")
    print("history:")
    for event in sla["history"]:
        print(f"  {event['at']} {event['detail']}")


def cmd_tickets_set(args: argparse.Namespace) -> int:
    desk = build_desk(_settings(args))
    now = desk.clock()
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(args.number.upper(), session=session)
        if ticket is None:
            say(f"mailbot: no ticket {args.number}")
            return EXIT_FAILURE
        for line in update_ticket(
            desk, ticket, args.field, args.value, by=args.by, now=now, session=session
        ):
            print(f"{ticket.number}: {line}")
        session.commit()
    return EXIT_OK


def cmd_tickets_release(args: argparse.Namespace) -> int:
    desk = build_desk(_settings(args))
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(args.number.upper(), session=session)
        if ticket is None or ticket.id is None:
            print(f"mailbot: no ticket {args.number}", file=sys.stderr)
            return EXIT_FAILURE
        number = ticket.number
        released = repo.release_held(ticket.id, desk.clock(), session=session)
        session.commit()
    print(f"{number}: {released} held mail(s) queued for sending")
    return EXIT_OK


def cmd_sla_explain(args: argparse.Namespace) -> int:
    settings = _settings(args)
    received = local_moment(args.received, ZoneInfo(settings.support.timezone))
    result = explain(settings, Tier(args.tier), received)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    for key in ("tier", "calendar", "received_at", "reaction_due", "resolution_due"):
        print(f"{key}: {result[key]}")
    for kind in ("reaction", "resolution"):
        print(f"\n{kind} ({result[kind + '_window']}):")
        for note in result["steps"][kind]:
            print(f"  {note}")
    return EXIT_OK


def _print_rows(rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        print("(none)")
        return
    widths = [max(len(c), *(len(str(r[c] or "")) for r in rows)) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print(
            "  ".join(
                str(row[c] or "").ljust(w) for c, w in zip(columns, widths, strict=True)
            ).rstrip()
        )


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
    _add_run_commands(sub)
    _add_contract_commands(sub)
    _add_ticket_commands(sub)
    _add_sla_commands(sub)
    cli_billing.register(sub)
    cli_db.register(sub)
    return parser


def _command(
    sub: Any, name: str, handler: Callable[[argparse.Namespace], int], help_text: str
) -> Any:
    command = sub.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


def _add_run_commands(sub: Any) -> None:
    run = _command(sub, "run", cmd_run, "run the daemon: poll the mailbox and send the outbox")
    run.add_argument(
        "--once", action="store_true", help="one poll and one outbox flush, then exit (cron, tests)"
    )
    demo = _command(
        sub, "demo", cmd_demo, "run the whole pipeline on a built-in demo (no servers needed)"
    )
    demo.add_argument(
        "--dir",
        default="var/demo",
        help="folder for the demo's mailbox, database and mail (default: var/demo; emptied first)",
    )
    check = _command(
        sub,
        "check-config",
        cmd_check_config,
        "validate the configuration, render every template, read the contracts file, then "
        "connect to the database, IMAP and SMTP servers; exit 1 when a connection fails",
    )
    check.add_argument(
        "--offline", action="store_true", help="skip the database, IMAP and SMTP connections"
    )
    status = _command(
        sub,
        "status",
        cmd_status,
        "how the desk is doing: last successful poll, mails today, outbox, overdue tickets, "
        "late reminders; exit 0 OK, 1 warning, 2 critical (thresholds: [health])",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    inspect = _command(
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


def _add_contract_commands(sub: Any) -> None:
    contracts = sub.add_parser(
        "contracts", help="manage customer contracts", description="manage customer contracts"
    )
    csub = contracts.add_subparsers(dest="contracts_command", required=True, metavar="ACTION")
    imp = _command(
        csub,
        "import",
        cmd_contracts_import,
        "import contracts from a TOML or CSV file (by id; "
        "importing the same file twice changes nothing)",
    )
    imp.add_argument(
        "file", metavar="FILE", help="contracts file (.toml, or .csv with the same columns)"
    )
    lst = _command(csub, "list", cmd_contracts_list, "list contracts")
    lst.add_argument("--json", action="store_true", help="print JSON")
    cli_billing.register_contract_actions(csub)


def _add_ticket_commands(sub: Any) -> None:
    tickets = sub.add_parser("tickets", help="look at tickets", description="look at tickets")
    tsub = tickets.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    lst = _command(tsub, "list", cmd_tickets_list, "list the newest tickets")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument(
        "--limit",
        type=cli_args.limit,
        default=100,
        help=f"how many tickets, newest first (default 100, at most {cli_args.MAX_LIMIT})",
    )
    due = lst.add_mutually_exclusive_group()
    due.add_argument(
        "--overdue", action="store_true", help="only tickets with a missed, unmet deadline"
    )
    due.add_argument(
        "--due-within",
        type=cli_args.duration,
        metavar="DURATION",
        help="only tickets with an unmet deadline before now + DURATION (e.g. 2h, 30m, 1d)",
    )
    opened = _command(
        tsub, "open", cmd_tickets_open,
        "open a ticket by hand (a phone call): same tier, deadlines and acknowledgement as a mail",
    )  # fmt: skip
    opened.add_argument(
        "--contract", required=True, metavar="ID", help="the customer's contract id"
    )
    opened.add_argument("--subject", required=True, help="what the ticket is about")
    opened.add_argument("--body", required=True, help="what the customer said")
    opened.add_argument("--channel", default="phone", help="how it came in (default: phone)")
    opened.add_argument(
        "--received",
        type=cli_args.moment,
        metavar="ISO8601",
        help="when the call was taken (default: now); deadlines run from then",
    )
    opened.add_argument(
        "--from",
        type=cli_args.address,
        dest="from_address",
        metavar="ADDRESS",
        help="where the acknowledgement goes (default: the contract's billing e-mail "
        "or first address)",
    )
    opened.add_argument("--json", action="store_true", help="print the new ticket as JSON")
    show = _command(
        tsub, "show", cmd_tickets_show, "show one ticket: deadlines, alerts, history, messages"
    )
    show.add_argument("number", metavar="NUMBER", help="ticket number, e.g. SOL-42")
    show.add_argument("--json", action="store_true", help="print JSON")
    set_ = _command(
        tsub,
        "set",
        cmd_tickets_set,
        "change a ticket as a person on the staff would: "
        "status (new, open, waiting, resolved, closed), tier (vip, warranty, post_warranty) "
        "or assignee (a staff address, or '' for the staff list)",
    )
    set_.add_argument("number", metavar="NUMBER", help="ticket number, e.g. SOL-42")
    set_.add_argument(
        "field",
        choices=("status", "tier", "assignee", "express", "unjustified", "warranty"),
        help="what to change (express, unjustified, warranty: on or off)",
    )
    set_.add_argument("value", metavar="VALUE", help="the new value")
    set_.add_argument(
        "--by",
        default="admin",
        metavar="WHO",
        help="who made the change, for the ticket's history (default: admin); a staff "
        "status change counts as the reaction",
    )
    release = _command(
        tsub,
        "release",
        cmd_tickets_release,
        "send the mails held for a ticket's customer (past [limits] "
        "customer_mails_per_ticket_hour, a likely loop of two robots): read the ticket first",
    )
    release.add_argument("number", metavar="NUMBER", help="ticket number, e.g. SOL-42")


def _add_sla_commands(sub: Any) -> None:
    sla = sub.add_parser(
        "sla", help="service level deadlines", description="service level deadlines"
    )
    ssub = sla.add_subparsers(dest="sla_command", required=True, metavar="ACTION")
    explain_ = _command(
        ssub,
        "explain",
        cmd_sla_explain,
        "the reaction and resolution deadlines of a "
        "ticket received at a moment, with the calendar steps that lead there",
    )
    explain_.add_argument(
        "--tier", required=True, choices=[t.value for t in Tier], help="the ticket's tier"
    )
    explain_.add_argument(
        "--received",
        type=cli_args.moment,
        required=True,
        metavar="ISO8601",
        help="when it was received, e.g. 2026-11-27T15:00 (company time) or with an offset",
    )
    explain_.add_argument("--json", action="store_true", help="print JSON")


def _apply_log_settings(settings: Settings) -> None:
    apply_log_settings(
        settings.log_level,
        settings.log_levels,
        secrets=(settings.imap.password, settings.smtp.password),
    )


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
    except SQLAlchemyError as exc:
        # Its first line says what went wrong; the rest is the SQL and a link.
        say(f"mailbot: database error: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        return EXIT_FAILURE
    except OSError as exc:
        say(f"mailbot: {exc}")
        return EXIT_FAILURE
