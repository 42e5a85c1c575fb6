"""Use cases: ingest new mail, flush the outbox. The only code that reads the clock.

One mail's path: fetch (adapter) -> parse -> decide (pure) -> one transaction
stores the ticket, the message, the ledger entry and the acknowledgement in
the outbox -> only then the mail leaves the inbox -> the outbox flush sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlmodel import Session

from mailbot.adapters import repository as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import LedgerRow
from mailbot.adapters.mailbox import Destination, FetchedMail, MailSource
from mailbot.adapters.templates import Renderer
from mailbot.bounces import handle_bounce
from mailbot.config import Settings
from mailbot.core.automation import is_bounce
from mailbot.core.decide import DeskPolicy, Ignore, Quarantine, decide
from mailbot.core.fingerprint import fingerprint
from mailbot.core.limits import SizeLimits, apply_limits
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail
from mailbot.core.sla import TierPolicy
from mailbot.core.tickets import find_ticket_number
from mailbot.core.tiers import Tier
from mailbot.ticketing import apply_decision

log = logging.getLogger("mailbot.ingest")

Clock = Callable[[], datetime]


def storage_unavailable(exc: Exception) -> bool:
    """Is ``exc`` a failure of the storage itself rather than of one mail?

    Quarantining mail for those would empty the inbox into quarantine during
    a database outage or a botched upgrade. Only a value the database refuses
    (DataError, IntegrityError) is the mail's own problem.
    """
    if isinstance(exc, DBAPIError):
        return not isinstance(exc, DataError | IntegrityError)
    return isinstance(exc, OSError)


@dataclass(frozen=True)
class Desk:
    """What the use cases work with; built once by the CLI."""

    engine: Engine
    settings: Settings
    renderer: Renderer
    store: AttachmentStore
    clock: Clock

    @cached_property
    def policy(self) -> DeskPolicy:
        s = self.settings
        return DeskPolicy(
            ticket_prefix=s.support.ticket_prefix,
            own_addresses=frozenset({s.support.address.lower(), s.smtp.from_address.lower()}),
            staff_addresses=frozenset(s.support.staff_addresses),
            staff_domains=frozenset(s.support.staff_domains),
            tiers=tier_policies(s),
            tz=self.tz,
            reopen_window=timedelta(days=s.support.reopen_days),
            authserv_id=s.support.authserv_id,
            vip_requires_authentication=s.support.vip_requires_authentication,
        )

    @cached_property
    def size_limits(self) -> SizeLimits:
        limits = self.settings.limits
        return SizeLimits(limits.max_mail_size, limits.max_attachment_size)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.support.timezone)

    def local_time(self, moment: datetime) -> str:
        """A moment as the company's clock shows it, e.g. 2026-11-25 11:30 CET."""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")


def tier_policies(settings: Settings) -> dict[Tier, TierPolicy]:
    """Each tier's SLA: its windows and reminders on the calendar it names."""
    return {
        tier: TierPolicy(
            calendar=settings.calendars[t.calendar],
            reaction=t.reaction,
            resolution=t.resolution,
            reaction_reminders=t.reaction_reminders,
            resolution_reminders=t.resolution_reminders,
        )
        for tier, t in settings.tiers.items()
    }


@dataclass
class IngestReport:
    seen: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.seen += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@dataclass(frozen=True)
class MailKey:
    """Where a mail was found: the ledger's key (RFC 3501: a UID means something only with its
    mailbox and UIDVALIDITY)."""

    mailbox: str
    uidvalidity: int
    uid: str


@dataclass(frozen=True)
class Outcome:
    """What became of one mail, as the ledger records it."""

    # ticket, followup, ignored, duplicate, quarantined, bounce, or oversized (a ticket was
    # opened or joined, but the original is too big to keep in the processed folder)
    kind: str
    reason: str
    ticket_id: int | None = None

    @property
    def destination(self) -> Destination:
        return "quarantine" if self.kind in ("quarantined", "oversized") else "processed"


def ingest(
    desk: Desk, source: MailSource, *, should_stop: Callable[[], bool] = lambda: False
) -> IngestReport:
    """Process every new mail in ``source``; stops between mails when ``should_stop()``."""
    report = IngestReport()
    validity = source.open()
    try:
        with Session(desk.engine) as session:
            after = repo.last_uid(source.name, validity, session=session)
        for fetched in source.fetch(source.list_new(after)):
            key = MailKey(source.name, validity, fetched.uid)
            outcome = handle_mail(desk, key, fetched)
            # Only now, with the outcome committed, may the mail leave the inbox.
            source.move(fetched.uid, to=outcome.destination)
            _remember_uid(desk, key)
            report.count(outcome.kind)
            if should_stop():
                break
    finally:
        source.close()
    return report


def _remember_uid(desk: Desk, key: MailKey) -> None:
    if key.uid.isdigit():  # IMAP; a Maildir has no UIDs and empties its inbox instead
        with Session(desk.engine) as session:
            repo.set_last_uid(key.mailbox, key.uidvalidity, int(key.uid), session=session)
            session.commit()


def handle_mail(desk: Desk, key: MailKey, fetched: FetchedMail) -> Outcome:
    """Store what the mail means, committed, and return the outcome; never raises.

    A mail already in the ledger (we crashed after the commit, before the
    move) is not processed again. A mail that cannot be stored is recorded as
    quarantined, so the daemon goes on with the next one; but when storage
    itself is unavailable (``storage_unavailable``), the error propagates and the mail
    stays in the inbox.
    """
    with Session(desk.engine) as session:
        done = repo.ledger_entry(key.mailbox, key.uidvalidity, key.uid, session=session)
    if done is not None:
        log.info(
            "uid %s in %s: already handled (%s), moving it", key.uid, key.mailbox, done.outcome
        )
        return Outcome(done.outcome, done.reason, done.ticket_id)
    try:
        return _process(desk, key, fetched)
    except Exception as exc:  # one bad mail must not stop the desk
        if storage_unavailable(exc):
            raise  # the database or the disk is away: the mail stays in the inbox for the next poll
        log.exception("uid %s in %s: cannot be stored, quarantined", key.uid, key.mailbox)
        outcome = Outcome("quarantined", f"cannot be stored: {exc!r}")
        with Session(desk.engine) as session:
            session.add(_ledger(key, None, outcome, desk.clock()))
            session.commit()
        return outcome


def _process(desk: Desk, key: MailKey, fetched: FetchedMail) -> Outcome:
    limited = apply_limits(parse_mail(fetched.raw), desk.size_limits)
    mail = limited.mail
    now = desk.clock()
    # The SLA clock starts when the mailbox got the mail, even if mailbot was down
    # then; a mailbox date in the future (a skewed server clock) counts as now.
    received = min(fetched.received_at or now, now)
    content = fingerprint(mail)
    with Session(desk.engine) as session:
        outcome = _apply(desk, key, mail, content, now=received, session=session)
        if limited.oversized and outcome.kind in ("ticket", "followup"):
            why = f"over the size limit; {outcome.reason}"
            outcome = Outcome("oversized", why, outcome.ticket_id)
        session.add(_ledger(key, mail.message_id, outcome, now, content=content))
        session.commit()
    mail_id = mail.message_id or "<no Message-ID>"
    log.info("mail %s uid %s: %s (%s)", mail_id, key.uid, outcome.kind, outcome.reason)
    return outcome


def _duplicate_of(
    key: MailKey, mail: InboundMail, content: str, *, session: Session
) -> tuple[LedgerRow | None, InboundMail]:
    """The earlier ledger entry this mail repeats, if any, and the mail (flagged when a
    known Message-ID comes with other content: a guessed id must not suppress real mail)."""
    if not mail.message_id:
        return repo.ledger_by_fingerprint(key.mailbox, content, session=session), mail
    earlier = repo.ledger_by_message_id(key.mailbox, mail.message_id, session=session)
    if earlier is None or earlier.fingerprint in ("", content):
        return earlier, mail
    note = f"same Message-ID as the mail of UID {earlier.uid}, but different content: kept"
    log.warning("mail %s uid %s: %s", mail.message_id, key.uid, note)
    return None, replace(mail, defects=(*mail.defects, note))


def _apply(
    desk: Desk, key: MailKey, mail: InboundMail, content: str, *, now: datetime, session: Session
) -> Outcome:
    earlier, mail = _duplicate_of(key, mail, content, session=session)
    if earlier is not None:
        what = mail.message_id or "a mail with the same content and no Message-ID"
        return Outcome("duplicate", f"{what} was handled before (UID {earlier.uid})")
    if is_bounce(mail):
        bounced = handle_bounce(desk, mail, now=now, session=session)
        if bounced is not None:
            return Outcome("bounce", bounced)
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
    if isinstance(decision, Ignore):
        return Outcome("ignored", decision.reason)
    if isinstance(decision, Quarantine):
        return Outcome("quarantined", decision.reason)
    applied = apply_decision(desk, decision, mail, now=now, session=session)
    return Outcome(applied.outcome, applied.summary, applied.ticket_id)


def _ledger(
    key: MailKey, message_id: str | None, outcome: Outcome, now: datetime, *, content: str = ""
) -> LedgerRow:
    return LedgerRow(
        mailbox=key.mailbox,
        uidvalidity=key.uidvalidity,
        uid=key.uid,
        message_id=message_id,
        fingerprint=content,
        outcome=outcome.kind,
        ticket_id=outcome.ticket_id,
        reason=outcome.reason[:1000],
        processed_at=now,
    )
