"""The engine: SQLite (WAL, synchronous FULL) or PostgreSQL, at this mailbot's schema.

``Session``, ``Connection`` and ``Engine`` are the types the rest of mailbot passes around; they
are SQLModel's and SQLAlchemy's, named here so that nothing outside
``mailbot.adapters.db`` imports those libraries.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

from mailbot.adapters.db import deferred, schema
from mailbot.config import DatabaseSettings

__all__ = [
    "Connection",
    "Engine",
    "Session",
    "check_connection",
    "make_engine",
    "open_database",
    "plain_engine",
    "small_page_cache",
]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout waits for a writer instead of failing with "database is locked".
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL lets the CLI read while the daemon writes. The connection's first read of the
    # file, retried (``when_unlocked``).
    when_unlocked(lambda: cursor.execute("PRAGMA journal_mode=WAL").fetchall())
    cursor.execute("PRAGMA foreign_keys=ON")
    # In WAL mode NORMAL may lose the last commits on a power loss, after the mail has
    # already left the inbox; FULL syncs the WAL at every commit.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


T = TypeVar("T")

# How often, and how far apart, a new SQLite connection's first read is tried.
OPEN_ATTEMPTS = 100
OPEN_RETRY_SECONDS = 0.05


def when_unlocked(read: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep) -> T:
    """``read()``, tried again while SQLite says "database is locked".

    A connection's first read of a WAL database fails at once with that error, the busy
    timeout notwithstanding, while another process closes its last connection to the
    file (it checkpoints and removes the WAL under an exclusive lock): two daemons that
    started together exited in 1 start of 25 (bench, 2 instances on SQLite). The lock
    lasts milliseconds; up to ``OPEN_ATTEMPTS`` tries, ``OPEN_RETRY_SECONDS`` apart.
    """
    for _ in range(OPEN_ATTEMPTS - 1):
        try:
            return read()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        sleep(OPEN_RETRY_SECONDS)
    return read()


def open_database(settings: DatabaseSettings) -> Engine:
    """The configured database's engine, upgraded or checked as ``auto_upgrade`` says."""
    return make_engine(settings.url, auto_upgrade=settings.auto_upgrade)


def make_engine(url: str, *, auto_upgrade: bool = True) -> Engine:
    """An engine for ``url`` whose schema is this mailbot's (``mailbot.adapters.db.schema``).

    With ``auto_upgrade`` the database is migrated to the newest revision (an
    empty one gets every table); without it, SchemaError unless it is there.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # A server's connection can drop between two uses; a SQLite file's cannot, and the ping
    # (a SELECT 1 at every checkout) cost the status page ~6% of its time (bench.web).
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    # Rows nobody reads back at once go in together (``rows.add_row``): on a server a
    # round trip, on SQLite SQLAlchemy's run of a statement, cost more than an INSERT.
    deferred.watch(engine)
    try:
        if auto_upgrade:
            schema.upgrade(engine)
        else:
            schema.require_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def small_page_cache(engine: Engine, kib: int) -> None:
    """Give each SQLite connection of ``engine`` a page cache of ``kib`` KiB instead of
    SQLite's 2,000: for `mailbot web`, whose reads are lookups by key that the operating
    system's file cache serves as well (bench.web, 100,000 tickets, 4 threads: 80 MB
    instead of 87 MB, the same pages a second). A server database is left alone."""
    if engine.dialect.name != "sqlite":
        return

    def _cache(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA cache_size=-{int(kib)}")

    sa.event.listen(engine, "connect", _cache)
    engine.dispose()  # the connections made before (the schema check) would keep theirs


def plain_engine(url: str) -> Engine:
    """An engine for ``url`` that neither upgrades nor checks the schema (``mailbot db``,
    ``check-config``): ``make_engine`` would upgrade (or refuse) before anyone looks."""
    return create_engine(url)


def check_connection(url: str) -> str:
    """Connect to ``url`` once and say who answers (``check-config``); never creates a
    SQLite file. Raises the driver's error (``DatabaseError``) or OSError."""
    parsed = sa.engine.make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        # Never create the file here: as root, it would belong to the wrong user.
        path = Path(parsed.database)
        if not path.exists():
            return f"SQLite file {path} does not exist yet; mailbot creates it at start"
        url = f"sqlite:///file:{path.absolute()}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return f"{engine.dialect.name} answers ({shown})"
    finally:
        engine.dispose()
