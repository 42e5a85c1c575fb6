"""Robots, bounces, loops, size limits, sender verification and header safety: the pure parts."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailbot.core.authres import sender_verified
from mailbot.core.automation import is_bounce, robot_reason
from mailbot.core.calendar import ALWAYS, WorkingDuration
from mailbot.core.compose import compose, header_text
from mailbot.core.contracts import Contract
from mailbot.core.decide import DeskPolicy, OpenTicket, decide
from mailbot.core.limits import SizeLimits, apply_limits
from mailbot.core.mail import Attachment, InboundMail, OutboundMail
from mailbot.core.parsing import parse_mail
from mailbot.core.sla import TierPolicy
from mailbot.core.tiers import Tier

OWN = frozenset({"support@desk.pl"})


def mail(headers: str, sender: str = "jan@acme.pl") -> InboundMail:
    raw = f"From: Jan <{sender}>\r\nTo: support@desk.pl\r\nSubject: Hej\r\n{headers}\r\nTekst\r\n"
    return parse_mail(raw.encode())


# (extra headers, sender, the reason must contain this; None: a person wrote it)
ROBOT_TABLE = [
    ("", "jan@acme.pl", None),
    ("Auto-Submitted: no\r\n", "jan@acme.pl", None),
    ("Auto-Submitted: auto-replied\r\n", "jan@acme.pl", "Auto-Submitted"),
    ("Auto-Submitted: auto-generated; owner-email=x@y.pl\r\n", "jan@acme.pl", "Auto-Submitted"),
    ("Precedence: bulk\r\n", "jan@acme.pl", "Precedence"),
    ("Precedence: junk\r\n", "jan@acme.pl", "Precedence"),
    ("Precedence: list\r\n", "jan@acme.pl", "Precedence"),
    ("Precedence: first-class\r\n", "jan@acme.pl", None),
    ("List-Id: <news.acme.pl>\r\n", "jan@acme.pl", "List-Id"),
    ("Return-Path: <>\r\n", "jan@acme.pl", "empty Return-Path"),
    ("Return-Path: <jan@acme.pl>\r\n", "jan@acme.pl", None),
    ("X-Autoreply: yes\r\n", "jan@acme.pl", "x-autoreply"),
    ("X-Autorespond: Out of office\r\n", "jan@acme.pl", "x-autorespond"),
    # Outlook and Exchange put it on mail from people: alone it is no robot sign.
    ("X-Auto-Response-Suppress: All\r\n", "jan@acme.pl", None),
    ("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\r\n", "jan@acme.pl", None),
    ("X-Auto-Response-Suppress: OOF\r\nPrecedence: bulk\r\n", "jan@acme.pl", "Precedence"),
    ("X-Loop: support@desk.pl\r\n", "jan@acme.pl", "loop marker"),
    ("X-Loop: SUPPORT@desk.pl\r\n", "jan@acme.pl", "loop marker"),
    ("X-Loop: helpdesk@acme.pl\r\n", "jan@acme.pl", None),  # someone else's loop marker
    ("", "MAILER-DAEMON@mx.acme.pl", "robot sender"),
    ("", "postmaster@acme.pl", "robot sender"),
    ("", "noreply@acme.pl", "robot sender"),
    ("", "no-reply@acme.pl", "robot sender"),
    ("", "noreply-faktury@acme.pl", "robot sender"),
    ("", "do-not-reply@acme.pl", "robot sender"),
    ("", "support@desk.pl", "our own address"),
    ("", "noreen@acme.pl", None),
    (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n',
        "jan@acme.pl",
        "delivery-status",
    ),
]


@pytest.mark.parametrize(("headers", "sender", "expected"), ROBOT_TABLE)
def test_robot_classification(headers: str, sender: str, expected: str | None) -> None:
    reason = robot_reason(mail(headers, sender), own_addresses=OWN)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected.lower() in reason.lower()


DSN = (
    "From: Mail Delivery System <MAILER-DAEMON@mx.acme.pl>\r\n"
    "To: support@desk.pl\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    "Return-Path: <>\r\nMessage-ID: <dsn1@mx.acme.pl>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    "--B\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n"
    "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.acme.pl\r\n\r\nFinal-Recipient: rfc822; nikt@acme.pl\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
    "--B\r\nContent-Type: {kind}\r\n\r\n"
    "From: support@desk.pl\r\nTo: nikt@acme.pl\r\nSubject: [SOL-1] Przyjęte\r\n"
    "Message-ID: <SOL-1.ack@desk.pl>\r\n\r\n{body}"
    "--B--\r\n"
)


@pytest.mark.parametrize(
    ("kind", "body"),
    [("message/rfc822", "Dzień dobry\r\n"), ("text/rfc822-headers", "")],
)
def test_a_delivery_report_names_the_returned_mail(kind: str, body: str) -> None:
    report = parse_mail(DSN.format(kind=kind, body=body).encode())
    assert report.is_delivery_report and is_bounce(report)
    assert report.reported_message_ids == ("<SOL-1.ack@desk.pl>",)


def test_an_ordinary_mail_is_no_bounce() -> None:
    assert not is_bounce(mail("Auto-Submitted: auto-replied\r\n"))
    assert mail("").reported_message_ids == ()


AUTH = "mx.desk.pl"


@pytest.mark.parametrize(
    ("results", "verified"),
    [
        ([], False),
        ([f"{AUTH}; dmarc=pass header.from=acme.pl"], True),
        ([f"{AUTH}; dmarc=fail header.from=acme.pl"], False),
        (["evil.example; dmarc=pass header.from=acme.pl"], False),  # not our server
        ([f"{AUTH}; dkim=pass header.d=acme.pl"], True),
        ([f"{AUTH}; dkim=pass header.d=mail.acme.pl"], True),  # relaxed alignment
        ([f"{AUTH}; dkim=pass header.d=spammer.example"], False),
        ([f"{AUTH}; spf=pass smtp.mailfrom=jan@acme.pl"], True),
        ([f"{AUTH}; spf=pass smtp.mailfrom=bounce@spammer.example"], False),
        ([f"{AUTH}; spf=softfail smtp.mailfrom=jan@acme.pl"], False),
        ([f"{AUTH}; dmarc=fail", "evil.example; dkim=pass header.d=acme.pl"], False),
    ],
)
def test_sender_verification(results: list[str], verified: bool) -> None:
    assert sender_verified(results, authserv_id=AUTH, from_address="jan@acme.pl") is verified


NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ACME = Contract("acme", "ACME", Tier.VIP, ("jan@acme.pl",), (), date(2025, 1, 1))
TIERS = {
    tier: TierPolicy(ALWAYS, WorkingDuration(time=timedelta(hours=1)), WorkingDuration(2))
    for tier in Tier
}
POLICY = DeskPolicy("SOL", OWN, frozenset(), frozenset(), TIERS, authserv_id=AUTH)


@pytest.mark.parametrize(
    ("results", "tier"),
    [
        ((), Tier.POST_WARRANTY),  # no Authentication-Results at all
        ((f"{AUTH}; dmarc=fail header.from=acme.pl",), Tier.POST_WARRANTY),
        (("evil.example; dmarc=pass header.from=acme.pl",), Tier.POST_WARRANTY),
        ((f"{AUTH}; dmarc=pass header.from=acme.pl",), Tier.VIP),
    ],
)
def test_a_vip_tier_needs_a_verified_sender(results: tuple[str, ...], tier: Tier) -> None:
    spoofable = replace(mail(""), authentication_results=results)
    decision = decide(
        spoofable, now=NOW, contracts=[ACME], by_message_id={}, tagged=None, policy=POLICY
    )
    assert isinstance(decision, OpenTicket)
    assert decision.match.tier is tier
    assert (decision.unverified is ACME) is (tier is Tier.POST_WARRANTY)


def test_without_authserv_id_the_from_address_is_trusted() -> None:
    policy = replace(POLICY, authserv_id="")
    decision = decide(mail(""), now=NOW, contracts=[ACME], by_message_id={}, tagged=None,
                      policy=policy)  # fmt: skip
    assert isinstance(decision, OpenTicket) and decision.match.tier is Tier.VIP


def test_an_oversized_mail_keeps_its_text_and_loses_its_attachments() -> None:
    parts = (
        Attachment("a.pdf", "application/pdf", b"x" * 10),
        Attachment("b.txt", "text/plain", b"y"),
    )
    big = replace(mail(""), attachments=parts, size=1000)
    limited = apply_limits(big, SizeLimits(max_mail_size=999, max_attachment_size=100))
    assert limited.oversized
    assert limited.mail.attachments == ()
    assert limited.mail.body_text == big.body_text
    assert "over the limit" in limited.mail.defects[0]
    assert any("a.pdf" in note for note in limited.mail.defects)


def test_only_the_oversized_attachment_is_dropped_from_a_normal_mail() -> None:
    parts = (
        Attachment("a.pdf", "application/pdf", b"x" * 10),
        Attachment("b.txt", "text/plain", b"y"),
    )
    normal = replace(mail(""), attachments=parts, size=100)
    limited = apply_limits(normal, SizeLimits(max_mail_size=1000, max_attachment_size=5))
    assert not limited.oversized
    assert [a.filename for a in limited.mail.attachments] == ["b.txt"]
    assert limited.mail.defects == ("attachment a.pdf (10 B) not stored: over the size limit",)
    assert apply_limits(mail(""), SizeLimits(1000, 1000)).mail == mail("")


@pytest.mark.parametrize(
    "text",
    ["Pomoc\nBcc: victim@example.org", "Pomoc\r\nBcc: victim@example.org", "Pomoc\x85Bcc: x",
     "Pomoc\u2028Bcc: x", "Pomoc\x00\x1b[31m"],
)  # fmt: skip
def test_header_text_has_no_line_breaks_or_controls(text: str) -> None:
    cleaned = header_text(text)
    assert cleaned.startswith("Pomoc") and cleaned.isprintable()


def test_compose_cannot_be_made_to_add_a_header() -> None:
    raw = compose(
        OutboundMail(
            message_id="<1@desk.pl>", sender="support@desk.pl", recipients=("jan@acme.pl",),
            subject="[SOL-1] Pomoc\nBcc: victim@example.org", body_text="Tekst\n",
            extra_headers=(("X-Mailbot-Ticket", "SOL-1\r\nCc: victim@example.org"),),
        ),
        sender_name="Pomoc\r\nBcc: victim@example.org", date=NOW,
    )  # fmt: skip
    header_block = raw.split(b"\r\n\r\n")[0]
    names = [line.split(b":")[0].lower() for line in header_block.split(b"\r\n")
             if line and not line[:1].isspace()]  # fmt: skip
    assert b"bcc" not in names and b"cc" not in names
    assert names.count(b"to") == 1


def _composed(**fields: object) -> tuple[bytes, EmailMessage]:
    outbound = OutboundMail(**{  # type: ignore[arg-type]
        "message_id": "<1@desk.pl>", "sender": "support@desk.pl", "recipients": ("jan@acme.pl",),
        "subject": "[SOL-1] Drukarka", "body_text": "Tekst\n", **fields,
    })  # fmt: skip
    raw = compose(outbound, sender_name="Pomoc IT", date=NOW)
    return raw, email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_plain_ascii_headers_are_written_as_given_and_polish_ones_encoded() -> None:
    raw, parsed = _composed(recipients=("Jan Nowak <jan@acme.pl>",), subject="[SOL-1] Drukarka")
    header_lines = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert b"To: Jan Nowak <jan@acme.pl>" in header_lines
    assert b"Subject: [SOL-1] Drukarka" in header_lines
    assert b"From: Pomoc IT <support@desk.pl>" in header_lines

    raw, parsed = _composed(recipients=("jan@acme.pl",), subject="[SOL-1] Zażółć")
    [subject_line] = [line for line in raw.split(b"\r\n") if line.startswith(b"Subject:")]
    assert subject_line.startswith(b"Subject: [SOL-1] =?utf-8?") and subject_line.isascii()
    assert parsed["Subject"] == "[SOL-1] Zażółć"


def test_composed_mail_keeps_content_language_and_short_quoted_printable_lines() -> None:
    """set_content() used to drop every Content-* header set before it, Content-Language
    too, and folded quoted-printable lines at 998 characters (RFC 2045 allows 76)."""
    body = "Dzień dobry, " + "bardzo długi akapit " * 40 + "\n"
    raw, parsed = _composed(body_text=body, extra_headers=(("Content-Language", "pl"),))
    assert parsed["Content-Language"] == "pl"
    assert parsed.get_content_type() == "text/plain" and parsed.get_content_charset() == "utf-8"
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().replace("\r\n", "\n") == body
    assert max(len(line) for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")) <= 76
