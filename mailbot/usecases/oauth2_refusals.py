"""What the daemon does when the OAuth2 token endpoint refuses for good (issue 16, item 3).

A refusal no retry cures (``invalid_grant``: a revoked consent or refresh token;
``invalid_client``: a wrong secret; ``unauthorized_client``...) starts a *failure
episode*, kept in the database (``daemon_state`` row ``oauth2``: its ``error`` is
the line ``mailbot status`` shows, empty when none), so that

- the ERROR is logged once per episode with the provider's own code and words
  (``OAuth2Error.reason``, never a secret or token), and again only when the
  cause changes;
- staff get one mail (``staff_oauth2_refused``) when the episode begins, queued
  in the outbox like any other: it leaves through SMTP if that still works, else
  it waits there for the fix;
- ``mailbot status`` and ``/healthz`` are CRITICAL naming the cause and the fix
  while the row holds it (``usecases.health``).

The next token obtained ends the episode: the row is cleared and the recovery
logged. Refusals a retry may cure (the endpoint unreachable, a 5xx) start none:
the mailbox backoff and the outbox retries deal with them as with any outage.
A restart does not start a new episode: the row outlives the process.
"""

from __future__ import annotations

import logging
from datetime import datetime

from mailbot.adapters import db
from mailbot.adapters.db import DaemonStateRow, Session
from mailbot.adapters.oauth2 import REFRESH_FLOWS
from mailbot.config import OAuth2Settings
from mailbot.core.notices import StaffOAuth2Refused
from mailbot.core.oauth2 import refusal_cause, refusal_fix
from mailbot.errors import OAuth2Error
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import OAUTH2
from mailbot.usecases.mail_queue import (
    STAFF_LANGUAGE,
    queue_ticketless_mail,
    ticketless_fields,
)

log = logging.getLogger("mailbot.oauth2")

PREFIX = "OAuth2 token refresh refused: "
# A provider's description is cut there (Microsoft's run to hundreds of characters).
REASON_CHARS = 300

KIND = StaffOAuth2Refused.template


def refusal_problem(error: OAuth2Error, oauth2: OAuth2Settings) -> str:
    """The line ``mailbot status`` shows: the cause, then the fix."""
    reason = error.reason
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS] + "…"
    return f"{PREFIX}{reason}; {fix_of(error, oauth2)}"


def fix_of(error: OAuth2Error, oauth2: OAuth2Settings) -> str:
    login = oauth2.flow in REFRESH_FLOWS and not oauth2.refresh_token
    return refusal_fix(error.code, oauth2.flow, oauth2.provider, login=login)


class TokenRefusals:
    """The desk's ``TokenWatch``: records refusals and recoveries (see the module docstring).

    Called in whatever thread asked for the token; never raises (a database that is
    away costs the record, not the login attempt).
    """

    def __init__(self, desk: Desk) -> None:
        self._desk = desk
        # Whether the row holds a refusal, as far as this process knows (None: not read yet):
        # a renewal in a healthy run then costs no database round trip.
        self._failing: bool | None = None

    def refused(self, error: OAuth2Error) -> None:
        try:
            self._failing = record_refusal(self._desk, error, now=self._desk.clock())
        except Exception:
            log.exception("cannot record the OAuth2 refusal (%s)", error.reason)

    def renewed(self) -> None:
        if self._failing is False:
            return
        try:
            record_renewal(self._desk, now=self._desk.clock())
            self._failing = False
        except Exception:
            log.exception("cannot record the OAuth2 token renewal")


def record_refusal(desk: Desk, error: OAuth2Error, *, now: datetime) -> bool:
    """Record a permanent refusal: log and mail staff when it starts an episode, log when its
    cause changed (``core.oauth2.refusal_cause``), nothing more when it is the same again.
    True (the episode goes on)."""
    problem = refusal_problem(error, desk.settings.oauth2)
    with Session(desk.engine) as session:
        row = db.daemon_state(OAUTH2, session=session) or DaemonStateRow(name=OAUTH2)
        if row.error and _cause(row.error) == _cause(problem):
            log.debug("OAuth2 token refresh refused again, same cause: %s", error.reason)
            return True
        beginning = not row.error
        log.error("%s", problem)
        if beginning:
            row.attempted_at = now  # when the episode began, shown in status and the mail
            _tell_staff(desk, error, now=now, session=session)
        row.error = problem
        session.add(row)
        session.commit()
    return True


def _cause(problem: str) -> str:
    return refusal_cause(problem.removeprefix(PREFIX))


def record_renewal(desk: Desk, *, now: datetime) -> None:
    """A token was obtained: end the episode if there is one."""
    with Session(desk.engine) as session:
        row = db.daemon_state(OAUTH2, session=session)
        if row is None or not row.error:
            return
        log.info("OAuth2 token obtained again: the refusal is over")
        row.error = ""
        row.succeeded_at = now
        session.add(row)
        session.commit()


def _tell_staff(desk: Desk, error: OAuth2Error, *, now: datetime, session: Session) -> None:
    support, settings = desk.settings.support, desk.settings
    to = support.staff_addresses
    if not to:
        log.warning("no staff address to tell of the OAuth2 refusal ([support] staff)")
        return
    servers = " and ".join(
        f"{name} {host}"
        for name, host, auth in (
            ("IMAP", settings.imap.host, settings.imap.auth),
            ("SMTP", settings.smtp.host, settings.smtp.auth),
        )
        if auth == "oauth2"
    )
    notice = StaffOAuth2Refused(
        servers=servers,
        code=error.code,
        reason=error.reason,
        fix=fix_of(error, settings.oauth2),
        since=desk.local_time(now),
    )
    rendered = desk.renderer.render(notice, STAFF_LANGUAGE, ticketless_fields(desk))
    queue_ticketless_mail(
        desk,
        kind=KIND,
        recipients=to,
        subject=rendered.subject,
        body=rendered.body,
        now=now,
        session=session,
    )
