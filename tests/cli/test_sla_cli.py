"""``mailbot sla explain``, ``tickets list --overdue/--due-within`` and ``tickets set``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import mailbot

CONFIG = """
[imap]
url = "maildir:Maildir"
[smtp]
url = "dir:sent"
[support]
address = "pomoc@serwis.example.pl"
staff_domains = ["serwis.example.pl"]
"""


def explain(tmp_path: Path, tier: str, received: str, extra: str = "") -> dict[str, object]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + extra)
    done = mailbot(
        "--config", str(config), "sla", "explain", "--tier", tier, "--received", received, "--json"
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("tier", "received", "reaction_due"),
    [
        # Friday 15:00 + 24 working hours: the same time on Monday.
        ("warranty", "2026-11-27T15:00", "2026-11-30T15:00:00+01:00"),
        # Tuesday 10 November; 11 November (Independence Day) is off: Thursday 12th.
        ("warranty", "2026-11-10T10:00", "2026-11-12T10:00:00+01:00"),
        # Friday before Easter 2027 (28 March): the weekend, then Easter Monday 29 March are off;
        # summer time began on the 28th, so +02:00.
        ("warranty", "2027-03-26T15:00", "2027-03-30T15:00:00+02:00"),
        # Wednesday 23 December: 24 (a holiday since 2025), 25, 26, 27 December are off.
        ("post_warranty", "2026-12-23T12:00", "2026-12-28T12:00:00+01:00"),
        # Friday before the end of summer time (25 October): Monday, same clock time, in CET.
        ("warranty", "2026-10-23T15:00", "2026-10-26T15:00:00+01:00"),
        # VIP around the clock: New Year's Eve 23:30 + 1 h.
        ("vip", "2026-12-31T23:30", "2027-01-01T00:30:00+01:00"),
    ],
)
def test_sla_explain(tmp_path: Path, tier: str, received: str, reaction_due: str) -> None:
    result = explain(tmp_path, tier, received)
    assert result["tier"] == tier
    assert result["reaction_due"] == reaction_due
    assert str(result["received_at"]).startswith(received)


@pytest.mark.parametrize(
    ("received", "reaction_due"),
    [
        # 08:00-16:00: 24 working hours are three working days. From Wednesday 15:30:
        # Wed 0.5 h, Thu 8 h, Fri 8 h, Mon 7.5 h -> Monday 15:30.
        ("2026-11-25T15:30", "2026-11-30T15:30:00+01:00"),
        # From Wednesday 22:00 (after hours): Thu, Fri, Mon 8 h each -> Monday 16:00.
        ("2026-11-25T22:00", "2026-11-30T16:00:00+01:00"),
    ],
)
def test_sla_explain_with_working_hours(tmp_path: Path, received: str, reaction_due: str) -> None:
    result = explain(
        tmp_path, "warranty", received, '[calendars.business]\nhours = "08:00-16:00"\n'
    )
    assert result["reaction_due"] == reaction_due


def test_sla_explain_shows_the_steps(tmp_path: Path) -> None:
    result = explain(tmp_path, "warranty", "2026-12-23T12:00")
    steps = result["steps"]
    assert isinstance(steps, dict)
    assert "Thursday 2026-12-24: public holiday (Wigilia Bożego Narodzenia)" in steps["reaction"]
    assert (
        result["resolution_due"] == "2027-01-04T12:00:00+01:00"
    )  # 23, 28, 29, 30, 31 Dec; 1 Jan off


def test_tickets_due_within_overdue_and_set(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert mailbot("demo", "--dir", str(demo)).returncode == 0
    config = str(demo / "config.toml")

    def listed(*flags: str) -> list[str]:
        done = mailbot("--config", config, "tickets", "list", "--json", *flags)
        assert done.returncode == 0, done.stderr
        return sorted(t["number"] for t in json.loads(done.stdout))

    assert listed("--overdue") == []
    # In the demo the technician has reacted to SOL-1; SOL-5 (VIP) still waits: reaction in 1 h.
    assert listed("--due-within", "2h") == ["SOL-5"]
    done = mailbot(
        "--config",
        config,
        "tickets",
        "set",
        "SOL-5",
        "status",
        "open",
        "--by",
        "technik@serwis.example.pl",
    )
    assert done.returncode == 0, done.stderr
    assert "reaction deadline is met" in done.stdout
    assert listed("--due-within", "2h") == []
    shown = json.loads(mailbot("--config", config, "tickets", "show", "SOL-5", "--json").stdout)
    assert shown["sla"]["reaction"]["state"] == "met"
    assert [e["kind"] for e in shown["sla"]["history"]] == ["received", "status", "first_response"]
    bad = mailbot("--config", config, "tickets", "set", "SOL-5", "status", "done")
    assert bad.returncode == 2 and "done" in bad.stderr
    tier = mailbot("--config", config, "tickets", "set", "SOL-3", "tier", "vip")
    assert tier.returncode == 0 and "tier post_warranty -> vip" in tier.stdout
    assert mailbot("--config", config, "tickets", "list", "--due-within", "soon").returncode == 2
