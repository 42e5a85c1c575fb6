"""Alembic migrations on SQLite and PostgreSQL: from empty, from the skeleton's 0001 with
rows in it, through the CLI, and refused when ``auto_upgrade`` is off."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel

from mailbot.adapters import db as repo
from mailbot.adapters.db import make_engine, schema
from mailbot.bootstrap import build_desk
from mailbot.cli import main
from mailbot.config import ImapSettings
from mailbot.errors import SchemaError
from tests import factories
from tests.cli.test_cli import write_config
from tests.conftest import SmtpSink


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(empty_database_url)
    yield engine
    engine.dispose()


def migrate(engine: sa.Engine, revision: str) -> None:
    with schema._migration_connection(engine) as connection:
        command.upgrade(schema.alembic_config(connection), revision)


def at_0001_with_rows(engine: sa.Engine) -> None:
    """A database as the walking skeleton left it: one customer's ticket, mail and ack."""
    migrate(engine, "0001")
    statements = [
        "INSERT INTO customer (id, name) VALUES (1, 'ACME')",
        "INSERT INTO contract (id, customer_id, tier, valid_from, language)"
        " VALUES ('acme-vip', 1, 'vip', '2025-01-01', 'pl')",
        "INSERT INTO contract_address (id, contract_id, value, is_domain)"
        " VALUES (1, 'acme-vip', 'jan@acme.pl', false)",
        "INSERT INTO counter (name, value) VALUES ('ticket', 1)",
        "INSERT INTO ticket (id, number, seq, customer_id, contract_id, tier, status, subject,"
        " customer_address, customer_name, language, received_at, reaction_due, resolution_due,"
        " updated_at) VALUES (1, 'SOL-1', 1, 1, 'acme-vip', 'vip', 'open', 'Printer',"
        " 'jan@acme.pl', 'Jan', 'pl', '2026-11-17 09:00:00', '2026-11-17 10:00:00',"
        " '2026-11-17 13:00:00', '2026-11-17 09:00:00')",
        'INSERT INTO message (id, ticket_id, direction, message_id, "references", sender,'
        " recipients, subject, body_text, received_at, note) VALUES (1, 1, 'in', '<a@acme.pl>',"
        " '', 'jan@acme.pl', 'support@desk.example.pl', 'Printer', 'It jams.',"
        " '2026-11-17 09:00:00', '')",
        "INSERT INTO outbox (id, ticket_id, kind, message_id, mail_from, recipients, raw, status,"
        " attempts, last_error, created_at, next_attempt_at) VALUES (1, 1, 'ack', '<ack@desk>',"
        " 'support@desk.example.pl', 'jan@acme.pl', :raw, 'sent', 1, '', '2026-11-17 09:00:01',"
        " '2026-11-17 09:00:01')",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement), {"raw": b"Subject: [SOL-1]\r\n\r\nok"})


def differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


def test_the_numbered_head_is_alembics_only_head() -> None:
    assert schema._scripts().get_heads() == [schema.head_revision()]


def test_upgrade_from_empty_gives_exactly_the_models_schema(engine: sa.Engine) -> None:
    assert schema.upgrade(engine) == (None, schema.head_revision())
    # A model changed without a revision fails here: python -m mailbot.adapters.db.migrations.new "..."
    assert differences(engine) == []
    assert not schema.is_behind(engine)


def test_the_web_revision_goes_down_and_up_again(engine: sa.Engine) -> None:
    """0008 (issue 15's web tables and ticket.link_nonce) can be undone and redone."""
    at_0001_with_rows(engine)
    schema.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE ticket SET link_nonce = 'n1'"))
        connection.execute(
            sa.text(
                "INSERT INTO web_submission (created_at, ip, form, name, address, phone, subject,"
                " body, express, attachments, state) VALUES ('2026-12-06 10:00:00', '192.0.2.1',"
                " 'warranty', 'Jan', 'jan@acme.pl', '', 'Printer', 'It jams.', false, '[]',"
                " 'pending')"
            )
        )
    with schema._migration_connection(engine) as connection:
        command.downgrade(schema.alembic_config(connection), "0007")
    tables = schema._table_columns(engine)
    assert not {"web_submission", "staff_session", "used_nonce"} & set(tables)
    assert "link_nonce" not in tables["ticket"]
    assert schema.upgrade(engine) == ("0007", schema.head_revision())
    assert differences(engine) == []
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT number FROM ticket")).scalar_one() == "SOL-1"


def test_the_request_limits_revision_goes_down_and_up_again(engine: sa.Engine) -> None:
    """0009 (web_request: the lost-link and sign-in limits) can be undone and redone."""
    at_0001_with_rows(engine)
    schema.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO web_request (kind, client, at) VALUES"
                " ('lost_link', '192.0.2.1', '2026-12-06 10:00:00')"
            )
        )
    with schema._migration_connection(engine) as connection:
        command.downgrade(schema.alembic_config(connection), "0008")
    tables = schema._table_columns(engine)
    assert "web_request" not in tables and "web_submission" in tables
    assert schema.upgrade(engine) == ("0008", schema.head_revision())
    assert differences(engine) == []
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM web_request")).scalar_one() == 0


def test_upgrade_from_0001_keeps_the_rows_and_the_desk_works(
    empty_database_url: str, engine: sa.Engine, imap_settings: ImapSettings, smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:  # fmt: skip
    at_0001_with_rows(engine)
    assert schema.is_behind(engine)
    assert schema.upgrade(engine) == ("0001", schema.head_revision())
    assert differences(engine) == []
    with engine.connect() as connection:
        ticket = connection.execute(sa.text("SELECT number, express, assignee FROM ticket")).one()
        author = connection.execute(sa.text("SELECT author FROM message")).scalar_one()
        contract = connection.execute(
            sa.text("SELECT package_hours, require_authentication FROM contract")
        ).one()
    assert tuple(ticket) == ("SOL-1", False, "")
    # A stored contract never said whether it requires authentication: its tier decides.
    assert (author, *contract) == ("customer", "2", None)

    desk = build_desk(
        factories.make_settings(imap_settings, smtp_sink, empty_database_url, tmp_path)
    )
    try:
        factories.run_once(desk)  # an empty mailbox: every job reads the migrated tables
        with Session(desk.engine) as session:
            [contract] = repo.load_contracts(session=session)
        assert (contract.id, contract.require_authentication) == ("acme-vip", None)
    finally:
        desk.engine.dispose()


def test_auto_upgrade_off_refuses_an_old_schema(empty_database_url: str, engine: sa.Engine) -> None:
    at_0001_with_rows(engine)
    head = schema.head_revision()
    with pytest.raises(SchemaError, match=rf"at 0001, this mailbot needs {head}: run mailbot db"):
        make_engine(empty_database_url, auto_upgrade=False)
    assert schema.current_revision(engine) == "0001"  # untouched


def test_db_upgrade_command_on_an_old_database(
    empty_database_url: str, engine: sa.Engine, imap_settings: ImapSettings, smtp_sink: SmtpSink,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = str(write_config(tmp_path, imap_settings, smtp_sink, empty_database_url))
    at_0001_with_rows(engine)
    assert main(["--config", config, "db", "current"]) == 0
    head = schema.head_revision()
    assert f"0001 (behind: mailbot needs {head})" in capsys.readouterr().out
    assert main(["--config", config, "db", "upgrade"]) == 0
    assert f"upgraded from 0001 to {head}" in capsys.readouterr().out
    assert main(["--config", config, "db", "upgrade"]) == 0
    assert f"already at {head}" in capsys.readouterr().out


def test_a_database_from_before_alembic_is_stamped_by_its_columns(engine: sa.Engine) -> None:
    at_0001_with_rows(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
    assert schema.upgrade(engine) == ("0001", schema.head_revision())
    assert differences(engine) == []


def test_unknown_tables_without_a_revision_are_refused(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE customer (id INTEGER PRIMARY KEY)"))
    with pytest.raises(SchemaError, match="match no revision"):
        schema.upgrade(engine)


def test_a_migration_failing_halfway_leaves_the_schema_as_it_was(engine: sa.Engine) -> None:
    """All revisions run in one transaction: an error in the last one undoes the first ones
    (on SQLite too, whose driver would otherwise run DDL outside any transaction)."""
    migrate(engine, "0001")
    before = schema._table_columns(engine)
    with pytest.raises(sa.exc.DBAPIError), schema._migration_connection(engine) as connection:
        command.upgrade(schema.alembic_config(connection), "head")
        connection.exec_driver_sql("SELECT * FROM no_such_table")  # the last step fails
    assert schema._table_columns(engine) == before
    assert schema.current_revision(engine) == "0001"
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()


def test_a_process_killed_while_migrating_leaves_a_database_that_starts(
    empty_database_url: str, engine: sa.Engine
) -> None:
    """SIGKILL at random moments of a first migration; the next upgrade always succeeds."""
    code = (
        "import sys, sqlalchemy as sa\n"
        "from mailbot.adapters.db import schema\n"
        "schema.upgrade(sa.create_engine(sys.argv[1]))\n"
    )
    chance = random.Random(8)
    for _ in range(6):
        process = subprocess.Popen([sys.executable, "-c", code, empty_database_url])
        try:
            process.wait(timeout=chance.uniform(0.3, 1.5))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert schema.current_revision(engine) in (None, schema.head_revision())
        if schema.current_revision(engine) is None:
            assert schema._table_columns(engine) == {}, "tables without a revision"
    schema.upgrade(engine)
    assert differences(engine) == []
