"""Jinja2 for the web side's pages: ``templates/web/<language>/<name>.html.j2``, autoescaped.

Beside the mail templates (mailbot.adapters.templates) but a separate environment:
pages are HTML, so every value is escaped (customer text included) unless a
template says otherwise; mails are plain text and never escaped. A custom
``[general] templates_dir`` may hold its own ``web/`` folder; a page it lacks comes
from the built-in ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from mailbot.adapters.templates import DEFAULT_LANGUAGE, LANGUAGES, builtin_templates_dir


def builtin_pages_dir() -> Path:
    return builtin_templates_dir() / "web"


def static_dir() -> Path:
    """The files served under /static (the style sheet)."""
    return builtin_pages_dir() / "static"


class Pages:
    """Renders ``<language>/<name>.html.j2`` to HTML text."""

    def __init__(self, custom_templates_dir: Path | None = None) -> None:
        folders = [builtin_pages_dir()]
        if custom_templates_dir is not None and (custom_templates_dir / "web").is_dir():
            folders.insert(0, custom_templates_dir / "web")
        # Where pages are looked for, the first folder that has one winning.
        self.folders = tuple(folders)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            undefined=jinja2.StrictUndefined,
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # Pages are read once: checking every template file's time at every render cost
            # the status page ~3% (bench.web); a changed page shows after a restart.
            auto_reload=False,
        )

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> str:
        lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
        return self._env.get_template(f"{lang}/{name}.html.j2").render(**context, lang=lang)
