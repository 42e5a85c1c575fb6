"""Queries of the web forms (issue 15 phase B2): submissions and their limits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import WebSubmissionRow


def submission_times(
    since: datetime, *, session: Session, ip: str | None = None, limit: int = 1000
) -> list[datetime]:
    """When the submissions after ``since`` were made (from ``ip``, or from everyone), newest
    first; ``limit`` of them at most (a window needs no more than its count)."""
    query = select(WebSubmissionRow.created_at).where(col(WebSubmissionRow.created_at) > since)
    if ip is not None:
        query = query.where(WebSubmissionRow.ip == ip)
    query = query.order_by(col(WebSubmissionRow.created_at).desc()).limit(limit)
    return list(session.exec(query).all())


def submission_by_id(submission_id: int, *, session: Session) -> WebSubmissionRow | None:
    return session.get(WebSubmissionRow, submission_id)


def expire_pending(before: datetime, *, session: Session) -> int:
    """Mark the submissions still pending that were made before ``before`` expired; how many."""
    result = session.connection().execute(
        update(WebSubmissionRow)
        .where(col(WebSubmissionRow.state) == "pending")
        .where(col(WebSubmissionRow.created_at) < before)
        .values(state="expired")
    )
    return int(result.rowcount)
