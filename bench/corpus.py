"""The benchmark's mails: deterministic from a seed, shaped like a support desk's inbox.

Mostly short Polish text (1-5 KB), about 15 % HTML (multipart/alternative), 15 %
ISO-8859-2 quoted-printable, 10 % with a 50-300 KB binary attachment (base64).
Senders are spread over many customers, a few of them under contract (see
``CONTRACTS``), so that the tiers and their templates all get used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

SUPPORT = "support@desk.example.pl"
STAFF = "technik@desk.example.pl"
ATTACHMENT_SHARE = 0.10
HTML_SHARE = 0.15
LATIN2_SHARE = 0.15

_PROSE = (
    "drukarka serwer poczta nie działa proszę o pomoc zgłoszenie sieć komputer łącze "
    "faktura hasło konto użytkownika błąd aktualizacja system zawiesza się od rana "
    "wczoraj dzisiaj pilne księgowość magazyn skaner monitor żółty komunikat źle "
    "wyświetla ciągle restartuje wolno działa dostęp zdalny VPN licencja wygasła "
    "kopia zapasowa dysk pełny zaświadczenie certyfikat świeci się lampka gniazdko"
)
_WORDS = tuple(_PROSE.split())
_FIRST_NAMES = ("Anna", "Jan", "Małgorzata", "Piotr", "Katarzyna", "Łukasz", "Zofia", "Paweł")
_LAST_NAMES = ("Kowalska", "Nowak", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zieliński")
_ATTACHMENTS = (
    ("application", "pdf", "skan-faktury.pdf"),
    ("image", "jpeg", "zdjęcie-ekranu.jpg"),
    ("application", "vnd.ms-excel", "zestawienie.xls"),
)
# Contracts the bench imports: a few domains are under warranty, one customer is VIP;
# everyone else is post-warranty, as most of a real desk's senders are.
CONTRACTS = """\
[[contract]]
id = "vip-firma1"
customer = "Firma 1 Sp. z o.o."
tier = "vip"
domains = ["firma1.pl"]
valid_from = 2025-01-01

[[contract]]
id = "gw-firma2"
customer = "Firma 2 S.A."
tier = "warranty"
domains = ["firma2.pl", "firma3.pl"]
valid_from = 2025-01-01
"""


@dataclass(frozen=True)
class BenchMail:
    """One mail of the corpus: its Message-ID (to match acknowledgements) and bytes."""

    message_id: str
    raw: bytes


def make_corpus(count: int, *, seed: int, first: int = 0) -> list[BenchMail]:
    """``count`` mails numbered ``first``.., the same for the same seed and numbers."""
    return [
        make_mail(random.Random(f"{seed}:{n}"), n, seed=seed) for n in range(first, first + count)
    ]


class Corpus:
    """The mails of one seed, each made once for the whole invocation: making a mail costs
    ~4 ms of CPU (the email package), which for the 10,000-mail runs of ``--all`` was half
    a minute a run. The first N mails of a seed are the same for every N, so one list
    serves all the runs."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._made: list[BenchMail] = []

    def first(self, count: int) -> list[BenchMail]:
        """Mails 0 to ``count`` - 1: ``make_corpus(count, seed=self.seed)``."""
        if len(self._made) < count:
            made = len(self._made)
            self._made += make_corpus(count - made, seed=self.seed, first=made)
        return self._made[:count]


def make_mail(rng: random.Random, n: int, *, seed: int) -> BenchMail:
    """Mail number ``n``; ``rng`` decides its shape, sender and text."""
    customers = 97  # domains; a prime, so the address and the domain vary independently
    domain = f"firma{rng.randrange(customers)}.pl"
    local = f"{rng.choice(_FIRST_NAMES)}.{rng.randrange(1000)}".lower()
    name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
    message_id = f"<bench.{seed}.{n}.{rng.getrandbits(48):012x}@{domain}>"
    msg = EmailMessage()
    msg["From"] = f"{name} <{_ascii(local)}@{domain}>"
    msg["To"] = SUPPORT
    msg["Subject"] = f"{' '.join(rng.choices(_WORDS, k=rng.randint(3, 7))).capitalize()} ({n})"
    msg["Date"] = format_datetime(datetime(2026, 11, 18, 9, 0, tzinfo=UTC) + timedelta(seconds=n))
    msg["Message-ID"] = message_id
    text = _text(rng, target=rng.randint(700, 3500), signature=name)
    if rng.random() < LATIN2_SHARE:
        msg.set_content(text, charset="iso-8859-2", cte="quoted-printable")
    else:
        msg.set_content(text)
    if rng.random() < HTML_SHARE:
        paragraphs = "".join(f"<p>{line}</p>\n" for line in text.split("\n\n"))
        msg.add_alternative(f"<html><body>\n{paragraphs}</body></html>\n", subtype="html")
    if rng.random() < ATTACHMENT_SHARE:
        maintype, subtype, filename = rng.choice(_ATTACHMENTS)
        msg.add_attachment(
            rng.randbytes(rng.randint(50_000, 300_000)),
            maintype=maintype,
            subtype=subtype,
            filename=filename,
        )
    # The email package draws MIME boundaries from the global random generator: set them.
    for depth, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_bench_{n}_{depth}_{rng.getrandbits(64):016x}")
    return BenchMail(message_id, msg.as_bytes(policy=SMTP))


def _text(rng: random.Random, *, target: int, signature: str) -> str:
    """Paragraphs of Polish words, about ``target`` characters, and a signature."""
    paragraphs: list[str] = ["Dzień dobry,"]
    size = 0
    while size < target:
        lines = [
            " ".join(rng.choices(_WORDS, k=rng.randint(8, 14))) for _ in range(rng.randint(2, 6))
        ]
        paragraph = ".\n".join(line.capitalize() for line in lines) + "."
        paragraphs.append(paragraph)
        size += len(paragraph)
    paragraphs.append(f"Pozdrawiam\n{signature}")
    return "\n\n".join(paragraphs) + "\n"


def _ascii(local: str) -> str:
    return local.translate(str.maketrans("ąćęłńóśźż", "acelnoszz"))
