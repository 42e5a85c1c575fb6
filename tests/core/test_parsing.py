"""parse_mail and sanitize_filename: tables of hand-made mails, one quirk each."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail, sanitize_filename

POLISH = "Zażółć gęślą jaźń"


def mail(*headers: str | bytes, body: bytes = b"Hello\r\n") -> bytes:
    """A mail from header lines (str is encoded as ASCII, bytes kept) and a body."""
    lines = [h if isinstance(h, bytes) else h.encode("ascii") for h in headers]
    return b"\r\n".join([*lines, b"", body])


def multipart(subtype: str, *parts: bytes, boundary: str = "BOUNDARY") -> bytes:
    """A multipart body: each part is its own headers, blank line and content."""
    chunks = [b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts]
    return b"".join(chunks) + b"--" + boundary.encode() + b"--\r\n"


def mixed_mail(*parts: bytes, subtype: str = "mixed") -> InboundMail:
    return parse_mail(
        mail(
            "From: a@example.com",
            f'Content-Type: multipart/{subtype}; boundary="BOUNDARY"',
            body=multipart(subtype, *parts),
        )
    )


# -- subject ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            b"Subject: =?ISO-8859-2?Q?Za=BF=F3=B3=E6_g=EA=B6l=B1_ja=BC=F1?=",
            POLISH,
            id="iso-8859-2-q",
        ),
        pytest.param(
            b"Subject: =?utf-8?B?WmHFvMOzxYLEhyBn?=\r\n =?utf-8?B?xJnFm2zEhSBqYcW6xYQ=?=",
            POLISH,
            id="utf-8-b-two-words",
        ),
        pytest.param(
            b"Subject: =?utf-8?Q?Za=C5?= =?utf-8?Q?=BC=C3=B3?=",
            "Zażó",
            id="char-split-across-words",
        ),
        pytest.param(b"Subject: " + POLISH.encode("cp1250"), POLISH, id="raw-windows-1250"),
        pytest.param(b"Subject: " + POLISH.encode("iso-8859-2"), POLISH, id="raw-iso-8859-2"),
        pytest.param(b"Subject: " + POLISH.encode("utf-8"), POLISH, id="raw-utf-8"),
        pytest.param(
            b"Subject: =?iso-8859-2?Q?Za=BF=F3=B3=E6 g=EA=B6l=B1?=",
            "Zażółć gęślą",
            id="malformed-space-inside-word",
        ),
        pytest.param(
            b"Subject: Re:=?utf-8?Q?Cze=C5=9B=C4=87?=", "Re:Cześć", id="malformed-no-space-before"
        ),
        pytest.param(
            b"Subject: =?utf-8*pl?Q?Cze=C5=9B=C4=87?=", "Cześć", id="rfc2231-language-suffix"
        ),
        pytest.param(
            b"Subject: =?x-unknown?Q?Za=BF=F3=B3=E6?=", "Zażółć", id="unknown-charset-guessed"
        ),
        pytest.param(b"Subject: Re: a long\r\n subject", "Re: a long subject", id="folded"),
        pytest.param(b"Subject:   spaced   ", "spaced", id="stripped"),
        pytest.param(b"X-Other: 1", "", id="absent"),
    ],
)
def test_subject(header: bytes, expected: str) -> None:
    parsed = parse_mail(mail("From: a@example.com", header))
    assert parsed.subject == expected


def test_guessed_subject_is_reported() -> None:
    parsed = parse_mail(mail(b"Subject: " + POLISH.encode("cp1250")))
    assert any(d.startswith("subject: raw 8-bit text") for d in parsed.defects)


# Issue 18: undeclared 8-bit subjects and bodies, (text, charset it is sent in).
UNDECLARED = [
    pytest.param("关于订单的问题、请尽快回复", "gb2312", id="gb2312"),
    pytest.param("ご注文についてのお問い合わせ", "shift_jis", id="shift-jis"),
    pytest.param("Вопрос по заказу номер 12345", "koi8_r", id="koi8-r"),
    pytest.param(POLISH, "cp1250", id="windows-1250"),
    pytest.param(POLISH, "iso8859_2", id="iso-8859-2"),
]


@pytest.mark.parametrize(("text", "charset"), UNDECLARED)
def test_undeclared_8bit_subject(text: str, charset: str) -> None:
    parsed = parse_mail(mail("From: a@example.com", b"Subject: " + text.encode(charset)))
    assert parsed.subject == text
    assert any(d.startswith("subject: raw 8-bit text, decoded as") for d in parsed.defects)


@pytest.mark.parametrize(("text", "charset"), UNDECLARED)
def test_undeclared_8bit_body(text: str, charset: str) -> None:
    parsed = parse_mail(mail("From: a@example.com", body=text.encode(charset)))
    assert parsed.body_text == text
    assert any("8-bit text without a charset" in d for d in parsed.defects), parsed.defects


def test_an_undeclared_body_s_charset_reads_a_subject_too_short_to_tell() -> None:
    """ "Привет" alone is as much three Chinese characters; the KOI8-R body decides."""
    body = "Здравствуйте, я не получил свой заказ. Проверьте, пожалуйста.".encode("koi8_r")
    parsed = parse_mail(
        mail("From: a@example.com", b"Subject: " + "Привет".encode("koi8_r"), body=body)
    )
    assert parsed.subject == "Привет"
    assert "subject: raw 8-bit text, decoded as koi8-r" in parsed.defects


def test_a_wrongly_declared_body_is_detected() -> None:
    text = "您好、我们的订单还没有收到、请帮忙查询一下物流信息。"
    parsed = parse_mail(mail("Content-Type: text/plain; charset=utf-8", body=text.encode("gb2312")))
    assert parsed.body_text == text
    assert "body part 1: not valid 'utf-8', decoded as gb18030" in parsed.defects


def test_windows_1250_declared_as_iso_8859_2_keeps_its_quotes() -> None:
    text = "Proszę o „fakturę” \u2013 pilne"
    parsed = parse_mail(
        mail("Content-Type: text/plain; charset=iso-8859-2", body=text.encode("cp1250"))
    )
    assert parsed.body_text == text


# -- body -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "expected", "defect"),
    [
        pytest.param("text/plain; charset=utf-8", POLISH.encode("utf-8"), POLISH, None, id="utf-8"),
        pytest.param(
            "text/plain; charset=ISO-8859-2", POLISH.encode("iso-8859-2"), POLISH, None, id="iso"
        ),
        pytest.param(
            "text/plain", POLISH.encode("cp1250"), POLISH, "without a charset", id="undeclared-8bit"
        ),
        pytest.param(
            "text/plain; charset=us-ascii",
            POLISH.encode("utf-8"),
            POLISH,
            "not valid 'us-ascii'",
            id="ascii-but-utf-8",
        ),
        pytest.param(
            "text/plain; charset=x-unknown",
            POLISH.encode("cp1250"),
            POLISH,
            "charset 'x-unknown' not known, decoded as windows-1250",
            id="unknown-charset",
        ),
        pytest.param(
            "text/plain; charset=iso-8859-1",
            "“quoted” 5€".encode("cp1252"),
            "“quoted” 5€",
            None,
            id="latin-1-label-means-windows-1252",
        ),
        pytest.param(None, b"line 1\r\nline 2\r\n", "line 1\nline 2\n", None, id="crlf-to-lf"),
    ],
)
def test_body_charsets(
    content_type: str | None, body: bytes, expected: str, defect: str | None
) -> None:
    headers = ["From: a@example.com"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    parsed = parse_mail(mail(*headers, body=body))
    assert parsed.body_text == expected
    if defect is None:
        assert parsed.defects == ()
    else:
        assert any(defect in d for d in parsed.defects), parsed.defects


def test_quoted_printable_body() -> None:
    parsed = parse_mail(
        mail(
            "Content-Type: text/plain; charset=iso-8859-2",
            "Content-Transfer-Encoding: quoted-printable",
            body=b"Za=BF=F3=B3=E6 g=EA=B6l=B1 ja=BC=F1",
        )
    )
    assert parsed.body_text == POLISH


def test_alternative_picks_plain_and_keeps_html() -> None:
    parsed = mixed_mail(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nplain version",
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>",
        subtype="alternative",
    )
    assert parsed.body_text == "plain version"
    assert parsed.body_html == "<p>html version</p>"
    assert parsed.attachments == ()


def test_html_only_gets_text() -> None:
    parsed = parse_mail(
        mail(
            "Content-Type: text/html; charset=utf-8",
            body=b"<html><body><p>Dzie&#324; dobry,</p><p>prosz\xc4\x99</p></body></html>",
        )
    )
    assert parsed.body_text == "Dzień dobry,\n\nproszę"
    assert parsed.body_html is not None


def test_blank_plain_part_falls_back_to_html() -> None:
    parsed = mixed_mail(
        b"Content-Type: text/plain\r\n\r\n \r\n",
        b"Content-Type: text/html\r\n\r\n<b>real text</b>",
        subtype="alternative",
    )
    assert parsed.body_text == "real text"


def test_nested_related_inside_mixed() -> None:
    image = base64.b64encode(b"\x89PNG fake").decode()
    inner = multipart(
        "related",
        b"Content-Type: text/html\r\n\r\n<p>see <img src='cid:logo'></p>",
        b"Content-Type: image/png\r\nContent-ID: <logo>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + image.encode(),
        boundary="INNER",
    )
    parsed = mixed_mail(
        b'Content-Type: multipart/related; boundary="INNER"\r\n\r\n' + inner,
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
        b' filename="offer.pdf"\r\n\r\n%PDF',
    )
    assert parsed.body_text == "see"
    assert [(a.filename, a.content_type, a.inline) for a in parsed.attachments] == [
        ("attachment.png", "image/png", True),
        ("offer.pdf", "application/pdf", False),
    ]
    assert parsed.attachments[0].data == b"\x89PNG fake"


# -- attachments ------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        pytest.param(
            "attachment; filename*=utf-8''za%C5%BC%C3%B3%C5%82%C4%87.pdf",
            "zażółć.pdf",
            id="rfc2231",
        ),
        pytest.param(
            "attachment; filename*0*=utf-8''za%C5%BC%C3%B3; filename*1*=%C5%82%C4%87.pdf",
            "zażółć.pdf",
            id="rfc2231-continuations",
        ),
        pytest.param(
            'attachment; filename="=?utf-8?Q?za=C5=BC=C3=B3=C5=82=C4=87.pdf?="',
            "zażółć.pdf",
            id="rfc2047-in-parameter",
        ),
        pytest.param('attachment; filename="../../etc/passwd"', "passwd", id="path-traversal"),
        pytest.param('attachment; filename="C:\\\\temp\\\\a.doc"', "a.doc", id="windows-path"),
        pytest.param("attachment", "attachment.pdf", id="no-name"),
    ],
)
def test_attachment_filenames(disposition: str, expected: str) -> None:
    parsed = mixed_mail(
        b"Content-Type: text/plain\r\n\r\nbody",
        f"Content-Type: application/pdf\r\nContent-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==".encode(),
    )
    assert parsed.body_text == "body"
    (attachment,) = parsed.attachments
    assert attachment.filename == expected
    assert attachment.data == b"%PDF"
    assert attachment.content_type == "application/pdf"


@pytest.mark.parametrize(
    ("name", "charset"),
    [
        pytest.param("faktura zażółć.pdf", "cp1250", id="windows-1250"),
        pytest.param("faktura zażółć.pdf", "utf-8", id="utf-8"),
        pytest.param("关于订单的问题.pdf", "gb2312", id="gb2312"),
        pytest.param("Счёт на оплату.pdf", "koi8_r", id="koi8-r"),
    ],
)
def test_raw_8bit_attachment_filenames(name: str, charset: str) -> None:
    """policy.default reads raw 8-bit parameters as U+FFFD: they are decoded from the raw header."""
    disposition = b'Content-Disposition: attachment; filename="' + name.encode(charset) + b'"'
    parsed = mixed_mail(
        b"Content-Type: text/plain\r\n\r\nbody",
        b"Content-Type: application/pdf\r\n" + disposition + b"\r\n\r\n%PDF",
    )
    assert [a.filename for a in parsed.attachments] == [name]


def test_message_rfc822_attachment() -> None:
    inner = b"From: b@example.com\r\nSubject: Original question\r\n\r\nInner body\r\n"
    parsed = mixed_mail(
        b"Content-Type: text/plain\r\n\r\nForwarding",
        b"Content-Type: message/rfc822\r\n\r\n" + inner,
    )
    (attachment,) = parsed.attachments
    assert attachment.filename == "Original question.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"Subject: Original question" in attachment.data
    assert b"Inner body" in attachment.data
    assert parsed.body_text == "Forwarding"


def test_tnef_stays_an_attachment() -> None:
    parsed = mixed_mail(
        b"Content-Type: text/plain\r\n\r\nbody",
        b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\neJ8+IgAB",
    )
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("winmail.dat", "application/ms-tnef")
    ]


def test_text_attachment_is_not_the_body() -> None:
    parsed = mixed_mail(
        b"Content-Type: text/plain\r\n\r\nthe body",
        b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="log.txt"'
        b"\r\n\r\nlog lines",
    )
    assert parsed.body_text == "the body"
    assert [(a.filename, a.data) for a in parsed.attachments] == [("log.txt", b"log lines")]


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        pytest.param("report.pdf", "", "report.pdf", id="plain"),
        pytest.param("../../etc/passwd", "", "passwd", id="unix-path"),
        pytest.param("C:\\Users\\x\\doc.docx", "", "doc.docx", id="windows-path"),
        pytest.param("..\\..//.hidden", "", "hidden", id="leading-dots"),
        pytest.param("a\x00b\x07c\x7f.txt", "", "abc.txt", id="control-chars"),
        pytest.param("invoice\u202efdp.exe", "", "invoicefdp.exe", id="bidi-override"),
        pytest.param("  many \t  spaces\n.txt ", "", "many spaces .txt", id="whitespace"),
        pytest.param("", "image/png", "attachment.png", id="empty-with-type"),
        pytest.param("...", "", "attachment", id="only-dots"),
        pytest.param("x" * 300 + ".pdf", "", "x" * 146 + ".pdf", id="long-keeps-extension"),
        pytest.param("y" * 300, "", "y" * 150, id="long-without-extension"),
    ],
)
def test_sanitize_filename(name: str, content_type: str, expected: str) -> None:
    assert sanitize_filename(name, content_type=content_type) == expected


# -- addresses, ids, dates, automation headers -------------------------------


def test_addresses() -> None:
    parsed = parse_mail(
        mail(
            b"From: =?utf-8?Q?J=C3=B3zef_Nowak?= <Jozef.Nowak@Example.PL>",
            'To: a@example.com, "B, Bee" <B@Example.com>',
            "Cc: undisclosed-recipients:;",
            "Reply-To: Help <HELP@example.com>",
        )
    )
    assert parsed.from_address == "jozef.nowak@example.pl"
    assert parsed.from_name == "Józef Nowak"
    assert parsed.to == ("a@example.com", "b@example.com")
    assert parsed.cc == ()
    assert parsed.reply_to == ("help@example.com",)


@pytest.mark.parametrize(
    ("headers", "address", "name"),
    [
        pytest.param(("From: MAILER-DAEMON",), None, "", id="no-domain"),
        pytest.param(("Sender: s@example.com",), "s@example.com", "", id="sender-fallback"),
        pytest.param(("From: nobody", "Sender: s@example.com"), "s@example.com", "", id="bad-from"),
        pytest.param(
            ("From: x@example.com <Y@example.com>",),
            "y@example.com",
            "x@example.com",
            id="address-as-display-name",
        ),
        pytest.param(
            ("From: John Doe.<j@example.com>",), "j@example.com", "John Doe.", id="bpo-27257"
        ),
        pytest.param(("X-Nothing: 1",), None, "", id="absent"),
    ],
)
def test_sender(headers: tuple[str, ...], address: str | None, name: str) -> None:
    parsed = parse_mail(mail(*headers))
    assert (parsed.from_address, parsed.from_name) == (address, name)


def test_message_ids() -> None:
    parsed = parse_mail(
        mail(
            "Message-ID:  <abc@example.com> ",
            "In-Reply-To: <parent@example.com> (Bob's message of Monday)",
            "References: <one@x> junk <two@x>\r\n  <thr\r\n ee@x>, <one@x>",
        )
    )
    assert parsed.message_id == "<abc@example.com>"
    assert parsed.in_reply_to == "<parent@example.com>"
    assert parsed.references == ("<one@x>", "<two@x>", "<three@x>")


def test_missing_ids() -> None:
    parsed = parse_mail(mail("Subject: x"))
    assert (parsed.message_id, parsed.in_reply_to, parsed.references) == (None, None, ())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            "Date: Mon, 2 Jun 2025 10:00:00 +0200",
            datetime(2025, 6, 2, 10, tzinfo=timezone(timedelta(hours=2))),
            id="zone",
        ),
        pytest.param(
            "Date: Mon, 2 Jun 2025 10:00:00 -0000", datetime(2025, 6, 2, 10, tzinfo=UTC), id="naive"
        ),
        pytest.param("Date: Wed Jul 2020 23:11:43 +0100", None, id="unparsable"),
        pytest.param("Date: ", None, id="empty"),
        pytest.param("Subject: no date", None, id="absent"),
    ],
)
def test_date(header: str, expected: datetime | None) -> None:
    parsed = parse_mail(mail(header))
    assert parsed.date == expected
    assert parsed.date is None or parsed.date.tzinfo is not None


def test_automation_headers() -> None:
    parsed = parse_mail(
        mail(
            "Auto-Submitted:  auto-replied ",
            "Precedence: bulk",
            "List-Id: Support\r\n <support.example.com>",
            "Return-Path: <>",
        )
    )
    assert parsed.auto_submitted == "auto-replied"
    assert parsed.precedence == "bulk"
    assert parsed.list_id == "Support <support.example.com>"
    assert parsed.return_path == ""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("Return-Path: <>", "", id="null-path"),
        pytest.param("Return-Path: < >", "", id="null-path-spaced"),
        pytest.param("Return-Path: <bob@example.com>", "<bob@example.com>", id="address"),
        pytest.param("Subject: x", None, id="absent"),
    ],
)
def test_return_path(header: str, expected: str | None) -> None:
    assert parse_mail(mail(header)).return_path == expected


# -- garbage in, a mail out ------------------------------------------------------


def _nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ndeep inside"
    for level in range(depth):
        boundary = f"B{level}"
        body = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode() + multipart(
            "mixed", body, boundary=boundary
        )
    return body


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\xff garbage", id="garbage"),
        pytest.param(bytes(range(256)) * 10, id="all-bytes"),
        pytest.param(b"From: a@example.com\r\nSubject: only headers", id="only-headers"),
        pytest.param(b"From: a@example.com\r\nSubject: x\r\n\r\n", id="headers-empty-body"),
        pytest.param(b"Subject: " + b"x" * 200_000 + b"\r\n\r\nbody", id="huge-header-line"),
        pytest.param(b"To: " + b"a@b.c, " * 20_000 + b"\r\n\r\n", id="huge-address-list"),
        pytest.param(_nested(120), id="deeply-nested"),
        pytest.param(
            b'Content-Type: multipart/mixed; boundary="X"\r\n\r\nno boundary here', id="no-parts"
        ),
        pytest.param(b"Content-Type: multipart/mixed\r\n\r\n--\r\nhi", id="boundary-missing"),
        pytest.param(b"Content-Type: text/plain; charset=\xff\xfe\r\n\r\nx", id="8bit-charset"),
        pytest.param(
            b"Content-Type: text/plain; charset=unicode_escape\r\n\r\n\\u0041", id="evil-charset"
        ),
        pytest.param(
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%",
            id="broken-base64",
        ),
        pytest.param(b'From: "\r\nTo: <<<>>>@@@\r\nMessage-ID: <\r\n\r\n', id="broken-headers"),
        pytest.param(
            b"Content-Type: message/rfc822\r\n\r\nnot really a message", id="bare-message-part"
        ),
    ],
)
def test_garbage_does_not_raise(raw: bytes) -> None:
    parsed = parse_mail(raw)
    assert isinstance(parsed, InboundMail)
    assert parsed.size == len(raw)
    assert "\n" not in parsed.subject
    for text in (parsed.subject, parsed.from_name, parsed.body_text, *parsed.defects):
        text.encode("utf-8")  # no lone surrogates left from raw bytes
    for attachment in parsed.attachments:
        assert attachment.filename and "/" not in attachment.filename


def test_deep_nesting_is_bounded() -> None:
    parsed = parse_mail(_nested(120))
    assert parsed.body_text == ""
    assert len(parsed.attachments) == 1


def test_evil_charset_is_not_interpreted() -> None:
    parsed = parse_mail(b"Content-Type: text/plain; charset=unicode_escape\r\n\r\n\\u0041")
    assert parsed.body_text == "\\u0041"


def test_missing_boundary_reads_the_body_as_text() -> None:
    parsed = parse_mail(b"Content-Type: multipart/mixed\r\n\r\njust text")
    assert parsed.body_text == "just text"
    assert any("without usable boundaries" in d for d in parsed.defects)


def test_nul_characters_never_reach_the_database() -> None:
    mail = parse_mail(b"From: Ja\x00n <a@b.pl>\r\nSubject: x\x00y\r\n\r\nbody\x00zero\r\n")
    assert "\x00" not in mail.subject + mail.body_text + mail.from_name
    assert mail.subject == "x\ufffdy"


def test_absurdly_long_ids_and_addresses_are_dropped() -> None:
    long_id = "<" + "a" * 3000 + "@x.pl>"
    long_address = "b" * 3000 + "@x.pl"
    raw = (
        f"From: {long_address}\r\nMessage-ID: {long_id}\r\nReferences: <ok@x.pl> {long_id}\r\n"
        "Subject: s\r\n\r\nbody\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.message_id is None
    assert mail.references == ("<ok@x.pl>",)
    assert mail.from_address is None
    assert any("longer than" in d for d in mail.defects)
