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

from mailbot.config import SmtpSettings
from mailbot.errors import DeliveryError


class MailSender(Protocol):
    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes, name: str) -> None:
        """Deliver ``raw``; raise ``DeliveryError`` when it was not accepted."""


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpSender:
    """One SMTP connection per flush is enough at support-desk volumes."""

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
                tls_context=_tls_context(s.verify_tls) if s.tls != "none" else None,
                timeout=s.timeout.total_seconds(),
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {s.host}:{s.port} refused {name}: {exc.code} {exc.message}",
                permanent=500 <= exc.code < 600,
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP {s.host}:{s.port} unreachable for {name}: {exc}", permanent=False
            ) from exc


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
