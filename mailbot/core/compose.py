"""Turn an ``OutboundMail`` into the bytes that go over SMTP.

Pure: the Message-ID and Date are decided by the caller, so the same outbox
row always produces the same bytes.
"""

from __future__ import annotations

import binascii
import functools
import re
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime
from typing import Any

from mailbot.core.mail import OutboundMail

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: none belongs in a
# header value, and CR/LF would start a new header (CVE-2024-6923: Python before 3.11.10
# re-emits an encoded newline from a parsed header as a real one).
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


# Headers whose value we write as given, when it is plain ASCII that fits one line: ids,
# dates and tokens, which the header registry would only parse and fold back unchanged
# (that parsing was most of the cost of an acknowledgement). Addresses are written as
# given only in the plain cases of ``_plain``; otherwise the registry encodes and quotes
# them. The Subject is encoded by ``encode_text`` before either sees it.
_VERBATIM = frozenset(
    {
        "message-id",
        "in-reply-to",
        "references",
        "date",
        "auto-submitted",
        "precedence",
        "x-loop",
        "x-mailbot-kind",
        "x-auto-response-suppress",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-language",
        "x-mailbot-ticket",
    }
)

# Address headers are written as given when each address is a plain ASCII addr-spec, alone
# or after a display name of letters, digits and single spaces: nothing in them to quote or
# encode. Anything else (a dot or a Polish letter in a name, say) goes through the registry.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_MAILBOX = rf"(?:{_ADDR_SPEC}|[A-Za-z0-9]+(?: [A-Za-z0-9]+)* <{_ADDR_SPEC}>)"
_PLAIN_ADDRESSES = re.compile(rf"{_MAILBOX}(?:, {_MAILBOX})*")
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to"})


def _plain(name: str, value: str) -> bool:
    """True when ``value`` can be written as it is: the registry would write it unchanged."""
    if not value.isascii() or _HEADER_UNSAFE.search(value) or len(name) + 2 + len(value) > 998:
        return False
    key = name.lower()
    if key in _ADDRESS_HEADERS:
        return _PLAIN_ADDRESSES.fullmatch(value) is not None
    return key in _VERBATIM


class _Policy(EmailPolicy):
    """The SMTP policy, keeping safe plain values of ``_VERBATIM`` headers as strings."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, str) and _writable(name, value):
            return (name, value)
        return super().header_store_parse(name, value)

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        # The generator reads Content-Type twice per mail, and each read would parse the
        # same constant again.
        if name.lower() == "content-type" and value == _TEXT_PLAIN:
            return _text_plain_header()
        return super().header_fetch_parse(name, value)


class _Registry(HeaderRegistry):
    """``HeaderRegistry`` remembering the classes it makes: the standard one builds a new
    class with ``type()`` for every header set or read."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


_SMTP = _Policy(**{**SMTP.__dict__, "header_factory": _Registry()})
_TEXT_PLAIN = 'text/plain; charset="utf-8"'


@functools.cache
def _text_plain_header() -> Any:
    """The parsed Content-Type of every mail we compose (header objects are immutable)."""
    return _SMTP.header_factory("Content-Type", _TEXT_PLAIN)


def header_text(value: str) -> str:
    """``value`` fit for one header: every run of control characters becomes one space."""
    return _HEADER_UNSAFE.sub(" ", value).strip()


def format_sender(name: str, address: str) -> str:
    local, _, domain = header_text(address).partition("@")
    return str(Address(display_name=header_text(name), username=local, domain=domain))


def compose(mail: OutboundMail, *, sender_name: str, date: datetime) -> bytes:
    """RFC 5322 bytes (CRLF line ends) of ``mail``, text/plain in UTF-8.

    Every header is built from plain strings passed through ``header_text``,
    never from a parsed header object, so no customer text can add a header.
    """
    headers = _headers(mail, sender_name=sender_name, date=date)
    body = _quoted_printable(mail.body_text)
    # An international address (RFC 6531) can only be written as raw UTF-8
    # (RFC 6532); the server must then offer SMTPUTF8, or refuses the mail.
    international = not all(a.isascii() for a in (mail.sender, *mail.recipients))
    if not international and all(_writable(name, value) for name, value in headers):
        # What the email package would write for these values, without its generator
        # (most of what composing cost): tests check that both give the same bytes.
        return _written(headers, body)
    return _generated(headers, body, international=international)


def _writable(name: str, value: str) -> bool:
    return isinstance(value, _Encoded) or _plain(name, value)


def _headers(mail: OutboundMail, *, sender_name: str, date: datetime) -> list[tuple[str, str]]:
    headers = [
        ("From", format_sender(sender_name, mail.sender)),
        ("To", ", ".join(header_text(r) for r in mail.recipients)),
        ("Subject", _Encoded(encode_text(header_text(mail.subject), name="Subject"))),
        ("Date", format_datetime(date)),
        ("Message-ID", header_text(mail.message_id)),
    ]
    if mail.in_reply_to:
        headers.append(("In-Reply-To", header_text(mail.in_reply_to)))
    if mail.references:
        headers.append(("References", " ".join(header_text(r) for r in mail.references)))
    headers.extend((header_text(name), header_text(value)) for name, value in mail.extra_headers)
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", _TEXT_PLAIN),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    return headers


def _written(headers: list[tuple[str, str]], body: str) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode("ascii")


def _generated(headers: list[tuple[str, str]], body: str, *, international: bool) -> bytes:
    # Lines up to 998 characters (RFC 5322 section 2.1.1): with the default 78,
    # a long Message-ID in In-Reply-To/References would be RFC 2047-encoded,
    # and mail clients could no longer thread the answer.
    msg = EmailMessage(policy=_SMTP.clone(max_line_length=998, utf8=international))
    for name, value in headers:
        msg[name] = value
    msg.set_payload(body)
    return msg.as_bytes()


def _quoted_printable(text: str) -> str:
    """``text`` as a UTF-8 quoted-printable body (LF line ends), in lines of at most 76
    characters as RFC 2045 asks (``set_content`` folded them at the policy's 998)."""
    lines = text.encode("utf-8").splitlines()
    # binascii's encoder is in C (email.quoprimime's, in Python, was five times slower);
    # istext: line ends stay line ends, and whitespace before them is encoded.
    return binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).decode("ascii")


class _Encoded(str):
    """A header value ``encode_text`` made: ASCII, folded, safe to write as it is."""


# RFC 2047 section 5 (3): the characters an encoded word may carry as themselves in any
# header; everything else is written =XX, and a space as "_".
_Q_LITERAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_EW_PREFIX = "=?utf-8?q?"
_EW_ROOM = 75 - len(_EW_PREFIX) - 2  # an encoded word is at most 75 characters long
_LINE = 78  # RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters


def encode_text(value: str, *, name: str) -> str:
    """Unstructured header text (RFC 2047): plain ASCII words as they are, runs of other
    words as UTF-8 encoded words, folded at spaces into lines of at most 78 characters.

    ``value`` must be free of control characters (``header_text``). A word is encoded
    when it is not ASCII, could be read as an encoded word itself ("=?"), or would not
    fit on a line; a space between two encoded words goes inside them, because a reader
    drops the whitespace between encoded words.
    """
    tokens: list[str] = []
    run: list[str] = []
    for word in value.split(" "):
        # An empty word (two spaces) inside a run goes into it: between two encoded
        # words, it would be dropped.
        if not word.isascii() or "=?" in word or len(word) > _LINE - 1 or (run and not word):
            run.append(word)
            continue
        if run:
            tokens += _encoded_words(" ".join(run))
            run = []
        tokens.append(word)
    if run:
        tokens += _encoded_words(" ".join(run))
    return _fold(tokens, used=len(name) + 2)


def _encoded_words(text: str) -> list[str]:
    """``text`` as Q-encoded words of at most 75 characters, never splitting a character."""
    words: list[str] = []
    chunk = ""
    for char in text:
        if char in _Q_LITERAL:
            coded = char
        elif char == " ":
            coded = "_"
        else:
            coded = "".join(f"={byte:02X}" for byte in char.encode("utf-8"))
        if len(chunk) + len(coded) > _EW_ROOM:
            words.append(f"{_EW_PREFIX}{chunk}?=")
            chunk = ""
        chunk += coded
    words.append(f"{_EW_PREFIX}{chunk}?=")
    return words


def _fold(tokens: list[str], *, used: int) -> str:
    """``tokens`` joined by single spaces, a line break before a space where a line would
    pass 78 characters (``used``: what the line holds before the first token)."""
    out: list[str] = []
    line = used
    for n, token in enumerate(tokens):
        if n and line + 1 + len(token) > _LINE and line > 1:
            out.append("\r\n ")
            line = 1
        elif n:
            out.append(" ")
            line += 1
        out.append(token)
        line += len(token)
    return "".join(out)


def reply_references(
    in_reply_to: str | None, references: tuple[str, ...], parent_id: str | None
) -> tuple[str, ...]:
    """References of a reply: the parent's references then the parent (RFC 5322 section 3.6.4)."""
    chain = [r for r in references if r]
    if not chain and in_reply_to:
        chain = [in_reply_to]
    if parent_id and parent_id not in chain:
        chain.append(parent_id)
    return tuple(chain)
