"""Composing outgoing mail: the fast writer says what the email package would, and every
subject reads back as it was written.

``compose`` writes the bytes itself when every header is plain or a subject it encoded
(``encode_text``), and leaves anything else to the email package's generator. The
properties below hold the two to the same bytes, so the fast path can never be the
cause of a difference a mail client sees.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.compose import (
    _generated,
    _headers,
    _quoted_printable,
    _writable,
    _written,
    compose,
    encode_text,
    header_text,
)
from mailbot.core.mail import OutboundMail

PROPERTY = settings(max_examples=300, deadline=None, database=None)
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)

# Polish and ASCII text with the characters that need care in a header: spaces (runs of
# them too), "=?", "_", "?", quotes, tabs and controls (header_text turns those into spaces).
header_texts = st.lists(
    st.sampled_from([*"ab ZŻółćęąś=?_\"'()[]<>@,;:.-\t\x01\u2028", "SOL-12", "x" * 80]),
    max_size=60,
).map("".join)
addresses = st.sampled_from(
    ["jan@acme.pl", "Jan Nowak <jan@acme.pl>", "\"Nowak, Jan\" <jan@acme.pl>",
     "Łucja <lucja@acme.pl>", "a.b+c@sub.acme.pl"]
)  # fmt: skip


def outbound(
    subject: str, *, recipient: str = "jan@acme.pl", body: str = "Tekst\n"
) -> OutboundMail:
    return OutboundMail(
        message_id="<1@desk.pl>", sender="support@desk.pl", recipients=(recipient,),
        subject=subject, body_text=body, in_reply_to="<q@acme.pl>",
        references=("<p@acme.pl>", "<q@acme.pl>"),
        extra_headers=(("Auto-Submitted", "auto-replied"), ("Content-Language", "pl")),
    )  # fmt: skip


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


@PROPERTY
@given(subject=header_texts, recipient=addresses, name=st.sampled_from(["Pomoc IT", "Pomoc ĄĘ"]))
def test_the_fast_writer_gives_the_bytes_of_the_email_package(
    subject: str, recipient: str, name: str
) -> None:
    mail = outbound(subject, recipient=recipient, body="Dzień dobry\n" + subject + "\n")
    headers = _headers(mail, sender_name=name, date=NOW)
    body = _quoted_printable(mail.body_text)
    # A name outside ASCII in the address makes it international (RFC 6532): UTF-8 headers.
    generated = _generated(headers, body, international=not recipient.isascii())
    if recipient.isascii() and all(_writable(n, v) for n, v in headers):
        assert _written(headers, body) == generated
    assert compose(mail, sender_name=name, date=NOW) == generated


@PROPERTY
@given(subject=header_texts)
def test_a_subject_reads_back_as_written_in_lines_of_at_most_78(subject: str) -> None:
    raw = compose(outbound(subject), sender_name="Pomoc IT", date=NOW)
    head = raw.split(b"\r\n\r\n")[0]
    assert head.isascii()
    subject_lines = head.split(b"\r\nDate:")[0].split(b"Subject:")[1].split(b"\r\n")
    # A first line may hold one encoded word after "Subject: " (at most 9 + 75).
    assert max(len(line) for line in subject_lines) <= 84
    assert parsed(raw)["Subject"] == header_text(subject)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[SOL-1] Drukarka", "[SOL-1] Drukarka"),
        ("[SOL-1] Zażółć gęślą", "[SOL-1] =?utf-8?q?Za=C5=BC=C3=B3=C5=82=C4=87_g=C4=99=C5=9Bl=C4=85?="),
        # Text that looks like an encoded word is encoded, so that it reads as written.
        ("Re: =?utf-8?q?x?=", "Re: =?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?="),
    ],
)  # fmt: skip
def test_encode_text_keeps_plain_words_and_encodes_runs_of_the_others(
    subject: str, expected: str
) -> None:
    assert encode_text(subject, name="Subject") == expected
