"""``mailbot inspect``: what mailbot reads from a mail, without storing anything.

Besides the parsed fields, it says how the desk would treat the mail:
``is_auto_reply`` and ``automated_reason`` (no automatic answer goes back),
``is_bounce`` (a bounce of any format) with ``bounced_addresses`` and
``delayed_addresses`` (its permanent and temporary failures) and, given
settings, ``linked_outbox_id`` (our mail it reports), ``charset_problems`` (what had to be
guessed or could not be decoded), ``authenticated`` (the trusted
server's verdict on the sender; None without ``authserv_id``) and ``language``
(of the mails a new ticket would send, with ``language_reason``: the contract,
Content-Language, the text or the default; mailbot.core.language).
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session, open_database
from mailbot.config import Settings
from mailbot.contracts_file import load_contracts_file
from mailbot.core.authres import sender_verified
from mailbot.core.automation import is_bounce, robot_reason
from mailbot.core.contracts import Contract, match_contract
from mailbot.core.language import customer_language
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail
from mailbot.core.tickets import find_ticket_number
from mailbot.usecases.bounces import linked_outbox


def _contracts(settings: Settings) -> list[Contract]:
    """The contracts file when there is one (no database needed), else the database's."""
    if settings.support.contracts_file is not None:
        return load_contracts_file(settings.support.contracts_file)
    engine = open_database(settings.database)
    try:
        with Session(engine) as session:
            return repo.load_contracts(session=session)
    finally:
        engine.dispose()


def inspect_mail(raw: bytes, settings: Settings | None, *, now: datetime) -> dict[str, Any]:
    """The parsed mail as a JSON-ready dict; with settings, also its tier and contract."""
    mail = parse_mail(raw)
    prefix = settings.support.ticket_prefix if settings else "SOL"
    summary: dict[str, Any] = {
        "message_id": mail.message_id,
        "from_address": mail.from_address,
        "from_name": mail.from_name,
        # The From as written when its sender was read leniently (no RFC 5322 address), else "".
        "sender_read_leniently": mail.lenient_from,
        "robot_sender": mail.robot_sender,  # a bare MAILER-DAEMON: no address, a bounce's sender
        "to": list(mail.to),
        "cc": list(mail.cc),
        "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else None,
        "in_reply_to": mail.in_reply_to,
        "references": list(mail.references),
        "ticket_tag": find_ticket_number(mail.subject, prefix),
        "body_text": mail.body_text,
        "has_html": mail.body_html is not None,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in mail.attachments
        ],
        "auto_submitted": mail.auto_submitted,
        "size": mail.size,
        "defects": list(mail.defects),
        **automation_summary(mail, settings),
    }
    contract = None
    if settings is not None:
        match = match_contract(mail.from_address, _contracts(settings), now)
        contract = match.contract
        summary["tier"] = match.tier.value
        summary["contract"] = contract.id if contract else None
        summary["linked_outbox_id"] = _linked_outbox_id(settings, mail, now=now)
    language = customer_language(mail, contract)
    summary["language"] = language.language
    summary["language_reason"] = language.reason()
    return summary


def _linked_outbox_id(settings: Settings, mail: InboundMail, *, now: datetime) -> int | None:
    """The outbox mail a bounce reports on (the first, as the desk would link it), if any."""
    if not is_bounce(mail):
        return None
    engine = open_database(settings.database)
    try:
        with Session(engine) as session:
            links = linked_outbox(mail, now=now, session=session)
    finally:
        engine.dispose()
    return links[0].row.id if links else None


# The parser's notes about text it had to guess, repair or could not decode.
_CHARSET_WORDS = ("decoded as", "charset", "8-bit", "encoded word", "could not be decoded")


def automation_summary(mail: InboundMail, settings: Settings | None) -> dict[str, Any]:
    """How the desk would treat ``mail``: robot or not, bounce, charsets, sender verdict."""
    own = (
        frozenset({settings.support.address.lower(), settings.smtp.from_address.lower()})
        if settings
        else frozenset()
    )
    reason = robot_reason(mail, own_addresses=own)
    authserv_id = settings.support.authserv_id if settings else ""
    return {
        "is_auto_reply": reason is not None,
        "is_bounce": is_bounce(mail),
        "bounced_addresses": list(mail.bounced_addresses),
        "delayed_addresses": list(mail.delayed_addresses),
        "automated_reason": reason,
        "charset_problems": [d for d in mail.defects if any(w in d for w in _CHARSET_WORDS)],
        "authenticated": sender_verified(
            mail.authentication_results,
            authserv_id=authserv_id,
            from_address=mail.from_address or "",
        )
        if authserv_id
        else None,
    }


def read_mails(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every mail under ``path`` with a name for it: a file, a Maildir, or an mbox."""
    if path.is_dir() and (path / "cur").is_dir():
        box = mailbox.Maildir(path, create=False)
        for key in sorted(box.iterkeys()):
            yield f"{path}/{key}", box.get_bytes(key)
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file():
                yield str(child), child.read_bytes()
    elif _is_mbox(path):
        mbox = mailbox.mbox(path, create=False)
        for index, key in enumerate(mbox.iterkeys()):
            yield f"{path}#{index + 1}", mbox.get_bytes(key)
    else:
        yield str(path), path.read_bytes()


def _is_mbox(path: Path) -> bool:
    """An mbox starts with a "From " line (RFC 4155); a single mail never does."""
    with path.open("rb") as file:
        return file.read(5) == b"From "
