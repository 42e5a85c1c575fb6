"""The parser's bounds (mailbot.core.parse_bounds) and the fallback reader: tables, no servers.

What the stdlib's header parser may be given, how deep a mail is opened, and what
the bounded reader makes of a mail the full parse did not read.
"""

from __future__ import annotations

import base64
import email.policy
from email.feedparser import FeedParser

import pytest

from mailbot.core.decide import Quarantine
from mailbot.core.mail import InboundMail
from mailbot.core.parse_bounds import (
    BUDGET,
    MAX_DEPTH,
    MAX_FIELD,
    MAX_STRUCTURED,
    Bounds,
    parse_bounded,
)
from mailbot.core.parsing import parse_mail, read_leniently
from tests.core.test_decide import run as decide_for

DEADLINE = "parse deadline of 10 s exceeded"


def mail(*headers: str | bytes, body: bytes = b"Dzien dobry\r\n") -> bytes:
    lines = [h if isinstance(h, bytes) else h.encode() for h in headers]
    return b"\r\n".join([b"From: Jan <jan@acme.pl>", b"Subject: Drukarka", *lines, b"", body])


def poison(quotes: int) -> bytes:
    """The issue's mail: 16,000 quotes cost the stdlib 7.6 s, 70,000 about 145 s."""
    return mail(b"Content-Type: text/plain; name=" + b'"' * quotes)


def nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ndeep inside"
    for level in range(depth):
        boundary = f"B{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--'
            + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip
    return b"From: Jan <jan@acme.pl>\r\nSubject: Zagniezdzony\r\n" + body


# -- what reaches policy.default's parser -------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        pytest.param("x" * (MAX_STRUCTURED + 1), f"{MAX_STRUCTURED + 1} characters", id="long"),
        pytest.param('text/plain; name="' + '"' * 65, "a run of more than 64 quotes", id="quotes"),
        pytest.param("text/plain" + "; a=b" * 101, "more than 100 parameters", id="parameters"),
    ],
)
def test_a_costly_field_is_handed_out_as_text(value: str, why: str) -> None:
    bounds = Bounds()
    read = bounds.fetch(email.policy.default, "Content-Type", value)
    assert type(read) is str and read == value
    assert bounds.notes == [f"content-type: {why}, read leniently"]
    assert bounds.spent == 0


def test_a_field_is_parsed_once_and_the_budget_runs_out() -> None:
    bounds = Bounds()
    value = "text/plain; name=" + "a" * (MAX_STRUCTURED - 17)
    first = bounds.fetch(email.policy.default, "Content-Type", value)
    assert first.params["name"].startswith("aaa")  # a parsed header
    assert bounds.fetch(email.policy.default, "Content-Type", value) is first
    assert bounds.spent == MAX_STRUCTURED**2
    fields = [f"text/plain; name={n:04}" + "a" * (MAX_STRUCTURED - 21) for n in range(100)]
    read = [bounds.fetch(email.policy.default, "Content-Type", v) for v in fields]
    assert bounds.spent <= BUDGET
    assert type(read[-1]) is str, "past the budget, fields are read leniently"
    assert "content-type: the mail's budget for header parsing is spent, read leniently" in (
        bounds.notes
    )


def test_an_over_long_field_is_cut() -> None:
    bounds = Bounds()
    msg = parse_bounded(mail(b"X-Junk: " + b"y" * (MAX_FIELD + 10)), bounds)
    assert len(str(msg["x-junk"])) == MAX_FIELD
    assert f"x-junk: header of {MAX_FIELD + 10} characters cut to {MAX_FIELD}" in bounds.notes


@pytest.mark.parametrize("quotes", [2_000, 16_000, 110_000])
def test_the_poison_mail_is_read_with_a_note(quotes: int) -> None:
    parsed = parse_mail(poison(quotes))
    assert (parsed.from_address, parsed.subject) == ("jan@acme.pl", "Drukarka")
    assert any("read leniently" in note for note in parsed.defects), parsed.defects
    assert not parsed.unparsed


def test_costly_parameters_and_addresses_are_still_read_leniently() -> None:
    padding = "; x-pad=" + "p" * MAX_STRUCTURED
    parsed = parse_mail(
        mail(
            "To: " + ", ".join(f"u{n}@acme.pl" for n in range(400)),
            "Content-Type: multipart/mixed; boundary=B",
            body=(
                b"--B\r\nContent-Type: text/plain\r\n\r\nTekst\r\n--B\r\n"
                b"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
                b' filename="faktura.pdf"' + padding.encode() + b"\r\n\r\n%PDF\r\n--B--\r\n"
            ),
        )
    )
    assert parsed.body_text == "Tekst"
    assert [a.filename for a in parsed.attachments] == ["faktura.pdf"]
    assert len(parsed.to) == 400 and parsed.to[-1] == "u399@acme.pl"
    assert any(note.startswith("to: ") and "read leniently" in note for note in parsed.defects)


# -- nesting ---------------------------------------------------------------------------


def test_the_feed_parser_hook_is_where_parse_bounds_expects_it() -> None:
    """parse_bounds relies on two private names of email.feedparser; a new Python that
    renames them fails here, not on a hostile mail."""
    parser = FeedParser()
    assert callable(getattr(parser, "_parse_headers", None))
    assert isinstance(vars(parser).get("_msgstack"), list)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 1_000, 3_000])
def test_deep_nesting_is_opened_only_so_far_and_says_so(depth: int) -> None:
    parsed = parse_mail(nested(depth))
    # Not "no sender address": the mail is read, its deep parts kept unopened.
    assert (parsed.from_address, parsed.subject, parsed.unparsed) == (
        "jan@acme.pl",
        "Zagniezdzony",
        "",
    )
    assert any(f"deeper than {MAX_DEPTH} levels" in note for note in parsed.defects)
    assert any("nested too deep" in note for note in parsed.defects)
    assert b"deep inside" in b"".join(a.data for a in parsed.attachments)


def test_shallow_nesting_is_opened_whole() -> None:
    parsed = parse_mail(nested(10))
    assert parsed.body_text == "deep inside"
    assert not parsed.defects


# -- the fallback reader ----------------------------------------------------------------


def test_the_fallback_reads_sender_subject_and_first_text() -> None:
    text = base64.b64encode("Zażółć gęślą jaźń\r\n".encode()).decode()
    raw = mail(
        "Subject: =?utf-8?q?Awaria_serwera?=",
        "Message-ID: <a1@acme.pl>",
        "In-Reply-To: <x@desk.pl>",
        "Reply-To: Biuro <biuro@acme.pl>",
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        'Content-Type: multipart/alternative; boundary="B"; name=' + '"' * 100_000,
        body=(
            b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + text.encode() + b"\r\n--B--\r\n"
        ),
    ).replace(b"Subject: Drukarka\r\n", b"")
    read = read_leniently(raw, DEADLINE)
    assert (read.from_address, read.from_name) == ("jan@acme.pl", "Jan")
    assert read.subject == "Awaria serwera"
    assert (read.message_id, read.in_reply_to) == ("<a1@acme.pl>", "<x@desk.pl>")
    assert read.reply_to == ("biuro@acme.pl",)
    assert (read.auto_submitted, read.autoreply_headers) == ("auto-replied", ("x-autoreply",))
    assert read.body_text == "Zażółć gęślą jaźń"
    assert read.unparsed == DEADLINE and read.size == len(raw) and not read.attachments
    assert read.defects[0].startswith(f"{DEADLINE}: only sender, subject and first text")


def test_the_fallback_strips_html_and_reads_past_a_huge_header() -> None:
    raw = mail(b"Content-Type: text/html", b"X-Junk: " + b"z" * 300_000, body=b"<p>Pomocy</p>")
    read = read_leniently(raw, DEADLINE)
    assert (read.from_address, read.body_text) == ("jan@acme.pl", "Pomocy")


@pytest.mark.parametrize(
    ("from_value", "address", "name", "robot"),
    [
        pytest.param(
            b"Dzia\xc5\x82 IT firma@example.pl",
            "firma@example.pl",
            "Dział IT",
            "",
            id="unquoted-name",
        ),
        pytest.param(
            b'"x@evil.com" <jan@acme.pl>', "jan@acme.pl", "x@evil.com", "", id="address-as-name"
        ),
        pytest.param(b"anna.nowak@example.pl.", "anna.nowak@example.pl", "", "", id="trailing-dot"),
        pytest.param(
            b"=?utf-8?q?Pawe=C5=82?= <p@acme.pl>", "p@acme.pl", "Paweł", "", id="encoded-name"
        ),
        pytest.param(b"MAILER-DAEMON", None, "", "mailer-daemon", id="bare-robot"),
    ],
)
def test_the_fallback_reads_a_sender_as_the_strict_parse_s_fallback_does(
    from_value: bytes, address: str | None, name: str, robot: str
) -> None:
    """One reading of a lenient sender: mailbot.core.lenient_sender.read_sender."""
    read = read_leniently(b"From: " + from_value + b"\r\n\r\nx", DEADLINE)
    assert (read.from_address, read.from_name, read.robot_sender) == (address, name, robot)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff\x00garbage", b"From: <<<@@@>>>\r\n\r\n", b"From:" + b'"' * 200_000, nested(3_000)],
)
def test_the_fallback_never_raises(raw: bytes) -> None:
    read = read_leniently(raw, DEADLINE)
    assert isinstance(read, InboundMail) and read.unparsed == DEADLINE
    for text in (read.subject, read.from_name, read.body_text, *read.defects):
        text.encode("utf-8")


def test_no_sender_after_the_deadline_is_quarantined_for_the_deadline() -> None:
    decision = decide_for(read_leniently(b"Subject: bez nadawcy\r\n\r\nx", DEADLINE))
    assert decision == Quarantine(f"{DEADLINE}; the fallback reader found no sender address")
