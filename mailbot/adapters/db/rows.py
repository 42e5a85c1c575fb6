"""Rows inserted with one prebuilt INSERT, for what nothing reads back as an object."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel

from mailbot.adapters.db.deferred import add as add_later


def insert_row(table: type[SQLModel], *, session: Session, **values: Any) -> int:
    """INSERT one row of ``table`` in the session's transaction, now; returns its id.

    For the rows a mail adds and nothing reads back as an object in the same
    transaction (messages, outbox mails, ledger entries, SLA events): an ORM
    object costs its constructor and a unit-of-work flush, about half of what
    storing a new ticket cost. Queries still see the row at once.

    Like the other per-mail statements here, it is built once and runs on the session's
    connection: building a statement and the ORM's execute path cost more than SQLite
    spends running it.
    """
    return int(session.connection().execute(_insert_returning_id(table), values).scalar_one())


def insert_new(row: SQLModel, *, session: Session, row_id: int | None = None) -> int:
    """INSERT a new ORM object's row now, as ``insert_row`` does, and make the object
    persistent in ``session`` as if it had been loaded: later changes to it are flushed as
    UPDATEs. A unit-of-work flush of a new ticket cost several times the INSERT itself.

    With ``row_id`` (taken ahead from the table's sequence) the row waits, as ``add_row``'s
    do, and goes in with others: before any statement that reads or changes its table, or
    one on a table whose rows refer to it (``deferred``)."""
    table = type(row).__table__  # type: ignore[attr-defined]
    values = {column.key: getattr(row, column.key) for column in table.columns}
    if row_id is None:
        del values["id"]
        row_id = insert_row(type(row), session=session, **values)
    else:
        values["id"] = row_id
        add_later(session.connection(), table, values)
    row.id = row_id
    make_transient_to_detached(row)
    session.add(row)
    return row_id


@functools.cache
def _insert_returning_id(table: type[SQLModel]) -> sa.Insert:
    core = table.__table__  # type: ignore[attr-defined]
    return sa.insert(core).returning(core.c.id)


def add_row(table: type[SQLModel], *, session: Session, **values: Any) -> None:
    """INSERT one row of ``table`` in the session's transaction, for a row whose id nobody
    needs; visible to every later statement of the transaction, as ``insert_row``'s is.

    The row waits (``deferred``) and goes in with the others of its table in one
    multi-row INSERT, just before the first statement that reads or changes that table,
    or the commit: on PostgreSQL a mail's messages, outbox mails, SLA event and ledger
    entry were eight round trips to the server; on SQLite, eight runs of SQLAlchemy's
    statement machinery, which cost more than SQLite's INSERTs.
    """
    add_later(session.connection(), table.__table__, values)  # type: ignore[attr-defined]
