"""Requests of the web side counted against limits (issue 15): the lost-link form and the
staff sign-in form, in ``web_request``, so that every web process counts the same
requests and a restart forgets none. Whether one more is taken is decided by
``mailbot.core.submission_limits``; here they are only read, written and pruned.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from mailbot.adapters.db.engine import Session
from mailbot.adapters.db.tables import WebRequestRow


def request_times(
    kind: str, since: datetime, *, session: Session, client: str | None = None, limit: int = 1000
) -> list[datetime]:
    """When the ``kind`` requests after ``since`` were made (by ``client``, or by everyone),
    newest first; ``limit`` of them at most (a window needs no more than its count)."""
    query = select(WebRequestRow.at).where(
        col(WebRequestRow.kind) == kind, col(WebRequestRow.at) > since
    )
    if client is not None:
        query = query.where(col(WebRequestRow.client) == client)
    query = query.order_by(col(WebRequestRow.at).desc()).limit(limit)
    return list(session.exec(query).all())


def add_request(kind: str, client: str, *, at: datetime, session: Session) -> None:
    session.add(WebRequestRow(kind=kind, client=client, at=at))


def prune_requests(kind: str, *, before: datetime, session: Session) -> int:
    """Delete the ``kind`` requests made at or before ``before`` (out of every window); how
    many."""
    result = session.connection().execute(
        sa.delete(WebRequestRow)
        .where(col(WebRequestRow.kind) == kind)
        .where(col(WebRequestRow.at) <= before)
    )
    return int(result.rowcount)
