"""``mailbot web`` as the tests and ``bench.web`` run it: a configuration file, and the real
process on a free port, stopped by SIGTERM as systemd stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

SERVE_TIMEOUT = 30  # seconds for `mailbot web` to answer; it starts in about one


class SmtpServer(Protocol):
    """Where mail goes: the suite's ``SmtpSink`` or the benchmark's ``Sink``."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


def web_config(
    folder: Path,
    port: int,
    *,
    smtp: SmtpServer | None = None,
    address: str = "support@example.com",
    staff: str = "tech@example.com",
    contracts: str = "",
    web: str = "",
) -> Path:
    """``folder/config.toml`` for a desk whose mailbox is a Maildir there and whose mail goes
    to ``smtp`` (None: an ``outgoing`` pickup directory), with ``web`` (TOML lines) added to
    its ``[web]`` section, and ``contracts`` (TOML) as its contracts file when given."""
    if contracts:
        (folder / "contracts.toml").write_text(contracts, encoding="utf-8")
    mail = (
        f'host = "{smtp.host}"\nport = {smtp.port}\nusername = ""\ntls = "none"\n'
        f'from_address = "{address}"'
        if smtp is not None
        else 'url = "dir:outgoing"'
    )
    path = folder / "config.toml"
    path.write_text(
        f"""
[general]
state_dir = "state"

[imap]
url = "maildir:Maildir"

[smtp]
{mail}

[support]
address = "{address}"
staff_addresses = ["{staff}"]
{'contracts_file = "contracts.toml"' if contracts else ""}

[web]
bind = "127.0.0.1:{port}"
{web}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Served:
    """A running ``mailbot web``; after ``serving`` ends, how it stopped and what it logged."""

    base: str
    process: subprocess.Popen[str]
    log: Path
    stderr: str = field(default="")

    @property
    def returncode(self) -> int | None:
        return self.process.returncode


@contextmanager
def serving(config: Path, port: int, *, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``mailbot --config CONFIG web`` until the block ends, then SIGTERM; its log goes to a
    file beside the configuration (a pipe nobody reads could fill and stop it)."""
    log = config.parent / "web.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "web"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
            env=dict(os.environ) if env is None else env,
        )  # fmt: skip
        served = Served(f"http://127.0.0.1:{port}", process, log)
        try:
            wait_until_serving(process, served.base + "/", log)
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    served.stderr = log.read_text(encoding="utf-8")


def wait_until_serving(process: subprocess.Popen[str], url: str, log: Path | None = None) -> None:
    """Wait (bounded) until ``url`` answers; fail with what the process logged (``log``, or
    its stderr pipe) if it stops first."""
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text() if log is not None else process.communicate()[1]
            raise AssertionError(f"mailbot web stopped ({process.returncode}): {said}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # an answer all the same
        except OSError:  # not listening yet
            time.sleep(0.1)
    raise AssertionError(f"mailbot web did not answer within {SERVE_TIMEOUT} s")
