"""Render every web page once per language with sample values, so a broken page template
(a custom ``[general] templates_dir``'s ``web/`` folder, or ours) stops ``mailbot
check-config`` and ``mailbot web`` at start instead of answering its first visitor with
a 500.

Each page is rendered in every shape its handler gives it: each form, each
confirmation state, a status page with and without a VIP package and a timeline, an
empty board and a full one, every error code. The values are built by the handlers'
own functions (``price_list``, ``form_values``, ``status_values``) from the use
cases' types, so a template is checked with the variables it will really get; the
staff ticket page's dict is written out here, and a test keeps its keys those of
``mailbot.usecases.web_staff.staff_ticket``.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any, get_args

import jinja2

from mailbot.adapters.pages import Pages
from mailbot.adapters.templates import LANGUAGES
from mailbot.config import Settings
from mailbot.core.billing import PackageStanding
from mailbot.core.timeline import DeadlineState, DeadlineView, EntryKind, TimelineEntry
from mailbot.errors import ConfigError
from mailbot.usecases.desk import Desk
from mailbot.usecases.web_staff import Board, BoardRow
from mailbot.usecases.web_status import StatusPage
from mailbot.usecases.web_submissions import Confirmation, Form
from mailbot.web.start import price_list
from mailbot.web.status import status_values
from mailbot.web.submit import form_values

# What ``mailbot.web.rendering.render`` gives every page besides its own values.
_COMMON = {"path": "/zgloszenie/warranty", "csrf_token": "sample-csrf-token"}
# The codes answered with the error page (mailbot.web.rendering.http_error, server_error).
ERROR_CODES = (400, 403, 404, 405, 413, 429, 500)
_STAFF = "technik@example.com"


def check_pages(desk: Desk) -> int:
    """Render each page in each language in each of its shapes; how many renders.
    ConfigError naming the template file on the first failure."""
    pages = Pages(desk.settings.templates_dir)
    count = 0
    for language in LANGUAGES:
        for name, values in samples(desk, language):
            try:
                pages.render(name, language, {**_COMMON, **values})
            except (jinja2.TemplateError, ValueError, TypeError, LookupError, OSError) as exc:
                where = _failed_file(exc) or f"web/{language}/{name}.html.j2"
                raise ConfigError(f"page template {where}: {type(exc).__name__}: {exc}") from exc
            count += 1
    return count


def pages_dirs(settings: Settings) -> str:
    """Where the pages come from, for ``check-config``: the custom folder over ours."""
    return " over ".join(str(folder) for folder in Pages(settings.templates_dir).folders)


def _failed_file(exc: BaseException) -> str | None:
    """The template file the error is in: a syntax error names it; a render error's
    traceback runs through it (Jinja2 puts template lines in tracebacks)."""
    named = getattr(exc, "filename", None)
    if isinstance(named, str):
        return named
    found = None
    trace: types.TracebackType | None = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename.endswith(".html.j2"):
            found = trace.tb_frame.f_code.co_filename
        trace = trace.tb_next
    return found


def samples(desk: Desk, language: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every page name with each set of values its handler renders it with."""
    yield from _form_samples(desk)
    for sent in (False, True):
        yield "lost_link", {"sent": sent}
        yield "staff_login", {"sent": sent}
    for address in (_STAFF, None):
        yield "staff_link", {"address": address}
    for code in ERROR_CODES:
        yield "error", {"code": code}
    for page in (_status_page(desk, full=True), _status_page(desk, full=False)):
        yield "status", status_values(page, language, desk.local_time)
    for board in (_board(desk), Board(rows=[], counts=[])):
        yield "staff_board", {"staff": _STAFF, "board": board}
    for assignee in (_STAFF, ""):
        yield "staff_ticket", {"staff": _STAFF, "ticket": staff_ticket_sample(desk, assignee)}


def _form_samples(desk: Desk) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The start page, the forms (empty, and sent back with every mistake), their answers."""
    prices = price_list(desk.settings.billing)
    yield "start", prices
    typed = {"name": "Jan", "address": "jan@", "phone": "+48 600", "subject": "x", "body": "y"}
    errors = ["address", "name", "subject", "body", "attachment: a.bin: 2 MB > 1 MB"]
    for form in get_args(Form):
        yield "form", form_values(prices, form, values={}, errors=[])
        yield "form", form_values(prices, form, values=typed, errors=errors)
        yield "thanks", {"form": form}
    yield "vip_refused", {"form": "vip"}
    for state in get_args(Confirmation):
        if state != "opened":  # the link's GET (confirmation_state): the button, or why not
            yield "confirm", {"state": state, "token": "sample-token"}
        if state != "ready":  # its POST (confirm): opened, or why not
            yield "confirm", {"state": state}


def _status_page(desk: Desk, *, full: bool) -> StatusPage:
    now = desk.clock()
    reaction = DeadlineView("reaction", now - timedelta(hours=1), DeadlineState.MET)
    resolution = DeadlineView("resolution", now + timedelta(days=1), DeadlineState.RUNNING,
                              left=timedelta(hours=5))  # fmt: skip
    if not full:
        reaction = DeadlineView("reaction", now, DeadlineState.OVERDUE, late=timedelta(hours=2))
        resolution = DeadlineView("resolution", now, DeadlineState.PAUSED)
    entries = tuple(
        TimelineEntry(
            now - timedelta(minutes=len(EntryKind) - n),
            kind,
            status="waiting",
            body="Tekst odpowiedzi" if n % 2 else "",
        )
        for n, kind in enumerate(EntryKind)
    )
    package = PackageStanding(Decimal("10"), Decimal("2.5"), 2, 1)
    return StatusPage(
        number="SOL-1", subject="Drukarka nie drukuje" if full else "", tier="vip",
        status="waiting", reaction=reaction, resolution=resolution,
        entries=entries if full else entries[:1], package=package if full else None,
    )  # fmt: skip


def _board(desk: Desk) -> Board:
    due = desk.local_time(desk.clock())
    rows = [
        BoardRow("SOL-1", "vip", "new", "Serwer stoi", "jan@example.com", "", due, True),
        BoardRow("SOL-2", "warranty", "waiting", "", "anna@example.com", _STAFF, "", False),
    ]
    return Board(rows=rows, counts=[("vip", "new", 1), ("warranty", "waiting", 1)])


def staff_ticket_sample(desk: Desk, assignee: str) -> dict[str, Any]:
    """A ticket as ``mailbot.usecases.web_staff.staff_ticket`` gives it, with every kind of
    timeline entry."""
    at = desk.local_time(desk.clock())
    deadline = {"due": "2026-01-01T10:00:00+00:00", "met_at": None, "state": "running"}
    message = {"kind": "message", "direction": "in", "sender": "jan@example.com",
               "subject": "Serwer stoi", "body": "Od rana.", "note": "",
               "internal": False, "attachments": []}  # fmt: skip
    return {
        "number": "SOL-1", "tier": "vip", "status": "open", "customer": "jan@example.com",
        "customer_name": "Jan Kowalski", "contract": "acme", "contract_customer": "ACME",
        "subject": "Serwer stoi", "language": "pl", "received_at": "2026-01-01T09:00:00+00:00",
        "reaction_due": deadline["due"], "resolution_due": deadline["due"],
        "first_response_at": None, "resolved_at": None, "waiting_since": None,
        "assignee": assignee,
        "sla": {"reaction": deadline, "resolution": {**deadline, "state": "paused"},
                "alerts": [], "next_alert_at": None, "history": []},
        "next_deadline": _board(desk).rows[0 if assignee else 1],
        "timeline": [
            {"at": at, **message, "attachments": [
                {"filename": "log.txt", "content_type": "text/plain", "size": "2 KB",
                 "pruned_on": None},
                {"filename": "zrzut.png", "content_type": "image/png", "size": "1.2 MB",
                 "pruned_on": "2026-01-01"},
            ]},
            {"at": at, **message, "direction": "out", "note": "relay", "sender": _STAFF},
            {"at": at, **message, "internal": True, "note": "note"},
            {"at": at, "kind": "event", "event": "status", "detail": "new -> open"},
        ],
    }  # fmt: skip
