"""A desk ready to run, from the configuration file: at start and again on SIGHUP.

Everything that can be wrong with the configuration is found here, before
the desk is used: the settings (``load_settings``), every template
(``check_templates``) and the contracts file (imported, idempotently).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlmodel import Session

from mailbot.adapters import repository as repo
from mailbot.config import load_settings
from mailbot.core.identity import identity_summary
from mailbot.desk import Desk
from mailbot.template_check import check_templates
from mailbot.wiring import build_desk, import_configured_contracts

log = logging.getLogger("mailbot")


def open_desk(config: Path | None) -> Desk:
    """Load and check everything; ConfigError (or a database error) when something is wrong."""
    desk = build_desk(load_settings(config))
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
        contracts = repo.load_contracts(session=session)
    default = desk.settings.support.vip_requires_authentication
    need = any(c.requires_authentication(vip_default=default) for c in contracts)
    for line in identity_summary(desk.policy, vip_contracts_need_proof=need):
        if line.startswith("WARNING"):
            log.warning("%s", line.removeprefix("WARNING").strip())
        else:
            log.info("%s", line)
