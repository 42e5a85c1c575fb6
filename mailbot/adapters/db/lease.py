"""The intake lease: of several mailbot instances on one database, one reads a mailbox at a time.

Two instances fetching the same new UIDs would race on every mail (the
ledger's unique key keeps the loser from storing it twice, but both would
parse it and one would roll back). So, like helpdesks that run one mail
fetcher, an instance polls a mailbox only while it holds that mailbox's
lease; the others skip the poll and go on sending their share of the outbox
and sweeping deadlines. The lease is never waited for: ``intake_lease``
answers at once.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held
  by a connection checked out for the whole poll. The server drops it when
  that connection ends, so an instance killed mid-poll frees the lease for
  the next poll of another.
- SQLite: ``flock`` on ``<database>.intake.lock`` beside the database file;
  the kernel drops it when the process dies. It is one lease for the whole
  database, whatever its name: coarser, never less safe, and SQLite lets one
  writer at a time in anyway. An in-memory database belongs to one process:
  the lease is always granted.

The lease is a courtesy, not the guarantee: a mail handled twice anyway (a
lost connection, ``run --once`` beside a daemon of an older version) is still
stored once, by the ledger's unique key.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("mailbot.lease")


def lease_key(name: str) -> int:
    """A stable, non-negative 63-bit key for ``name``: the same in every process and release.

    Python's ``hash()`` is salted per process, so it cannot name a lock two processes share.
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"mailbot-lease").digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)  # PostgreSQL's bigint is signed


def lock_file(engine: Engine) -> Path | None:
    """Where a SQLite database's lease lives; None for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser().resolve().with_name(Path(database).name + ".intake.lock")


@contextmanager
def intake_lease(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take the lease called ``name`` without waiting; yields whether it was taken.

    (On SQLite every name shares the database's one lease.)

    Held until the ``with`` block ends (or the process dies), then free for anyone.
    """
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, lease_key(name)) as taken:
            yield taken
        return
    if engine.dialect.name == "sqlite":
        path = lock_file(engine)
        if path is None:
            yield True
            return
        with _file_lock(path) as taken:
            yield taken
        return
    raise ValueError(f"no intake lease for a {engine.dialect.name} database")


@contextmanager
def _advisory_lock(engine: Engine, key: int) -> Iterator[bool]:
    connection = engine.connect()
    try:
        taken = bool(connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        # The lock is the session's, not the transaction's: end the transaction, so the
        # connection does not sit "idle in transaction" holding a snapshot for the whole poll.
        connection.commit()
    except BaseException:
        connection.close()
        raise
    try:
        yield taken
    finally:
        if taken:
            _advisory_unlock(connection, key)
        connection.close()


def _advisory_unlock(connection: sa.Connection, key: int) -> None:
    try:
        connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        connection.commit()
    except sa.exc.DBAPIError:
        # The connection is gone, and the server dropped the lock with it. Never hand a
        # connection that may still hold the lock back to the pool: it would keep the lease.
        log.warning("intake lease %s: connection lost before unlocking; discarding it", key)
        with suppress(sa.exc.DBAPIError):
            connection.invalidate()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # flock, not fcntl's record locks: those belong to the process, so a second lease
        # in the same process would be granted too, and closing any descriptor of the file
        # would drop it.
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        taken = True
    except BlockingIOError:
        taken = False
    except BaseException:
        os.close(descriptor)
        raise
    try:
        yield taken
    finally:
        if taken:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
