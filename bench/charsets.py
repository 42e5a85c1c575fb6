"""What reading undeclared 8-bit text costs ``parse_mail`` (issue 18, third item).

Parses mails whose 1 MB body (and subject) is 8-bit text without a declared charset,
in windows-1250, KOI8-R and GB2312, and the benchmark's ordinary corpus (mostly
declared UTF-8 and ISO-8859-2), and prints the best of a few runs of each:

    .venv/bin/python -m bench.charsets
    .venv/bin/python -m bench.charsets --size 4194304 --corpus 5000
"""

from __future__ import annotations

import argparse
import time

from bench.corpus import make_corpus
from mailbot.core.parsing import parse_mail

# (name, a line of text, its charset): what the body repeats.
TEXTS = (
    (
        "windows-1250",
        "Dzień dobry, proszę o fakturę za zamówienie nr 5. Łukasz Żółć.\r\n",
        "cp1250",
    ),
    ("koi8-r", "Здравствуйте, я не получил свой заказ. Проверьте, пожалуйста.\r\n", "koi8_r"),
    ("gb2312", "您好、我们的订单还没有收到、请帮忙查询一下物流信息。谢谢。\r\n", "gb2312"),
)


def undeclared_mail(line: str, charset: str, size: int) -> bytes:
    """A mail of ``size`` body bytes: ``line`` repeated, in ``charset``, declared nowhere."""
    data = line.encode(charset)
    body = (data * (size // len(data) + 1))[:size]
    subject = line.split(",", maxsplit=1)[0].encode(charset)
    return b"From: a@example.com\r\nSubject: " + subject + b"\r\n\r\n" + body


def best_seconds(raw: bytes, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parse_mail(raw)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024 * 1024, help="body bytes")
    parser.add_argument("--runs", type=int, default=5, help="the best of this many")
    parser.add_argument("--corpus", type=int, default=2000, help="ordinary mails to parse")
    args = parser.parse_args()
    for name, line, charset in TEXTS:
        seconds = best_seconds(undeclared_mail(line, charset, args.size), args.runs)
        print(f"{args.size:,} B undeclared {name} body: {seconds * 1000:.0f} ms")
    corpus = [mail.raw for mail in make_corpus(args.corpus, seed=1)]
    rates = []
    for _ in range(args.runs):
        started = time.perf_counter()
        for raw in corpus:
            parse_mail(raw)
        rates.append(len(corpus) / (time.perf_counter() - started))
    print(f"benchmark corpus, {len(corpus):,} mails: {max(rates):.0f} mails/s")


if __name__ == "__main__":
    main()
