"""Cut what a reply quotes, so the other side reads only what was written now.

Mail clients mark the quoted history in different ways; each rule below is
one of them, seen in real mail:

- Gmail, Thunderbird, Apple Mail: an attribution line ("On Mon, 2 Nov 2026
  at 10:00, Jan <jan@x.pl> wrote:", "W dniu 02.11.2026 o 10:00, Jan pisze:",
  "W dniu ... napisał(a):", "Am ... schrieb ...:"), then "> " lines;
- Outlook: a separator ("-----Original Message-----", "-----Wiadomość
  oryginalna-----") or a header block ("From: ...", "Od: ...", "Sent:",
  "Wysłano:") followed by the whole previous mail, unquoted;
- plain "> " quoting at the end of the text;
- mailbot's own notification boilerplate below its marker line.

Only the text above the first such cut is kept, with trailing blank lines
and a trailing signature separator removed. Quoting in the middle of a text
(inline answers) is kept: cutting there would lose the answer.
"""

from __future__ import annotations

import re

# The line mailbot puts above the boilerplate of its staff notifications.
NOTIFICATION_MARKER = "### Odpowiedz powyżej tej linii / Reply above this line ###"

_ATTRIBUTION = re.compile(
    r"""^\s*(
        (on\s.+\swrote:?)                      # Gmail, Thunderbird, Apple Mail (en)
      | (w\sdniu\s.+(napisał|napisała|napisał\(a\)|pisze)\s*:?)   # Polish clients
      | (dnia\s.+(napisał|napisała|napisał\(a\))\s*:?)
      | (am\s.+schrieb.*:?)                    # German clients
      | (le\s.+a\sécrit\s*:?)                  # French clients
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|wiadomość oryginalna|oryginalna wiadomość|"
    r"ursprüngliche nachricht|forwarded message|wiadomość przekazana)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# Outlook's header block: "From:"/"Od:" followed within two lines by "Sent:"/"Wysłano:"/"Date:".
_HEADER_FROM = re.compile(r"^\s*\*?(from|od|von|de)\s*:\*?\s+\S", re.IGNORECASE)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_NEXT = re.compile(
    r"^\s*\*?(sent|wysłano|date|data|gesendet|envoyé|to|do)\s*:", re.IGNORECASE
)


def _is_cut(lines: list[str], index: int) -> bool:
    line = lines[index]
    if NOTIFICATION_MARKER in line or _SEPARATOR.match(line) or _ATTRIBUTION.match(line):
        return True
    # Some clients wrap the attribution onto two lines.
    if index + 1 < len(lines) and _ATTRIBUTION.match(f"{line} {lines[index + 1]}"):
        return True
    if _RULE.match(line):  # Outlook's line of underscores above its header block
        return any(_HEADER_FROM.match(nxt) for nxt in lines[index + 1 : index + 3])
    if _HEADER_FROM.match(line):
        return any(_HEADER_NEXT.match(nxt) for nxt in lines[index + 1 : index + 3])
    return False


def _trailing_quote_start(lines: list[str]) -> int:
    """Where a block of "> " lines (and blanks) reaching the end of the text starts."""
    start = len(lines)
    while start > 0 and (lines[start - 1].startswith(">") or not lines[start - 1].strip()):
        start -= 1
    return start if any(line.startswith(">") for line in lines[start:]) else len(lines)


def strip_quoted(text: str) -> str:
    """The newly written part of a reply (see the module docstring)."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = next((i for i in range(len(lines)) if _is_cut(lines, i)), len(lines))
    lines = lines[:cut]
    lines = lines[: _trailing_quote_start(lines)]
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and lines[-1].strip() in ("--", "-- "):
        lines.pop()
    return "\n".join(lines).strip("\n")
