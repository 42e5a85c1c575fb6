"""The ``sla`` commands: ``explain``."""

from __future__ import annotations

import argparse
import json
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.cli import args as cli_args
from mailbot.cli.common import (
    EXIT_OK,
    add_command,
    load,
)
from mailbot.core.tiers import Tier
from mailbot.usecases.sla_explain import explain, local_moment


def cmd_sla_explain(args: argparse.Namespace) -> int:
    settings = load(args)
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


def register(sub: Any) -> None:
    sla = sub.add_parser(
        "sla", help="service level deadlines", description="service level deadlines"
    )
    ssub = sla.add_subparsers(dest="sla_command", required=True, metavar="ACTION")
    explain_ = add_command(
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
