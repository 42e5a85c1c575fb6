"""The customer's language (issue 18, item 5): Content-Language, the text, Polish when unsure,
and a contract's language above both."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailbot.core.language import (
    CONTENT_LANGUAGE,
    CONTRACT,
    DEFAULT,
    TEXT,
    LanguageChoice,
    customer_language,
    header_language,
    mail_language,
    text_signs,
)
from mailbot.core.limits import SizeLimits
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail
from mailbot.core.prepare import RawMail, prepare
from tests.factories import VIP


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("pl-PL", "pl"),
        ("pl", "pl"),
        ("pl_PL", "pl"),  # written with an underscore, as a locale name
        (" en-GB , pl-PL", "en"),  # the first tag counts
        ("pl-PL, en-US", "pl"),
        ("de", None),  # another language says nothing about ours
        ("de-DE, en", None),
        ("english", None),  # not a tag
        ("", None),
        (None, None),
    ],
)
def test_content_language_first_tag(value: str | None, expected: str | None) -> None:
    assert header_language(value) == expected


ENGLISH = (
    "Hello,\nour printer stopped working after the update. Could you please have a look? "
    "We need it for the invoices.\n\nBest regards,\nJohn Smith"
)
POLISH = (
    "Dzień dobry,\nod rana nie działa poczta w całej firmie. Prosimy o pilną pomoc.\n"
    "Pozdrawiam\nJan Kowalski"
)
POLISH_WITHOUT_LETTERS = (
    "Dzien dobry,\nmam problem z drukarka, nie drukuje od wczoraj. Prosze o pomoc.\nPozdrawiam, Jan"
)
# Polish text quoting an English error message: mixed, Polish.
MIXED = (
    "Dzień dobry, drukarka pokazuje komunikat 'The device is not ready, please check "
    "the cable'. Co robić?"
)
# English text signed by a Polish name with Polish letters: still English.
ENGLISH_FROM_LODZ = (
    "Hello, I am writing from the Łódź office. The scanner is not working since Monday. "
    "Thanks, Paweł Żółć"
)


@pytest.mark.parametrize(
    ("subject", "body", "language", "source"),
    [
        ("Printer not working", ENGLISH, "en", TEXT),
        ("Awaria poczty", POLISH, "pl", TEXT),
        ("Drukarka", POLISH_WITHOUT_LETTERS, "pl", TEXT),
        ("Błąd", MIXED, "pl", TEXT),
        ("Scanner", ENGLISH_FROM_LODZ, "en", TEXT),
        # Very short: too little to tell, Polish.
        ("Help", "Urgent!", "pl", DEFAULT),
        ("", "Thanks", "pl", DEFAULT),
        ("", "", "pl", DEFAULT),
        ("Faktura 12/2026", "Załącznik.", "pl", DEFAULT),  # one Polish sign
        # Words both languages write ("to", "do", "no", "on", "we", "a", "i", "IT") count
        # for neither.
        ("IT", "to do no on we a i", "pl", DEFAULT),
        # A Polish-looking letter or two in English IT mail ("drive Z", "w/") stay English.
        ("Drive Z", "Hello, the Z drive is not mapped w/ the new VPN. Thanks", "en", TEXT),
        # Letters inside data (uuencoded here) are no words, whatever they spell.
        (
            "Photo",
            "Could you please have a look at the attached photo?\nbegin 644 a.jpg\n"
            "M_]C_X``02D9)1@`!na`(za`ze``sa`od#__@`>04-$(%-Y<W1E;7,@1&EG:71A;\nend\n",
            "en",
            TEXT,
        ),
        # The subject counts too.
        ("Please help: the server is down", "", "en", TEXT),
    ],
)
def test_the_text_decides_without_a_header(
    subject: str, body: str, language: str, source: str
) -> None:
    choice = mail_language(content_language=None, subject=subject, body=body)
    assert (choice.language, choice.source) == (language, source)


def test_a_reply_is_judged_by_what_was_written_now_not_by_what_it_quotes() -> None:
    reply = (
        "Dziękuję, już działa. Pozdrawiam\n\n"
        "On Mon, 2 Nov 2026 at 10:00, Support <help@example.com> wrote:\n> " + ENGLISH
    )
    assert mail_language(content_language=None, subject="Re: printer", body=reply).language == (
        "pl"
    )
    english_over_polish = "Thank you, it works now. Regards\n\n> " + POLISH.replace("\n", "\n> ")
    choice = mail_language(content_language=None, subject="Re:", body=english_over_polish)
    assert choice.language == "en"


@pytest.mark.parametrize(
    ("header", "subject", "body", "expected"),
    [
        # The header decides when the text does not say otherwise.
        ("en-GB", "Drukarka", "", LanguageChoice("en", CONTENT_LANGUAGE, "en-GB")),
        ("pl-PL", "Printer", ENGLISH, LanguageChoice("pl", CONTENT_LANGUAGE, "pl-PL")),
        ("en-US", "Printer", ENGLISH, LanguageChoice("en", CONTENT_LANGUAGE, "en-US")),
        # Outlook's interface language on a mail written in Polish: the text wins.
        (
            "en-US",
            "Awaria",
            POLISH,
            LanguageChoice(
                "pl", TEXT, "0 English words, 5 Polish words, 3 with Polish letters, over Content-Language en-US"
            ),
        ),
        # Another language: the text decides, else the default.
        ("de", "Printer", ENGLISH, LanguageChoice("en", TEXT, "12 English words, 0 Polish words, 0 with Polish letters")),
        ("de-DE", "Drucker", "Kaputt.", LanguageChoice("pl", DEFAULT, "too little text to tell"
                                        " (0 English words, 0 Polish words, 0 with Polish letters)")),
    ],
)  # fmt: skip
def test_content_language_against_the_text(
    header: str, subject: str, body: str, expected: LanguageChoice
) -> None:
    assert mail_language(content_language=header, subject=subject, body=body) == expected


@pytest.mark.parametrize(
    ("contract_language", "header", "body", "expected"),
    [
        ("pl", "en-GB", ENGLISH, "pl"),  # the contract's explicit language wins
        ("en", "pl", POLISH, "en"),
        ("", None, ENGLISH, "en"),  # a contract without a language: the mail's
        ("", None, POLISH, "pl"),
    ],
)
def test_a_contracts_language_wins(
    contract_language: str, header: str | None, body: str, expected: str
) -> None:
    contract = replace(VIP, language=contract_language)
    mail = InboundMail(None, "jan@acme.pl", "", "", None, body_text=body, content_language=header)
    choice = customer_language(mail, contract)
    assert choice.language == expected
    assert (choice.source == CONTRACT) == bool(contract_language)
    assert customer_language(mail, None) == mail_language(
        content_language=header, subject="", body=body
    )
    # The language the parse read of the text stands in for reading it again, behind the
    # contract's as before.
    read = LanguageChoice("de", TEXT, "read at the parse")
    assert customer_language(mail, contract, written=read) == (
        choice if contract_language else read
    )


@pytest.mark.parametrize("body", [ENGLISH, POLISH, ""])
@pytest.mark.parametrize("header", [None, "en", "pl"])
def test_the_parse_reads_the_language_of_the_mail_it_keeps(header: str | None, body: str) -> None:
    head = f"Content-Language: {header}\r\n" if header else ""
    raw = (
        f"From: jan@acme.pl\r\nSubject: Zgłoszenie\r\n{head}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode() + body.encode()
    prepared = prepare(RawMail(raw), SizeLimits(10_000_000, 10_000_000))
    kept = prepared.mail
    assert prepared.language == mail_language(
        content_language=kept.content_language, subject=kept.subject, body=kept.body_text
    )


def test_the_reason_reads_for_the_log_and_inspect() -> None:
    assert LanguageChoice("en", CONTENT_LANGUAGE, "en-GB").describe() == (
        "language en (Content-Language en-GB)"
    )
    assert LanguageChoice("pl", CONTRACT, "language").reason() == "contract language"
    assert text_signs("the and Dzień nie Łódź").describe() == (
        "2 English words, 2 Polish words, 1 with Polish letters"
    )


def test_the_parser_keeps_the_first_content_language() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nContent-Language: en-GB\r\n"
        b"Content-Language: pl\r\n\r\nHello\r\n"
    )
    assert parse_mail(raw).content_language == "en-GB"
    assert (
        parse_mail(b"From: a@example.com\r\nSubject: x\r\n\r\nHello\r\n").content_language is None
    )


def test_a_long_text_is_read_only_in_part() -> None:
    """A 10 MB body costs no more than its first 20,000 characters."""
    assert text_signs("the " * 2_500_000).english == 5_000


def test_polish_sentences_make_a_polish_text_whatever_follows() -> None:
    """An English legal notice under a short Polish mail, longer than the mail itself."""
    notice = (
        "This e-mail and any attachments are confidential and may be privileged. If you are "
        "not the intended recipient, please notify the sender and delete it. Any use of it "
        "by anyone else is not allowed and may be unlawful. "
    ) * 3
    body = f"Dzień dobry,\nproszę o fakturę za listopad.\nPozdrawiam\nAnna Nowak\n\n{notice}"
    assert mail_language(content_language=None, subject="Faktura", body=body).language == "pl"
