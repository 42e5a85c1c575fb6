"""Serving the app with uvicorn on ``[web] bind`` until SIGTERM or SIGINT.

uvicorn's proxy-header handling is off: it would believe ``X-Forwarded-For``
from its own list of addresses, and we read that header ourselves, only from
``[web] trusted_proxies`` (mailbot.web.security.client_address). Its Server
header is off too (it names the software to anyone). On SIGTERM (systemd's
stop) or SIGINT it stops taking connections, lets the requests in hand finish
(at most ``GRACE``), and returns: exit status 0, not the signal raised again as
uvicorn does by default.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from mailbot.usecases.desk import Desk
from mailbot.web.app import create_app

log = logging.getLogger("mailbot.web")

GRACE = 10  # seconds for the requests in hand at a stop; the unit's TimeoutStopSec is longer


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not remembered, so not raised again after the shutdown (uvicorn.Server does that).
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for the requests in hand
        self.should_exit = True


def serve(desk: Desk) -> None:
    """Serve ``desk``'s web side until told to stop."""
    web = desk.settings.web
    host, port = web.listen
    config = uvicorn.Config(
        create_app(desk),
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_config=None,  # our logging (mailbot.runtime.log_setup) stays as it is
        access_log=False,
        lifespan="on",  # the app's lifespan sets the thread pool's size (web.app)
        timeout_graceful_shutdown=GRACE,
    )
    log.info("web: serving on http://%s (public address: %s)", web.bind, web.base_url or "not set")
    _Server(config).run()
    log.info("web: stopped")
