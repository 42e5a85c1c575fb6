"""The billing round trip as an admin runs it: import contracts, tickets from the mailbox,
time and marks, then the month's report as table, CSV and JSON (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import mailbox
from pathlib import Path

from tests.cli.test_cli import mailbot
from tests.factories import customer_mail

CONTRACTS_CSV = """\
id,customer,tier,addresses,domains,valid_from,valid_until,monthly_fee,hourly_rate,nip
acme-vip,ACME Sp. z o.o.,vip,jan@acme.pl,,2025-01-01,,450,,PL5260001246
zolw-pw,Żółw i Syn Sp. j.,post_warranty,,zolw.pl,2025-01-01,,,150.00,
"""


def write_config(tmp_path: Path, database_url: str) -> str:
    config = tmp_path / "config.toml"
    config.write_text(f"""
[general]
state_dir = "state"
[imap]
url = "maildir:Maildir"
[smtp]
url = "dir:sent"
[database]
url = "{database_url}"
[support]
address = "pomoc@serwis.example.pl"
staff_domains = ["serwis.example.pl"]
""")
    return str(config)


def run(config: str, *args: str) -> str:
    done = mailbot("--config", config, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def open_tickets(tmp_path: Path, config: str) -> dict[str, str]:
    """One mail each from ACME (twice) and Żółw through `run --once`; sender -> ticket."""
    inbox = mailbox.Maildir(tmp_path / "Maildir")
    for sender, subject in (
        ("jan@acme.pl", "Serwer"),
        ("jan@acme.pl", "Drukarka"),
        ("ola@zolw.pl", "Laptop"),
    ):
        inbox.add(customer_mail(sender, subject))
    run(config, "run", "--once")
    tickets = json.loads(run(config, "tickets", "list", "--json"))
    return {t["subject"]: t["number"] for t in tickets}


def test_billing_round_trip(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    contracts = tmp_path / "contracts.csv"
    contracts.write_text(CONTRACTS_CSV, encoding="utf-8")
    assert "added: 2" in run(config, "contracts", "import", str(contracts))
    assert "unchanged: 2" in run(config, "contracts", "import", str(contracts))
    number = open_tickets(tmp_path, config)

    # ACME: 1 h 30 min and 1 h 10 min -> 2 h + 2 h; the package takes the first ticket's
    # (in ticket order), the second's 2 h are billed: 450 + 2 x 120 = 690.00, VAT 158.70.
    run(config, "time", "add", number["Serwer"], "1h30m", "--at", "2026-11-10", "--by", "anna")
    run(config, "time", "add", number["Drukarka"], "70m", "--at", "2026-11-12T09:00")
    # Żółw, post-warranty at its own 150/h, express: 1 h 01 min -> 2 h x 150 x 2 = 600.00.
    # The 30 min on 1 December belong to December.
    run(config, "time", "add", number["Laptop"], "1h", "--at", "2026-11-30T23:00")
    run(config, "time", "add", number["Laptop"], "1m", "--at", "2026-11-30T23:59")
    run(config, "time", "add", number["Laptop"], "30m", "--at", "2026-12-01T00:01")
    assert "express -> on" in run(config, "tickets", "set", number["Laptop"], "express", "on")

    report = json.loads(run(config, "report", "billing", "--month", "2026-11", "--format", "json"))
    assert report["lines"] == [
        {"customer": "acme-vip", "ticket": None, "kind": "vip_fee", "hours_recorded": None,
         "hours_billed": None, "rate": "450.00", "multiplier": "1", "net": "450.00"},
        {"customer": "acme-vip", "ticket": number["Serwer"], "kind": "vip_package",
         "hours_recorded": "1.50", "hours_billed": "0.00", "rate": "120.00", "multiplier": "1",
         "net": "0.00"},
        {"customer": "acme-vip", "ticket": number["Drukarka"], "kind": "vip_hours",
         "hours_recorded": "1.17", "hours_billed": "2.00", "rate": "120.00", "multiplier": "1",
         "net": "240.00"},
        {"customer": "zolw-pw", "ticket": number["Laptop"], "kind": "express",
         "hours_recorded": "1.02", "hours_billed": "2.00", "rate": "150.00", "multiplier": "2",
         "net": "600.00"},
    ]  # fmt: skip
    assert report["customers"] == [
        {"customer": "acme-vip", "net": "690.00", "vat": "158.70", "gross": "848.70"},
        {"customer": "zolw-pw", "net": "600.00", "vat": "138.00", "gross": "738.00"},
    ]
    assert report["total"] == {"net": "1290.00", "vat": "296.70", "gross": "1586.70"}

    raw = mailbot(
        "--config", config, "report", "billing", "--month", "2026-11", "--format", "csv"
    ).stdout
    assert raw.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(raw.removeprefix("\ufeff"))))
    assert [(r["row"], r["customer_name"], r["net"]) for r in rows] == [
        ("line", "ACME Sp. z o.o.", "450.00"),
        ("line", "ACME Sp. z o.o.", "0.00"),
        ("line", "ACME Sp. z o.o.", "240.00"),
        ("line", "Żółw i Syn Sp. j.", "600.00"),
        ("subtotal", "ACME Sp. z o.o.", "690.00"),
        ("subtotal", "Żółw i Syn Sp. j.", "600.00"),
        ("total", "", "1290.00"),
    ]

    table = run(config, "report", "billing", "--month", "2026-11", "--customer", "zolw-pw")
    assert "zolw-pw - Żółw i Syn Sp. j." in table
    assert "TOTAL: net 600.00  VAT 138.00  gross 738.00" in table
    assert "acme-vip" not in table

    december = json.loads(
        run(config, "report", "billing", "--month", "2026-12", "--format", "json")
    )
    laptop = [line for line in december["lines"] if line["customer"] == "zolw-pw"]
    assert [(line["hours_billed"], line["net"]) for line in laptop] == [("1.00", "300.00")]

    entries = json.loads(run(config, "time", "list", "--month", "2026-11", "--json"))
    assert [(e["ticket"], e["duration"]) for e in entries] == [
        (number["Serwer"], "1h30m"),
        (number["Drukarka"], "1h10m"),
        (number["Laptop"], "1h00m"),
        (number["Laptop"], "0h01m"),
    ]
    sla = json.loads(run(config, "report", "sla", "--month", "2026-11", "--json"))
    assert {t["tier"] for t in sla["tiers"]} == {"vip", "warranty", "post_warranty"}


def test_contract_commands(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    contracts = tmp_path / "contracts.csv"
    contracts.write_text(CONTRACTS_CSV, encoding="utf-8")
    run(config, "contracts", "import", str(contracts))

    assert "monthly_fee -> 600" in run(config, "contracts", "set", "acme-vip", "monthly_fee", "600")
    low = mailbot("--config", config, "contracts", "set", "acme-vip", "monthly_fee", "100")
    assert low.returncode == 2 and "at least 290" in low.stderr
    assert "added acme.com" in run(config, "contracts", "add-address", "acme-vip", "ACME.com")
    shown = json.loads(run(config, "contracts", "show", "acme-vip", "--json"))
    assert shown["monthly_fee"] == "600"
    assert shown["domains"] == ["acme.com"]
    assert shown["nip"] == "PL5260001246"
    text = run(config, "contracts", "show", "acme-vip").splitlines()
    assert "require_authentication: (the tier's default)" in text
    assert "monthly_fee: 600" in text
    run(config, "contracts", "set", "acme-vip", "require_authentication", "true")
    assert "require_authentication: true" in run(config, "contracts", "show", "acme-vip")
    missing = mailbot("--config", config, "contracts", "show", "nobody")
    assert missing.returncode == 1
    # Importing the file again puts the file's fee back: the file is the source of truth.
    assert "updated: 1 (acme-vip)" in run(config, "contracts", "import", str(contracts))


def test_bad_time_entries(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    for args, code, problem in (
        (("SOL-1", "25h"), 2, "more than 24 h"),
        (("SOL-1", "0m"), 2, "at least a minute"),
        (("SOL-1", "1h", "--at", "yesterday"), 2, "--at"),
        (("SOL-9", "1h"), 1, "no ticket SOL-9"),
    ):
        done = mailbot("--config", config, "time", "add", *args)
        assert done.returncode == code and problem in done.stderr, done.stderr
    bad = mailbot("--config", config, "report", "billing", "--month", "11/2026")
    assert bad.returncode == 2 and "2026-11" in bad.stderr
