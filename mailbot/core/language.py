"""The customer's language: which of our two, Polish or English, mails to a ticket use.

The rule, in order (issue 18):

1. The contract's ``language``, when the contract sets one (the contract the sender's
   address names, verified or not: the language is not a privilege).
2. ``Content-Language``, its first tag: ``pl...`` gives Polish; ``en...`` gives English
   unless the text reads Polish (Outlook writes its own interface language, often
   ``en-US``, on mail people write in Polish). Another language (``de``) says nothing
   about ours, so the text decides. The web forms put the page's language here.
3. The text: the subject and the newly written part of the body (quoted history cut by
   ``core.quoting``). Counted: frequent English words, frequent Polish words (also typed
   without Polish letters: "prosze", "dzien") and other words with Polish letters (names,
   places). It reads Polish with ``_POLISH_SENTENCE`` frequent Polish words: someone wrote
   Polish sentences in it, whatever else it holds (a company's English legal notice, an
   English error message quoted). Otherwise English with at least ``_MIN_SIGNS`` English
   words and more than twice as many as Polish signs (both Polish counts: an English mail
   signed "Paweł Żółć, Łódź" stays English), and Polish with at least ``_MIN_SIGNS``
   Polish signs.
4. Polish (the default): too little text to tell.

A simple rule over counts of words rather than a statistical detector: the choice is
between two languages that share almost no frequent words, and a Polish desk answers in
Polish when unsure, so the rule only has to recognise text that is plainly English.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from mailbot.core.contracts import Contract
from mailbot.core.mail import InboundMail
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
# Frequent Polish words that make a text Polish whatever else it holds: a sentence's worth.
_POLISH_SENTENCE = 3
# Fewer signs than this of either language are too little to tell.
_MIN_SIGNS = 2
# What may surround a word: "(prosze," and "help?" are words; "M_]C_X``02D9" (a line of
# uuencoded data) and "v2.1" are not, nor any piece of them.
_PUNCTUATION = "\"'()[]{}<>.,;:!?*_-\u2013\u2014\u201e\u201d\u201c\u00ab\u00bb\u2026"
_POLISH_LETTERS = frozenset("ąćęłńóśźż")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent Polish words, also as typed without Polish letters ("prosze", "dzien"). Left
# out: words English shares or uses in support mail ("a", "i", "to", "do", "no", "on",
# "we", "ten", "ma", "po" for purchase order, "co" for company, "pod" for Kubernetes, "it"
# for the IT department), and single letters ("w", "z", "o": drive Z, "w/" for with).
_POLISH_WORDS = _words(
    """
    na za nie jest są sa się sie że ze jak czy dla od przez przy nad bez oraz lub
    ale już juz też tez tylko jednak jeszcze bardzo może moze można mozna jako gdy kiedy
    żeby zeby aby który ktory która ktora które ktore tego tym tej mam mamy był
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
    could would should will does did please thanks thank hello hi dear regards
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
        """E.g. "Content-Language en-GB", "text: 9 English words, 0 Polish words, 1 with
        Polish letters"."""
        joint = " " if self.source in (CONTRACT, CONTENT_LANGUAGE) else ": "
        return f"{self.source}{joint}{self.detail}"

    def describe(self) -> str:
        """E.g. "language en (Content-Language en-GB)", for the log."""
        return f"language {self.language} ({self.reason()})"


@dataclass(frozen=True)
class TextSigns:
    """What the text rule counts: frequent English words, frequent Polish words, and other
    words with Polish letters."""

    english: int
    polish_words: int
    polish_letters: int

    def verdict(self) -> str | None:
        """Polish for Polish sentences, English when clearly English, Polish with some Polish
        signs, None when there is too little to tell (rule 3 of the module docstring)."""
        polish = self.polish_words + self.polish_letters
        if self.polish_words >= _POLISH_SENTENCE:
            return POLISH
        if self.english >= _MIN_SIGNS and self.english > 2 * polish:
            return ENGLISH
        return POLISH if polish >= _MIN_SIGNS else None

    def describe(self) -> str:
        return (
            f"{self.english} English words, {self.polish_words} Polish words,"
            f" {self.polish_letters} with Polish letters"
        )


def header_language(value: str | None) -> str | None:
    """``pl`` or ``en`` from a ``Content-Language`` value's first tag ("en-GB, pl" -> en,
    "pl_PL" -> pl); None for none, or for another language ("de")."""
    first = (value or "").split(",")[0].split(";")[0].strip().lower()
    primary = re.split(r"[-_]", first, maxsplit=1)[0]
    return primary if primary in LANGUAGES else None


def text_signs(text: str) -> TextSigns:
    """Count the English words, the Polish words and the other words with Polish letters of
    ``text`` (its first ``_TEXT_LIMIT`` characters)."""
    english = polish_words = polish_letters = 0
    for word, times in _words_of(text[:_TEXT_LIMIT].lower()).items():
        if word in _ENGLISH_WORDS:
            english += times
        elif word in _POLISH_WORDS:
            polish_words += times
        elif not _POLISH_LETTERS.isdisjoint(word):
            polish_letters += times
    return TextSigns(english, polish_words, polish_letters)


def _words_of(text: str) -> Counter[str]:
    """The words of ``text`` and how often each comes: its tokens between white space, of
    letters alone once the punctuation around them is stripped. Counted per distinct token
    (in C) first: a text repeats its words, and this ran once per token for every new ticket."""
    words: Counter[str] = Counter()
    for token, times in Counter(text.split()).items():
        word = token.strip(_PUNCTUATION)
        if word.isalpha():
            words[word] += times
    return words


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
    mail: InboundMail, contract: Contract | None, *, written: LanguageChoice | None = None
) -> LanguageChoice:
    """The language of a ticket ``mail`` opens: that of ``contract`` (the one the sender's
    address names) when it sets one, else the mail's (``mail_language``; ``written`` when
    it was read already, at the parse)."""
    if contract is not None and contract.language in LANGUAGES:
        return LanguageChoice(contract.language, CONTRACT, "language")
    if written is not None:
        return written
    return mail_language(
        content_language=mail.content_language, subject=mail.subject, body=mail.body_text
    )
