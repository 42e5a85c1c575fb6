"""The staff board through Starlette's TestClient (issue 15 item 5): the mailed one-time
sign-in link, sessions, the board's order and overdue mark, the full timeline with internal
notes, "take it", CSRF."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from mailbot.adapters.db import (
    MessageRow,
    OutboxRow,
    Session,
    SlaEventRow,
    StaffSessionRow,
    TicketRow,
)
from mailbot.bootstrap import build_desk
from mailbot.config import WebSettings
from mailbot.usecases.desk import Desk
from mailbot.usecases.web_staff import session_hash
from mailbot.web.app import create_app
from mailbot.web.staff import STAFF_COOKIE
from tests import factories
from tests.factories import Clock

STAFF = factories.STAFF[0]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Desk]:
    settings = factories.maildir_settings(database_url, tmp_path)
    web = WebSettings(staff_session=timedelta(hours=1))
    desk = build_desk(dataclasses.replace(settings, web=web), clock=clock)
    yield desk
    desk.engine.dispose()


@pytest.fixture
def client(desk: Desk) -> TestClient:
    return TestClient(create_app(desk), raise_server_exceptions=False, follow_redirects=False)


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def outbox(desk: Desk) -> list[OutboxRow]:
    with Session(desk.engine) as session:
        return list(session.exec(select(OutboxRow)).all())


def mailed_link(desk: Desk) -> str:
    """The path of the sign-in link in the newest sign-in mail."""
    mail = message_from_bytes(outbox(desk)[-1].raw, policy=default)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body()
    assert body is not None
    found = re.search(r"https?://[^/\s]+(/staff/login/\S+)", body.get_content())
    assert found
    return found.group(1)


def ask_link(client: TestClient, address: str) -> str:
    answer = client.post(
        "/staff/login", data={"address": address, "csrf_token": csrf(client, "/staff/login")}
    )
    assert answer.status_code == 200
    return answer.text


def sign_in(client: TestClient, desk: Desk) -> None:
    ask_link(client, STAFF)
    link = mailed_link(desk)
    answer = client.post(link, data={"csrf_token": csrf(client, link)})
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"


def add_ticket(desk: Desk, seq: int, *, reaction_in: timedelta, answered: bool = False) -> int:
    now = factories.NOW
    with Session(desk.engine) as session:
        ticket = TicketRow(
            number=f"SOL-{seq}", seq=seq, tier="warranty", status="open", subject=f"Sprawa {seq}",
            customer_address="jan@acme.pl", received_at=now - timedelta(hours=1),
            reaction_due=now + reaction_in, resolution_due=now + timedelta(days=5),
            first_response_at=now if answered else None, updated_at=now,
        )  # fmt: skip
        session.add(ticket)
        session.commit()
        assert ticket.id is not None
        return ticket.id


# --- signing in ------------------------------------------------------------------------


def test_a_staff_address_gets_a_link_that_works_once(client: TestClient, desk: Desk) -> None:
    assert client.get("/staff").headers["location"] == "/staff/login"
    sign_in(client, desk)
    cookie = client.cookies[STAFF_COOKIE]
    assert client.get("/staff").status_code == 200
    with Session(desk.engine) as session:
        stored = session.exec(select(StaffSessionRow)).one()
    assert stored.id_hash == session_hash(cookie) != cookie and stored.address == STAFF
    # The same link again, from another browser: shown as spent, and refused.
    link = mailed_link(desk)
    other = TestClient(client.app, follow_redirects=False)
    assert other.get(link).status_code == 400
    answer = other.post(link, data={"csrf_token": csrf(other, "/staff/login")})
    assert answer.status_code == 400 and STAFF_COOKIE not in other.cookies


def test_the_session_cookie_is_strict_and_httponly(client: TestClient, desk: Desk) -> None:
    ask_link(client, STAFF)
    link = mailed_link(desk)
    answer = client.post(link, data={"csrf_token": csrf(client, link)})
    header = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(STAFF_COOKIE))
    assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=3600" in header
    assert STAFF_COOKIE not in answer.headers["location"]


def test_the_session_cookie_is_secure_behind_https(database_url: str, tmp_path: Path) -> None:
    settings = factories.maildir_settings(database_url, tmp_path)
    web = WebSettings(base_url="https://help.example.com")
    desk = build_desk(dataclasses.replace(settings, web=web), clock=lambda: factories.NOW)
    try:
        client = TestClient(create_app(desk), base_url="https://testserver",
                            follow_redirects=False)  # fmt: skip
        ask_link(client, STAFF)
        link = mailed_link(desk)
        assert outbox(desk)[-1].raw.count(b"https://help.example.com/staff/login/") == 1
        answer = client.post(link, data={"csrf_token": csrf(client, link)})
        cookie = next(v for v in answer.headers.get_list("set-cookie") if STAFF_COOKIE in v)
        assert "Secure" in cookie
    finally:
        desk.engine.dispose()


def test_the_pages_speak_english_too(client: TestClient, desk: Desk) -> None:
    assert "Send me a sign-in link" in client.get("/staff/login?lang=en").text
    add_ticket(desk, 1, reaction_in=-timedelta(hours=1))
    sign_in(client, desk)
    assert "overdue" in client.get("/staff").text
    assert "Take it" in client.get("/staff/t/SOL-1").text


def test_a_link_expires_after_15_minutes(client: TestClient, desk: Desk, clock: Clock) -> None:
    ask_link(client, STAFF)
    link = mailed_link(desk)
    token = csrf(client, link)
    clock.now += timedelta(minutes=16)
    assert client.get(link).status_code == 400
    assert client.post(link, data={"csrf_token": token}).status_code == 400
    assert client.get("/staff").headers["location"] == "/staff/login"


@pytest.mark.parametrize("address", ["jan@acme.pl", "nobody", "a%b@desk.example.pl"])
def test_a_non_staff_address_gets_the_same_page_and_no_mail(
    client: TestClient, desk: Desk, address: str
) -> None:
    staff_page = ask_link(client, STAFF)
    assert len(outbox(desk)) == 1
    page = ask_link(client, address)
    assert len(outbox(desk)) == 1
    assert CSRF.sub("", page) == CSRF.sub("", staff_page)


def test_sign_in_requests_are_limited(client: TestClient, desk: Desk) -> None:
    for _ in range(3):
        ask_link(client, STAFF)
    ask_link(client, STAFF)  # a fourth within 15 minutes: the same page, no mail
    assert len(outbox(desk)) == 3
    for _ in range(6):
        ask_link(client, "jan@acme.pl")
    token = csrf(client, "/staff/login")
    refused = client.post("/staff/login", data={"address": STAFF, "csrf_token": token})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # Counted in the database: a restarted web side, or a second one, refuses as well.
    second = build_desk(desk.settings, clock=desk.clock)
    try:
        restarted = TestClient(create_app(second), follow_redirects=False)
        token = csrf(restarted, "/staff/login")
        again = restarted.post("/staff/login", data={"address": STAFF, "csrf_token": token})
        assert again.status_code == 429
    finally:
        second.engine.dispose()


def test_a_session_expires(client: TestClient, desk: Desk, clock: Clock) -> None:
    sign_in(client, desk)
    clock.now += timedelta(minutes=59)
    assert client.get("/staff").status_code == 200
    clock.now += timedelta(minutes=2)
    assert client.get("/staff").headers["location"] == "/staff/login"


def test_logout_ends_the_session(client: TestClient, desk: Desk) -> None:
    sign_in(client, desk)
    cookie = client.cookies[STAFF_COOKIE]
    answer = client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff")})
    assert answer.headers["location"] == "/staff/login"
    client.cookies.set(STAFF_COOKIE, cookie)
    assert client.get("/staff").headers["location"] == "/staff/login"


@pytest.mark.parametrize("path", ["/staff/login", "/staff/logout", "/staff/t/SOL-1/take"])
def test_forms_without_csrf_are_refused(client: TestClient, desk: Desk, path: str) -> None:
    add_ticket(desk, 1, reaction_in=timedelta(hours=1))
    sign_in(client, desk)
    assert client.post(path, data={"address": STAFF, "csrf_token": "forged"}).status_code == 403
    assert len(outbox(desk)) == 1


def test_the_link_post_needs_csrf(client: TestClient, desk: Desk) -> None:
    ask_link(client, STAFF)
    assert client.post(mailed_link(desk), data={}).status_code == 403
    assert STAFF_COOKIE not in client.cookies


# --- the board -------------------------------------------------------------------------


def test_the_board_sorts_by_the_next_deadline_and_marks_overdue(
    client: TestClient, desk: Desk
) -> None:
    add_ticket(desk, 1, reaction_in=timedelta(hours=5))
    add_ticket(desk, 2, reaction_in=-timedelta(hours=2))  # overdue
    add_ticket(desk, 3, reaction_in=timedelta(hours=1))
    add_ticket(desk, 4, reaction_in=-timedelta(hours=9), answered=True)  # resolution in 5 days
    sign_in(client, desk)
    page = client.get("/staff").text
    order = re.findall(r'href="/staff/t/(SOL-\d+)"', page)
    assert order == ["SOL-2", "SOL-3", "SOL-1", "SOL-4"]
    rows = re.findall(r"<tr( class=\"overdue\")?>\s*<td><a href=\"/staff/t/(SOL-\d+)", page)
    assert [number for mark, number in rows if mark] == ["SOL-2"]
    assert "<td>warranty</td><td>open</td><td>4</td>" in page


def test_the_ticket_page_shows_internal_notes(client: TestClient, desk: Desk) -> None:
    ticket_id = add_ticket(desk, 1, reaction_in=timedelta(hours=1))
    with Session(desk.engine) as session:
        session.add(
            MessageRow(
                ticket_id=ticket_id, direction="in", message_id="<n@x>", sender=STAFF,
                recipients="", subject="note", body_text="Klient <b>płaci</b> z góry.",
                received_at=factories.NOW, note="note", author=STAFF, internal=True,
            )
        )  # fmt: skip
        session.commit()
    sign_in(client, desk)
    page = client.get("/staff/t/sol-1").text
    assert "Klient &lt;b&gt;płaci&lt;/b&gt; z góry." in page and "wewnętrzna" in page
    assert client.get("/staff/t/SOL-99").status_code == 404


def test_take_it_assigns_and_records_the_event(client: TestClient, desk: Desk) -> None:
    ticket_id = add_ticket(desk, 1, reaction_in=timedelta(hours=1))
    sign_in(client, desk)
    token = csrf(client, "/staff/t/SOL-1")
    answer = client.post("/staff/t/SOL-1/take", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/t/SOL-1"
    with Session(desk.engine) as session:
        ticket = session.get(TicketRow, ticket_id)
        events = session.exec(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket_id)).all()
    assert ticket is not None and ticket.assignee == STAFF
    assert [(e.kind, e.detail) for e in events] == [("assigned", f"assignee {STAFF} by {STAFF}")]
    assert 'id="take"' not in client.get("/staff/t/SOL-1").text


def test_take_it_needs_a_session(client: TestClient, desk: Desk) -> None:
    ticket_id = add_ticket(desk, 1, reaction_in=timedelta(hours=1))
    token = csrf(client, "/staff/login")
    answer = client.post("/staff/t/SOL-1/take", data={"csrf_token": token})
    assert answer.headers["location"] == "/staff/login"
    with Session(desk.engine) as session:
        ticket = session.get(TicketRow, ticket_id)
    assert ticket is not None and ticket.assignee == ""
