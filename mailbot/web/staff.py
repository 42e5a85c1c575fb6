"""The staff board: ``/staff/login`` (a sign-in link by mail), ``/staff``, ``/staff/t/{number}``.

Only a session cookie (``STAFF_COOKIE``: HttpOnly, SameSite=Strict, Secure over
https) opens the board; without a live one every board page redirects to
``/staff/login``. The session id never appears in a URL. A mailed link's GET only
shows a "sign in" button (mail scanners follow links; a GET spends nothing); its
POST spends the link and opens the session. Everything is read-only except
"take it" (assign the ticket to me) and signing out, both POSTs with CSRF.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mailbot.usecases import web_staff
from mailbot.web.context import web_context
from mailbot.web.rendering import render
from mailbot.web.security import client_address, require_csrf, set_cookie

STAFF_COOKIE = "mailbot_staff"
LOGIN = "/staff/login"


def _link_base(request: Request) -> str:
    """Where links in mail point: ``[web] base_url``, else this request's own address (the
    demo and tests; production sets base_url, so no Host header ever names the link)."""
    return web_context(request).web.base_url or str(request.base_url).rstrip("/")


def _staff(request: Request) -> str | None:
    return web_staff.signed_in(web_context(request).desk, request.cookies.get(STAFF_COOKIE, ""))


def _to_login() -> Response:
    return RedirectResponse(LOGIN, status_code=303)


async def login(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "staff_login", {"sent": False})
    form = await request.form()
    require_csrf(request, form)
    address = form.get("address")
    client = client_address(request)
    verdict = await run_in_threadpool(
        web_staff.request_signin, web_context(request).desk,
        address if isinstance(address, str) else "",
        client="unknown" if client is None else str(client.address),
        link_base=_link_base(request),
    )  # fmt: skip
    if not verdict.allowed:
        raise HTTPException(429, headers={"Retry-After": str(verdict.retry_after)})
    # The same answer whether or not the address is staff.
    return render(request, "staff_login", {"sent": True})


async def login_link(request: Request) -> Response:
    token = request.path_params["token"]
    desk = web_context(request).desk
    if request.method == "GET":
        address = await run_in_threadpool(web_staff.signin_address, desk, token)
        return render(request, "staff_link", {"address": address},
                      status_code=200 if address else 400)  # fmt: skip
    require_csrf(request, await request.form())
    cookie = await run_in_threadpool(web_staff.sign_in, desk, token)
    if cookie is None:
        return render(request, "staff_link", {"address": None}, status_code=400)
    response = RedirectResponse("/staff", status_code=303)
    max_age = int(web_context(request).web.staff_session.total_seconds())
    set_cookie(request, response, STAFF_COOKIE, cookie, max_age=max_age, same_site="strict")
    return response


async def logout(request: Request) -> Response:
    require_csrf(request, await request.form())
    cookie = request.cookies.get(STAFF_COOKIE, "")
    if cookie:
        await run_in_threadpool(web_staff.sign_out, web_context(request).desk, cookie)
    response = _to_login()
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response


def board_page(request: Request) -> Response:
    staff = _staff(request)
    if staff is None:
        return _to_login()
    board = web_staff.board(web_context(request).desk)
    return render(request, "staff_board", {"staff": staff, "board": board})


def ticket_page(request: Request) -> Response:
    staff = _staff(request)
    if staff is None:
        return _to_login()
    ticket = web_staff.staff_ticket(web_context(request).desk, request.path_params["number"])
    if ticket is None:
        raise HTTPException(404)
    return render(request, "staff_ticket", {"staff": staff, "ticket": ticket})


async def take(request: Request) -> Response:
    form = await request.form()
    staff = await run_in_threadpool(_staff, request)
    if staff is None:
        return _to_login()
    require_csrf(request, form)
    number = request.path_params["number"]
    taken = await run_in_threadpool(web_staff.take, web_context(request).desk, number, staff)
    if not taken:
        raise HTTPException(404)
    return RedirectResponse(f"/staff/t/{number}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route(LOGIN, login, methods=["GET", "POST"], name="staff_login"),
        Route(LOGIN + "/{token}", login_link, methods=["GET", "POST"], name="staff_link"),
        Route("/staff/logout", logout, methods=["POST"], name="staff_logout"),
        Route("/staff", board_page, methods=["GET"], name="staff_board"),
        Route("/staff/t/{number}", ticket_page, methods=["GET"], name="staff_ticket"),
        Route("/staff/t/{number}/take", take, methods=["POST"], name="staff_take"),
    ]
