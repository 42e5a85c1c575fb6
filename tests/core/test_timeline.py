"""A ticket's customer-visible timeline and deadlines (pure): tables over stored history."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from mailbot.core.timeline import (
    DeadlineState,
    DeadlineView,
    EntryKind,
    HistoryEvent,
    MessageFacts,
    TicketFacts,
    TimelineEntry,
    deadline_wording,
    deadlines,
    entry_wording,
    status_wording,
    timeline,
    without_footer,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


TICKET = TicketFacts(
    status="open", received_at=T0, reaction_due=at(60), resolution_due=at(2 * 24 * 60)
)

# One ticket's stored history, as the database keeps it (mailbot.adapters.db).
EVENTS = (
    HistoryEvent(
        at(0), "received", "tier vip, calendar vip: reaction 1:00:00 ...; reaction due ..."
    ),
    HistoryEvent(at(20), "assigned", "assignee piotr@firma.pl by admin"),
    HistoryEvent(at(30), "status", "new -> open by piotr@firma.pl"),
    HistoryEvent(at(30), "first_response", "first_response: the reaction deadline is met; ..."),
    HistoryEvent(at(40), "flag", "unjustified on by piotr@firma.pl"),
    HistoryEvent(at(50), "status", "open -> waiting by piotr@firma.pl"),
    HistoryEvent(at(50), "paused", "paused: waiting for the customer, the resolution clock stops"),
    HistoryEvent(at(90), "status", "waiting -> open by jan@klient.pl"),
    HistoryEvent(at(95), "tier_changed", "tier vip -> warranty by admin; ..."),
    HistoryEvent(at(120), "status", "open -> resolved by piotr@firma.pl"),
    HistoryEvent(at(130), "status", "resolved -> open by jan@klient.pl"),
    HistoryEvent(at(140), "status", "open -> closed by admin"),
)
MESSAGES = (
    MessageFacts(at(0), "in", "customer", False, "", "Drukarka nie działa."),
    MessageFacts(at(0.1), "out", "mailbot", True, "staff_new", "New ticket from jan@klient.pl"),
    MessageFacts(at(0.2), "out", "mailbot", False, "ack", "Dziękujemy, przyjęliśmy zgłoszenie"),
    MessageFacts(at(25), "in", "staff", True, "", "SECRET note: customer owes us money"),
    MessageFacts(
        at(29), "in", "staff", False, "#status open", "Proszę zrestartować.\n-- piotr@firma.pl"
    ),
    MessageFacts(at(29.5), "out", "staff", False, "relay", "Proszę zrestartować."),
    MessageFacts(at(45), "in", "customer", True, "automatic mail: autoreply", "Out of office"),
    MessageFacts(at(60), "out", "mailbot", True, "reminder", "SECRET reminder to staff"),
    MessageFacts(at(89), "in", "customer", False, "", "Zrestartowałem, dalej nie działa."),
    MessageFacts(at(100), "out", "staff", True, "relay (held)", "SECRET held relay"),
    MessageFacts(at(110), "out", "mailbot", False, "ack (held)", "not sent yet"),
)

EXPECTED = (
    TimelineEntry(at(0), EntryKind.RECEIVED),
    TimelineEntry(at(0.2), EntryKind.ACKNOWLEDGED),
    TimelineEntry(at(29.5), EntryKind.STAFF_REPLY, body="Proszę zrestartować."),
    TimelineEntry(at(30), EntryKind.STATUS_CHANGED, status="open"),
    TimelineEntry(at(50), EntryKind.WAITING, status="waiting"),
    TimelineEntry(at(89), EntryKind.CUSTOMER_MESSAGE, body="Zrestartowałem, dalej nie działa."),
    TimelineEntry(at(90), EntryKind.STATUS_CHANGED, status="open"),
    TimelineEntry(at(120), EntryKind.RESOLVED, status="resolved"),
    TimelineEntry(at(130), EntryKind.REOPENED, status="open"),
    TimelineEntry(at(140), EntryKind.CLOSED, status="closed"),
)


def test_the_timeline_of_a_ticket() -> None:
    assert timeline(TICKET, EVENTS, MESSAGES) == EXPECTED


def test_input_order_does_not_matter() -> None:
    assert timeline(TICKET, reversed(EVENTS), reversed(MESSAGES)) == EXPECTED


def test_internal_notes_and_staff_addresses_never_appear() -> None:
    entries = timeline(TICKET, EVENTS, MESSAGES)
    shown = repr(entries) + "".join(
        entry_wording(entry, language) for entry in entries for language in ("pl", "en")
    )
    for secret in ("SECRET", "piotr@", "admin", "jan@", "Out of office", "#status", "not sent"):
        assert secret not in shown, secret


@pytest.mark.parametrize(
    "message",
    [
        MessageFacts(at(5), "in", "staff", True, "", "internal"),
        MessageFacts(at(5), "out", "staff", True, "relay", "internal relay"),
        MessageFacts(at(5), "out", "mailbot", True, "ack", "internal ack"),
        MessageFacts(at(5), "in", "customer", True, "automatic mail: autoreply", "robot"),
        MessageFacts(at(5), "in", "staff", False, "", "the staff member's own mail"),
        MessageFacts(at(5), "out", "mailbot", False, "status_waiting", "a status mail"),
        MessageFacts(at(5), "out", "mailbot", False, "reminder", "a reminder"),
    ],
)
def test_messages_that_are_not_shown(message: MessageFacts) -> None:
    opening = MessageFacts(at(0), "in", "customer", False, "", "opening")
    assert timeline(TICKET, (), (opening, message)) == (TimelineEntry(T0, EntryKind.RECEIVED),)


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("new -> open by a@b.pl", TimelineEntry(at(5), EntryKind.STATUS_CHANGED, status="open")),
        ("open -> waiting by a@b.pl", TimelineEntry(at(5), EntryKind.WAITING, status="waiting")),
        (
            "waiting -> resolved by a@b.pl",
            TimelineEntry(at(5), EntryKind.RESOLVED, status="resolved"),
        ),
        ("resolved -> closed by a@b.pl", TimelineEntry(at(5), EntryKind.CLOSED, status="closed")),
        ("closed -> open by a@b.pl", TimelineEntry(at(5), EntryKind.REOPENED, status="open")),
        ("closed -> waiting by a@b.pl", TimelineEntry(at(5), EntryKind.WAITING, status="waiting")),
        ("open -> open by a@b.pl", None),
        ("open -> bogus by a@b.pl", None),
        ("garbage", None),
        ("", None),
        ("open->resolved", TimelineEntry(at(5), EntryKind.RESOLVED, status="resolved")),
    ],
)
def test_status_history_rows(detail: str, expected: TimelineEntry | None) -> None:
    entries = timeline(TICKET, (HistoryEvent(at(5), "status", detail),), ())
    assert entries[1:] == ((expected,) if expected else ())


@pytest.mark.parametrize("kind", ["paused", "resumed", "resolved", "reopened", "tier_changed", "x"])
def test_other_history_rows_are_not_shown(kind: str) -> None:
    event = HistoryEvent(at(5), kind, "open -> resolved by a@b.pl")
    assert timeline(TICKET, (event,), ()) == (TimelineEntry(T0, EntryKind.RECEIVED),)


def test_entries_carry_nothing_but_kind_time_status_and_body() -> None:
    assert [f.name for f in fields(TimelineEntry)] == ["at", "kind", "status", "body"]


NOW = at(45)


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        # Nothing met yet, both running.
        (
            TICKET,
            (
                DeadlineView("reaction", at(60), DeadlineState.RUNNING, left=timedelta(minutes=15)),
                DeadlineView(
                    "resolution", at(2880), DeadlineState.RUNNING, left=timedelta(minutes=2835)
                ),
            ),
        ),
        # Reaction met in time.
        (
            TicketFacts("open", T0, at(30), at(2880), first_response_at=at(29)),
            (
                DeadlineView("reaction", at(30), DeadlineState.MET),
                DeadlineView(
                    "resolution", at(2880), DeadlineState.RUNNING, left=timedelta(minutes=2835)
                ),
            ),
        ),
        # Reaction overdue; resolution met late.
        (
            TicketFacts("resolved", T0, at(10), at(40), resolved_at=at(44)),
            (
                DeadlineView("reaction", at(10), DeadlineState.OVERDUE, late=timedelta(minutes=35)),
                DeadlineView(
                    "resolution", at(40), DeadlineState.MET_LATE, late=timedelta(minutes=4)
                ),
            ),
        ),
        # Waiting for the customer: resolution paused even when its old due moment passed.
        (
            TicketFacts(
                "waiting", T0, at(60), at(40), first_response_at=at(60), paused_since=at(30)
            ),
            (
                DeadlineView("reaction", at(60), DeadlineState.MET),
                DeadlineView("resolution", at(40), DeadlineState.PAUSED),
            ),
        ),
        # Exactly at the due moment: overdue by nothing; met exactly at it: met.
        (
            TicketFacts("open", T0, NOW, at(100), first_response_at=None),
            (
                DeadlineView("reaction", NOW, DeadlineState.OVERDUE),
                DeadlineView(
                    "resolution", at(100), DeadlineState.RUNNING, left=timedelta(minutes=55)
                ),
            ),
        ),
        (
            TicketFacts(
                "resolved", T0, at(10), at(20), first_response_at=at(10), resolved_at=at(20)
            ),
            (
                DeadlineView("reaction", at(10), DeadlineState.MET),
                DeadlineView("resolution", at(20), DeadlineState.MET),
            ),
        ),
    ],
)
def test_deadlines(ticket: TicketFacts, expected: tuple[DeadlineView, DeadlineView]) -> None:
    assert deadlines(ticket, NOW) == expected


@pytest.mark.parametrize(
    ("view", "pl", "en"),
    [
        (
            DeadlineView(
                "reaction", T0, DeadlineState.RUNNING, left=timedelta(hours=3, minutes=20)
            ),
            "zostało 3 h 20 min",
            "3 h 20 min left",
        ),
        (
            DeadlineView("reaction", T0, DeadlineState.RUNNING, left=timedelta(seconds=30)),
            "zostało 0 min",
            "0 min left",
        ),
        (
            DeadlineView("resolution", T0, DeadlineState.OVERDUE, late=timedelta(days=1, hours=2)),
            "po terminie o 1 dzień 2 h",
            "1 day 2 h late",
        ),
        (DeadlineView("resolution", T0, DeadlineState.MET), "dotrzymany", "met"),
        (
            DeadlineView("resolution", T0, DeadlineState.MET_LATE, late=timedelta(minutes=4)),
            "dotrzymany z opóźnieniem 4 min",
            "met 4 min late",
        ),
        (
            DeadlineView("resolution", T0, DeadlineState.PAUSED),
            "wstrzymany: czekamy na Twoją odpowiedź",
            "paused: waiting for your answer",
        ),
    ],
)
def test_deadline_wording(view: DeadlineView, pl: str, en: str) -> None:
    assert deadline_wording(view, "pl") == pl
    assert deadline_wording(view, "en") == en
    assert deadline_wording(view, "de") == pl  # Polish first


def test_entry_wording() -> None:
    changed = TimelineEntry(T0, EntryKind.STATUS_CHANGED, status="open")
    assert entry_wording(changed, "pl") == "Zmiana statusu: w toku"
    assert entry_wording(changed, "en") == "Status changed: in progress"
    for kind in EntryKind:
        for language in ("pl", "en"):
            assert entry_wording(TimelineEntry(T0, kind, status="open"), language)
    assert status_wording("waiting", "en") == "waiting for your answer"
    assert status_wording("odd", "pl") == "odd"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Gotowe.\n\nAnna\nSerwis\n\n--\nZgłoszenie [SOL-1]: odpowiadając...",
            "Gotowe.\n\nAnna\nSerwis",
        ),
        ("Gotowe.\n-- \nsig", "Gotowe."),  # RFC 3676's separator, trailing space
        ("a\n--\nb\n--\nfooter", "a\n--\nb"),  # only the last separator is ours
        ("Gotowe -- jutro.", "Gotowe -- jutro."),  # "--" inside a line is text
        ("Bez stopki.", "Bez stopki."),
    ],
)
def test_a_relayed_answer_is_shown_without_the_mails_footer(text: str, shown: str) -> None:
    assert without_footer(text) == shown
