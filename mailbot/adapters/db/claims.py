"""Who holds an outbox claim, and whether that process is gone.

A claim (an outbox row ``sending``) names its owner: the instance, the process
and a random token of that process (``Owner``). The instance is what a restart
keeps: this machine and the state directory (``instance_id``); instances are
told apart by machine (README, "Several instances"), and on one machine by
their ``state_dir``. A process is gone when:

- SQLite (one machine): its pid runs no more, or runs a process that started
  at another moment (the pid was reused); a zombie is gone too.
- PostgreSQL: each flushing process holds a session-level advisory lock keyed
  on its token for as long as it lives (``hold``), and the server drops it
  with the process's connection; a token whose lock can be taken has no owner
  left (``gone``). This works across machines, but only our own instance's
  claims are asked about (``mailbot.usecases.outbox.take_back``).

Whatever cannot be shown gone counts as alive: its claims wait for the stale limit.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mailbot.adapters.db.lease import lease_key

log = logging.getLogger("mailbot.outbox")

_PROC = Path("/proc")
# Seconds to wait for PostgreSQL to drop the lock of a process seen dead here: the server
# ends its session when it reads the closed socket, at once unless the machine went away.
LOCK_GRACE = 5.0


@dataclass(frozen=True)
class Owner:
    """The owner a claim records (outbox ``claimed_by``, ``claimed_pid``, ...)."""

    instance: str
    pid: int
    started: int | None  # the process's start, in clock ticks since boot (Linux); None: unknown
    token: str


def instance_id(state_dir: Path) -> str:
    """This instance's name: the machine and the state directory, the same after a restart."""
    return f"{socket.gethostname()}:{state_dir.absolute()}"


_this: tuple[int, str] | None = None  # (pid, token) of this process; a forked child makes its own


def this_process(instance: str) -> Owner:
    """The owner of the claims this process makes."""
    global _this  # noqa: PLW0603 - one token per process, whatever desk asks for it
    pid = os.getpid()
    if _this is None or _this[0] != pid:
        _this = (pid, secrets.token_hex(16))
    return Owner(instance, pid, process_start(pid), _this[1])


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot: proc(5), field 22); None when
    unknown (no such process, or no /proc)."""
    stat = _stat(pid)
    if stat is None:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _stat(pid: int) -> str | None:
    try:
        return (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_gone(pid: int, started: int | None) -> bool:
    """Whether process ``pid`` (started at ``started``) runs no more, on this machine."""
    if pid <= 0:
        return False  # not a process we could have recorded
    if not (_PROC / "self" / "stat").exists():  # no procfs: the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # another user's process: it lives
        return False
    stat = _stat(pid)
    if stat is None:
        return True
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] == "Z" or (started is not None and int(fields[19]) != started)


# PostgreSQL: the connections that hold this process's owner locks, by database and token.
_held: dict[tuple[str, str], sa.Connection] = {}
_guard = threading.Lock()


def owner_key(token: str) -> int:
    """The advisory lock that stands for the process with ``token``."""
    return lease_key(f"outbox claim owner {token}")


# Every flushing process also holds this key, shared: how many hold it tells how many
# processes send the outbox of this database (``other_flushers``).
FLUSHERS_KEY = lease_key("outbox flushers")


def hold(engine: Engine, token: str) -> None:
    """Make sure this process holds its owner lock on ``engine``'s database (PostgreSQL).

    Call it before claiming. The lock is held on a connection of its own for the
    process's life; a connection found dead (a server restart) is replaced, and the
    lock taken again. Nothing to do on other databases.
    """
    if engine.dialect.name != "postgresql":
        return
    where = (_database(engine), token)
    with _guard:
        held = _held.get(where)
        if held is not None:
            try:
                held.execute(sa.select(1))
                held.commit()
                return
            except sa.exc.DBAPIError:
                log.warning("outbox: the connection holding this process's claims was lost")
                with suppress(sa.exc.DBAPIError):
                    held.invalidate()
                del _held[where]
        connection = engine.connect()
        try:
            # Nobody else ever asks for this key but to test it (``gone``): it is ours at once.
            connection.execute(sa.select(sa.func.pg_advisory_lock(owner_key(token))))
            connection.execute(sa.select(sa.func.pg_advisory_lock_shared(FLUSHERS_KEY)))
            connection.commit()  # the locks are the session's; no transaction held open
        except BaseException:
            connection.close()
            raise
        _held[where] = connection


def _database(engine: Engine) -> str:
    """The database ``_held`` knows ``engine``'s by: its whole URL."""
    return engine.url.render_as_string(hide_password=False)


def other_flushers(engine: Engine) -> int:
    """How many other processes send this database's outbox now (PostgreSQL: the holders
    of ``FLUSHERS_KEY`` but this one; 0 on other databases, where one machine sends)."""
    if engine.dialect.name != "postgresql":
        return 0
    # A bigint advisory key shows in pg_locks as classid (high half) and objid (low half).
    holders = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = :high AND objid = :low AND objsubid = 1"
    )
    with engine.connect() as connection:
        count = connection.execute(
            holders, {"high": FLUSHERS_KEY >> 32, "low": FLUSHERS_KEY & 0xFFFFFFFF}
        ).scalar_one()
        connection.commit()
    mine = any(database == _database(engine) for database, _ in _held)
    return max(0, int(count) - int(mine))


def gone(engine: Engine, owner: Owner) -> bool:
    """Whether the process that made a claim is gone (see the module's docstring).

    Ask only about an owner of this machine: its pid is looked up here. On
    PostgreSQL the lock decides; while the pid shows the process dead but its
    lock is still held (the server has not yet seen the connection close), the
    lock is asked again for up to ``LOCK_GRACE`` seconds.
    """
    if engine.dialect.name == "sqlite":
        return process_gone(owner.pid, owner.started)
    if engine.dialect.name != "postgresql":
        return False
    key = owner_key(owner.token)
    deadline = time.monotonic() + LOCK_GRACE
    while not _lock_free(engine, key):
        if not process_gone(owner.pid, owner.started) or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _lock_free(engine: Engine, key: int) -> bool:
    with engine.connect() as connection:
        taken = bool(connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        if taken:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        connection.commit()
    return taken
