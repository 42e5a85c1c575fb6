"""Tickets from the web forms (issue 15 phase B2): take a submission, confirm it, expire it.

A submission is stored as a ``web_submission`` row (pending) once the limits
([web] submissions_per_*) allow it. Then:

- the client's address lies on the IP allow-list of the contract its e-mail
  address names (``core.client_ip.ip_allowed``, the contract found as for mail by
  ``core.contracts.match_contract``): the allow-list vouches for the sender, and
  the ticket opens at once with the contract's tier (the VIP form needs this; a
  VIP submission from anywhere else is refused: only its time and client address
  are kept, as a ``vip_refused`` row, so refused attempts count against the same
  limits as submissions and nobody can try addresses one after another to learn
  which have contracts);
- otherwise a confirmation link (``core.web_tokens`` address confirmation, 24 h,
  single use through ``used_nonce``) is mailed to the address; following it
  opens the ticket.

Either way the answer the client sees is the same "check your mail" page, and a
refused VIP form gets the same refusal whether or not the address has a contract,
so the forms tell nobody which addresses have contracts. A ticket opens the way a mail
opens one (``usecases.ingest.apply_mail``): the submission becomes an
``InboundMail`` received at the moment it was submitted, so deadlines count
from then, with its acknowledgement in the outbox and staff told, in one
transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from mailbot.adapters import db as repo
from mailbot.adapters.db import IntegrityError, Session, WebSubmissionRow
from mailbot.core import web_tokens
from mailbot.core.client_ip import ip_allowed
from mailbot.core.contracts import match_contract
from mailbot.core.limits import apply_limits, human_size
from mailbot.core.mail import Attachment, InboundMail
from mailbot.core.notices import WebConfirm
from mailbot.core.submission_limits import Verdict, decide_submission
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import apply_mail
from mailbot.usecases.mail_queue import (
    automatic_mail_allowed,
    queue_ticketless_mail,
    ticketless_fields,
)
from mailbot.usecases.request_limits import submission_windows

log = logging.getLogger("mailbot.web.submissions")

FORMS = ("warranty", "vip", "post_warranty")
Form = Literal["warranty", "vip", "post_warranty"]
# Mail has no count of attachments to reuse; a form takes this many files at most.
MAX_ATTACHMENTS = 10
# Limits count a client whose address is unknown (a Unix socket) under this key.
UNKNOWN_IP = "unknown"
CONFIRM_PATH = "/zgloszenie/potwierdz/"


@dataclass(frozen=True)
class Submission:
    """A form as the client filled it; ``ip`` None when the client's address is unknown."""

    form: Form
    name: str
    address: str
    phone: str
    subject: str
    body: str
    express: bool
    attachments: tuple[Attachment, ...]
    ip: str | None
    language: str = "pl"  # the page's: the confirmation mail's, and the ticket's (as_mail)


@dataclass(frozen=True)
class Taken:
    """What became of a submission: ``limited`` (come back in ``retry_after`` s), ``refused``
    (a VIP form from an address no allow-list names), ``opened`` or ``confirm`` (the
    confirmation link was mailed) — the last two look the same to the client."""

    outcome: Literal["limited", "refused", "opened", "confirm"]
    retry_after: int = 0


Confirmation = Literal["ready", "opened", "expired", "used", "invalid"]


def attachment_problems(desk: Desk, files: tuple[Attachment, ...]) -> list[str]:
    """Why the form's files cannot be taken (the mail limits of [limits]), or nothing."""
    limits = desk.size_limits
    problems = [
        f"{part.filename}: {human_size(part.size)} > {human_size(limits.max_attachment_size)}"
        for part in files
        if part.size > limits.max_attachment_size
    ]
    if len(files) > MAX_ATTACHMENTS:
        problems.append(f"{len(files)} > {MAX_ATTACHMENTS}")
    total = sum(part.size for part in files)
    if total > limits.max_mail_size:
        problems.append(f"{human_size(total)} > {human_size(limits.max_mail_size)}")
    return problems


def submit(desk: Desk, submission: Submission, *, base_url: str) -> Taken:
    """Take ``submission`` (its form checked by the caller); ``base_url`` starts the link."""
    now = desk.clock()
    ip = submission.ip or UNKNOWN_IP
    with Session(desk.engine) as session:
        verdict = _limits_verdict(desk, ip, now, session=session)
        if not verdict.allowed:
            log.info("web form from %s refused for %d s by the limits", ip, verdict.retry_after)
            return Taken("limited", verdict.retry_after)
        vouched_by = _vouching_allowlist(desk, submission, now, session=session)
        if submission.form == "vip" and not vouched_by:
            _store_refusal(ip, now, session=session)
            session.commit()
            log.info("web VIP form from %s refused: no allow-list names it", ip)
            return Taken("refused")
        row = _store(desk, submission, ip, now, session=session)
        if vouched_by:
            _open(desk, row, vouched_by=vouched_by, now=now, session=session)
        else:
            _queue_confirmation(desk, row, base_url=base_url, now=now, session=session)
        session.commit()
    return Taken("opened" if vouched_by else "confirm")


def _limits_verdict(desk: Desk, ip: str, now: datetime, *, session: Session) -> Verdict:
    web = desk.settings.web
    hour, day = timedelta(hours=1), timedelta(days=1)
    return decide_submission(
        now=now,
        from_address=repo.submission_times(
            now - day, ip=ip, limit=max(web.submissions_per_ip_day, 1), session=session
        ),
        from_everyone=repo.submission_times(
            now - hour, limit=max(web.submissions_per_hour, 1), session=session
        ),
        windows=submission_windows(web),
    )


def _vouching_allowlist(
    desk: Desk, submission: Submission, now: datetime, *, session: Session
) -> str:
    """ "IP allow-list of contract X" when the client's address is on the allow-list of the
    contract the e-mail address names, else ""."""
    if submission.ip is None:
        return ""
    contracts = repo.contract_index(session=session)
    contract = match_contract(submission.address, contracts, now, tz=desk.tz).contract
    if contract is None or not ip_allowed(submission.ip, contract.ip_allowlist):
        return ""
    return f"IP allow-list of contract {contract.id}"


def _store_refusal(ip: str, now: datetime, *, session: Session) -> None:
    """A refused VIP attempt, for the limits alone: when and from where, none of what the
    client wrote (not even the address, whether or not it has a contract)."""
    session.add(WebSubmissionRow(created_at=now, ip=ip, form="vip", address="",
                                 state="vip_refused"))  # fmt: skip


def _store(
    desk: Desk, submission: Submission, ip: str, now: datetime, *, session: Session
) -> WebSubmissionRow:
    files = [
        {
            "filename": part.filename,
            "content_type": part.content_type,
            "path": str(desk.store.path_of(desk.store.put(part.data))),
            "size": part.size,
        }
        for part in submission.attachments
    ]
    row = WebSubmissionRow(
        created_at=now, ip=ip, form=submission.form, name=submission.name[:200],
        address=submission.address, phone=submission.phone[:50],
        subject=submission.subject[:500], body=submission.body, express=submission.express,
        attachments=files, language=submission.language, state="pending",
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _open(
    desk: Desk, row: WebSubmissionRow, *, vouched_by: str, now: datetime, session: Session
) -> None:
    """The submission's ticket, opened as its mail would open it, received when submitted."""
    mail = as_mail(row, vouched_by=vouched_by)
    # Express (a new ticket only) is applied as the ticket opens: its acknowledgement states
    # the express resolution deadline.
    express_by = f"web form ({row.address})" if row.express else ""
    outcome = apply_mail(desk, apply_limits(mail, desk.size_limits).mail,
                         now=row.created_at, session=session, express_by=express_by)  # fmt: skip
    row.confirmed_at = now
    if outcome.ticket_id is None:
        row.state = "refused"
        log.info("web submission %s: no ticket (%s)", row.id, outcome.reason)
    else:
        row.state = "confirmed"
        row.ticket_number = repo.ticket_number_of(outcome.ticket_id, session=session)
        log.info("web submission %s: %s", row.id, outcome.reason)
    session.add(row)


def as_mail(row: WebSubmissionRow, *, vouched_by: str = "") -> InboundMail:
    """The submission as the mail it stands for: From its address, its subject and text
    (the phone and the express wish first), its files, the page's language as its
    Content-Language (mailbot.core.language: the ticket's unless the contract sets one or
    the text reads Polish)."""
    files = tuple(part for part in map(_attachment, row.attachments) if part is not None)
    return InboundMail(
        message_id=None, from_address=row.address, from_name=row.name, subject=row.subject,
        date=row.created_at, body_text=_body(row), attachments=files,
        size=len(row.body.encode("utf-8")) + sum(part.size for part in files),
        vouched_by=vouched_by, content_language=row.language,
    )  # fmt: skip


def _attachment(entry: dict[str, Any]) -> Attachment | None:
    """The stored file of a submission, or None when it is gone (removed by hand: ``mailbot
    db prune`` keeps the files of pending submissions): the ticket opens without it."""
    try:
        data = Path(str(entry["path"])).read_bytes()
    except FileNotFoundError:
        log.warning("web submission: stored file %s is gone; the ticket opens without it",
                    entry["path"])  # fmt: skip
        return None
    return Attachment(str(entry["filename"]), str(entry["content_type"]), data)


def _body(row: WebSubmissionRow) -> str:
    lines = [f"Formularz WWW: {row.form}"]
    if row.phone:
        lines.append(f"Telefon: {row.phone}")
    if row.express:
        lines.append("Tryb ekspresowy: tak (+100 %)")
    return "\n".join(lines) + "\n\n" + row.body


def _queue_confirmation(
    desk: Desk, row: WebSubmissionRow, *, base_url: str, now: datetime, session: Session
) -> None:
    """The confirmation link to the submission's address, in the outbox; not when the
    address already had its automatic mails this hour (the form is no mail bomb)."""
    if not automatic_mail_allowed(desk, row.address, now=now, session=session):
        return
    token = web_tokens.confirmation_token(desk.token_key, submission=str(row.id), now=now)
    fields = ticketless_fields(
        desk, subject=row.subject or "(bez tematu)", customer=row.address, customer_name=row.name
    )
    hours = int(web_tokens.CONFIRMATION_LIFETIME.total_seconds() // 3600)
    # The link opens the confirmation page in the form's language (mailbot.web.rendering).
    lang = "?lang=en" if row.language == "en" else ""
    link = base_url.rstrip("/") + CONFIRM_PATH + token + lang
    notice = WebConfirm(link=link, name=row.name, hours=hours)
    rendered = desk.renderer.render(notice, row.language, fields)
    queue_ticketless_mail(
        desk, kind="web_confirm", recipients=(row.address,), subject=rendered.subject,
        body=rendered.body, now=now, session=session, capped_address=row.address,
    )  # fmt: skip


def confirmation_state(desk: Desk, token: str) -> Confirmation:
    """What following the link would do: ``ready`` to open the ticket, or why not."""
    now = desk.clock()
    with Session(desk.engine) as session:
        row = _linked(desk, token, now, session=session)
        return row if isinstance(row, str) else "ready"


def confirm(desk: Desk, token: str) -> Confirmation:
    """Open the ticket of the submission ``token`` names: ``opened``, or why not."""
    now = desk.clock()
    with Session(desk.engine) as session:
        row = _linked(desk, token, now, session=session)
        if isinstance(row, str):
            session.commit()  # an expiry found on the way is kept
            return row
        if not repo.spend_nonce(f"confirm:{row.id}", now=now, session=session):
            return "used"
        _open(desk, row, vouched_by="", now=now, session=session)
        try:
            session.commit()
        except IntegrityError:  # the same link followed twice at once: the other one won
            return "used"
    return "opened"


def _linked(
    desk: Desk, token: str, now: datetime, *, session: Session
) -> WebSubmissionRow | Confirmation:
    claim = web_tokens.verify_confirmation(desk.token_key, token, now=now)
    if claim is None or not claim.submission.isdigit():
        return "invalid"
    row = repo.submission_by_id(int(claim.submission), session=session)
    if row is None:
        return "invalid"
    if row.state == "pending" and row.created_at <= now - web_tokens.CONFIRMATION_LIFETIME:
        row.state = "expired"
        session.add(row)
    if row.state == "expired":
        return "expired"
    return row if row.state == "pending" else "used"


def expire_stale(desk: Desk) -> int:
    """Mark pending submissions older than the confirmation link's life expired; how many.
    The daemon's sweep calls it."""
    now = desk.clock()
    with Session(desk.engine) as session:
        count = repo.expire_pending(now - web_tokens.CONFIRMATION_LIFETIME, session=session)
        session.commit()
    if count:
        log.info("%d web submission(s) not confirmed in time: expired", count)
    return count
