"""Bytes from the mailbox in, an immutable :class:`InboundMail` out.

The rules, in the order a mail meets them:

1. :func:`parse_mail` never raises. What it had to repair, guess or give up on
   is listed in ``InboundMail.defects`` as short sentences; if the mail cannot
   be read at all, the whole of it is kept as one ``message/rfc822`` attachment.
2. Structure comes from ``email`` with ``policy.default``. Header values are
   read from the raw source (``raw_items``) where we decode them ourselves,
   and where ``policy.default`` must parse a header (addresses, MIME
   parameters) and raises on a malformed one, the lenient compat32 tools
   (``getaddresses``, ``Message.get_param``) take over.
3. Text is decoded by its declared charset. An unknown or wrong charset, or
   8-bit text with none declared, is guessed (:mod:`mailbot.core.charsets`):
   UTF-8 if it decodes, Polish when the text fits it, else what the detector
   finds, the body's charset a hint for raw 8-bit headers.
4. Body: the first text/plain part that is not an attachment is the text; the
   first such text/html part is the HTML, and the text when there is no plain
   part (or the plain part is blank). Every other leaf part is an attachment
   (inline images with ``inline=True``); an attached ``message/rfc822`` is
   not opened but kept whole as ``<subject>.eml``.
5. Every string handed out is valid Unicode (no lone surrogates from raw
   8-bit bytes) without NUL characters (PostgreSQL cannot store them: they
   become U+FFFD); body text uses ``\\n`` line ends.
"""

from __future__ import annotations

import binascii
import email.policy
import io
import itertools
import mimetypes
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.errors import MessageDefect
from email.generator import BytesGenerator
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from functools import cache

from mailbot.core.bounces import read_bounce
from mailbot.core.charsets import codec_for, decode, guess
from mailbot.core.html_text import html_to_text
from mailbot.core.lenient_sender import LenientSender, read_sender
from mailbot.core.mail import Attachment, InboundMail
from mailbot.core.parse_bounds import MAX_STRUCTURED, Bounds, parse_bounded

__all__ = ["parse_mail", "read_leniently", "sanitize_filename"]

# Bounds that keep a hostile mail from costing more than a normal one.
_MAX_DEPTH = 40
_MAX_PARTS = 1000
_MAX_DEFECTS = 50
_MAX_FILENAME = 150
_MAX_EXTENSION = 16

# RFC 2047 section 2: =?charset?encoding?encoded-text?= . Looser than the RFC on
# purpose: real mail puts spaces inside and omits the blanks around words.
# The encoded text is bounded (RFC 2047 allows 75 characters a word): an unbounded lazy
# ".*?" made a subject of many unclosed "=?a?q?" cost the square of its length.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.{0,2000}?)\?=")
# RFC 5322 section 3.6.4: msg-id = "<" id-left "@" id-right ">"; we keep any
# bracketed token, since threading only needs the same string back.
_MSG_ID = re.compile(r"<([^<>]*)>")
# RFC 5322 section 2.2.3: unfolding removes the CRLF before white space.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_END = re.compile(r"\r\n?|\n")
# "bob@example.com <bob@example.com>": a display name that is itself an
# address, unquoted against RFC 5322 3.4; quoting it lets the parser see one
# mailbox rather than two broken ones.
_BARE_ADDRESS_AS_NAME = re.compile(r'(^|,)(\s*[^\s",<>()]+@[^\s",<>()]+)(\s*<)')

# Headers by which Microsoft Exchange and many autoresponders mark their mail (not RFC 3834).
# Not X-Auto-Response-Suppress: see mailbot.core.automation.ROBOT_SIGNALS.
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond")


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one RFC 5322 message; never raises (see the module docstring for the rules)."""
    try:
        return _parse(raw)
    # Why so broad: the stdlib email package still has corner cases that raise
    # odd exceptions deep inside; one unreadable mail must not stop the intake.
    except Exception as exc:
        read = read_leniently(raw, f"mail could not be parsed ({type(exc).__name__})")
        whole = Attachment("message.eml", "message/rfc822", bytes(raw))
        return replace(read, attachments=(whole,), defects=(*read.defects, "kept whole"))


# -- the fallback reader --------------------------------------------------

# What it reads: the start of the header and of the body, and of each header value.
_LENIENT_HEAD = 64 * 1024
_LENIENT_BODY = 64 * 1024
_LENIENT_VALUE = 2000
_HEAD_END = re.compile(r"\r?\n\r?\n")
_HEAD_END_BYTES = re.compile(rb"\r?\n\r?\n")
# RFC 5322 3.6.8: a field name is printable ASCII but ":".
_FIELD = re.compile(r"([!-9;-~]+)[ \t]*:(.*)", re.DOTALL)
_BARE_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
_PLAIN_PART = re.compile(r"^content-type:[ \t]*text/plain", re.IGNORECASE | re.MULTILINE)
_BOUNDARY_LINE = re.compile(r"^--", re.MULTILINE)
_TAG = re.compile(r"<[^<>]*>")


def read_leniently(raw: bytes, reason: str) -> InboundMail:
    """What a cheap reader makes of a mail the full parse did not read, for ``reason``.

    It takes the sender, subject, ids, dates and robot headers from the first 64 KiB
    of the header (2,000 characters a value) and the first plain text, or HTML without
    its tags, from the next 64 KiB; no attachments. Its time is linear in what it reads,
    whatever the mail; it never raises. ``unparsed`` is ``reason``, and a note says so.
    """
    note = f"{reason}: only sender, subject and first text were read; the original is kept"
    try:
        return _read_leniently(raw, reason, note)
    except Exception:  # a reader of last resort must not fail: what is left is the note
        return InboundMail(
            None, None, "", "", None, size=len(raw), defects=(note,), unparsed=reason
        )


def _read_leniently(raw: bytes, reason: str, note: str) -> InboundMail:
    found = _HEAD_END_BYTES.search(raw)  # one linear scan, however long the header is
    head_end, body_start = (found.start(), found.end()) if found else (len(raw), len(raw))
    head = raw[: min(head_end, _LENIENT_HEAD)].decode("ascii", "surrogateescape")
    body = raw[body_start : body_start + _LENIENT_BODY].decode("ascii", "surrogateescape")
    fields = _lenient_fields(head)
    log = _Log()

    def first(name: str) -> str | None:
        return _first(fields.get(name, ()))

    sender = _lenient_sender(fields.get("from", []) + fields.get("sender", []), log)
    content_type = (first("content-type") or "text/plain").strip().lower()
    return InboundMail(
        message_id=_first(_msg_ids(first("message-id"), log)),
        from_address=sender.address,
        from_name=_storable(sender.name),
        subject=_storable(_decode_unstructured(first("subject") or "", log, "subject").strip()),
        date=_date(first("date"), log),
        to=_lenient_addresses(fields.get("to", [])),
        cc=_lenient_addresses(fields.get("cc", [])),
        reply_to=_lenient_addresses(fields.get("reply-to", [])),
        in_reply_to=_first(_msg_ids(first("in-reply-to"), log)),
        references=_last_references(_msg_ids(" ".join(fields.get("references", [])), log), log),
        body_text=_storable(_lenient_text(content_type, fields, body, log)),
        auto_submitted=_lenient_plain(first("auto-submitted")),
        precedence=_lenient_plain(first("precedence")),
        list_id=_lenient_plain(first("list-id")),
        content_language=_lenient_plain(first("content-language")),
        return_path=""
        if "".join((first("return-path") or "x").split()) == "<>"
        else first("return-path"),
        autoreply_headers=tuple(name for name in _AUTOREPLY_HEADERS if name in fields),
        loop_markers=tuple(v.strip().lower() for v in fields.get("x-loop", [])),
        is_delivery_report=content_type.startswith("multipart/report")
        and "delivery-status" in content_type,
        authentication_results=tuple(
            " ".join(v.split()) for v in fields.get("authentication-results", [])
        ),
        size=len(raw),
        defects=_bounded((note, *_unique(log.notes))),
        unparsed=reason,
        robot_sender=sender.robot,
    )


def _lenient_fields(head: str) -> dict[str, list[str]]:
    """Header values by lower-case name, unfolded, each cut to ``_LENIENT_VALUE`` characters."""
    fields: dict[str, list[str]] = {}
    for line in _LINE_END.split(_FOLD.sub("", head)):
        found = _FIELD.fullmatch(line)
        if found:
            value = found.group(2).strip()[:_LENIENT_VALUE]
            fields.setdefault(found.group(1).lower(), []).append(value)
    return fields


def _lenient_plain(value: str | None) -> str | None:
    return None if value is None else _restore_8bit(value, _Log(), "header").strip()


def _lenient_addresses(values: list[str]) -> tuple[str, ...]:
    found = (a.strip(".").lower() for v in values for a in _BARE_ADDRESS.findall(v))
    return _unique(a for a in found if _is_address(a))


def _lenient_sender(values: list[str], log: _Log) -> LenientSender:
    """The first From (else Sender) value with an address, read as the strict parse's
    fallback reads one (:func:`mailbot.core.lenient_sender.read_sender`); else a bare
    robot name (MAILER-DAEMON) if one is written."""
    robot = ""
    for value in values:
        read = read_sender(_restore_8bit(value, log, "from"))
        if read.address is not None:
            name = _decode_unstructured(read.name, log, "from")
            return LenientSender(read.address, " ".join(name.split()))
        robot = robot or read.robot
    return LenientSender(None, robot=robot)


def _lenient_text(content_type: str, fields: dict[str, list[str]], body: str, log: _Log) -> str:
    """The first text/plain part's text (the body itself when the mail is not multipart)."""
    if content_type.startswith("multipart/"):
        found = _PLAIN_PART.search(body)
        if found is None:
            return ""
        part = body[found.start() :]
        end = _HEAD_END.search(part)
        if end is None:
            return ""
        fields = _lenient_fields(part[: end.start()])
        content_type = (_first(fields.get("content-type", ())) or "").lower()
        body = part[end.end() :]
        boundary = _BOUNDARY_LINE.search(body)
        body = body[: boundary.start()] if boundary else body
    data = body.encode("utf-8", "surrogateescape")
    encoding = (_first(fields.get("content-transfer-encoding", ())) or "").strip().lower()
    try:
        if encoding == "base64":
            data = binascii.a2b_base64(data)
        elif encoding == "quoted-printable":
            data = binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        log.notes.append(f"body: broken {encoding}, kept as it is")
    charset = re.search(r"charset\s*=\s*\"?([^\s\";]{1,40})", content_type)
    text = _decode_text(data, charset.group(1) if charset else None, log, "body")
    if content_type.startswith("text/html"):
        text = _TAG.sub(" ", text)
    return _LINE_END.sub("\n", text).removeprefix("\ufeff").strip()


def sanitize_filename(name: str, *, content_type: str = "") -> str:
    """Return ``name`` made safe to show and store as a file name.

    Path parts (``/`` and ``\\``), control and format characters and leading
    dots are removed, white space is collapsed, and the result is at most 150
    characters, keeping the extension. An empty result becomes ``attachment``
    plus the usual extension of ``content_type`` when there is one.
    """
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(name.split())
    # Cc: control characters; Cf: format characters such as U+202E, which
    # makes "invoice\u202efdp.exe" display as "invoiceexe.pdf"; Cs: lone surrogates.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = name.lstrip(". ").rstrip()
    if not name:
        return "attachment" + (_extension_for(content_type) or "")
    if len(name) <= _MAX_FILENAME:
        return name
    stem, extension = posixpath.splitext(name)
    if len(extension) > _MAX_EXTENSION:
        stem, extension = name, ""
    return stem[: _MAX_FILENAME - len(extension)].rstrip() + extension


# -- the message as a whole -----------------------------------------------


@dataclass
class _Log:
    """What the parse had to repair (``notes``), and the charsets to try on raw 8-bit headers.

    ``hint`` is the message's own declared charset: a mailer that puts raw
    8-bit bytes in headers (against RFC 5322 2.2) mostly uses its body's charset.
    ``detected`` is the charset found in an undeclared body on enough bytes.
    """

    notes: list[str] = field(default_factory=list)
    hint: str | None = None
    detected: str | None = None


@dataclass
class _Body:
    """What the walk over the MIME tree collects (mutable while it runs)."""

    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def _parse(raw: bytes) -> InboundMail:
    # policy.default within parse_bounds' caps; its notes and ours go in one list, in order.
    bounds = Bounds()
    msg = parse_bounded(raw, bounds)
    log = _Log(notes=bounds.notes, hint=_charset_hint(msg))
    body = _collect_body(msg, log)  # first: an undeclared body's charset helps read headers
    subject = _decode_unstructured(_first_raw(msg, "subject") or "", log, "subject").strip()
    sender = _sender(msg, log)
    body_text = body.plain or ""
    if body.html is not None and not body_text.strip():
        body_text = html_to_text(body.html)
    subject, from_name, body_text = map(_storable, (subject, sender.name, body_text))
    mail = InboundMail(
        message_id=_first(_msg_ids(_first_raw(msg, "message-id"), log)),
        from_address=sender.address,
        from_name=from_name,
        subject=subject,
        date=_date(_first_raw(msg, "date"), log),
        to=_address_list(msg, "to", log),
        cc=_address_list(msg, "cc", log),
        reply_to=_address_list(msg, "reply-to", log),
        in_reply_to=_first(_msg_ids(_first_raw(msg, "in-reply-to"), log)),
        references=_last_references(_msg_ids(" ".join(_raw_values(msg, "references")), log), log),
        body_text=body_text,
        body_html=_storable(body.html) if body.html is not None else None,
        attachments=tuple(body.attachments),
        auto_submitted=_plain_header(msg, "auto-submitted"),
        precedence=_plain_header(msg, "precedence"),
        list_id=_plain_header(msg, "list-id"),
        content_language=_plain_header(msg, "content-language"),
        return_path=_return_path(msg),
        autoreply_headers=tuple(
            name for name in _AUTOREPLY_HEADERS if _first_raw(msg, name) is not None
        ),
        loop_markers=tuple(_unfold(v).strip().lower() for v in _raw_values(msg, "x-loop")),
        is_delivery_report=_is_delivery_report(msg),
        reported_message_ids=_reported_message_ids(msg, log) if _is_delivery_report(msg) else (),
        authentication_results=tuple(
            " ".join(_unfold(v).split()) for v in _raw_values(msg, "authentication-results")
        ),
        size=len(raw),
        defects=_bounded(_unique(log.notes)),
        lenient_from=_storable(sender.lenient_from),
        robot_sender=sender.robot,
    )
    return read_bounce(mail, msg)  # the formats besides RFC 3464, by mailbot.core.bounces


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _first(values: Iterable[str]) -> str | None:
    return next(iter(values), None)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """Drop repeats, keeping the first occurrence's place."""
    return tuple(dict.fromkeys(values))


def _last_references(ids: tuple[str, ...], log: _Log) -> tuple[str, ...]:
    """The newest ``_MAX_REFERENCES`` distinct ids: threading needs the last few (RFC 5322
    section 3.6.4 keeps the parent's last), and each one is a query parameter; a list of
    280,000 ids broke the database's limit and stopped intake."""
    unique = _unique(ids)
    if len(unique) <= _MAX_REFERENCES:
        return unique
    log.notes.append(f"References: only the last {_MAX_REFERENCES} of {len(unique)} ids kept")
    return unique[-_MAX_REFERENCES:]


def _bounded(notes: tuple[str, ...]) -> tuple[str, ...]:
    if len(notes) <= _MAX_DEFECTS:
        return notes
    return (*notes[: _MAX_DEFECTS - 1], f"... and {len(notes) - _MAX_DEFECTS + 1} more")


# -- raw header values ----------------------------------------------------


def _raw_values(msg: Message, name: str) -> list[str]:
    """All values of header ``name`` as in the source (8-bit bytes as surrogates)."""
    return [str(value) for key, value in msg.raw_items() if key.lower() == name]


def _first_raw(msg: Message, name: str) -> str | None:
    return _first(_raw_values(msg, name))


def _unfold(value: str) -> str:
    """Unfold a header value (RFC 5322 2.2.3); stray line ends become spaces."""
    return _LINE_END.sub(" ", _FOLD.sub("", value))


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _restore_8bit(text: str, log: _Log, what: str) -> str:
    """Decode raw 8-bit bytes that the parser carried as surrogates.

    UTF-8 is allowed there by RFC 6532; anything else is a guess, first the
    message's declared charset, then :func:`mailbot.core.charsets.guess` with the
    body's detected charset as its hint.
    """
    if not _has_surrogates(text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    first = codec_for(log.hint) if log.hint else None
    decoded = guess(data, first=first, hint=log.detected)
    if decoded.charset != "utf-8":
        log.notes.append(f"{what}: raw 8-bit text, decoded as {decoded.charset}")
    return decoded.text


def _charset_hint(msg: Message) -> str | None:
    """The first charset declared in the message's first few parts, if any."""
    try:
        for part in itertools.islice(msg.walk(), 20):
            charset = part.get_param("charset")
            if isinstance(charset, str) and charset.lower() not in ("us-ascii", "utf-8"):
                return charset
    # Only a hint: a header that does not parse means no hint.
    except Exception:
        return None
    return None


def _plain_header(msg: Message, name: str) -> str | None:
    """The first value of a header, unfolded, stripped and made valid text; None if absent."""
    value = _first_raw(msg, name)
    if value is None:
        return None
    return _restore_8bit(_unfold(value), _Log(), name).strip()


def _return_path(msg: Message) -> str | None:
    """Return-Path as written; the null path ``<>`` (a bounce, RFC 5321 4.5.5) becomes ""."""
    value = _plain_header(msg, "return-path")
    if value is not None and "".join(value.split()) == "<>":
        return ""
    return value


def _is_delivery_report(msg: Message) -> bool:
    """RFC 3464: a DSN is ``multipart/report`` with ``report-type=delivery-status``."""
    if _content_type(msg) != "multipart/report":
        return False
    return (_param(msg, "content-type", "report-type") or "").strip().lower() == "delivery-status"


def _reported_message_ids(msg: Message, log: _Log) -> tuple[str, ...]:
    """Message-IDs of the returned mail: its ``message/rfc822`` or ``text/rfc822-headers`` part.

    RFC 3462 section 2: the third part of a report is the original message, or only its
    headers; both carry the Message-ID we gave it.
    """
    found: list[str] = []
    for part in itertools.islice(msg.walk(), _MAX_PARTS):
        content_type = _content_type(part)
        if content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                found.extend(_msg_ids(_first_raw(inner, "message-id"), log))
        elif content_type == "text/rfc822-headers":
            headers = BytesParser(policy=email.policy.compat32).parsebytes(
                _payload_bytes(part), headersonly=True
            )
            found.extend(_msg_ids(_first_raw(headers, "message-id"), log))
    return _unique(found)


def _decode_unstructured(raw: str, log: _Log, what: str) -> str:
    """Decode an unstructured header value: unfold, raw 8-bit, RFC 2047 encoded words."""
    return _decode_encoded_words(_restore_8bit(_unfold(raw), log, what), log, what)


def _decode_encoded_words(text: str, log: _Log, what: str) -> str:
    """Replace RFC 2047 encoded words by their text, tolerating the usual breakage.

    White space between two encoded words is dropped (RFC 2047 6.2). Adjacent
    words in one charset are joined before decoding, because mailers split
    multi-byte characters across words although RFC 2047 5 forbids it.
    """
    pieces: list[str | tuple[str, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if between and not (between.isspace() and pieces and isinstance(pieces[-1], tuple)):
            pieces.append(between)
        word = _encoded_word_bytes(match)
        if word is None:
            log.notes.append(f"{what}: broken encoded word kept as it is")
            pieces.append(match.group(0))
        elif pieces and isinstance(pieces[-1], tuple) and pieces[-1][0] == word[0]:
            pieces[-1] = (word[0], pieces[-1][1] + word[1])
        else:
            pieces.append(word)
        position = match.end()
    pieces.append(text[position:])
    return "".join(
        piece if isinstance(piece, str) else _decode_text(piece[1], piece[0], log, what)
        for piece in pieces
    )


def _encoded_word_bytes(match: re.Match[str]) -> tuple[str, bytes] | None:
    """(charset, bytes) of one encoded word, or None if its encoded text is broken."""
    # RFC 2231 section 5 allows a language after the charset: =?utf-8*pl?Q?...?=
    charset = match.group(1).split("*", 1)[0]
    encoded = match.group(3)
    try:
        if match.group(2) in "qQ":
            return charset, binascii.a2b_qp(encoded.encode("ascii", "replace"), header=True)
        data = "".join(encoded.split()).encode("ascii", "replace")
        return charset, binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


# -- charsets -------------------------------------------------------------


def _decode_text(data: bytes, declared: str | None, log: _Log, what: str) -> str:
    """Decode by the declared charset; if that fails or is unknown, guess and say so."""
    decoded = decode(data, declared, hint=log.detected)
    if decoded.problem is not None:
        log.notes.append(f"{what}: {decoded.problem}, decoded as {decoded.charset}")
    if decoded.evidence and log.detected is None:
        log.detected = decoded.charset
    return decoded.text


# -- dates, ids, addresses ------------------------------------------------


def _date(raw: str | None, log: _Log) -> datetime | None:
    """The Date header as an aware datetime; a date without zone is taken as UTC."""
    if raw is None:
        return None
    value = _restore_8bit(_unfold(raw), _Log(), "date").strip()
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        log.notes.append(f"date: {value[:60]!r} not understood")
        return None
    # RFC 5322 3.3: "-0000" means the zone is unknown; parsedate gives a naive time.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# Bounds on what the parser hands out, far above real mail (RFC 5321 section
# 4.5.3.1 for addresses); beyond them a value only breaks database indexes.
_MAX_ADDRESS = 254
_MAX_MSG_ID = 500
_MAX_REFERENCES = 50
_MAX_LENIENT_FROM = 1000


def _msg_ids(raw: str | None, log: _Log) -> tuple[str, ...]:
    """All ``<...>`` ids in a Message-ID/In-Reply-To/References value, blanks removed."""
    if raw is None:
        return ()
    value = _restore_8bit(_unfold(raw), _Log(), "message id")
    if "=?" in value:
        # Python's email package folds an id longer than a line into RFC 2047 encoded
        # words, as for any unstructured header: a sender's bug, readable all the same.
        value = _decoded_words(value)
    ids = tuple(f"<{inner}>" for inner in ("".join(m.split()) for m in _MSG_ID.findall(value)))
    ids = tuple(found for found in ids if found != "<>")
    if any(len(found) > _MAX_MSG_ID for found in ids):
        # Nobody threads on an id this long; it would only break database indexes.
        log.notes.append(f"message id longer than {_MAX_MSG_ID} characters dropped")
        return tuple(found for found in ids if len(found) <= _MAX_MSG_ID)
    bare = value.strip()
    if not ids and "@" in bare and len(bare.split()) == 1 and len(bare) < _MAX_MSG_ID:
        log.notes.append(f"message id {bare[:60]!r} without angle brackets")
        return (f"<{bare.strip('<>')}>",)
    return ids


def _decoded_words(value: str) -> str:
    try:
        return "".join(
            part.decode(charset or "ascii", "replace") if isinstance(part, bytes) else part
            for part, charset in decode_header(value)
        )
    except (ValueError, LookupError):  # a broken encoded word: read the value as it is
        return value


def _is_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    # RFC 5321 section 4.5.3.1: a path is at most 256 octets; longer is no address.
    return (
        bool(at and local and domain)
        and len(address) <= _MAX_ADDRESS
        and not any(ch.isspace() for ch in address)
    )


def _address_pairs(msg: Message, name: str, log: _Log) -> list[tuple[str, str]]:
    """(display name, address) of every address in every ``name`` header, decoded."""
    pairs: list[tuple[str, str]] = []
    for raw in _raw_values(msg, name):
        value = _unfold(raw)
        if len(value) <= MAX_STRUCTURED:  # the repair is for policy.default's parser only
            value = _BARE_ADDRESS_AS_NAME.sub(r'\1"\2"\3', value)
        try:
            # policy.default makes every address header an AddressHeader; the message's
            # policy hands out plain text instead when parsing it would cost too much.
            header = msg.policy.header_fetch_parse(name, value)
            addresses = getattr(header, "addresses", None)
            found = (
                None if addresses is None else [(a.display_name, a.addr_spec) for a in addresses]
            )
        # policy.default raises on some malformed address headers (bpo-27257).
        except Exception:
            log.notes.append(f"{name}: malformed, read leniently")
            found = None
        if found is None:
            found = getaddresses([_restore_8bit(value, log, name)])
        pairs.extend(found)
    return [
        (
            " ".join(_decode_unstructured(display, log, name).split()),
            _restore_8bit(address, log, name).strip().lower(),
        )
        for display, address in pairs
    ]


def _address_list(msg: Message, name: str, log: _Log) -> tuple[str, ...]:
    return _unique(a for _, a in _address_pairs(msg, name, log) if _is_address(a))


@dataclass(frozen=True)
class _From:
    """The sender as ``InboundMail`` carries it (``from_address`` and the fields after it)."""

    address: str | None
    name: str
    lenient_from: str = ""
    robot: str = ""


def _sender(msg: Message, log: _Log) -> _From:
    """The address and display name of From, else of Sender, by RFC 5322; when neither
    has one, From read leniently (:mod:`mailbot.core.lenient_sender`)."""
    from_pairs = _address_pairs(msg, "from", log)
    for pairs in (from_pairs, _address_pairs(msg, "sender", log)):
        for display, address in pairs:
            if _is_address(address) and _plain_domain(address):
                return _From(address, display)
    name = from_pairs[0][0] if from_pairs else ""
    raw = _first_raw(msg, "from")
    return _From(None, name) if raw is None else _lenient_from(raw, name, log)


def _plain_domain(address: str) -> bool:
    """Not a domain the lenient reader must repair: a quote in it is the parser's reading of
    a local part quoted in the wrong place ('jan."kowalski@example.pl' gives
    '"jan.kowalski@example.pl"'), and the compat32 parser keeps a trailing dot."""
    domain = address.rpartition("@")[2]
    return '"' not in domain and not domain.endswith(".")


def _lenient_from(raw: str, strict_name: str, log: _Log) -> _From:
    value = _restore_8bit(_unfold(raw), log, "from").strip()
    kept = value[:_MAX_LENIENT_FROM]
    read = read_sender(value)
    if read.address is not None:
        name = _decode_unstructured(read.name, log, "from") or strict_name
        log.notes.append(f"from: no address by RFC 5322, read leniently as {read.address}")
        return _From(read.address, " ".join(name.split()), lenient_from=kept)
    if read.robot:
        log.notes.append(f"from: {read.robot} without a domain, a robot sender")
        return _From(None, strict_name, lenient_from=kept, robot=read.robot)
    return _From(None, strict_name)


# -- the MIME tree --------------------------------------------------------


def _collect_body(msg: Message, log: _Log) -> _Body:
    body = _Body()
    for section, part in _leaf_parts(msg, log):
        what = f"part {section}"
        try:
            _take_part(part, section, body, log)
        # Why so broad: one undecodable part must not lose the rest of the mail.
        except Exception as exc:
            log.notes.append(
                f"{what}: could not be decoded ({type(exc).__name__}), kept as raw bytes"
            )
            body.attachments.append(_raw_attachment(part))
        log.notes.extend(_defect_notes(part, what))
    return body


def _leaf_parts(msg: Message, log: _Log) -> Iterator[tuple[str, Message]]:
    """Leaves of the MIME tree in order, with IMAP-style section numbers ("1", "2.1").

    Walks with an explicit stack (no recursion), stops descending below
    ``_MAX_DEPTH`` and yields at most ``_MAX_PARTS`` leaves.
    """
    stack: list[tuple[str, Message]] = [("", msg)]
    count = 0
    while stack:
        section, part = stack.pop()
        children = _children(part) if section.count(".") < _MAX_DEPTH else None
        if children is None:
            count += 1
            if count > _MAX_PARTS:
                log.notes.append(f"more than {_MAX_PARTS} parts, the rest ignored")
                return
            yield section or "1", part
            continue
        log.notes.extend(_defect_notes(part, f"part {section}" if section else "message"))
        prefix = f"{section}." if section else ""
        stack.extend((f"{prefix}{i}", child) for i, child in reversed(list(enumerate(children, 1))))


def _children(part: Message) -> list[Message] | None:
    """Sub-parts of a multipart/* that has them; None for a leaf (message/* included)."""
    if not part.is_multipart() or _content_type(part).split("/")[0] != "multipart":
        return None
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)]


def _take_part(part: Message, section: str, body: _Body, log: _Log) -> None:
    """Put one leaf part in its place: plain text, HTML or an attachment."""
    content_type = _content_type(part)
    what = f"part {section}"
    if content_type.startswith("multipart/") and part.is_multipart():
        log.notes.append(f"{what}: nested too deep, kept whole as an attachment")
        body.attachments.append(_raw_attachment(part))
        return
    if content_type.startswith("multipart/"):
        log.notes.append(f"{what}: {content_type} without usable boundaries, read as text")
        content_type = "text/plain"
    disposition = _disposition(part)
    filename = _filename(part, log, what)
    if content_type.startswith("message/") and part.is_multipart():
        body.attachments.append(_message_attachment(part, content_type, filename, log))
        return
    is_text_body = disposition != "attachment" and not filename
    if is_text_body and content_type == "text/plain" and body.plain is None:
        body.plain = _part_text(part, log, f"body {what}")
    elif is_text_body and content_type == "text/html" and body.html is None:
        body.html = _part_text(part, log, f"body {what}")
    else:
        inline = disposition == "inline" or (disposition is None and _has(part, "content-id"))
        name = sanitize_filename(filename, content_type=content_type)
        body.attachments.append(Attachment(name, content_type, _payload_bytes(part), inline))


def _has(part: Message, name: str) -> bool:
    return any(key.lower() == name for key, _ in part.raw_items())


def _content_type(part: Message) -> str:
    """The part's lower-case type (RFC 2045 5.2 default text/plain), even if the header is bad."""
    try:
        return part.get_content_type()
    except Exception:
        value = (_first_raw(part, "content-type") or "").split(";")[0].strip().lower()
        return value if re.fullmatch(r"[\w.+-]+/[\w.+-]+", value) else "text/plain"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        value = (_first_raw(part, "content-disposition") or "").split(";")[0].strip().lower()
        return value or None


def _param(part: Message, header: str, name: str, log: _Log | None = None) -> str | None:
    """A MIME parameter, RFC 2231 decoded; compat32's lenient parser if policy.default fails
    or was not given the header (too costly, ``parse_bounds``), or if the header has raw
    8-bit bytes, which policy.default turns into U+FFFD: they are decoded first."""
    raw = _first_raw(part, header)
    eight_bit = raw is not None and _has_surrogates(raw)
    try:
        params = None if eight_bit else getattr(part.get(header), "params", None)
        if params is not None:
            found = params.get(name)
            return None if found is None else str(found)
    except Exception:
        pass
    if raw is None:
        return None
    lenient = Message()
    value = _unfold(raw)
    lenient[header] = (
        _restore_8bit(value, log or _Log(), f"{header} {name}") if eight_bit else value
    )
    found = lenient.get_param(name, header=header)
    return None if found is None else collapse_rfc2231_value(found)


def _filename(part: Message, log: _Log, what: str) -> str:
    """The declared file name (Content-Disposition filename, else Content-Type name), decoded."""
    for header, name in (("content-disposition", "filename"), ("content-type", "name")):
        value = _param(part, header, name, log)
        if value and value.strip():
            # RFC 2047 words are not allowed in parameters (RFC 2047 5) but are common.
            return _decode_unstructured(value, log, f"{what} file name").strip()
    return ""


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _part_text(part: Message, log: _Log, what: str) -> str:
    """The part's text, charset-decoded, with ``\\n`` line ends and no BOM."""
    text = _decode_text(_payload_bytes(part), _charset(part), log, what)
    return _LINE_END.sub("\n", text).removeprefix("\ufeff")


def _payload_bytes(part: Message) -> bytes:
    """The transfer-decoded payload (base64, quoted-printable, uuencode), else the raw one."""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    return _raw_payload(part)


def _raw_payload(part: Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    if isinstance(payload, list):
        return b"".join(_serialize(child) for child in payload if isinstance(child, Message))
    return b""


def _raw_attachment(part: Message) -> Attachment:
    """A part we could not take apart, kept as bytes so nothing is lost."""
    try:
        data = _serialize(part) if part.is_multipart() else _raw_payload(part)
    except Exception:
        data = b""
    return Attachment("attachment", "application/octet-stream", data)


def _message_attachment(part: Message, content_type: str, filename: str, log: _Log) -> Attachment:
    """An attached message (message/rfc822 and kin), kept whole, named after its subject."""
    data = _raw_payload(part)
    if content_type == "message/rfc822" and not filename:
        inner = part.get_payload(0)
        raw_subject = _first_raw(inner, "subject") if isinstance(inner, Message) else None
        filename = _decode_unstructured(raw_subject or "", log, "attached mail").strip()
    if content_type == "message/rfc822" and filename and not filename.lower().endswith(".eml"):
        filename += ".eml"
    return Attachment(sanitize_filename(filename, content_type=content_type), content_type, data)


def _serialize(msg: Message) -> bytes:
    """The message's bytes as received, as far as the parser kept them."""
    # compat32 writes the raw header values back without refolding them; the
    # default policy would re-parse each header and can raise on bad ones.
    for policy in (email.policy.compat32, email.policy.default):
        buffer = io.BytesIO()
        try:
            BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(msg)
        except Exception:
            continue
        return buffer.getvalue()
    return b""


def _defect_notes(part: Message, what: str) -> Iterator[str]:
    """The stdlib's defect classes as short phrases ("start boundary not found")."""
    for defect in getattr(part, "defects", []):
        if isinstance(defect, MessageDefect):
            name = type(defect).__name__.removesuffix("Defect")
            if name != "MultipartInvariantViolation":  # always repeats another defect
                yield f"{what}: " + re.sub(r"(?<!^)(?=[A-Z][a-z])", " ", name).lower()


@cache
def _mime_types() -> mimetypes.MimeTypes:
    # Only Python's built-in table, so names do not depend on /etc/mime.types.
    return mimetypes.MimeTypes(filenames=())


def _extension_for(content_type: str) -> str | None:
    if not content_type:
        return None
    return _mime_types().guess_extension(content_type.lower(), strict=False)
