"""The ``web`` command: the web side of issue 15 (forms, status pages, staff board,
/healthz and /metrics), served by uvicorn on ``[web] bind``."""

from __future__ import annotations

import argparse
from typing import Any

from mailbot.adapters.db import small_page_cache
from mailbot.bootstrap import open_desk
from mailbot.cli.common import EXIT_OK, add_command
from mailbot.runtime.log_setup import apply_log_settings

# Each of the web process's SQLite connections (one per handler thread: web.app) keeps
# this much of the database in its memory; see adapters.db.small_page_cache.
WEB_PAGE_CACHE_KIB = 256


def cmd_web(args: argparse.Namespace) -> int:
    # Here, not at the top: uvicorn and Starlette are not loaded for the other commands.
    from mailbot.web.page_check import check_pages  # noqa: PLC0415
    from mailbot.web.server import serve  # noqa: PLC0415

    # The web side never opens the mailbox, so it needs no IMAP password; it does send
    # what it queued (mailbot.web.submit.flush_now), so SMTP is checked as for `run`.
    desk = open_desk(args.config, reads_mailbox=False)
    try:
        check_pages(desk)  # a broken page stops the start, not the first visitor
    except BaseException:
        desk.engine.dispose()
        raise
    small_page_cache(desk.engine, WEB_PAGE_CACHE_KIB)
    settings = desk.settings
    apply_log_settings(
        settings.log_level,
        settings.log_levels,
        secrets=settings.secrets,
    )
    try:
        serve(desk)
    finally:
        desk.engine.dispose()
    return EXIT_OK


def register(sub: Any) -> None:
    add_command(
        sub,
        "web",
        cmd_web,
        "serve the web side (the customers' forms and status pages, the staff board, /healthz "
        "and /metrics) on [web] bind, e.g. 127.0.0.1:8080, behind nginx or Caddy for TLS; "
        "shares the database with `mailbot run`, which must run too (it sends the mail); "
        "X-Forwarded-For is believed only from [web] trusted_proxies; stops on SIGTERM",
    )
