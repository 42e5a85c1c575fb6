"""Text in a charset that is not declared, or declared wrongly: which one it is.

A mail's text is decoded by its declared charset when that decodes cleanly (no
invalid bytes, no C1 control characters, which no real text holds); UTF-8 text under
a one-byte label (ISO-8859-1, a mailer's default) is read as UTF-8. Otherwise,
and for raw 8-bit text with no charset at all, :func:`guess` tries in turn:

1. UTF-8 (RFC 6532 allows it raw in headers);
2. the ``first`` charset, when the caller has one (a raw 8-bit header is tried in the
   charset the message declares for its body);
3. UTF-8 with a few broken sequences, when valid ones outnumber them three to one (a
   truncated or spliced UTF-8 text, not a legacy charset by chance);
4. Polish, when the text fits it: the better of windows-1250 and ISO-8859-2 (more
   Polish letters, fewer C1 controls; windows-1250 on a tie, what Polish Outlook
   sends), taken if :func:`fits_polish` says it reads as Polish text;
5. the ``hint``, a charset the detector found with enough evidence elsewhere in the
   same mail (its body), when it decodes the text cleanly: a mail's undeclared
   subject is mostly in its undeclared body's charset, and a subject alone is too
   short to tell GB2312 from EUC-KR or KOI8-R from windows-1251;
6. ``charset-normalizer`` on at most the first ``SAMPLE`` bytes. Below ``SHORT`` bytes
   (headers, one-line bodies) it chooses among ``SHORT_CANDIDATES`` only: alone it
   reads a short KOI8-R subject as Shift-JIS and ISO-8859-2 as ISO-8859-10. Among
   its best matches the one with fewest :func:`odd_characters` (and kana, in a Chinese
   or Korean reading) wins, then the one with
   fewest capitals inside words, then the hint, then the order of ``SHORT_CANDIDATES``;
7. when the detector finds nothing (binary noise), step 4's Polish reading anyway.

The cost is bounded whatever the text's size: every judgement reads at most the
first ``SAMPLE`` bytes, and only the chosen charset decodes the whole.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "Decoded",
    "codec_for",
    "decode",
    "fits_polish",
    "guess",
    "label",
    "odd_characters",
]

# What the detector and the Polish rule read of a text: enough to judge, and a 20 MB
# body costs what 64 KiB does.
SAMPLE = 64 * 1024
# Below this the detector chooses among SHORT_CANDIDATES only.
SHORT = 1024
# The charsets of undeclared 8-bit mail a Polish desk meets (Python codec names, which
# charset-normalizer uses too): Polish, Chinese, Japanese, Korean, Russian, Western. Their
# order breaks ties between equally good readings: Western before windows-1250 (the
# Polish reading was already judged and did not fit), Chinese before Korean (more common
# in mail, and GB2312 and EUC-KR share their byte ranges).
SHORT_CANDIDATES = (
    "utf_8",
    "cp1252",
    "cp1250",
    "iso8859_2",
    "gb18030",
    "big5",
    "shift_jis",
    "euc_jp",
    "euc_kr",
    "koi8_r",
    "cp1251",
)
# From SHORT bytes on, the other charsets of Europe and the Middle East too. Not all the
# detector knows: mail is not in UTF-16 or in DOS and Mac code pages, and windows-1258's
# combining accents read Italian text as well as windows-1252 does.
LONG_CANDIDATES = (
    *SHORT_CANDIDATES,
    "iso8859_15",
    "cp1253",
    "iso8859_7",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "iso8859_13",
    "koi8_u",
    "iso8859_5",
    "cp866",
)
# Accented Latin letters in a row past which a reading is odd: Czech "ří" stays under it,
# Polish "żółć" does not, but Polish text is judged by its own rule first.
_ACCENTED_RUN = 3
# How much messier than the best a short text's reading may be and still be ranked.
_SHORT_MARGIN = 0.05
# How many characters of each tied reading the tie-break reads.
_JUDGED = 4000
# A detector's reading counts as a hint for the rest of the mail from this many 8-bit bytes.
_EVIDENCE = 32

_POLISH_LETTERS = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
# Non-ASCII characters of ordinary Polish text besides its letters: no-break space, Polish
# and English quotes, dashes, and … • € « » ° §. Not © or the soft hyphen: Big5 read as
# windows-1250 is full of them.
_POLISH_SIGNS = frozenset(
    "\u00a0\u201e\u201c\u201d\u2018\u2019\u2013\u2014\u2026\u2022\u20ac\u00ab\u00bb\u00b0\u00a7"
)
# Counted by regular expressions: a loop in Python over 64 KiB of text costs milliseconds.
_C1_CONTROL = re.compile("[\x80-\x9f]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
_POLISH_LETTER = re.compile("[" + "".join(sorted(_POLISH_LETTERS)) + "]")
_POLISH_CHARACTER = re.compile(
    "[" + re.escape("".join(sorted(_POLISH_LETTERS | _POLISH_SIGNS))) + "]"
)
# Share of a text's non-ASCII characters that must be Polish letters or signs.
_POLISH_SHARE = 0.8

# Labels mail uses that Python's codecs do not know, or that are de facto a
# superset (the WHATWG Encoding Standard makes the same substitutions).
_CHARSET_LABELS = {"iso-8859-8-i": "iso8859-8", "ks_c_5601-1987": "cp949", "x-gbk": "gb18030"}
_CODEC_SUPERSETS = {"iso8859-1": "cp1252", "gb2312": "gb18030", "gbk": "gb18030"}
# Python's names of the one-byte charsets, which read any UTF-8 text without an error.
_SINGLE_BYTE = ("iso8859-", "cp125", "koi8-", "mac-")
# Text codecs that would interpret the data rather than decode a charset.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})
# The detector's names of Chinese and Korean charsets, and the Japanese syllables (hiragana,
# katakana) their readings of real text hardly have.
_CHINESE_KOREAN = frozenset({"gb18030", "gb2312", "gbk", "big5", "big5hkscs", "euc_kr", "cp949"})
_KANA = re.compile("[\u3041-\u30ff]")
# Hangul letters standing alone (compatibility jamo): EUC-KR has them in the row where EUC-JP
# has its hiragana; Korean text writes syllables.
_JAMO = re.compile("[\u3131-\u318e]")
# Scripts whose letters do not follow each other within a word (the first word of a
# character's Unicode name); East Asian scripts count as one (Japanese mixes them).
_SCRIPTS = {
    "CJK": "east asian",
    "HIRAGANA": "east asian",
    "KATAKANA": "east asian",
    "KATAKANA-HIRAGANA": "east asian",  # the prolonged sound mark of "サーバー"
    "IDEOGRAPHIC": "east asian",  # the iteration mark of "時々"
    "HANGUL": "hangul",
    "CYRILLIC": "cyrillic",
    "GREEK": "greek",
    "LATIN": "latin",
    "ARABIC": "arabic",
    "HEBREW": "hebrew",
    "THAI": "thai",
}


@dataclass(frozen=True)
class Decoded:
    """A decoded text and how: ``charset`` used, ``problem`` (why the declared charset was
    not used, None if it was), ``evidence`` (the detector chose it on enough bytes to
    serve as a hint for the rest of the mail)."""

    text: str
    charset: str
    problem: str | None = None
    evidence: bool = False


def codec_for(declared: str) -> str | None:
    """Python's codec for a declared charset label, or None if there is none to trust."""
    given = declared.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(_CHARSET_LABELS.get(given, given)).name
    except (LookupError, ValueError):
        return None
    if name in _NOT_CHARSETS:
        return None
    return _CODEC_SUPERSETS.get(name, name)


def decode(data: bytes, declared: str | None, *, hint: str | None = None) -> Decoded:
    """``data`` by its ``declared`` charset if that decodes it cleanly, else :func:`guess`
    (see the module docstring), with the reason in ``problem``."""
    if declared is None:
        if data.isascii():
            return Decoded(data.decode("ascii"), "us-ascii")
        return _guessed(data, "8-bit text without a charset", hint)
    codec = codec_for(declared)
    if codec is None:
        return _guessed(data, f"charset {declared[:40]!r} not known", hint)
    return _by_label(data, codec, declared, hint)


def _by_label(data: bytes, codec: str, declared: str, hint: str | None) -> Decoded:
    """``data`` in the ``codec`` of its ``declared`` label, unless that reads it wrongly."""
    try:
        text = data.decode(codec)
    except (UnicodeError, LookupError):
        return _guessed(data, f"not valid {declared!r}", hint)
    if codec.startswith(_SINGLE_BYTE) and not data.isascii() and _is_utf8(data):
        # The commonest wrong label: a mailer's default ISO-8859-1 on UTF-8 text ("Ä…" for
        # "ą"). Legacy text that is valid UTF-8 by chance needs "Ã©"-like pairs only.
        return Decoded(data.decode("utf-8"), "utf-8", f"UTF-8 declared as {declared!r}")
    if not _has_controls(text):
        return Decoded(text, codec)
    # windows-1250 declared as ISO-8859-2 makes „ and ” C1 controls; a guess without
    # them is the better reading, else the declared one stands.
    better = _guessed(data, f"control characters in {declared!r}", hint)
    return Decoded(text, codec) if _has_controls(better.text) else better


def _guessed(data: bytes, problem: str, hint: str | None) -> Decoded:
    found = guess(data, hint=hint)
    return Decoded(found.text, found.charset, problem, found.evidence)


def guess(data: bytes, *, first: str | None = None, hint: str | None = None) -> Decoded:
    """Decode text of unknown charset by the module's rules."""
    for codec in ("utf-8", first) if first else ("utf-8",):
        try:
            text = data.decode(codec)
        except (UnicodeError, LookupError):
            continue
        if codec == "utf-8" or not _has_controls(text):
            return Decoded(text, codec)
    sample = data[:SAMPLE]
    if _mostly_utf8(sample):
        text = data.decode("utf-8", errors="replace")
        return Decoded(text, "utf-8 with broken sequences replaced")
    return _legacy(data, sample, hint)


def _legacy(data: bytes, sample: bytes, hint: str | None) -> Decoded:
    """Steps 4 to 7: Polish if it fits, the hint, the detector, Polish anyway."""
    polish = _polish_reading(sample)
    if polish is not None and fits_polish(polish[0]):
        return _whole(data, polish[1])
    if hint is not None and _reads_cleanly(sample, hint):
        return _whole(data, hint)
    detected = _detect(sample, hint)
    if detected is not None:
        evidence = sum(1 for byte in sample if byte > 0x7F) >= _EVIDENCE
        return _whole(data, detected, evidence=evidence)
    if polish is not None:
        return _whole(data, polish[1])
    return Decoded(data.decode("latin-1"), "latin-1")


def _whole(data: bytes, charset: str, *, evidence: bool = False) -> Decoded:
    """All of ``data`` in ``charset``, judged on its sample: a bad byte after it is replaced."""
    return Decoded(data.decode(charset, errors="replace"), label(charset), evidence=evidence)


def label(charset: str) -> str:
    """The name mail uses for a Python codec name: cp1251 is windows-1251, koi8_r koi8-r."""
    name = charset.lower().replace("_", "-")
    if name.startswith("cp125"):
        return "windows-" + name.removeprefix("cp")
    return "iso-8859-" + name.removeprefix("iso8859-") if name.startswith("iso8859-") else name


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_controls(text: str) -> bool:
    return _C1_CONTROL.search(text) is not None


def _mostly_utf8(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    valid = len(_NON_ASCII.findall(text)) - broken
    return valid >= 3 * broken


def _reads_cleanly(data: bytes, charset: str) -> bool:
    try:
        text = data.decode(charset)
    except (UnicodeError, LookupError):
        return False
    return not _has_controls(text) and odd_characters(text) == 0


# -- Polish ---------------------------------------------------------------


def _polish_reading(data: bytes) -> tuple[str, str] | None:
    """(text, charset): the better of windows-1250 and ISO-8859-2 for Polish text."""
    best: tuple[int, str, str] | None = None
    for charset in ("windows-1250", "iso-8859-2"):
        try:
            text = data.decode(charset)
        except UnicodeDecodeError:
            continue
        score = _polish_score(text)
        if best is None or score > best[0]:
            best = (score, text, charset)
    return None if best is None else (best[1], best[2])


def _polish_score(text: str) -> int:
    return len(_POLISH_LETTER.findall(text)) - 3 * len(_C1_CONTROL.findall(text))


def fits_polish(text: str) -> bool:
    """Does ``text`` read as Polish: no C1 controls, and at least 80% of its non-ASCII
    characters Polish letters or the signs Polish text uses („ ” … €, dashes)?

    Chinese, Japanese or Russian bytes read as windows-1250 give Polish letters only
    by chance, about one character in four; Polish text has little else. Nor does it
    have an upper-case letter right after a lower-case one where either is non-ASCII
    (Big5's ASCII trail bytes give "ązŚn"); "iPhone" and "PayPal" are ASCII.
    """
    other = len(_NON_ASCII.findall(text))
    if not other or _has_controls(text) or _mixed_case(text):
        return False
    return len(_POLISH_CHARACTER.findall(text)) >= _POLISH_SHARE * other


# -- the detector ---------------------------------------------------------


def _detect(data: bytes, hint: str | None) -> str | None:
    """charset-normalizer's reading of ``data`` (a sample), or None when it finds none."""
    # Imported here: only undeclared 8-bit mail needs it, and it was about 4 MB of the daemon's
    # and its parse worker's peak (issue 17; bench --contracts 20000: 147 -> 143 MB). The
    # worker loads it at its first such mail; the daemon only if it reads one itself (no
    # worker, or a mail past the worker's deadline).
    from charset_normalizer import from_bytes  # noqa: PLC0415

    short = len(data) < SHORT
    matches = from_bytes(data, cp_isolation=list(SHORT_CANDIDATES if short else LONG_CANDIDATES))
    if not matches:
        return None
    # Short text: a reading with odd characters loses to one without that the detector
    # finds a little messier (EUC-JP's kanji and kana mixed); otherwise its measure decides.
    best_chaos = min(match.chaos for match in matches) + (_SHORT_MARGIN if short else 0.0)
    tied = [match for match in matches if match.chaos <= best_chaos]

    def rank(encoding: str, text: str) -> tuple[int, float, int, bool, int]:
        order = SHORT_CANDIDATES
        preference = order.index(encoding) if encoding in order else len(order)
        foreign = _kana(text) if encoding in _CHINESE_KOREAN else 0
        odd = odd_characters(text) + foreign + len(_JAMO.findall(text))
        return odd, chaos[encoding], _inner_capitals(text), encoding != hint, preference

    chaos = {str(match.encoding): match.chaos for match in tied}

    ranked = min(tied, key=lambda match: rank(match.encoding, str(match)[:_JUDGED]))
    return str(ranked.encoding)


def odd_characters(text: str) -> int:
    """How many characters of ``text`` real text seldom has: C1 controls, private-use and
    unassigned code points, half-width katakana (Shift-JIS's reading of Cyrillic), an
    upper-case letter right after a lower-case one (KOI8-R read as windows-1251 or back
    gives "пРИВЕТ"), and a non-ASCII letter of another script than the non-ASCII letter
    before it (EUC-KR's reading of GB2312 mixes Hangul with Chinese characters), or a
    fourth accented Latin letter in a row (windows-1251 read as windows-1252: "òåñò";
    Polish "żółć" has four, and its own rule decides before this one)."""
    odd = 0
    previous = " "
    accented = 0  # non-ASCII Latin letters in a row
    for ch in text:
        accented = accented + 1 if not ch.isascii() and _script(ch) == "latin" else 0
        if "\uff61" <= ch <= "\uff9f" or unicodedata.category(ch) in ("Cc", "Co", "Cn"):
            odd += ch not in "\t\n\r"
        elif ch.isupper() and previous.islower():
            odd += 1
        elif not ch.isascii() and not previous.isascii() and ch.isalpha() and previous.isalpha():
            odd += _script(ch) != _script(previous) or accented > _ACCENTED_RUN
        previous = ch
    return odd


def _mixed_case(text: str) -> bool:
    """An upper-case letter right after a lower-case one, either of them non-ASCII (only
    the non-ASCII characters' neighbours are looked at: Polish text is mostly ASCII)."""
    for found in _NON_ASCII.finditer(text):
        at = found.start()
        ch = text[at]
        before = text[at - 1] if at else " "
        after = text[at + 1 : at + 2] or " "
        if (before.islower() and ch.isupper()) or (ch.islower() and after.isupper()):
            return True
    return False


def _kana(text: str) -> int:
    """Japanese syllables in ``text``: GB2312 has them in the rows EUC-JP has, so EUC-JP
    read as GB18030 keeps its kana; Chinese or Korean text has next to none."""
    return len(_KANA.findall(text))


def _inner_capitals(text: str) -> int:
    """Non-ASCII upper-case letters that do not start a word: real text has few (KOI8-R's lower case
    is windows-1251's upper case, so "тест" read wrongly is "ФЕУФ")."""
    pairs = zip(text[1:], text, strict=False)
    return sum(1 for ch, before in pairs if not ch.isascii() and ch.isupper() and before.isalpha())


def _script(ch: str) -> str:
    if ch.isascii():
        return "latin"
    name = unicodedata.name(ch, "")
    return _SCRIPTS.get(name.split(" ", 1)[0], name.split(" ", 1)[0])
