"""The database schema's version: Alembic revisions in ``mailbot/adapters/db/migrations``.

``upgrade`` brings a database to the newest revision (``head``): an empty
database gets every table, an older one its missing columns and tables, with
its rows kept. A database made before mailbot used Alembic (tables, but no
``alembic_version``) is recognised by its columns and stamped with the revision
it matches before upgrading; one that matches no revision is refused, never
guessed at.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mailbot.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported only when a database needs migrating: every CLI command opens
# the database, and at head a look at alembic_version and at the file names suffices.

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, in code: the packaged scripts, on ``connection``."""
    from alembic.config import Config  # noqa: PLC0415 - see the imports

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Revision files are named 0001_initial.py, 0002_....py (see migrations/new.py).
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see the imports

    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def head_revision() -> str:
    """The revision this mailbot's models are at: the highest-numbered file in versions/.

    Revisions are numbered in one line (0001, 0002, ...; migrations/new.py), so the
    number is the head; tests/adapters/test_migrations.py checks Alembic agrees.
    """
    files = (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    return max(path.name[:4] for path in files)


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one made before Alembic."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    if len(rows) > 1:
        raise SchemaError(f"the database has {len(rows)} revisions in {VERSION_TABLE}")
    return str(rows[0][0]) if rows else None


def is_behind(engine: Engine) -> bool:
    return current_revision(engine) != head_revision()


def require_head(engine: Engine) -> None:
    """SchemaError unless the database is at head (what ``auto_upgrade = false`` checks)."""
    current = current_revision(engine)
    if current != head_revision():
        at = current or ("empty" if not _table_columns(engine) else "from before migrations")
        raise SchemaError(
            f"the database schema is at {at}, this mailbot needs {head_revision()}: "
            "run mailbot db upgrade"
        )


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the database to head; returns (revision before, revision after).

    SchemaError when the database has mailbot's tables from before Alembic and
    they match no revision exactly.
    """
    before = current_revision(engine)
    head = head_revision()
    if before == head:
        return before, head
    from alembic import command  # noqa: PLC0415 - see the imports

    if before is None and _table_columns(engine):
        before = _stamp_legacy(engine)
    with _migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection), "head")
    return before, head


# Any fixed number: the advisory lock that serialises migrations on PostgreSQL.
_MIGRATION_LOCK = 0x6D61696C626F74  # "mailbot"


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[sa.Connection]:
    """A connection for migrations, in one transaction committed at the end.

    One transaction for every revision: a process killed halfway leaves the
    schema as it was, never tables without their ``alembic_version``. It also
    serialises migrations: a second process starting at the same moment waits,
    then finds the schema at head. SQLite needs the BEGIN said out loud (its
    driver would run DDL outside any transaction); its batch ALTER rebuilds a
    table (copy, drop, rename), and with foreign keys enforced the drop of a
    referenced table would fail, so they are off meanwhile (the PRAGMA works
    only outside a transaction).
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        try:
            yield connection
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def _table_columns(engine: Engine) -> dict[str, frozenset[str]]:
    """Each table's column names, Alembic's own table left out."""
    inspector = sa.inspect(engine)
    return {
        table: frozenset(column["name"] for column in inspector.get_columns(table))
        for table in inspector.get_table_names()
        if table != VERSION_TABLE
    }


def _stamp_legacy(engine: Engine) -> str:
    """Stamp a database made by ``create_all`` with the revision whose columns it has."""
    from alembic import command  # noqa: PLC0415 - see the imports

    found = _table_columns(engine)
    for revision in _scripts().walk_revisions():
        if _columns_at(revision.revision) == found:
            with _migration_connection(engine) as connection:
                command.stamp(alembic_config(connection), revision.revision)
            return revision.revision
    raise SchemaError(
        "the database has tables but no alembic_version, and its columns match no "
        "revision of mailbot's schema: upgrade it by hand, or restore a backup"
    )


@functools.cache
def _columns_at(revision: str) -> dict[str, frozenset[str]]:
    """The tables and columns a database has at ``revision`` (built in a scratch SQLite)."""
    from alembic import command  # noqa: PLC0415 - see the imports

    with tempfile.TemporaryDirectory(prefix="mailbot-schema-") as scratch:
        engine = sa.create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            with _migration_connection(engine) as connection:
                command.upgrade(alembic_config(connection), revision)
            return _table_columns(engine)
        finally:
            engine.dispose()
