"""Logging for a daemon under systemd: one line per event on stderr, as text or JSON.

- Everything goes to stderr; under systemd that is the journal
  (``journalctl -u mailbot``). When ``$JOURNAL_STREAM`` says stderr is the
  journal, text lines drop the timestamp (the journal adds its own) and start
  with the syslog priority ``<N>`` (sd-daemon(3)), so ``journalctl -p warning``
  works.
- ``general.log_level`` sets mailbot's own loggers; every other library logs
  WARNING and up unless ``general.log_levels`` names it.
- Passwords and mail never reach the log: the configured passwords are masked
  in every line, and the protocol traces of imapclient, aiosmtplib and
  SQLAlchemy's engine (they carry LOGIN lines, message bodies and SQL
  parameters) are dropped below WARNING, whatever the levels say.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

WIRE_LOGGERS = ("imapclient", "aiosmtplib", "sqlalchemy.engine")
MASK = "********"

# syslog(3) priorities, as journald reads them from a "<N>" line prefix.
_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


# OAuth2 access tokens change every hour, so they cannot be listed as secrets: what the
# wire loggers could show of one is masked by its shape, a bearer token and an XOAUTH2
# initial response (base64 of "user=..."; RFC 7628's OAUTHBEARER starts "n,a=": "bix").
_TOKENS = re.compile(r"(?<=Bearer )\S+|\b(?:dXNlcj|bixhP)[A-Za-z0-9+/]+=*")


class _Redacting(logging.Formatter):
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _TOKENS.sub(MASK, text)


class TextFormatter(_Redacting):
    """``2026-11-18 10:30:00,123 INFO mailbot.ingest: ...``, or ``<6>mailbot.ingest: ...``."""

    def __init__(self, *, journal: bool) -> None:
        plain = "%(asctime)s %(levelname)s %(name)s: %(message)s"
        super().__init__("%(name)s: %(message)s" if journal else plain)
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = self.redact(super().format(record))
        if not self.journal:
            return text
        prefix = f"<{_PRIORITIES.get(record.levelno, 2)}>"
        # The journal makes each line an entry: every line of a traceback keeps its priority.
        return "\n".join(prefix + line for line in text.splitlines())


class JsonFormatter(_Redacting):
    """One JSON object per line: time (UTC), level, logger, message and exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _DropWireTraces(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not is_wire_logger(record.name)


def is_wire_logger(name: str) -> bool:
    return any(name == wire or name.startswith(wire + ".") for wire in WIRE_LOGGERS)


class _Handler(logging.StreamHandler[TextIO]):
    """mailbot's one handler; remembers the loggers it set levels on, to reset them."""

    named: tuple[str, ...] = ()


def configure_logging(
    log_format: LogFormat = "text",
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Log to ``stream`` (stderr): mailbot at INFO, other libraries at WARNING, until
    ``apply_log_settings`` sets the configured levels."""
    out = stream or sys.stderr
    handler = _Handler(out)
    journal = _is_journal(out, os.environ if environ is None else environ)
    formatter = JsonFormatter() if log_format == "json" else TextFormatter(journal=journal)
    handler.setFormatter(formatter)
    handler.addFilter(_DropWireTraces())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("mailbot").setLevel(logging.INFO)
    # flufl.bounce logs a traceback when one of its heuristic detectors trips over a mail;
    # mailbot.core.bounces notes that in the mail's defects ("not recognised") instead.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)


def apply_log_settings(
    level: str, levels: Iterable[tuple[str, str]], *, secrets: Iterable[str]
) -> None:
    """Set mailbot's level and the per-logger ones (again on reload), and the passwords to mask."""
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, _Handler)), None)
    if handler is None:
        return
    for name in handler.named:  # a reload that drops a logger from the list resets it
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger("mailbot").setLevel(level)
    pairs = tuple(levels)
    for name, named_level in pairs:
        logging.getLogger(name).setLevel(named_level)
    handler.named = tuple(name for name, _ in pairs)
    if isinstance(handler.formatter, _Redacting):
        # Longest first, so a password containing another one is masked whole.
        handler.formatter.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))


def _is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Does ``stream`` go to the journal? ``$JOURNAL_STREAM`` is its ``device:inode``."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
