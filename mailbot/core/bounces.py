"""Bounces in every format: which addresses failed, for good or for now, and which mail came back.

mailbot reads RFC 3464 delivery-status reports itself (mailbot.core.parsing: the report
and the Message-ID of the mail it returns). Many MTAs write plain-text notices instead
(qmail's QSBMF, Exim, Sendmail and old Postfix, Exchange 2003, Domino, Yahoo, Gmail,
IMail, GroupWise, ...). After our own reading, ``flufl.bounce`` (GNU Mailman's bounce
detectors, a pure library on ``email.message.Message``) reads a mail that looks like a
bounce, by these rules:

1. Only a mail with a bounce's signs is scanned (:func:`has_bounce_signs`): a
   delivery-status report, a null Return-Path (RFC 5321 section 4.5.5), or a
   MAILER-DAEMON/postmaster sender. The detectors are heuristics that Mailman runs only on
   mail sent to a list's bounce address; on a customer's mail they find "addresses" in
   quoted text, and a bounce opens no ticket.
2. ``all_failures`` gives the permanent failures and the temporary ones (delays, DSN
   ``Action: delayed``) apart. An exception in a detector means "not recognised", noted
   in the mail's defects: nothing raises out of here.
3. An address is kept only when it is a plain ``local@domain``
   (:func:`mailbot.core.lenient_sender.is_valid_address`), lower-cased.
4. The returned mail's Message-IDs: the Message-ID of an attached ``message/rfc822`` or
   ``text/rfc822-headers`` part, and the ``Message-ID:`` lines of the text parts (the
   copy a plain-text notice quotes below its explanation).
5. A failed address that is one of those Message-IDs, or one the notice is sent to (us),
   is dropped: heuristics that collect every ``<...>`` of a text pick those up too.
6. A notice that is no DSN and says it is only a warning (``DELAY_WORDING``) reports
   temporary failures, whatever the detectors made of it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from email.message import Message

from flufl.bounce import all_failures

from mailbot.core.lenient_sender import is_valid_address
from mailbot.core.mail import InboundMail

__all__ = [
    "BOUNCE_SENDERS",
    "bounce_sender",
    "diagnosis",
    "has_bounce_signs",
    "null_return_path",
    "read_bounce",
    "returned_message_ids",
    "says_delayed",
]

# RFC 3834 section 3.2.1 and RFC 5321 section 4.5.5: the local parts bounces come from.
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
# The detectors read every text line of the mail for each of some 40 patterns (about
# 1.6 s a megabyte when none matches). A bounce of ours carries our mail or its headers,
# never megabytes (mailbot sends text; MTAs return only the headers of big mails): a
# bigger mail keeps only its returned Message-IDs.
_MAX_SCANNED = 512 * 1024
# How many parts, and how much of each text part, are searched for the returned Message-ID.
_MAX_PARTS = 50
_MAX_TEXT = 256 * 1024
_QUOTED_ID = re.compile(rb"^[ \t>]*Message-ID:[ \t]*\r?\n?[ \t]*(<[^<>\s]{3,250}>)", re.I | re.M)
_TEXT_TYPES = frozenset({"text/plain", "text/rfc822-headers"})

# What the receiving server said, best first. RFC 3464 section 2.3.6's
# "Diagnostic-Code: smtp; 550 5.1.1 user unknown", then section 2.3.4's "Status: 5.1.1";
# in a plain-text notice, the line quoting the server's reply with an enhanced status code
# (RFC 3463: "Remote host said: 550 5.1.1 ..."), else with a bare reply code (RFC 5321
# section 4.2: "554 delivery error: ...").
_SERVER_TEXT = tuple(
    re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    for pattern in (
        r"^\s*Diagnostic-Code\s*:\s*(.+)$",
        r"^\s*Status\s*:\s*(.+)$",
        r"^[^\n]*?((?:[45]\d\d[ -]#?)?(?<![\d.])[45]\.\d{1,3}\.\d{1,3}\b.*)$",
        r"^[^\n]*?\b([45][0-5]\d[ -][^\n]{4,})$",
    )
)
# How much of the notice's text is searched: its explanation comes before the quoted copy.
_MAX_EXPLANATION = 20_000

# A plain-text notice that says it is only a warning reports delays, whatever its lines
# look like to the detectors (Exim's warning quotes "RCPT TO:<...>", Sendmail's says "The
# following addresses had transient non-fatal errors": flufl.bounce reads both as
# permanent failures). A DSN's Action field says it itself. Each row: a pattern
# (case-insensitive, in the subject or the first lines) and where the wording comes from.
DELAY_WORDING: tuple[tuple[str, str], ...] = (
    (r"^\s*(warning:|delayed mail|delivery delayed|delivery status notification \(delay\))",
     "subjects of Sendmail, Exim ('Warning: message ... delayed'), Postfix ('Delayed Mail "
     "(still being retried)'), Exchange ('Delivery delayed:') and Gmail"),
    (r"warning message only|this is (just )?a warning|advisory[- ]only",
     "Sendmail's and Gmail's 'THIS IS A WARNING MESSAGE ONLY', Exchange's advisory"),
    (r"has not yet been delivered|no action is required on your part",
     "Exim's delay warning (warn_message_file)"),
    (r"will (keep|continue) trying|will be retried|delivery attempts will continue",
     "Sendmail, Gmail, Postfix and Exim: the server still retries"),
)  # fmt: skip
_DELAY = re.compile("|".join(f"(?:{p})" for p, _ in DELAY_WORDING), re.IGNORECASE | re.MULTILINE)
_FIRST_LINES = 5000
# "To: jan@acme.pl" in a notice's summary of the returned mail names the address, not why.
_FIELD = re.compile(r"^\s*[A-Za-z-]+:\s")


def null_return_path(mail: InboundMail) -> bool:
    """Return-Path ``<>``: the mail was sent with the null reverse path, as bounces are."""
    return mail.return_path is not None and mail.return_path.strip("<> ") == ""


def bounce_sender(mail: InboundMail) -> bool:
    """From MAILER-DAEMON or postmaster (a bare one too: mailbot.core.lenient_sender)."""
    return (mail.from_address or mail.robot_sender).partition("@")[0] in BOUNCE_SENDERS


def has_bounce_signs(mail: InboundMail) -> bool:
    """Worth handing to the detectors: a report, a null Return-Path or a bounce's sender."""
    return mail.is_delivery_report or null_return_path(mail) or bounce_sender(mail)


def read_bounce(mail: InboundMail, msg: Message) -> InboundMail:
    """``mail`` with the failed addresses and the returned Message-IDs that ``msg`` names,
    when it looks like a bounce; unchanged otherwise."""
    if not has_bounce_signs(mail):
        return mail
    temporary: tuple[str, ...] = ()
    permanent: tuple[str, ...] = ()
    if mail.size > _MAX_SCANNED:
        note = f"a bounce's signs, but over {_MAX_SCANNED // 1024} KB: detectors not run"
    else:
        temporary, permanent, note = _failures(msg)
    if permanent and says_delayed(mail):
        temporary, permanent = _unique((*temporary, *permanent)), ()
    ids = _unique((*mail.reported_message_ids, *returned_message_ids(msg)))
    # Heuristics that collect every <...> of the text also pick up the returned mail's
    # Message-ID and our own address; the notice's To is us, never the failed recipient.
    ours = {*(i.strip("<>").lower() for i in ids), *mail.to}
    return replace(
        mail,
        bounced_addresses=tuple(a for a in permanent if a not in ours),
        delayed_addresses=tuple(a for a in temporary if a not in ours and a not in permanent),
        reported_message_ids=ids,
        defects=(*mail.defects, note) if note else mail.defects,
    )


def says_delayed(mail: InboundMail) -> bool:
    """Whether a notice that is no DSN says in its subject or first lines that it is a delay
    warning (DELAY_WORDING)."""
    if mail.is_delivery_report:
        return False
    return any(_DELAY.search(text) for text in (mail.subject, mail.body_text[:_FIRST_LINES]))


def diagnosis(mail: InboundMail) -> str:
    """What the server said about the failure, as best the notice tells (``_SERVER_TEXT``),
    else the line naming a failed address with words beside it (Domino: "User jan
    (jan@acme.pl) not listed in Domino Directory"), else the subject."""
    texts = [mail.body_text[:_MAX_EXPLANATION],
             *(a.data[:_MAX_EXPLANATION].decode("utf-8", "replace") for a in mail.attachments
               if a.content_type == "message/delivery-status")]  # fmt: skip
    for pattern in _SERVER_TEXT:
        for text in texts:
            found = pattern.search(text)
            if found:
                return _with_continuation(found[1], text[found.end() :])
    lines = [line for line in texts[0].splitlines() if line.strip()]
    for address in (*mail.bounced_addresses, *mail.delayed_addresses):
        for at, line in enumerate(lines):
            plain = line.strip().strip("<>:").lower()
            if address in line.lower() and plain != address and not _FIELD.match(line):
                return _with_continuation(line, "\n" + "\n".join(lines[at + 1 : at + 2]))
    return mail.subject[:500] or "delivery failed"


def _with_continuation(line: str, rest: str) -> str:
    """``line`` and the indented lines that continue it (a wrapped server reply), one line."""
    more = itertools.takewhile(lambda x: x[:1] in (" ", "\t") and x.strip(), rest.split("\n")[1:4])
    return " ".join(" ".join((line, *more)).split())[:500]


def _failures(msg: Message) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The temporary and the permanent failures the detectors find, and why none if they broke."""
    try:
        temporary, permanent = all_failures(msg)
    # A detector is a heuristic over any text: whatever it raises, the mail is not recognised.
    except Exception as exc:
        return (), (), f"bounce detectors gave up: {type(exc).__name__}: {exc}"[:200]
    return _addresses(temporary), _addresses(permanent), ""


def _addresses(found: frozenset[bytes]) -> tuple[str, ...]:
    decoded = (raw.decode("ascii", "replace").strip().strip("<>").lower() for raw in found)
    return tuple(sorted(a for a in set(decoded) if is_valid_address(a)))


def returned_message_ids(msg: Message) -> tuple[str, ...]:
    """The Message-IDs of the mail a bounce returns (rule 4), in the order found."""
    found: list[str] = []
    for part in itertools.islice(msg.walk(), _MAX_PARTS):
        try:
            found.extend(_ids_in(part))
        # A part the email package cannot read (a header policy.default rejects) names no
        # id; the other parts still count.
        except Exception:
            continue
    return _unique(found)


def _ids_in(part: Message) -> list[str]:
    content_type = part.get_content_type()
    if content_type == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        value = inner.get("message-id", "") if isinstance(inner, Message) else ""
        return re.findall(r"<[^<>\s]{3,250}>", str(value))[:1]
    if content_type not in _TEXT_TYPES or part.is_multipart():
        return []
    data = part.get_payload(decode=True)
    text = data[:_MAX_TEXT] if isinstance(data, bytes) else b""
    return [m.decode("ascii", "replace") for m in _QUOTED_ID.findall(text)]


def _unique(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))
