"""The engine's SQLite settings: the web process's smaller page cache."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from mailbot.adapters.db import make_engine, small_page_cache


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
