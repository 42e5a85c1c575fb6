"""HTML mail bodies to readable plain text, with the standard library only.

The contract of :func:`html_to_text`:

- block elements (paragraphs, headings, divs, table rows, list items ...)
  start and end a line; paragraph-like blocks leave one blank line;
- ``<br>`` is a hard line break, so two of them leave a blank line;
- list items start with ``"- "``, indented two spaces per nesting level;
- a link reads ``text (url)`` unless its text already says the url;
- ``<script>``, ``<style>``, ``<title>`` and ``<template>`` contents are dropped;
- entities are decoded; runs of white space collapse to one space outside
  ``<pre>``; no line ends in spaces and there is never more than one blank line.

It never raises: markup the parser cannot follow is stripped with a regex.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Elements that leave a blank line around them.
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl", "table", "hr"}
)
# Elements that only start and end a line.
_LINES = frozenset(
    {
        "div", "tr", "dt", "dd", "address", "article", "aside", "caption", "center",
        "details", "dialog", "fieldset", "figcaption", "figure", "footer", "form", "header",
        "main", "nav", "section", "summary", "tbody", "thead", "tfoot", "body", "html",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_DROPPED = frozenset({"script", "style", "title", "template"})
_LISTS = frozenset({"ul", "ol", "menu"})
_SPACE_RUN = re.compile(r"[ \t\n\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")


def html_to_text(markup: str) -> str:
    """Return the readable text of an HTML document or fragment (see the module docstring)."""
    converter = _TextConverter()
    try:
        converter.feed(_unclosed_escaped(markup))
        converter.close()
    # Why so broad: html.parser still raises AssertionError on some broken
    # declarations (``<![if ...]>``); a mail body must never stop the parser.
    except Exception:
        return _tidy(html.unescape(_SPACE_RUN.sub(" ", _TAG.sub(" ", markup))))
    return converter.text()


def _unclosed_escaped(markup: str) -> str:
    """``markup`` with the openers no closer follows written as text (``&lt;``).

    html.parser looks for the end of each tag, comment or declaration up to the end
    of its input and, finding none, tries again from the next one: a body of
    100 kB of ``<a `` took 90 s (CPython gh-135462, fixed after 3.11.7). No
    ``<`` after the last ``>`` can close, nor a ``<!--`` after the last ``-->``.
    """
    last = markup.rfind(">")
    head, tail = markup[: last + 1], markup[last + 1 :].replace("<", "&lt;")
    comments = head.rfind("-->")
    if comments >= 0:
        head = head[: comments + 3] + head[comments + 3 :].replace("<!--", "&lt;!--")
    elif "<!--" in head:
        head = head.replace("<!--", "&lt;!--")
    return head + tail


def _same_target(text: str, url: str) -> bool:
    """Tell whether a link's text already shows its url (scheme and trailing slash aside)."""

    def bare(value: str) -> str:
        value = value.strip().lower()
        for scheme in ("mailto:", "https://", "http://"):
            value = value.removeprefix(scheme)
        return value.rstrip("/")

    return bare(text) == bare(url)


def _tidy(text: str) -> str:
    """Strip line ends, allow at most one blank line in a row, strip the whole text."""
    lines = [line.rstrip() for line in text.replace("\u00a0", " ").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


class _TextConverter(HTMLParser):
    """Collects text while html.parser walks the markup; ``text()`` gives the result."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._pending_breaks = 0
        self._dropping = 0
        self._pre = 0
        self._list_depth = 0
        # (href, index in _out where the link text starts) for each open <a>.
        self._links: list[tuple[str, int]] = []

    def text(self) -> str:
        """Return the text collected so far, tidied."""
        return _tidy("".join(self._out))

    # -- output helpers --------------------------------------------------

    def _break(self, lines: int, *, add: bool = False) -> None:
        """Ask for line breaks before the next text; ``add`` stacks them (``<br>``)."""
        if add:
            self._pending_breaks += lines
        else:
            self._pending_breaks = max(self._pending_breaks, lines)

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._pending_breaks and self._out:
            self._out.append("\n" * self._pending_breaks)
        self._pending_breaks = 0
        self._out.append(text)

    def _after_space_or_break(self) -> bool:
        return not self._out or self._out[-1].endswith(("\n", " ")) or self._pending_breaks > 0

    # -- html.parser callbacks -------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self._dropping += 1
        elif tag == "body":
            # An unclosed <title> or <style> in the head must not eat the body.
            self._dropping = 0
        if tag == "br":
            self._break(1, add=True)
        elif tag == "li":
            self._break(1)
            self._emit("  " * max(self._list_depth - 1, 0) + "- ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self._out)))
        elif tag == "img":
            self._emit_alt(dict(attrs).get("alt"))
        self._block_edge(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <img/>, <hr/>: open and close at once, without nesting.
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self._dropping = max(self._dropping - 1, 0)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())
        self._block_edge(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._dropping:
            return
        if self._pre:
            self._emit(data)
            return
        text = _SPACE_RUN.sub(" ", data)
        if text.startswith(" ") and self._after_space_or_break():
            text = text[1:]
        self._emit(text)

    # -- element helpers -------------------------------------------------

    def _block_edge(self, tag: str, *, opening: bool) -> None:
        """Break lines at a block element's start or end, tracking <pre> and list depth."""
        step = 1 if opening else -1
        if tag == "pre":
            self._pre = max(self._pre + step, 0)
        if tag in _LISTS:
            self._list_depth = max(self._list_depth + step, 0)
        nested_list = tag in _LISTS and self._list_depth > (1 if opening else 0)
        if tag in _PARAGRAPHS and not nested_list:
            self._break(2)
        elif tag in _LINES or nested_list or (tag == "li" and not opening):
            self._break(1)
        elif tag in _CELLS and opening and not self._after_space_or_break():
            self._emit(" ")

    def _emit_alt(self, alt: str | None) -> None:
        if alt and alt.strip() and not self._dropping:
            self.handle_data(alt.strip())

    def _close_link(self, href: str, start: int) -> None:
        """Append `` (url)`` after a link whose text does not already show the url."""
        href = href.strip()
        if not href or href.startswith(("#", "javascript:")) or self._dropping:
            return
        label = "".join(self._out[start:]).strip()
        if not label:
            self._emit(href)
        elif not _same_target(label, href):
            self._emit(f"({href})" if self._after_space_or_break() else f" ({href})")
