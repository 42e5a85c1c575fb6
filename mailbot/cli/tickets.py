"""The ``tickets`` commands: ``list``, ``open`` (a phone call), ``show``, ``set``, ``release``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session
from mailbot.bootstrap import build_desk, system_clock
from mailbot.cli import args as cli_args
from mailbot.cli.args import say
from mailbot.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_command,
    load,
    print_rows,
)
from mailbot.usecases.phone import open_by_hand
from mailbot.usecases.sla_explain import local_moment
from mailbot.usecases.ticket_changes import update_ticket
from mailbot.usecases.views import ticket_detail, ticket_summaries
from mailbot.usecases.web_status import revoke_link


def cmd_tickets_list(args: argparse.Namespace) -> int:

    due_before = None
    if args.overdue:
        due_before = system_clock()
    elif args.due_within:
        due_before = system_clock() + args.due_within
    rows = ticket_summaries(load(args), limit=args.limit, due_before=due_before)
    print_rows(rows, args.json, ("number", "tier", "status", "customer", "reaction_due", "subject"))
    return EXIT_OK


def cmd_tickets_open(args: argparse.Namespace) -> int:
    from mailbot.runtime.daemon import Daemon  # noqa: PLC0415 - as in cli.run.cmd_run

    desk = build_desk(load(args))
    received = local_moment(args.received, desk.tz) if args.received else desk.clock()
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

    detail = ticket_detail(load(args), args.number, now=system_clock())
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
        if message["note"]:  # e.g. "sender read leniently from From: ...", "unverified: ..."
            print(f"    note: {message['note']}")
        print("    " + message["body_text"].rstrip().replace("\n", "\n    "))
        for attachment in message["attachments"]:
            print(f"    attachment: {attachment_line(attachment)}")
    return EXIT_OK


def attachment_line(attachment: dict[str, Any]) -> str:
    """An attachment as ``tickets show`` lists it: name, type, size, and whether
    ``mailbot db prune`` removed its file."""
    line = f"{attachment['filename']} ({attachment['content_type']}, {attachment['size']} B)"
    if attachment["pruned_at"]:
        line += f", attachment removed by db prune ({attachment['pruned_at'][:10]})"
    return line


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
    desk = build_desk(load(args))
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
    desk = build_desk(load(args))
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


def cmd_tickets_revoke_link(args: argparse.Namespace) -> int:
    desk = build_desk(load(args))
    link = revoke_link(desk, args.number)
    if link is None:
        say(f"mailbot: no ticket {args.number}")
        return EXIT_FAILURE
    print(
        f"{args.number}: status links revoked; new link: {link}"
        if link
        else f"{args.number}: status links revoked ([web] base_url is not set: no link to print)"
    )
    return EXIT_OK


def register(sub: Any) -> None:
    tickets = sub.add_parser("tickets", help="look at tickets", description="look at tickets")
    tsub = tickets.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    _register_list(tsub)
    _register_open(tsub)
    _register_changes(tsub)


def _register_list(tsub: Any) -> None:
    lst = add_command(tsub, "list", cmd_tickets_list, "list the newest tickets")
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
    show = add_command(
        tsub, "show", cmd_tickets_show, "show one ticket: deadlines, alerts, history, messages"
    )
    show.add_argument("number", metavar="NUMBER", help="ticket number, e.g. SOL-42")
    show.add_argument("--json", action="store_true", help="print JSON")


def _register_open(tsub: Any) -> None:
    opened = add_command(
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


def _register_changes(tsub: Any) -> None:
    set_ = add_command(
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
    release = add_command(
        tsub,
        "release",
        cmd_tickets_release,
        "send the mails held for a ticket's customer (past [limits] "
        "customer_mails_per_ticket_hour, a likely loop of two robots): read the ticket first",
    )
    release.add_argument("number", metavar="NUMBER", help="ticket number, e.g. SOL-42")
    revoke = add_command(
        tsub,
        "revoke-link",
        cmd_tickets_revoke_link,
        "revoke the ticket's status-page links (issue 15): a link someone else got stops "
        "working (404) and the ticket gets a new one, printed when [web] base_url is set; "
        "mails sent later carry the new link",
    )
    revoke.add_argument(
        "number", type=cli_args.ticket_number, metavar="NUMBER", help="ticket number, e.g. SOL-42"
    )
