"""Flush the outbox: claim a mail, send it, mark it sent at once, retry transient failures.

Exactly once, as far as SMTP allows:

- A row is claimed (``queued`` -> ``sending``) by a conditional UPDATE before
  it is sent, so two flushers (the daemon and a ``run --once`` from cron, or
  two instances on PostgreSQL) never send the same mail.
- It is marked ``sent`` right after the server accepted it, so a retry never
  repeats an accepted mail. The mark is committed with the claim of the same
  worker's next mail, and with the other workers' marks and claims that come
  at the same moment (``_SharedCommits``: one disk flush for them all), and the
  server gets that next mail's data only after the commit (its envelope may go
  while the commit is under way, ``_send_ahead``; a server takes a mail only at
  the end of its data). The window left is a crash between the server's "250 OK"
  and that commit: a kill leaves at most one such mail per worker, and there are
  no more workers than SMTP connections.
- A claim names its owner (``mailbot.adapters.db.claims``: instance, process,
  token). At start an instance takes back at once the claims of its own
  processes that are gone (``take_back``); any other claim still ``sending``
  after ``STALE_CLAIM`` (another instance's, whose death cannot be told from
  here) was most likely interrupted, and is queued again with a warning.
- A temporary failure (4xx, no connection) is retried with backoff and ends
  the flush, since the next mails would wait for the same dead server; a
  permanent one (5xx for this mail, or a mail that cannot be encoded) marks
  that row ``failed`` and the flush goes on.
- A mail the server took for some recipients and refused for others counts
  as sent to the first, who never get it again; the others are retried
  (4xx) or recorded and reported to staff (5xx), see ``_after_partial``.

Mails go out over ``[smtp] connections`` workers at once; the mails of one ticket
that share an address are sent by one worker in queue order (``send_groups``). Each
round of a backlog takes the customers' mails first and keeps a quarter for staff's
(``take_round``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailbot.adapters import db
from mailbot.adapters.db import Session, claims
from mailbot.adapters.db.claims import Owner
from mailbot.adapters.smtp import MailSender, Ready, Refusal, Withdrawn
from mailbot.core.notices import StaffBounce, goes_to_staff
from mailbot.core.tokens import redacted
from mailbot.errors import DeliveryError
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import queue_staff_mail

log = logging.getLogger("mailbot.outbox")

# Waits between attempts; past the last one the mail is given up as failed
# (about two days of trying, like a mail server's queue lifetime).
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 240, 480, 720, 720, 720))
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class PendingMail:
    id: int
    kind: str
    message_id: str
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int
    ticket: str = "-"  # its number, for the log; "-" for a mail of no ticket
    ticket_id: int | None = None


@dataclass
class FlushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def retry_delay(attempts: int) -> timedelta | None:
    """The wait before attempt ``attempts + 1``, or None when it is time to give up."""
    return RETRY_DELAYS[attempts - 1] if 0 < attempts <= len(RETRY_DELAYS) else None


def claim_owner(desk: Desk) -> Owner:
    """The owner this process's claims on ``desk`` record."""
    return claims.this_process(claims.instance_id(desk.settings.state_dir))


def take_back(desk: Desk) -> int:
    """Queue again, at once, the mails claimed by this instance's processes that are gone.

    Called at start. Each may have reached the server just before its process died
    (then it goes out twice, with the same Message-ID); most had not. Claims of
    other instances, of processes still alive, and from before claims had owners
    are left to ``STALE_CLAIM``. Returns how many mails were queued again.
    """
    me = claim_owner(desk)
    owners = db.claim_owners(desk.engine, instance=me.instance, token=me.token)
    # Asked with no transaction open: on PostgreSQL, asking may wait for the server.
    dead = [owner for owner in owners if claims.gone(desk.engine, owner)]
    if not dead:
        return 0
    with Session(desk.engine) as session:
        taken = db.requeue_claims([owner.token for owner in dead], session=session)
        session.commit()
    log.warning(
        "outbox: %d mail(s) claimed by process(es) %s of this instance, which are gone, are "
        "queued again (one the server took just before its process died goes out twice)",
        taken,
        ", ".join(str(owner.pid) for owner in dead),
    )
    return taken


def others_send(desk: Desk) -> bool:
    """Whether another process sends this desk's outbox now (several instances on
    PostgreSQL); False when that cannot be told. An instance reading a backlog leaves the
    sending to it between its batches: the other has a core of its own, and the intake
    here goes faster without the outbox beside it."""
    try:
        return claims.other_flushers(desk.engine) > 0
    except db.DatabaseError:
        log.debug("outbox: cannot tell whether another process sends", exc_info=True)
        return False


def _due(desk: Desk, now: datetime, limit: int, owner: Owner) -> list[tuple[int, str, int | None]]:
    """Ids, recipients and tickets of the next round's mails (``take_round``), in queue
    order (no bytes: ``_claim`` reads those).

    Makes sure first that this process holds its owner lock (PostgreSQL), which
    tells other processes that its claims are alive.
    """
    claims.hold(desk.engine, owner.token)
    with Session(desk.engine) as session:
        stale = db.requeue_stale(now - STALE_CLAIM, session=session)
        session.commit()
        if stale:
            log.warning("outbox: %d mail(s) interrupted while sending are queued again", stale)
        customers = db.due_mails(now, limit, session=session, to_staff=False)
        staff = db.due_mails(now, limit, session=session, to_staff=True)
    return take_round(customers, staff, limit)


# In a backlog, the share of each round kept for mails to staff: the customers' mails go
# first, and staff's still move.
STAFF_SHARE = 4  # a quarter


def take_round(
    customers: Sequence[tuple[int, str, int | None]],
    staff: Sequence[tuple[int, str, int | None]],
    limit: int,
) -> list[tuple[int, str, int | None]]:
    """The mails of one round: customers' first, in queue order, and staff's in what is
    left, at least a quarter of ``limit`` when there are that many; in queue order.

    After a burst (an outage's backlog, a mail storm), every new ticket has an
    acknowledgement and a staff notice queued. The customer waits on the acknowledgement;
    staff's notices, an hour or more from any deadline, can follow seconds later, as
    helpdesks send their agents' notifications from a background queue. The quarter keeps
    staff's mails moving while customers' keep coming. Order within one ticket and
    address is kept: a ticket's mails to one address all go to customers or all to staff.
    """
    kept = min(len(staff), max(limit - len(customers), limit // STAFF_SHARE))
    chosen = [*customers[: limit - kept], *staff[:kept]]
    return sorted(chosen)


def _pending(mail_id: int, row: db.ClaimedMail | None) -> PendingMail | None:
    if row is None:
        return None
    return PendingMail(
        mail_id,
        row.kind,
        row.message_id,
        row.mail_from,
        row.recipients.split(","),
        row.raw,
        row.attempts,
        row.ticket_number or "-",
        row.ticket_id,
    )


@dataclass(frozen=True)
class _Step:
    """A worker's writes for one commit: the "sent" mark of ``mark`` (its mail before, due
    before its next mail is handed over), the claim of mail ``claim`` (``queued`` ->
    ``sending``, in this process's name), the read ahead of mail ``read``, as its claim will
    find it (no claim: ``_send_ahead``)."""

    mark: PendingMail | None = None
    claim: int | None = None
    read: int | None = None


# A step's result: the mail claimed and the mail read (None: none asked for, taken by
# another flusher, or not queued any more).
_Done = tuple[PendingMail | None, PendingMail | None]


_Waiting = list[tuple[_Step, asyncio.Future[_Done]]]
# Seconds the commit thread waits for writes before it ends; in a flush they come
# milliseconds apart.
_IDLE_COMMITS = 1.0


class _SharedCommits:
    """The workers' claims and "sent" marks, committed together when they come together.

    A commit costs a disk flush (SQLite at ``synchronous=FULL``, PostgreSQL's
    WAL): writes that arrive while one commit is under way share the next one,
    so eight workers pay about one flush per round instead of two per mail, and
    one statement for their marks, one for their claims, one for their reads.
    Each write is still committed before its worker goes on (a claim before its
    mail is sent, a mark before that worker's next mail is sent); if a shared
    transaction fails, its writes are retried one by one, so one bad write
    costs only itself.

    The commits run one after another in a thread of the flush's own, on one
    connection held for the flush (``db.HeldConnection``: no session, no pool
    checkout per commit). The thread takes the writes waiting as soon as a commit
    ends, without a trip through the event loop (a busy loop held the next commit
    back) nor an executor's hand-over per commit; the loop only hands writes over
    and gets each commit's results back.
    """

    def __init__(self, desk: Desk, owner: Owner) -> None:
        self.desk = desk
        self.owner = owner  # in whose name its claims are made
        self.connection = db.HeldConnection(desk.engine)
        self._waiting: _Waiting = []
        self._changed = threading.Condition()  # guards _waiting and _closing
        self._closing = False
        self._thread: threading.Thread | None = None

    async def run(self, step: _Step) -> _Done:
        # Shielded: a cancelled worker still gets its step committed (a sent mail is marked).
        return await asyncio.shield(self.submit(step))

    def submit(self, step: _Step) -> asyncio.Future[_Done]:
        """Queue ``step`` for the next commit; steps submitted together share it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Done] = loop.create_future()
        with self._changed:
            self._waiting.append((step, future))
            self._changed.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._commit_all,
                    args=(loop,),
                    name="mailbot-outbox-commits",
                    daemon=True,  # never keeps the process from exiting (see _next_group)
                )
                self._thread.start()
        return future

    def close(self) -> None:
        """Commit what is waiting, end the thread, give the connection back.

        Blocks for a commit still under way (a cancelled flush's); a later ``submit``
        starts a thread again.
        """
        with self._changed:
            self._closing = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._changed:
            self._closing = False
        self.connection.close()

    def _commit_all(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread: commit the writes waiting, group by group, until ``close``."""
        while group := self._next_group():
            try:
                results = _commit_group(
                    self.desk, self.owner, self.connection, [step for step, _ in group]
                )
            except Exception as exc:  # a bug: its writers must hear of it, not wait forever
                results = [exc] * len(group)
            try:
                loop.call_soon_threadsafe(_settle, group, results)
            except RuntimeError:  # the loop is closed: nobody waits for them any more
                return

    def _next_group(self) -> _Waiting:
        """The writes waiting, once there are any; none (the thread ends) when closing
        with none left, or after ``_IDLE_COMMITS`` without any: a flush whose ``close``
        never comes (its coroutine dropped with its event loop) leaves no thread behind."""
        with self._changed:
            while not self._waiting and not self._closing:
                if not self._changed.wait(_IDLE_COMMITS) and not self._waiting:
                    break
            group, self._waiting = self._waiting, []
            if not group:
                self._thread = None  # under the lock: the next submit starts another
        return group


def _settle(group: _Waiting, results: list[_Done | Exception]) -> None:
    """Hand each writer its step's result (in the event loop)."""
    for (_, future), result in zip(group, results, strict=True):
        if future.cancelled():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _commit_group(
    desk: Desk, owner: Owner, held: db.HeldConnection, steps: list[_Step]
) -> list[_Done | Exception]:
    """Each step's result (or its exception), committed in one transaction if possible;
    else each write of each step in a transaction of its own."""
    try:
        with held.transaction() as connection:
            return list(_write_all(desk, owner, steps, connection))
    except Exception:
        pass  # retried one by one below
    return [_write_apart(desk, owner, step) for step in steps]


def _write_apart(desk: Desk, owner: Owner, step: _Step) -> _Done | Exception:
    """``step``'s mark, claim and read, each committed alone: one bad write costs only
    itself (a failed read does not keep the mark from being committed)."""
    parts = (_Step(mark=step.mark), _Step(claim=step.claim), _Step(read=step.read))
    claimed: PendingMail | None = None
    read: PendingMail | None = None
    failure: Exception | None = None
    for part in parts:
        if part == _Step():
            continue
        try:
            with Session(desk.engine) as session:
                [(was_claimed, was_read)] = _write_all(desk, owner, [part], session.connection())
                session.commit()
        except Exception as exc:
            failure = failure or exc
            continue
        claimed, read = was_claimed or claimed, was_read or read
    return (claimed, read) if failure is None else failure


def _write_all(
    desk: Desk, owner: Owner, steps: list[_Step], connection: db.Connection
) -> list[_Done]:
    """The marks in one statement, the claims in one, the reads in one; each step's result."""
    # The claims' own time: a long flush must not make its later claims look stale to
    # another flusher at once.
    now = desk.clock()
    marks = [(s.mark.id, s.mark.attempts + 1) for s in steps if s.mark is not None]
    db.mark_sent(marks, sent_at=now, session=connection)
    claims = [s.claim for s in steps if s.claim is not None]
    claimed = db.claim(claims, owner, now=now, session=connection)
    reads = [s.read for s in steps if s.read is not None]
    read = db.queued_mails(reads, session=connection) if reads else {}
    return [
        (
            None if s.claim is None else _pending(s.claim, claimed.get(s.claim)),
            None if s.read is None else _pending(s.read, read.get(s.read)),
        )
        for s in steps
    ]


def _update(desk: Desk, mail_id: int, **values: object) -> None:
    with Session(desk.engine) as session:
        db.update_sending(mail_id, session=session, **values)
        session.commit()


def _after_failure(desk: Desk, mail: PendingMail, error: DeliveryError, now: datetime) -> str:
    attempts = mail.attempts + 1
    delay = None if error.permanent else retry_delay(attempts)
    reason = str(error)[:1000]
    if delay is None:
        _update(desk, mail.id, status="failed", attempts=attempts, last_error=reason)
        log.error(
            "outbox %s (%s, ticket %s, %s): failed for good: %s",
            mail.id,
            mail.kind,
            mail.ticket,
            mail.message_id,
            error,
        )
        return "failed"
    _update(
        desk,
        mail.id,
        status="queued",
        attempts=attempts,
        last_error=reason,
        next_attempt_at=now + delay,
    )
    log.warning(
        "outbox %s (%s, ticket %s): not sent, retry in %s: %s",
        mail.id,
        mail.kind,
        mail.ticket,
        delay,
        error,
    )
    return "retrying"


def _after_partial(
    desk: Desk, mail: PendingMail, refused: tuple[Refusal, ...], now: datetime
) -> str:
    """The server took the mail for some recipients: they have it and never get it again.

    Those refused for now wait for a retry in this same row, queued again with
    only them as recipients: the copy must keep the Message-ID the others got
    (so a client folds the two), and ``message_id`` is unique in the outbox, so
    a second row could not hold it. Those refused for good (or out of retries)
    are recorded, logged and reported to staff like a bounce.
    """
    attempts = mail.attempts + 1
    delay = retry_delay(attempts)
    later = [r for r in refused if not r.permanent] if delay else []
    never = [r for r in refused if r not in later]
    note = _partial_note(mail, refused)
    if delay and later:
        _update(
            desk,
            mail.id,
            status="queued",
            recipients=",".join(r.address for r in later),
            attempts=attempts,
            last_error=note,
            next_attempt_at=now + delay,
        )
    else:
        _update(
            desk, mail.id, status="sent", attempts=attempts, sent_at=desk.clock(), last_error=note
        )
    log.info(
        "outbox %s (%s, ticket %s) %s: %s",
        mail.id,
        mail.kind,
        mail.ticket,
        note,
        redacted(mail.message_id),
    )
    _report_refused(desk, mail, later, never, delay)
    return "retrying" if later else "sent"


def _partial_note(mail: PendingMail, refused: tuple[Refusal, ...]) -> str:
    """Who got the mail and who refused it, as kept in the row's ``last_error``."""
    refused_to = {r.address for r in refused}
    reached = [a for a in mail.recipients if a not in refused_to]
    return f"sent to {', '.join(reached)}; refused {'; '.join(map(str, refused))}"[:1000]


def _report_refused(
    desk: Desk,
    mail: PendingMail,
    later: list[Refusal],
    never: list[Refusal],
    delay: timedelta | None,
) -> None:
    """Log the recipients to retry and those refused for good; tell staff of the latter."""
    if later:
        log.warning(
            "outbox %s (%s, ticket %s): not sent to %s yet, retry in %s",
            mail.id,
            mail.kind,
            mail.ticket,
            ", ".join(r.address for r in later),
            delay,
        )
    if never:
        log.error(
            "outbox %s (%s, ticket %s, %s): refused for good for %s",
            mail.id,
            mail.kind,
            mail.ticket,
            mail.message_id,
            "; ".join(map(str, never)),
        )
        _tell_staff(desk, mail, never)


def _tell_staff(desk: Desk, mail: PendingMail, refused: list[Refusal]) -> None:
    """Queue the ``staff_bounce`` notice that ``usecases.bounces`` sends for a returned mail."""
    # A refused mail to staff is not reported to staff: the report could be refused
    # too, and so on (the rule of mailbot.usecases.bounces, which keeps it private).
    if mail.ticket_id is None or goes_to_staff(mail.kind):
        return
    notice = StaffBounce(
        recipients=", ".join(r.address for r in refused),
        kind=mail.kind,
        diagnosis="; ".join(map(str, refused)),
        bounced_message_id=mail.message_id,
    )
    try:
        with Session(desk.engine) as session:
            ticket = db.ticket_by_id(mail.ticket_id, session=session)
            if ticket is not None:
                now = desk.clock()
                queue_staff_mail(desk, ticket, notice, now=now, session=session)
                session.commit()
    except Exception:  # the mail is marked already; its report must not stop the outbox
        log.exception("outbox %s: cannot queue the staff notice of its refusal", mail.id)


async def _send(
    sender: MailSender, mail: PendingMail, ready: Ready | None = None
) -> tuple[Refusal, ...] | DeliveryError | None:
    """Send one mail; the recipients refused while others took it, or the failure as a value.

    None: ``ready`` said no (``Withdrawn``), nothing was sent.
    """
    try:
        return await sender.send(
            mail_from=mail.mail_from,
            recipients=mail.recipients,
            raw=mail.raw,
            name=f"{mail.id:06d}-{mail.kind}",
            ready=ready,
        )
    except DeliveryError as error:
        return error
    except Withdrawn:
        return None
    except Exception as exc:  # a row that cannot be sent must not block the ones after it
        log.exception("outbox %s: cannot be sent", mail.id)
        return DeliveryError(f"cannot be sent: {exc!r}", permanent=True)


def send_groups(due: Sequence[tuple[int, str, int | None]]) -> list[list[int]]:
    """Due mails ``(id, comma-separated recipients, ticket id)``, in queue order, grouped for
    the workers.

    The mails of one conversation (a ticket) to one address, and the mails of no ticket
    to one address, fall in one group, in queue order, and so do the mails tied to them
    by a mail to several addresses (a mail to a@ and b@ ties a@'s mails of that ticket to
    b@'s); one worker sends a group's mails one after another, so every address gets
    each conversation's mails in the order they were queued (an acknowledgement before
    the answer), while groups go out in parallel. Mails of different tickets to one
    address may overtake each other: they answer different mails, and a burst's
    notifications to staff, all to one address, would otherwise go over one connection
    while the others wait. A union-find rather than a key of the recipient list, which
    would let a mail to a@ and b@ overtake an earlier one to a@ alone. Addresses compare
    without case: a merge too many costs parallelism, never order.
    """
    parent: dict[tuple[str, int | None], tuple[str, int | None]] = {}

    def root(key: tuple[str, int | None]) -> tuple[str, int | None]:
        while parent[key] != key:
            parent[key] = parent[parent[key]]  # path halving keeps chains short
            key = parent[key]
        return key

    for _, recipients, ticket in due:
        first, *rest = ((address, ticket) for address in _addresses(recipients))
        parent.setdefault(first, first)
        for key in rest:
            parent.setdefault(key, key)
            parent[root(key)] = root(first)
    groups: dict[tuple[str, int | None], list[int]] = {}
    for mail_id, recipients, ticket in due:
        groups.setdefault(root((_addresses(recipients)[0], ticket)), []).append(mail_id)
    return list(groups.values())


def _addresses(recipients: str) -> list[str]:
    return [address.strip().lower() for address in recipients.split(",")]


@dataclass
class _Flush:
    """One flush shared by its workers (all in one event loop: no locks needed)."""

    desk: Desk
    sender: MailSender
    now: datetime
    should_stop: Callable[[], bool]
    groups: deque[list[int]]  # shared: each group goes to the worker that takes it
    workers: int
    commits: _SharedCommits
    owner: Owner  # in whose name its claims are made
    report: FlushReport = field(default_factory=FlushReport)
    halted: bool = False  # a transient failure: the server is unwell, claim no more

    def count(self, outcome: str) -> None:
        setattr(self.report, outcome, getattr(self.report, outcome) + 1)


async def flush_outbox(
    desk: Desk,
    sender: MailSender,
    *,
    limit: int = 100,
    should_stop: Callable[[], bool] = lambda: False,
) -> FlushReport:
    """Send what is due now over ``[smtp] connections`` workers; each outcome committed at once.

    In rounds of at most ``limit`` mails, until nothing is due: a burst of
    thousands of acknowledgements goes out in one flush, not ``limit`` per poll.
    A transient failure (or ``should_stop``) stops every worker from claiming
    another mail; the mails they hold are finished and recorded first.
    """
    report = FlushReport()
    owner = claim_owner(desk)
    commits = _SharedCommits(desk, owner)
    try:
        while True:
            now = desk.clock()
            due = await asyncio.to_thread(_due, desk, now, limit, owner)
            groups = deque(send_groups(due))
            workers = max(1, min(desk.settings.smtp.connections, len(due)))
            run = _Flush(desk, sender, now, should_stop, groups, workers, commits, owner, report)
            await _round(run)
            if run.halted or should_stop() or len(due) < limit:
                return report
    finally:
        commits.close()


async def _round(run: _Flush) -> None:
    # return_exceptions: a worker's error must not return before the others
    # have recorded the mails they are sending; it is raised after.
    results = await asyncio.gather(
        *(_worker(run) for _ in range(run.workers)), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _worker(run: _Flush) -> None:
    """Send mails one after another over one connection's worth of sending.

    The "sent" mark of a mail the server accepted is committed with the claim of
    the worker's next mail, and the server gets that next mail's data only after
    the commit (its envelope may go ahead, ``_send_ahead``): so at any instant this
    worker has at most one mail accepted and not yet marked, the one a kill would
    send twice, and at most one claimed.
    """
    ids = _Share(run)
    accepted: PendingMail | None = None  # taken by the server, its mark not committed yet
    read: PendingMail | None = None  # the next mail as read with the last commit, unclaimed
    try:
        for mail_id in ids:
            if run.halted or run.should_stop():
                break
            if accepted is not None and read is not None and read.id == mail_id:
                accepted, read = await _send_ahead(run, accepted, read, ids.peek())
            else:
                mail, read = await _claim_marking(run, mail_id, accepted, ids.peek())
                accepted = None if mail is None else await _flush_one(run, mail)
        if accepted is not None:
            await run.commits.run(_Step(mark=accepted))
            _log_sent(accepted)
    except BaseException:
        run.halted = True  # the others finish their mail in hand and stop
        raise


class _Share:
    """A worker's mails: the groups it takes from the round's, one after another."""

    def __init__(self, run: _Flush) -> None:
        self.run = run
        self.group: deque[int] = deque()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if not self.group:
            if not self.run.groups:
                raise StopIteration
            self.group.extend(self.run.groups.popleft())
        return self.group.popleft()

    def peek(self) -> int | None:
        """The mail after, to read ahead: of this worker's group, or of the next group while
        more are left than workers (none is left without a group at the end of a round)."""
        if not self.group and len(self.run.groups) > self.run.workers:
            self.group.extend(self.run.groups.popleft())
        return self.group[0] if self.group else None


async def _claim_marking(
    run: _Flush, mail_id: int, accepted: PendingMail | None, after: int | None
) -> _Done:
    """Claim ``mail_id`` in the commit that marks ``accepted`` (the worker's mail before)
    sent, and read the mail ``after`` it; the claimed mail (None: another flusher took it)
    and the one read (None: none, or not queued)."""
    done = await run.commits.run(_Step(accepted, mail_id, after))
    if accepted is not None:
        _log_sent(accepted)
    return done


async def _send_ahead(
    run: _Flush, accepted: PendingMail, read: PendingMail, after: int | None
) -> _Done:
    """Mark ``accepted`` sent and claim ``read`` in one commit while the server takes
    ``read``'s envelope; its data goes only once that commit is made and the claimed row
    is the one read. Returns the mail accepted now (its mark due) and the one after, read."""
    committed = run.commits.submit(_Step(accepted, read.id, after))

    async def ready() -> bool:
        try:
            claimed, _ = await asyncio.shield(committed)
        except Exception:  # raised below: nothing goes out meanwhile
            return False
        return claimed == read

    result = await _send(run.sender, read, ready)
    # Shielded: a cancelled worker still gets its mark committed; its error is raised here.
    claimed, next_read = await asyncio.shield(committed)
    _log_sent(accepted)
    if claimed is None:
        return None, next_read  # another flusher took it: nothing was sent
    if result is None or claimed != read:
        # The row changed after it was read (retried or requeued elsewhere meanwhile):
        # nothing was sent from what was read; the claimed row goes as usual.
        return await _flush_one(run, claimed), next_read
    return await _record(run, claimed, result), next_read


async def _flush_one(run: _Flush, mail: PendingMail) -> PendingMail | None:
    """Send ``mail`` and record the outcome (``_record``)."""
    result = await _send(run.sender, mail)
    assert result is not None  # Withdrawn only when a ready says no
    return await _record(run, mail, result)


async def _record(
    run: _Flush, mail: PendingMail, result: tuple[Refusal, ...] | DeliveryError
) -> PendingMail | None:
    """Record a failure or partial refusal of ``mail``; ``mail`` itself when the server took
    it for every recipient: its "sent" mark is due, with the worker's next claim."""
    if isinstance(result, DeliveryError):
        outcome = await asyncio.to_thread(_after_failure, run.desk, mail, result, run.now)
        run.halted = run.halted or outcome == "retrying"  # the rest waits for the next flush
    elif result:
        outcome = await asyncio.to_thread(_after_partial, run.desk, mail, result, run.now)
    else:
        run.count("sent")
        return mail
    run.count(outcome)
    return None


def _log_sent(mail: PendingMail) -> None:
    if not log.isEnabledFor(logging.INFO):  # a line a mail: not even its arguments made
        return
    log.info(
        "outbox %s (%s, ticket %s) sent to %s: %s",
        mail.id,
        mail.kind,
        mail.ticket,
        ",".join(mail.recipients),
        redacted(mail.message_id),
    )
