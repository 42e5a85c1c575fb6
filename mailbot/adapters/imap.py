"""The support inbox on an IMAP server, through imapclient.

Rules this adapter keeps:

- TLS is never silently dropped: with ``tls = "starttls"`` a failed or
  missing STARTTLS stops before LOGIN, so the password never crosses the
  wire in clear text.
- Mails are read with ``BODY.PEEK[]``, so reading does not set ``\\Seen``
  (RFC 3501 section 6.4.5); a human looking at the mailbox still sees what
  is new.
- Mails leave the inbox with ``UID MOVE`` (RFC 6851) when the server offers
  it, else with ``UID COPY``, ``\\Deleted`` and ``UID EXPUNGE`` (RFC 4315), or
  plain ``EXPUNGE`` as the last resort.
- Every library error (imapclient, socket, ssl) becomes a ``MailboxError``
  that names the server and the step that failed.
- With ``auth = "oauth2"`` the login is XOAUTH2 (OAUTHBEARER, RFC 7628, where the
  server offers only that) with a token of the shared ``TokenSource``; a refused
  token is handed back (``invalidate``) and the login tried once more with a
  fresh one: a token may die early (revoked, or the server's clock ahead).

The calls block: run them off the event loop.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from mailbot.adapters.mailbox import Destination, FetchedMail, MailSource
from mailbot.adapters.oauth2 import TokenSource
from mailbot.adapters.tls import tls_context
from mailbot.config import ImapSettings
from mailbot.core.batches import bounded_batches
from mailbot.errors import MailboxError, OAuth2Error

# UIDs are 32-bit unsigned numbers (RFC 3501 section 2.3.1.1).
_MAX_UID = 2**32 - 1

# Of a mail over the size limit only its start is read: the text comes first, and the
# attachments of such a mail are not stored anyway (core.limits).
_HEAD_BYTES = 1024 * 1024

# How many sizes one UID FETCH RFC822.SIZE asks for (keeps the command line short).
_SIZE_BATCH = 1000


class ImapSource(MailSource):
    """The inbox folder of one IMAP account, as ``ImapSettings`` describe it."""

    def __init__(
        self,
        settings: ImapSettings,
        *,
        timeout: float | None = None,
        batch_size: int = 100,
        batch_bytes: int = 16 * 1024 * 1024,
        tokens: TokenSource | None = None,
    ) -> None:
        self._settings = settings
        # The OAuth2 access tokens, needed with auth = "oauth2" (shared by every connection).
        self._tokens = tokens
        # One UID FETCH asks for at most this many mails and bytes: bounds memory and round trips.
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._timeout = settings.timeout.total_seconds() if timeout is None else timeout
        self._client: Any = None  # an IMAPClient while open
        self._capabilities: frozenset[bytes] = frozenset()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        self._server = f"IMAP server {host}:{settings.port}"
        self.name = f"imap://{settings.username}@{host}:{settings.port}/{settings.folder}"

    def open(self) -> int:
        self.close()
        client = self._connect_translated()
        try:
            self._secure(client)
            self._login(client)
            uidvalidity = self._prepare_folders(client)
        except BaseException:
            _logout_quietly(client)
            raise
        self._client = client
        return uidvalidity

    def list_new(self, after_uid: int) -> list[str]:
        client = self._open_client()
        if after_uid >= _MAX_UID:
            return []
        with self._translated(f"searching {self._settings.folder!r} for new mail"):
            # Mails delivered since the last command show up only after the
            # server's next mailbox sync: NOOP is the poll (RFC 3501 section 6.1.2).
            client.noop()
            found = client.search(["UID", f"{after_uid + 1}:*"])
        # "n:*" always matches the highest UID, even when it is below n
        # (RFC 3501 section 6.4.8: "*" is the largest number in use): filter.
        return [str(uid) for uid in sorted(int(uid) for uid in found) if uid > after_uid]

    def fetch(self, uids: Sequence[str], *, max_size: int | None = None) -> Iterator[FetchedMail]:
        """In round trips of at most ``batch_size`` mails and ``batch_bytes`` bytes.

        The sizes are asked first (RFC822.SIZE, a few bytes per mail), so one
        round trip never holds more than the byte bound, whatever the mailbox
        holds; a mail over ``max_size`` is read only up to it (a partial fetch,
        RFC 3501 section 6.4.5) and comes ``truncated``.
        """
        client = self._open_client()
        numbers = [_uid_number(uid) for uid in uids]
        sizes: dict[int, int] = {}
        for start in range(0, len(numbers), _SIZE_BATCH):
            chunk = numbers[start : start + _SIZE_BATCH]
            with self._translated(f"reading mail sizes in {self._settings.folder!r}"):
                response = client.fetch(chunk, ["RFC822.SIZE"])
            sizes.update({uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in response.items()})
        present = [uid for uid in numbers if uid in sizes]  # absent: expunged since list_new
        batches = bounded_batches(
            present, sizes.__getitem__, max_count=self._batch_size, max_bytes=self._batch_bytes
        )
        for batch in batches:
            yield from self._fetch_batch(client, batch, sizes, max_size)

    def _fetch_batch(
        self, client: Any, batch: list[int], sizes: dict[int, int], max_size: int | None
    ) -> Iterator[FetchedMail]:
        whole = [uid for uid in batch if max_size is None or sizes[uid] <= max_size]
        response: dict[int, Any] = {}
        if whole:
            with self._translated(f"fetching mail from {self._settings.folder!r}"):
                response = dict(client.fetch(whole, ["BODY.PEEK[]", "INTERNALDATE"]))
        for uid in batch:
            if uid in response:
                data = response[uid]
                raw = data.get(b"BODY[]")
                if isinstance(raw, bytes):
                    yield FetchedMail(
                        str(uid), raw, _aware(data.get(b"INTERNALDATE")), size=sizes[uid]
                    )
            elif uid not in whole and max_size is not None:
                yield from self._fetch_head(client, uid, sizes[uid], max_size)

    def _fetch_head(self, client: Any, uid: int, size: int, max_size: int) -> Iterator[FetchedMail]:
        """The start of a mail too big to read whole."""
        part = f"BODY.PEEK[]<0.{min(max_size, _HEAD_BYTES)}>"
        with self._translated(f"fetching the start of UID {uid} ({size} bytes)"):
            data = client.fetch([uid], [part, "INTERNALDATE"]).get(uid, {})
        raw = data.get(b"BODY[]<0>")
        if isinstance(raw, bytes):
            received = _aware(data.get(b"INTERNALDATE"))
            yield FetchedMail(str(uid), raw, received, size=size, truncated=True)

    def move(self, uid: str, *, to: Destination) -> None:
        self.move_all([uid], to=to)

    def move_all(self, uids: Sequence[str], *, to: Destination) -> None:
        if not uids:
            return
        client = self._open_client()
        numbers = [_uid_number(uid) for uid in uids]
        folder = self._destination(to)
        shown = uids[0] if len(uids) == 1 else f"{uids[0]}..{uids[-1]} ({len(uids)} mails)"
        with self._translated(f"moving UID {shown} to {folder!r}"):
            if b"MOVE" in self._capabilities:
                client.move(numbers, folder)
                return
            client.copy(numbers, folder)
            client.delete_messages(numbers, silent=True)
            if b"UIDPLUS" in self._capabilities:
                client.uid_expunge(numbers)
            else:
                # Without UIDPLUS, EXPUNGE also removes mails others marked \Deleted.
                client.expunge()

    def close(self) -> None:
        client, self._client = self._client, None
        self._capabilities = frozenset()
        if client is not None:
            _logout_quietly(client)

    def _connect(self) -> Any:
        """Open the TCP (and, for ``tls = "ssl"``, TLS) connection: the one seam for a double."""
        implicit_tls = self._settings.tls == "ssl"
        client = IMAPClient(
            self._settings.host,
            port=self._settings.port,
            use_uid=True,
            ssl=implicit_tls,
            ssl_context=self._tls() if implicit_tls else None,
            timeout=self._timeout,
        )
        client.normalise_times = False  # keep the server's zone: no naive local datetimes
        return client

    def _tls(self) -> ssl.SSLContext:
        return tls_context(verify=self._settings.verify_tls, ca_file=self._settings.ca_file)

    def _connect_translated(self) -> Any:
        with self._translated("connecting"):
            return self._connect()

    def _secure(self, client: Any) -> None:
        if self._settings.tls != "starttls":
            return
        try:
            client.starttls(self._tls())
        except CapabilityError as exc:
            raise MailboxError(
                f"{self._server} does not offer STARTTLS; refusing to log in without TLS"
            ) from exc
        except (IMAPClientError, OSError) as exc:
            raise MailboxError(
                f"{self._server}: STARTTLS failed, refusing to log in without TLS: {exc}"
            ) from exc

    def _login(self, client: Any) -> None:
        user = self._settings.username
        with self._translated(f"logging in as {user!r}"):
            try:
                if self._settings.auth == "oauth2":
                    self._oauth2_login(client, user)
                else:
                    client.login(user, self._settings.password)
            except LoginError as exc:
                raise MailboxError(f"{self._server}: login as {user!r} failed: {exc}") from exc
        with self._translated(f"reading capabilities after login as {user!r}"):
            self._capabilities = self._read_capabilities(client)

    def _oauth2_login(self, client: Any, user: str) -> None:
        """XOAUTH2 (or OAUTHBEARER) with the current token; a refused one is replaced and
        the login tried once more. LoginError when the fresh token is refused too."""
        if self._tokens is None:
            raise MailboxError(f'{self._server}: auth = "oauth2" but no OAuth2 token source')
        offered = self._read_capabilities(client)
        bearer_only = b"AUTH=OAUTHBEARER" in offered and b"AUTH=XOAUTH2" not in offered
        for attempt in (1, 2):
            token = self._token()
            try:
                if bearer_only:
                    client.oauthbearer_login(user, token)
                else:
                    client.oauth2_login(user, token)
                return
            except LoginError:
                self._tokens.invalidate(token)
                if attempt == 2:
                    raise

    def _token(self) -> str:
        assert self._tokens is not None
        try:
            return self._tokens.token()
        except OAuth2Error as exc:
            raise MailboxError(f"{self._server}: no OAuth2 token to log in with: {exc}") from exc

    def _read_capabilities(self, client: Any) -> frozenset[bytes]:
        # Asked after LOGIN: servers (Dovecot among them) announce MOVE and
        # UIDPLUS only to authenticated clients.
        return frozenset(bytes(cap).upper() for cap in client.capabilities())

    def _prepare_folders(self, client: Any) -> int:
        for folder in (self._settings.processed_folder, self._settings.quarantine_folder):
            self._ensure_folder(client, folder)
        inbox = self._settings.folder
        with self._translated(f"selecting folder {inbox!r}"):
            response = client.select_folder(inbox)
        return int(response[b"UIDVALIDITY"])

    def _ensure_folder(self, client: Any, folder: str) -> None:
        with self._translated(f"creating folder {folder!r}"):
            if client.folder_exists(folder):
                return
            try:
                client.create_folder(folder)
            except IMAPClientError:
                # Another process may have created it meanwhile; only then is this fine.
                if not client.folder_exists(folder):
                    raise

    def _destination(self, to: Destination) -> str:
        if to == "processed":
            return self._settings.processed_folder
        return self._settings.quarantine_folder

    def _open_client(self) -> Any:
        if self._client is None:
            raise MailboxError(f"{self._server}: the mailbox is not open (call open() first)")
        return self._client

    @contextmanager
    def _translated(self, step: str) -> Iterator[None]:
        """Turn a library error raised while doing ``step`` into a ``MailboxError``."""
        try:
            yield
        except ssl.SSLError as exc:
            raise MailboxError(f"{self._server}: TLS failed while {step}: {exc}") from exc
        except ConnectionRefusedError as exc:
            raise MailboxError(f"{self._server}: connection refused while {step}") from exc
        except TimeoutError as exc:
            raise MailboxError(f"{self._server}: timed out while {step}") from exc
        except (IMAPClientError, OSError) as exc:
            raise MailboxError(f"{self._server}: failed while {step}: {exc}") from exc

    # --- IMAP IDLE (RFC 2177): a connection of its own waits for new mail -----------------

    @property
    def supports_idle(self) -> bool:
        """Whether the server offered IDLE to the logged-in client (``open()`` first)."""
        return b"IDLE" in self._capabilities

    def idle_start(self) -> None:
        """Issue IDLE on the open inbox; the server then reports changes as they happen."""
        client = self._open_client()
        with self._translated(f"starting IDLE in {self._settings.folder!r}"):
            client.idle()

    def idle_wait(self, timeout: float) -> bool:
        """Wait in IDLE up to ``timeout`` seconds; True when the server announced new mail.

        Raises ``MailboxError`` when the server ends the connection (BYE, or the socket
        closed). The socket timeout does not apply: imapclient waits with poll().
        """
        client = self._open_client()
        began = time.monotonic()
        with self._translated("waiting for new mail (IDLE)"):
            responses = client.idle_check(timeout=timeout)
        if not responses and time.monotonic() - began < timeout / 2:
            # Readable, yet no whole line: that is how imapclient's idle_check reports a
            # closed connection (it swallows the EOF). DONE needs the server's answer, so
            # it fails on a dead connection; on a live one, IDLE simply starts again.
            arrived = self.idle_end()
            self.idle_start()
            return arrived
        return self._announces_mail(responses)

    def idle_end(self) -> bool:
        """Send DONE; True when the responses that came meanwhile announced new mail."""
        client = self._open_client()
        with self._translated("ending IDLE"):
            _text, responses = client.idle_done()
        return self._announces_mail(responses)

    def _announces_mail(self, responses: Sequence[tuple[Any, ...]]) -> bool:
        """``* n EXISTS`` / ``* n RECENT`` (RFC 3501 section 7.3) say mail came; ``* BYE``
        (a server shutting down, an admin's kick) that the connection is over."""
        for response in responses:
            if response and response[0] == b"BYE":
                said = " ".join(
                    part.decode(errors="replace") if isinstance(part, bytes) else str(part)
                    for part in response[1:]
                )
                raise MailboxError(f"{self._server} closed the connection during IDLE: {said}")
        return any(
            len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT") and response[0] != 0
            for response in responses
        )


def _uid_number(uid: str) -> int:
    if not uid.isdecimal():
        raise ValueError(f"not an IMAP UID: {uid!r}")
    return int(uid)


def _logout_quietly(client: Any) -> None:
    # The connection may be dead already (that is often why we close): release what is left.
    try:
        client.logout()
    except Exception:
        with suppress(Exception):
            client.shutdown()


def _aware(value: object) -> datetime | None:
    """INTERNALDATE as an aware datetime (imapclient gives one with normalise_times off)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return None
