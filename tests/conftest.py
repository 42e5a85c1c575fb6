"""Real servers for the adapter tests: a private Dovecot and an aiosmtpd sink.

One Dovecot runs per test session (starting and stopping it takes about a
second); every test gets its own Dovecot user, so tests never see each
other's mail. See /work/shared/DOVECOT_FOR_TESTS.md for why the Dovecot
settings below are as they are.

Dovecot also takes OAuth2 logins (XOAUTH2, OAUTHBEARER), asking the session's
OAuth2 server (tests/oauth2_server.py) about each token; ``oauth2_smtp_sink`` is
an SMTP sink that wants such a login.

Sections: helpers, Dovecot, IMAP peer, SMTP sink, OAuth2. Add other fixtures (the
database ones, for example) in a section of their own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from imapclient import IMAPClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel, create_engine

from mailbot.adapters import db as repo
from mailbot.adapters.db import schema
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings
from mailbot.usecases.desk import Desk
from tests import factories
from tests.oauth2_server import OAuth2Server, serve

# --- helpers -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_greeting(host: str, port: int, *, timeout: float = 10.0) -> None:
    """Wait until an IMAP server on host:port sends its ``* OK`` greeting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with (
                socket.create_connection((host, port), timeout=1.0) as conn,
                conn.makefile("rb") as replies,
            ):
                if replies.readline().startswith(b"* OK"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no IMAP greeting on {host}:{port} after {timeout} s")
        time.sleep(0.02)


# --- Dovecot -----------------------------------------------------------------------------

DOVECOT_CONF = """\
instance_name = mailbot-test-{port}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/log/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
first_valid_gid = 1
ssl = yes
ssl_cert = <{dir}/ssl/cert.pem
ssl_key = <{dir}/ssl/key.pem
disable_plaintext_auth = no
auth_mechanisms = {auth_mechanisms}
# A failed login answers at once, and failures do not slow later logins from 127.0.0.1:
# no growing auth penalty (it is on even for login_trusted_networks in 2.3).
auth_failure_delay = 0
# One passwd-file per user: Dovecot stats a passwd-file at most once a second, so a
# user appended to a shared file may be unknown for that second; a new file is read at once.
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {dir}/users/%u
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={dir}/mail/%u
}}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service ipc {{
  chroot =
}}
service old-stats {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"""

# Tokens (XOAUTH2, OAUTHBEARER) are asked about at the tests' OAuth2 server (oauth2_server),
# by RFC 7662 introspection: the token's "username" must be the login's user, "active" true.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/dovecot-oauth2.conf.ext
}}
"""

OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {introspection_url}
username_attribute = username
active_attribute = active
active_value = true
"""


@dataclass(frozen=True)
class DovecotAccounts:
    """Who runs what: as root the package's users (mail may not be owned by root), else us."""

    login_user: str
    internal_user: str
    internal_group: str
    mail_uid: int
    mail_gid: int

    @classmethod
    def for_current_user(cls) -> DovecotAccounts:
        import grp  # noqa: PLC0415 - POSIX-only modules, needed only here
        import pwd  # noqa: PLC0415

        if os.geteuid() == 0:
            dovecot = pwd.getpwnam("dovecot")
            return cls(
                login_user="dovenull",
                internal_user="dovecot",
                internal_group=grp.getgrgid(dovecot.pw_gid).gr_name,
                mail_uid=dovecot.pw_uid,
                mail_gid=dovecot.pw_gid,
            )
        me = pwd.getpwuid(os.geteuid())
        return cls(
            login_user=me.pw_name,
            internal_user=me.pw_name,
            internal_group=grp.getgrgid(os.getegid()).gr_name,
            mail_uid=me.pw_uid,
            mail_gid=os.getegid(),
        )


@dataclass
class Dovecot:
    """A running private Dovecot: plain IMAP on ``port``, IMAPS on ``tls_port``."""

    directory: Path
    host: str
    port: int
    tls_port: int
    doveadm_path: str

    @property
    def config(self) -> Path:
        return self.directory / "dovecot.conf"

    @property
    def users_dir(self) -> Path:
        return self.directory / "users"

    @property
    def log_file(self) -> Path:
        return self.directory / "log" / "dovecot.log"

    def add_user(self, name: str, password: str) -> None:
        """Add an account, usable at once (no restart, no waiting).

        Each user has a passwd-file of their own (``users/NAME``): Dovecot
        re-reads a changed passwd-file, but checks at most once a second, so a
        line appended to a shared file can be unknown for up to a second.
        """
        # The name becomes a file name, and the passwd-file format is colon-separated.
        if not re.fullmatch(r"\w[\w.-]*", name, re.ASCII) or re.search(r"[:\s]", password):
            raise ValueError("user names: letters, digits, _ . - ; passwords: no ':' or space")
        fd, temp = tempfile.mkstemp(dir=self.users_dir, prefix=".new-")
        with os.fdopen(fd, "w") as out:
            out.write(f"{name}:{{PLAIN}}{password}::::::\n")
        # Read by the auth process, which runs as the internal user, not root.
        os.chmod(temp, 0o644)
        os.replace(temp, self.users_dir / name)  # whole or absent, never half a line

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm`` against this instance and return its standard output."""
        done = subprocess.run(
            [self.doveadm_path, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        """Start it again after ``stop()``: the same ports, folder, users and mail."""
        dovecot_path = _find_program("dovecot")
        if dovecot_path is None:
            pytest.fail("Dovecot is not installed (apt-get install dovecot-imapd)")
        _start_dovecot(self, dovecot_path)

    def stop(self, *, timeout: float = 10.0) -> None:
        pid_file = self.directory / "run" / "master.pid"
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            return
        deadline = time.monotonic() + timeout
        while _running(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Dovecot (pid {pid}) still running {timeout} s after SIGTERM")
            time.sleep(0.02)


def _running(pid: int) -> bool:
    """Whether the process lives. A zombie does not: the daemonised master is not our
    child, and a container's init may take a second to reap it."""
    if Path("/proc/self/stat").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _find_program(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/usr/bin") if (p := Path(d, name)).exists()), None
    )


def _make_certificate(ssl_dir: Path) -> None:
    """A throw-away self-signed certificate for 127.0.0.1 and localhost."""
    openssl = _find_program("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make Dovecot's test certificate")
    ssl_dir.mkdir()
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(ssl_dir / "key.pem"), "-out", str(ssl_dir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _prepare_dovecot_dir(
    directory: Path,
    accounts: DovecotAccounts,
    ports: tuple[int, int],
    *,
    introspection_url: str = "",
    token_mechanisms: str = "xoauth2 oauthbearer",
) -> None:
    # mkdtemp makes a 0700 folder: Dovecot's unprivileged processes must traverse it.
    directory.chmod(0o755)
    for parent in directory.parents:
        if not os.stat(parent).st_mode & 0o001:
            pytest.fail(f"{parent} is not traversable by Dovecot's users; set TMPDIR=/tmp")
    (directory / "log").mkdir()
    mail = directory / "mail"
    mail.mkdir()
    os.chown(mail, accounts.mail_uid, accounts.mail_gid)
    _make_certificate(directory / "ssl")
    text = DOVECOT_CONF.format(
        dir=directory,
        port=ports[0],
        tls_port=ports[1],
        login_user=accounts.login_user,
        internal_user=accounts.internal_user,
        internal_group=accounts.internal_group,
        mail_uid=accounts.mail_uid,
        mail_gid=accounts.mail_gid,
        oauth2_passdb=OAUTH2_PASSDB.format(dir=directory) if introspection_url else "",
        auth_mechanisms="plain login " + (token_mechanisms if introspection_url else ""),
    )
    (directory / "dovecot.conf").write_text(text)
    if introspection_url:
        oauth2 = directory / "dovecot-oauth2.conf.ext"
        oauth2.write_text(OAUTH2_CONF.format(introspection_url=introspection_url))
        oauth2.chmod(0o644)  # read by the auth process, which runs as the internal user
    (directory / "users").mkdir(mode=0o755)


def _start_dovecot(server: Dovecot, dovecot_path: str) -> None:
    output = server.directory / "log" / "dovecot.out"
    with output.open("wb") as out:
        # The daemonised master keeps the caller's stderr open: never hand it pytest's.
        started = subprocess.run(
            [dovecot_path, "-c", str(server.config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if started.returncode != 0:
        raise RuntimeError(f"dovecot did not start:\n{output.read_text()}")
    try:
        wait_for_greeting(server.host, server.port)
    except TimeoutError as exc:
        server.stop()
        log = server.log_file.read_text() if server.log_file.exists() else ""
        raise RuntimeError(f"{exc}\n{log}") from exc


@contextmanager
def private_dovecot(
    *, introspection_url: str = "", token_mechanisms: str = "xoauth2 oauthbearer"
) -> Iterator[Dovecot]:
    """Start a private Dovecot in a temporary folder; stop it and remove the folder after.

    With ``introspection_url``, logins with a token (``token_mechanisms``) are checked there."""
    dovecot_path, doveadm_path = _find_program("dovecot"), _find_program("doveadm")
    if dovecot_path is None or doveadm_path is None:
        pytest.fail("Dovecot is not installed (apt-get install dovecot-imapd)")
    directory = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
    ports = (free_port(), free_port())
    server = Dovecot(directory, "127.0.0.1", ports[0], ports[1], doveadm_path)
    try:
        _prepare_dovecot_dir(
            directory,
            DovecotAccounts.for_current_user(),
            ports,
            introspection_url=introspection_url,
            token_mechanisms=token_mechanisms,
        )
        _start_dovecot(server, dovecot_path)
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot(oauth2_session_server: OAuth2Server) -> Iterator[Dovecot]:
    """A private Dovecot for the whole session; give each test its own user.

    Its users log in with their password, or with a token of the session's OAuth2 server."""
    with private_dovecot(introspection_url=oauth2_session_server.introspection_url) as server:
        yield server


# --- IMAP: a fresh account per test, and a plain client to look into it ------------------


@pytest.fixture
def imap_settings(dovecot: Dovecot) -> ImapSettings:
    """Settings for a brand-new Dovecot user, plain IMAP on the non-TLS port."""
    return new_account(dovecot)


def new_account(dovecot: Dovecot) -> ImapSettings:
    """A brand-new user of ``dovecot`` and the settings to read its inbox (plain IMAP)."""
    user = f"u{uuid.uuid4().hex[:12]}"
    password = f"pw-{uuid.uuid4().hex[:12]}"
    dovecot.add_user(user, password)
    return ImapSettings(
        host=dovecot.host,
        port=dovecot.port,
        username=user,
        password=password,
        tls="none",
        verify_tls=False,
        folder="INBOX",
        processed_folder="Processed",
        quarantine_folder="Quarantine",
        poll_interval=timedelta(seconds=1),
        url="",
    )


_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


class ImapPeer:
    """The test's own view of the account, straight through imapclient.

    Puts mail in (``append``) and looks at where it ended up (``messages``,
    ``flags``, ``folders``) without going through the adapter under test.
    """

    def __init__(self, settings: ImapSettings) -> None:
        self.client: Any = IMAPClient(settings.host, port=settings.port, ssl=False, timeout=10)
        self.client.normalise_times = False
        self.client.login(settings.username, settings.password)

    def append(
        self,
        raw: bytes,
        *,
        folder: str = "INBOX",
        flags: Sequence[str] = (),
        received_at: datetime | None = None,
    ) -> int:
        """APPEND a mail; returns its UID (Dovecot answers with APPENDUID, RFC 4315).

        ``received_at`` sets the INTERNALDATE, the moment the mailbox got the mail.
        """
        response = self.client.append(folder, raw, flags=tuple(flags), msg_time=received_at)
        found = _APPENDUID.search(response)
        assert found, f"no APPENDUID in {response!r}"
        return int(found.group(1))

    def messages(self, folder: str = "INBOX") -> list[tuple[int, bytes]]:
        """(uid, raw bytes) of every mail in ``folder``, ascending; does not set \\Seen."""
        self.client.select_folder(folder, readonly=True)
        fetched = self.client.fetch(self.client.search("ALL"), ["BODY.PEEK[]"])
        # A mail another session expunged meanwhile comes back without a body (Dovecot
        # answers NIL while the expunge is not yet announced to this session): it is gone.
        return [
            (int(uid), bytes(data[b"BODY[]"]))
            for uid, data in sorted(fetched.items())
            if data.get(b"BODY[]") is not None
        ]

    def flags(self, uid: int, *, folder: str = "INBOX") -> tuple[bytes, ...]:
        self.client.select_folder(folder, readonly=True)
        return tuple(self.client.get_flags([uid]).get(uid, ()))

    def folders(self) -> set[str]:
        return {name for _flags, _delimiter, name in self.client.list_folders()}

    def close(self) -> None:
        try:
            self.client.logout()
        except (OSError, IMAPClient.Error):
            self.client.shutdown()


@pytest.fixture
def imap_client(imap_settings: ImapSettings) -> Iterator[ImapPeer]:
    """An ``ImapPeer`` logged in as the ``imap_settings`` user."""
    peer = ImapPeer(imap_settings)
    yield peer
    peer.close()


# --- SMTP: a real server that records what it is sent -------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


class RecordingHandler:
    """aiosmtpd handler keeping every envelope; read from any thread through ``messages``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []
        self._arrived = threading.Condition(self._lock)
        # Tests may set another reply, e.g. "550 5.1.1 No such user" or "451 4.3.0 Try later".
        self.reply = "250 2.0.0 OK"
        # And refuse recipients: address -> reply, e.g. {"x@y.pl": "550 5.1.1 No such user"}.
        self.refuse: dict[str, str] = {}
        # DATA waits (5 s at most) until this many sessions are in DATA at once: parallel
        # sending proven without timing anything. The most seen at once is in most_in_data.
        self.hold_data = 0
        self.most_in_data = 0
        self._in_data = 0
        self._all_in = asyncio.Event()
        # The SMTP sessions opened (one EHLO each), NOOPs and QUITs received, and
        # the server side of each session, so that a test can drop them.
        self.sessions = 0
        self.noops = 0
        self.quits = 0
        self._servers: list[Any] = []

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # aiosmtpd leaves this to a handler that has the hook
        with self._lock:
            self.sessions += 1
            self._servers.append(server)
        return responses

    async def handle_NOOP(self, server: Any, session: Any, envelope: Any, arg: str) -> str:
        with self._lock:
            self.noops += 1
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.quits += 1
        return "221 Bye"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._in_data += 1  # (the server's event loop runs every hook: no lock needed)
        self.most_in_data = max(self.most_in_data, self._in_data)
        try:
            if self._in_data >= self.hold_data:
                self._all_in.set()
            await asyncio.wait_for(self._all_in.wait(), 5.0)
        except TimeoutError:
            return "451 4.3.0 Never had enough sessions in DATA at once"
        finally:
            self._in_data -= 1
        content = envelope.original_content or b""
        with self._arrived:
            if self.reply.startswith("2"):
                self._received.append(
                    ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content))
                )
                self._arrived.notify_all()
            return self.reply

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    def drop_connections(self) -> None:
        """Close every open session from the server's side, as a server does to idle clients."""
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            if server.transport is not None:
                server.loop.call_soon_threadsafe(server.transport.close)

    def wait_for(self, count: int, *, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until at least ``count`` mails arrived; returns them all."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(f"{len(self._received)} of {count} mails after {timeout} s")
            return list(self._received)


@dataclass
class SmtpSink:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the mails accepted so far (a copy: safe to read while mail arrives)."""
        return self.handler.messages

    def wait_for(self, count: int, *, timeout: float = 5.0) -> list[ReceivedMail]:
        return self.handler.wait_for(count, timeout=timeout)

    def not_to(self, *addresses: str) -> list[ReceivedMail]:
        """The mails for anyone but ``addresses`` (e.g. customers' mail, without staff's)."""
        return [m for m in self.messages if not set(m.rcpt_tos) & set(addresses)]

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def of_kind(self, *kinds: str) -> list[ReceivedMail]:
        """The mails mailbot marked (X-Mailbot-Kind) as one of ``kinds``: ack, relay, reminder..."""
        wanted = {k.encode() for k in kinds}
        return [m for m in self.messages if _kind(m.content) in wanted]

    def reply_with(self, reply: str) -> None:
        """Answer DATA with ``reply`` from now on (a 4xx or 5xx to test failures)."""
        self.handler.reply = reply


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on 127.0.0.1 recording every mail; stopped after the test."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink(controller.hostname, controller.port, handler)
    finally:
        controller.stop()


class OAuth2RecordingHandler(RecordingHandler):
    """A ``RecordingHandler`` whose server takes XOAUTH2 logins, checking each token at the
    tests' OAuth2 server: the user must be the token's, the token live."""

    def __init__(self, oauth2: OAuth2Server) -> None:
        super().__init__()
        self.oauth2 = oauth2
        # (user, accepted) of every XOAUTH2 attempt, in order.
        self.logins: list[tuple[str, bool]] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        blob = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        fields = dict(
            part.split("=", 1) for part in bytes(blob).decode().split("\x01") if "=" in part
        )
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        accepted = bool(user) and self.oauth2.username_of(token) == user
        with self._lock:
            self.logins.append((user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        # As Gmail and Exchange Online do: the error as a base64 JSON challenge, which the
        # client answers with an empty line, then 535 (developers.google.com xoauth2-protocol).
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "mail"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False)  # not handled: aiosmtpd answers 535

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        # aiosmtpd's auth_required insists on TLS too (a warning, an error under pytest).
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


@pytest.fixture
def oauth2_smtp_sink(oauth2_server: OAuth2Server) -> Iterator[SmtpSink]:
    """An SMTP sink that requires an XOAUTH2 login with a live token of ``oauth2_server``
    (``handler.logins`` lists the attempts); no TLS, as the plain sink."""
    handler = OAuth2RecordingHandler(oauth2_server)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpSink(controller.hostname, controller.port, handler)
    finally:
        controller.stop()


# --- OAuth2: a token endpoint and token introspection (tests/oauth2_server.py) ------------


@pytest.fixture(scope="session")
def oauth2_session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth2Server]:
    """The OAuth2 server of the whole session (the OAuth Dovecot asks it about tokens), on
    HTTPS too (Microsoft's endpoints, which msal only reaches over HTTPS)."""
    directory = tmp_path_factory.mktemp("oauth2")
    _make_certificate(directory / "ssl")
    tls = (directory / "ssl" / "cert.pem", directory / "ssl" / "key.pem")
    yield from serve(OAuth2Server(), tls=tls)


@pytest.fixture
def oauth2_server(oauth2_session_server: OAuth2Server) -> Iterator[OAuth2Server]:
    """The session's OAuth2 server, its token lifetime back to an hour after the test."""
    server = oauth2_session_server
    server.lifetime, server.rotate_refresh_tokens = 3600, False
    yield server
    server.lifetime, server.rotate_refresh_tokens = 3600, False
    server.device_interval, server.slow_downs = 1, 0
    server.consenting_user = server.approving_user = ""


# --- databases: SQLite always, PostgreSQL when MAILBOT_TEST_DATABASE_URL names one ---------

POSTGRES_URL = os.environ.get("MAILBOT_TEST_DATABASE_URL", "")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """The PostgreSQL test database, in a schema of this test run's own.

    Two test runs on one machine (a developer's and CI's, or parallel helpers)
    share the server's ``test`` database; each gets its own schema through
    ``search_path`` and drops it at the end.
    """
    schema = f"mailbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or this run's PostgreSQL schema emptied.

    ./tests/run sets MAILBOT_TEST_DATABASE_URL when a server answers on
    127.0.0.1:5432, so CI runs every test that takes this fixture on both.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbot.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    engine = create_engine(url)
    _drop_everything(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, copied for each test."""
    path = tmp_path_factory.mktemp("schema") / "head.db"
    engine = create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest schema revision and without rows, like a new install's.

    Migrating takes about 0.1 s a test, so the migrations run once per session
    (a SQLite file copied; PostgreSQL's tables emptied between tests);
    tests/adapters/test_migrations.py runs them on empty databases (``empty_database_url``).
    """
    if request.param == "sqlite":
        path = tmp_path / "mailbot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_at_head"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_schema_url")
    engine = create_engine(url)
    try:
        if schema.current_revision(engine) == schema.head_revision():
            tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:  # a migration test left an older or a broken schema
            _drop_everything(engine)
            schema.upgrade(engine)
    finally:
        engine.dispose()
    return url


def _drop_everything(engine: Any) -> None:
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:  # the schema's revision goes too (db/migrations)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


# --- the desk under test: real Dovecot account, SMTP sink and database ------------------


@pytest.fixture
def desk(
    imap_settings: ImapSettings, smtp_sink: SmtpSink, database_url: str, tmp_path: Path
) -> Iterator[Desk]:
    """The desk of the test's Dovecot account and SMTP sink, with two contracts, at NOW."""
    desk = build_desk(
        factories.make_settings(imap_settings, smtp_sink, database_url, tmp_path),
        clock=lambda: factories.NOW,
    )
    with Session(desk.engine) as session:
        repo.import_contracts([factories.VIP, factories.WARRANTY], session=session)
        session.commit()
    yield desk
    desk.engine.dispose()


def _kind(content: bytes) -> bytes:
    found = re.search(rb"^X-Mailbot-Kind: (\S+)", content, re.MULTILINE)
    return found.group(1) if found else b""
