"""parse_mail against real mails that other projects keep for their own parsers.

The corpus lives outside the repository (its files are under the source
projects' licences): ``../shared/mail-corpus`` beside the checkout, or the
directory named by ``MAILBOT_MAIL_CORPUS``. A missing corpus is a failure, not
a skip, so CI cannot go green without it.

Each folder's ``expected.json`` holds what that project's tests assert; we
check the few expectations our parser should share, and list in ``DISAGREE``
the ones where we decide differently, with the reason.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mailbot.core.automation import is_bounce
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail

CORPUS_ENV = "MAILBOT_MAIL_CORPUS"
# Not RFC 822 mail: documentation, expectations, and an Outlook .msg (CFB binary).
NOT_MAIL = frozenset({"README.md", "mail_outlook_1"})

# (file relative to the corpus, expectation key) -> why we differ from that project.
DISAGREE = {
    ("rt/very-long-subject", "subject"): (
        "RT cuts subjects to its 200-character column; we keep the whole subject"
    ),
    ("eml_parser/sample_gh_issue_79_1.eml", "message_id"): (
        "we keep any <...> id verbatim (<[id@domain.com]>): threading needs the same string back"
    ),
    ("eml_parser/sample_gh_issue_79_2.eml", "message_id"): "as for sample_gh_issue_79_1.eml",
    ("eml_parser/sample_gh_issue_79_3.eml", "message_id"): "as for sample_gh_issue_79_1.eml",
    ("mail-parser/mail_malformed_2", "attachments"): (
        "the delivery-status and the returned headers are two attachments for us"
    ),
}


def corpus_dir() -> Path:
    configured = os.environ.get(CORPUS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "shared" / "mail-corpus"


def corpus_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix != ".json" and path.name not in NOT_MAIL
    )


MISSING = pytest.param(None, id="corpus-missing")


def mail_params() -> list[Any]:
    root = corpus_dir()
    files = corpus_files(root) if root.is_dir() else []
    if not files:
        return [MISSING]
    return [pytest.param(path, id=path.relative_to(root).as_posix()) for path in files]


def require_corpus(path: object) -> None:
    if path is None:
        pytest.fail(
            f"mail corpus not found at {corpus_dir()}: set {CORPUS_ENV} to the directory "
            "holding the shared mail corpus (see shared/mail-corpus/README.md)"
        )


@pytest.mark.parametrize("path", mail_params())
def test_corpus_mail_parses(path: Path | None) -> None:
    require_corpus(path)
    assert path is not None
    parsed = parse_mail(path.read_bytes())

    assert isinstance(parsed.subject, str)
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    assert parsed.size == path.stat().st_size
    assert parsed.date is None or parsed.date.tzinfo is not None
    for text in (parsed.subject, parsed.from_name, parsed.body_text, *parsed.to):
        text.encode("utf-8")  # raises on lone surrogates left from raw 8-bit bytes
    for attachment in parsed.attachments:
        name = attachment.filename
        assert name, attachment
        assert "/" not in name and "\\" not in name, name
        assert not any(unicodedata.category(ch) == "Cc" for ch in name), name
        assert not name.startswith("."), name
        assert len(name) <= 150, name


# -- the source projects' expectations --------------------------------------


def _addresses(expected: Any) -> list[str]:
    """Expected addresses as a list: eml_parser gives strings, mail-parser [name, address]."""
    values = expected if isinstance(expected, list) else [expected]
    return [(v[1] if isinstance(v, list) else v).lower() for v in values]


CHECKS: dict[str, Callable[[InboundMail, Any], bool]] = {
    "subject": lambda m, want: m.subject == want,
    "message_id": lambda m, want: m.message_id == want,
    "content_matches": lambda m, want: re.search(want, m.body_text) is not None,
    "body": lambda m, want: m.body_text == want.replace("\r\n", "\n"),
    "attachments": lambda m, want: len(m.attachments) == want,
    "attachment_filename": lambda m, want: want in [a.filename for a in m.attachments],
    "third_part_filename": lambda m, want: want in [a.filename for a in m.attachments],
    "attachment_filenames": lambda m, want: (
        sorted(a.filename for a in m.attachments) == sorted(want)
    ),
    "from": lambda m, want: [m.from_address] == _addresses(want),
    "to": lambda m, want: list(m.to) == _addresses(want),
    "to_addresses": lambda m, want: list(m.to) == _addresses(want),
    "cc": lambda m, want: list(m.cc) == _addresses(want),
    "reply_to": lambda m, want: list(m.reply_to) == _addresses(want),
    "to_first_address": lambda m, want: m.to[:1] == (want,),
    "to_count": lambda m, want: len(m.to) == want,
    "date_utc": lambda m, want: m.date == datetime.fromisoformat(want),
    "is_bounce": lambda m, want: is_bounce(m) == want,
}


def expectation_params() -> list[Any]:
    root = corpus_dir()
    found = sorted(root.glob("*/expected.json")) if root.is_dir() else []
    if not found:
        return [MISSING]
    params = []
    for expected_file in found:
        folder = expected_file.parent.name
        for name, expectations in json.loads(expected_file.read_text("utf-8")).items():
            if name.startswith("_") or name in NOT_MAIL:
                continue
            for key, want in expectations.items():
                if key not in CHECKS:
                    continue
                reason = DISAGREE.get((f"{folder}/{name}", key))
                # A known, deliberate disagreement: strict xfail, so agreeing later shows up too.
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                case = (expected_file.parent / name, key, want)
                params.append(pytest.param(case, id=f"{folder}/{name}:{key}", marks=marks))
    return params


@pytest.mark.parametrize("case", expectation_params())
def test_corpus_expectation(case: tuple[Path, str, Any] | None) -> None:
    require_corpus(case)
    assert case is not None
    path, key, want = case
    parsed = parse_mail(path.read_bytes())
    assert CHECKS[key](parsed, want), f"{key}: expected {want!r}, parsed {parsed!r}"[:2000]


# -- bounces (issue 18) ---------------------------------------------------------


# The corpus mails whose failed addresses mailbot reads (mailbot.core.bounces), with how
# many it reads as permanent and as temporary failures. Before issue 18 it read none: RFC
# 3464 reports were known as bounces, but only their returned Message-ID was read, and the
# three plain-text notices (msg_16 and the two Gmail ones) were linked by nothing. Left
# out: flanker/bounce/broken-mime.eml (an IMail notice without IMail's X-Mailer, which
# flufl.bounce keys on, and without a null Return-Path), delayed-broken.eml (a bare
# delivery-status block, no sender), cpython msg_05 and msg_25 (reports naming no recipient).
BOUNCED = {
    "cpython_email/msg_16.txt": (1, 0),  # plain text, UCLA's mailer
    "cpython_email/msg_43.txt": (11, 0),
    "eml_parser/sample_fail_github_issue_38.eml": (1, 0),
    "flanker/bounce/delayed.eml": (1, 0),  # "Cannot send message for 5 days": given up
    "flanker/bounce/gmail-invalid-address.eml": (1, 0),  # Gmail's plain text
    "flanker/bounce/gmail-no-dns.eml": (1, 0),  # Gmail's plain text
    "flanker/bounce/mailbox-full.eml": (1, 0),
    "flanker/bounce/no-mx.eml": (0, 1),  # Action: delayed
    "flanker/bounce/office365.eml": (1, 0),
    "flanker/bounce/zed.eml": (1, 0),
    "mail-parser/mail_malformed_2": (1, 0),
    "rt/multipart-report": (1, 0),
}


def test_the_corpus_bounces_whose_addresses_are_read() -> None:
    root = corpus_dir()
    require_corpus(root if root.is_dir() else None)
    found = {}
    for path in corpus_files(root):
        mail = parse_mail(path.read_bytes())
        counts = (len(mail.bounced_addresses), len(mail.delayed_addresses))
        if counts != (0, 0):
            found[path.relative_to(root).as_posix()] = counts
            assert is_bounce(mail), path
    assert found == BOUNCED
