"""``mailbot check-config``: the configuration, and whether its servers answer.

Offline checks (settings, mail templates, web page templates, contracts file) raise
ConfigError like at start. The connections (database, IMAP, SMTP) are each reported as a
``Check``; ``offline`` skips them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from mailbot.adapters import smtp
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import DatabaseError, check_connection, plain_engine
from mailbot.adapters.oauth2_providers import token_source
from mailbot.adapters.templates import Renderer
from mailbot.bootstrap import make_source, system_clock
from mailbot.config import Settings
from mailbot.contracts_file import load_contracts_file
from mailbot.core.identity import identity_summary
from mailbot.errors import MailbotError
from mailbot.template_check import check_templates
from mailbot.usecases.desk import Desk
from mailbot.usecases.oauth2_login import stored_login_state
from mailbot.web.page_check import check_pages, pages_dirs


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def offline_checks(settings: Settings) -> list[Check]:
    """Templates (of mail and of the web pages) and contracts; ConfigError on the first
    problem. Opens no connection."""
    # An engine that is never connected: the templates need a desk, not a database.
    desk = Desk(
        engine=plain_engine(settings.database.url),
        settings=settings,
        renderer=Renderer(settings.templates_dir),
        store=AttachmentStore(settings.state_dir / "attachments"),
        clock=system_clock,
    )
    checks = [Check("configuration", True, str(settings.source or "built in code"))]
    rendered = check_templates(desk)
    checks.append(Check("templates", True, f"{rendered} rendered from {desk.renderer.directory}"))
    pages = check_pages(desk)
    checks.append(Check("pages", True, f"{pages} web page(s) rendered from {pages_dirs(settings)}"))
    contracts = []
    if settings.support.contracts_file is not None:
        contracts = load_contracts_file(settings.support.contracts_file)
        detail = f"{len(contracts)} contract(s) in {settings.support.contracts_file}"
        checks.append(Check("contracts", True, detail))
    default = settings.support.vip_requires_authentication
    # Without a contracts file the contracts live in the database; a VIP one may be there.
    need = default or any(c.requires_authentication(vip_default=default) for c in contracts)
    for line in identity_summary(desk.policy, vip_contracts_need_proof=need):
        warning = line.startswith("WARNING")
        checks.append(Check("identity", not warning, line.removeprefix("WARNING").strip()))
    login = stored_login_state(settings)
    if login is not None:
        checks.append(Check("oauth2 login", *login))
    desk.engine.dispose()
    return checks


def connection_checks(settings: Settings) -> list[Check]:
    """The database, the mailbox and the SMTP server, each tried once; never raises."""
    return [
        _attempt("database", lambda: check_connection(settings.database.url)),
        _attempt("imap", lambda: _check_mailbox(settings)),
        _attempt(
            "smtp", lambda: asyncio.run(smtp.check(settings.smtp, tokens=token_source(settings)))
        ),
    ]


def _attempt(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, True, check())
    except (MailbotError, DatabaseError, OSError) as exc:
        return Check(name, False, str(exc).splitlines()[0] if str(exc) else repr(exc))


def _check_mailbox(settings: Settings) -> str:
    source = make_source(settings)
    try:
        validity = source.open()
    finally:
        source.close()
    oauth2 = " with OAuth2 (XOAUTH2)" if settings.imap.auth == "oauth2" else ""
    return f"{source.name}: logged in{oauth2}, folders ready (UIDVALIDITY {validity})"
