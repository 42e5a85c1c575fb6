"""A small OAuth2 authorization server for the tests, on 127.0.0.1 in a thread.

It issues opaque bearer tokens the way an RFC 6749 token endpoint does, and
answers token introspection (RFC 7662) the way Dovecot's ``oauth2`` passdb asks
for it (``introspection_mode = post``: a form with ``token=...``), so the
suite's Dovecot and aiosmtpd check the very tokens mailbot obtained.

- ``POST /token``: ``grant_type=client_credentials`` with ``client_id`` and
  ``client_secret`` (in the form or as HTTP Basic, RFC 6749 section 2.3.1), or
  ``grant_type=refresh_token`` with a ``refresh_token`` the server issued.
  Answers ``{"access_token", "token_type": "Bearer", "expires_in", "scope"}``,
  or an RFC 6749 section 5.2 error (``invalid_client`` 401, ``invalid_grant``
  400, ...) with an ``error_description``.
- ``POST /introspect`` (or ``GET /introspect?token=...``): ``{"active": true,
  "username": ..., "exp": ...}`` for a live token, ``{"active": false}`` else.

- Microsoft Entra ID's endpoints as msal uses them, served over HTTPS (``https_url``,
  a certificate of the tests' own, ``ca_file``): ``GET /{tenant}/v2.0/.well-known/
  openid-configuration`` for the tenants added (``add_tenant``; another tenant gets
  Entra's 400 ``invalid_tenant`` AADSTS90002) and ``POST /{tenant}/oauth2/v2.0/token``,
  client credentials with the scope ``https://outlook.office365.com/.default``, whose
  refusals are worded as Entra's (``invalid_client`` with AADSTS7000215 for a wrong
  secret, a trace id and timestamp that change every time).

- Google's JWT-bearer grant (RFC 7523) at ``/token``, as google-auth's service account
  sends it: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an
  ``assertion`` whose RS256 signature is checked with the key of the service account
  added (``add_service_account``), its ``aud`` Google's token endpoint, its ``scope``
  one the account is delegated (domain-wide delegation), its ``sub`` a user of the domain
  (``google_users``); the token is for ``sub``. Refusals are worded as Google's.

- The logins of ``mailbot oauth login``: the device authorization grant (RFC 8628) at
  ``POST /device`` (and Entra's ``/{tenant}/oauth2/v2.0/devicecode``), polled at the token
  endpoint with ``grant_type=urn:ietf:params:oauth:grant-type:device_code``: pending until
  a test ``approve``s (or ``deny``s) the user code, as the user would in a browser; the
  installed app's authorization code with PKCE (RFC 7636): ``GET /authorize`` sends the
  browser back to its ``redirect_uri`` with a code for ``consenting_user`` (302), which
  ``grant_type=authorization_code`` exchanges with the right ``code_verifier``. Both answer
  a refresh token too. Entra's token endpoint takes the device code and refresh tokens of
  a public client (no secret) as well.

Time is the server's own settable clock (``advance``), never a sleep: a token
whose lifetime has passed on that clock is expired. ``expire`` and ``revoke``
end tokens at once; ``requests`` counts the token endpoint's answers per grant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass
class _Token:
    username: str
    expires_at: float
    scope: str


@dataclass
class _Device:
    client_id: str
    user_code: str
    username: str = ""  # who approved it, "" while pending
    denied: bool = False


@dataclass
class OAuth2Server:
    """The server's state; every method is safe to call from any thread."""

    host: str = "127.0.0.1"
    port: int = 0
    # How long an access token lives, in seconds of the server's clock.
    lifetime: int = 3600
    now: float = 1_000_000.0
    # client_id -> (client_secret, the mailbox its client-credentials tokens are for).
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    # Answer a refresh with a new refresh token and revoke the old one (RFC 6749 section 6).
    rotate_refresh_tokens: bool = False
    # Microsoft tenants whose OpenID configuration is served (add_tenant).
    tenants: set[str] = field(default_factory=set)
    # The forms the token endpoints were sent, in order (for tests of what a library sends).
    forms: list[dict[str, str]] = field(default_factory=list)
    # Service accounts: client_email -> (public key PEM, the scopes delegated to it).
    service_accounts: dict[str, tuple[bytes, frozenset[str]]] = field(default_factory=dict)
    # The users of the Google Workspace domain a service account may act for.
    google_users: set[str] = field(default_factory=set)
    tls_port: int = 0
    ca_file: str = ""
    # The poll interval a device authorization answers (seconds), and how many polls are
    # answered slow_down before the usual answers.
    device_interval: int = 1
    slow_downs: int = 0
    # Who signs in at /authorize (the installed app's consent), and who approves each new
    # device code at once ("": nobody; the test calls approve).
    consenting_user: str = ""
    approving_user: str = ""
    _devices: dict[str, _Device] = field(default_factory=dict)
    _codes: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    _access: dict[str, _Token] = field(default_factory=dict)
    _refresh: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (client_id, user)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def https_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    # --- what a test does to the server ------------------------------------------------

    def add_client(self, client_id: str, secret: str, *, username: str) -> None:
        """A client whose client-credentials tokens log in as ``username``."""
        with self._lock:
            self.clients[client_id] = (secret, username)

    def add_tenant(self, tenant: str) -> None:
        """A Microsoft tenant: its OpenID configuration and token endpoint answer."""
        with self._lock:
            self.tenants.add(tenant)

    def add_service_account(
        self, email: str, public_key: bytes, *, scopes: tuple[str, ...]
    ) -> None:
        """A Google service account (its public key, PEM) delegated ``scopes`` domain-wide."""
        with self._lock:
            self.service_accounts[email] = (public_key, frozenset(scopes))

    def issue_refresh_token(self, client_id: str, username: str) -> str:
        """A refresh token for ``username``, as a user's consent would give one."""
        token = "rt-" + secrets.token_urlsafe(16)
        with self._lock:
            self._refresh[token] = (client_id, username)
        return token

    def issue_access_token(self, username: str, *, scope: str = "") -> str:
        """An access token for ``username`` straight away (for tests of the servers)."""
        with self._lock:
            return self._new_access(username, scope)

    def approve(self, user_code: str, username: str) -> None:
        """The user entered ``user_code`` and signed in as ``username``."""
        with self._lock:
            next(d for d in self._devices.values() if d.user_code == user_code).username = username

    def deny(self, user_code: str) -> None:
        """The user declined the sign-in of ``user_code``."""
        with self._lock:
            next(d for d in self._devices.values() if d.user_code == user_code).denied = True

    def device_authorization(self, form: dict[str, str], base: str) -> dict[str, Any]:
        """A device code for ``client_id`` (RFC 8628 section 3.2)."""
        device, user = secrets.token_urlsafe(24), secrets.token_hex(4).upper()
        with self._lock:
            self._devices[device] = _Device(form.get("client_id", ""), user, self.approving_user)
        return {"device_code": device, "user_code": user, "verification_uri": f"{base}/activate",
                "expires_in": 900, "interval": self.device_interval}  # fmt: skip

    def authorize(self, query: dict[str, str]) -> str:
        """Where /authorize sends the browser: the redirect_uri with a code and the state."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (query.get("client_id", ""), query.get("redirect_uri", ""),
                                 query.get("code_challenge", ""), self.consenting_user)  # fmt: skip
        return f"{query.get('redirect_uri', '')}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def advance(self, seconds: float) -> None:
        """Move the server's clock: tokens past their lifetime expire."""
        with self._lock:
            self.now += seconds

    def expire(self, token: str | None = None) -> None:
        """Expire one access token, or every one issued so far."""
        with self._lock:
            for name, issued in self._access.items():
                if token is None or name == token:
                    issued.expires_at = self.now

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (consent withdrawn) or an access token."""
        with self._lock:
            self._refresh.pop(token, None)
            self._access.pop(token, None)

    def issued(self) -> list[str]:
        """Every access token issued so far (for tests that look for leaks)."""
        with self._lock:
            return list(self._access)

    def introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            issued = self._access.get(token)
            if issued is None or issued.expires_at <= self.now:
                return {"active": False}
            return {
                "active": True,
                "username": issued.username,
                "scope": issued.scope,
                "exp": int(issued.expires_at),
                "token_type": "Bearer",
            }

    def username_of(self, token: str) -> str | None:
        """The user a live access token is for, None for a dead or unknown one."""
        found = self.introspect(token)
        return str(found["username"]) if found["active"] else None

    # --- the token endpoint ---------------------------------------------------------------

    def grant(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """The token endpoint's answer (status, JSON) to one request."""
        grant_type = form.get("grant_type", "")
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        with self._lock:
            self.requests[grant_type] += 1
            checked = self._user_of(grant_type, form, client_id, secret)
            if isinstance(checked, tuple):
                return checked
            scope = form.get("scope", "")
            answer = {
                "access_token": self._new_access(checked, scope),
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "scope": scope,
            }
            rotate = grant_type == "refresh_token" and self.rotate_refresh_tokens
            if rotate:
                del self._refresh[form["refresh_token"]]
            if rotate or grant_type in (DEVICE_CODE, "authorization_code"):
                answer["refresh_token"] = "rt-" + secrets.token_urlsafe(16)
                self._refresh[answer["refresh_token"]] = (client_id, checked)
        return 200, answer

    def _user_of(  # noqa: PLR0911 -- one answer per grant type
        self, grant_type: str, form: dict[str, str], client_id: str, secret: str
    ) -> str | tuple[int, dict[str, Any]]:
        """Whom a grant gives a token for, or the refusal (lock held)."""
        if grant_type == "client_credentials":
            known = self.clients.get(client_id)
            if known is None or known[0] != secret:
                return _error(401, "invalid_client", "Client authentication failed.")
            return known[1]
        if grant_type == "refresh_token":
            owner = self._refresh.get(form.get("refresh_token", ""))
            if owner is None:
                return _error(400, "invalid_grant", "The refresh token is invalid, expired or revoked.")  # fmt: skip
            return owner[1]
        if grant_type == DEVICE_CODE:
            return self._device_code(form.get("device_code", ""))
        if grant_type == "authorization_code":
            return self._authorization_code(form, client_id, secret)
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion", ""))
        return _error(400, "unsupported_grant_type", f"grant_type {grant_type!r}.")

    def _device_code(self, code: str) -> str | tuple[int, dict[str, Any]]:
        """The user who approved ``code``, or the poll's RFC 8628 answer (lock held)."""
        device = self._devices.get(code)
        if device is None:
            return _error(400, "expired_token", "The device code has expired.")
        if self.slow_downs > 0:
            self.slow_downs -= 1
            return _error(400, "slow_down", "Polling too fast.")
        if device.denied:
            return _error(400, "access_denied", "The user declined the sign-in.")
        if not device.username:
            return _error(400, "authorization_pending", "The user has not yet signed in.")
        del self._devices[code]
        return device.username

    def _authorization_code(
        self, form: dict[str, str], client_id: str, secret: str
    ) -> str | tuple[int, dict[str, Any]]:
        """The user an authorization code was given to, checked with PKCE (lock held)."""
        issued = self._codes.pop(form.get("code", ""), None)
        known = self.clients.get(client_id)
        if known is None or known[0] != secret:
            return _error(401, "invalid_client", "The OAuth client was not found.")
        if issued is None or issued[:2] != (client_id, form.get("redirect_uri")):
            return _error(400, "invalid_grant", "Malformed auth code.")
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge.decode() != issued[2]:
            return _error(400, "invalid_grant", "Invalid code verifier.")
        return issued[3]

    def _jwt_bearer(self, assertion: str) -> str | tuple[int, dict[str, Any]]:  # noqa: PLR0911 -- one refusal per check, as Google words them
        """The user an RFC 7523 assertion acts for, or Google's refusal (lock held)."""
        try:
            head, body, signature = assertion.split(".")
            claims = json.loads(_unbase64(body))
            known = self.service_accounts.get(claims.get("iss", ""))
            if known is None:
                return _error(400, "invalid_grant", "Invalid grant: account not found")
            key = serialization.load_pem_public_key(known[0])
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(_unbase64(signature), f"{head}.{body}".encode(), padding.PKCS1v15(),
                       hashes.SHA256())  # fmt: skip
        except (ValueError, InvalidSignature):
            return _error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return _error(400, "invalid_grant", "Invalid JWT: audience.")
        if not claims.get("exp", 0) > claims.get("iat", 0):
            return _error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token.")
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes or not scopes <= known[1]:
            return _error(401, "unauthorized_client", "Client is unauthorized to retrieve"
                          " access tokens using this method, or client not authorized for any"
                          " of the scopes requested.")  # fmt: skip
        if claims.get("sub") not in self.google_users:
            return _error(400, "invalid_grant", "Invalid email or User ID")
        return str(claims["sub"])

    def _new_access(self, username: str, scope: str) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        self._access[token] = _Token(username, self.now + self.lifetime, scope)
        return token


JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# What google-auth puts in a service account's assertion as its audience, whatever the
# key file's token_uri (Google's token endpoint checks it).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def _unbase64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _error(status: int, code: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": code, "error_description": description}


MICROSOFT_SCOPE = "https://outlook.office365.com/.default"


def _entra_error(status: int, code: str, number: int, words: str) -> tuple[int, dict[str, Any]]:
    """A refusal worded as Microsoft Entra ID's: its AADSTS code, a new trace id each time."""
    trace = secrets.token_hex(16)
    description = (
        f"AADSTS{number}: {words} Trace ID: {trace} Correlation ID: {secrets.token_hex(16)}"
        f" Timestamp: 2026-12-06 10:{secrets.randbelow(60):02d}:00Z"
    )
    return status, {"error": code, "error_description": description, "error_codes": [number],
                    "trace_id": trace}  # fmt: skip


def _microsoft(
    state: OAuth2Server, path: str, form: dict[str, str], base: str
) -> tuple[int, dict[str, Any]] | None:
    """Entra ID's answers at ``/{tenant}/...``, None for another path."""
    parts = path.strip("/").split("/")
    if len(parts) < 2:
        return None
    tenant, rest = parts[0], "/".join(parts[1:])
    if rest not in ("v2.0/.well-known/openid-configuration", "oauth2/v2.0/token",
                    "oauth2/v2.0/devicecode"):  # fmt: skip
        return None
    if tenant not in state.tenants:
        return _entra_error(400, "invalid_tenant", 90002,
                            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.")  # fmt: skip
    if rest.startswith("v2.0/"):
        return 200, {
            "issuer": f"{base}/{tenant}/v2.0",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        }
    if rest.endswith("devicecode"):
        answer = state.device_authorization(form, "https://microsoft.com")
        answer["verification_uri"] += "/devicelogin"
        answer["message"] = (f"To sign in, use a web browser to open the page {answer['verification_uri']}"
                             f" and enter the code {answer['user_code']} to authenticate.")  # fmt: skip
        return 200, answer
    return _entra_token(state, tenant, form)


def _entra_token(
    state: OAuth2Server, tenant: str, form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """Entra ID's token endpoint: client credentials for the Exchange Online scope; a public
    client's device code and refresh tokens (the user's own access)."""
    if form.get("grant_type") in (DEVICE_CODE, "refresh_token"):
        return state.grant(form, None)
    if form.get("grant_type") != "client_credentials":
        return _entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")  # fmt: skip
    with state._lock:
        known = state.clients.get(form.get("client_id", ""))
    if known is None:
        return _entra_error(400, "unauthorized_client", 700016,
                            f"Application with identifier '{form.get('client_id')}' was not found in the directory '{tenant}'.")  # fmt: skip
    if known[0] != form.get("client_secret"):
        return _entra_error(401, "invalid_client", 7000215,
                            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")  # fmt: skip
    if form.get("scope") != MICROSOFT_SCOPE:
        return _entra_error(400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} is not valid.")  # fmt: skip
    return state.grant(form, None)


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestOAuth2/1"
    state: OAuth2Server  # set on the subclass made for each server
    tls = False  # set on the subclass of the HTTPS listener

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        form = {key: values[0] for key, values in parse_qs(body).items()}
        self._answer(urlsplit(self.path).path, form)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self._answer(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})

    def _answer(self, path: str, form: dict[str, str]) -> None:
        if self.command == "POST":
            with self.state._lock:
                self.state.forms.append(form)
        scheme = "https" if self.tls else "http"
        entra = _microsoft(self.state, path, form, f"{scheme}://{self.headers.get('Host')}")
        if entra is not None:
            status, answer = entra
        elif path == "/token" and self.command == "POST":
            status, answer = self.state.grant(form, self._basic())
        elif path == "/device" and self.command == "POST":
            status, answer = 200, self.state.device_authorization(form, self.state.url)
        elif path == "/authorize":
            self.send_response(302)
            self.send_header("Location", self.state.authorize(form))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif path == "/introspect":
            status, answer = 200, self.state.introspect(form.get("token", "") or self._bearer())
        else:
            status, answer = 404, {"error": "not_found"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return unquote(user), unquote(password)

    def _bearer(self) -> str:
        header = self.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not every request


def serve(state: OAuth2Server, *, tls: tuple[Path, Path] | None = None) -> Iterator[OAuth2Server]:
    """Run ``state`` on a free port of 127.0.0.1 until the generator is closed; with ``tls``
    (a certificate and its key, PEM) on a second port over HTTPS too (``https_url``)."""
    listeners = [_listen(state, tls=None)]
    state.port = listeners[0][0].server_address[1]
    if tls is not None:
        listeners.append(_listen(state, tls=tls))
        state.tls_port, state.ca_file = listeners[1][0].server_address[1], str(tls[0])
    try:
        yield state
    finally:
        for httpd, thread in listeners:
            httpd.shutdown()
            httpd.server_close()
            thread.join()


def _listen(
    state: OAuth2Server, *, tls: tuple[Path, Path] | None
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("Handler", (_Handler,), {"state": state, "tls": tls is not None})
    httpd = ThreadingHTTPServer((state.host, 0), handler)
    httpd.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls[0], tls[1])
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, name="oauth2-server", daemon=True)
    thread.start()
    return httpd, thread
