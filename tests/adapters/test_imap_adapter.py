"""ImapSource against a real Dovecot (the ``dovecot`` fixture in conftest.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.imap import ImapSource
from mailbot.adapters.mailbox import MailSource
from mailbot.config import ImapSettings
from mailbot.errors import MailboxError
from tests.conftest import Dovecot, ImapPeer, free_port


def make_mail(n: int) -> bytes:
    # CRLF, 8-bit text and trailing white space: fetch must hand back every byte as stored.
    return (
        f"From: Customer {n} <c{n}@example.com>\r\n"
        f"To: support@example.org\r\n"
        f"Subject: Problem {n}\r\n"
        f"Message-ID: <m{n}@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Zażółć gęślą jaźń {n}   \r\n"
    ).encode()


@pytest.fixture
def source(imap_settings: ImapSettings) -> Iterator[ImapSource]:
    opened = ImapSource(imap_settings)
    yield opened
    opened.close()


def test_is_a_mail_source_named_for_the_ledger(imap_settings: ImapSettings) -> None:
    source: MailSource = ImapSource(imap_settings)
    expected = f"imap://{imap_settings.username}@127.0.0.1:{imap_settings.port}/INBOX"
    assert source.name == expected


def test_open_returns_the_inbox_uidvalidity(source: ImapSource, imap_client: ImapPeer) -> None:
    uidvalidity = source.open()
    assert uidvalidity == imap_client.client.select_folder("INBOX")[b"UIDVALIDITY"]
    assert uidvalidity > 0


def test_open_creates_missing_folders_once(source: ImapSource, imap_client: ImapPeer) -> None:
    assert not {"Processed", "Quarantine"} & imap_client.folders()
    source.open()
    assert {"Processed", "Quarantine"} <= imap_client.folders()
    source.close()
    source.open()  # they exist now: no error


def test_open_fails_when_the_inbox_folder_is_missing(imap_settings: ImapSettings) -> None:
    source = ImapSource(replace(imap_settings, folder="NoSuchFolder"))
    with pytest.raises(MailboxError, match="NoSuchFolder"):
        source.open()


def test_list_new_gives_uids_above_the_given_one(source: ImapSource, imap_client: ImapPeer) -> None:
    source.open()
    assert source.list_new(0) == []
    # Delivered while the inbox is selected: seen only after a mailbox sync (the NOOP).
    uids = [imap_client.append(make_mail(n)) for n in range(3)]
    assert source.list_new(0) == [str(uid) for uid in uids]
    assert source.list_new(uids[0]) == [str(uids[1]), str(uids[2])]
    # "UID n:*" with n above every UID still matches the highest mail (RFC 3501 6.4.8).
    assert source.list_new(uids[-1]) == []
    assert source.list_new(uids[-1] + 100) == []


def test_fetch_returns_exact_bytes_without_marking_seen(
    source: ImapSource, imap_client: ImapPeer
) -> None:
    uids = [imap_client.append(make_mail(n)) for n in range(3)]
    source.open()
    fetched = list(source.fetch([str(uid) for uid in reversed(uids)]))
    assert [(m.uid, m.raw) for m in fetched] == [
        (str(uid), make_mail(n)) for n, uid in reversed(list(enumerate(uids)))
    ]
    assert all(b"\\Seen" not in imap_client.flags(uid) for uid in uids)


def test_fetch_skips_a_uid_that_vanished(source: ImapSource, imap_client: ImapPeer) -> None:
    kept = imap_client.append(make_mail(1))
    source.open()
    assert [m.uid for m in source.fetch([str(kept + 41), str(kept)])] == [str(kept)]


def test_move_to_processed_and_quarantine(source: ImapSource, imap_client: ImapPeer) -> None:
    first, second, third = (imap_client.append(make_mail(n)) for n in range(3))
    source.open()
    source.move(str(first), to="processed")
    source.move(str(second), to="quarantine")
    assert [raw for _, raw in imap_client.messages("INBOX")] == [make_mail(2)]
    assert [raw for _, raw in imap_client.messages("Processed")] == [make_mail(0)]
    assert [raw for _, raw in imap_client.messages("Quarantine")] == [make_mail(1)]
    assert source.list_new(0) == [str(third)]
    source.move(str(first), to="processed")  # gone already: nothing happens
    assert len(imap_client.messages("Processed")) == 1


class WithoutMove(ImapSource):
    """The same server, as a client would see one that lacks MOVE (and maybe UIDPLUS)."""

    def __init__(self, settings: ImapSettings, *, hidden: frozenset[bytes]) -> None:
        super().__init__(settings)
        self._hidden = hidden

    def _read_capabilities(self, client: Any) -> frozenset[bytes]:
        return super()._read_capabilities(client) - self._hidden


@pytest.mark.parametrize(
    "hidden", [frozenset({b"MOVE"}), frozenset({b"MOVE", b"UIDPLUS"})], ids=["uidplus", "plain"]
)
def test_move_without_the_move_capability(
    imap_settings: ImapSettings, imap_client: ImapPeer, hidden: frozenset[bytes]
) -> None:
    first, second = (imap_client.append(make_mail(n)) for n in range(2))
    source = WithoutMove(imap_settings, hidden=hidden)
    source.open()
    try:
        source.move(str(first), to="processed")
    finally:
        source.close()
    assert imap_client.messages("INBOX") == [(second, make_mail(1))]
    assert [raw for _, raw in imap_client.messages("Processed")] == [make_mail(0)]


def test_imaps_without_verification(
    imap_settings: ImapSettings, imap_client: ImapPeer, dovecot: Dovecot
) -> None:
    uid = imap_client.append(make_mail(7))
    source = ImapSource(replace(imap_settings, tls="ssl", port=dovecot.tls_port))
    source.open()
    try:
        assert [m.raw for m in source.fetch(source.list_new(0))] == [make_mail(7)]
        assert source.list_new(0) == [str(uid)]
    finally:
        source.close()


def test_imaps_with_verification_rejects_a_self_signed_certificate(
    imap_settings: ImapSettings, dovecot: Dovecot
) -> None:
    settings = replace(imap_settings, tls="ssl", port=dovecot.tls_port, verify_tls=True)
    with pytest.raises(MailboxError, match=r"TLS failed while connecting.*certificate"):
        ImapSource(settings).open()


def test_imaps_verified_against_a_pinned_ca_file(
    imap_settings: ImapSettings, imap_client: ImapPeer, dovecot: Dovecot
) -> None:
    """``ca_file`` trusts the server's own certificate, with host-name checks still on."""
    uid = imap_client.append(make_mail(8))
    settings = replace(
        imap_settings,
        tls="ssl",
        port=dovecot.tls_port,
        verify_tls=True,
        ca_file=dovecot.directory / "ssl" / "cert.pem",
    )
    source = ImapSource(settings)
    source.open()
    try:
        assert source.list_new(0) == [str(uid)]
    finally:
        source.close()


def test_a_pinned_ca_file_that_does_not_sign_the_server_is_refused(
    imap_settings: ImapSettings, dovecot: Dovecot, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(tmp_path / "other-key.pem"), "-out", str(other)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    settings = replace(
        imap_settings, tls="ssl", port=dovecot.tls_port, verify_tls=True, ca_file=other
    )
    with pytest.raises(MailboxError, match=r"TLS failed while connecting.*certificate"):
        ImapSource(settings).open()


def test_implicit_tls_on_the_plain_port_fails_clearly(imap_settings: ImapSettings) -> None:
    with pytest.raises(MailboxError, match="TLS failed while connecting"):
        ImapSource(replace(imap_settings, tls="ssl")).open()


def test_starttls_on_the_plain_port(imap_settings: ImapSettings, imap_client: ImapPeer) -> None:
    uid = imap_client.append(make_mail(3))
    source = ImapSource(replace(imap_settings, tls="starttls"))
    source.open()
    try:
        assert source.list_new(0) == [str(uid)]
    finally:
        source.close()


def test_failed_starttls_stops_before_login(imap_settings: ImapSettings) -> None:
    source = ImapSource(replace(imap_settings, tls="starttls", verify_tls=True))
    with pytest.raises(MailboxError, match="STARTTLS failed, refusing to log in without TLS"):
        source.open()


def test_wrong_password(imap_settings: ImapSettings) -> None:
    source = ImapSource(replace(imap_settings, password="wrong-password"))
    with pytest.raises(MailboxError, match=f"login as '{imap_settings.username}' failed") as err:
        source.open()
    assert "wrong-password" not in str(err.value)
    assert f"127.0.0.1:{imap_settings.port}" in str(err.value)


def test_connection_refused(imap_settings: ImapSettings) -> None:
    port = free_port()  # nothing listens there
    source = ImapSource(replace(imap_settings, port=port))
    expected = f"127.0.0.1:{port}: connection refused while connecting"
    with pytest.raises(MailboxError, match=expected):
        source.open()


def test_commands_before_open_fail(source: ImapSource) -> None:
    with pytest.raises(MailboxError, match="not open"):
        source.list_new(0)


def test_a_dropped_connection_fails_cleanly_and_close_does_not_raise(
    source: ImapSource, imap_settings: ImapSettings, dovecot: Dovecot
) -> None:
    source.open()
    dovecot.doveadm("kick", imap_settings.username)
    deadline = time.monotonic() + 5
    with pytest.raises(MailboxError, match=r"127\.0\.0\.1"):
        while time.monotonic() < deadline:
            source.list_new(0)
            time.sleep(0.05)
    source.close()
    source.close()
