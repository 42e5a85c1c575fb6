"""Value types for mail: what the parser produces and what the outbox sends.

Inbound and outbound mail are different types on purpose: nothing downstream
of the parser reads raw headers, and nothing sent is built from a parsed mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """One attachment or inline part of a mail, with a sanitised file name."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class InboundMail:
    """A mail as parsed from the mailbox. Addresses are lower-cased ``local@domain``."""

    message_id: str | None
    from_address: str | None
    from_name: str
    subject: str
    date: datetime | None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    body_text: str = ""
    body_html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # Headers the automation checks need (RFC 3834 and friends), lower-case names.
    auto_submitted: str | None = None
    precedence: str | None = None
    list_id: str | None = None
    # The first Content-Language value as written (a web form's: the page's language).
    content_language: str | None = None
    return_path: str | None = None
    # Other robot signs: X-Autoreply, X-Autorespond (names present, lower-case) and every
    # X-Loop value (lower-cased), which names the desk that sent a mail.
    autoreply_headers: tuple[str, ...] = ()
    loop_markers: tuple[str, ...] = ()
    # A delivery-status report (RFC 3464: multipart/report; report-type=delivery-status), and
    # the Message-IDs of the mails it reports on (its message/rfc822 or text/rfc822-headers part).
    is_delivery_report: bool = False
    reported_message_ids: tuple[str, ...] = ()
    # The addresses a bounce of any format says failed for good, and those it says are only
    # delayed (mailbot.core.bounces; lower-cased); empty for a mail that is no bounce.
    bounced_addresses: tuple[str, ...] = ()
    delayed_addresses: tuple[str, ...] = ()
    # Every Authentication-Results header (RFC 8601), as written; whose to trust is policy.
    authentication_results: tuple[str, ...] = ()
    size: int = 0
    # What the parser had to repair or give up on, for the log and the ticket.
    defects: tuple[str, ...] = ()
    # Why the full parse did not read this mail ("parse deadline of 10 s exceeded"), when only
    # the bounded fallback reader did (sender, subject, first text); "" for a parsed mail.
    unparsed: str = ""
    # The From header as written (unfolded, at most 1,000 characters) when no address could
    # be read from it by RFC 5322 and the sender was read leniently
    # (mailbot.core.lenient_sender): ``from_address`` is then the repaired address, or None
    # with ``robot_sender`` set. "" when From was read strictly. Never proof of anything.
    lenient_from: str = ""
    # A robot named in From without a domain (a bare ``MAILER-DAEMON``, lower-cased): no
    # address to answer, but a bounce's sender, not a mail without one.
    robot_sender: str = ""
    # Who vouches for the sender besides the mail's own headers: a web submission from an
    # address on its contract's IP allow-list says so here ("IP allow-list of contract X");
    # "" for mail, which only Authentication-Results can vouch for.
    vouched_by: str = ""


@dataclass(frozen=True)
class OutboundMail:
    """A mail to send: already rendered, with every header decided."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    sender_name: str = ""  # the From display name; "" for the desk's own name
