"""A desk ready to run, from the configuration file: at start and again on SIGHUP.

Everything that can be wrong with the configuration is found here, before
the desk is used: the settings (``load_settings``), every template
(``check_templates``) and the contracts file (imported, idempotently).
"""

from __future__ import annotations

import logging
from pathlib import Path

from mailbot.config import load_settings
from mailbot.service import Desk
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
    return desk
