"""``mailbot db prune``'s command line (issue 17, item 4): without a retention, or with one
under the minimum, one line and exit 2, nothing removed; the help says what goes and what
stays. What it removes is tested in tests/usecases/test_prune.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli_input import Desk, refused, start


@pytest.fixture
def desk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Desk:
    return start(tmp_path, capsys, contracts_file=False)


def with_retention(desk: Desk, value: str) -> None:
    text = desk.config.read_text(encoding="utf-8")
    desk.config.write_text(text + f'\n[database]\nretention = "{value}"\n', "utf-8")


def test_without_a_retention_it_refuses_in_one_line(desk: Desk) -> None:
    line = refused(desk("db", "prune"))
    assert "[database] retention" in line and "--older-than" in line
    assert "[database] retention" in refused(desk("db", "prune", "--dry-run"))


@pytest.mark.parametrize("value", ["7d", "29d 23h", "0", "1h", "-90d", "90 days", "99999999d"])
def test_an_older_than_under_the_minimum_or_unreadable_is_refused(desk: Desk, value: str) -> None:
    line = refused(desk("db", "prune", f"--older-than={value}"))
    assert "argument --older-than" in line and "bad retention" in line


def test_a_retention_under_the_minimum_is_a_configuration_error(desk: Desk) -> None:
    with_retention(desk, "7d")
    line = refused(desk("db", "prune", "--dry-run"))
    assert "database.retention" in line and "from 30d" in line


def test_the_setting_or_the_option_gives_the_cutoff(desk: Desk) -> None:
    with_retention(desk, "365d")
    out = desk.ok("db", "prune", "--dry-run")
    assert "(dry run: nothing changed)" in out and "would remove 0 ledger row(s)" in out
    out = desk.ok("db", "prune", "--older-than", "30d")
    assert "removed 0 ledger row(s)" in out
    assert "removed 0 attachment file(s), 0 B, of 0 attachment(s)" in out
    # The ticket opened by `start` is newer than any retention: still there.
    assert "SOL-1" in desk.ok("tickets", "show", "SOL-1")


def test_prune_has_help(desk: Desk) -> None:
    done = desk("db", "prune", "--help")
    assert done.code == 0
    for words in ("--dry-run", "--older-than", "[database] retention", "ledger", "billing",
                  "resolved or closed", "at least 30 days", "mailbot run"):  # fmt: skip
        assert words in " ".join(done.out.split()), words
    assert "prune" in desk("db", "--help").out
