"""What one mail may cost the desk: size limits on the mail and its attachments.

A mail over ``max_mail_size`` still opens (or joins) its ticket with its text,
but none of its attachments is stored and the service moves the original to
quarantine, where staff can fetch it. An attachment over
``max_attachment_size`` is never stored, whatever the mail's size. Either way
the ticket's message notes what was left out, with names and sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailbot.core.mail import InboundMail


@dataclass(frozen=True)
class SizeLimits:
    max_mail_size: int
    max_attachment_size: int


@dataclass(frozen=True)
class Limited:
    """The mail as it may be stored, and whether the original belongs in quarantine."""

    mail: InboundMail
    oversized: bool


def apply_limits(mail: InboundMail, limits: SizeLimits) -> Limited:
    """Drop the parts ``limits`` forbid from ``mail``, noting each in its defects."""
    oversized = mail.size > limits.max_mail_size
    fits = [not oversized and part.size <= limits.max_attachment_size for part in mail.attachments]
    keep = tuple(part for part, ok in zip(mail.attachments, fits, strict=True) if ok)
    dropped = [part for part, ok in zip(mail.attachments, fits, strict=True) if not ok]
    notes = [
        f"attachment {part.filename} ({human_size(part.size)}) not stored: over the size limit"
        for part in dropped
    ]
    if oversized:
        notes.insert(
            0,
            f"mail of {human_size(mail.size)} is over the limit of"
            f" {human_size(limits.max_mail_size)}: text kept, original in quarantine",
        )
    if not notes:
        return Limited(mail, oversized=False)
    return Limited(
        replace(mail, attachments=keep, defects=(*notes, *mail.defects)), oversized=oversized
    )


def human_size(size: int) -> str:
    """Bytes as people read them: 512 B, 3.4 KB, 25.0 MB (binary units, as the settings)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
