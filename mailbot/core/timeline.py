"""A ticket's progress as its customer may see it: the timeline and both deadlines.

The status page promises "a system that monitors the status and the progress of
each ticket" (the support page, ``SERVICE_TERMS.md``). It is built from what
the database already keeps, handed in as plain values (the adapter fills
``TicketFacts``, ``HistoryEvent`` from ``sla_event`` rows, ``MessageFacts``
from ``message`` rows):

- **received**: the ticket's received time (the opening message itself is
  not repeated);
- **acknowledged**: the automatic acknowledgement that went out (an outgoing
  ``ack``; one still held for a person has not been sent and is not shown);
- **staff reply**: a staff answer as it was relayed to the customer (an
  outgoing ``relay``). The staff member's own incoming mail is never used: it
  carries their address and their commands;
- **customer message**: a later mail (or web answer) of the customer;
- **status changes** from the ``status`` history rows, of which only the two
  statuses are read (the row also names who made the change: never shown):
  waiting for the customer (the resolution clock stops), resolved, closed,
  reopened, or another status.

What is never shown: internal messages (notes, robots' mail, unproven staff
mail), any sender or recipient address, any history row's free text, other
kinds of history (tier, assignee, billing flags, alerts). Entries hold only a
kind, a moment, a status and, for replies, the text the customer was sent or
wrote.

The deadlines: each is met, met late, running (time left), overdue (how late)
or, for resolution while the ticket waits for the customer, paused. Time left
and lateness are wall-clock time to the due moment the page also shows;
working-time arithmetic already placed that moment (``mailbot.core.sla``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from mailbot.core.humanize import human_duration

DeadlineKind = Literal["reaction", "resolution"]


class EntryKind(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    STAFF_REPLY = "staff_reply"
    CUSTOMER_MESSAGE = "customer_message"
    STATUS_CHANGED = "status_changed"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class DeadlineState(StrEnum):
    MET = "met"
    MET_LATE = "met_late"
    RUNNING = "running"
    OVERDUE = "overdue"
    PAUSED = "paused"


@dataclass(frozen=True)
class TicketFacts:
    """The ticket row's times and status (all aware, UTC)."""

    status: str
    received_at: datetime
    reaction_due: datetime
    resolution_due: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    paused_since: datetime | None = None


@dataclass(frozen=True)
class HistoryEvent:
    """An ``sla_event`` row: ``kind`` (status, paused, ...) and its ``detail`` text."""

    at: datetime
    kind: str
    detail: str


@dataclass(frozen=True)
class MessageFacts:
    """A ``message`` row: ``direction`` in/out, ``author`` customer/staff/mailbot, ``note``
    (for outgoing mail, what produced it: ack, relay, ...)."""

    at: datetime
    direction: str
    author: str
    internal: bool
    note: str = ""
    body_text: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    """One step of the customer-visible progress; ``status`` for status changes, ``body``
    for replies."""

    at: datetime
    kind: EntryKind
    status: str = ""
    body: str = ""


@dataclass(frozen=True)
class DeadlineView:
    """A deadline for the page: ``left`` while running, ``late`` when overdue or met late."""

    kind: DeadlineKind
    due: datetime
    state: DeadlineState
    left: timedelta = timedelta(0)
    late: timedelta = timedelta(0)


STATUSES = ("new", "open", "waiting", "resolved", "closed")
_CLOSED = frozenset({"resolved", "closed"})
# ``mailbot.usecases.ticket_changes.set_status`` writes "open -> waiting by anna@firma.pl":
# only the two statuses are taken, never who.
_STATUS_DETAIL = re.compile(r"\A\s*(?P<old>[a-z]+)\s*->\s*(?P<new>[a-z]+)(?:\s|\Z)")


def timeline(
    ticket: TicketFacts, events: Iterable[HistoryEvent], messages: Iterable[MessageFacts]
) -> tuple[TimelineEntry, ...]:
    """The ticket's customer-visible entries, oldest first (rules in the module docstring)."""
    entries = [TimelineEntry(ticket.received_at, EntryKind.RECEIVED)]
    entries += [entry for entry in map(_status_entry, events) if entry is not None]
    entries += _message_entries(messages)
    # Stable: at one moment, received comes first and the rest keep their input order.
    return tuple(sorted(entries, key=lambda entry: entry.at))


def _status_entry(event: HistoryEvent) -> TimelineEntry | None:
    found = _STATUS_DETAIL.match(event.detail) if event.kind == "status" else None
    if found is None or found["old"] not in STATUSES or found["new"] not in STATUSES:
        return None
    old, new = found["old"], found["new"]
    if new == old:
        return None
    if new == "waiting":
        kind = EntryKind.WAITING
    elif new in _CLOSED:
        kind = EntryKind.RESOLVED if new == "resolved" else EntryKind.CLOSED
    elif old in _CLOSED:
        kind = EntryKind.REOPENED
    else:
        kind = EntryKind.STATUS_CHANGED
    return TimelineEntry(event.at, kind, status=new)


def without_footer(text: str) -> str:
    """A relayed answer without the footer the mail template puts under it: everything from
    the last signature separator line on ("--", or RFC 3676's "-- "). It tells a mail reader
    to keep the ticket number in the subject, which means nothing on a web page."""
    lines = text.splitlines()
    cuts = [n for n, line in enumerate(lines) if line.rstrip() == "--"]
    return "\n".join(lines[: cuts[-1]]).rstrip() if cuts else text


def _message_entries(messages: Iterable[MessageFacts]) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    opening_seen = False
    for message in sorted(messages, key=lambda m: m.at):
        if message.internal:
            continue
        if message.direction == "out" and message.author == "mailbot" and message.note == "ack":
            entries.append(TimelineEntry(message.at, EntryKind.ACKNOWLEDGED))
        elif message.direction == "out" and message.author == "staff" and message.note == "relay":
            body = without_footer(message.body_text)
            entries.append(TimelineEntry(message.at, EntryKind.STAFF_REPLY, body=body))
        elif message.direction == "in" and message.author == "customer":
            if opening_seen:  # the first one opened the ticket: "received" stands for it
                entries.append(
                    TimelineEntry(message.at, EntryKind.CUSTOMER_MESSAGE, body=message.body_text)
                )
            opening_seen = True
    return entries


# --- deadlines ---------------------------------------------------------------------------


def deadlines(ticket: TicketFacts, now: datetime) -> tuple[DeadlineView, DeadlineView]:
    """The reaction and the resolution deadline as they stand at ``now``."""
    reaction = _deadline("reaction", ticket.reaction_due, ticket.first_response_at, now)
    resolution = _deadline("resolution", ticket.resolution_due, ticket.resolved_at, now)
    if ticket.resolved_at is None and ticket.paused_since is not None:
        # Waiting for the customer: the due moment moves when the wait ends, so neither
        # the time left nor lateness means anything now.
        resolution = DeadlineView("resolution", ticket.resolution_due, DeadlineState.PAUSED)
    return reaction, resolution


def _deadline(
    kind: DeadlineKind, due: datetime, met: datetime | None, now: datetime
) -> DeadlineView:
    if met is not None:
        if met <= due:
            return DeadlineView(kind, due, DeadlineState.MET)
        return DeadlineView(kind, due, DeadlineState.MET_LATE, late=met - due)
    if now < due:
        return DeadlineView(kind, due, DeadlineState.RUNNING, left=due - now)
    return DeadlineView(kind, due, DeadlineState.OVERDUE, late=now - due)


# --- wording: Polish first, English ------------------------------------------------------

_STATUS_WORDS = {
    "pl": {
        "new": "nowe",
        "open": "w toku",
        "waiting": "czeka na Twoją odpowiedź",
        "resolved": "rozwiązane",
        "closed": "zamknięte",
    },
    "en": {
        "new": "new",
        "open": "in progress",
        "waiting": "waiting for your answer",
        "resolved": "resolved",
        "closed": "closed",
    },
}

_ENTRY_WORDS = {
    "pl": {
        EntryKind.RECEIVED: "Zgłoszenie przyjęte",
        EntryKind.ACKNOWLEDGED: "Wysłaliśmy potwierdzenie przyjęcia",
        EntryKind.STAFF_REPLY: "Odpowiedź zespołu wsparcia",
        EntryKind.CUSTOMER_MESSAGE: "Twoja wiadomość",
        EntryKind.STATUS_CHANGED: "Zmiana statusu: {status}",
        EntryKind.WAITING: "Czekamy na Twoją odpowiedź (czas realizacji wstrzymany)",
        EntryKind.RESOLVED: "Zgłoszenie rozwiązane",
        EntryKind.CLOSED: "Zgłoszenie zamknięte",
        EntryKind.REOPENED: "Zgłoszenie otwarte ponownie",
    },
    "en": {
        EntryKind.RECEIVED: "Ticket received",
        EntryKind.ACKNOWLEDGED: "Acknowledgement sent",
        EntryKind.STAFF_REPLY: "Reply from the support team",
        EntryKind.CUSTOMER_MESSAGE: "Your message",
        EntryKind.STATUS_CHANGED: "Status changed: {status}",
        EntryKind.WAITING: "Waiting for your answer (the resolution clock is stopped)",
        EntryKind.RESOLVED: "Ticket resolved",
        EntryKind.CLOSED: "Ticket closed",
        EntryKind.REOPENED: "Ticket reopened",
    },
}

_DEADLINE_WORDS = {
    "pl": {
        DeadlineState.MET: "dotrzymany",
        DeadlineState.MET_LATE: "dotrzymany z opóźnieniem {late}",
        DeadlineState.RUNNING: "zostało {left}",
        DeadlineState.OVERDUE: "po terminie o {late}",
        DeadlineState.PAUSED: "wstrzymany: czekamy na Twoją odpowiedź",
    },
    "en": {
        DeadlineState.MET: "met",
        DeadlineState.MET_LATE: "met {late} late",
        DeadlineState.RUNNING: "{left} left",
        DeadlineState.OVERDUE: "{late} late",
        DeadlineState.PAUSED: "paused: waiting for your answer",
    },
}


def _language(language: str) -> str:
    return "en" if language == "en" else "pl"  # Polish first: anything else reads Polish


def status_wording(status: str, language: str) -> str:
    """A status as the customer reads it; an unknown one as it is."""
    return _STATUS_WORDS[_language(language)].get(status, status)


def entry_wording(entry: TimelineEntry, language: str) -> str:
    """The entry's line on the page, e.g. "Zmiana statusu: w toku"."""
    status = status_wording(entry.status, language)
    return _ENTRY_WORDS[_language(language)][entry.kind].format(status=status)


def deadline_wording(view: DeadlineView, language: str) -> str:
    """ "zostało 3 h 20 min", "2 h late", "met"... (durations rounded down to minutes)."""
    lang = _language(language)
    return _DEADLINE_WORDS[lang][view.state].format(
        left=human_duration(view.left, lang), late=human_duration(view.late, lang)
    )
