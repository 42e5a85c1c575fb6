"""Sending mail: over SMTP with aiosmtplib, or into a folder of .eml files (demo).

Both translate failures into ``DeliveryError``; ``permanent`` tells the outbox
whether a retry can help (SMTP 5xx: no; 4xx, timeouts, refused connections: yes).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Protocol

import aiosmtplib

from mailbot.adapters.tls import tls_context
from mailbot.config import SmtpSettings
from mailbot.errors import DeliveryError


class MailSender(Protocol):
    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes, name: str) -> None:
        """Deliver ``raw``; raise ``DeliveryError`` when it was not accepted."""


class SmtpSender:
    """One SMTP connection per mail: simple, and plenty at support-desk volumes."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes, name: str) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                raw,
                sender=mail_from,
                recipients=recipients,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password or None,
                use_tls=s.tls == "ssl",
                start_tls=s.tls == "starttls",
                tls_context=_tls(s),
                timeout=s.timeout.total_seconds(),
            )
        except Exception as exc:  # every failure becomes a DeliveryError, sorted below
            raise _delivery_error(exc, f"SMTP {s.host}:{s.port}", name) from exc


async def check(settings: SmtpSettings) -> str:
    """Connect, EHLO (STARTTLS and login as configured), NOOP, QUIT; what was done.

    Sends no mail. Raises ``DeliveryError`` saying which step the server refused.
    """
    if settings.pickup_dir is not None:
        return _check_pickup_dir(settings.pickup_dir)
    s = settings
    server = f"SMTP {s.host}:{s.port}"
    client = aiosmtplib.SMTP(
        hostname=s.host,
        port=s.port,
        username=s.username or None,
        password=s.password or None,
        use_tls=s.tls == "ssl",
        start_tls=s.tls == "starttls",
        tls_context=_tls(s),
        timeout=s.timeout.total_seconds(),
    )
    try:
        await client.connect()  # TLS and login happen here, as configured
        await client.ehlo()
        await client.noop()
        await client.quit()
    except Exception as exc:  # every failure becomes a DeliveryError, as for a send
        client.close()
        raise _delivery_error(exc, server, "the connection check") from exc
    login = f", logged in as {s.username}" if s.username else ""
    return f"{server}: EHLO and NOOP answered ({s.tls}{login})"


def _tls(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.tls == "none":
        return None
    return tls_context(verify=settings.verify_tls, ca_file=settings.ca_file)


def _check_pickup_dir(directory: Path) -> str:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeliveryError(f"cannot create {directory}: {exc}", permanent=True) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DeliveryError(f"{directory} is not writable", permanent=True)
    return f"pickup directory {directory} is writable"


def _delivery_error(exc: Exception, server: str, name: str) -> DeliveryError:
    """Sort a failure: permanent only when this mail itself was refused or cannot be sent."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        return DeliveryError(
            f"{server} refused the recipients of {name}: {exc}",
            permanent=all(500 <= code < 600 for code in codes),
        )
    if isinstance(exc, _OUR_SETUP):
        # A wrong password, a refused sender address or TLS demanded: our
        # configuration, not this mail. Keep the mail until the admin fixes it.
        return DeliveryError(
            f"{server} refused us (check the [smtp] settings): {exc}", permanent=False
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(
            f"{server} refused {name}: {exc.code} {exc.message}", permanent=500 <= exc.code < 600
        )
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return DeliveryError(f"{server} unreachable for {name}: {exc}", permanent=False)
    # UnicodeEncodeError (a non-ASCII address the server cannot take), ValueError...
    return DeliveryError(f"{name} cannot be sent: {exc!r}", permanent=True)


_OUR_SETUP = (
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPNotSupported,
)


class DirSender:
    """Writes each mail as ``<name>.eml`` into a folder (atomically: temp file, then rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes, name: str) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / f"{name}.eml"
            temp = target.with_suffix(".tmp")
            temp.write_bytes(raw)
            os.replace(temp, target)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {name}.eml to {self.directory}: {exc}", permanent=False
            ) from exc


def make_sender(settings: SmtpSettings) -> MailSender:
    return DirSender(settings.pickup_dir) if settings.pickup_dir else SmtpSender(settings)
