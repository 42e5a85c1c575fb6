"""The start page ``/``: a placeholder until phase B2 shows the three offers and their forms."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.web.rendering import render


def start_page(request: Request) -> Response:
    return render(request, "start")


def routes() -> list[BaseRoute]:
    return [Route("/", start_page, methods=["GET"], name="start")]
