"""The submission forms, one per tier (issue 15 phase B2); the start page (mailbot.web.start)
links to them.

- ``/zgloszenie/warranty``, ``/zgloszenie/vip``, ``/zgloszenie/post_warranty``: the forms
  (GET shows, POST takes: CSRF, a honeypot, the limits, the attachment limits of mail);
- ``/zgloszenie/potwierdz/<token>``: the confirmation link mailed to the address (GET shows
  a button, POST opens the ticket).

What a submission does is mailbot.usecases.web_submissions'. After a commit that queued
mail (an acknowledgement, a confirmation link), the outbox is flushed in a background
task after the response, so the mail leaves at once without the page waiting for SMTP;
the outbox's claims keep that exactly-once with the daemon's flushes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.adapters.smtp import make_sender
from mailbot.core.mail import Attachment
from mailbot.core.parsing import sanitize_filename
from mailbot.usecases.desk import Desk
from mailbot.usecases.outbox import flush_outbox
from mailbot.usecases.web_submissions import (
    FORMS,
    MAX_ATTACHMENTS,
    Form,
    Submission,
    attachment_problems,
    confirm,
    confirmation_state,
    submit,
)
from mailbot.web.context import web_context
from mailbot.web.rendering import language, render
from mailbot.web.security import client_address, require_csrf
from mailbot.web.start import prices

log = logging.getLogger("mailbot.web")

HONEYPOT = "website"  # a field people never see (hidden by the style sheet); robots fill it
_ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")
_TEXT_FIELDS = ("name", "address", "phone", "subject", "body")
_MAX_FIELD = {"name": 200, "address": 254, "phone": 50, "subject": 500, "body": 100_000}


def _form_name(request: Request) -> Form:
    form = request.path_params["form"]
    if form not in FORMS:
        raise HTTPException(404)
    return form  # type: ignore[no-any-return]


def form_page(request: Request) -> Response:
    form = _form_name(request)
    return _form_response(request, form, values={}, errors=[])


def _form_response(
    request: Request, form: Form, *, values: dict[str, str], errors: list[str], status: int = 200
) -> Response:
    context = form_values(prices(request), form, values=values, errors=errors)
    return render(request, "form", context, status_code=status)


def form_values(
    prices: dict[str, Any], form: Form, *, values: dict[str, str], errors: list[str]
) -> dict[str, Any]:
    """The form page's values: the price list, what was typed, what is wrong with it."""
    return {**prices, "form": form, "values": values, "errors": errors,
            "max_attachments": MAX_ATTACHMENTS, "honeypot": HONEYPOT}  # fmt: skip


async def take_form(request: Request) -> Response:
    form = _form_name(request)
    async with request.form(max_files=MAX_ATTACHMENTS + 1, max_fields=50) as data:
        return await _take(request, form, data)


async def _take(request: Request, form: Form, data: FormData) -> Response:
    require_csrf(request, data)
    if str(data.get(HONEYPOT) or ""):
        log.info("web form %s: honeypot filled, nothing stored", form)
        return render(request, "thanks", {"form": form})
    values = {name: _text(data, name) for name in _TEXT_FIELDS}
    values["address"] = values["address"].lower()
    files = await _files(data)
    desk = web_context(request).desk
    errors = _problems(values) + [f"attachment: {p}" for p in attachment_problems(desk, files)]
    if errors:
        return _form_response(request, form, values=values, errors=errors, status=400)
    found = client_address(request)
    submission = Submission(
        form=form, name=values["name"], address=values["address"], phone=values["phone"],
        subject=values["subject"], body=values["body"],
        express=form == "post_warranty" and data.get("express") == "1",
        attachments=files, ip=None if found is None else str(found.address),
        language=language(request),
    )  # fmt: skip
    taken = await run_in_threadpool(submit, desk, submission, base_url=_base_url(request))
    if taken.outcome == "limited":
        raise HTTPException(429, headers={"Retry-After": str(taken.retry_after)})
    if taken.outcome == "refused":
        return render(request, "vip_refused", {"form": form}, status_code=403)
    response = render(request, "thanks", {"form": form})
    response.background = BackgroundTask(flush_now, desk)
    return response


def _text(data: FormData, name: str) -> str:
    value = data.get(name)
    return value.strip()[: _MAX_FIELD[name]] if isinstance(value, str) else ""


def _problems(values: dict[str, str]) -> list[str]:
    problems = [name for name in ("name", "subject", "body") if not values[name]]
    if not _ADDRESS.fullmatch(values["address"]):
        problems.append("address")
    return problems


async def _files(data: FormData) -> tuple[Attachment, ...]:
    files = []
    for upload in data.getlist("attachments"):
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue  # the browser sends an empty part when no file was chosen
        content_type = upload.content_type or "application/octet-stream"
        name = sanitize_filename(upload.filename, content_type=content_type)
        files.append(Attachment(name, content_type, await upload.read()))
    return tuple(files)


def _base_url(request: Request) -> str:
    """Where links in mail point: ``[web] base_url``, else the address this request came to."""
    return web_context(request).web.base_url or str(request.base_url).rstrip("/")


async def flush_now(desk: Desk) -> None:
    """Send what the submission queued, now; the daemon's next flush would too."""
    try:
        await flush_outbox(desk, make_sender(desk.settings.smtp, tokens=desk.oauth2_tokens))
    except Exception:
        log.exception("web: flushing the outbox after a submission failed")


def confirm_page(request: Request) -> Response:
    token = request.path_params["token"]
    state = confirmation_state(web_context(request).desk, token)
    return render(request, "confirm", {"state": state, "token": token},
                  status_code=200 if state == "ready" else 410)  # fmt: skip


async def take_confirmation(request: Request) -> Response:
    require_csrf(request, await request.form())
    desk = web_context(request).desk
    state = await run_in_threadpool(confirm, desk, request.path_params["token"])
    response = render(request, "confirm", {"state": state},
                      status_code=200 if state == "opened" else 410)  # fmt: skip
    if state == "opened":
        response.background = BackgroundTask(flush_now, desk)
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/zgloszenie/potwierdz/{token}", confirm_page, methods=["GET"]),
        Route("/zgloszenie/potwierdz/{token}", take_confirmation, methods=["POST"]),
        Route("/zgloszenie/{form}", form_page, methods=["GET"], name="form"),
        Route("/zgloszenie/{form}", take_form, methods=["POST"]),
    ]
