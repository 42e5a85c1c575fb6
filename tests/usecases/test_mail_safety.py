"""Issue 5 end to end against Dovecot and aiosmtpd: size limits, bounces, the per-sender cap,
mail loops with an auto-replying peer, spoofed VIPs and header injection."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import AttachmentRow, LedgerRow, MessageRow, OutboxRow, TicketRow
from mailbot.config import LimitsSettings
from mailbot.contracts_file import load_contracts_file
from mailbot.usecases.desk import Desk
from tests.conftest import ImapPeer, RecordingHandler, SmtpSink, free_port
from tests.factories import STAFF, SUPPORT, customer_mail, deliver, run_once

TRUSTED = "mx.desk.example.pl"


def rows(desk: Desk, table: Any) -> list[Any]:
    with Session(desk.engine) as session:
        return list(session.exec(select(table)).all())


def with_settings(desk: Desk, **support: Any) -> Desk:
    settings = desk.settings
    limits = support.pop("limits", settings.limits)
    return replace(
        desk,
        settings=replace(settings, support=replace(settings.support, **support), limits=limits),
    )


def headers_of(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


# --- limits ------------------------------------------------------------------------------


def big_mail(sender: str, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Jan <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = "Skan umowy"
    msg["Message-ID"] = "<big@acme.pl>"
    msg.set_content("W załączniku skan, proszę o pomoc.\n")
    msg.add_attachment(b"\x89PNG" + b"\xab" * size, maintype="image", subtype="png",
                       filename="skan.png")  # fmt: skip
    return msg.as_bytes(policy=email.policy.SMTP)


def test_a_mail_over_the_size_limit_opens_its_ticket_and_waits_in_quarantine(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    raw = big_mail("jan@acme.pl", 20 * 1024 * 1024)  # base64: about 27 MB, over the 25 MB default
    assert len(raw) > desk.settings.limits.max_mail_size
    deliver(imap_client, raw)

    run_once(desk)

    [ticket] = rows(desk, TicketRow)
    [message] = [m for m in rows(desk, MessageRow) if m.direction == "in"]
    assert "proszę o pomoc" in message.body_text
    assert "over the limit" in message.note and "skan.png" in message.note
    assert rows(desk, AttachmentRow) == []
    assert not desk.store.root.exists() or not any(desk.store.root.rglob("*.*"))
    [entry] = rows(desk, LedgerRow)
    assert (entry.outcome, entry.ticket_id) == ("oversized", ticket.id)
    assert len(smtp_sink.of_kind("ack")) == 1  # the customer still hears from us
    assert imap_client.messages("INBOX") == []
    assert imap_client.messages("Processed") == []
    [(_, kept)] = imap_client.messages("Quarantine")
    assert kept == raw

    run_once(desk)  # nothing left to do, nothing twice
    assert len(rows(desk, TicketRow)) == 1 and len(smtp_sink.of_kind("ack")) == 1


def test_an_attachment_over_its_limit_is_not_stored(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    small = with_settings(desk, limits=LimitsSettings(max_attachment_size=1024))
    deliver(imap_client, big_mail("jan@acme.pl", 4096))

    run_once(small)

    assert rows(small, AttachmentRow) == []
    [message] = [m for m in rows(small, MessageRow) if m.direction == "in"]
    assert "skan.png" in message.note and "not stored" in message.note
    assert len(imap_client.messages("Processed")) == 1


# --- bounces -------------------------------------------------------------------------------


def delivery_report(returned: bytes, *, headers_only: bool) -> bytes:
    original = returned.split(b"\r\n\r\n")[0] + b"\r\n\r\n" if headers_only else returned
    kind = b"text/rfc822-headers" if headers_only else b"message/rfc822"
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.acme.pl>\r\n"
        b"To: support@desk.example.pl\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Return-Path: <>\r\nMessage-ID: <dsn-1@mx.acme.pl>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at mx.acme.pl.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.pl\r\n"
        b"\r\nFinal-Recipient: rfc822; jan@acme.pl\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <jan@acme.pl>: mailbox unknown\r\n"
        b"--B\r\nContent-Type: " + kind + b"\r\n\r\n" + original + b"\r\n--B--\r\n"
    )


@pytest.mark.parametrize("headers_only", [False, True], ids=["message", "headers"])
def test_a_bounce_of_our_acknowledgement_marks_it_failed_and_tells_staff(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, headers_only: bool
) -> None:
    deliver(imap_client, customer_mail("jan@acme.pl", "Drukarka"))
    run_once(desk)
    [ack] = smtp_sink.of_kind("ack")

    deliver(imap_client, delivery_report(ack.content, headers_only=headers_only))
    run_once(desk)

    assert len(rows(desk, TicketRow)) == 1  # the report opened no ticket
    [row] = [r for r in rows(desk, OutboxRow) if r.kind == "ack"]
    assert row.status == "failed"
    assert "bounced" in row.last_error and "550 5.1.1" in row.last_error
    [told] = smtp_sink.of_kind("staff_bounce")
    assert told.rcpt_tos == STAFF
    assert "550 5.1.1" in headers_of(told.content).get_content()
    assert [e.outcome for e in rows(desk, LedgerRow)] == ["ticket", "bounce"]
    assert len(imap_client.messages("Processed")) == 2


def test_a_bounce_about_a_stranger_mail_is_quarantined_as_a_bounce(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, delivery_report(customer_mail("x@y.pl", "Spam"), headers_only=True))
    run_once(desk)
    assert rows(desk, TicketRow) == []
    assert smtp_sink.messages == []
    [entry] = rows(desk, LedgerRow)
    assert entry.outcome == "quarantined"
    assert "a bounce about no mail we sent (jan@acme.pl)" in entry.reason
    assert len(imap_client.messages("Quarantine")) == 1


# --- the per-sender cap -----------------------------------------------------------------------


def test_past_five_automatic_mails_an_hour_tickets_open_but_no_mail_goes(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(7):
        deliver(imap_client, customer_mail("ktos@firma.pl", f"Problem {n}"))

    run_once(desk)

    assert len(rows(desk, TicketRow)) == 7
    assert len(smtp_sink.of_kind("ack")) == 5
    assert sum("ktos@firma.pl" in r.message and "cap 5" in r.message for r in caplog.records) == 2
    deliver(imap_client, customer_mail("inny@firma.pl", "Problem"))
    run_once(desk)
    assert len(smtp_sink.of_kind("ack")) == 6  # the cap is per address


# --- a mail loop with an auto-replying peer ------------------------------------------------------


class AutoReplier(RecordingHandler):
    """An SMTP peer that answers every mail to the customer the way a robot might."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style
        self.replies: list[bytes] = []
        self._replies_lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if "jan@acme.pl" in envelope.rcpt_tos:
            with self._replies_lock:
                self.replies.append(self.reply_to(bytes(envelope.original_content)))
        return answer

    def reply_to(self, raw: bytes) -> bytes:
        original = headers_of(raw)
        headers: dict[str, str] = {}
        subject = f"Out of office: {original['Subject']}"
        if self.style == "threaded":  # a naive robot: no marker, but In-Reply-To
            headers = {"In_Reply_To": str(original["Message-ID"])}
            subject = f"Re: {original['Subject']}"
        elif self.style == "x-autoreply":  # no threading, a fresh subject, X-Autoreply
            headers = {"X_Autoreply": "yes"}
            subject = f"Automatic reply {len(self.replies)}"
        elif self.style == "auto-submitted":
            headers = {"Auto_Submitted": "auto-replied"}
            subject = f"Abwesenheitsnotiz {len(self.replies)}"
        elif self.style == "copies-x-loop":  # copies our loop marker into its answer
            headers = {"X_Loop": str(original["X-Loop"])}
            subject = f"Auto: {len(self.replies)}"
        # "tagged": no marker and no threading, only our [SOL-n] tag kept in the subject
        return customer_mail("jan@acme.pl", subject, "Jestem na urlopie.\n", **headers)

    def take_replies(self) -> list[bytes]:
        with self._replies_lock:
            taken, self.replies = self.replies, []
        return taken


@pytest.mark.parametrize(
    "style", ["threaded", "tagged", "x-autoreply", "auto-submitted", "copies-x-loop"]
)
def test_an_auto_replying_peer_gets_exactly_one_acknowledgement(
    desk: Desk, imap_client: ImapPeer, style: str
) -> None:
    peer = AutoReplier(style)
    controller = Controller(peer, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp = replace(desk.settings.smtp, host="127.0.0.1", port=controller.port)
        looped = replace(desk, settings=replace(desk.settings, smtp=smtp))
        deliver(imap_client, customer_mail("jan@acme.pl", "Serwer leży"))
        for _round in range(6):
            run_once(looped)
            for reply in peer.take_replies():
                deliver(imap_client, reply)
    finally:
        controller.stop()

    to_customer = [m for m in peer.messages if "jan@acme.pl" in m.rcpt_tos]
    assert len(to_customer) == 1
    assert b"X-Mailbot-Kind: ack" in to_customer[0].content
    assert imap_client.messages("INBOX") == []


# --- spoofed VIPs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "tier"),
    [
        ("", "post_warranty"),
        (f"{TRUSTED}; dmarc=fail header.from=acme.pl", "post_warranty"),
        ("mx.spammer.example; dmarc=pass header.from=acme.pl", "post_warranty"),
        (f"{TRUSTED}; dkim=pass header.d=acme.pl; dmarc=pass header.from=acme.pl", "vip"),
    ],
    ids=["none", "dmarc-fail", "untrusted-pass", "trusted-pass"],
)
def test_a_vip_address_gets_vip_only_with_trusted_authentication(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, results: str, tier: str
) -> None:
    guarded = with_settings(desk, authserv_id=TRUSTED)
    headers = {"Authentication_Results": results} if results else {}
    deliver(imap_client, customer_mail("jan@acme.pl", "Pilne", **headers))

    run_once(guarded)

    [ticket] = rows(guarded, TicketRow)
    assert ticket.tier == tier
    [message] = [m for m in rows(guarded, MessageRow) if m.direction == "in"]
    warned = smtp_sink.of_kind("staff_unverified_sender")
    if tier == "vip":
        assert ticket.contract_id == "acme-vip" and warned == [] and message.note == ""
    else:
        assert ticket.contract_id is None
        assert message.note.startswith("unverified")
        [told] = warned
        assert told.rcpt_tos == STAFF


@pytest.mark.parametrize(
    ("results", "tier"),
    [
        ("", "post_warranty"),
        (
            f"{TRUSTED}; dmarc=fail header.from=klos.pl; spf=softfail smtp.mailfrom=klos.pl",
            "post_warranty",
        ),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=ola@klos.pl", "warranty"),
    ],
    ids=["none", "dmarc-fail", "trusted-spf-pass"],
)
def test_a_warranty_contract_can_require_an_authenticated_sender(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, tmp_path: Path, results: str, tier: str
) -> None:
    # The warranty contract says so in the contracts file; the VIP default is off, so it
    # is the contract's own key at work, not vip_requires_authentication.
    contracts = tmp_path / "contracts.toml"
    contracts.write_text(
        '[[contract]]\nid = "klos-gw"\ncustomer = "Piekarnia Kłos"\ntier = "warranty"\n'
        'domains = ["klos.pl"]\nvalid_from = 2025-01-01\nrequire_authentication = true\n',
        encoding="utf-8",
    )
    with Session(desk.engine) as session:
        assert repo.import_contracts(load_contracts_file(contracts), session=session).updated
        session.commit()
    guarded = with_settings(desk, authserv_id=TRUSTED, vip_requires_authentication=False)
    headers = {"Authentication_Results": results} if results else {}
    deliver(imap_client, customer_mail("ola@klos.pl", "Piec nie grzeje", **headers))

    run_once(guarded)

    [ticket] = rows(guarded, TicketRow)
    assert ticket.tier == tier
    [message] = [m for m in rows(guarded, MessageRow) if m.direction == "in"]
    warned = smtp_sink.of_kind("staff_unverified_sender")
    [ack] = smtp_sink.of_kind("ack")
    ack_text = headers_of(ack.content).get_content()
    if tier == "warranty":
        assert ticket.contract_id == "klos-gw" and warned == [] and message.note == ""
        assert "Piekarnia Kłos" in ack_text
    else:
        # Flagged and told to staff; the sender learns nothing of the contract it named.
        assert ticket.contract_id is None
        assert message.note.startswith("unverified") and "klos-gw" in message.note
        [told] = warned
        assert told.rcpt_tos == STAFF and b"klos-gw" in told.content
        assert ack.rcpt_tos == ("ola@klos.pl",)
        assert "Piekarnia" not in ack_text and "pogwarancyjn" in ack_text


# --- header injection (CVE-2024-6923) ------------------------------------------------------------


def test_an_encoded_newline_in_the_subject_adds_no_header_or_recipient(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    raw = (
        b"From: Jan <jan@acme.pl>\r\nTo: support@desk.example.pl\r\n"
        b"Subject: =?utf-8?q?Pomoc=0ABcc=3A_victim=40example=2Eorg?=\r\n"
        b"Message-ID: <cve@acme.pl>\r\nDate: Wed, 18 Nov 2026 10:00:00 +0100\r\n\r\nTekst\r\n"
    )
    deliver(imap_client, raw)

    run_once(desk)

    [ack] = smtp_sink.of_kind("ack")
    assert ack.rcpt_tos == ("jan@acme.pl",)
    parsed = headers_of(ack.content)
    assert parsed["Bcc"] is None and parsed.get_all("To") == ["jan@acme.pl"]
    assert "victim@example.org" in parsed["Subject"]  # kept as text, on one line
    for sent in smtp_sink.messages:
        header_block = sent.content.split(b"\r\n\r\n")[0]
        assert not re.search(rb"^bcc:", header_block, re.IGNORECASE | re.MULTILINE)
        assert "victim@example.org" not in sent.rcpt_tos
