"""The desk's own state: its secrets, and what the daemon last did (``daemon_state``).

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import DaemonStateRow, SecretRow


def secret(name: str, *, candidate: str, session: Session) -> str:
    """The secret ``name``; ``candidate`` becomes it when there is none yet. Two instances
    starting at once both end up with whichever was committed first."""
    found = session.get(SecretRow, name)
    if found is not None:
        return found.value
    # ON CONFLICT DO NOTHING: SQLite (3.24 and later) and PostgreSQL alike.
    session.connection().execute(
        sa.text("INSERT INTO secret (name, value) VALUES (:name, :value) ON CONFLICT DO NOTHING"),
        {"name": name, "value": candidate},
    )
    value = session.exec(select(SecretRow.value).where(col(SecretRow.name) == name)).one()
    return str(value)


def daemon_state(name: str, *, session: Session) -> DaemonStateRow | None:
    """What the daemon last recorded of job ``name`` (``poll``); None before its first time."""
    return session.get(DaemonStateRow, name)
