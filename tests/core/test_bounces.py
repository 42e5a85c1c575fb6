"""mailbot.core.bounces: bounce notices of every family, read by parse_mail (pure)."""

from __future__ import annotations

import pytest

from mailbot.core import bounces
from mailbot.core.automation import is_bounce
from mailbot.core.bounces import diagnosis, says_delayed
from mailbot.core.parsing import parse_mail
from tests.bounce_samples import FAMILIES, LEFT_OUT, bounce
from tests.factories import SUPPORT, customer_mail

RCPT = "jan@acme.pl"
ACK_ID = "<ack-1@desk.example.pl>"


def returned() -> bytes:
    """Our acknowledgement as it left: the mail the notices return."""
    return customer_mail(SUPPORT, "Re: [SOL-1] Drukarka", "Przyjęliśmy zgłoszenie.\n",
                         Message_ID=ACK_ID)  # fmt: skip


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_names_the_failed_address_and_the_returned_mail(family: str) -> None:
    kind = FAMILIES[family]
    mail = parse_mail(bounce(family, RCPT, returned()))

    assert is_bounce(mail)
    failed = (mail.delayed_addresses, mail.bounced_addresses)
    assert failed == (((RCPT,), ()) if kind.delayed else ((), (RCPT,)))
    assert (ACK_ID in mail.reported_message_ids) is kind.quotes_message_id
    assert diagnosis(mail)
    assert not any("bounce" in defect for defect in mail.defects)


@pytest.mark.parametrize(
    ("family", "said"),
    [
        ("qmail", "550 5.1.1 <jan@acme.pl>: Recipient address rejected: User unknown"),
        ("exim", "550 5.1.1 <jan@acme.pl>: Recipient address rejected: User unknown"),
        ("exim-delay", "451 4.7.1 Greylisted, try again later"),
        ("postfix-plain", "in local recipient table (in reply to RCPT TO command)"),
        ("exchange", "The recipient name is not recognized"),
        ("domino", "User jan@acme.pl (jan@acme.pl) not listed in Domino Directory"),
        ("yahoo", "554 delivery error: dd This user doesn't have a yahoo.com account"),
        ("ses", "smtp; 550 5.1.1 user unknown"),
    ],
)
def test_the_servers_text_is_the_diagnosis(family: str, said: str) -> None:
    assert said in diagnosis(parse_mail(bounce(family, RCPT, returned())))


@pytest.mark.parametrize(
    "family",
    [pytest.param(name, marks=pytest.mark.xfail(reason=why, strict=True))
     for name, (_, why) in sorted(LEFT_OUT.items())],
)  # fmt: skip
def test_formats_the_detectors_do_not_know(family: str) -> None:
    # Those that quote our mail are still linked by its Message-ID (the unit test below);
    # the failed address is what is not read.
    assert parse_mail(bounce(family, RCPT, returned())).bounced_addresses == (RCPT,)


def test_an_unknown_format_quoting_our_mail_is_still_linked_by_its_message_id() -> None:
    mail = parse_mail(bounce("opensmtpd", RCPT, returned()))
    assert is_bounce(mail) and ACK_ID in mail.reported_message_ids


def test_a_customers_mail_quoting_a_bounce_is_not_scanned() -> None:
    text = (
        "Dostałem to od serwera, co robić?\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<anna@firma.pl>\n    (reason: 550 5.1.1 User unknown)\n"
        "   ----- Transcript of session follows -----\n"
    )
    mail = parse_mail(customer_mail("jan@acme.pl", "Fwd: Returned mail", text))
    assert (mail.bounced_addresses, mail.delayed_addresses) == ((), ())
    assert not is_bounce(mail)


def test_a_detector_that_raises_means_not_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_msg: object) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(bounces, "all_failures", broken)
    mail = parse_mail(bounce("exim", RCPT, returned()))
    assert (mail.bounced_addresses, mail.delayed_addresses) == ((), ())
    assert "bounce detectors gave up: IndexError: list index out of range" in mail.defects
    assert ACK_ID in mail.reported_message_ids  # the quoted id is read all the same


def test_what_is_no_plain_address_is_dropped() -> None:
    text = bounce("sendmail", "tom@example.com in consectetur dolor", returned())
    assert parse_mail(text).bounced_addresses == ()


def test_a_dsn_action_delayed_is_temporary() -> None:
    report = (
        b"From: MAILER-DAEMON@mx.acme.pl\r\nReturn-Path: <>\r\nSubject: Delayed Mail\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        b'boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nStill trying.\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.pl\r\n"
        b"\r\nFinal-Recipient: rfc822; jan@acme.pl\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
        b"--B--\r\n"
    )
    mail = parse_mail(report)
    assert (mail.delayed_addresses, mail.bounced_addresses) == ((RCPT,), ())


@pytest.mark.parametrize(
    ("subject", "text", "delayed"),
    [
        ("Warning: could not send message for past 4 hours", "", True),
        ("Delayed Mail (still being retried)", "", True),
        ("Undelivered Mail", "No action is required on your part.", True),
        ("Undelivered Mail", "This is a permanent error; I've given up.", False),
        ("Returned mail: User unknown", "550 5.1.1 User unknown", False),
    ],
)
def test_delay_wording(subject: str, text: str, delayed: bool) -> None:
    raw = customer_mail("mailer-daemon@mx.acme.pl", subject, text + "\n")
    assert says_delayed(parse_mail(raw)) is delayed


def test_a_big_mail_with_a_bounces_signs_keeps_only_its_returned_message_id() -> None:
    raw = bounce("exim", RCPT, returned()) + b"x" * (600 * 1024) + b"\r\n"
    mail = parse_mail(raw)
    assert mail.bounced_addresses == ()
    assert ACK_ID in mail.reported_message_ids
    assert any("detectors not run" in defect for defect in mail.defects)
