"""From the configuration to a desk ready to run: settings -> adapters -> Desk, at start
and again on SIGHUP.

Everything that can be wrong with the configuration is found here, before the desk is
used: the settings (``load_settings``), every template (``check_templates``) and the
contracts file (imported, idempotently). ``build_desk`` is the bare construction that
tests and benchmarks use; ``open_desk`` is what ``mailbot run`` and ``mailbot web`` start
with.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from mailbot.adapters import db as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import IntegrityError, Session, open_database
from mailbot.adapters.mailbox import MailSource
from mailbot.adapters.oauth2 import TokenSource
from mailbot.adapters.oauth2_providers import token_source
from mailbot.adapters.templates import Renderer
from mailbot.config import Settings, load_settings
from mailbot.contracts_file import ReadBytes, file_digest, read_contracts_file
from mailbot.core.contracts import Contract
from mailbot.core.identity import identity_summary
from mailbot.template_check import check_templates
from mailbot.usecases.desk import Clock, Desk

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
    desk.oauth2_tokens  # noqa: B018 -- made now, before the threads that share it
    return desk


def make_source(settings: Settings, *, tokens: TokenSource | None = None) -> MailSource:
    """The mailbox of ``settings``; ``tokens`` the shared OAuth2 token source (a desk's),
    else one of its own when the IMAP login needs one."""
    # Imported here: only `run` reads a mailbox, and the IMAP client is not needed by the
    # other commands nor by `mailbot web`.
    from mailbot.adapters.imap import ImapSource  # noqa: PLC0415
    from mailbot.adapters.maildir import MaildirSource  # noqa: PLC0415

    imap = settings.imap
    if imap.maildir_path is not None:
        return MaildirSource(imap.maildir_path, imap.processed_folder, imap.quarantine_folder)
    ingest = settings.ingest
    return ImapSource(
        imap,
        batch_size=ingest.batch_size,
        batch_bytes=ingest.batch_bytes,
        tokens=tokens or token_source(settings),
    )


def _import(
    desk: Desk, contracts: list[Contract], digest: str, files: list[str]
) -> repo.ImportReport:
    with Session(desk.engine) as session:
        report = repo.import_contracts(contracts, session=session)
        repo.record_imported_file(digest, files, session=session)
        session.commit()
    return report


def import_configured_contracts(desk: Desk, *, read_bytes: ReadBytes = Path.read_bytes) -> None:
    """Import ``support.contracts_file`` if set (idempotent), logging what changed; skipped
    when neither it nor the files it names changed since the last import and the contracts
    did not change otherwise (20,000 contracts take seconds to read and compare).
    ``read_bytes`` reads the files imported (a test changes them as they are read)."""
    path = desk.settings.support.contracts_file
    if path is None:
        return
    with Session(desk.engine) as session:
        last = repo.imported_file(session=session)
    if last is not None and file_digest(path, last.files) == last.digest:
        log.info("contracts from %s: unchanged since the last import", path)
        return
    # The digest recorded is of the bytes parsed, not of the files read again afterwards.
    loaded = read_contracts_file(path, read_bytes=read_bytes)
    files = list(loaded.files)
    try:
        report = _import(desk, loaded.contracts, loaded.digest, files)
    except IntegrityError:
        # Another instance starting at the same moment imported them first: read again.
        report = _import(desk, loaded.contracts, loaded.digest, files)
    log.info(
        "contracts from %s: %d added, %d updated, %d unchanged",
        path,
        len(report.added),
        len(report.updated),
        len(report.unchanged),
    )


def open_desk(config: Path | None, *, reads_mailbox: bool = True) -> Desk:
    """Load and check everything; ConfigError (or a database error) when something is wrong.
    ``reads_mailbox`` False (``mailbot web``): no IMAP password needed (``load_settings``)."""
    desk = build_desk(load_settings(config, reads_mailbox=reads_mailbox))
    try:
        rendered = check_templates(desk)
        import_configured_contracts(desk)
    except BaseException:
        desk.engine.dispose()
        raise
    log.info("configuration %s: %d template(s) rendered", desk.settings.source, rendered)
    log_identity(desk)
    return desk


def log_identity(desk: Desk) -> None:
    """Say at every start what staff and customer identity rest on, and warn when a
    contract asks for a proof that nothing can give."""
    with Session(desk.engine) as session:
        # The index the intake matches senders with: read here, at start, and kept.
        contracts = repo.contract_index(session=session).contracts
    default = desk.settings.support.vip_requires_authentication
    need = any(c.requires_authentication(vip_default=default) for c in contracts)
    for line in identity_summary(desk.policy, vip_contracts_need_proof=need):
        if line.startswith("WARNING"):
            log.warning("%s", line.removeprefix("WARNING").strip())
        else:
            log.info("%s", line)
