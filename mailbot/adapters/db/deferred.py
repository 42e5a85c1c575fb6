"""Rows inserted later, together: fewer round trips to a database server per mail.

``rows.add_row`` hands a row here instead of sending its INSERT. The rows of
a transaction wait, per table and in order, until a statement of that transaction could
see them: before a statement that names their table (a SELECT, an INSERT into the same
table, an UPDATE; a DELETE, or a statement whose tables cannot be told, first sends every
waiting row) or a table whose rows refer to theirs (a new ticket's, inserted with an id
taken ahead, before its first message), and before the session commits. Then each table's
rows go in one multi-row INSERT, referred tables first.
A rollback drops them with the rest of the transaction.

So a transaction reads what it wrote, as with immediate INSERTs; what changes is only
when a refused row (a unique key) raises: at the statement that sends it, or the commit.
Only engines ``watch``ed defer (``engine.make_engine`` watches every engine it makes); a row
for any other is inserted at once. On PostgreSQL this saves round trips to the server; on
SQLite, in the process, it saves SQLAlchemy's cost of running a statement, which is
several times SQLite's own cost of an INSERT (``bench``: about 15 % of storing a new ticket).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import find_tables

# The execution option of a statement that counts the waiting rows of its table itself
# (``waiting_rows``): they need not be sent before it.
COUNTS_WAITING = "mailbot_counts_waiting"

# Per connection (a session's transaction runs on one), the waiting rows by table.
_waiting: WeakKeyDictionary[Connection, dict[sa.Table, list[dict[str, Any]]]] = WeakKeyDictionary()
_watched: WeakSet[Engine] = WeakSet()


def watch(engine: Engine) -> None:
    """Let rows for ``engine`` wait; before its first connection is made (a connection
    made earlier would not see these hooks)."""
    if not sa.event.contains(Session, "before_commit", _before_session_commit):
        sa.event.listen(Session, "before_commit", _before_session_commit)
    sa.event.listen(engine, "before_execute", _before_execute)
    # For a connection committed without a session; a session's rows went before that.
    sa.event.listen(engine, "commit", send_all)
    sa.event.listen(engine, "savepoint", _before_savepoint)
    sa.event.listen(engine, "rollback", _drop)
    sa.event.listen(engine, "rollback_savepoint", _drop_since_savepoint)
    _watched.add(engine)


def add(connection: Connection, table: sa.Table, values: Mapping[str, Any]) -> None:
    """INSERT ``values`` into ``table`` on ``connection``: later, if its engine is watched."""
    if connection.engine not in _watched:
        connection.execute(_insert(table), dict(values))
        return
    # Every row of a table with the same columns, so that they go in one statement: the
    # ones not given take the column's default, as a single INSERT would. An id given
    # (taken ahead from the table's sequence) is kept.
    row = {key: values.get(key, default) for key, default in _defaults(table).items()}
    for key in _generated_keys(table):
        if values.get(key) is not None:
            row[key] = values[key]
    _waiting.setdefault(connection, {}).setdefault(table, []).append(row)


@functools.cache
def _insert(table: sa.Table) -> sa.Insert:
    return sa.insert(table)


def _defaults(table: sa.Table) -> dict[str, Any]:
    found: dict[str, Any] | None = _DEFAULTS.get(table)
    if found is None:
        found = _DEFAULTS[table] = {
            column.key: _scalar_default(column)
            for column in table.columns
            if not (column.primary_key and column.autoincrement)
        }
    return found


_DEFAULTS: dict[sa.Table, dict[str, Any]] = {}


@functools.cache
def _generated_keys(table: sa.Table) -> tuple[str, ...]:
    return tuple(c.key for c in table.columns if c.primary_key and c.autoincrement)


def _scalar_default(column: sa.Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if not default.is_scalar:
        # A callable or SQL default: only the database (or SQLAlchemy, for one row) knows.
        raise ValueError(f"{column.table.name}.{column.key}: a deferred row needs scalar defaults")
    return default.arg  # type: ignore[attr-defined]


def waiting_rows(connection: Connection, table: sa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` waiting on ``connection``, in the order added (every column)."""
    return list(_waiting.get(connection, {}).get(table, ()))


def send_all(connection: Connection) -> None:
    """Send every waiting row of ``connection`` now."""
    _send(connection, None)


def _send(connection: Connection, names: set[str] | None) -> None:
    """Send the waiting rows of the tables called ``names`` (every table: None), and first
    those of the tables they refer to: a row must not go in before the row it names (a
    message before its ticket, when the ticket waits too)."""
    waiting = _waiting.get(connection)
    if not waiting:
        return
    metadata = next(iter(waiting)).metadata
    wanted = None if names is None else _with_referred(frozenset(names), metadata)
    tables = [t for t in waiting if wanted is None or t.name in wanted]
    for table in sorted(tables, key=_insert_order):
        rows = waiting.pop(table)
        # The rows leave the list before their INSERT, whose own before_execute must not
        # send them again. Rows with an id given and rows without go in separate statements.
        for _columns, same in itertools.groupby(rows, key=tuple):
            connection.execute(_insert(table), list(same))


@functools.lru_cache(maxsize=256)
def _with_referred(names: frozenset[str], metadata: sa.MetaData) -> frozenset[str]:
    """``names`` and the names of every table their rows refer to, directly or not."""
    found = set(names)
    todo = list(names)
    while todo:
        table = metadata.tables.get(todo.pop())
        for key in table.foreign_keys if table is not None else ():
            if (referred := key.column.table.name) not in found:
                found.add(referred)
                todo.append(referred)
    return frozenset(found)


def _insert_order(table: sa.Table) -> int:
    """Where ``table`` comes in its metadata's order of dependency: referred tables first."""
    order = _ORDER.get(table.metadata)
    if order is None or table.name not in order:
        order = _ORDER[table.metadata] = {
            t.name: n for n, t in enumerate(table.metadata.sorted_tables)
        }
    return order[table.name]


_ORDER: WeakKeyDictionary[sa.MetaData, dict[str, int]] = WeakKeyDictionary()


def _before_session_commit(session: Session) -> None:
    # Here, not at the connection's commit: a row refused here fails the session's commit
    # while its transaction can still be rolled back; a failure inside the connection's
    # commit left psycopg's connection in a failed transaction, back in the pool.
    if _waiting and session.get_bind() in _watched:
        send_all(session.connection())


def _before_execute(
    connection: Connection,
    statement: Any,
    _multiparams: Any,
    _params: Any,
    options: Mapping[str, Any],
) -> None:
    if not _waiting.get(connection) or options.get(COUNTS_WAITING):
        return
    _send(connection, _tables_seen_by(statement))


def _tables_seen_by(statement: Any) -> set[str] | None:
    """The names of the tables ``statement`` reads or writes; None when it may touch more
    than it names (a DELETE may cascade, a text statement is not parsed)."""
    if not isinstance(statement, sa.Select | sa.Insert | sa.Update | sa.CompoundSelect):
        return None
    found = find_tables(statement, include_aliases=True, include_crud=True, check_columns=True)
    names = {getattr(table, "name", "") for table in found}
    return names or None


def _before_savepoint(connection: Connection, _name: str | None) -> None:
    # Rows from before a savepoint must outlive a rollback to it: they go in first.
    send_all(connection)


def _drop(connection: Connection) -> None:
    _waiting.pop(connection, None)


def _drop_since_savepoint(connection: Connection, _name: str | None, _context: Any) -> None:
    # Every row still waiting was added after the savepoint: ``_before_savepoint`` sent
    # the older ones.
    _drop(connection)
