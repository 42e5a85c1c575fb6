"""The customer's status page through Starlette's TestClient (issue 15 item 4): links in
the mails, the page and what it never shows, revoked and tampered links, an answer typed
on the page, and the lost-link form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from mailbot.adapters import db as repo
from mailbot.adapters.db import MessageRow, OutboxRow, Session
from mailbot.bootstrap import build_desk
from mailbot.core.mail import InboundMail
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import apply_mail
from mailbot.usecases.phone import open_by_hand
from mailbot.usecases.timesheet import add_time
from mailbot.usecases.web_status import answer_from_page, revoke_link
from mailbot.web.app import create_app
from tests import factories
from tests.web.test_app import assert_secured, web_desk

BASE = "https://pomoc.example.pl"
CUSTOMER = "jan@acme.pl"
LINK = re.compile(re.escape(BASE) + r"/t/[A-Za-z0-9_.-]+")


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    desk = web_desk(database_url, tmp_path, base_url=BASE)
    yield desk
    desk.engine.dispose()


def client(desk: Desk, peer: tuple[str, int] = ("198.51.100.7", 40000)) -> TestClient:
    app = create_app(desk)
    # base_url is https: cookies are Secure, so the test client speaks https too.
    return TestClient(
        app, base_url="https://testserver", client=peer, raise_server_exceptions=False
    )


def open_ticket(desk: Desk, subject: str = "Drukarka nie drukuje") -> str:
    mail = InboundMail(
        message_id="<first@acme.pl>", from_address=CUSTOMER, from_name="Jan Kowalski",
        subject=subject, date=factories.NOW, to=(factories.SUPPORT,),
        body_text="Nie działa drukarka.\n",
    )  # fmt: skip
    with Session(desk.engine) as session:
        outcome = apply_mail(desk, mail, now=factories.NOW, session=session)
        session.commit()
        assert outcome.ticket_id is not None
        return repo.ticket_number_of(outcome.ticket_id, session=session)


def mails(desk: Desk, kind: str) -> list[str]:
    with Session(desk.engine) as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == kind)).all()
    return [_body(row.raw) for row in rows]


def _body(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=policy.default)
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_of(desk: Desk, number: str) -> str:
    (ack,) = mails(desk, "ack")
    found = LINK.search(ack)
    assert found, ack
    return found[0].removeprefix(BASE)


def add_history(desk: Desk, number: str) -> None:
    """A staff member's internal note and their reply as relayed to the customer."""
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        assert ticket is not None and ticket.id is not None
        later = factories.NOW + timedelta(minutes=20)
        session.add(MessageRow(
            ticket_id=ticket.id, direction="in", sender=factories.STAFF[0], author="staff",
            internal=True, body_text="#internal customer owes us money, TAJNE", received_at=later,
        ))  # fmt: skip
        session.add(MessageRow(
            ticket_id=ticket.id, direction="out", sender=factories.SUPPORT, recipients=CUSTOMER,
            author="staff", note="relay", body_text="Proszę wymienić toner.",
            received_at=later + timedelta(minutes=1), message_id="<relay@desk.example.pl>",
        ))  # fmt: skip
        session.commit()


# --- links in the mails --------------------------------------------------------------------


def test_the_acknowledgement_carries_the_personal_link_and_the_ticket_a_nonce(desk: Desk) -> None:
    number = open_ticket(desk)
    path = link_of(desk, number)
    assert path.startswith("/t/")
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        assert ticket is not None and ticket.link_nonce


def test_without_base_url_no_link_and_no_nonce(database_url: str, tmp_path: Path) -> None:
    desk = web_desk(database_url, tmp_path)
    try:
        number = open_ticket(desk)
        (ack,) = mails(desk, "ack")
        assert "/t/" not in ack and "link osobisty" not in ack
        with Session(desk.engine) as session:
            ticket = repo.ticket_by_number(number, session=session)
            assert ticket is not None and ticket.link_nonce is None
    finally:
        desk.engine.dispose()


# --- the page ------------------------------------------------------------------------------


def test_the_page_shows_the_ticket_its_deadlines_and_progress(desk: Desk) -> None:
    number = open_ticket(desk)
    add_history(desk, number)
    response = client(desk).get(link_of(desk, number))
    assert response.status_code == 200, response.text
    assert_secured(response)
    assert response.headers["Cache-Control"] == "no-store"
    page = response.text
    assert number in page and "Drukarka nie drukuje" in page
    assert "serwis pogwarancyjny" in page
    assert "Reakcja najpóźniej do" in page and "Rozwiązanie najpóźniej do" in page
    assert "Proszę wymienić toner." in page
    assert "TAJNE" not in page and "#internal" not in page
    for address in (factories.STAFF[0], factories.SUPPORT, CUSTOMER):
        assert address not in page


def test_the_page_speaks_english_when_asked(desk: Desk) -> None:
    number = open_ticket(desk)
    page = client(desk).get(link_of(desk, number) + "?lang=en").text
    assert "Request " + number in page and "Resolution at the latest by" in page


def test_a_script_in_the_subject_is_shown_as_text(desk: Desk) -> None:
    number = open_ticket(desk, subject="<script>alert(1)</script>")
    page = client(desk).get(link_of(desk, number)).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_tampered_or_unknown_token_is_a_plain_404(desk: Desk) -> None:
    number = open_ticket(desk)
    path = link_of(desk, number)
    flipped = path[:-1] + ("A" if path[-1] != "A" else "B")
    for bad in (flipped, "/t/nothing", "/t/" + "x" * 2000):
        response = client(desk).get(bad)
        assert response.status_code == 404
        assert number not in response.text


def test_a_revoked_link_is_404_and_the_new_one_works(desk: Desk) -> None:
    number = open_ticket(desk)
    old = link_of(desk, number)
    new = revoke_link(desk, number)
    assert new and new.startswith(BASE + "/t/")
    assert client(desk).get(old).status_code == 404
    assert client(desk).get(new.removeprefix(BASE)).status_code == 200
    assert revoke_link(desk, "SOL-999") is None


# --- an answer from the page ---------------------------------------------------------------


def test_an_answer_joins_the_ticket_and_staff_are_told(desk: Desk) -> None:
    number = open_ticket(desk)
    path = link_of(desk, number)
    browser = client(desk)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).text)
    assert token
    response = browser.post(
        path + "/reply",
        data={"csrf_token": token[1], "text": "Toner wymieniony, <b>dalej</b> nie działa."},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == path
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        assert ticket is not None and ticket.id is not None
        theirs = [
            m for m in repo.ticket_messages(ticket.id, session=session) if m.direction == "in"
        ]
        assert theirs[-1].sender == CUSTOMER and "dalej" in theirs[-1].body_text
    assert any("dalej" in body for body in mails(desk, "staff_followup"))
    page = browser.get(path).text
    assert "&lt;b&gt;dalej&lt;/b&gt;" in page


def test_an_answer_needs_the_csrf_token_and_a_live_link(desk: Desk) -> None:
    number = open_ticket(desk)
    path = link_of(desk, number)
    browser = client(desk)
    assert browser.post(path + "/reply", data={"text": "hej"}).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).text)
    assert token
    too_long = {"csrf_token": token[1], "text": "x" * 20_001}
    assert browser.post(path + "/reply", data=too_long).status_code == 400
    revoke_link(desk, number)
    gone = browser.post(path + "/reply", data={"csrf_token": token[1], "text": "hej"})
    assert gone.status_code == 404


# --- a lost link ---------------------------------------------------------------------------


def ask_for_link(browser: TestClient, number: str, address: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/link").text)
    assert token
    response = browser.post(
        "/link", data={"csrf_token": token[1], "number": number, "email": address}
    )
    assert response.status_code == 200
    return response.text


def test_a_lost_link_is_mailed_and_the_page_answers_the_same_either_way(desk: Desk) -> None:
    number = open_ticket(desk)
    browser = client(desk)
    wrong = ask_for_link(browser, number, "someone@else.pl")
    unknown = ask_for_link(browser, "SOL-999", CUSTOMER)
    assert mails(desk, "status_link") == []
    right = ask_for_link(browser, number.lower(), CUSTOMER.upper())
    strip = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip.sub("", right) == strip.sub("", wrong) == strip.sub("", unknown)
    (sent,) = mails(desk, "status_link")
    found = LINK.search(sent)
    assert found and client(desk).get(found[0].removeprefix(BASE)).status_code == 200


def refused_link(browser: TestClient) -> int:
    """Ask for a link once more; the answer's status (429 when refused)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/link").text)
    assert token
    answer = browser.post(
        "/link", data={"csrf_token": token[1], "number": "SOL-1", "email": "a@b.pl"}
    )
    assert answer.status_code != 429 or int(answer.headers["Retry-After"]) > 0
    return answer.status_code


def test_lost_link_requests_are_limited_per_client_address(desk: Desk) -> None:
    open_ticket(desk)
    browser = client(desk)
    for _ in range(5):
        ask_for_link(browser, "SOL-999", CUSTOMER)
    assert refused_link(browser) == 429
    other = client(desk, peer=("203.0.113.9", 1))
    assert ask_for_link(other, "SOL-999", CUSTOMER)


def test_lost_link_limits_outlive_a_restart_and_span_web_processes(desk: Desk) -> None:
    open_ticket(desk)
    second = build_desk(desk.settings, clock=desk.clock)  # another mailbot web, same database
    try:
        for web in (client(desk), client(second), client(desk)):
            ask_for_link(web, "SOL-999", CUSTOMER)
        ask_for_link(client(second), "SOL-999", CUSTOMER)
        ask_for_link(client(desk), "SOL-999", CUSTOMER)
        # Five from one address across two processes and new apps (restarts): the sixth waits.
        assert refused_link(client(second)) == 429
        assert refused_link(client(desk)) == 429
    finally:
        second.engine.dispose()


def test_a_status_reply_carries_the_same_link(desk: Desk) -> None:
    number = open_ticket(desk)
    path = link_of(desk, number)
    assert answer_from_page(desk, path.removeprefix("/t/"), "status")
    (reply,) = mails(desk, "status_reply")
    assert BASE + path in reply and "link osobisty" in reply


def test_a_vip_page_shows_the_months_package_and_free_unjustified_tickets(desk: Desk) -> None:
    with Session(desk.engine) as session:
        repo.import_contracts([factories.VIP], session=session)
        session.commit()
    number = open_by_hand(
        desk, contract_id=factories.VIP.id, subject="Serwer", body="Nie działa.",
        channel="phone", received=factories.NOW,
    )  # fmt: skip
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        assert ticket is not None
        add_time(
            ticket, timedelta(minutes=70), at=factories.NOW, by="admin", note="", session=session
        )
        session.commit()
    token = (revoke_link(desk, number) or "").removeprefix(BASE)
    page = client(desk).get(token).text
    assert "umowa serwisowa VIP" in page
    assert "Wykorzystane godziny pakietu</dt><dd>2 z 2 h" in page
    assert "do wykorzystania</dt><dd>4 z 4" in page


def test_an_acknowledgement_to_a_reply_to_address_carries_no_link(desk: Desk) -> None:
    mail = InboundMail(
        message_id="<rt@else.pl>", from_address="ola@firma.pl", from_name="Ola",
        subject="Pytanie", date=factories.NOW, to=(factories.SUPPORT,),
        reply_to=("ktos@inny.pl",), body_text="Pytanie.\n",
    )  # fmt: skip
    with Session(desk.engine) as session:
        apply_mail(desk, mail, now=factories.NOW, session=session)
        session.commit()
    (ack,) = mails(desk, "ack")
    assert "/t/" not in ack
