"""The customer's language end to end (issue 18, item 5): Dovecot in, aiosmtpd out.

A sender without a contract, or whose contract sets no language, is answered in the
language the mail was written in, and the ticket keeps it for every later mail; a
contract's language wins over the mail's."""

from __future__ import annotations

import dataclasses

import pytest
from sqlmodel import Session

from mailbot.adapters import db as repo
from mailbot.usecases.desk import Desk
from mailbot.usecases.views import ticket_detail
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import NOW, VIP, customer_mail, deliver, run_once
from tests.usecases.test_conversation import customer_reply, last_of, parsed, staff_reply, ticket
from tests.usecases.test_lenient_sender import ledger
from tests.usecases.test_mail_safety import TRUSTED, with_settings

ENGLISH = (
    "Hello,\nour printer stopped working after the update. Could you please have a look?\n\n"
    "Best regards,\nJohn Smith\n"
)


def step(desk: Desk, imap: ImapPeer, raw: bytes) -> None:
    deliver(imap, raw)
    run_once(desk)


def test_an_english_mail_from_an_unknown_sender_is_answered_in_english_throughout(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    first = customer_mail("john@example.com", "Printer not working", ENGLISH, from_name="John")
    step(desk, imap_client, first)
    opened = ticket(desk)
    assert (opened.contract_id, opened.language) == (None, "en")
    # The log and the ledger say why; `tickets show` shows the language.
    [(_, reason)] = ledger(desk)
    assert (
        "no contract, language en (text: 10 English words, 0 Polish words, 0 with Polish letters)"
        in reason
    )
    detail = ticket_detail(desk.settings, "SOL-1", now=NOW)
    assert detail is not None and detail["language"] == "en"
    ack = last_of(smtp_sink, "ack")
    assert ack["Subject"] == "[SOL-1] We have received your request: Printer not working"
    assert ack["Content-Language"] == "en"
    assert "Hello John," in ack.get_content()

    # Staff answer in Polish; the customer's answer quotes it, in Polish too: the ticket's
    # language stays, and so does the language of the mails around the staff's text.
    notification = last_of(smtp_sink, "staff_new")
    step(desk, imap_client, staff_reply("Jaki model drukarki?", notification))
    question = last_of(smtp_sink, "relay")
    assert question["Content-Language"] == "en"
    answer = "Dzień dobry, to HP LaserJet, proszę o pomoc."
    step(desk, imap_client, customer_reply(answer, question, sender="john@example.com"))
    assert ticket(desk).language == "en"
    followup = last_of(smtp_sink, "staff_followup")
    step(desk, imap_client, staff_reply("#status resolved\nGotowe.", followup))
    solved = last_of(smtp_sink, "relay")
    assert solved["Content-Language"] == "en" and "Status of the request" in solved.get_content()


def test_a_polish_mail_and_a_short_one_are_answered_in_polish(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    deliver(imap_client, customer_mail("ktos@gmail.example", "Laptop", "Nie włącza się, pomocy."))
    deliver(imap_client, customer_mail("short@gmail.example", "Help", "Urgent!"))
    run_once(desk)
    acks = smtp_sink.of_kind("ack")
    assert len(acks) == 2
    assert all(last["Content-Language"] == "pl" for last in (parsed(ack.content) for ack in acks))


def ack_subject(desk: Desk, imap: ImapPeer, sink: SmtpSink, raw: bytes) -> str:
    """The subject of the one acknowledgement ``raw`` gets."""
    deliver(imap, raw)
    run_once(desk)
    [ack] = [parsed(sent.content) for sent in sink.of_kind("ack")]
    return str(ack["Subject"])


def set_vip_language(desk: Desk, language: str) -> None:
    with Session(desk.engine) as session:
        repo.import_contracts([dataclasses.replace(VIP, language=language)], session=session)
        session.commit()


def test_content_language_decides_a_short_mail(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    raw = customer_mail("ann@example.co.uk", "VPN", "Down.", Content_Language="en-GB")
    assert ack_subject(desk, imap_client, smtp_sink, raw).startswith(
        "[SOL-1] We have received your request"
    )


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        # The contract's language wins over the English text and its Content-Language.
        ("pl", "[SOL-1] Przyjęliśmy zgłoszenie: Server down"),
        # A contract without one follows the mail.
        ("", "[SOL-1] We have received your request: Server down"),
    ],
)
def test_a_contracts_language_before_the_mails(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, language: str, subject: str
) -> None:
    set_vip_language(desk, language)
    raw = customer_mail("jan@acme.pl", "Server down", ENGLISH, Content_Language="en-US")
    assert ack_subject(desk, imap_client, smtp_sink, raw) == subject
    assert (ticket(desk).contract_id, ticket(desk).language) == ("acme-vip", language or "en")


def test_an_unverified_sender_gets_the_language_of_the_contract_its_address_names(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """The VIP contract needs the trusted server's word, which this mail lacks: the ticket
    opens at post-warranty without the contract, but in the contract's language."""
    guarded = with_settings(desk, authserv_id=TRUSTED)
    set_vip_language(desk, "en")
    deliver(imap_client, customer_mail("jan@acme.pl", "Serwer", "Dzień dobry, serwer nie działa."))
    run_once(guarded)
    opened = ticket(guarded)
    assert (opened.tier, opened.unverified_contract_id, opened.language) == (
        "post_warranty",
        "acme-vip",
        "en",
    )
