"""``mailbot tickets revoke-link NUMBER`` (issue 15 item 4): a new nonce, the new link
printed when [web] base_url is set; a bad number is one line and exit 2, an unknown
ticket exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli_input import Desk, refused, start


@pytest.fixture
def desk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Desk:
    return start(tmp_path, capsys, contracts_file=False)


def with_base_url(desk: Desk) -> None:
    text = desk.config.read_text(encoding="utf-8")
    desk.config.write_text(text + '\n[web]\nbase_url = "https://pomoc.example.pl/"\n', "utf-8")


def test_revoke_link_prints_a_new_link_each_time(desk: Desk) -> None:
    with_base_url(desk)
    first = desk.ok("tickets", "revoke-link", "sol-1")
    second = desk.ok("tickets", "revoke-link", "SOL-1")
    assert first.startswith("SOL-1: status links revoked; new link: https://pomoc.example.pl/t/")
    assert first != second


def test_revoke_link_without_base_url_says_there_is_no_link(desk: Desk) -> None:
    assert "base_url is not set" in desk.ok("tickets", "revoke-link", "SOL-1")


def test_revoke_link_refuses_a_bad_number_and_an_unknown_ticket(desk: Desk) -> None:
    line = refused(desk("tickets", "revoke-link", "not a number"))
    assert "argument NUMBER" in line and "like SOL-42" in line
    done = desk("tickets", "revoke-link", "SOL-99")
    assert done.code == 1 and done.err.strip() == "mailbot: no ticket SOL-99"


def test_revoke_link_has_help(desk: Desk) -> None:
    done = desk("tickets", "revoke-link", "--help")
    assert done.code == 0 and "404" in done.out and "NUMBER" in done.out
