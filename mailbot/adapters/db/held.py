"""One connection kept for a run of short transactions (the outbox's shared commits).

A ``Session`` per transaction costs more CPU than the transaction's statements
(bench.outbox: a quarter of the commits' time went to making, beginning,
committing and closing sessions), and each pool checkout costs a ping on
PostgreSQL (``pool_pre_ping``): a round trip per commit. A ``HeldConnection``
checks a connection out at its first transaction and keeps it, with no
transaction open between two, until ``close``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy.engine import Connection, Engine


class HeldConnection:
    """Transactions on one connection of ``engine``, one at a time, from any thread.

    A transaction that fails lets go of the connection (its state is unknown: a
    server gone away?): the next one checks a fresh one out, with the pool's ping.
    The lock makes ``close`` wait for a transaction still under way (a cancelled
    caller's, finishing in its thread); a transaction after ``close`` gets a
    connection of its own, given back at once.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction committed at the end of the block, rolled back on an exception."""
        with self._lock:
            if self._closed:
                with self.engine.begin() as connection:
                    yield connection
                return
            if self._connection is None:
                self._connection = self.engine.connect()
            try:
                with self._connection.begin():
                    yield self._connection
            except BaseException:
                self._let_go()
                raise

    def close(self) -> None:
        """Give the connection back to the pool (after a transaction under way, if any)."""
        with self._lock:
            self._closed = True
            self._let_go()

    def _let_go(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):  # a dead connection: the pool discards it
                connection.close()
