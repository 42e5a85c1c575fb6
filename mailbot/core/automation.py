"""Is a mail written by a robot? Then no automatic answer goes back (RFC 3834).

Answering robots is how mail loops start: an out-of-office reply answered by
an acknowledgement answered by another out-of-office reply... RFC 3834 section
2 lists the signs; the rest are common practice (Request Tracker, Zammad).
Issue 5 extends this with bounces and per-sender caps.
"""

from __future__ import annotations

from mailbot.core.mail import InboundMail

# Local parts of addresses that never read their mail (RFC 3834 section 3.2.1
# names MAILER-DAEMON and the like; "noreply" is the modern equivalent).
ROBOT_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}
)
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def robot_reason(mail: InboundMail, *, own_addresses: frozenset[str]) -> str | None:
    """Why no automatic mail may answer ``mail``, or None when a person wrote it."""
    sender = mail.from_address or ""
    auto = (mail.auto_submitted or "no").split(";")[0].strip().lower()
    checks = (
        (sender in own_addresses, f"sent from our own address {sender}"),  # when not ignored
        (auto != "no", f"Auto-Submitted: {mail.auto_submitted}"),
        (
            (mail.precedence or "").strip().lower() in BULK_PRECEDENCE,
            f"Precedence: {mail.precedence}",
        ),
        (mail.list_id is not None, "mailing list (List-Id)"),
        (
            mail.return_path is not None and mail.return_path.strip("<> ") == "",
            "empty Return-Path (a bounce)",
        ),
        (sender.partition("@")[0] in ROBOT_LOCAL_PARTS, f"robot sender {sender}"),
    )
    return next((why for hit, why in checks if hit), None)
