"""Requests of the web side counted in the database against ``core.submission_limits``
windows, per client address and in all: the lost-link form and the staff sign-in form.

Each request of a ``kind`` is a ``web_request`` row, so every web process counts the
same requests and a restart forgets none. The decision is the pure
``decide_submission``; a request it takes is written, and the rows of its kind that have
left the longest window are deleted in the same transaction, so the table holds no
more than the windows need. (The form submissions are counted from their own rows,
``web_submission``.)

Two requests at the same moment from two processes may both be read before either is
written, so a limit may let one or two more through under a race; it is a brake on
abuse, not an exact quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session
from mailbot.config_web import WebSettings
from mailbot.core.submission_limits import Scope, Verdict, Window, decide_submission
from mailbot.usecases.desk import Desk


def submission_windows(web: WebSettings) -> tuple[Window, ...]:
    """``[web] submissions_per_*`` as windows: the forms' limits, which the lost-link
    form shares."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    return (
        Window("ip", web.submissions_per_ip_hour, hour),
        Window("ip", web.submissions_per_ip_day, day),
        Window("global", web.submissions_per_hour, hour),
    )


def count_request(desk: Desk, kind: str, client: str, windows: Sequence[Window]) -> Verdict:
    """Whether one more ``kind`` request from ``client`` (an IP address, or "unknown") is
    taken now under ``windows``; a taken one is counted."""
    now = desk.clock()
    with Session(desk.engine) as session:
        verdict = decide_submission(
            now=now,
            from_address=_times(kind, windows, "ip", now, client=client, session=session),
            from_everyone=_times(kind, windows, "global", now, client=None, session=session),
            windows=windows,
        )
        if verdict.allowed:
            longest = max(window.period for window in windows)
            repo.prune_requests(kind, before=now - longest, session=session)
            repo.add_request(kind, client, at=now, session=session)
            session.commit()
    return verdict


def _times(
    kind: str,
    windows: Sequence[Window],
    scope: Scope,
    now: datetime,
    *,
    client: str | None,
    session: Session,
) -> list[datetime]:
    """The times the ``scope`` windows need: within the longest, the newest as many as the
    largest count (the newest ``count`` in a shorter window are among them)."""
    mine = [window for window in windows if window.scope == scope]
    if not mine:
        return []
    since = now - max(window.period for window in mine)
    limit = max(1, *(window.count for window in mine))
    return repo.request_times(kind, since, client=client, limit=limit, session=session)
