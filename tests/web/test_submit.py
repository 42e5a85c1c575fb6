"""The submission forms through Starlette's TestClient (issue 15 phase B2): each form, VIP by
the contract's IP allow-list, the confirmation link, CSRF, the honeypot, the limits."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from mailbot.adapters import db as repo
from mailbot.adapters.db import (
    AttachmentRow,
    OutboxRow,
    Session,
    SlaEventRow,
    TicketRow,
    WebSubmissionRow,
)
from mailbot.bootstrap import build_desk
from mailbot.config import WebSettings
from mailbot.usecases.desk import Desk
from mailbot.usecases.web_submissions import expire_stale
from mailbot.web.app import create_app
from tests import factories
from tests.factories import Clock

PROXY = ("127.0.0.1", 40000)
OUTSIDER = ("198.51.100.7", 40000)
ALLOWED = "203.0.113.5"
VIP = dataclasses.replace(factories.VIP, ip_allowlist=("203.0.113.0/24",))
MX = "mx.desk.example.pl"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Desk]:
    settings = factories.maildir_settings(database_url, tmp_path)
    web = WebSettings(trusted_proxies=("127.0.0.1/32",), submissions_per_ip_hour=3)
    # Our mail server is trusted: a VIP contract's tier needs evidence beyond From.
    support = dataclasses.replace(settings.support, authserv_id=MX)
    limits = dataclasses.replace(settings.limits, max_attachment_size=1000)
    settings = dataclasses.replace(settings, web=web, support=support, limits=limits)
    desk = build_desk(settings, clock=clock)
    with Session(desk.engine) as session:
        repo.import_contracts([VIP, factories.WARRANTY], session=session)
        session.commit()
    yield desk
    desk.engine.dispose()


def client(desk: Desk, peer: tuple[str, int] = OUTSIDER) -> TestClient:
    return TestClient(create_app(desk), client=peer, raise_server_exceptions=False)


def fields(**values: str) -> dict[str, str]:
    return {"name": "Jan Kowalski", "address": "anna@example.com", "phone": "",
            "subject": "Drukarka nie drukuje", "body": "Od rana nic.", **values}  # fmt: skip


def send(
    web: TestClient, form: str, *, headers: dict[str, str] | None = None, csrf: bool = True,
    files: Any = None, **values: str,
) -> Any:  # fmt: skip
    page = web.get(f"/zgloszenie/{form}")
    data = fields(**values)
    if csrf:
        data["csrf_token"] = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]
    return web.post(f"/zgloszenie/{form}", data=data, files=files, headers=headers or {})


def rows(desk: Desk, table: Any) -> list[Any]:
    with Session(desk.engine) as session:
        return list(session.exec(select(table)).all())


def outbox(desk: Desk, kind: str) -> list[OutboxRow]:
    return [row for row in rows(desk, OutboxRow) if row.kind == kind]


def link_of(desk: Desk) -> str:
    raw = outbox(desk, "web_confirm")[-1].raw.decode()
    return str(re.findall(r"(/zgloszenie/potwierdz/[A-Za-z0-9_.=-]+)", raw.replace("=\r\n", ""))[0])


def main(html: str) -> str:
    return re.sub(r'value="[^"]+"', "", html.split("<main>")[1].split("</main>", maxsplit=1)[0])


def test_the_start_page_shows_the_three_offers_with_their_forms(desk: Desk) -> None:
    page = client(desk).get("/").text
    for form in ("warranty", "vip", "post_warranty"):
        assert f'href="/zgloszenie/{form}"' in page
    assert "autoryzacja po IP" in page and "120 PLN" in page and "+100 %" in page
    assert "VAT 23 %" in page and "od 290 PLN" in page
    assert "Submit a ticket" in client(desk).get("/?lang=en").text


@pytest.mark.parametrize("form", ["warranty", "vip", "post_warranty"])
def test_each_form_has_its_fields_csrf_and_a_css_hidden_honeypot(desk: Desk, form: str) -> None:
    page = client(desk).get(f"/zgloszenie/{form}")
    assert page.status_code == 200
    for name in ("name", "address", "phone", "subject", "body", "attachments", "csrf_token"):
        assert f'name="{name}"' in page.text
    assert '<div class="hp"' in page.text and "style=" not in page.text
    assert ('name="express"' in page.text) is (form == "post_warranty")
    assert client(desk).get("/zgloszenie/other").status_code == 404


def test_the_post_warranty_form_states_its_price_and_express(desk: Desk) -> None:
    page = client(desk).get("/zgloszenie/post_warranty").text
    assert "120 PLN netto za każdą rozpoczętą godzinę" in page and "VAT 23 %" in page
    assert "+100 % (240 PLN netto za godzinę)" in page


@pytest.mark.parametrize("form", ["warranty", "post_warranty"])
def test_a_form_mails_a_confirmation_link_and_stores_a_pending_submission(
    desk: Desk, form: str
) -> None:
    answer = send(client(desk), form, express="1")
    assert answer.status_code == 200 and "Sprawdź skrzynkę" in answer.text
    [row] = rows(desk, WebSubmissionRow)
    assert (row.form, row.state, row.ip, row.address) == (form, "pending", OUTSIDER[0],
                                                          "anna@example.com")  # fmt: skip
    assert row.express is (form == "post_warranty")
    [mail] = outbox(desk, "web_confirm")
    assert mail.recipients == "anna@example.com" and mail.ticket_id is None
    assert rows(desk, TicketRow) == []


def test_the_answer_tells_nothing_about_contracts(desk: Desk) -> None:
    stranger = send(client(desk), "warranty", address="anna@example.com").text
    customer = send(client(desk), "warranty", address="jan@acme.pl").text
    assert main(stranger) == main(customer)


def test_the_confirmation_link_opens_the_ticket_once(desk: Desk, clock: Clock) -> None:
    send(client(desk), "post_warranty", express="1")
    link = link_of(desk)
    clock.now += timedelta(hours=3)
    web = client(desk)
    page = web.get(link)
    assert page.status_code == 200 and "Potwierdzam" in page.text
    token = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]
    assert web.post(link, data={}).status_code == 403
    assert web.post(link, data={"csrf_token": token}).status_code == 200
    [ticket] = rows(desk, TicketRow)
    # The deadlines count from the submission, not from the confirmation.
    assert ticket.received_at == factories.NOW and ticket.tier == "post_warranty"
    assert ticket.customer_address == "anna@example.com" and ticket.express
    assert len(outbox(desk, "ack")) == 1
    [row] = rows(desk, WebSubmissionRow)
    assert (row.state, row.ticket_number) == ("confirmed", ticket.number)
    again = web.post(link, data={"csrf_token": token})
    assert again.status_code == 410 and len(rows(desk, TicketRow)) == 1


@pytest.mark.parametrize(
    ("express", "due", "line"),
    [
        # Submitted on Wednesday 18 November 10:30: 2 working days, Friday 20 November.
        ("1", datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
         "Rozwiązanie najpóźniej do: 2026-11-20 10:30 CET (tryb ekspresowy)\n"),
        # 14 working days: Tuesday 8 December.
        ("0", datetime(2026, 12, 8, 9, 30, tzinfo=UTC),
         "Rozwiązanie najpóźniej do: 2026-12-08 10:30 CET\n"),
    ],
)  # fmt: skip
def test_an_express_submission_is_acknowledged_with_the_express_deadline(
    desk: Desk, clock: Clock, express: str, due: datetime, line: str
) -> None:
    send(client(desk), "post_warranty", express=express)
    link = link_of(desk)
    clock.now += timedelta(hours=3)
    web = client(desk)
    token = re.findall(r'name="csrf_token" value="([^"]+)"', web.get(link).text)[0]
    assert web.post(link, data={"csrf_token": token}).status_code == 200
    [ticket] = rows(desk, TicketRow)
    assert ticket.express is (express == "1") and ticket.resolution_due == due
    [ack] = outbox(desk, "ack")
    body = message_from_bytes(ack.raw, policy=default)
    assert isinstance(body, EmailMessage)
    text = body.get_content()
    assert line in text.replace("\r\n", "\n")
    moved = [e.detail for e in rows(desk, SlaEventRow) if e.kind == "express"]
    assert moved == (
        ["express: the resolution deadline runs on the express window 2d; reaction due"
         " 2026-11-19 10:30 CET, resolution due 2026-11-20 10:30 CET"]
        if express == "1" else []
    )  # fmt: skip


def test_a_form_in_english_is_confirmed_and_answered_in_english(desk: Desk) -> None:
    """The page's language is the submission's (issue 18): its confirmation mail and page,
    and its ticket, when the contract sets no language and the text does not read Polish."""
    web = client(desk)
    web.get("/?lang=en")  # the reader chose English; the cookie keeps it for the form
    send(web, "warranty", subject="Printer", body="Broken.")
    [row] = rows(desk, WebSubmissionRow)
    assert row.language == "en"
    confirmation = message_from_bytes(outbox(desk, "web_confirm")[0].raw, policy=default)
    assert confirmation["Subject"] == "Confirm your ticket: Printer"
    link = link_of(desk)
    assert f"{link}?lang=en" in confirmation.get_body().get_content()  # type: ignore[union-attr]
    other_browser = client(desk)
    page = other_browser.get(f"{link}?lang=en")
    assert "I confirm the ticket" in page.text
    token = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]
    assert other_browser.post(link, data={"csrf_token": token}).status_code == 200
    [ticket] = rows(desk, TicketRow)
    assert ticket.language == "en"
    ack = message_from_bytes(outbox(desk, "ack")[0].raw, policy=default)
    assert ack["Subject"] == f"[{ticket.number}] We have received your request: Printer"


def test_a_polish_text_on_the_english_page_is_answered_in_polish(desk: Desk) -> None:
    web = client(desk, ("203.0.113.5", 40000))
    web.get("/?lang=en")
    send(web, "warranty", address="jan@acme.pl", body="Dzień dobry, drukarka nie działa.")
    [ticket] = rows(desk, TicketRow)
    assert ticket.language == "pl"


def test_a_confirmation_link_expires_after_24_hours(desk: Desk, clock: Clock) -> None:
    send(client(desk), "warranty")
    link = link_of(desk)
    clock.now += timedelta(hours=24, seconds=1)
    page = client(desk).get(link)
    assert page.status_code == 410 and "wygasł" in page.text
    assert client(desk).get("/zgloszenie/potwierdz/forged.token").status_code == 410


def test_the_sweep_expires_pending_submissions(desk: Desk, clock: Clock) -> None:
    send(client(desk), "warranty")
    assert expire_stale(desk) == 0
    clock.now += timedelta(hours=25)
    assert expire_stale(desk) == 1
    assert [row.state for row in rows(desk, WebSubmissionRow)] == ["expired"]


def test_vip_from_an_allowed_address_behind_the_proxy_opens_a_vip_ticket(desk: Desk) -> None:
    answer = send(client(desk, PROXY), "vip", address="jan@acme.pl",
                  headers={"X-Forwarded-For": ALLOWED})  # fmt: skip
    assert answer.status_code == 200 and "Sprawdź skrzynkę" in answer.text
    [ticket] = rows(desk, TicketRow)
    assert (ticket.tier, ticket.contract_id) == ("vip", VIP.id)
    assert ticket.reaction_due == factories.NOW + timedelta(hours=1)
    assert len(outbox(desk, "ack")) == 1 and outbox(desk, "web_confirm") == []
    [row] = rows(desk, WebSubmissionRow)
    assert (row.state, row.ip, row.ticket_number) == ("confirmed", ALLOWED, ticket.number)


@pytest.mark.parametrize(
    ("peer", "forwarded"),
    [(PROXY, "198.51.100.99"), (OUTSIDER, ALLOWED)],
    ids=["not-on-the-list", "forged-by-an-untrusted-peer"],
)
def test_vip_from_elsewhere_is_refused_and_only_the_attempt_is_kept(
    desk: Desk, peer: tuple[str, int], forwarded: str
) -> None:
    answer = send(client(desk, peer), "vip", address="jan@acme.pl",
                  headers={"X-Forwarded-For": forwarded})  # fmt: skip
    assert answer.status_code == 403 and "adresów IP" in answer.text
    assert 'href="/zgloszenie/warranty"' in answer.text
    [row] = rows(desk, WebSubmissionRow)
    client_ip = forwarded if peer == PROXY else OUTSIDER[0]
    assert (row.state, row.ip, row.form, row.created_at) == ("vip_refused", client_ip, "vip",
                                                             factories.NOW)  # fmt: skip
    assert (row.name, row.address, row.subject, row.body) == ("", "", "", "")
    assert rows(desk, TicketRow) == [] and rows(desk, OutboxRow) == []


@pytest.mark.parametrize("lang", ["pl", "en"])
def test_a_refused_vip_form_answers_the_same_with_or_without_a_contract(
    desk: Desk, lang: str
) -> None:
    web = client(desk)
    web.get(f"/?lang={lang}")
    answers = [
        send(web, "vip", address=address)
        for address in ("jan@acme.pl", "anna@example.com", "piekarz@klos.pl")
    ]
    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert main(answers[0].text) == main(answers[1].text) == main(answers[2].text)
    assert answers[0].headers.get("Retry-After") is None
    assert [row.state for row in rows(desk, WebSubmissionRow)] == ["vip_refused"] * 3


def test_refused_vip_attempts_count_against_the_limit_per_address(desk: Desk, clock: Clock) -> None:
    web = client(desk)
    # jan@acme.pl has a VIP contract (not from this address), anna@example.com has none.
    assert send(web, "vip", address="jan@acme.pl").status_code == 403
    assert send(web, "vip", address="anna@example.com").status_code == 403
    assert send(web, "warranty").status_code == 200
    for address in ("jan@acme.pl", "anna@example.com"):
        refused = send(web, "vip", address=address)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 3600
    assert send(web, "warranty").status_code == 429
    assert len(rows(desk, WebSubmissionRow)) == 3
    assert send(client(desk, PROXY), "vip", address="jan@acme.pl",
                headers={"X-Forwarded-For": ALLOWED}).status_code == 200  # fmt: skip
    clock.now += timedelta(hours=1)
    assert send(web, "vip", address="jan@acme.pl").status_code == 403


def test_refused_vip_attempts_count_against_the_global_limit(desk: Desk) -> None:
    web_settings = dataclasses.replace(desk.settings.web, submissions_per_hour=2)
    capped = dataclasses.replace(desk, settings=dataclasses.replace(desk.settings,
                                                                     web=web_settings))  # fmt: skip
    others = [client(capped, (f"198.51.100.{n}", 40000)) for n in (1, 2, 3)]
    assert send(others[0], "vip", address="anna@example.com").status_code == 403
    assert send(others[1], "vip", address="jan@acme.pl").status_code == 403
    assert send(others[2], "warranty").status_code == 429
    assert send(others[2], "vip", address="jan@acme.pl").status_code == 429


def test_a_form_without_csrf_is_refused(desk: Desk) -> None:
    assert send(client(desk), "warranty", csrf=False).status_code == 403
    assert rows(desk, WebSubmissionRow) == []


def test_a_filled_honeypot_is_thanked_and_forgotten(desk: Desk) -> None:
    answer = send(client(desk), "warranty", website="http://spam.example")
    assert answer.status_code == 200 and "Sprawdź skrzynkę" in answer.text
    assert rows(desk, WebSubmissionRow) == [] and rows(desk, OutboxRow) == []


def test_the_limits_answer_429_with_retry_after(desk: Desk) -> None:
    web = client(desk)
    for _ in range(3):
        assert send(web, "warranty").status_code == 200
    refused = send(web, "warranty")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 3600
    assert len(rows(desk, WebSubmissionRow)) == 3


def test_script_in_every_field_is_text(desk: Desk) -> None:
    script = "<script>alert(1)</script>"
    values: dict[str, Any] = {name: script for name in ("name", "phone", "subject", "body")}
    page = send(client(desk), "warranty", address=script, **values)
    assert page.status_code == 400 and script not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    web = client(desk, PROXY)
    send(web, "vip", address="jan@acme.pl", headers={"X-Forwarded-For": ALLOWED}, **values)
    [staff] = outbox(desk, "staff_new")
    raw = staff.raw.decode()
    assert "Content-Type: text/plain" in raw  # staff see the text as text, never as HTML


def test_attachments_reach_the_ticket_and_oversized_ones_are_refused(desk: Desk) -> None:
    files = [("attachments", ("log.txt", b"error 42", "text/plain"))]
    web = client(desk, PROXY)
    answer = send(web, "vip", address="jan@acme.pl", headers={"X-Forwarded-For": ALLOWED},
                  files=files)  # fmt: skip
    assert answer.status_code == 200
    [attachment] = rows(desk, AttachmentRow)
    assert (attachment.filename, attachment.size) == ("log.txt", 8)
    big = [("attachments", ("big.bin", b"x" * (desk.size_limits.max_attachment_size + 1),
                            "application/octet-stream"))]  # fmt: skip
    too_big = send(client(desk), "warranty", files=big)
    assert too_big.status_code == 400 and "big.bin" in too_big.text
    assert len(rows(desk, WebSubmissionRow)) == 1
