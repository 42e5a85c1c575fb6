"""Jinja2 templates: render a notice's subject and body in the customer's language.

A notice (``mailbot.core.notices``) names its template by its type; its labels are
worded by the macros of ``<language>/_labels.txt.j2`` in the templates folder, or in
the built-in one when a custom folder (``[general] templates_dir``) has none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2

import mailbot
from mailbot.core.notices import Label, Notice, TicketFields

LANGUAGES = ("pl", "en")
DEFAULT_LANGUAGE = "pl"


def builtin_templates_dir() -> Path:
    """The templates shipped with mailbot: inside the wheel, or at the top of a checkout."""
    packaged = Path(mailbot.__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(mailbot.__file__).parent.parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class Renderer:
    """Renders ``<language>/<name>.txt.j2``; the first line is ``Subject: ...``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or builtin_templates_dir()
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directory),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text mail: escaping would corrupt it
            keep_trailing_newline=True,
            # A reload (SIGHUP) builds a new Renderer: no stat of each template per mail.
            auto_reload=False,
        )
        self._labels: dict[str, Any] = {}  # language -> its labels macros, read once

    def render(self, notice: Notice, language: str, ticket: TicketFields) -> Rendered:
        """``notice`` about ``ticket`` in ``language`` (Polish for one we have no templates in)."""
        lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
        context = asdict(ticket) | {
            name: self.word(value, lang) if isinstance(value, Label) else value
            for name, value in notice.variables().items()
        }
        name = notice.template
        text = self._env.get_template(f"{lang}/{name}.txt.j2").render(**context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"template {lang}/{name}.txt.j2 must start with a 'Subject:' line")
        return Rendered(subject=head.removeprefix("Subject:").strip(), body=body.strip() + "\n")

    def word(self, label: Label, language: str) -> str:
        """``label`` as the templates of ``language`` word it."""
        return str(getattr(self._labels_of(language), label.macro)(*label.args()))

    def _labels_of(self, language: str) -> Any:
        """The labels macros of ``language``: the folder's own, else the built-in ones (a
        custom folder copied before the labels moved into the templates has none)."""
        if language not in self._labels:
            name = f"{language}/_labels.txt.j2"
            try:
                template = self._env.get_template(name)
            except jinja2.TemplateNotFound:
                template = Renderer(builtin_templates_dir())._env.get_template(name)
            self._labels[language] = template.module
        return self._labels[language]
