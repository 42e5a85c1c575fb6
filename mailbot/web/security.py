"""Request and response guards of the web side: headers, cookies, CSRF, client address, size.

- Every response carries ``SECURITY_HEADERS`` (``SecurityHeaders``): a strict
  Content-Security-Policy (no scripts at all, styles and images from us only,
  forms post only to us, no framing), ``nosniff`` and ``no-referrer`` (status
  links carry their token in the URL).
- Cookies (``set_cookie``) are HttpOnly and SameSite, and Secure when
  ``[web] base_url`` is https.
- CSRF: each browser gets a random cookie (``BROWSER_COOKIE``); forms carry a
  token signed for that value (``csrf_token``, mailbot.core.web_tokens), which
  ``require_csrf`` checks, refusing with 403. A token from another browser,
  expired or tampered with, is refused the same way.
- The client's address (``client_address``): the TCP peer, or behind a proxy in
  ``[web] trusted_proxies`` its ``X-Forwarded-For`` (mailbot.core.client_ip);
  nobody else's header is believed. uvicorn's own proxy-header handling is off.
- Request bodies over ``[web] max_request_size`` are refused with 413
  (``BodyLimit``), whether the length is announced or not.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Literal

from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailbot.core import web_tokens
from mailbot.core.client_ip import ClientAddress, ip_allowed
from mailbot.core.client_ip import client_address as resolve_client
from mailbot.web.context import web_context

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
}

BROWSER_COOKIE = "mailbot_browser"
CSRF_FIELD = "csrf_token"
_BROWSER_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every HTTP response (a header the handler
    set itself stays)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: a request body over ``max_size`` bytes ends in 413 as soon as it is
    announced (Content-Length) or read that far; a handler that never reads it is not hurt."""

    def __init__(self, app: ASGIApp, *, max_size: int) -> None:
        self.app = app
        self.max_size = max_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length", b"0")
        too_large = not announced.isdigit() or int(announced) > self.max_size
        received = 0

        async def limited() -> Message:
            nonlocal received
            if too_large:
                raise HTTPException(413)
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_size:
                raise HTTPException(413)
            return message

        await self.app(scope, limited, send)


def set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    same_site: Literal["lax", "strict"] = "lax",
) -> None:
    """Set a cookie the way every cookie of ours is set: HttpOnly, SameSite, path /, and
    Secure when the public address is https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=web_context(request).web.secure_cookies,
        httponly=True,
        samesite=same_site,
    )


def browser_id(request: Request) -> str:
    """This browser's random value (its cookie), or a new one for ``keep_browser_id``."""
    current = request.cookies.get(BROWSER_COOKIE, "")
    if _BROWSER_VALUE.fullmatch(current):
        return current
    made: str | None = getattr(request.state, "new_browser_id", None)
    if made is None:
        made = secrets.token_urlsafe(32)
        request.state.new_browser_id = made
    return made


def keep_browser_id(request: Request, response: Response) -> None:
    """Send the browser cookie when ``browser_id`` made a new value for this request."""
    made: str | None = getattr(request.state, "new_browser_id", None)
    if made is not None:
        set_cookie(request, response, BROWSER_COOKIE, made, max_age=400 * 86400)


def csrf_token(request: Request) -> str:
    """The token for a form shown to this browser (``<input name="csrf_token">``)."""
    context = web_context(request)
    return web_tokens.csrf_token(
        context.desk.token_key, browser=browser_id(request), now=context.desk.clock()
    )


def require_csrf(request: Request, form: FormData) -> None:
    """Refuse (403) a form whose ``csrf_token`` is missing, not ours, expired, or made for
    another browser than the one sending it."""
    context = web_context(request)
    token = form.get(CSRF_FIELD)
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if not isinstance(token, str) or not _BROWSER_VALUE.fullmatch(browser):
        raise HTTPException(403)
    claim = web_tokens.verify_csrf(
        context.desk.token_key, token, browser=browser, now=context.desk.clock()
    )
    if claim is None:
        raise HTTPException(403)


def client_address(request: Request) -> ClientAddress | None:
    """Who is asking: the TCP peer, or, from a trusted proxy, the client it names
    (mailbot.core.client_ip); None when the peer is no IP address (a Unix socket)."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.getlist("x-forwarded-for")
    return resolve_client(peer, forwarded, web_context(request).trusted_proxies)


def monitoring_allowed(request: Request) -> bool:
    """``/healthz`` and ``/metrics``: a client within ``trusted_proxies`` (the proxy's own
    network, e.g. Prometheus on the same host) or one showing the bearer token."""
    context = web_context(request)
    token = context.web.metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    shown = given.strip().encode("utf-8")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(shown, token.encode("utf-8")):
        return True
    client = client_address(request)
    return client is not None and ip_allowed(client.address, context.web.trusted_proxies)
