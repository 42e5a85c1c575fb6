"""Signed Message-IDs and the proofs built on them (pure: no servers)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.automation import autoreply_wording
from mailbot.core.commands import parse_reply, work_minutes
from mailbot.core.decide import DeskPolicy
from mailbot.core.parsing import parse_mail
from mailbot.core.tokens import (
    CUSTOMER,
    STAFF,
    answered_token,
    redacted,
    signed_message_id,
    verify,
)

KEY = bytes(range(32))


def signed(number: str = "SOL-7", kind: str = "staff_new", audience: str = STAFF) -> str:
    return signed_message_id(
        KEY, number=number, kind=kind, audience=audience,  # type: ignore[arg-type]
        nonce="0a1b2c3d", domain="desk.example.pl",
    )  # fmt: skip


def test_a_signed_id_says_its_ticket_kind_and_audience() -> None:
    token = verify(KEY, signed())
    assert token is not None
    assert (token.number, token.kind, token.audience) == ("SOL-7", "staff_new", STAFF)
    # A dot-atom left of the @ (RFC 5322 section 3.6.4): no padding, no case to lose.
    assert (
        "=" not in signed()
        and signed()[1:-1]
        .rpartition("@")[0]
        .replace(".", "")
        .replace("-", "")
        .replace("_", "")
        .isalnum()
    )


@pytest.mark.parametrize(
    "forged",
    [
        signed().replace("SOL-7", "SOL-8"),  # another ticket
        signed().replace(".s.", ".c."),  # a customer's id made a staff one, or back
        signed().replace("staff_new", "staff_error"),
        signed()[:-25] + "a" * 24 + "@desk.example.pl>",  # a guessed HMAC
        "<SOL-7.staff_new.s.0a1b2c3d@desk.example.pl>",  # no HMAC at all
        "<4f1c2e@desk.example.pl>",  # an ordinary id
        "",
    ],
)
def test_a_changed_or_made_up_id_is_not_ours(forged: str) -> None:
    assert verify(KEY, forged) is None


def test_another_desks_key_proves_nothing() -> None:
    assert verify(b"another desk" * 3, signed()) is None
    assert verify(b"", signed()) is None


@given(st.text(max_size=200))
def test_verify_never_raises(text: str) -> None:
    assert verify(KEY, text) is None or text.strip().startswith("<SOL")


def test_an_answer_proves_only_its_own_ticket_and_audience() -> None:
    references = ["<x@acme.pl>", signed(), None]
    assert answered_token(KEY, references, number="SOL-7", audience=STAFF) is not None
    assert answered_token(KEY, references, number="SOL-70", audience=STAFF) is None
    assert answered_token(KEY, references, number="SOL-7", audience=CUSTOMER) is None


@pytest.mark.parametrize(
    ("subject", "text", "robot"),
    [
        ("Automatic reply: [SOL-1] Serwer", "", True),
        ("RE: Automatyczna odpowiedź: [SOL-1] Serwer", "", True),
        ("Auto: [SOL-1] Serwer", "", True),  # Sieve vacation, RFC 5230
        ("Out of Office: [SOL-1] Serwer", "", True),
        ("Nieobecność: [SOL-1]", "", True),
        ("Re: [SOL-1] Serwer", "Jestem na urlopie do poniedziałku.", True),
        ("Re: [SOL-1] Serwer", "I'm out of the office until 2 December.", True),
        ("Re: [SOL-1] Serwer", "Ich bin derzeit nicht im Büro.", True),
        ("Re: [SOL-1] Serwer", "Restart zrobiony, działa.", False),
        ("Re: [SOL-1] Automatic reply settings do not work", "Sprawdzę.", False),
        ("Re: [SOL-1] Serwer", "Zrobione.\n\n> I am out of the office", False),
    ],
)
def test_staff_robots_are_known_by_their_wording(subject: str, text: str, robot: bool) -> None:
    assert (autoreply_wording(subject, text) is not None) is robot


@pytest.mark.parametrize("arg", ["25h", "0h", "0m", "24h1m", "9" * 400 + "h", "1441m", "0.001h"])
def test_time_outside_a_minute_to_a_day_is_an_error(arg: str) -> None:
    parsed = parse_reply(f"#time {arg}\nTekst")
    assert parsed.commands == () and parsed.errors[0].startswith("#time: expected a duration")


@pytest.mark.parametrize(("arg", "minutes"), [("24h", 1440), ("1m", 1), ("0,5h", 30)])
def test_time_within_a_day_is_fine(arg: str, minutes: int) -> None:
    assert parse_reply(f"#time {arg}").errors == ()
    assert work_minutes(arg) == minutes


def test_assign_names_only_staff() -> None:
    def staff(address: str) -> bool:
        return address.endswith("@desk.example.pl")

    assert parse_reply("#assign anna@desk.example.pl", is_staff=staff).errors == ()
    refused = parse_reply("#assign spy@attacker.test", is_staff=staff)
    assert refused.commands == ()
    assert refused.errors == ("#assign: spy@attacker.test is not a staff address",)


def test_an_id_python_folded_into_encoded_words_still_threads() -> None:
    """Python's email package writes a long In-Reply-To as RFC 2047 words; we read it."""
    raw = (
        b"From: tech@desk.example.pl\r\nSubject: Re\r\nIn-Reply-To: =?utf-8?q?=3CSOL-1=2Estaff"
        b"=5Fnew=2Es=2Ea170f17a=2E6lrbw?=\r\n =?utf-8?q?yf5ukbzggct3og4ib=40desk=2Eexample=2Epl=3E?="
        b"\r\n\r\nx\r\n"
    )
    assert (
        parse_mail(raw).in_reply_to
        == "<SOL-1.staff_new.s.a170f17a.6lrbwyf5ukbzggct3og4ib@desk.example.pl>"
    )


@pytest.mark.parametrize(
    "forged",
    ["<SOL-1.ack.c.0000.\u00e9@x>", "<SOL-1.staff_new.s.00.\u0105\u0119@desk.example.pl>"],
)
def test_a_non_ascii_signature_is_refused_not_a_crash(forged: str) -> None:
    assert verify(KEY, forged) is None


def test_only_the_newest_references_are_kept() -> None:
    ids = " ".join(f"<{n}@acme.pl>" for n in range(2000))
    raw = f"From: jan@acme.pl\r\nSubject: x\r\nReferences: {ids}\r\n\r\nx\r\n".encode()
    mail = parse_mail(raw)
    assert mail.references == tuple(f"<{n}@acme.pl>" for n in range(1950, 2000))
    assert any("only the last 50 of 2000 ids" in note for note in mail.defects)


@pytest.mark.parametrize(
    ("address", "staff"),
    [
        ("anna@desk.example.pl", True),
        ("anna.maria+it@desk.example.pl", True),
        ("spy%attacker.test@desk.example.pl", False),  # Postfix's percent hack routes it on
        ('"spy@attacker.test"@desk.example.pl', False),
        ("attacker.test!spy@desk.example.pl", False),
        ("odd%listed@desk.example.pl", True),  # listed by the admin: their choice
    ],
)
def test_only_plain_addresses_of_a_staff_domain_are_staff(address: str, staff: bool) -> None:
    policy = DeskPolicy(
        "SOL", frozenset(), frozenset({"odd%listed@desk.example.pl"}),
        frozenset({"desk.example.pl"}), {},
    )  # fmt: skip
    assert policy.is_staff(address) is staff


def test_a_log_line_shows_a_signed_id_without_its_signature() -> None:
    shown = redacted(signed())
    assert shown == "<SOL-7.staff_new.s.0a1b2c3d.-@desk.example.pl>"
    assert verify(KEY, shown) is None
    assert redacted("<4f1c2e@acme.pl>") == "<4f1c2e@acme.pl>"
