"""``mailbot tickets open`` (phone tickets) and the timeline of ``tickets show``."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

from tests.cli.test_billing_cli import run, write_config
from tests.cli.test_cli import mailbot


def test_open_a_phone_ticket_and_read_its_timeline(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert mailbot("demo", "--dir", str(demo)).returncode == 0
    config = str(demo / "config.toml")

    done = mailbot(
        "--config",
        config,
        "tickets",
        "open",
        "--contract",
        "acme-vip",
        "--subject",
        "Telefon: drukarka",
        "--body",
        "Klient dzwonił w sprawie drukarki.",
        "--received",
        "2026-11-18T10:00",
        "--json",
    )

    assert done.returncode == 0, done.stderr
    opened = json.loads(done.stdout)
    assert (opened["number"], opened["tier"], opened["contract"]) == ("SOL-6", "vip", "acme-vip")
    assert opened["reaction_due"] == "2026-11-18T10:00:00+00:00"  # 11:00 CET: 1 h after the call
    assert [m["author"] for m in opened["messages"] if not m["internal"]] == ["customer", "mailbot"]
    assert (demo / "sent").glob("*.eml")
    shown = mailbot("--config", config, "tickets", "show", "SOL-6")
    assert "timeline:" in shown.stdout and "by phone" not in shown.stdout.split("timeline:")[0]
    assert "<- customer jan.kowalski@acme.pl" in shown.stdout
    assert "-> mailbot jan.kowalski@acme.pl" in shown.stdout  # the acknowledgement
    missing = mailbot(
        "--config", config, "tickets", "open", "--contract", "nope", "--subject", "x", "--body", "y"
    )
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_release_sends_what_the_ticket_cap_held(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert mailbot("demo", "--dir", str(demo)).returncode == 0
    config = str(demo / "config.toml")

    released = mailbot("--config", config, "tickets", "release", "sol-1")
    unknown = mailbot("--config", config, "tickets", "release", "SOL-999")

    assert released.returncode == 0 and "SOL-1: 0 held mail(s) queued" in released.stdout
    assert unknown.returncode == 1 and "no ticket SOL-999" in unknown.stderr


def test_check_config_says_what_identity_rests_on(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert mailbot("demo", "--dir", str(demo)).returncode == 0

    checked = mailbot("--config", str(demo / "config.toml"), "check-config", "--offline")

    assert checked.returncode == 0, checked.stderr
    lines = [line for line in checked.stdout.splitlines() if line.startswith("identity:")]
    assert lines[0].startswith("identity: OK: staff identity: only a reply to mailbot's")
    assert lines[1].startswith("identity: WARNING: customer identity: contracts require")


def test_tickets_show_flags_a_sender_read_leniently(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    inbox = mailbox.Maildir(tmp_path / "Maildir")
    inbox.add(
        "From: Dział IT firma@example.pl\r\nTo: pomoc@serwis.example.pl\r\n"
        "Subject: Drukarka\r\nMessage-ID: <lenient@example.pl>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nNie działa.\r\n".encode()
    )
    run(config, "run", "--once")

    shown = run(config, "tickets", "show", "SOL-1")

    assert "customer: firma@example.pl" in shown
    assert "note: sender read leniently from From: Dział IT firma@example.pl" in shown
    sent = [path.read_bytes() for path in (tmp_path / "sent").glob("*.eml")]
    assert any(b"To: firma@example.pl" in mail for mail in sent)  # acknowledged
