"""Every web page rendered with sample values at start and by check-config
(mailbot.web.page_check): every page is covered, the samples look like the real values, and a
broken page names its file."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.adapters.db import MessageRow, Session, SlaEventRow, TicketRow
from mailbot.adapters.pages import builtin_pages_dir
from mailbot.adapters.templates import LANGUAGES
from mailbot.bootstrap import build_desk
from mailbot.errors import ConfigError
from mailbot.usecases.desk import Desk
from mailbot.usecases.web_staff import BoardRow, staff_ticket
from mailbot.web.page_check import check_pages, samples, staff_ticket_sample
from tests import factories


def make_desk(database_url: str, tmp_path: Path, templates_dir: Path | None = None) -> Desk:
    settings = factories.maildir_settings(database_url, tmp_path)
    settings = dataclasses.replace(settings, templates_dir=templates_dir)
    return build_desk(settings, clock=lambda: factories.NOW)


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    desk = make_desk(database_url, tmp_path)
    yield desk
    desk.engine.dispose()


def test_every_page_is_rendered_in_every_language(desk: Desk) -> None:
    for language in LANGUAGES:
        pages = {path.name.removesuffix(".html.j2") for path in
                 (builtin_pages_dir() / language).glob("*.html.j2")}  # fmt: skip
        sampled = {name for name, _ in samples(desk, language)}
        assert sampled == pages - {"base"}
    expected = sum(len(list(samples(desk, language))) for language in LANGUAGES)
    assert check_pages(desk) == expected


def test_the_staff_ticket_sample_has_the_shape_of_a_real_ticket(desk: Desk) -> None:
    now = factories.NOW
    with Session(desk.engine) as session:
        ticket = TicketRow(
            number="SOL-1", seq=1, tier="warranty", status="open", subject="Sprawa",
            customer_address="jan@acme.pl", received_at=now - timedelta(hours=1),
            reaction_due=now + timedelta(hours=1), resolution_due=now + timedelta(days=5),
            updated_at=now,
        )  # fmt: skip
        session.add(ticket)
        session.flush()
        assert ticket.id is not None
        session.add(
            MessageRow(
                ticket_id=ticket.id, direction="in", message_id="<n@x>", sender="jan@acme.pl",
                recipients="", subject="Sprawa", body_text="Tekst", received_at=now,
                author="customer",
            )
        )  # fmt: skip
        session.add(SlaEventRow(ticket_id=ticket.id, at=now, kind="status", detail="new -> open"))
        session.commit()
    real = staff_ticket(desk, "SOL-1")
    assert real is not None
    sample = staff_ticket_sample(desk, "")
    assert sample.keys() == real.keys()
    assert sample["sla"].keys() == real["sla"].keys()
    assert sample["sla"]["reaction"].keys() == real["sla"]["reaction"].keys()
    assert isinstance(sample["next_deadline"], BoardRow)
    assert isinstance(real["next_deadline"], BoardRow)
    real_kinds = {entry["kind"]: entry.keys() for entry in real["timeline"]}
    sample_kinds = {entry["kind"]: entry.keys() for entry in sample["timeline"]}
    assert real_kinds == sample_kinds


def custom_templates(tmp_path: Path) -> Path:
    """A copy of the built-in templates, as an admin makes one to change the wording."""
    folder = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates", folder)
    return folder


@pytest.mark.parametrize(
    ("page", "text", "problem"),
    [
        ("en/status.html.j2", "{{ ticket.no_such_field }}", "no_such_field"),
        ("pl/confirm.html.j2", "{% if state == 'ready' %}{{ tokn }}{% endif %}", "tokn"),
        ("pl/staff_ticket.html.j2", "{{ ticket.timeline[0].nowhere }}", "nowhere"),
        ("en/base.html.j2", "{% block content %}{% endblok %}", "endblok"),
    ],
)
def test_a_broken_page_override_names_its_file(
    database_url: str, tmp_path: Path, page: str, text: str, problem: str
) -> None:
    templates = custom_templates(tmp_path)
    (templates / "web" / page).write_text(text, encoding="utf-8")
    desk = make_desk(database_url, tmp_path, templates)
    try:
        with pytest.raises(ConfigError) as caught:
            check_pages(desk)
    finally:
        desk.engine.dispose()
    message = str(caught.value)
    assert message.startswith(f"page template {templates / 'web' / page}: ")
    assert problem in message
