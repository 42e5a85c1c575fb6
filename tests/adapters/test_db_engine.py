"""The engine's SQLite settings: the web process's smaller page cache, a new connection's
first read tried again while another process holds the file locked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailbot.adapters.db import make_engine, small_page_cache
from mailbot.adapters.db.engine import OPEN_ATTEMPTS, OPEN_RETRY_SECONDS, when_unlocked


def cache_size(engine: sa.engine.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())


def test_the_web_process_connections_keep_a_small_page_cache(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert cache_size(engine) == -2000  # SQLite's own default, for the daemon
        small_page_cache(engine, 256)
        assert cache_size(engine) == -256
        with engine.connect(), engine.connect() as second:  # every connection of the pool
            assert second.exec_driver_sql("PRAGMA cache_size").scalar_one() == -256
    finally:
        engine.dispose()


def test_a_first_read_refused_as_locked_is_tried_again() -> None:
    """SQLite refuses a connection's first read of a WAL file at once, without the busy
    timeout, while another process closes its last connection to it: the read is tried
    again, a moment later, until the lock is gone or the tries run out."""
    slept: list[float] = []
    refusals = iter([sqlite3.OperationalError("database is locked")] * 3)

    def first_read() -> str:
        refusal = next(refusals, None)
        if refusal is not None:
            raise refusal
        return "wal"

    assert when_unlocked(first_read, sleep=slept.append) == "wal"
    assert slept == [OPEN_RETRY_SECONDS] * 3


def test_a_lock_that_stays_or_another_error_is_raised() -> None:
    slept: list[float] = []

    def locked() -> str:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        when_unlocked(locked, sleep=slept.append)
    assert len(slept) == OPEN_ATTEMPTS - 1

    def broken() -> str:
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk"):
        when_unlocked(broken, sleep=slept.append)
    assert len(slept) == OPEN_ATTEMPTS - 1  # not tried again
