"""Issue 18 end to end against Dovecot and aiosmtpd: bounces that are no RFC 3464 report.

mailbot acknowledges a customer's mail; the customer's server sends back a plain-text
notice in its own format (tests/bounce_samples.py); the acknowledgement is marked failed
with the server's text, staff are told, and the notice opens no ticket.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from mailbot.adapters.db import LedgerRow, OutboxRow, TicketRow
from mailbot.inspection import inspect_mail
from mailbot.usecases.bounces import ADDRESS_WINDOW
from mailbot.usecases.desk import Desk
from tests.bounce_samples import FAMILIES, bounce
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import NOW, STAFF, customer_mail, deliver, run_once
from tests.usecases.test_mail_safety import headers_of, rows


def acknowledged(
    desk: Desk, imap: ImapPeer, sink: SmtpSink, customers: list[str]
) -> dict[str, bytes]:
    """Each customer writes in and is acknowledged: their acknowledgement as sent, by address."""
    for customer in customers:
        deliver(imap, customer_mail(customer, f"Drukarka {customer}"))
    run_once(desk)
    acks = {msg.rcpt_tos[0]: msg.content for msg in sink.of_kind("ack")}
    assert sorted(acks) == sorted(customers)
    return acks


def test_a_plain_text_bounce_of_our_acknowledgement_marks_it_failed_and_tells_staff(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    [ack] = acknowledged(desk, imap_client, smtp_sink, ["jan@acme.pl"]).values()

    notice = bounce("qmail", "jan@acme.pl", ack)
    deliver(imap_client, notice)
    run_once(desk)

    assert len(rows(desk, TicketRow)) == 1  # the notice opened no ticket
    [row] = [r for r in rows(desk, OutboxRow) if r.kind == "ack"]
    assert row.status == "failed"
    assert row.last_error == (
        "bounced: 550 5.1.1 <jan@acme.pl>: Recipient address rejected: User unknown"
    )
    [told] = smtp_sink.of_kind("staff_bounce")
    assert told.rcpt_tos == STAFF
    assert "550 5.1.1" in headers_of(told.content).get_content()
    assert [e.outcome for e in rows(desk, LedgerRow)] == ["ticket", "bounce"]
    assert len(imap_client.messages("Processed")) == 2

    shown = inspect_mail(notice, desk.settings, now=NOW)
    assert (shown["is_bounce"], shown["bounced_addresses"]) == (True, ["jan@acme.pl"])
    assert shown["linked_outbox_id"] == row.id


def test_every_family_is_linked_to_the_acknowledgement_it_reports(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    families = sorted(FAMILIES)
    customers = {family: f"klient-{n}@firma{n}.pl" for n, family in enumerate(families)}
    acks = acknowledged(desk, imap_client, smtp_sink, list(customers.values()))

    for family, customer in customers.items():
        deliver(imap_client, bounce(family, customer, acks[customer]))
    run_once(desk)

    assert len(rows(desk, TicketRow)) == len(families)  # only the customers' tickets
    by_customer = {r.recipients: r for r in rows(desk, OutboxRow) if r.kind == "ack"}
    for family, customer in customers.items():
        row = by_customer[customer]
        if FAMILIES[family].delayed:  # noted, still sent: the server keeps trying
            assert (row.status, row.last_error[:9]) == ("sent", "delayed: "), family
        else:
            assert (row.status, row.last_error[:9]) == ("failed", "bounced: "), family
    permanent = [f for f in families if not FAMILIES[f].delayed]
    assert len(smtp_sink.of_kind("staff_bounce")) == len(permanent)
    outcomes = [e.outcome for e in rows(desk, LedgerRow)]
    assert outcomes.count("bounce") == len(families)


def test_a_bounce_naming_only_an_address_links_within_the_window(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    acks = acknowledged(desk, imap_client, smtp_sink, ["jan@acme.pl", "ola@acme.pl"])
    late = NOW + ADDRESS_WINDOW + timedelta(hours=1)

    # Domino quotes no Message-ID: the address and our last mail to it link the notice.
    deliver(imap_client, bounce("domino", "jan@acme.pl", acks["jan@acme.pl"]))
    run_once(desk)
    deliver(imap_client, bounce("domino", "ola@acme.pl", acks["ola@acme.pl"]), at=late)
    run_once(replace(desk, clock=lambda: late))

    status = {r.recipients: r.status for r in rows(desk, OutboxRow) if r.kind == "ack"}
    assert status == {"jan@acme.pl": "failed", "ola@acme.pl": "sent"}
    ledger = rows(desk, LedgerRow)
    assert [e.outcome for e in ledger[-2:]] == ["bounce", "quarantined"]
    assert ledger[-1].reason == "a bounce about no mail we sent (ola@acme.pl)"
    assert len(imap_client.messages("Quarantine")) == 1
    assert len(rows(desk, TicketRow)) == 2
