"""The billing commands: ``time``, ``report`` and the ``contracts`` actions show, set,
add-address. ``mailbot.cli`` calls ``register``; ``mailbot.cli.contracts`` calls
``register_contract_actions``.

Handlers return exit codes (0 success, 1 runtime failure such as an unknown
ticket or contract); usage errors raise ConfigError, which the CLI turns into 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, open_database, time_entries
from mailbot.bootstrap import system_clock
from mailbot.cli import args as cli_args
from mailbot.cli.common import EXIT_FAILURE, EXIT_OK, load
from mailbot.config import Settings
from mailbot.contracts_file import changed_contract, contract_fields, with_address
from mailbot.core.billing import only_customer
from mailbot.core.contracts import Contract
from mailbot.errors import ConfigError
from mailbot.report_format import (
    invoice_csv,
    invoice_json,
    invoice_table,
    sla_json,
    sla_table,
)
from mailbot.usecases.reports import billing_invoice, month_bounds, sla_month
from mailbot.usecases.sla_explain import local_moment
from mailbot.usecases.timesheet import add_time

Handler = Callable[[argparse.Namespace], int]


def _tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.support.timezone)


def _fail(message: str) -> int:
    cli_args.say(f"mailbot: {message}")
    return EXIT_FAILURE


# --- contracts show / set / add-address -------------------------------------------------


def _contract_json(contract: Contract) -> dict[str, Any]:
    fields = {**asdict(contract), **contract_fields(contract)}
    return {
        name: sorted(value) if isinstance(value, frozenset) else value
        for name, value in fields.items()
    }


def _shown(name: str, value: object) -> str:
    """A field as the contracts file writes it (true/false, not Python's True/False)."""
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(the tier's default)" if name == "require_authentication" else ""
    return str(value)


def cmd_contracts_show(args: argparse.Namespace) -> int:
    with Session(open_database(load(args).database)) as session:
        contract = repo.contract_by_id(args.id, session=session)
    if contract is None:
        return _fail(f"no contract {args.id}")
    shown = _contract_json(contract)
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2, default=str))
        return EXIT_OK
    for name, value in shown.items():
        text = _shown(name, value)
        if name == "procedures" and "\n" in text:
            text = "\n  " + text.replace("\n", "\n  ")
        print(f"{name}: {text}")
    return EXIT_OK


def refuse_when_file_rules(settings: Settings, what: str) -> None:
    """With ``[support] contracts_file`` set, that file is the source of truth: it is imported
    at every start and reload, so a change made only in the database would silently vanish.
    Raise ConfigError (exit 2) saying where to make the change instead."""
    file = settings.support.contracts_file
    if file is not None:
        raise ConfigError(
            f"contracts come from {file} ([support] contracts_file), which puts its values back"
            f" at every start: {what}, then run systemctl reload mailbot"
        )


def _change_contract(
    args: argparse.Namespace, change: Callable[[Contract], Contract], what: str
) -> int:
    settings = load(args)
    refuse_when_file_rules(settings, f"edit contract {args.id} there")
    with Session(open_database(settings.database)) as session:
        contract = repo.contract_by_id(args.id, session=session)
        if contract is None:
            return _fail(f"no contract {args.id}")
        try:
            new = change(contract)
        except ValueError as exc:
            raise ConfigError(f"contract {args.id}: {exc}") from None
        report = repo.import_contracts([new], session=session)
        session.commit()
    print(f"{args.id}: {what}" if report.updated else f"{args.id}: unchanged")
    return EXIT_OK


def cmd_contracts_set(args: argparse.Namespace) -> int:
    return _change_contract(
        args,
        lambda c: changed_contract(c, args.key, args.value, base=Path.cwd()),
        f"{args.key} -> {args.value or '(not set)'}",
    )


def cmd_contracts_add_address(args: argparse.Namespace) -> int:
    return _change_contract(
        args, lambda c: with_address(c, args.address), f"added {args.address.lower()}"
    )


# --- time add / list ---------------------------------------------------------------------


def cmd_time_add(args: argparse.Namespace) -> int:
    settings = load(args)
    duration = args.duration
    now = system_clock()
    at = local_moment(args.at, _tz(settings)) if args.at else now
    with Session(open_database(settings.database)) as session:
        ticket = repo.ticket_by_number(args.ticket.upper(), session=session)
        if ticket is None:
            return _fail(f"no ticket {args.ticket}")
        add_time(
            ticket, duration, at=at, by=args.by, note=args.note, session=session, recorded_at=now
        )
        session.commit()
        number = ticket.number
    local = at.astimezone(_tz(settings)).strftime("%Y-%m-%d %H:%M")
    print(f"{number}: {_hours_minutes(duration.total_seconds())} on {local} by {args.by}")
    return EXIT_OK


def _hours_minutes(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60}h{minutes % 60:02d}m"


def cmd_time_list(args: argparse.Namespace) -> int:
    settings = load(args)
    tz = _tz(settings)
    start, end = month_bounds(args.month, tz) if args.month else (None, None)
    with Session(open_database(settings.database)) as session:
        ticket_id = None
        if args.ticket:
            ticket = repo.ticket_by_number(args.ticket.upper(), session=session)
            if ticket is None:
                return _fail(f"no ticket {args.ticket}")
            ticket_id = ticket.id
        rows = [
            {
                "ticket": ticket.number,
                "at": entry.at.astimezone(tz).isoformat(),
                "minutes": round(entry.seconds / 60, 2),
                "duration": _hours_minutes(entry.seconds),
                "by": entry.by,
                "note": entry.note,
            }
            for entry, ticket in time_entries(
                session=session, ticket_id=ticket_id, start=start, end=end
            )
        ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _print_table(rows, ("ticket", "at", "duration", "by", "note"))
    return EXIT_OK


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    for row in [{c: c.upper() for c in columns}, *rows]:
        print(
            "  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
        )


# --- report billing / sla ----------------------------------------------------------------


def cmd_report_billing(args: argparse.Namespace) -> int:
    settings = load(args)
    month = args.month
    with Session(open_database(settings.database)) as session:
        invoice = billing_invoice(settings, month, session=session)
        names = {c.id: c.customer for c in repo.load_contracts(session=session)}
    if args.customer:
        invoice = only_customer(invoice, args.customer)
    if args.format == "json":
        print(json.dumps(invoice_json(invoice), ensure_ascii=False, indent=2))
    elif args.format == "csv":
        # The byte-order mark tells spreadsheet programs the file is UTF-8.
        sys.stdout.write("\ufeff" + invoice_csv(invoice, names))
    else:
        print(invoice_table(invoice, names, settings.billing.vat_percent))
    return EXIT_OK


def cmd_report_sla(args: argparse.Namespace) -> int:
    settings = load(args)
    month = args.month
    with Session(open_database(settings.database)) as session:
        rows = sla_month(settings, month, now=system_clock(), session=session)
    if args.json:
        print(json.dumps(sla_json(str(month), rows), ensure_ascii=False, indent=2))
    else:
        print(sla_table(str(month), rows))
    return EXIT_OK


# --- the parsers -------------------------------------------------------------------------


def _command(sub: Any, name: str, handler: Handler, help_text: str) -> Any:
    command = sub.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


def register_contract_actions(csub: Any) -> None:
    """``contracts show``, ``set`` and ``add-address``, under ``mailbot contracts``."""
    show = _command(csub, "show", cmd_contracts_show, "show one contract, billing terms included")
    show.add_argument("id", metavar="ID", help="the contract's id")
    show.add_argument("--json", action="store_true", help="print JSON")
    set_ = _command(
        csub,
        "set",
        cmd_contracts_set,
        "change one field of a contract, checked as the contracts file is "
        "(lists separated by spaces, dates as 2026-12-31, '' to unset)",
    )
    set_.add_argument("id", metavar="ID", help="the contract's id")
    set_.add_argument("key", metavar="KEY", help="e.g. monthly_fee, hourly_rate, valid_until")
    set_.add_argument("value", metavar="VALUE", help="the new value")
    add = _command(
        csub,
        "add-address",
        cmd_contracts_add_address,
        "add a sender address (a@b.pl) or, without an @, a domain to a contract",
    )
    add.add_argument("id", metavar="ID", help="the contract's id")
    add.add_argument(
        "address",
        type=cli_args.address_or_domain,
        metavar="ADDRESS",
        help="an e-mail address or a domain",
    )


def register(sub: Any) -> None:
    """The ``time`` and ``report`` commands."""
    _add_time_commands(sub)
    _add_report_commands(sub)


def _add_time_commands(sub: Any) -> None:
    time_ = sub.add_parser("time", help="time worked on tickets", description="time worked")
    tsub = time_.add_subparsers(dest="time_command", required=True, metavar="ACTION")
    add = _command(tsub, "add", cmd_time_add, "record time worked on a ticket")
    add.add_argument("ticket", metavar="TICKET", help="ticket number, e.g. SOL-42")
    add.add_argument(
        "duration",
        type=cli_args.work_duration,
        metavar="DURATION",
        help="e.g. 1h30m, 90m, 1.5h (at most 24h)",
    )
    add.add_argument(
        "--at",
        type=cli_args.moment,
        metavar="DATE",
        help="when the work was done: 2026-11-30 or 2026-11-30T14:00 (company time); default now",
    )
    add.add_argument("--by", default="admin", metavar="STAFF", help="who did it (default admin)")
    add.add_argument("--note", default="", metavar="TEXT", help="what was done")
    lst = _command(tsub, "list", cmd_time_list, "list recorded time, oldest work first")
    lst.add_argument("--ticket", metavar="N", help="only this ticket")
    lst.add_argument(
        "--month", type=cli_args.month, metavar="YYYY-MM", help="only work done in this month"
    )
    lst.add_argument("--json", action="store_true", help="print JSON")


def _add_report_commands(sub: Any) -> None:
    report = sub.add_parser("report", help="monthly reports", description="monthly reports")
    rsub = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    billing = _command(
        rsub,
        "billing",
        cmd_report_billing,
        "the month's invoice lines per customer, with VAT and gross (rules: core/billing.py)",
    )
    billing.add_argument(
        "--month", type=cli_args.month, required=True, metavar="YYYY-MM", help="e.g. 2026-11"
    )
    billing.add_argument("--customer", metavar="ID", help="only this contract id")
    billing.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv (UTF-8 with BOM, for spreadsheets) or json",
    )
    sla = _command(
        rsub,
        "sla",
        cmd_report_sla,
        "per tier: tickets received in the month, deadlines met and missed, reaction times",
    )
    sla.add_argument(
        "--month", type=cli_args.month, required=True, metavar="YYYY-MM", help="e.g. 2026-11"
    )
    sla.add_argument("--json", action="store_true", help="print JSON")
