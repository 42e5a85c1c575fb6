"""The customer's status page (issue 15 item 4): ``/t/{token}``, an answer typed on it,
and ``/link`` to get a lost link again by mail.

Thin handlers: the use cases in ``mailbot.usecases.web_status`` decide; a link that
finds nothing is a plain 404, whatever the reason (tampered, expired, revoked).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mailbot.core.timeline import deadline_wording, entry_wording, status_wording
from mailbot.usecases.web_status import (
    MAX_ANSWER_LENGTH,
    StatusPage,
    answer_from_page,
    count_lost_link_request,
    send_lost_link,
    status_page,
)
from mailbot.web.context import web_context
from mailbot.web.rendering import language, render
from mailbot.web.security import client_address, require_csrf

LocalTime = Callable[[datetime], str]


def status_values(page: StatusPage, lang: str, local_time: LocalTime) -> dict[str, Any]:
    """The page's values, worded in the reader's language, times as ``local_time`` (the
    company's clock, ``Desk.local_time``) shows them."""
    return {
        "ticket": page,
        "status_label": status_wording(page.status, lang),
        "deadlines": [
            (view.kind, local_time(view.due), deadline_wording(view, lang))
            for view in (page.reaction, page.resolution)
        ],
        "entries": [
            (local_time(entry.at), entry_wording(entry, lang), entry.body)
            for entry in reversed(page.entries)
        ],
        "max_answer": MAX_ANSWER_LENGTH,
    }


def show_status(request: Request) -> Response:
    page = status_page(web_context(request).desk, request.path_params["token"])
    if page is None:
        raise HTTPException(404)
    values = status_values(page, language(request), web_context(request).desk.local_time)
    return render(request, "status", values)


async def answer(request: Request) -> Response:
    form = await request.form()
    require_csrf(request, form)
    text = _text(form, "text").strip()
    if not text or len(text) > MAX_ANSWER_LENGTH:
        raise HTTPException(400)
    token = request.path_params["token"]
    if not await run_in_threadpool(answer_from_page, web_context(request).desk, token, text):
        raise HTTPException(404)
    return RedirectResponse(f"/t/{token}", status_code=303)


def lost_link_form(request: Request) -> Response:
    return render(request, "lost_link", {"sent": False})


async def lost_link(request: Request) -> Response:
    form = await request.form()
    require_csrf(request, form)
    number, address = _text(form, "number")[:64], _text(form, "email")[:320]
    await _count_or_refuse(request)
    if number.strip() and address.strip():
        await run_in_threadpool(send_lost_link, web_context(request).desk, number, address)
    # The same answer whether or not the number and the address matched.
    return render(request, "lost_link", {"sent": True})


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


async def _count_or_refuse(request: Request) -> None:
    client = client_address(request)
    key = "unknown" if client is None else str(client.address)
    verdict = await run_in_threadpool(count_lost_link_request, web_context(request).desk, key)
    if not verdict.allowed:
        raise HTTPException(429, headers={"Retry-After": str(verdict.retry_after)})


def routes() -> list[BaseRoute]:
    return [
        Route("/t/{token}", show_status, methods=["GET"], name="status"),
        Route("/t/{token}/reply", answer, methods=["POST"], name="status_reply"),
        Route("/link", lost_link_form, methods=["GET"], name="lost_link_form"),
        Route("/link", lost_link, methods=["POST"], name="lost_link"),
    ]
