"""No mail costs the parser more than a bounded time: seeded mutations of the mail corpus.

The corpus is read where tests/core/test_mail_corpus.py finds it (never copied here).
Each mutation is one way a hostile or broken mail has cost Python's email package
time that grows faster than its size: huge header lines, runs of quotes, long
parameter lists, deep nesting, many headers, unclosed encoded words and HTML.
Every mutated mail must be prepared (parsed, limited, fingerprinted) in well
under the worker's 10 s parse deadline, and the longest time is printed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import RawMail, prepare
from tests.core.test_mail_corpus import corpus_dir, corpus_files

SEED = 13
MUTATIONS = 300
LIMITS = SizeLimits(max_mail_size=25 * 1024**2, max_attachment_size=10 * 1024**2)
PARSE_DEADLINE = 10.0
TOTAL = 90.0  # seconds for the whole run, on a loaded CI machine


def _split(raw: bytes) -> tuple[bytes, bytes]:
    for end in (b"\r\n\r\n", b"\n\n"):
        if end in raw:
            head, _, body = raw.partition(end)
            return head, body
    return raw, b""


def _with_header(raw: bytes, line: bytes) -> bytes:
    head, body = _split(raw)
    return head + b"\r\n" + line + b"\r\n\r\n" + body


def huge_header(r: random.Random, raw: bytes) -> bytes:
    name = r.choice([b"Subject", b"To", b"Cc", b"From", b"References", b"X-Junk"])
    unit = r.choice([b"x", b"a@b.pl, ", b"<id@x.pl> ", b"\xc4\x85", b". ", b"\\", b", "])
    return _with_header(raw, name + b": " + unit * (r.randint(50_000, 300_000) // len(unit)))


def quote_run(r: random.Random, raw: bytes) -> bytes:
    header = r.choice(
        [
            b"Content-Type: text/plain; name=",
            b"Content-Disposition: attachment; filename=",
            b"From: ",
        ]
    )
    return _with_header(raw, header + b'"' * r.randint(1_000, 110_000))


def parameters(r: random.Random, raw: bytes) -> bytes:
    count = r.randint(100, 20_000)
    params = b"".join(
        b"; p%d=%s" % (n, r.choice([b"v", b'"v"', b'"', b"*0*=x"])) for n in range(count)
    )
    return _with_header(raw, b"Content-Type: multipart/mixed; boundary=B" + params)


def nesting(r: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    for level in range(r.randint(60, 3_000)):
        boundary = b"N%d" % level
        body = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--"
            + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip
    kept = b"\r\n".join(
        line for line in head.splitlines() if not line.lower().startswith(b"content-")
    )
    return kept + b"\r\n" + body


def many_headers(r: random.Random, raw: bytes) -> bytes:
    line = r.choice([b"Received: from x by y", b"To: a@b.pl", b"Content-Type: text/plain"])
    return _with_header(raw, b"\r\n".join([line] * r.randint(1_000, 30_000)))


def encoded_words(r: random.Random, raw: bytes) -> bytes:
    unit = r.choice([b"=?utf-8?q?x", b"=?a?b?", b"=?utf-8?Q?=C4=85?= ", b"=?"])
    return _with_header(raw, b"Subject: " + unit * (r.randint(10_000, 60_000) // len(unit)))


def html(r: random.Random, raw: bytes) -> bytes:
    unit = r.choice([b"<!--", b"<a ", b"<p>", b"&#", b"<![CDATA["])
    body = unit * (r.randint(10_000, 100_000) // len(unit))
    return b"From: a@b.pl\r\nContent-Type: text/html\r\n\r\n" + body


def flip_bytes(r: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(r.randint(1, 50)):
        if data:
            data[r.randrange(len(data))] = r.choice(b'"\\;:=<>()\r\n\x00\xff-')
    return bytes(data)


def truncate(r: random.Random, raw: bytes) -> bytes:
    return raw[: r.randint(0, len(raw))]


MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [
    huge_header, quote_run, parameters, nesting, many_headers, encoded_words, html,
    flip_bytes, truncate,
]  # fmt: skip


def test_no_mutated_corpus_mail_takes_long_to_prepare(
    record_property: pytest.RecordProperty,
) -> None:
    root = corpus_dir()
    files = corpus_files(root) if root.is_dir() else []
    assert files, f"the mail corpus is missing: {root}"
    r = random.Random(SEED)
    times: list[tuple[float, str]] = []
    started = time.perf_counter()
    for n in range(MUTATIONS):
        path = r.choice(files)
        mutator = MUTATORS[n % len(MUTATORS)]
        raw = mutator(r, path.read_bytes())
        begin = time.perf_counter()
        prepare(RawMail(raw), LIMITS)
        times.append(
            (
                time.perf_counter() - begin,
                f"{mutator.__name__}({path.relative_to(root)}, {len(raw)} B)",
            )
        )
        assert time.perf_counter() - started < TOTAL, f"{n + 1} mails took over {TOTAL} s"
    longest, which = max(times)
    record_property("longest_parse_s", round(longest, 3))
    print(f"\nfuzz: {len(times)} mutated corpus mails, longest {longest:.3f} s: {which}")
    slow = [(t, what) for t, what in times if t > PARSE_DEADLINE]
    assert not slow, slow
