"""Pages as responses: the language, the template context every page gets, error pages.

The language is Polish unless the browser chose English: ``?lang=en`` (or ``pl``)
on any page switches and is kept in a cookie (``LANGUAGE_COOKIE``).
Every page is rendered with ``lang``, ``path`` (for the language links) and
``csrf_token`` (for its forms), is never cached (it may carry a token), and sends
the browser cookie the CSRF token is bound to when the browser had none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from mailbot.adapters.templates import DEFAULT_LANGUAGE, LANGUAGES
from mailbot.web.context import web_context
from mailbot.web.security import SECURITY_HEADERS, csrf_token, keep_browser_id, set_cookie

log = logging.getLogger("mailbot.web")

LANGUAGE_COOKIE = "mailbot_lang"


def language(request: Request) -> str:
    """``?lang=`` if it names one of ours, else the cookie's, else Polish."""
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return DEFAULT_LANGUAGE


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page ``templates/web/<lang>/<name>.html.j2`` as a response."""
    lang = language(request)
    values = {"path": request.url.path, "csrf_token": csrf_token(request), **(context or {})}
    html = web_context(request).pages.render(name, lang, values)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    response.headers["Cache-Control"] = "no-store"
    keep_browser_id(request, response)
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(request, response, LANGUAGE_COOKIE, lang, max_age=400 * 86400)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    """A plain page for 403, 404, 405, 413, 429...: the code and one sentence, nothing more
    (an ``HTTPException``'s headers, e.g. Retry-After, are kept)."""
    assert isinstance(exc, HTTPException)
    return render(
        request, "error", {"code": exc.status_code}, status_code=exc.status_code,
        headers=exc.headers,
    )  # fmt: skip


async def server_error(request: Request, exc: Exception) -> Response:
    """500: logged with its traceback here, never shown to the client. Starlette answers it
    outside the other middleware, so the security headers are set here too."""
    log.error("web: %s %s failed", request.method, request.url.path, exc_info=exc)
    try:
        response: Response = render(request, "error", {"code": 500}, status_code=500)
    except Exception:  # the page itself may be what is broken
        response = PlainTextResponse("500 Internal Server Error", status_code=500)
    response.headers.update(SECURITY_HEADERS)
    return response
