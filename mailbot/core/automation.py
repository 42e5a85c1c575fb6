"""Is a mail written by a robot? Then no automatic answer goes back (RFC 3834).

Answering robots is how mail loops start: an out-of-office reply answered by
an acknowledgement answered by another out-of-office reply... RFC 3834 section
2 lists the signs; the rest are common practice (Request Tracker, Zammad).
Beyond RFC 3834: the X-Autoreply family (Exchange and common autoresponders),
our own loop marker (``X-Loop`` naming the desk: the mail went round back to
us) and delivery-status reports (RFC 3464), which ``is_bounce`` recognises so
that the service can mark the returned mail failed instead of opening a ticket.
"""

from __future__ import annotations

import re

from mailbot.core.bounces import bounce_sender, null_return_path
from mailbot.core.mail import InboundMail

# Local parts of addresses that never read their mail (RFC 3834 section 3.2.1
# names MAILER-DAEMON and the like; "noreply" is the modern equivalent).
ROBOT_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}
)
# "noreply-billing@", "no_reply.alerts@": the prefix is what says nobody reads it.
ROBOT_PREFIXES = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply")
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})

# The signs that a robot wrote a mail, in the order robot_reason checks them, each with
# where it comes from. Not among them: X-Auto-Response-Suppress. Outlook and Exchange put
# it on ordinary mail from people (it asks the receiver not to send certain automatic
# answers back; other projects' test suites keep such mails as mail from people), so on
# its own it must not cost a customer the acknowledgement. A robot that sends it shows
# one of the signs below too.
ROBOT_SIGNALS: tuple[tuple[str, str], ...] = (
    ("From is one of our own addresses", "mailbot: a mail from us answered would answer itself"),
    ("X-Loop names our address", "common practice (procmail, Request Tracker, Zammad)"),
    ("a delivery-status report", "RFC 3464 (multipart/report; report-type=delivery-status)"),
    ("Auto-Submitted other than no", "RFC 3834 section 5"),
    ("Precedence: bulk, junk or list", "RFC 3834 section 2 (de facto, RFC 2076 section 3.9)"),
    ("List-Id", "RFC 2919; RFC 3834 section 2 (mailing lists)"),
    ("an empty Return-Path", "RFC 3834 section 2; RFC 5321 section 4.5.5 (bounces)"),
    ("MAILER-DAEMON, postmaster, noreply and the like", "RFC 3834 section 3.2.1; common practice"),
    ("X-Autoreply or X-Autorespond", "Exchange and common autoresponders"),
)  # fmt: skip


def is_bounce(mail: InboundMail) -> bool:
    """A delivery-status report (RFC 3464), a notice in another format whose failed addresses
    mailbot.core.bounces read, or a bounce in the old style: null Return-Path and a
    MAILER-DAEMON/postmaster sender (a bare one too: mailbot.core.lenient_sender)."""
    if mail.is_delivery_report or mail.bounced_addresses or mail.delayed_addresses:
        return True
    return null_return_path(mail) and bounce_sender(mail)


def robot_reason(mail: InboundMail, *, own_addresses: frozenset[str]) -> str | None:
    """Why no automatic mail may answer ``mail``, or None when a person wrote it
    (the signs of ``ROBOT_SIGNALS``, in its order)."""
    sender = mail.from_address or ""
    auto = (mail.auto_submitted or "no").split(";")[0].strip().lower()
    looped = next((m for m in mail.loop_markers if m in own_addresses), None)
    checks = (
        (sender in own_addresses, f"sent from our own address {sender}"),  # when not ignored
        (looped is not None, f"our own loop marker X-Loop: {looped}"),
        (mail.is_delivery_report, "delivery-status report (a bounce)"),
        (auto != "no", f"Auto-Submitted: {mail.auto_submitted}"),
        (
            (mail.precedence or "").strip().lower() in BULK_PRECEDENCE,
            f"Precedence: {mail.precedence}",
        ),
        (mail.list_id is not None, "mailing list (List-Id)"),
        (null_return_path(mail), "empty Return-Path (a bounce)"),
        (_robot_local_part(sender.partition("@")[0]), f"robot sender {sender}"),
        (bool(mail.autoreply_headers), f"{', '.join(mail.autoreply_headers)} header"),
    )
    return next((why for hit, why in checks if hit), None)


def _robot_local_part(local: str) -> bool:
    return local in ROBOT_LOCAL_PARTS or local.startswith(ROBOT_PREFIXES)


# Out-of-office replies that carry none of RFC 3834's headers (older Exchange rules,
# webmail vacation settings, phones) still say what they are in the subject or the
# first lines. Checked for mails from staff only: a customer may well write
# "Out of office: printer broken", and is answered; a staff member's real answer
# never starts like this. Each row: a pattern (case-insensitive, at the start) and where
# the wording comes from.
AUTOREPLY_SUBJECTS: tuple[tuple[str, str], ...] = (
    (r"auto(matic|matische|matisch)?[ -]?(reply|antwort|antwoord|response)\b",
     "Outlook/Exchange 'Automatic reply:', German and Dutch Outlook, generic autoresponders"),
    (r"automatyczna odpowied[źz]", "Polish Outlook ('Automatyczna odpowiedź:')"),
    (r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica",
     "French, Spanish and Italian Outlook"),
    (r"auto:", "Sieve vacation (RFC 5230 section 5.5: 'Auto:' before the subject)"),
    (r"out of (the )?office|ooo\b", "Gmail, Outlook and most vacation responders"),
    (r"nieobecno[śs][ćc]|jestem (poza biurem|na urlopie)", "Polish vacation responders"),
    (r"abwesenheit", "German Outlook ('Abwesenheitsnotiz')"),
    (r"(on )?(vacation|holiday|annual leave)\b", "English vacation responders"),
)  # fmt: skip
AUTOREPLY_FIRST_LINES: tuple[tuple[str, str], ...] = (
    (r"i('m| am| will be) (currently )?(out of (the )?office|away|on (vacation|holiday|leave))",
     "English out-of-office texts"),
    (r"(obecnie )?jestem (poza biurem|na urlopie|nieobecn[ya])|(będę|bede) nieobecn",
     "Polish out-of-office texts"),
    (r"ich bin (derzeit |zurzeit )?(nicht im b[üu]ro|abwesend|im urlaub)",
     "German out-of-office texts"),
    (r"this is an automatic(ally generated)? (reply|response|message)",
     "generic autoresponders"),
)  # fmt: skip
_SUBJECT_PREFIX = re.compile(r"^\s*((re|odp|aw|fwd?|wg)\s*:\s*)*", re.IGNORECASE)
_AUTOREPLY_SUBJECT = re.compile("|".join(f"(?:{p})" for p, _ in AUTOREPLY_SUBJECTS), re.IGNORECASE)
_AUTOREPLY_TEXT = re.compile("|".join(f"(?:{p})" for p, _ in AUTOREPLY_FIRST_LINES), re.IGNORECASE)
# How much of the text's start is read: the first lines, not a quoted history.
_FIRST_LINES = 300


def autoreply_wording(subject: str, text: str) -> str | None:
    """Why ``subject`` or the first lines of ``text`` read as an automatic answer, or None."""
    plain_subject = _SUBJECT_PREFIX.sub("", subject)
    if _AUTOREPLY_SUBJECT.match(plain_subject):
        return f"automatic answer by its subject {subject[:80]!r}"
    start = " ".join(text.strip()[:_FIRST_LINES].split())
    if _AUTOREPLY_TEXT.match(start):
        return f"automatic answer by its first line {start[:80]!r}"
    return None
