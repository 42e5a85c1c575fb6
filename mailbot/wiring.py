"""Build the desk and its adapters from the settings (once, in the CLI)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailbot.adapters import repository as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import open_database
from mailbot.adapters.imap import ImapSource
from mailbot.adapters.mailbox import MailSource
from mailbot.adapters.maildir import MaildirSource
from mailbot.adapters.templates import Renderer
from mailbot.config import Settings
from mailbot.contracts_file import load_contracts_file
from mailbot.core.contracts import Contract
from mailbot.desk import Clock, Desk

log = logging.getLogger("mailbot")


def system_clock() -> datetime:
    return datetime.now(UTC)


def build_desk(settings: Settings, *, clock: Clock = system_clock) -> Desk:
    desk = Desk(
        engine=open_database(settings.database),
        settings=settings,
        renderer=Renderer(settings.templates_dir),
        store=AttachmentStore(settings.state_dir / "attachments"),
        clock=clock,
    )
    desk.token_key  # noqa: B018 -- made or read now, outside any transaction
    return desk


def make_source(settings: Settings) -> MailSource:
    imap = settings.imap
    if imap.maildir_path is not None:
        return MaildirSource(imap.maildir_path, imap.processed_folder, imap.quarantine_folder)
    ingest = settings.ingest
    return ImapSource(imap, batch_size=ingest.batch_size, batch_bytes=ingest.batch_bytes)


def _import(desk: Desk, contracts: list[Contract]) -> repo.ImportReport:
    with Session(desk.engine) as session:
        report = repo.import_contracts(contracts, session=session)
        session.commit()
    return report


def import_configured_contracts(desk: Desk) -> None:
    """Import ``support.contracts_file`` if set (idempotent), logging what changed."""
    path = desk.settings.support.contracts_file
    if path is None:
        return
    contracts = load_contracts_file(path)
    try:
        report = _import(desk, contracts)
    except IntegrityError:
        # Another instance starting at the same moment imported them first: read again.
        report = _import(desk, contracts)
    log.info(
        "contracts from %s: %d added, %d updated, %d unchanged",
        path,
        len(report.added),
        len(report.updated),
        len(report.unchanged),
    )
