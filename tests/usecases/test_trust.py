"""Nobody speaks for staff or a contract without proof, and no two robots loop (issue 13).

End to end: Dovecot in, aiosmtpd out, the clock injected. With the shipped settings
(``authserv_id`` empty) the only proof of a staff member is an answer to the desk's
own mail to staff: its signed Message-ID (``mailbot.core.tokens``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from mailbot.adapters import db as repo
from mailbot.adapters.db import MessageRow, OutboxRow, TicketRow, TimeEntryRow
from mailbot.core.tokens import STAFF as STAFF_AUDIENCE
from mailbot.core.tokens import verify
from mailbot.usecases.desk import Desk
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import NOW, STAFF, Clock, customer_mail, deliver, run_once
from tests.usecases.test_conversation import (
    customer_reply,
    last_of,
    parsed,
    staff_reply,
    step,
    ticket,
)
from tests.usecases.test_mail_safety import TRUSTED, rows, with_settings

TECH = STAFF[0]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def timed(desk: Desk, clock: Clock) -> Desk:
    return replace(desk, clock=clock)


def staff_side(desk: Desk) -> list[MessageRow]:
    with Session(desk.engine) as session:
        return list(session.exec(select(MessageRow).where(MessageRow.author == "staff")).all())


def time_booked(desk: Desk) -> list[TimeEntryRow]:
    with Session(desk.engine) as session:
        return list(session.exec(select(TimeEntryRow)).all())


def staff_tokens_in(mail: EmailMessage, desk: Desk) -> list[str]:
    """Every id in ``mail`` (headers and text) that is a valid staff token."""
    words = " ".join([*(str(v) for v in mail.values()), mail.get_content()]).split()
    candidates = [w.strip("<>,;()") for w in words if "@" in w]
    return [c for c in candidates if (t := verify(desk.token_key, c)) and t.audience == "s"]


def forged_staff_mails(ack: EmailMessage, first_id: str) -> dict[str, bytes]:
    """Ways a stranger may try to act as the technician, each with commands in it."""
    commands = "#status closed\n#tier post_warranty\n#time 20h\n#assign tech@desk.example.pl\n"
    text = commands + "Proszę podać hasło do serwera.\n"
    subject = f"Re: {ack['Subject']}"
    guessed = "<SOL-1.staff_new.s.00000000.aaaaaaaaaaaaaaaaaaaaaaaa@desk.example.pl>"
    return {
        "from-only": customer_mail(TECH, "Serwer", text, In_Reply_To=first_id),
        "tag-only": customer_mail(TECH, subject, text),
        "reply-to": customer_mail(TECH, subject, text, Reply_To=TECH, In_Reply_To=first_id),
        "customer-thread": customer_mail(TECH, subject, text, References=ack["Message-ID"]),
        "guessed-token": customer_mail(TECH, subject, text, In_Reply_To=guessed),
    }


@pytest.mark.parametrize(
    "forgery", ["from-only", "tag-only", "reply-to", "customer-thread", "guessed-token"]
)
def test_a_forged_staff_mail_changes_nothing_relays_nothing_and_tells_the_address(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink, forgery: str
) -> None:
    first = customer_mail("jan@acme.pl", "Serwer leży", Message_ID="<first@acme.pl>")
    step(timed, clock, imap_client, first, 0)
    before = ticket(timed)
    ack = last_of(smtp_sink, "ack")

    forged = forged_staff_mails(ack, "<first@acme.pl>")[forgery]
    step(timed, clock, imap_client, forged, 5)
    # The same forger again: the address is told once per ticket, not at every mail.
    step(timed, clock, imap_client, forged.replace(b"Message-ID: <", b"Message-ID: <2"), 6)

    after = ticket(timed)
    assert (after.status, after.tier, after.assignee) == (before.status, before.tier, "")
    assert after.first_response_at is None and time_booked(timed) == []
    assert smtp_sink.of_kind("relay", "status_closed") == []
    notes = staff_side(timed)
    assert len(notes) == 2 and all(n.internal for n in notes)
    assert all("unverified" in n.note for n in notes)
    [told] = smtp_sink.of_kind("staff_unverified")
    assert list(told.rcpt_tos) == [TECH]
    assert "notatka wewnętrzna" in parsed(told.content).get_content()


def test_an_answer_to_the_notification_is_proof_without_authserv_id(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    assert timed.settings.support.authserv_id == ""
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    notification = last_of(smtp_sink, "staff_new")

    answer = staff_reply("#time 1h\n#assign tech@desk.example.pl\nRestart zrobiony.", notification)
    step(timed, clock, imap_client, answer, 7)

    relay = last_of(smtp_sink, "relay")
    assert relay["To"] == "jan@acme.pl" and "Restart zrobiony." in relay.get_content()
    assert ticket(timed).first_response_at == NOW + timedelta(minutes=7)
    assert ticket(timed).assignee == TECH
    assert [e.seconds for e in time_booked(timed)] == [3600]
    # What the customer got never carries the staff notification's proof.
    to_customer = [parsed(m.content) for m in smtp_sink.messages if "jan@acme.pl" in m.rcpt_tos]
    assert to_customer and all(staff_tokens_in(m, timed) == [] for m in to_customer)
    assert staff_tokens_in(notification, timed) == [notification["Message-ID"].strip("<>")]


def test_an_answer_to_a_customer_mail_is_no_staff_proof(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """The acknowledgement's id is signed too, but for the customer: it proves no staff."""
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    ack = last_of(smtp_sink, "ack")
    token = verify(timed.token_key, ack["Message-ID"])
    assert token is not None and token.audience != STAFF_AUDIENCE

    step(timed, clock, imap_client, staff_reply("#status resolved\nZrobione.", ack), 3)

    assert ticket(timed).status == "new" and smtp_sink.of_kind("relay") == []


def test_a_staff_mail_vouched_for_by_our_server_needs_no_token(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    guarded = with_settings(timed, authserv_id=TRUSTED)
    step(guarded, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    ack = last_of(smtp_sink, "ack")
    vouched = (
        f"{TRUSTED}; dkim=pass header.d=desk.example.pl; dmarc=pass header.from=desk.example.pl"
    )
    no_domain = f"{TRUSTED}; dmarc=pass"  # a pass about no domain in particular
    subject = f"Re: {ack['Subject']}"

    step(
        guarded,
        clock,
        imap_client,
        customer_mail(TECH, subject, "Już jadę.", Authentication_Results=no_domain),
        2,
    )
    assert smtp_sink.of_kind("relay") == []
    step(
        guarded,
        clock,
        imap_client,
        customer_mail(TECH, subject, "Już jadę.", Authentication_Results=vouched),
        4,
    )
    assert "Już jadę." in last_of(smtp_sink, "relay").get_content()


# --- a contract's customer proves the address by answering ------------------------------------


def test_an_unverified_vip_confirms_by_answering_the_acknowledgement(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    guarded = with_settings(timed, authserv_id=TRUSTED)
    # A forger sets Reply-To to themselves: the acknowledgement that can confirm still goes
    # only to the contract's address.
    first = customer_mail("jan@acme.pl", "Pilne: serwer", Reply_To="forger@evil.example")
    step(guarded, clock, imap_client, first, 0)
    opened = ticket(guarded)
    assert opened.tier == "post_warranty" and opened.unverified_contract_id == "acme-vip"
    ack = last_of(smtp_sink, "ack")
    assert ack["To"] == "jan@acme.pl" and "potwierdzam" in ack.get_content()

    # Someone who never saw the acknowledgement cannot confirm, even naming the ticket.
    guess = customer_mail("jan@acme.pl", f"Re: {ack['Subject']}", "potwierdzam\n")
    step(guarded, clock, imap_client, guess, 2)
    assert ticket(guarded).tier == "post_warranty"

    step(guarded, clock, imap_client, customer_reply("Potwierdzam", ack), 10)

    confirmed = ticket(guarded)
    assert confirmed.tier == "vip" and confirmed.contract_id == "acme-vip"
    assert confirmed.unverified_contract_id is None
    # VIP: a 1 h reaction counted from the original receipt, not from the confirmation.
    assert confirmed.reaction_due == NOW + timedelta(hours=1)
    [told] = smtp_sink.of_kind("staff_confirmed")
    assert list(told.rcpt_tos) == list(STAFF)


def test_any_other_answer_joins_the_unverified_ticket_as_a_follow_up(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    guarded = with_settings(timed, authserv_id=TRUSTED)
    step(guarded, clock, imap_client, customer_mail("jan@acme.pl", "Pilne: serwer"), 0)
    ack = last_of(smtp_sink, "ack")

    step(guarded, clock, imap_client, customer_reply("Nie pisałem tego!", ack), 5)

    still = ticket(guarded)
    assert still.tier == "post_warranty" and still.unverified_contract_id == "acme-vip"
    assert "Nie pisałem tego!" in last_of(smtp_sink, "staff_followup").get_content()
    assert smtp_sink.of_kind("staff_confirmed") == []


# --- robots ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Automatic reply: {subject}", "Thanks for your message."),
        ("Automatyczna odpowiedź: {subject}", "Dziękuję za wiadomość."),
        ("Abwesenheitsnotiz: {subject}", "Danke."),
        ("Re: {subject}", "Jestem na urlopie do 30 listopada.\nW pilnych sprawach: Jan."),
        ("Re: {subject}", "I am out of the office until Monday."),
    ],
)
def test_a_header_less_out_of_office_reply_of_staff_is_a_note(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink, subject: str, text: str
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    notification = last_of(smtp_sink, "staff_new")
    away = customer_mail(
        TECH,
        subject.format(subject=notification["Subject"]),
        text,
        In_Reply_To=notification["Message-ID"],
    )

    step(timed, clock, imap_client, away, 2)

    assert smtp_sink.of_kind("relay") == []
    assert ticket(timed).first_response_at is None
    [note] = staff_side(timed)
    assert note.internal and note.note.startswith("automatic mail")


def test_two_careless_robots_stop_at_the_ticket_cap(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """The customer's autoresponder and a staff robot that words its answers like a person
    (no headers, no telltale subject): the cap holds the loop and staff hear of it once."""
    cap = timed.settings.limits.customer_mails_per_ticket_hour
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    to_staff = last_of(smtp_sink, "staff_new")
    for round_ in range(cap + 5):
        # The staff robot answers the notification; mailbot relays it to the customer...
        robot = staff_reply(f"Dziękuję, odpowiem wkrótce ({round_}).", to_staff)
        step(timed, clock, imap_client, robot, 1 + round_)
        relays = smtp_sink.of_kind("relay")
        if len(relays) <= round_:
            break  # held: nothing went to the customer this round
        # ...whose autoresponder answers the relay; staff are told of the follow-up.
        answer = customer_reply("Dziękujemy, odpowiemy wkrótce.", parsed(relays[-1].content))
        step(timed, clock, imap_client, answer, 1 + round_)
        to_staff = last_of(smtp_sink, "staff_followup")

    # The acknowledgement counts too: every mail to the ticket's customer does.
    to_customer = [m for m in smtp_sink.messages if "jan@acme.pl" in m.rcpt_tos]
    assert len(to_customer) == cap and len(smtp_sink.of_kind("relay")) == cap - 1
    [alert] = smtp_sink.of_kind("staff_held")
    assert "mailbot tickets release SOL-1" in parsed(alert.content).get_content()
    with Session(timed.engine) as session:
        held = session.exec(select(OutboxRow).where(OutboxRow.status == "held")).all()
    assert [h.kind for h in held] == ["relay"]

    # A person read the ticket and lets the held answer go.
    with Session(timed.engine) as session:
        assert repo.release_held(held[0].ticket_id or 0, clock.now, session=session) == 1
        session.commit()
    run_once(timed)
    assert len(smtp_sink.of_kind("relay")) == cap


# --- commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("#time 25h", "#time: expected a duration from 1 minute to 24 hours"),
        ("#time 0h", "#time: expected a duration from 1 minute to 24 hours"),
        ("#time " + "9" * 400 + "h", "#time: expected a duration from 1 minute to 24 hours"),
        ("#assign spy@attacker.test", "#assign: spy@attacker.test is not a staff address"),
    ],
)
def test_an_invalid_command_keeps_the_reply_as_a_note_and_mails_the_error(
    timed: Desk,
    clock: Clock,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    command: str,
    error: str,
) -> None:
    step(timed, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    notification = last_of(smtp_sink, "staff_new")

    step(timed, clock, imap_client, staff_reply(f"{command}\nGotowe, hasło: xyz.", notification), 3)

    mailed = last_of(smtp_sink, "staff_error")
    assert mailed["To"] == TECH and error in mailed.get_content()
    assert smtp_sink.of_kind("relay") == [] and time_booked(timed) == []
    [note] = staff_side(timed)
    assert note.internal and "Gotowe" in note.body_text
    assert ticket(timed).assignee == "" and ticket(timed).status == "new"
    with Session(timed.engine) as session:
        assert session.exec(select(TicketRow)).one().first_response_at is None


def test_the_shipped_settings_say_what_identity_rests_on(timed: Desk) -> None:
    from mailbot.core.identity import identity_summary  # noqa: PLC0415

    open_desk = identity_summary(timed.policy, vip_contracts_need_proof=True)
    assert "only a reply to mailbot's notification" in open_desk[0]
    assert open_desk[1].startswith("WARNING")
    guarded = identity_summary(
        with_settings(timed, authserv_id=TRUSTED).policy, vip_contracts_need_proof=True
    )
    assert TRUSTED in guarded[0] and not guarded[1].startswith("WARNING")
    assert rows(timed, TicketRow) == []


# --- what the review found ---------------------------------------------------------------------


def test_a_token_proves_only_the_addresses_its_mail_went_to(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """A notification forwarded (or CC'd) to someone else lends them no staff powers, even
    when they write from a staff domain."""
    domain = with_settings(timed, staff_domains=("desk.example.pl",))
    step(domain, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    notification = last_of(smtp_sink, "staff_new")

    forwarded = staff_reply("#status closed\nZamykam.", notification, sender="szef@desk.example.pl")
    step(domain, clock, imap_client, forwarded, 4)

    assert ticket(domain).status == "new" and smtp_sink.of_kind("relay") == []
    [told] = smtp_sink.of_kind("staff_unverified")
    assert list(told.rcpt_tos) == [TECH]  # the listed staff, never the claimed address


def test_a_routed_local_part_of_a_staff_domain_is_no_staff_and_gets_no_notice(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    domain = with_settings(timed, staff_domains=("desk.example.pl",))
    step(domain, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    ack = last_of(smtp_sink, "ack")

    spy = customer_mail("spy%attacker.test@desk.example.pl", f"Re: {ack['Subject']}", "Hej")
    step(domain, clock, imap_client, spy, 2)

    assert all(
        "attacker" not in ",".join(m.rcpt_tos) for m in smtp_sink.of_kind("staff_unverified")
    )
    stranger = ticket(domain, "SOL-2")  # a stranger quoting a tag gets a ticket of their own
    assert stranger.customer_address == "spy%attacker.test@desk.example.pl"


def test_a_signed_staff_mail_to_a_customer_replayed_to_the_desk_is_no_staff_reply(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    guarded = with_settings(timed, authserv_id=TRUSTED)
    step(guarded, clock, imap_client, customer_mail("jan@acme.pl", "Serwer leży"), 0)
    ack = last_of(smtp_sink, "ack")
    vouched = (
        f"{TRUSTED}; dkim=pass header.d=desk.example.pl; dmarc=pass header.from=desk.example.pl"
    )
    replayed = customer_mail(
        TECH, f"Re: {ack['Subject']}", "#status closed\nZamykam.", Authentication_Results=vouched
    ).replace(b"To: support@desk.example.pl", b"To: jan@acme.pl")

    step(guarded, clock, imap_client, replayed, 3)

    assert ticket(guarded).status == "new" and smtp_sink.of_kind("relay") == []


def test_a_mail_naming_280_000_references_does_not_stop_intake(
    timed: Desk, clock: Clock, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    """Every id was a query parameter: past the database's limit the query failed like an
    outage, and the mail stayed first in the inbox for good."""
    headers = b"".join(
        ("\r\nReferences: " + " ".join(f"<{h}.{n}@x>" for n in range(4000))).encode()
        for h in range(70)
    )
    flood = customer_mail("obcy@evil.example", "Flood").replace(
        b"\r\n\r\n", headers + b"\r\n\r\n", 1
    )
    deliver(imap_client, flood, at=NOW)
    deliver(imap_client, customer_mail("jan@acme.pl", "Serwer leży"), at=NOW)

    run_once(timed)

    assert {t.customer_address for t in rows(timed, TicketRow)} == {
        "obcy@evil.example",
        "jan@acme.pl",
    }
    assert imap_client.messages("INBOX") == []
