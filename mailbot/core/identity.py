"""Who may speak for the desk, and who is the customer a contract names: proof, not From.

A mail gets staff powers (relayed to the customer, ``#commands``, meeting the
reaction deadline) only when its sender is on the staff list *and* it proves it:

1. it answers a mail mailbot sent to staff about the same ticket: its
   ``In-Reply-To`` or ``References`` name a signed Message-ID of ours
   (``mailbot.core.tokens``) that only the staff recipients ever saw, and it
   comes from one of those recipients; or
2. our own mail server (``authserv_id``) vouches for the From domain in
   Authentication-Results: DMARC pass with ``header.from`` equal to it, or an
   aligned DKIM pass (``mailbot.core.authres``), and it was written to the desk.

The From header, the subject tag and ``Reply-To`` are never proof: anyone can
write them. A customer's address is proven the same way: an answer to our
acknowledgement, which only the owner of the address received, whose first
line confirms (``confirms_address``).
"""

from __future__ import annotations

from collections.abc import Mapping

from mailbot.core.authres import sender_authenticated
from mailbot.core.decide import DeskPolicy
from mailbot.core.mail import InboundMail
from mailbot.core.tokens import CUSTOMER, STAFF, Audience, Token, answered_tokens

# The first line of an answer that confirms the address (Polish first, English too).
CONFIRM_WORDS = frozenset({"potwierdzam", "confirm", "confirmed", "potwierdzam.", "confirm."})


def _answered(mail: InboundMail, key: bytes, number: str, audience: Audience) -> list[Token]:
    # In-Reply-To first, then References from the newest: the mail it answers directly.
    references = (mail.in_reply_to, *reversed(mail.references))
    return list(answered_tokens(key, references, number=number, audience=audience))


def signed_references(mail: InboundMail, key: bytes, *, number: str) -> list[Token]:
    """The ids in ``mail``'s In-Reply-To and References that are our signed ids of mails to
    staff about ticket ``number``: the shell looks up whom each was sent to."""
    return _answered(mail, key, number, STAFF)


def staff_proof(
    mail: InboundMail,
    *,
    number: str,
    policy: DeskPolicy,
    key: bytes,
    sent_to: Mapping[str, frozenset[str]],
) -> str | None:
    """How ``mail`` about ticket ``number`` proves a staff member wrote it, or None.

    ``sent_to`` maps our Message-IDs (``signed_references``) to their recipients: an
    answer proves its writer only when it comes from one of the addresses that mail went
    to, so a token that reached someone else (a CC, a forward) lends no one staff powers.
    """
    sender = mail.from_address or ""
    if not policy.is_staff(sender) or mail.lenient_from:
        # A From read leniently is no one's: what the server vouched for, if anything, was
        # the header as it read it, and a signed answer must come from the address itself.
        return None
    for token in signed_references(mail, key, number=number):
        if sender in sent_to.get(token.message_id, frozenset()):
            return f"answers our {token.kind} mail to {sender}"
    if (
        policy.authserv_id
        and _to_the_desk(mail, policy)
        and sender_authenticated(
            mail.authentication_results, authserv_id=policy.authserv_id, from_address=sender
        )
    ):
        return f"{policy.authserv_id} vouches for {sender.rpartition('@')[2]} (DMARC/DKIM)"
    return None


def _to_the_desk(mail: InboundMail, policy: DeskPolicy) -> bool:
    """Was the mail written to the desk? A DKIM signature covers a domain, not a moment or a
    recipient: a staff member's signed mail to a customer, sent on to the desk unchanged,
    must not count as a staff reply."""
    return any(address.lower() in policy.own_addresses for address in (*mail.to, *mail.cc))


def confirms_address(mail: InboundMail, text: str, *, number: str, key: bytes) -> bool:
    """Does ``mail`` answer our mail to ticket ``number``'s customer with a first line that
    confirms (``potwierdzam`` / ``confirm``)? Only the owner of the address received it."""
    first = next((line.strip().lower() for line in text.splitlines() if line.strip()), "")
    if first not in CONFIRM_WORDS:
        return False
    return bool(_answered(mail, key, number, CUSTOMER))


def identity_summary(policy: DeskPolicy, *, vip_contracts_need_proof: bool) -> list[str]:
    """What staff and VIP identity rest on with these settings, for start-up and check-config;
    a line starting with "WARNING" is one an admin should act on."""
    if policy.authserv_id:
        staff = (
            f"staff identity: a reply to mailbot's notification (signed Message-ID), or DMARC/"
            f"aligned DKIM pass in Authentication-Results from {policy.authserv_id}"
        )
    else:
        staff = (
            "staff identity: only a reply to mailbot's notification (signed Message-ID); a fresh"
            " mail from a staff address is kept as a note (set [support] authserv_id to accept"
            " DMARC/DKIM from your mail server)"
        )
    lines = [staff]
    if not vip_contracts_need_proof:
        lines.append("customer identity: contracts that need no authentication trust From")
    elif policy.authserv_id:
        lines.append(
            f"customer identity: contracts that require authentication need SPF/DKIM/DMARC pass"
            f" from {policy.authserv_id}, or the customer's confirming answer to the"
            " acknowledgement"
        )
    else:
        lines.append(
            "WARNING customer identity: contracts require an authenticated sender but"
            " [support] authserv_id is empty, so nothing can verify one: such a contract's"
            " tier rests on the From header alone; set authserv_id to your mail server's"
            " Authentication-Results id"
        )
    return lines
