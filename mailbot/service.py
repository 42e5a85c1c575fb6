"""Use cases: ingest new mail, flush the outbox. The only code that reads the clock.

One mail's path: fetch (adapter) -> parse -> decide (pure) -> one transaction
stores the ticket, the message, the ledger entry and the acknowledgement in
the outbox -> only then the mail leaves the inbox -> the outbox flush sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbot.adapters import repository as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import LedgerRow
from mailbot.adapters.mailbox import FetchedMail, MailSource
from mailbot.adapters.templates import Renderer
from mailbot.config import Settings
from mailbot.core.decide import DeskPolicy, Ignore, Quarantine, decide
from mailbot.core.parsing import parse_mail
from mailbot.core.sla import TierPolicy
from mailbot.core.tickets import find_ticket_number
from mailbot.ticketing import Applied, apply_decision

log = logging.getLogger("mailbot.ingest")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Desk:
    """What the use cases work with; built once by the CLI."""

    engine: Engine
    settings: Settings
    renderer: Renderer
    store: AttachmentStore
    clock: Clock

    @property
    def policy(self) -> DeskPolicy:
        s = self.settings
        return DeskPolicy(
            ticket_prefix=s.support.ticket_prefix,
            own_addresses=frozenset({s.support.address.lower(), s.smtp.from_address.lower()}),
            staff_addresses=frozenset(s.support.staff_addresses),
            staff_domains=frozenset(s.support.staff_domains),
            tiers={tier: TierPolicy(t.reaction, t.resolution) for tier, t in s.tiers.items()},
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.support.timezone)


@dataclass
class IngestReport:
    seen: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.seen += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def ingest(desk: Desk, source: MailSource, *, should_stop: Callable[[], bool] = lambda: False) -> IngestReport:
    """Process every new mail in ``source``; stops between mails when ``should_stop()``."""
    report = IngestReport()
    validity = source.open()
    try:
        with Session(desk.engine) as session:
            after = repo.last_uid(source.name, validity, session=session)
        for fetched in source.fetch(source.list_new(after)):
            outcome = handle_mail(desk, source.name, validity, fetched)
            source.move(fetched.uid, to="quarantine" if outcome == "quarantined" else "processed")
            _remember_uid(desk, source.name, validity, fetched.uid)
            report.count(outcome)
            if should_stop():
                break
    finally:
        source.close()
    return report


def _remember_uid(desk: Desk, mailbox: str, validity: int, uid: str) -> None:
    if uid.isdigit():  # IMAP; a Maildir has no UIDs and empties its inbox instead
        with Session(desk.engine) as session:
            repo.set_last_uid(mailbox, validity, int(uid), session=session)
            session.commit()


def handle_mail(desk: Desk, mailbox: str, validity: int, fetched: FetchedMail) -> str:
    """Store what ``fetched`` means, committed; return the ledger outcome.

    A mail already in the ledger (we crashed after the commit, before the
    move) is not processed again.
    """
    with Session(desk.engine) as session:
        done = repo.ledger_entry(mailbox, validity, fetched.uid, session=session)
        if done is not None:
            log.info("uid %s in %s: already handled (%s), moving it", fetched.uid, mailbox, done.outcome)
            return done.outcome
    try:
        return _process(desk, mailbox, validity, fetched)
    except Exception as exc:  # noqa: BLE001 - one bad mail must not stop the desk
        log.exception("uid %s in %s: cannot be stored, quarantined", fetched.uid, mailbox)
        _record(desk, mailbox, validity, fetched, "quarantined", f"cannot be stored: {exc!r}")
        return "quarantined"


def _process(desk: Desk, mailbox: str, validity: int, fetched: FetchedMail) -> str:
    mail = parse_mail(fetched.raw)
    now = desk.clock()
    with Session(desk.engine) as session:
        if mail.message_id and repo.ledger_by_message_id(mailbox, mail.message_id, session=session):
            outcome, applied, reason = "duplicate", None, f"{mail.message_id} was handled before"
        else:
            decision = decide(
                mail,
                now=now,
                contracts=repo.load_contracts(session=session),
                by_message_id=repo.tickets_by_message_ids(
                    [mail.in_reply_to or "", *mail.references], session=session
                ),
                tagged=repo.ticket_ref(
                    find_ticket_number(mail.subject, desk.settings.support.ticket_prefix), session=session
                ),
                policy=desk.policy,
            )
            applied = None
            if isinstance(decision, Ignore | Quarantine):
                outcome, reason = _outcome_of(decision), decision.reason
            else:
                applied = apply_decision(desk, decision, mail, now=now, session=session)
                outcome, reason = applied.outcome, applied.summary
        session.add(_ledger(mailbox, validity, fetched, mail.message_id, outcome, applied, reason, now))
        session.commit()
    log.info("mail %s uid %s: %s (%s)", mail.message_id or "<no Message-ID>", fetched.uid, outcome, reason)
    return outcome


def _outcome_of(decision: Ignore | Quarantine) -> str:
    return "ignored" if isinstance(decision, Ignore) else "quarantined"


def _ledger(
    mailbox: str,
    validity: int,
    fetched: FetchedMail,
    message_id: str | None,
    outcome: str,
    applied: Applied | None,
    reason: str,
    now: datetime,
) -> LedgerRow:
    return LedgerRow(
        mailbox=mailbox,
        uidvalidity=validity,
        uid=fetched.uid,
        message_id=message_id,
        outcome=outcome,
        ticket_id=applied.ticket_id if applied else None,
        reason=reason[:1000],
        processed_at=now,
    )


def _record(desk: Desk, mailbox: str, validity: int, fetched: FetchedMail, outcome: str, reason: str) -> None:
    with Session(desk.engine) as session:
        session.add(_ledger(mailbox, validity, fetched, None, outcome, None, reason, desk.clock()))
        session.commit()
