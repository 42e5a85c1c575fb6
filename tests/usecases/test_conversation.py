"""Conversations in the thread, end to end: Dovecot in, aiosmtpd out, the clock injected."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import MessageRow, TicketRow, TimeEntryRow
from mailbot.usecases.desk import Desk
from mailbot.usecases.phone import open_by_hand
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import NOW, STAFF, SUPPORT, Clock, customer_mail, deliver, run_once

TECH = STAFF[0]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def timed(desk: Desk, clock: Clock) -> Desk:
    return Desk(desk.engine, desk.settings, desk.renderer, desk.store, clock=clock)


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def last_of(sink: SmtpSink, kind: str) -> EmailMessage:
    return parsed(sink.of_kind(kind)[-1].content)


def ticket(desk: Desk, number: str = "SOL-1") -> TicketRow:
    with Session(desk.engine) as session:
        found = repo.ticket_by_number(number, session=session)
        assert found is not None
        return found


def step(
    desk: Desk, clock: Clock, imap: ImapPeer, raw: bytes, minutes: int, *, base: datetime = NOW
) -> None:
    """The mailbox receives ``raw`` ``minutes`` after ``base``, and mailbot runs once."""
    clock.now = base + timedelta(minutes=minutes)
    deliver(imap, raw, at=clock.now)
    run_once(desk)


def staff_reply(text: str, notification: EmailMessage, *, sender: str = TECH) -> bytes:
    quoted = "\n".join("> " + line for line in notification.get_content().splitlines())
    body = f"{text}\n\nW dniu 18.11.2026 o 10:31, Pomoc IT pisze:\n{quoted}\n"
    return customer_mail(
        sender,
        f"Re: {notification['Subject']}",
        body,
        from_name="Anna Technik",
        In_Reply_To=notification["Message-ID"],
    )


def customer_reply(
    text: str, to: EmailMessage, *, sender: str = "jan@acme.pl", tag: bool = True
) -> bytes:
    subject = f"Re: {to['Subject']}" if tag else "Re: odpowiedź"
    quoted = "\n".join("> " + line for line in to.get_content().splitlines()[:3])
    return customer_mail(sender, subject, f"{text}\n\n{quoted}\n", In_Reply_To=to["Message-ID"])


def test_a_whole_conversation_reads_naturally_from_both_sides(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    first = customer_mail(
        "jan@acme.pl", "Drukarka nie drukuje", "Dzień dobry, drukarka w biurze nie drukuje.\n"
    )
    step(timed, clock, imap_client, first, 0)
    notification = last_of(smtp_sink, "staff_new")
    assert notification["To"] == TECH and notification["Reply-To"] == SUPPORT
    assert notification["Subject"].startswith("[SOL-1] Nowe zgłoszenie (VIP)")
    assert "drukarka w biurze nie drukuje" in notification.get_content()

    # The staff member asks a question and sets the ticket waiting.
    step(
        timed,
        clock,
        imap_client,
        staff_reply("#status waiting\nJaki model drukarki?", notification),
        20,
    )
    question = last_of(smtp_sink, "relay")
    assert question["From"] == f'"Anna Technik (Pomoc IT)" <{SUPPORT}>'
    assert question["To"] == "jan@acme.pl"
    assert question["Subject"] == "Re: [SOL-1] Drukarka nie drukuje"
    assert question["In-Reply-To"] == parsed(first)["Message-ID"]
    assert "Auto-Submitted" not in question  # a person wrote it
    text = question.get_content()
    assert "Jaki model drukarki?" in text and "#status" not in text
    assert "pisze:" not in text and "Nowe zgłoszenie" not in text  # quoting and boilerplate cut
    assert "czekamy na Państwa odpowiedź" in text
    sol1 = ticket(timed)
    assert sol1.status == "waiting" and sol1.first_response_at == NOW + timedelta(minutes=20)

    # The customer answers an hour later: the ticket is open again, staff hear about it.
    step(timed, clock, imap_client, customer_reply("HP LaserJet 1020.", question), 80)
    assert ticket(timed).status == "open"
    followup = last_of(smtp_sink, "staff_followup")
    assert "HP LaserJet 1020." in followup.get_content()
    assert ticket(timed).resolution_due == sol1.resolution_due + timedelta(hours=1)

    # Staff solve it and record the time.
    step(
        timed,
        clock,
        imap_client,
        staff_reply("#time 1h30m\n#status resolved\nSterownik zaktualizowany, działa.", followup),
        120,
    )
    solved = last_of(smtp_sink, "relay")
    assert "Sterownik zaktualizowany, działa." in solved.get_content()
    assert "rozwiązane" in solved.get_content()
    final = ticket(timed)
    assert final.status == "resolved" and final.resolved_at == NOW + timedelta(minutes=120)
    with Session(timed.engine) as session:
        [entry] = session.exec(select(TimeEntryRow)).all()
    assert entry.seconds == 90 * 60 and entry.by == TECH
    # What the customer saw, in order:
    assert [
        m["Subject"] for m in map(parsed, (m.content for m in smtp_sink.to("jan@acme.pl")))
    ] == [
        "[SOL-1] Przyjęliśmy zgłoszenie: Drukarka nie drukuje",
        "Re: [SOL-1] Drukarka nie drukuje",
        "Re: [SOL-1] Drukarka nie drukuje",
    ]


def test_replies_join_by_in_reply_to_alone_or_by_tag_alone(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Sieć"), 0)
    ack = last_of(smtp_sink, "ack")
    step(timed, clock, imap_client, customer_reply("Dalej nie działa.", ack, tag=False), 5)
    step(
        timed,
        clock,
        imap_client,
        customer_mail("jan@acme.pl", "Odp: [SOL-1] Sieć", "I jeszcze to."),
        6,
    )
    with Session(timed.engine) as session:
        assert len(session.exec(select(TicketRow)).all()) == 1
        customer = session.exec(select(MessageRow).where(MessageRow.author == "customer")).all()
    assert len(customer) == 3


def test_a_forged_tag_from_a_stranger_opens_a_new_ticket(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0)
    step(
        timed,
        clock,
        imap_client,
        customer_mail("obcy@evil.example", "Re: [SOL-1] Serwer", "status"),
        1,
    )
    stranger = ticket(timed, "SOL-2")
    assert stranger.customer_address == "obcy@evil.example"
    assert [parsed(m.content)["To"] for m in smtp_sink.of_kind("status_reply")] == []


def test_internal_replies_reach_no_customer(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0)
    step(
        timed,
        clock,
        imap_client,
        staff_reply("#internal\nKlient dzwonił, oddzwonię.", last_of(smtp_sink, "staff_new")),
        3,
    )
    assert smtp_sink.of_kind("relay") == []
    assert ticket(timed).first_response_at == NOW + timedelta(minutes=3)


def test_a_bad_command_loses_nothing_and_tells_the_staff_member(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0)
    step(
        timed,
        clock,
        imap_client,
        staff_reply("#stauts resolved\nGotowe.", last_of(smtp_sink, "staff_new")),
        3,
    )
    error = last_of(smtp_sink, "staff_error")
    assert error["To"] == TECH and "#stauts: unknown command" in error.get_content()
    assert smtp_sink.of_kind("relay") == []
    assert ticket(timed).status == "new"
    with Session(timed.engine) as session:
        note = session.exec(select(MessageRow).where(MessageRow.author == "staff")).one()
    assert note.internal and "Gotowe." in note.body_text


def test_the_customer_can_ask_for_the_status(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0)
    step(timed, clock, imap_client, customer_reply("status", last_of(smtp_sink, "ack")), 5)
    answer = last_of(smtp_sink, "status_reply")
    assert answer["To"] == "jan@acme.pl"
    assert (
        "przyjęte" in answer.get_content() and "termin 2026-11-18 11:30 CET" in answer.get_content()
    )
    assert smtp_sink.of_kind("staff_followup") == []


def test_a_stranger_threading_by_message_id_gets_no_status(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0)
    step(
        timed,
        clock,
        imap_client,
        customer_reply("status", last_of(smtp_sink, "ack"), sender="obcy@evil.example", tag=False),
        5,
    )
    assert smtp_sink.of_kind("status_reply") == []


@pytest.mark.parametrize(("days", "reopened"), [(13, True), (15, False)])
def test_an_answer_to_a_resolved_ticket_reopens_it_only_within_the_window(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink, days: int, reopened: bool
) -> None:
    # A month back: Dovecot refuses INTERNALDATEs in the future, and the answer comes weeks later.
    base = NOW - timedelta(days=30)
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0, base=base)
    notification = last_of(smtp_sink, "staff_new")
    step(
        timed,
        clock,
        imap_client,
        staff_reply("#status resolved\nNaprawione.", notification),
        10,
        base=base,
    )
    solved = last_of(smtp_sink, "relay")

    later = 10 + days * 24 * 60
    step(timed, clock, imap_client, customer_reply("Znowu nie działa.", solved), later, base=base)

    if reopened:
        assert ticket(timed).status == "open"
        assert "ponownie otwarte" in last_of(smtp_sink, "status_reopened").get_content()
    else:
        assert ticket(timed).status == "resolved"
        new = ticket(timed, "SOL-2")
        assert new.follows == "SOL-1"
        assert "SOL-1" in last_of(smtp_sink, "staff_new").get_content()


def test_a_phone_ticket_gets_the_same_tier_deadlines_and_acknowledgement(
    timed: Desk, smtp_sink: SmtpSink
) -> None:
    called = NOW - timedelta(minutes=30)  # a call taken half an hour ago, typed in now

    number = open_by_hand(
        timed,
        contract_id="acme-vip",
        subject="Telefon: serwer stoi",
        body="Klient dzwonił: serwer nie odpowiada.",
        channel="phone",
        received=called,
    )
    run_once(timed)

    opened = ticket(timed, number)
    assert (opened.tier, opened.contract_id) == ("vip", "acme-vip")
    assert opened.reaction_due == called + timedelta(hours=1)
    ack = last_of(smtp_sink, "ack")
    assert ack["To"] == "jan@acme.pl" and ack["Subject"].startswith(f"[{number}] ")
    assert "Klient dzwonił" in last_of(smtp_sink, "staff_new").get_content()


def test_a_staff_out_of_office_reply_is_neither_relayed_nor_the_reaction(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer"), 0)
    notification = last_of(smtp_sink, "staff_new")
    away = customer_mail(
        TECH,
        f"Automatyczna odpowiedź: {notification['Subject']}",
        "Jestem na urlopie.\n",
        Auto_Submitted="auto-replied",
        In_Reply_To=notification["Message-ID"],
    )

    step(timed, clock, imap_client, away, 2)

    assert smtp_sink.of_kind("relay") == []
    assert ticket(timed).first_response_at is None
    with Session(timed.engine) as session:
        note = session.exec(select(MessageRow).where(MessageRow.author == "staff")).one()
    assert note.internal and "automatic mail" in note.note
