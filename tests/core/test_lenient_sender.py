"""Senders RFC 5322 cannot read (issue 18, item 2): read leniently, flagged, never proof.

The shapes come from real support mailboxes (an unquoted display name with spaces, a
trailing dot, a local part quoted in the wrong place, a bare MAILER-DAEMON) and from an
attacker's side (several addresses, an address only in the display name, ``<>``, a header
of 100 KB).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import pytest

from mailbot.core.automation import is_bounce
from mailbot.core.contracts import Contract
from mailbot.core.decide import DeskPolicy, OpenTicket, Quarantine, TicketRef, decide
from mailbot.core.identity import staff_proof
from mailbot.core.lenient_sender import LenientSender, is_valid_address, read_sender
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail
from mailbot.core.tiers import Tier
from tests.core.test_decide import GUARDED, MAIL, MX, NOW, POLICY, TRUSTED_PASS

# (From as written, what the lenient reader makes of it)
READ = [
    ("anna.nowak@example.pl.", LenientSender("anna.nowak@example.pl")),
    ("Anna Nowak <anna.nowak@example.pl.>", LenientSender("anna.nowak@example.pl", "Anna Nowak")),
    ("Dział IT firma@example.pl", LenientSender("firma@example.pl", "Dział IT")),
    ('"Dział IT" firma@example.pl', LenientSender("firma@example.pl", "Dział IT")),
    ('jan."kowalski@example.pl', LenientSender("jan.kowalski@example.pl")),
    ('"jan".kowalski"@Example.PL', LenientSender("jan.kowalski@example.pl")),
    ("MAILER-DAEMON", LenientSender(None, robot="mailer-daemon")),
    ("Mail Delivery System <MAILER-DAEMON>", LenientSender(None, robot="mailer-daemon")),
    ("postmaster", LenientSender(None, robot="postmaster")),
    # Several addresses: the last one, as the brief and other helpdesks do.
    ("a@one.pl b@two.pl", LenientSender("b@two.pl", "a@one.pl")),
    ("a@one.pl, b@two.pl.", LenientSender("b@two.pl", "a@one.pl")),
    ("<a@one.pl> <b@two.pl>", LenientSender("b@two.pl")),
    # With brackets, only what is inside them is an address: never the display name.
    ('"x@evil.example" <>', LenientSender(None)),
    ("x@evil.example <>", LenientSender(None)),
    ('"x@evil.example" <nobody>', LenientSender(None)),
    ("<>", LenientSender(None)),
    ("", LenientSender(None)),
    ("Anna Nowak", LenientSender(None)),
    ("@", LenientSender(None)),
    ("anna@", LenientSender(None)),
    ("MAILER-DAEMON-X", LenientSender(None)),
    # Address-shaped but no address to write to: read, and is_valid_address says no.
    ("Jan <jan@@example.pl>", LenientSender("jan@@example.pl", "Jan")),
    ("jan..kowalski@example.pl.", LenientSender("jan..kowalski@example.pl")),
]


@pytest.mark.parametrize(("value", "expected"), READ, ids=[v or "empty" for v, _ in READ])
def test_read_sender(value: str, expected: LenientSender) -> None:
    assert read_sender(value) == expected


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("anna.nowak@example.pl", True),
        ("firma@xn--dzia-it-9db.pl", True),
        ("o'brien+tag@mail.example.co.uk", True),
        ("zażółć@przykład.pl", False),  # a non-ASCII local part needs SMTPUTF8: not ours
        ("anna@przykład.pl", True),  # an internationalised domain (RFC 5890) is fine
        ("jan@@example.pl", False),
        ("jan..kowalski@example.pl", False),
        (".jan@example.pl", False),
        ("jan@localhost", False),
        ("jan@-example.pl", False),
        ("jan@example..pl", False),
        ('"jan"@example.pl', False),
        ("a" * 65 + "@example.pl", False),
        ("jan@" + "a" * 250 + ".pl", False),
    ],
)
def test_is_valid_address(address: str, valid: bool) -> None:
    assert is_valid_address(address) is valid


def mail_from(value: str, extra: str = "") -> bytes:
    return f"From: {value}\r\n{extra}Subject: x\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n".encode()


@pytest.mark.parametrize(
    ("value", "address", "name"),
    [
        ("anna.nowak@example.pl.", "anna.nowak@example.pl", ""),
        ("Dział IT firma@example.pl", "firma@example.pl", "Dział IT"),
        ("=?utf-8?q?Dzia=C5=82_IT?= firma@example.pl", "firma@example.pl", "Dział IT"),
        ('jan."kowalski@example.pl', "jan.kowalski@example.pl", ""),
    ],
)
def test_parse_mail_reads_the_sender_leniently_and_keeps_the_header(
    value: str, address: str, name: str
) -> None:
    mail = parse_mail(mail_from(value))
    assert (mail.from_address, mail.from_name) == (address, name)
    assert mail.lenient_from == value
    assert f"from: no address by RFC 5322, read leniently as {address}" in mail.defects


@pytest.mark.parametrize(
    "value",
    ["Anna <anna@example.pl>", '"Nowak, Anna" <anna@example.pl>', "anna@example.pl"],
)
def test_a_sender_rfc_5322_reads_is_not_flagged(value: str) -> None:
    mail = parse_mail(mail_from(value))
    assert mail.from_address == "anna@example.pl" and mail.lenient_from == ""


def test_a_valid_sender_header_still_comes_before_a_lenient_from() -> None:
    mail = parse_mail(mail_from("Dział IT firma@example.pl", "Sender: it@example.pl\r\n"))
    assert mail.from_address == "it@example.pl" and mail.lenient_from == ""


@pytest.mark.parametrize("value", ["<>", '"x@evil.example" <>', "Anna Nowak", "@@@"])
def test_no_address_at_all_stays_none(value: str) -> None:
    mail = parse_mail(mail_from(value))
    assert mail.from_address is None and mail.robot_sender == "" and mail.lenient_from == ""


def test_a_bare_mailer_daemon_is_a_robot_sender() -> None:
    mail = parse_mail(mail_from("MAILER-DAEMON", "Return-Path: <>\r\n"))
    assert mail.from_address is None and mail.robot_sender == "mailer-daemon"
    assert mail.lenient_from == "MAILER-DAEMON"
    assert is_bounce(mail)  # the service links it to our outbox like any old-style bounce


def parse_seconds(size: int, filler: str) -> float:
    # The address first: parse_bounds cuts a header at 64 KiB, so one at the end is lost.
    raw = mail_from("anna.nowak@example.pl. " + filler * (size // len(filler)))
    start = time.perf_counter()
    mail = parse_mail(raw)
    elapsed = time.perf_counter() - start
    if filler in ("a", "a@", "<a"):  # no other address, nor brackets closed
        assert mail.from_address == "anna.nowak@example.pl" and mail.lenient_from
    return elapsed


@pytest.mark.parametrize("filler", ["a", "a@", "<a", '"a@b" ', "a.b@c ", "MAILER-DAEMON ", "<"])
def test_a_100_kb_from_header_costs_linear_time(filler: str) -> None:
    # A quadratic reader takes 100 times as long for 10 times the length; a linear one 10.
    small = min(parse_seconds(10_000, filler) for _ in range(3))
    large = min(parse_seconds(100_000, filler) for _ in range(3))
    assert large < 1.0
    assert large < 30 * small + 0.05


@pytest.mark.parametrize("filler", ["a", "a@", "<a", "<", '"', "@.", "MAILER-DAEMON "])
def test_read_sender_alone_is_linear_in_a_100_kb_value(filler: str) -> None:
    def seconds(size: int) -> float:
        value = filler * (size // len(filler)) + " anna.nowak@example.pl."
        start = time.perf_counter()
        read_sender(value)
        return time.perf_counter() - start

    small = min(seconds(10_000) for _ in range(3))
    large = min(seconds(100_000) for _ in range(3))
    assert large < 0.5
    assert large < 30 * small + 0.01


# --- what a lenient sender may do: at most what an unverified From may ----------------------

LENIENT = replace(MAIL, lenient_from='jan."@acme.pl', from_address="jan@acme.pl")
VIP = Contract("vip", "ACME", Tier.VIP, ("jan@acme.pl",), (), date(2025, 1, 1))
WARRANTY_OFF = replace(VIP, id="gw", tier=Tier.WARRANTY, require_authentication=False)


def opened(mail: InboundMail, contract: Contract, policy: DeskPolicy) -> OpenTicket:
    decision = decide(
        mail, now=NOW, contracts=[contract], by_message_id={}, tagged=None, policy=policy
    )
    assert isinstance(decision, OpenTicket)
    return decision


def test_a_lenient_sender_opens_a_ticket_and_is_acknowledged() -> None:
    decision = opened(replace(LENIENT, from_address="x@gmail.com"), VIP, POLICY)
    assert decision.match.tier is Tier.POST_WARRANTY and decision.no_ack_reason is None


@pytest.mark.parametrize("policy", [GUARDED, replace(GUARDED, authserv_id="")], ids=["mx", "none"])
def test_a_lenient_sender_never_gets_a_tier_that_needs_authentication(policy: DeskPolicy) -> None:
    # Even with the trusted server's DMARC pass for the domain, and even without a trusted
    # server (where a strictly read From is believed).
    decision = opened(replace(LENIENT, authentication_results=TRUSTED_PASS), VIP, policy)
    assert decision.match.tier is Tier.POST_WARRANTY and decision.match.contract is None
    assert decision.unverified == VIP


def test_a_lenient_sender_gets_a_tier_that_trusts_from_as_an_unverified_from_would() -> None:
    decision = opened(LENIENT, WARRANTY_OFF, GUARDED)
    assert decision.match.tier is Tier.WARRANTY and decision.unverified is None


def test_a_lenient_sender_that_is_no_valid_address_gets_no_automatic_mail() -> None:
    mail = replace(LENIENT, from_address="jan..kowalski@example.pl")
    decision = opened(mail, VIP, POLICY)
    assert decision.no_ack_reason == (
        "sender read leniently as jan..kowalski@example.pl, not a valid address"
    )


def test_a_lenient_staff_address_is_not_staff() -> None:
    staff = replace(LENIENT, from_address="anna@desk.pl", subject="[SOL-7] x")
    tagged = TicketRef("SOL-7", "jan@acme.pl", "acme")
    decision = decide(staff, now=NOW, contracts=[], by_message_id={}, tagged=tagged, policy=POLICY)
    assert isinstance(decision, OpenTicket)  # a stranger quoting the tag: a ticket of its own
    strict = replace(staff, lenient_from="")
    assert not isinstance(
        decide(strict, now=NOW, contracts=[], by_message_id={}, tagged=tagged, policy=POLICY),
        OpenTicket,
    )


def test_a_lenient_staff_address_has_no_staff_proof() -> None:
    policy = replace(GUARDED, authserv_id=MX)
    mail = replace(
        MAIL,
        from_address="anna@desk.pl",
        to=("support@desk.pl",),
        authentication_results=(f"{MX}; dmarc=pass header.from=desk.pl",),
    )
    assert staff_proof(mail, number="SOL-7", policy=policy, key=b"k" * 32, sent_to={})
    lenient = replace(mail, lenient_from="anna@desk.pl.")
    assert staff_proof(lenient, number="SOL-7", policy=policy, key=b"k" * 32, sent_to={}) is None


def test_a_bare_mailer_daemon_is_quarantined_as_a_robot_not_for_no_sender() -> None:
    robot = replace(MAIL, from_address=None, robot_sender="mailer-daemon", lenient_from="x")
    decision = decide(robot, now=NOW, contracts=[], by_message_id={}, tagged=None, policy=POLICY)
    assert isinstance(decision, Quarantine)
    assert decision.reason.startswith("bounce or robot mail from mailer-daemon without a domain")
    nobody = decide(
        replace(robot, robot_sender=""),
        now=NOW,
        contracts=[],
        by_message_id={},
        tagged=None,
        policy=POLICY,
    )
    assert nobody == Quarantine("no sender address (From) could be read")
