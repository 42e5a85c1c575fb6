"""Properties (hypothesis): no bytes make the parser or the ingest of one mail raise.

Arbitrary bytes, and real mails from the corpus cut, spliced and overwritten at
random places, go through ``parse_mail`` and through ``handle_mail`` (parse,
decide, store: the whole path of one mail short of the mailbox), which must
always come back with an outcome.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.adapters.mailbox import FetchedMail
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail
from mailbot.inspection import automation_summary
from mailbot.usecases.ingest import MailKey, handle_mail
from tests.conftest import SmtpSink
from tests.core.test_mail_corpus import corpus_dir, corpus_files
from tests.factories import NOW, make_settings

PROPERTY = settings(max_examples=200, deadline=None, database=None)
CORPUS = [path.read_bytes() for path in corpus_files(corpus_dir())]


@st.composite
def mutated_mails(draw: st.DrawFn) -> bytes:
    """A corpus mail with a few random edits: cut, insert, overwrite or truncate."""
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["cut", "insert", "overwrite", "truncate"]))
        chunk = draw(st.binary(max_size=40) | st.sampled_from(INTERESTING))
        if edit == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif edit == "insert":
            data[at:at] = chunk
        elif edit == "overwrite":
            data[at : at + len(chunk)] = chunk
        else:
            del data[at:]
    return bytes(data)


# Bytes that tend to matter to a MIME parser.
INTERESTING = [b"\r\n\r\n", b"\n--", b"=?utf-8?b?", b"?=", b"boundary=", b"\x00", b"\xff\xfe",
               b"Content-Type: multipart/report; report-type=delivery-status\r\n",
               b"Content-Transfer-Encoding: base64\r\n", b"charset=\"x-unknown\"", b"=\r\n"]  # fmt: skip

any_mail = st.binary(max_size=2000) | mutated_mails()


def check(mail: InboundMail) -> None:
    texts = (mail.subject, mail.from_name, mail.body_text, *mail.defects)
    assert all("\x00" not in text for text in texts)
    for text in texts:
        text.encode("utf-8")  # raises on a lone surrogate
    automation_summary(mail, None)


@PROPERTY
@given(any_mail)
def test_the_parser_never_raises(raw: bytes) -> None:
    check(parse_mail(raw))


def test_the_ingest_of_one_mail_never_raises(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    # No mailbox: handle_mail takes the mail's bytes; only the settings' shape matters here.
    imap = ImapSettings("", 143, "", "", "none", False, "INBOX", "P", "Q", timedelta(minutes=1), "")
    desk = build_desk(
        make_settings(imap, smtp_sink, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
        clock=lambda: NOW,
    )
    uids = iter(range(1, 10**6))

    @PROPERTY
    @given(any_mail)
    def ingest_one(raw: bytes) -> None:
        outcome = handle_mail(desk, MailKey("INBOX", 1, str(next(uids))), FetchedMail("", raw))
        assert outcome.kind in ("ticket", "followup", "ignored", "duplicate", "quarantined",
                                "bounce", "oversized", "unparsed")  # fmt: skip

    try:
        ingest_one()
    finally:
        desk.engine.dispose()
