"""Alembic's environment: runs the revisions on the connection that
``mailbot.adapters.db.schema`` hands in.

``render_as_batch`` makes ALTERs work on SQLite (a changed column rebuilds the
table); ``render_item`` writes our column types as plain SQLAlchemy ones, so a
revision never imports mailbot and stays valid whatever the models become.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from mailbot.adapters.db.tables import UTCDateTime  # importing tables defines every table

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Our types as the plain ones they store: UTCDateTime -> DateTime, AutoString -> String."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError(
        "mailbot's migrations run through mailbot.adapters.db.schema on a connection"
    )
run(connection)
