"""The exceptions mailbot raises on purpose.

Expected outcomes (an auto-reply to ignore, a mail to quarantine) are return
values, not exceptions. These are for conditions a caller cannot go on from.
"""


class MailbotError(Exception):
    """Base of every error mailbot raises deliberately."""


class ConfigError(MailbotError):
    """The configuration is invalid; the message names the key and the file.

    The CLI turns it into exit code 2.
    """


class MailboxError(MailbotError):
    """The mailbox (IMAP server or Maildir) could not be reached or refused a command."""


class DeliveryError(MailbotError):
    """An outgoing mail was not accepted.

    ``permanent`` is True when retrying cannot help (an SMTP 5xx reply).
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class OAuth2Error(MailbotError):
    """No OAuth2 access token: the token endpoint refused (``code`` is its RFC 6749 error,
    e.g. ``invalid_grant``) or could not be reached. ``permanent``: retrying with the same
    settings cannot help (a wrong secret, a revoked refresh token). ``reason``: the
    endpoint's own words in one line (``invalid_grant: <description> (HTTP 400)``), no
    secret in it."""

    def __init__(
        self, message: str, *, code: str = "", permanent: bool = False, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.reason = reason or message


class SchemaError(MailbotError):
    """The database schema is not the one this mailbot needs (``mailbot db upgrade`` fixes
    it), or it is one mailbot cannot upgrade safely."""


class ParseAborted(MailbotError):
    """Parsing was aborted (the daemon stops) while a batch was being parsed: the mails not
    yet stored stay in the inbox."""
