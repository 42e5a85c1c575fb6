"""The ``contracts`` commands that read and import: ``import`` and ``list`` (the billing
actions show, set and add-address are in ``mailbot.cli.billing``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, open_database
from mailbot.cli import billing as cli_billing
from mailbot.cli.billing import refuse_when_file_rules
from mailbot.cli.common import (
    EXIT_OK,
    add_command,
    load,
    print_rows,
)
from mailbot.contracts_file import load_contracts_file
from mailbot.core.contracts import Contract


def cmd_contracts_import(args: argparse.Namespace) -> int:

    settings = load(args)
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

    settings = load(args)
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
    print_rows(rows, args.json, ("id", "tier", "auth", "customer", "valid_from", "valid_until"))
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


def register(sub: Any) -> None:
    contracts = sub.add_parser(
        "contracts", help="manage customer contracts", description="manage customer contracts"
    )
    csub = contracts.add_subparsers(dest="contracts_command", required=True, metavar="ACTION")
    imp = add_command(
        csub,
        "import",
        cmd_contracts_import,
        "import contracts from a TOML or CSV file (by id; "
        "importing the same file twice changes nothing)",
    )
    imp.add_argument(
        "file", metavar="FILE", help="contracts file (.toml, or .csv with the same columns)"
    )
    lst = add_command(csub, "list", cmd_contracts_list, "list contracts")
    lst.add_argument("--json", action="store_true", help="print JSON")
    cli_billing.register_contract_actions(csub)
