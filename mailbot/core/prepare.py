"""From a mailbox's bytes to what the desk stores: parse, apply the size limits, fingerprint.

Pure and picklable both ways, so it can run in a worker process (``mailbot.runtime.parse_pool``):
parsing is the costliest step of the intake, and a second core can take it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailbot.core.fingerprint import fingerprint
from mailbot.core.language import LanguageChoice, mail_language
from mailbot.core.limits import SizeLimits, apply_limits
from mailbot.core.mail import InboundMail
from mailbot.core.parsing import parse_mail, read_leniently


@dataclass(frozen=True)
class RawMail:
    """A mail's bytes and what the mailbox said of its size."""

    raw: bytes
    # The full size when ``raw`` is only its start (a mail too big to fetch whole).
    size: int | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Prepared:
    mail: InboundMail  # with the parts over the limits dropped and noted
    oversized: bool  # the original belongs in quarantine
    fingerprint: str
    # The language its text is written in (``core.language.mail_language``), read here so
    # that a worker process does it: it was a tenth of storing a new ticket. None: not read.
    language: LanguageChoice | None = None


def prepare(raw: RawMail, limits: SizeLimits) -> Prepared:
    return _finish(raw, parse_mail(raw.raw), limits)


def prepare_unparsed(raw: RawMail, limits: SizeLimits, reason: str) -> Prepared:
    """What the bounded fallback reader makes of a mail the parse did not finish (``reason``,
    e.g. "parse deadline of 10 s exceeded"): cheap whatever the mail, so safe anywhere."""
    return _finish(raw, read_leniently(raw.raw, reason), limits)


def _finish(raw: RawMail, mail: InboundMail, limits: SizeLimits) -> Prepared:
    if raw.truncated and raw.size is not None:
        note = f"only the first {len(raw.raw)} of {raw.size} bytes were read"
        mail = replace(mail, size=raw.size, defects=(*mail.defects, note))
    limited = apply_limits(mail, limits)
    kept = limited.mail
    language = mail_language(
        content_language=kept.content_language, subject=kept.subject, body=kept.body_text
    )
    return Prepared(kept, limited.oversized, fingerprint(kept), language)


def prepare_all(raws: list[RawMail], limits: SizeLimits) -> list[Prepared]:
    """One batch in one call: a worker process is sent one task per batch, not per mail."""
    return [prepare(raw, limits) for raw in raws]
