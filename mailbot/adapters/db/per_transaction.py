"""Values a session keeps for its current transaction only (ticket numbers taken ahead, a
batch's read of automatic mails): gone, as far as readers can tell, once it ends."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session


def keep(session: Session, key: str, value: Any) -> None:
    """Keep ``value`` under ``key`` for the session's current transaction (begun if not)."""
    session.connection()  # the transaction begins, if it had not
    session.info[key] = (session.get_transaction(), value)


def kept(session: Session, key: str) -> Any:
    """What ``keep`` kept under ``key`` for the current transaction; None if nothing, or if
    it was kept for an earlier one."""
    found: tuple[object, Any] | None = session.info.get(key)
    if found is None or found[0] is not session.get_transaction():
        return None
    return found[1]


def drop(session: Session, key: str) -> None:
    session.info.pop(key, None)
