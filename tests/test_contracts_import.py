"""The contracts file at start or reload: imported when it (or a procedures file it names)
changed, or when the contracts changed by another way since; skipped otherwise."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from mailbot.adapters.db import Session, import_contracts, load_contracts
from mailbot.bootstrap import build_desk, import_configured_contracts
from mailbot.contracts_file import file_digest, read_contracts_file
from mailbot.usecases.desk import Desk
from tests import factories

CONTRACT = """
[[contract]]
id = "acme"
customer = "ACME"
tier = "warranty"
domains = ["acme.pl"]
valid_from = 2025-01-01
procedures = "{procedures}"
"""


def _desk(database_url: str, folder: Path) -> Desk:
    settings = factories.maildir_settings(database_url, folder)
    support = dataclasses.replace(settings.support, contracts_file=folder / "contracts.toml")
    return build_desk(dataclasses.replace(settings, support=support))


def _imports(desk: Desk, caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mailbot"):
        import_configured_contracts(desk)
    return " ".join(r.getMessage() for r in caplog.records if "contracts from" in r.getMessage())


def _procedures(desk: Desk) -> str:
    with Session(desk.engine) as session:
        (contract,) = load_contracts(session=session)
    return contract.procedures or ""


def test_an_unchanged_file_is_not_read_again(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "kroki.txt").write_text("Restart the router.\n")
    (tmp_path / "contracts.toml").write_text(CONTRACT.format(procedures="kroki.txt"))
    desk = _desk(database_url, tmp_path)
    try:
        assert "1 added" in _imports(desk, caplog)
        assert "unchanged since the last import" in _imports(desk, caplog)
        # The procedures file it names changed: imported again.
        (tmp_path / "kroki.txt").write_text("Call the office first.\n")
        assert "1 updated" in _imports(desk, caplog)
        assert _procedures(desk) == "Call the office first."
        assert "unchanged since the last import" in _imports(desk, caplog)
        # The contracts changed by another way (a command, another instance's import).
        with Session(desk.engine) as session:
            import_contracts([factories.VIP], session=session)
            session.commit()
        assert "0 added, 0 updated, 1 unchanged" in _imports(desk, caplog)
        # The file itself changed.
        (tmp_path / "contracts.toml").write_text(
            CONTRACT.format(procedures="kroki.txt").replace('"ACME"', '"ACME S.A."')
        )
        assert "1 updated" in _imports(desk, caplog)
    finally:
        desk.engine.dispose()


def test_the_digest_covers_the_file_and_the_files_it_names(tmp_path: Path) -> None:
    main, named = tmp_path / "contracts.toml", tmp_path / "kroki.txt"
    main.write_text("a")
    named.write_text("b")
    first = file_digest(main, [str(named)])
    assert file_digest(main, [str(named)]) == first
    named.write_text("c")
    assert file_digest(main, [str(named)]) != first
    named.unlink()  # unreadable counts as its own content, never as "unchanged"
    assert file_digest(main, [str(named)]) not in (first, file_digest(main))


def _changed_after_reading(path: Path, new_text: str) -> Callable[[Path], bytes]:
    """A reader that gives the file's bytes, then writes ``new_text`` to it: the file
    changes between the import's reading and anything done after."""

    def read_bytes(name: Path) -> bytes:
        content = name.read_bytes()
        if name == path:
            path.write_text(new_text)
        return content

    return read_bytes


def test_a_file_changed_while_imported_is_imported_again(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    contracts = tmp_path / "contracts.toml"
    contracts.write_text(CONTRACT.format(procedures="Restart the router."))
    changed = CONTRACT.format(procedures="Call the office first.")
    desk = _desk(database_url, tmp_path)
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="mailbot"):
            import_configured_contracts(desk, read_bytes=_changed_after_reading(contracts, changed))
        assert _procedures(desk) == "Restart the router."
        # The digest recorded is of what was imported, so the next start sees the change.
        assert "1 updated" in _imports(desk, caplog)
        assert _procedures(desk) == "Call the office first."
    finally:
        desk.engine.dispose()


def test_the_digest_is_of_the_bytes_parsed(tmp_path: Path) -> None:
    main, named = tmp_path / "contracts.toml", tmp_path / "kroki.txt"
    main.write_text(CONTRACT.format(procedures="kroki.txt"))
    named.write_text("Restart the router.\n")
    before = file_digest(main, [str(named)])
    loaded = read_contracts_file(
        main, read_bytes=_changed_after_reading(named, "Call the office first.\n")
    )
    assert loaded.files == (str(named),)
    assert loaded.contracts[0].procedures == "Restart the router."
    assert loaded.digest == before != file_digest(main, loaded.files)
