"""What every handler reaches through the request: the desk, the pages, the networks."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from mailbot.adapters.pages import Pages
from mailbot.config_web import WebSettings
from mailbot.core.client_ip import IPNetwork, parse_networks
from mailbot.usecases.desk import Desk


@dataclass(frozen=True)
class WebContext:
    desk: Desk
    pages: Pages
    # [web] trusted_proxies, parsed once.
    trusted_proxies: tuple[IPNetwork, ...]

    @property
    def web(self) -> WebSettings:
        return self.desk.settings.web

    @classmethod
    def of(cls, desk: Desk) -> WebContext:
        return cls(
            desk=desk,
            pages=Pages(desk.settings.templates_dir),
            trusted_proxies=parse_networks(desk.settings.web.trusted_proxies),
        )


def web_context(request: Request) -> WebContext:
    """The context ``create_app`` put on the app."""
    context = request.app.state.web
    assert isinstance(context, WebContext)
    return context
