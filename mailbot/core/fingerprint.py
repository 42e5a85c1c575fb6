"""What makes two deliveries "the same mail": a fingerprint of its content.

Raw bytes are no good: the same mail delivered twice (to two of our aliases,
or restored by an admin) differs in its Received and Delivered-To headers.
The fingerprint covers what the sender wrote: sender, subject, text and the
attachments' bytes. It tells a true duplicate (same Message-ID, same
fingerprint) from a different mail reusing a Message-ID (a broken or guessing
mailer), and identifies duplicates of mails that have no Message-ID at all.
"""

from __future__ import annotations

import hashlib

from mailbot.core.mail import InboundMail


def fingerprint(mail: InboundMail) -> str:
    """A SHA-256 hex digest of the mail's sender, subject, text and attachments."""
    digest = hashlib.sha256()
    for part in (mail.from_address or "", mail.subject, " ".join(mail.body_text.split())):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    for attachment in mail.attachments:
        digest.update(hashlib.sha256(attachment.data).digest())
    return digest.hexdigest()
