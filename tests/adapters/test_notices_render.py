"""Every notice renders in Polish and English exactly as the code's own labels rendered it,
with the labels now worded by the templates folder (``<language>/_labels.txt.j2``)."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
import pytest

from mailbot.adapters.templates import LANGUAGES, Renderer, builtin_templates_dir
from mailbot.core.notices import (
    CustomerTier,
    Due,
    Label,
    Met,
    NoText,
    Notice,
    StaffConfirmed,
    StaffTier,
    StatusName,
    StatusReply,
    TicketFields,
    every_notice,
)
from mailbot.template_check import sample

# The words mailbot's code held before they moved to the templates.
STATUS_LABELS = {
    "pl": {"new": "przyjęte", "open": "w realizacji", "waiting": "czekamy na Państwa odpowiedź",
           "resolved": "rozwiązane", "closed": "zamknięte"},
    "en": {"new": "received", "open": "in progress", "waiting": "waiting for your answer",
           "resolved": "resolved", "closed": "closed"},
}  # fmt: skip
STAFF_TIERS = {"vip": "VIP", "warranty": "gwarancja", "post_warranty": "pogwarancyjne"}
CUSTOMER_TIERS = {
    "pl": {"vip": "VIP", "warranty": "gwarancyjnej", "post_warranty": "pogwarancyjnej"},
    "en": {"vip": "VIP", "warranty": "warranty", "post_warranty": "post-warranty"},
}
# Staff mail is always Polish (mail_queue.STAFF_LANGUAGE); the English staff templates,
# never sent, used to show Polish tier names and "(bez treści)": now they speak English.
ENGLISH_STAFF_TIERS = {"vip": "VIP", "warranty": "warranty", "post_warranty": "post-warranty"}


def old_words(label: Label, language: str) -> str:
    """What the code said for ``label`` in ``language``."""
    if isinstance(label, StaffTier):
        tiers = STAFF_TIERS if language == "pl" else ENGLISH_STAFF_TIERS
        return tiers.get(label.tier, label.tier)
    if isinstance(label, CustomerTier):
        return CUSTOMER_TIERS[language].get(label.tier, "")
    if isinstance(label, StatusName):
        return STATUS_LABELS[language].get(label.status, label.status)
    if isinstance(label, Met | Due):
        word = {"pl": ("spełniona", "termin"), "en": ("met", "due")}[language]
        return f"{word[0] if isinstance(label, Met) else word[1]} {label.at}"
    assert isinstance(label, NoText)
    return "(bez treści)" if language == "pl" else "(no text)"


TICKET = TicketFields(
    number="SOL-12", tag="[SOL-12]", subject="Drukarka nie drukuje", customer="jan@acme.pl",
    customer_name="Jan Kowalski", reaction_due="2026-11-25 11:00 CET",
    resolution_due="2026-11-27 10:00 CET", status="open", reopen_days=14,
    support_name="Serwis", support_address="pomoc@serwis.pl",
)  # fmt: skip
LABELS = [
    *(StaffTier(t) for t in (*STAFF_TIERS, "other")),
    *(CustomerTier(t) for t in (*STAFF_TIERS, "")),
    *(StatusName(s) for s in (*STATUS_LABELS["pl"], "other")),
    Met("2026-11-25 10:30 CET"),
    Due("2026-11-25 11:00 CET"),
    NoText(),
]


def old_render(notice: Notice, language: str) -> str:
    """The template rendered as the code did: plain variables, labels worded in code."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(builtin_templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    context: dict[str, Any] = asdict(TICKET)
    for name, value in notice.variables().items():
        context[name] = old_words(value, language) if isinstance(value, Label) else value
    return env.get_template(f"{language}/{notice.template}.txt.j2").render(**context)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("label", LABELS, ids=repr)
def test_the_templates_word_each_label_as_the_code_did(label: Label, language: str) -> None:
    assert Renderer().word(label, language) == old_words(label, language)


@pytest.mark.parametrize("filled", [True, False])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", every_notice(), ids=lambda kind: kind.template)
def test_every_notice_renders_as_before(kind: type[Notice], language: str, filled: bool) -> None:
    notice = sample(kind, filled=filled)
    rendered = Renderer().render(notice, language, TICKET)
    head, _, body = old_render(notice, language).partition("\n\n")
    assert rendered.subject == head.removeprefix("Subject:").strip()
    assert rendered.body == body.strip() + "\n"


def test_a_status_reply_in_each_language() -> None:
    reply = StatusReply(
        status_label=StatusName("waiting"),
        reaction_state=Met("2026-11-25 10:30 CET"),
        resolution_state=Due("2026-11-27 10:00 CET"),
        last_activity="2026-11-25 10:40 CET",
    )
    pl = Renderer().render(reply, "pl", TICKET).body
    en = Renderer().render(reply, "en", TICKET).body
    assert "czekamy na Państwa odpowiedź" in pl and "spełniona 2026-11-25 10:30 CET" in pl
    assert "waiting for your answer" in en and "due 2026-11-27 10:00 CET" in en


def test_a_custom_folder_without_labels_gets_the_built_in_ones(tmp_path: Path) -> None:
    """A templates folder copied before the labels moved into it still works."""
    shutil.copytree(builtin_templates_dir(), tmp_path, dirs_exist_ok=True)
    for language in LANGUAGES:
        (tmp_path / language / "_labels.txt.j2").unlink()
    notice = StaffConfirmed(contract="acme", tier_label=StaffTier("warranty"))
    assert "gwarancja" in Renderer(tmp_path).render(notice, "pl", TICKET).body


def test_a_custom_folder_words_its_own_labels(tmp_path: Path) -> None:
    shutil.copytree(builtin_templates_dir(), tmp_path, dirs_exist_ok=True)
    labels = tmp_path / "pl" / "_labels.txt.j2"
    labels.write_text(labels.read_text().replace('"gwarancja"', '"serwis gwarancyjny"'))
    notice = StaffConfirmed(contract="acme", tier_label=StaffTier("warranty"))
    assert "serwis gwarancyjny" in Renderer(tmp_path).render(notice, "pl", TICKET).body
