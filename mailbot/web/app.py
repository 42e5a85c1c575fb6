"""The web side's Starlette app: ``create_app(desk)``.

Routes come from the page-group modules, each offering ``routes()``; a new group
is one more entry in ``_PAGE_GROUPS``. Middleware, outermost first: Starlette's
error handler (500 page, logged), ``SecurityHeaders`` on every response,
``BodyLimit`` ([web] max_request_size, 413), then the routes, whose
``HTTPException`` (403, 404, 405, 413, 429) become plain pages
(``rendering.http_error``). ``/static`` serves the style sheet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mailbot.adapters.pages import static_dir
from mailbot.usecases.desk import Desk
from mailbot.web import monitoring, staff, start, status, submit
from mailbot.web.context import WebContext
from mailbot.web.rendering import http_error, server_error
from mailbot.web.security import BodyLimit, SecurityHeaders

# Handlers that touch the database run in Starlette's thread pool, by default 40 threads.
# SQLite takes one writer at a time and the GIL one Python thread: past a few threads,
# more only add switching and memory (bench.web, 100,000 tickets, 8 clients: 40 threads
# 733 pages/s and 91 MB, 4 threads 868 pages/s and 82 MB, 2 threads 933 pages/s). Four
# leave room for a request waiting on the daemon's write lock (busy_timeout).
WORKER_THREADS = 4


@asynccontextmanager
async def _few_threads(_app: Starlette) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


_PAGE_GROUPS = (
    start,
    monitoring,
    status,
    staff,
    submit,
)


def create_app(desk: Desk, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The app serving ``desk``; ``extra_routes`` are for tests."""
    routes: list[BaseRoute] = [route for group in _PAGE_GROUPS for route in group.routes()]
    routes += [*extra_routes, Mount("/static", StaticFiles(directory=static_dir()), name="static")]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyLimit, max_size=desk.settings.web.max_request_size),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=_few_threads,
    )
    app.state.web = WebContext.of(desk)
    app.state.metrics = monitoring.metrics_registry(desk)
    return app
