"""Sending mail: over SMTP with aiosmtplib, or into a folder of .eml files (demo).

Both translate failures into ``DeliveryError``; ``permanent`` tells the outbox
whether a retry can help (SMTP 5xx: no; 4xx, timeouts, refused connections: yes).
A mail the server took for some recipients but not all is no failure: ``send``
returns the ``Refusal`` of each recipient left out.

With ``auth = "oauth2"`` each connection logs in with XOAUTH2 (aiosmtplib's
``auth_xoauth2``) and a token of the shared ``TokenSource``; a refused token is
handed back (``invalidate``) and the login tried once more with a fresh one. No
token to be had keeps the mail for a retry, as a wrong password does.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import Default

from mailbot.adapters.oauth2 import TokenSource
from mailbot.adapters.tls import tls_context
from mailbot.config import SmtpSettings
from mailbot.errors import DeliveryError, OAuth2Error

# Seconds a connection may sit unused before it must answer a NOOP to carry a mail:
# servers drop idle clients (RFC 5321 section 4.5.3.2.7 allows it after 5 minutes,
# busy ones sooner), and a mail handed to a dead connection would wait a retry delay.
IDLE_CHECK_AFTER = 10.0


@dataclass(frozen=True)
class Refusal:
    """A recipient the server refused (RCPT TO) while it took the mail for others."""

    address: str
    code: int
    message: str

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600

    def __str__(self) -> str:
        return f"{self.address}: {self.code} {self.message}"


class Withdrawn(Exception):
    """``ready`` said no: nothing was delivered (the half-made envelope went with its
    connection)."""


# Awaited by ``send`` once the server has the envelope, before the mail's data: True to go on.
Ready = Callable[[], Awaitable[bool]]


class MailSender(Protocol):
    async def send(
        self,
        *,
        mail_from: str,
        recipients: list[str],
        raw: bytes,
        name: str,
        ready: Ready | None = None,
    ) -> tuple[Refusal, ...]:
        """Deliver ``raw``; the recipients refused while others took it (empty: all took it).

        Raises ``DeliveryError`` when no recipient got it. With ``ready``, the server
        is handed the data (and so takes the mail) only once ``ready()`` returned True:
        the envelope (MAIL FROM, RCPT TO) goes first, ``ready`` is awaited after it (not
        at all when the server refused it). False: ``Withdrawn``, nothing sent; an error
        of ``ready`` is raised as it is.
        """

    async def close(self) -> None:
        """Let go of open connections (QUIT); a later ``send`` opens new ones."""


class _NotReady(Exception):  # carries ready()'s own error out of sendmail
    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, whose ``sendmail`` waits for ``ready`` between the envelope and
    the data (``sendmail`` keeps its checks, SIZE and RSET on a refusal)."""

    ready: Ready | None = None  # for the next ``data`` only

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,
    ) -> SMTPResponse:
        ready, self.ready = self.ready, None
        if ready is not None:
            try:
                go = await ready()
            except Exception as exc:  # not the server's: sendmail must not take it for one
                raise _NotReady(exc) from exc
            if not go:
                raise Withdrawn
        return await super().data(message, timeout=timeout)


@dataclass
class _Idle:
    client: _Client
    since: float  # the clock's reading when it was last used


class SmtpSender:
    """Up to ``settings.connections`` SMTP connections, opened when needed and kept for reuse.

    One ``send`` uses one connection; that many sends can run at once, more wait
    for a free one. A connection goes back to the pool only after the server took
    a mail over it: after any failure its state is unknown (half an envelope, a
    dead socket), so it is closed and the next mail gets a new one. The pool
    belongs to the event loop it was filled in; when that loop ends (``asyncio.run``
    returning) every connection still open is closed, idle ones with a QUIT, even
    if nobody called ``close``; a later loop starts afresh.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenSource | None = None,
    ):
        self.settings = settings
        self._tokens = tokens  # the OAuth2 access tokens, with auth = "oauth2"
        self._clock = clock
        self._idle: list[_Idle] = []
        # Every connection not closed yet, idle or busy: one a cancelled send left
        # behind (CancelledError is no Exception) is closed with the rest.
        self._open: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None  # one per event loop, made in it
        self._keeper: AsyncGenerator[None, None] | None = None

    @property
    def _server(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"

    async def send(
        self,
        *,
        mail_from: str,
        recipients: list[str],
        raw: bytes,
        name: str,
        ready: Ready | None = None,
    ) -> tuple[Refusal, ...]:
        async with self._slot():
            client = await self._connection(name)
            client.ready = ready
            try:
                refused, _ = await client.sendmail(mail_from, recipients, raw)
            except Withdrawn:
                self._drop(client)
                raise
            except _NotReady as not_ready:
                self._drop(client)
                raise not_ready.error from None
            except Exception as exc:  # every failure becomes a DeliveryError, sorted below
                self._drop(client)
                raise _delivery_error(exc, self._server, name) from exc
            self._idle.append(_Idle(client, self._clock()))
        return tuple(Refusal(address, r.code, r.message) for address, r in refused.items())

    async def close(self) -> None:
        """QUIT every idle connection (errors ignored: we are leaving anyway), close all.

        Call it with no ``send`` in progress.
        """
        keeper, self._keeper, self._loop, self._slots = self._keeper, None, None, None
        if keeper is not None:
            await keeper.aclose()  # its ``finally`` closes them
        await self._close_all()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # A new event loop: connections of an old one cannot be used in it
            # (that loop's end closed them), nor can a semaphore bound to it.
            self._loop, self._idle, self._open = loop, [], set()
            self._slots = asyncio.Semaphore(max(1, self.settings.connections))
            self._keeper = self._quit_when_loop_ends()
            await anext(self._keeper)
        async with self._slots:
            yield

    async def _quit_when_loop_ends(self) -> AsyncGenerator[None, None]:
        """Waits at ``yield`` for the loop's life.

        asyncio closes every unfinished async generator when its loop shuts down
        (``asyncio.run`` does, before closing the loop), so this ``finally`` says
        QUIT to our connections even when the owner forgot ``close``; without it
        their sockets would outlive the loop and be reclaimed with a ResourceWarning.
        """
        try:
            yield
        finally:
            await self._close_all()

    async def _close_all(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with suppress(Exception):
                await connection.client.quit()
        for client in list(self._open):
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        self._open.discard(client)
        client.close()

    async def _connection(self, name: str) -> _Client:
        """An idle connection that still answers, else a new one; DeliveryError when none."""
        if self._idle:
            idle = self._idle.pop()  # the most recently used: the likeliest to be alive
            if await self._answers(idle):
                return idle.client
            self._drop(idle.client)
        client = _client(self.settings)
        self._open.add(client)
        try:
            await _connect(client, self.settings, self._tokens)
        except Exception as exc:  # every failure becomes a DeliveryError, sorted below
            self._drop(client)
            raise _delivery_error(exc, self._server, name) from exc
        return client

    async def _answers(self, idle: _Idle) -> bool:
        if not idle.client.is_connected:  # the server closed it and we saw it go
            return False
        if self._clock() - idle.since <= IDLE_CHECK_AFTER:
            return True
        try:
            await idle.client.noop()
        except Exception:  # dropped, timed out or answered nonsense: a new one is cheaper
            return False
        return True


async def check(settings: SmtpSettings, *, tokens: TokenSource | None = None) -> str:
    """Connect, EHLO (STARTTLS and login as configured), NOOP, QUIT; what was done.

    Sends no mail. Raises ``DeliveryError`` saying which step the server refused.
    """
    if settings.pickup_dir is not None:
        return _check_pickup_dir(settings.pickup_dir)
    s = settings
    server = f"SMTP {s.host}:{s.port}"
    client = _client(s)
    try:
        await _connect(client, s, tokens)
        await client.ehlo()
        await client.noop()
        await client.quit()
    except Exception as exc:  # every failure becomes a DeliveryError, as for a send
        client.close()
        raise _delivery_error(exc, server, "the connection check") from exc
    login = f", logged in as {s.username}" if s.username else ""
    login += " with OAuth2 (XOAUTH2)" if s.auth == "oauth2" else ""
    return f"{server}: EHLO and NOOP answered ({s.tls}{login})"


async def _connect(client: _Client, settings: SmtpSettings, tokens: TokenSource | None) -> None:
    """Connect; TLS and a password login happen in ``connect``, as configured, an OAuth2
    login after it."""
    await client.connect()
    if settings.auth == "oauth2":
        await _oauth2_login(client, settings.username, tokens)


async def _oauth2_login(client: _Client, user: str, tokens: TokenSource | None) -> None:
    """XOAUTH2 with the current token; a refused one is replaced and tried once more."""
    if tokens is None:
        raise OAuth2Error('auth = "oauth2" but no OAuth2 token source')
    for attempt in (1, 2):
        token = await asyncio.to_thread(tokens.token)  # may ask the token endpoint: blocks
        try:
            await client.auth_xoauth2(user, token)
            return
        except aiosmtplib.SMTPAuthenticationError:
            tokens.invalidate(token)
            if attempt == 2:
                raise


def _client(settings: SmtpSettings) -> _Client:
    s = settings
    password_login = s.auth == "password" and s.username
    return _Client(
        hostname=s.host,
        port=s.port,
        # With OAuth2 no login in connect(): _oauth2_login logs in after it.
        username=s.username if password_login else None,
        password=(s.password or None) if password_login else None,
        use_tls=s.tls == "ssl",
        start_tls=s.tls == "starttls",
        tls_context=_tls(s),
        timeout=s.timeout.total_seconds(),
    )


def _tls(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.tls == "none":
        return None
    return tls_context(verify=settings.verify_tls, ca_file=settings.ca_file)


def _check_pickup_dir(directory: Path) -> str:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeliveryError(f"cannot create {directory}: {exc}", permanent=True) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DeliveryError(f"{directory} is not writable", permanent=True)
    return f"pickup directory {directory} is writable"


def _delivery_error(exc: Exception, server: str, name: str) -> DeliveryError:
    """Sort a failure: permanent only when this mail itself was refused or cannot be sent."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        return DeliveryError(
            f"{server} refused the recipients of {name}: {exc}",
            permanent=all(500 <= code < 600 for code in codes),
        )
    if isinstance(exc, OAuth2Error):
        # No token (a wrong secret, a revoked consent, the endpoint away): our
        # configuration or a passing outage, not this mail. Keep it.
        return DeliveryError(f"{server}: no OAuth2 token to log in with: {exc}", permanent=False)
    if isinstance(exc, _OUR_SETUP):
        # A wrong password, a refused sender address or TLS demanded: our
        # configuration, not this mail. Keep the mail until the admin fixes it.
        return DeliveryError(
            f"{server} refused us (check the [smtp] settings): {exc}", permanent=False
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(
            f"{server} refused {name}: {exc.code} {exc.message}", permanent=500 <= exc.code < 600
        )
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return DeliveryError(f"{server} unreachable for {name}: {exc}", permanent=False)
    # UnicodeEncodeError (a non-ASCII address the server cannot take), ValueError...
    return DeliveryError(f"{name} cannot be sent: {exc!r}", permanent=True)


_OUR_SETUP = (
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPNotSupported,
)


class DirSender:
    """Writes each mail as ``<name>.eml`` into a folder (atomically: temp file, then rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(
        self,
        *,
        mail_from: str,
        recipients: list[str],
        raw: bytes,
        name: str,
        ready: Ready | None = None,
    ) -> tuple[Refusal, ...]:
        if ready is not None and not await ready():
            raise Withdrawn
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / f"{name}.eml"
            temp = target.with_suffix(".tmp")
            temp.write_bytes(raw)
            os.replace(temp, target)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {name}.eml to {self.directory}: {exc}", permanent=False
            ) from exc
        return ()  # a folder takes every recipient

    async def close(self) -> None:
        """Nothing is held open between mails."""


def make_sender(settings: SmtpSettings, *, tokens: TokenSource | None = None) -> MailSender:
    """``tokens``: the shared OAuth2 token source, needed with ``auth = "oauth2"``."""
    if settings.pickup_dir:
        return DirSender(settings.pickup_dir)
    return SmtpSender(settings, tokens=tokens)
