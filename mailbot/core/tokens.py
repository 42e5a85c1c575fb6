"""Unguessable Message-IDs: an answer to one of our mails proves its writer received it.

A From header is easy to forge, a ``[SOL-1]`` tag and a ``Reply-To`` too. What a
stranger cannot produce is the Message-ID of a mail that only its recipients
saw, if that id cannot be guessed. So every mail mailbot sends carries a
Message-ID of the form (RFC 5322 section 3.6.4, a dot-atom left of the ``@``)::

    <SOL-12.staff_new.s.6f1c0e9a2b7d4c11.k4v2...@desk.example.pl>
     ticket kind      audience nonce            HMAC-SHA256 over the rest

signed with a secret key that only the desk knows (created at first start and
kept in the database). An answer names it in ``In-Reply-To`` or
``References``; ``verify`` recomputes the HMAC and so knows, without a database
query, that the id is ours, which ticket it was about and whom it was for.

The audience keeps the two powers apart: a token from a mail to staff (``s``)
is the proof a staff reply needs before it is relayed or runs commands; a
token from a mail to the customer (``c``) proves only that the answer comes
from whoever reads the customer's mailbox (see ``confirm`` in
``mailbot.usecases.followup``). A customer-facing mail never carries an ``s`` id.

``random``-module ids (Python's ``make_msgid``) are guessable and prove nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Audience = Literal["s", "c"]  # staff, customer
STAFF: Audience = "s"
CUSTOMER: Audience = "c"
# 120 bits of HMAC: far beyond guessing, short enough for a header line.
_MAC_BYTES = 15


@dataclass(frozen=True)
class Token:
    """What a verified Message-ID of ours says."""

    number: str  # the ticket it was about
    kind: str  # ack, relay, staff_new, reminder...
    audience: Audience
    message_id: str


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def signed_message_id(
    key: bytes, *, number: str, kind: str, audience: Audience, nonce: str, domain: str
) -> str:
    """The Message-ID for a mail about ticket ``number``; ``nonce`` makes each one unique."""
    local = f"{number}.{kind}.{audience}.{nonce}"
    return f"<{local}.{_mac(key, local)}@{domain}>"


def verify(key: bytes, message_id: str) -> Token | None:
    """The token in ``message_id`` when it is one of ours and untouched, else None."""
    local = message_id.strip().strip("<>").rpartition("@")[0]
    signed, _, mac = local.rpartition(".")
    parts = signed.rsplit(".", 3)
    if len(parts) != 4 or not key or not mac:
        return None
    number, kind, audience, _nonce = parts
    if audience not in (STAFF, CUSTOMER) or not (mac.isascii() and mac.isalnum()):
        return None  # compare_digest refuses non-ASCII text: a crafted id must not crash us
    if not hmac.compare_digest(mac.encode("ascii"), _mac(key, signed).encode("ascii")):
        return None
    return Token(number, kind, STAFF if audience == STAFF else CUSTOMER, message_id.strip())


def answered_tokens(
    key: bytes, references: Iterable[str | None], *, number: str, audience: Audience
) -> Iterator[Token]:
    """Those of ``references`` (In-Reply-To, then References, newest first) that are our
    signed ids of mails about ticket ``number`` for ``audience``, in that order."""
    for reference in references:
        token = verify(key, reference) if reference else None
        if token is not None and token.number == number and token.audience == audience:
            yield token


def answered_token(
    key: bytes, references: Iterable[str | None], *, number: str, audience: Audience
) -> Token | None:
    """The first of ``answered_tokens``, or None."""
    return next(answered_tokens(key, references, number=number, audience=audience), None)


def redacted(message_id: str) -> str:
    """``message_id`` for a log line: a signed id keeps its ticket, kind and nonce but not its
    HMAC, so that whoever reads the journal cannot answer as the mail's recipient."""
    local, at, domain = message_id.strip().strip("<>").rpartition("@")
    signed, _, mac = local.rpartition(".")
    if not at or len(signed.rsplit(".", 3)) != 4 or not mac:
        return message_id
    return f"<{signed}.-@{domain}>"
