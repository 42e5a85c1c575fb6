"""Bounce notices of many mail servers, written here after the formats they publish or send.

None is copied from a corpus: each is our own text in the shape of the family's notice
(qmail's QSBMF, Exim's and Sendmail's default texts, Postfix before DSNs, Exchange,
Domino, Yahoo, Gmail, IMail, GroupWise, Netscape, AOL, InterScan, Zoho, Amazon SES, ...).
``bounce(family, rcpt, returned)`` gives the raw notice, CRLF like IMAP, reporting that
mail ``returned`` (a raw mail: its headers are quoted or attached, so its Message-ID
is there when the family quotes it) could not reach ``rcpt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

HEAD = Template(
    "From: $sender\nTo: support@desk.example.pl\nSubject: $subject\n"
    "Date: Wed, 18 Nov 2026 10:00:00 +0100\nMessage-ID: <notice-$family@mx.acme.pl>\n"
)
NULL_PATH = "Return-Path: <>\n"
DAEMON = "Mail Delivery System <MAILER-DAEMON@mx.acme.pl>"


@dataclass(frozen=True)
class Family:
    """One family of notices: its sender, subject, extra headers and body, and what it means."""

    sender: str
    subject: str
    body: str
    headers: str = NULL_PATH
    # Does the notice quote the returned mail's headers (so its Message-ID)?
    quotes_message_id: bool = True
    # A temporary failure (a delay warning), not a permanent one.
    delayed: bool = False


FAMILIES: dict[str, Family] = {
    "qmail": Family(
        "MAILER-DAEMON@mx.acme.pl",
        "failure notice",
        "Content-Type: text/plain\n\n"
        "Hi. This is the qmail-send program at mx.acme.pl.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<$rcpt>:\n192.0.2.8 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <$rcpt>: Recipient address rejected: User unknown\n"
        "Giving up on 192.0.2.8.\n\n"
        "--- Below this line is a copy of the message.\n\n$returned",
    ),
    "exim": Family(
        DAEMON,
        "Mail delivery failed: returning message to sender",
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  $rcpt\n    host mx2.acme.pl [192.0.2.8]\n"
        "    SMTP error from remote mail server after RCPT TO:<$rcpt>:\n"
        "    550 5.1.1 <$rcpt>: Recipient address rejected: User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n$returned",
        headers=NULL_PATH + "X-Failed-Recipients: $rcpt\nAuto-Submitted: auto-replied\n",
    ),
    "exim-delay": Family(
        DAEMON,
        "Warning: message 1kXyZa-0001Ab-Cd delayed 24 hours",
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue on mx.acme.pl.\n\n"
        "The message identifier is:     1kXyZa-0001Ab-Cd\n\n"
        "The address to which the message has not yet been delivered is:\n\n"
        "  $rcpt\n"
        "    Delay reason: SMTP error from remote mail server after RCPT TO:<$rcpt>:\n"
        "    host mx2.acme.pl [192.0.2.8]: 451 4.7.1 Greylisted, try again later\n\n"
        "No action is required on your part. Delivery attempts will continue for\n"
        "some time, and this warning may be repeated at intervals if the message\n"
        "remains undelivered.\n\n$returned",
        headers=NULL_PATH + "Auto-Submitted: auto-replied\n",
        delayed=True,
    ),
    "sendmail": Family(
        "Mail Delivery Subsystem <MAILER-DAEMON@mx.acme.pl>",
        "Returned mail: see transcript for details",
        "Content-Type: text/plain\n\n"
        "The original message was received at Wed, 18 Nov 2026 09:58:00 +0100\n"
        "from desk.example.pl [192.0.2.1]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<$rcpt>\n    (reason: 550 5.1.1 <$rcpt>... User unknown)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx2.acme.pl.:\n>>> RCPT To:<$rcpt>\n"
        "<<< 550 5.1.1 <$rcpt>... User unknown\n550 5.1.1 <$rcpt>... User unknown\n\n"
        "   ----- Original message follows -----\n\n$returned",
    ),
    "sendmail-delay": Family(
        "Mail Delivery Subsystem <MAILER-DAEMON@mx.acme.pl>",
        "Warning: could not send message for past 4 hours",
        "Content-Type: text/plain\n\n"
        "    **********************************************\n"
        "    **      THIS IS A WARNING MESSAGE ONLY      **\n"
        "    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n"
        "    **********************************************\n\n"
        "The original message was received at Wed, 18 Nov 2026 05:58:00 +0100\n"
        "from desk.example.pl [192.0.2.1]\n\n"
        "   ----- The following addresses had transient non-fatal errors -----\n"
        "<$rcpt>\n\n"
        "   ----- Transcript of session follows -----\n"
        "<$rcpt>... Deferred: Connection timed out with mx2.acme.pl.\n"
        "Warning: message still undelivered after 4 hours\n"
        "Will keep trying until message is 5 days old\n\n"
        "   ----- Original message follows -----\n\n$returned",
        delayed=True,
    ),
    "postfix-plain": Family(
        "MAILER-DAEMON@mx.acme.pl (Mail Delivery System)",
        "Undelivered Mail Returned to Sender",
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="PFX"\n\n'
        "--PFX\nContent-Description: Notification\nContent-Type: text/plain\n\n"
        "This is the Postfix program at host mx.acme.pl.\n\n"
        "I'm sorry to have to inform you that the message returned\n"
        "below could not be delivered to one or more destinations.\n\n"
        "For further assistance, please contact <postmaster@mx.acme.pl>\n\n"
        "\t\t\tThe Postfix program\n\n"
        "<$rcpt>: host mx2.acme.pl[192.0.2.8] said: 550 5.1.1 <$rcpt>:\n"
        "    Recipient address rejected: User unknown in local recipient table (in\n"
        "    reply to RCPT TO command)\n\n"
        "--PFX\nContent-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
        "$returned\n--PFX--\n",
    ),
    "exchange": Family(
        "System Administrator <postmaster@acme.pl>",
        "Undeliverable: Re: [SOL-1] Drukarka",
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "Your message\n\n  To:      $rcpt\n  Subject: Re: [SOL-1] Drukarka\n"
        "  Sent:    Wed, 18 Nov 2026 09:58:00 +0100\n\n"
        "did not reach the following recipient(s):\n\n"
        "$rcpt on Wed, 18 Nov 2026 10:00:00 +0100\n"
        "    The recipient name is not recognized\n"
        "    The MTS-ID of the original message is: c=pl;a= ;p=acme;l=EXCH0111180900\n"
        "    MSEXCH:IMS:ACME:WARSAW:EXCH01 0 (000C05A6) Unknown Recipient\n",
        quotes_message_id=False,
    ),
    "microsoft-smtpsvc": Family(
        "postmaster@mail.acme.pl",
        "Delivery Status Notification (Failure)",
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="MS"\n\n'
        "--MS\nContent-Type: text/plain\n\n"
        "This is an automatically generated Delivery Status Notification.\n\n"
        "Delivery to the following recipients failed.\n\n"
        "       Transcript of session follows\n\n$rcpt\n\n"
        "--MS\nContent-Type: message/rfc822\n\n$returned\n--MS--\n",
    ),
    "domino": Family(
        "Postmaster <postmaster@acme.pl>",
        "DELIVERY FAILURE: User jan not listed in Domino Directory",
        "Content-Type: text/plain\n\n"
        "Your message\n\n  Subject: Re: [SOL-1] Drukarka\n\n"
        "was not delivered to:\n\n  $rcpt\n\n"
        "because:\n\n  User $rcpt ($rcpt) not listed in Domino Directory\n",
        quotes_message_id=False,
    ),
    "yahoo": Family(
        "MAILER-DAEMON@yahoo.com",
        "Failure Notice",
        "Content-Type: text/plain\n\n"
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<$rcpt>:\nRemote host said: 554 delivery error: dd This user doesn't have a "
        "yahoo.com account ($rcpt) [-5] - mta1042.mail.ne1.yahoo.com\n\n"
        "--- Below this line is a copy of the message.\n\n$returned",
    ),
    "gmail": Family(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        "Content-Type: text/plain; charset=ISO-8859-1\n\n"
        "Delivery to the following recipient failed permanently:\n\n     $rcpt\n\n"
        "Technical details of permanent failure:\n"
        "Google tried to deliver your message, but it was rejected by the server for the "
        "recipient domain acme.pl by mx2.acme.pl. [192.0.2.8].\n\n"
        "The error that the other server returned was:\n"
        "550 5.1.1 <$rcpt>: Recipient address rejected: User unknown\n\n"
        "----- Original message -----\n\n$returned",
    ),
    "gmail-delay": Family(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Delay)",
        "Content-Type: text/plain; charset=ISO-8859-1\n\n"
        "This is an automatically generated Delivery Status Notification\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
        "Delivery to the following recipient has been delayed:\n\n     $rcpt\n\n"
        "Message will be retried for 2 more day(s)\n\n"
        "Technical details of temporary failure:\n"
        "The recipient server did not accept our requests to connect.\n\n"
        "----- Original message -----\n\n$returned",
        delayed=True,
    ),
    "imail": Family(
        "Mail Delivery Subsystem <postmaster@acme.pl>",
        "Undeliverable Mail",
        "X-Mailer: <SMTP32 v8.22>\nContent-Type: text/plain\n\n"
        "Unknown user: $rcpt\n\nOriginal message follows.\n\n$returned",
    ),
    "groupwise": Family(
        "postmaster@acme.pl",
        "Message status - undeliverable",
        "X-Mailer: Novell GroupWise Internet Agent 8.0.2\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="GW"\n\n'
        "--GW\nContent-Type: text/plain\n\nThe message that you sent was undeliverable "
        "to the following:\n\t<$rcpt> (user not found)\n\n"
        "--GW\nContent-Type: message/rfc822\n\n$returned\n--GW--\n",
    ),
    "netscape": Family(
        "Mail Delivery Subsystem <MAILER-DAEMON@mail.acme.pl>",
        "Delivery Notification: Delivery has failed",
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="NS"\n\n'
        "--NS\nContent-Type: text/plain\n\n"
        "This report relates to a message you sent with the following header fields:\n\n"
        "Your message cannot be delivered to the following recipients:\n\n"
        "This Message was undeliverable due to the following reason:\n\n"
        "  Recipient address: <$rcpt>\n  Reason: No such user\n\n"
        "--NS\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;mail.acme.pl\n\n"
        "--NS\nContent-Type: text/rfc822-headers\n\n$returned_headers\n--NS--\n",
    ),
    "aol": Family(
        "Mail Delivery Subsystem <MAILER-DAEMON@aol.com>",
        "Undeliverable: Re: [SOL-1] Drukarka",
        "Content-Type: text/plain\n\n"
        "Your mail to the following recipients could not be delivered because they are "
        "not accepting mail from support@desk.example.pl:\n\t$rcpt\n",
        quotes_message_id=False,
    ),
    "interscan": Family(
        "InterScan MSS <postmaster@acme.pl>",
        "Mail could not be delivered",
        "Content-Type: text/plain\n\n"
        "Unable to deliver message to <$rcpt>.\n"
        "The mail server reported: 550 5.1.1 unknown recipient\n\n"
        "*************** End of message ***************\n\n$returned",
    ),
    "zoho": Family(
        "Mail Delivery Subsystem <mailer-daemon@mx.zoho.eu>",
        "Undelivered Mail Returned to Sender",
        "X-ZohoMail: Si CHF_MF_NL SS_10 cbrplz\nContent-Type: text/plain; charset=UTF-8\n\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent could not be delivered to one or more of its recipients. "
        "This is a permanent error.\n\n"
        "$rcpt Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 <$rcpt>... User Unknown\n\n"
        "$returned",
    ),
    "ses": Family(
        "MAILER-DAEMON@amazonses.com",
        "Delivery Status Notification (Failure)",
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="SES"\n\n'
        "--SES\nContent-Type: text/plain; charset=UTF-8\n\n"
        "An error occurred while trying to deliver the mail to the following recipients:\n"
        "$rcpt\n"
        "--SES\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; a8-59.smtp-out.amazonses.com\n\n"
        "Action: failed\nFinal-Recipient: rfc822; $rcpt\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\nStatus: 5.1.1\n\n"
        "--SES\nContent-Type: text/rfc822-headers\n\n$returned_headers\n--SES--\n",
    ),
}

# Formats flufl.bounce has no detector for (or mis-reads), with what they look like: the
# unit tests keep them as strict expected failures, so a detector that learns one shows up.
LEFT_OUT: dict[str, tuple[Family, str]] = {
    "opensmtpd": (
        Family(
            "Mailer Daemon <MAILER-DAEMON@mx.acme.pl>",
            "Delivery status notification: error",
            "Content-Type: text/plain\n\n"
            "Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n"
            "An error has occurred while attempting to deliver a message for\n"
            "the following list of recipients:\n\n"
            "$rcpt: 550 5.1.1 <$rcpt>: Recipient address rejected: User unknown\n\n"
            "Below is a copy of the original message:\n\n$returned",
        ),
        "OpenSMTPD's plain notice (before it sent RFC 3464 reports): no flufl.bounce detector",
    ),
    "kddi": (
        Family(
            "no-reply@.ezweb.ne.jp",
            "Mail System Error - Returned Mail",
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "Your mail sent on: Wed, 18 Nov 2026 09:58:00 +0900\n"
            "     Could not be delivered to: <$rcpt>\n"
            "     As their mailbox is full.\n\n$returned",
        ),
        "au by KDDI (ezweb): no flufl.bounce detector",
    ),
    "mailmarshal": (
        Family(
            "MailMarshal <postmaster@acme.pl>",
            'Undeliverable Mail: "Re: [SOL-1] Drukarka"',
            "Content-Type: text/plain\n\n"
            "Your message:\n   From:    support@desk.example.pl\n"
            "   Subject: Re: [SOL-1] Drukarka\n\n"
            "Could not be delivered because of\n\n550 5.1.1 User unknown\n\n"
            "The following recipients were affected:\n    $rcpt\n\n"
            "Additional Information\n======================\n"
            "Original Sender:    <support@desk.example.pl>\n"
            "Reporting-MTA:      <mx.acme.pl>\n",
            quotes_message_id=False,
        ),
        "Trustwave MailMarshal: no flufl.bounce detector",
    ),
    "dragonfly-dma": (
        Family(
            "MAILER-DAEMON@mx.acme.pl",
            "Mail delivery failed",
            "Content-Type: text/plain\n\n"
            "This is the DragonFly Mail Agent v0.11 at mx.acme.pl.\n\n"
            "There was an error delivering your mail to <$rcpt>.\n\n"
            "mx2.acme.pl [192.0.2.8] did not like our RCPT TO:\n"
            "550 5.1.1 <$rcpt>: Recipient address rejected: User unknown\n\n"
            "Original message follows.\n\n$returned",
        ),
        "DragonFly's dma: no flufl.bounce detector",
    ),
}


def bounce(family: str, rcpt: str, returned: bytes) -> bytes:
    """The notice of ``family`` (in FAMILIES or LEFT_OUT) that ``returned`` missed ``rcpt``."""
    kind = FAMILIES[family] if family in FAMILIES else LEFT_OUT[family][0]
    original = returned.decode("utf-8", "replace").replace("\r\n", "\n")
    headers_only = original.split("\n\n", 1)[0] + "\n"
    fields = {"rcpt": rcpt, "returned": original, "returned_headers": headers_only}
    head = HEAD.substitute(sender=kind.sender, subject=kind.subject, family=family)
    text = head + Template(kind.headers).substitute(fields) + Template(kind.body).substitute(fields)
    return text.replace("\n", "\r\n").encode("utf-8")
