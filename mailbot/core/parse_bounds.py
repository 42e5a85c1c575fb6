"""What one mail may cost the standard library's parser, and the parser that holds it to that.

Python's ``email`` package parses a structured header (addresses, MIME
parameters) with ``policy.default`` in time that grows with the square of the
header's length: ``Content-Type: text/plain; name=`` and 16,000 ``"`` took 7.6 s,
and the parser reads Content-Type again at every look. A mail nested 1,000 levels
deep exhausts the recursion limit. The rules, each noted on the mail when it bites:

1. A header field longer than ``MAX_FIELD`` characters is cut there.
2. ``policy.default``'s parser sees a field only when it is at most
   ``MAX_STRUCTURED`` characters long, holds no run of more than ``MAX_QUOTE_RUN``
   quotes and at most ``MAX_PARAMETERS`` semicolons, and while the mail's budget
   lasts: the squares of the lengths it parsed add up to at most ``BUDGET`` (about
   two seconds of the worst input measured, 2 kB of quotes a field). A field is
   parsed once per mail, however often it is read. Any other field is handed out
   as plain text, which compat32's lenient tools (``get_param``, ``getaddresses``)
   read in linear time.
3. A part nested deeper than ``MAX_DEPTH`` levels is not opened: its type becomes
   ``application/octet-stream``, so its content stays one raw part.

Pure: no clock, no I/O; the bounds count characters, never seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.feedparser import FeedParser
from email.message import Message
from email.policy import EmailPolicy
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_FIELD", "MAX_STRUCTURED", "Bounds", "parse_bounded"]

MAX_FIELD = 64 * 1024
MAX_STRUCTURED = 2000
MAX_QUOTE_RUN = 64
MAX_PARAMETERS = 100
BUDGET = 100_000_000  # sum of squared lengths: 25 fields of MAX_STRUCTURED characters
MAX_DEPTH = 50

_QUOTE_RUN = re.compile(f'"{{{MAX_QUOTE_RUN + 1}}}')
# As email.policy: header values are unfolded before they are parsed.
_LINE_SEPARATOR = re.compile(r"\r\n|\r|\n")
_CHUNK = 8192  # what email.parser.Parser feeds at a time


@dataclass
class Bounds:
    """One parse's account: the notes it made, the budget it spent, the fields it parsed."""

    notes: list[str] = field(default_factory=list)
    spent: int = 0
    parsed: dict[tuple[str, str], Any] = field(default_factory=dict)

    def fetch(self, policy: EmailPolicy, name: str, value: str) -> Any:
        """``value`` as a header object of ``policy``, or as plain text when it is too costly."""
        text = _LINE_SEPARATOR.sub("", value)
        key = (name.lower(), text)
        if key in self.parsed:
            return self.parsed[key]
        why = self._too_costly(text)
        if why:
            self.notes.append(f"{name.lower()}: {why}, read leniently")
            self.parsed[key] = text
            return text
        self.spent += len(text) ** 2
        header = policy.header_factory(name, text)
        self.parsed[key] = header
        return header

    def _too_costly(self, text: str) -> str:
        if len(text) > MAX_STRUCTURED:
            return f"{len(text)} characters"
        if _QUOTE_RUN.search(text):
            return f"a run of more than {MAX_QUOTE_RUN} quotes"
        if text.count(";") > MAX_PARAMETERS:
            return f"more than {MAX_PARAMETERS} parameters"
        if self.spent + len(text) ** 2 > BUDGET:
            return "the mail's budget for header parsing is spent"
        return ""


class _BoundedPolicy(EmailPolicy):
    """``policy.default`` that cuts over-long fields and parses within ``bounds``."""

    bounds: Bounds | None = None  # one per parse, given to the constructor

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if len(value) > MAX_FIELD and self.bounds is not None:
            self.bounds.notes.append(
                f"{name.lower()}: header of {len(value)} characters cut to {MAX_FIELD}"
            )
            value = value[:MAX_FIELD]
        return name, value

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or self.bounds is None:  # parsed already, or unbounded
            return super().header_fetch_parse(name, value)
        return self.bounds.fetch(self, name, value)


class _BoundedFeedParser(FeedParser):
    """The stdlib's feed parser, not opening parts below ``MAX_DEPTH``.

    It hooks ``_parse_headers``, which every part's headers pass through right after
    the part is pushed on ``_msgstack`` and before the parser looks at its type
    (CPython 3.11-3.13; tests/core/test_parse_bounds.py holds it to that).
    """

    def __init__(self, policy: _BoundedPolicy) -> None:
        super().__init__(policy=policy)
        self._bounds = policy.bounds

    def _parse_headers(self, lines: list[str]) -> None:
        super()._parse_headers(lines)  # type: ignore[misc]  # private, see the docstring
        depth = len(self._msgstack) - 1  # type: ignore[attr-defined]
        part: Message = self._cur  # type: ignore[attr-defined]
        if depth > MAX_DEPTH and part.get_content_maintype() in ("multipart", "message"):
            if self._bounds is not None:
                self._bounds.notes.append(
                    f"MIME nesting deeper than {MAX_DEPTH} levels: the parts below are kept"
                    " unopened as one attachment"
                )
            del part["content-type"]
            part["Content-Type"] = "application/octet-stream"


def parse_bounded(raw: bytes, bounds: Bounds) -> Message:
    """``BytesParser(policy=policy.default).parsebytes(raw)`` within ``bounds``' caps."""
    # A policy takes its attributes as keywords (email._policybase); typeshed knows only its own.
    settings: dict[str, Any] = {"bounds": bounds}
    parser = _BoundedFeedParser(_BoundedPolicy(**settings))
    text = raw.decode("ascii", errors="surrogateescape")
    for start in range(0, len(text), _CHUNK):
        parser.feed(text[start : start + _CHUNK])
    return parser.close()
