"""Jinja2 templates: render a mail's subject and body in the customer's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import mailbot

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
        )

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> Rendered:
        lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
        text = self._env.get_template(f"{lang}/{name}.txt.j2").render(**context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"template {lang}/{name}.txt.j2 must start with a 'Subject:' line")
        return Rendered(subject=head.removeprefix("Subject:").strip(), body=body.strip() + "\n")
