"""``mailbot oauth login``: a user's consent, once, for a refresh token (issue 16).

- ``device_login``: the device authorization grant of RFC 8628 at ``[oauth2]
  device_authorization_url`` (provider ``generic``): the address and the code are
  printed, the admin enters the code on any device with a browser, the token
  endpoint is polled meanwhile. Works on a server with no browser and no public address.
- ``MicrosoftGrant.device_login`` (adapters.oauth2_providers) is the same through msal.
- ``installed_app_login``: an installed app's authorization code with PKCE and a loopback
  redirect (Google's "Desktop app" client): the address to open is printed; the browser
  is sent back to ``http://127.0.0.1:PORT/``, which this process listens on; when the
  browser is on another machine that address does not load, and the admin pastes it
  from the browser's address bar into the terminal instead. Either answer will do.
- ``store_login``: the refresh token into the state directory (``oauth2-login.json``,
  mode 0600, written whole or not at all), where ``TokenSource`` takes it from.

The waits take ``sleep`` and ``clock`` (the tests' need no time to pass); the tokens are
never printed or logged.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from mailbot.adapters.oauth2 import LOGIN_NAME, login_key, post_form, write_private
from mailbot.config import OAuth2Settings
from mailbot.core.oauth2 import (
    AccessToken,
    TokenResponseError,
    describe_error,
    parse_token_answer,
    redact,
)
from mailbot.core.oauth2_login import (
    DEVICE_CODE_GRANT,
    DeviceCode,
    RedirectError,
    StoredLogin,
    authorization_address,
    code_from_redirect,
    login_failure,
    login_to_json,
    parse_device_answer,
    poll_verdict,
)
from mailbot.errors import OAuth2Error

Say = Callable[[str], None]
GOOGLE_AUTHORIZATION_URL = "https://accounts.google.com/o/oauth2/v2/auth"
# How long the installed-app login waits for the browser or a pasted address.
REDIRECT_WAIT = timedelta(minutes=15)


def device_login(
    settings: OAuth2Settings,
    *,
    say: Say,
    sleep: Callable[[float], None],
    clock: Callable[[], datetime],
    timeout: float = 30.0,
) -> AccessToken:
    """RFC 8628 at ``device_authorization_url``, then polls ``token_url``."""
    form = {"client_id": settings.client_id}
    if settings.scope:
        form["scope"] = settings.scope
    if settings.client_secret:
        form["client_secret"] = settings.client_secret
    url = settings.device_authorization_url
    status, body = post_form(url, form, timeout=timeout)
    answer = _json(body)
    if status != 200:
        error = describe_error(status, body)
        raise OAuth2Error(f"the device authorization endpoint {url} gave no code: {error.text}")
    try:
        device = parse_device_answer(answer, now=clock())
    except TokenResponseError as exc:
        raise OAuth2Error(f"the device authorization endpoint {url}: {exc}") from None
    say(device.instructions())
    poll: dict[str, str] = {"grant_type": DEVICE_CODE_GRANT, "device_code": device.device_code}
    poll |= {key: form[key] for key in ("client_id", "client_secret") if key in form}

    def ask() -> tuple[int, Mapping[str, Any]]:
        status, body = post_form(settings.token_url, poll, timeout=timeout)
        return status, _json(body)

    return poll_for_token(ask, device, sleep=sleep, clock=clock)


def poll_for_token(
    ask: Callable[[], tuple[int, Mapping[str, Any]]],
    device: DeviceCode,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], datetime],
) -> AccessToken:
    """Poll (``ask``: status and decoded answer) until the user entered the code, at the
    interval the server asks for, until the code expires."""
    interval = device.interval
    while True:
        status, answer = ask()
        verdict = poll_verdict(answer, interval=interval, status=status)
        if verdict.error is not None:
            raise OAuth2Error(login_failure(verdict.error), code=verdict.error.code)
        if not verdict.wait:
            return _with_refresh_token(answer, now=clock())
        interval = verdict.interval
        if clock() + interval > device.expires_at:
            raise OAuth2Error(
                "the code expired before it was entered: run mailbot oauth login again",
                code="expired_token",
            )
        sleep(interval.total_seconds())


def _with_refresh_token(answer: Mapping[str, Any], *, now: datetime) -> AccessToken:
    try:
        token = parse_token_answer(answer, now=now)
    except TokenResponseError as exc:
        raise OAuth2Error(f"the token endpoint's answer: {exc}") from None
    if not token.refresh_token:
        raise OAuth2Error(
            "signed in, but the provider gave no refresh token: allow refresh tokens for the"
            " client (offline access) at the provider, then run mailbot oauth login again"
        )
    return token


def _json(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return answer if isinstance(answer, dict) else {}


# --- the installed app: authorization code, PKCE, loopback redirect ----------------------


def installed_app_login(
    settings: OAuth2Settings,
    *,
    say: Say,
    pasted: TextIO,
    authorization_url: str = GOOGLE_AUTHORIZATION_URL,
    clock: Callable[[], datetime],
    port: int = 0,
    wait: timedelta = REDIRECT_WAIT,
    timeout: float = 30.0,
) -> AccessToken:
    """Print the address to open, take the code from the loopback redirect or from the
    address pasted into ``pasted``, exchange it (with the PKCE verifier) at ``token_url``."""
    answers: queue.Queue[str] = queue.Queue()
    listener = _listen(answers, port)
    redirect_uri = f"http://127.0.0.1:{port_of(listener)}/"
    state, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    address = authorization_address(
        authorization_url, client_id=settings.client_id, redirect_uri=redirect_uri,
        scope=settings.scope, state=state, verifier=verifier,
    )  # fmt: skip
    threading.Thread(target=_read_lines, args=(pasted.fileno(), answers), daemon=True).start()
    try:
        say(
            f"Open this address in a browser on any device and sign in as the mailbox:\n{address}\n"
            "If the browser is on another machine, the page it is sent to at the end does not"
            " load: copy that page's whole address from the address bar and paste it here."
        )
        code = _wait_for_code(answers, say, redirect_uri=redirect_uri, state=state,
                              until=clock() + wait, clock=clock)  # fmt: skip
    finally:
        listener.shutdown()
        listener.server_close()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": settings.client_id, "code_verifier": verifier}  # fmt: skip
    if settings.client_secret:
        form["client_secret"] = settings.client_secret
    status, body = post_form(settings.token_url, form, timeout=timeout)
    if status != 200:
        error = describe_error(status, body)
        reason = redact(error.text, (settings.client_secret, code))
        raise OAuth2Error(f"the token endpoint {settings.token_url} gave no token: {reason}")
    return _with_refresh_token(_json(body), now=clock())


def _wait_for_code(
    answers: queue.Queue[str],
    say: Say,
    *,
    redirect_uri: str,
    state: str,
    until: datetime,
    clock: Callable[[], datetime],
) -> str:
    while (left := (until - clock()).total_seconds()) > 0:
        try:
            address = answers.get(timeout=left)
        except queue.Empty:
            break
        if not address.strip():
            continue
        try:
            return code_from_redirect(address, redirect_uri=redirect_uri, state=state)
        except RedirectError as exc:
            say(f"{exc}; paste the address again (or press Ctrl+C)")
    raise OAuth2Error("no answer from the browser in time: run mailbot oauth login again")


def port_of(server: Any) -> int:
    return int(server.server_address[1])


def _read_lines(fd: int, answers: queue.Queue[str]) -> None:
    """Each line pasted, until the end of the input. Raw reads of the descriptor: a thread
    blocked in the buffered ``sys.stdin`` would hold its lock when the process exits."""
    pending = b""
    while chunk := os.read(fd, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            answers.put(line.decode("utf-8", "replace"))
    if pending:
        answers.put(pending.decode("utf-8", "replace"))


def _listen(answers: queue.Queue[str], port: int) -> ThreadingHTTPServer:
    """The loopback listener the browser is sent back to (RFC 8252 section 7.3)."""

    class Redirected(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/":  # the browser's favicon and the like
                self.send_error(404)
                return
            answers.put(f"http://127.0.0.1:{port_of(self.server)}{self.path}")
            page = b"mailbot: the sign-in is done; you can close this page.\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the address holds the code: never on stderr

    server = ThreadingHTTPServer(("127.0.0.1", port), Redirected)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="oauth-login", daemon=True).start()
    return server


# --- the stored login -----------------------------------------------------------------------


def store_login(
    state_dir: Path, settings: OAuth2Settings, token: AccessToken, *, now: datetime
) -> Path:
    """Store ``token``'s refresh token as a new login, owned by the state directory's owner
    (root running the login for a daemon of its own user: systemd's DynamicUser); OAuth2Error
    when it cannot be."""
    login = StoredLogin(login_key(settings), secrets.token_hex(8), token.refresh_token, now)
    path = state_dir / LOGIN_NAME
    if not write_private(path, login_to_json(login)):
        raise OAuth2Error(f"cannot write {path}: check the state directory's owner and mode")
    owner = state_dir.stat()
    if (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(path, owner.st_uid, owner.st_gid)
        except OSError as exc:
            raise OAuth2Error(
                f"cannot give {path} to the state directory's owner (uid {owner.st_uid}):"
                f" {exc.strerror}; run mailbot oauth login as that user or as root"
            ) from None
    return path
