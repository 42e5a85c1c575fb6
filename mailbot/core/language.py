"""The customer's language: which of our two, Polish or English, mails to a ticket use.

The rule, in order (issue 18):

1. The contract's ``language``, when the contract sets one (the contract the sender's
   address names, verified or not: the language is not a privilege).
2. ``Content-Language``, its first tag: ``pl...`` gives Polish; ``en...`` gives English
   unless the text reads Polish (Outlook writes its own interface language, often
   ``en-US``, on mail people write in Polish). Another language (``de``) says nothing
   about ours, so the text decides. The web forms put the page's language here.
3. The text: the subject and the newly written part of the body (quoted history cut by
   ``core.quoting``), its frequent English words against its Polish signs (frequent
   Polish words, also typed without Polish letters, and words with Polish letters).
   English when it has at least ``_MIN_SIGNS`` English words and more than twice as many
   as Polish signs; Polish when it has at least ``_MIN_SIGNS`` Polish signs and is not
   that clearly English (a mixed text reads Polish).
4. Polish (the default): too little text to tell.

A simple rule over counts of words rather than a statistical detector: the choice is
between two languages that share almost no frequent words, and a Polish desk answers in
Polish when unsure, so the rule only has to recognise text that is plainly English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.core.quoting import strip_quoted

POLISH = "pl"
ENGLISH = "en"
LANGUAGES = (POLISH, ENGLISH)

# Where the choice came from, as ``mailbot inspect`` and the log name it.
CONTRACT = "contract"
CONTENT_LANGUAGE = "Content-Language"
TEXT = "text"
DEFAULT = "default"

# Enough text to judge by: the first so many characters of subject and new text.
_TEXT_LIMIT = 20_000
_MIN_SIGNS = 2
_WORD = re.compile(r"[^\W\d_]+")
_POLISH_LETTERS = frozenset("ąćęłńóśźż")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent Polish words, also as typed without Polish letters ("prosze", "dzien"). Left
# out: words English shares or uses in support mail ("a", "i", "to", "do", "no", "on",
# "we", "po" for purchase order, "co" for company, "it" for the IT department).
_POLISH_WORDS = _words(
    """
    w z o na nie jest są sa się sie że ze jak czy dla od przez przy pod nad bez oraz lub
    ale już juz też tez tylko jednak jeszcze bardzo może moze można mozna jako gdy kiedy
    żeby zeby aby który ktory która ktora które ktore tego tym ten tej mam mamy ma był
    byl była byla było bylo będzie bedzie nasz nasza nasze mój moj moja moje pana pani
    państwo panstwo proszę prosze dziękuję dziekuje dzięki dzieki pozdrawiam pozdrowienia
    witam dzień dzien dobry dobrego szanowni szanowny szanowna
    """
)
# Frequent English words no Polish text uses.
_ENGLISH_WORDS = _words(
    """
    the and is are was were be been have has had not with for this that these those you
    your my our of in at from there they them their what when which who if but or an can
    could would should will does did doesn don please thanks thank hello hi dear regards
    sincerely am as any all about after since still also just here some me he she how why
    where get got need
    """
)


@dataclass(frozen=True)
class LanguageChoice:
    """The language chosen, where from (``CONTRACT``, ``CONTENT_LANGUAGE``, ``TEXT`` or
    ``DEFAULT``) and what in it decided."""

    language: str
    source: str
    detail: str

    def reason(self) -> str:
        """E.g. "Content-Language en-GB", "text: 9 English words, 0 Polish signs"."""
        joint = " " if self.source in (CONTRACT, CONTENT_LANGUAGE) else ": "
        return f"{self.source}{joint}{self.detail}"

    def describe(self) -> str:
        """E.g. "language en (Content-Language en-GB)", for the log."""
        return f"language {self.language} ({self.reason()})"


@dataclass(frozen=True)
class TextSigns:
    """What the text rule counts: frequent English words, and Polish signs (frequent
    Polish words and words with Polish letters)."""

    english: int
    polish: int

    def verdict(self) -> str | None:
        """English when clearly English, Polish when it has Polish signs and is not clearly
        English (a mixed text), None when there is too little to tell."""
        if self.english >= _MIN_SIGNS and self.english > 2 * self.polish:
            return ENGLISH
        return POLISH if self.polish >= _MIN_SIGNS else None

    def describe(self) -> str:
        return f"{self.english} English words, {self.polish} Polish signs"


def header_language(value: str | None) -> str | None:
    """``pl`` or ``en`` from a ``Content-Language`` value's first tag ("en-GB, pl" -> en,
    "pl_PL" -> pl); None for none, or for another language ("de")."""
    first = (value or "").split(",")[0].split(";")[0].strip().lower()
    primary = re.split(r"[-_]", first, maxsplit=1)[0]
    return primary if primary in LANGUAGES else None


def text_signs(text: str) -> TextSigns:
    """Count the English words and the Polish signs of ``text``."""
    english = polish = 0
    for word in _WORD.findall(text[:_TEXT_LIMIT].lower()):
        if word in _ENGLISH_WORDS:
            english += 1
        elif word in _POLISH_WORDS or not _POLISH_LETTERS.isdisjoint(word):
            polish += 1
    return TextSigns(english=english, polish=polish)


def written_text(subject: str, body: str) -> str:
    """What the customer wrote in this mail: the subject and the body without the history
    it quotes."""
    return f"{subject}\n{strip_quoted(body[:_TEXT_LIMIT])}"


def mail_language(*, content_language: str | None, subject: str, body: str) -> LanguageChoice:
    """The language a mail was written in, by rules 2 and 3 of the module docstring."""
    signs = text_signs(written_text(subject, body))
    by_text = signs.verdict()
    declared = header_language(content_language)
    header = " ".join((content_language or "").split())[:100]
    if declared == ENGLISH and by_text == POLISH:
        return LanguageChoice(POLISH, TEXT, f"{signs.describe()}, over Content-Language {header}")
    if declared is not None:
        return LanguageChoice(declared, CONTENT_LANGUAGE, header)
    if by_text is not None:
        return LanguageChoice(by_text, TEXT, signs.describe())
    return LanguageChoice(POLISH, DEFAULT, f"too little text to tell ({signs.describe()})")


def customer_language(
    contract_language: str, *, content_language: str | None, subject: str, body: str
) -> LanguageChoice:
    """A new ticket's language: ``contract_language`` when the sender's contract sets one
    ("" for none, or no contract), else the mail's (``mail_language``)."""
    if contract_language in LANGUAGES:
        return LanguageChoice(contract_language, CONTRACT, "language")
    return mail_language(content_language=content_language, subject=subject, body=body)
