"""Use cases: ingest new mail, flush the outbox. The only code that reads the clock.

One mail's path: fetch (adapter) -> parse -> decide (pure) -> one transaction
stores the ticket, the message, the ledger entry and the acknowledgement in
the outbox -> only then the mail leaves the inbox -> the outbox flush sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from mailbot.adapters import db as repo
from mailbot.adapters.db import DataError, DBAPIError, IntegrityError, LedgerRow, Session
from mailbot.adapters.db.lease import intake_lease
from mailbot.adapters.mailbox import Destination, FetchedMail, MailSource
from mailbot.core.automation import is_bounce
from mailbot.core.batches import bounded_batches
from mailbot.core.decide import Ignore, Quarantine, decide
from mailbot.core.language import LanguageChoice
from mailbot.core.limits import SizeLimits
from mailbot.core.mail import InboundMail
from mailbot.core.prepare import Prepared, RawMail, prepare, prepare_all
from mailbot.core.received import received_time
from mailbot.core.tickets import find_ticket_number
from mailbot.errors import ParseAborted
from mailbot.usecases.apply import apply_decision
from mailbot.usecases.bounces import handle_bounce
from mailbot.usecases.desk import Desk

log = logging.getLogger("mailbot.ingest")


def storage_unavailable(exc: Exception) -> bool:
    """Is ``exc`` a failure of the storage itself rather than of one mail?

    Quarantining mail for those would empty the inbox into quarantine during
    a database outage or a botched upgrade. Only a value the database refuses
    (DataError, IntegrityError) is the mail's own problem.
    """
    if isinstance(exc, DBAPIError):
        return not isinstance(exc, DataError | IntegrityError)
    return isinstance(exc, OSError)


Job = TypeVar("Job")


class Parser(Protocol[Job]):
    """What parses the intake's batches: ``submit`` starts a batch, ``result`` gives its
    parsed mails in order (or raises ``ParseAborted``). The daemon's is a pool of worker
    processes (``mailbot.runtime.parse_pool``); ``InlineParser`` parses in the caller."""

    def submit(self, raws: list[RawMail], limits: SizeLimits) -> Job: ...

    def result(self, job: Job) -> list[Prepared]: ...


class InlineParser:
    """Parses each batch in the calling thread when its result is asked for (``run --once``
    in tests and tools); bounded by the parser's own caps, with no deadline."""

    def submit(self, raws: list[RawMail], limits: SizeLimits) -> tuple[list[RawMail], SizeLimits]:
        return raws, limits

    def result(self, job: tuple[list[RawMail], SizeLimits]) -> list[Prepared]:
        return prepare_all(*job)


INLINE = InlineParser()


@dataclass
class IngestReport:
    seen: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # another instance holds the mailbox's intake lease

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
    # opened or joined, but the original is too big to keep in the processed folder), or
    # unparsed (a ticket was opened or joined from what the fallback reader read, e.g. past
    # the parse deadline; the original goes to quarantine for staff to open)
    kind: str
    reason: str
    ticket_id: int | None = None

    @property
    def destination(self) -> Destination:
        held = ("quarantined", "oversized", "unparsed")
        return "quarantine" if self.kind in held else "processed"


def ingest(
    desk: Desk,
    source: MailSource,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    parser: Parser[Any] | None = None,
) -> IngestReport:
    """Process every new mail in ``source``, unless another instance is reading it right now.

    Only the holder of the mailbox's intake lease (``mailbot.adapters.db.lease``) polls it;
    another instance's poll is skipped (an empty report, ``skipped``) and it goes on with
    its outbox and reminders.
    """
    with intake_lease(desk.engine, source.name) as held:
        if not held:
            log.debug("%s: another instance is reading it; poll skipped", source.name)
            return IngestReport(skipped=True)
        return _ingest_leased(desk, source, should_stop=should_stop, parser=parser or INLINE)


def _ingest_leased(
    desk: Desk, source: MailSource, *, should_stop: Callable[[], bool], parser: Parser[Any]
) -> IngestReport:
    """Process every new mail in ``source``, a batch at a time; stops between batches when
    ``should_stop()``.

    A batch (``[ingest]`` batch_size and batch_bytes) is stored in one transaction,
    then moved out of the inbox in one command per folder; while it is stored,
    ``parser`` already parses the next one.
    """
    report = IngestReport()
    validity = source.open()
    try:
        with Session(desk.engine) as session:
            after = repo.last_uid(source.name, validity, session=session)
        fetched = source.fetch(source.list_new(after), max_size=desk.size_limits.max_mail_size)
        for batch, prepared in _parsed_batches(desk, fetched, parser):
            keys = [MailKey(source.name, validity, mail.uid) for mail in batch]
            outcomes = handle_batch(desk, keys, batch, prepared)
            # Only now, with the outcomes committed, may the mails leave the inbox.
            _move_out(source, keys, outcomes)
            _remember_uid(desk, keys)
            for outcome in outcomes:
                report.count(outcome.kind)
            if should_stop():
                break
    finally:
        source.close()
    return report


def _parsed_batches(
    desk: Desk, fetched: Iterator[FetchedMail], parser: Parser[Job]
) -> Iterator[tuple[list[FetchedMail], list[Prepared]]]:
    """Batches with their parsed mails; the next batch is fetched and handed to the parser
    before the current one is given out, so parsing overlaps storing. Ends early, leaving
    the unparsed batches in the inbox, when the parser is aborted (the daemon stops)."""
    limits = desk.size_limits
    bounds = desk.settings.ingest
    pending: tuple[list[FetchedMail], Job] | None = None
    batches = bounded_batches(
        fetched, _raw_size, max_count=bounds.batch_size, max_bytes=bounds.batch_bytes
    )
    try:
        for batch in batches:
            submitted = (batch, parser.submit([_raw(mail) for mail in batch], limits))
            if pending is not None:
                yield pending[0], parser.result(pending[1])
            pending = submitted
        if pending is not None:
            yield pending[0], parser.result(pending[1])
    except ParseAborted:
        log.info("parsing aborted: the mails not yet stored stay in the inbox")


def _raw_size(mail: FetchedMail) -> int:
    return len(mail.raw)


def _raw(mail: FetchedMail) -> RawMail:
    return RawMail(mail.raw, mail.size, mail.truncated)


def _move_out(source: MailSource, keys: list[MailKey], outcomes: list[Outcome]) -> None:
    for destination in ("processed", "quarantine"):
        uids = [k.uid for k, o in zip(keys, outcomes, strict=True) if o.destination == destination]
        source.move_all(uids, to=destination)


def _remember_uid(desk: Desk, keys: list[MailKey]) -> None:
    uids = [int(key.uid) for key in keys if key.uid.isdigit()]
    if uids:  # IMAP; a Maildir has no UIDs and empties its inbox instead
        with Session(desk.engine) as session:
            repo.set_last_uid(keys[0].mailbox, keys[0].uidvalidity, max(uids), session=session)
            session.commit()


def handle_batch(
    desk: Desk, keys: list[MailKey], batch: list[FetchedMail], prepared: list[Prepared]
) -> list[Outcome]:
    """``handle_mail`` for a batch, in one transaction; never raises except for storage.

    When anything in the batch fails, the transaction is rolled back and the
    mails are handled one by one, so one bad mail costs only itself.
    """
    try:
        return _store_batch(desk, keys, batch, prepared)
    except Exception as exc:
        if storage_unavailable(exc):
            raise
        log.warning("a batch of %d mail(s) failed (%r); storing them one by one", len(keys), exc)
    return [handle_mail(desk, *each) for each in zip(keys, batch, prepared, strict=True)]


def _store_batch(
    desk: Desk, keys: list[MailKey], batch: list[FetchedMail], prepared: list[Prepared]
) -> list[Outcome]:
    stored: list[tuple[MailKey, InboundMail, Outcome]] = []
    outcomes: list[Outcome] = []
    mailbox = keys[0].mailbox
    with Session(desk.engine) as session:
        done = repo.ledger_entries(
            mailbox, keys[0].uidvalidity, [k.uid for k in keys], session=session
        )
        # The duplicate check of the whole batch in one query (a round trip a mail on a
        # server), the batch's own mails added as they are stored.
        by_message_id = repo.ledger_by_message_ids(
            mailbox, [p.mail.message_id for p in prepared if p.mail.message_id], session=session
        )
        # A mail opens one ticket at most: their numbers in one statement, not one each.
        repo.take_ticket_numbers(len(keys) - len(done), session=session)
        # Each acknowledgement asks how many automatic mails its address had this hour
        # (``[limits] auto_replies_per_hour``): the batch's senders' in one statement.
        repo.read_automatic_mails(
            [p.mail.from_address or "" for p in prepared],
            _earliest_received(batch, desk.clock()) - timedelta(hours=1),
            session=session,
        )
        for key, fetched, mail in zip(keys, batch, prepared, strict=True):
            earlier = done.get(key.uid)
            if earlier is not None:
                _log_handled_before(key, earlier)
                outcomes.append(Outcome(earlier.outcome, earlier.reason, earlier.ticket_id))
                continue
            # One flush per mail instead of one before every query: what a mail
            # reads (earlier mails of the batch, the ticket it joins) is flushed by then.
            with session.no_autoflush:
                outcome = _store(desk, key, fetched, mail, session=session, earlier=by_message_id)
            session.flush()
            if mail.mail.message_id and outcome.kind in DUPLICATE_OF:
                by_message_id.setdefault(
                    mail.mail.message_id, repo.EarlierMail(key.uid, mail.fingerprint)
                )
            stored.append((key, mail.mail, outcome))
            outcomes.append(outcome)
        repo.give_back_ticket_numbers(session=session)
        session.commit()
    for key, inbound, outcome in stored:
        _log_outcome(key, inbound, outcome)
    return outcomes


def _earliest_received(batch: list[FetchedMail], now: datetime) -> datetime:
    """No mail of ``batch`` counts as received before this (``core.received``)."""
    return min([now, *(m.received_at for m in batch if m.received_at is not None)])


def _log_handled_before(key: MailKey, done: LedgerRow) -> None:
    log.info("uid %s in %s: already handled (%s), moving it", key.uid, key.mailbox, done.outcome)


def _log_outcome(key: MailKey, mail: InboundMail, outcome: Outcome) -> None:
    mail_id = mail.message_id or "<no Message-ID>"
    log.info("mail %s uid %s: %s (%s)", mail_id, key.uid, outcome.kind, outcome.reason)


def handle_mail(
    desk: Desk, key: MailKey, fetched: FetchedMail, prepared: Prepared | None = None
) -> Outcome:
    """Store what the mail means, committed, and return the outcome; never raises.

    A mail already in the ledger (we crashed after the commit, before the
    move; or another instance stored it first, and the ledger's unique key
    rolled back our whole transaction) is not processed again. A mail that
    cannot be stored is recorded as quarantined, so the daemon goes on with
    the next one; but when storage itself is unavailable
    (``storage_unavailable``), the error propagates and the mail stays in the inbox.
    """
    done = _already_handled(desk, key)
    if done is not None:
        return done
    try:
        return _process(desk, key, fetched, prepared)
    except Exception as exc:  # one bad mail must not stop the desk
        if storage_unavailable(exc):
            raise  # the database or the disk is away: the mail stays in the inbox for the next poll
        # A unique key refused our commit: when it was the ledger's, another process
        # handled this mail meanwhile, and that is no fault of the mail.
        if isinstance(exc, IntegrityError) and (done := _already_handled(desk, key)):
            log.info("uid %s in %s: another process stored it first", key.uid, key.mailbox)
            return done
        log.exception("uid %s in %s: cannot be stored, quarantined", key.uid, key.mailbox)
        outcome = Outcome("quarantined", f"cannot be stored: {exc!r}")
        with Session(desk.engine) as session:
            _record(key, None, outcome, desk.clock(), session=session)
            session.commit()
        return outcome


def _already_handled(desk: Desk, key: MailKey) -> Outcome | None:
    """The ledger's outcome for this mail, if it was handled before (by any process)."""
    with Session(desk.engine) as session:
        done = repo.ledger_entry(key.mailbox, key.uidvalidity, key.uid, session=session)
    if done is None:
        return None
    _log_handled_before(key, done)
    return Outcome(done.outcome, done.reason, done.ticket_id)


def _process(desk: Desk, key: MailKey, fetched: FetchedMail, prepared: Prepared | None) -> Outcome:
    if prepared is None:
        prepared = prepare(_raw(fetched), desk.size_limits)
    with Session(desk.engine) as session:
        outcome = _store(desk, key, fetched, prepared, session=session)
        session.commit()
    _log_outcome(key, prepared.mail, outcome)
    return outcome


def _store(
    desk: Desk,
    key: MailKey,
    fetched: FetchedMail,
    prepared: Prepared,
    *,
    session: Session,
    earlier: dict[str, repo.EarlierMail] | None = None,
) -> Outcome:
    """Apply one mail in ``session`` with its ledger entry; the caller commits. ``earlier``:
    the ledger's mails by Message-ID (``_duplicate_of``), when the caller read them."""
    mail = prepared.mail
    now = desk.clock()
    # The SLA clock starts when the mailbox got the mail, even if mailbot was down
    # then, unless that date cannot be right (core.received says when).
    received = received_time(fetched.received_at, mail.date, now=now)
    if received.doubt:
        log.warning("uid %s in %s: %s: received at intake", key.uid, key.mailbox, received.doubt)
    outcome = _apply(
        desk, key, mail, prepared.fingerprint, now=received.at, session=session, earlier=earlier,
        written=prepared.language,
    )  # fmt: skip
    if mail.unparsed and outcome.kind in ("ticket", "followup"):
        outcome = Outcome("unparsed", f"{mail.unparsed}; {outcome.reason}", outcome.ticket_id)
    elif prepared.oversized and outcome.kind in ("ticket", "followup"):
        outcome = Outcome("oversized", f"over the size limit; {outcome.reason}", outcome.ticket_id)
    _record(key, mail.message_id, outcome, now, content=prepared.fingerprint, session=session)
    return outcome


# The ledger outcomes a later mail with the same Message-ID (or content) is a duplicate of.
DUPLICATE_OF = ("ticket", "followup")


def _duplicate_of(
    key: MailKey,
    mail: InboundMail,
    content: str,
    *,
    session: Session,
    known: dict[str, repo.EarlierMail] | None = None,
) -> tuple[repo.EarlierMail | None, InboundMail]:
    """The earlier ledger entry this mail repeats, if any, and the mail (flagged when a
    known Message-ID comes with other content: a guessed id must not suppress real mail).
    ``known``: the ledger's entries by Message-ID, read before (else asked here)."""
    if not mail.message_id:
        return repo.ledger_by_fingerprint(key.mailbox, content, session=session), mail
    if known is not None:
        earlier = known.get(mail.message_id)
    else:
        earlier = repo.ledger_by_message_id(key.mailbox, mail.message_id, session=session)
    if earlier is None or earlier.fingerprint in ("", content):
        return earlier, mail
    note = f"same Message-ID as the mail of UID {earlier.uid}, but different content: kept"
    log.warning("mail %s uid %s: %s", mail.message_id, key.uid, note)
    return None, replace(mail, defects=(*mail.defects, note))


def _apply(
    desk: Desk,
    key: MailKey,
    mail: InboundMail,
    content: str,
    *,
    now: datetime,
    session: Session,
    earlier: dict[str, repo.EarlierMail] | None = None,
    written: LanguageChoice | None = None,
) -> Outcome:
    earlier_mail, mail = _duplicate_of(key, mail, content, session=session, known=earlier)
    if earlier_mail is not None:
        what = mail.message_id or "a mail with the same content and no Message-ID"
        return Outcome("duplicate", f"{what} was handled before (UID {earlier_mail.uid})")
    if is_bounce(mail):
        bounced = handle_bounce(desk, mail, now=now, session=session)
        if bounced is not None:
            return Outcome("bounce", bounced)
        # Nobody to answer and nothing of ours to mark: staff look at it in quarantine.
        named = ", ".join((*mail.bounced_addresses, *mail.delayed_addresses)) or "no address read"
        return Outcome("quarantined", f"a bounce about no mail we sent ({named})")
    return apply_mail(desk, mail, now=now, session=session, written=written)


def apply_mail(
    desk: Desk,
    mail: InboundMail,
    *,
    now: datetime,
    session: Session,
    express_by: str = "",
    written: LanguageChoice | None = None,
) -> Outcome:
    """What one parsed mail, received at ``now``, does to the desk (``core.decide``), applied in
    ``session``: a ticket opened (acknowledged, staff told) or joined, or why not. The caller
    commits. Mail comes here past its duplicate and bounce checks; so do a customer's answer
    typed on their status page and a web submission, each turned into a mail
    (mailbot.usecases.web_status, mailbot.usecases.web_submissions). ``express_by`` (the web
    form's express option) makes a ticket it opens express before it is acknowledged.
    ``written``: the language of the mail's text, when the parse read it."""
    decision = decide(
        mail,
        now=now,
        contracts=repo.contract_index(session=session),
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
    applied = apply_decision(
        desk, decision, mail, now=now, session=session, express_by=express_by, written=written
    )
    return Outcome(applied.outcome, applied.summary, applied.ticket_id)


def _record(
    key: MailKey,
    message_id: str | None,
    outcome: Outcome,
    now: datetime,
    *,
    session: Session,
    content: str = "",
) -> None:
    """The mail's ledger entry, in ``session``'s transaction."""
    repo.add_row(
        LedgerRow,
        session=session,
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
