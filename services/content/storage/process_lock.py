"""Process locks that the system releases when their holder dies: how a standby proves the active relay gone.

A lease that expires lets a successor in only after its TTL. These locks end with
the process instead, so a successor takes over as soon as the holder is dead:

- PostgreSQL: a session-level advisory lock on a connection kept for the
  holder's lifetime. The server releases it when that session ends: a killed
  process's socket is closed by the kernel; a dead host is noticed through the
  TCP keepalives set on the session.
- SQLite (one machine): ``flock`` on a lock file next to the database. The
  kernel releases it when the holder's last descriptor closes, which a dead
  process's always does.

``held()`` re-checks the lock; call it before an action only the holder may take.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CHECK_TIMEOUT_SECONDS = 2.0
"""A lock check that takes longer counts as lost; the server notices a silent client only later (keepalives)."""

KEEPALIVE_SETTINGS = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}
"""The lock session's server-side keepalives: a holder that vanished (host down, partition) frees the lock
after about 11 s; its own check gives up long before that."""


class ProcessLock(Protocol):
    """An exclusive lock released by the system when its holder dies."""

    async def acquire(self) -> bool:
        """Take the lock without waiting; True if this object holds it (cheap when already held)."""
        ...

    async def held(self) -> bool:
        """Check that the lock is still held (and forget it if not)."""
        ...

    async def release(self) -> None:
        """Let the lock go (a successor may take it at once)."""
        ...


def process_lock(engine: AsyncEngine, name: str) -> ProcessLock | None:
    """The lock ``name`` for the database of ``engine``; None for a database with no file (SQLite in memory)."""
    url = make_url(engine.url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(engine, name)
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return None
    return FileLock(Path(f"{url.database}-{name}.lock"))


def advisory_key(name: str) -> int:
    """The 63-bit advisory lock key of ``name`` (positive, so that pg_locks shows it as two plain halves)."""
    return int.from_bytes(hashlib.sha256(f"liaison:{name}".encode()).digest()[:8], "big") >> 1


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock, on a connection of its own.

    The connection is in autocommit, so it never sits idle in a transaction.
    """

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        self.key = advisory_key(name)
        self._conn: AsyncConnection | None = None
        self._held = False

    async def acquire(self) -> bool:
        """Take the lock without waiting."""
        if self._held:
            return True
        try:
            if self._conn is None:
                conn = await self.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for setting, value in KEEPALIVE_SETTINGS.items():
                    await self._conn.execute(sa.text(f"SET {setting} = {int(value)}"))
            result = await self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            self._held = bool(result.scalar())
        except BaseException:
            await self._drop()
            raise
        return self._held

    async def held(self) -> bool:
        """Ask the server whether this session still holds the lock."""
        if not self._held or self._conn is None:
            return False
        query = sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid() AND classid = :high AND objid = :low AND objsubid = 1)"
        )
        try:
            result = await asyncio.wait_for(
                self._conn.execute(query, {"high": self.key >> 32, "low": self.key & 0xFFFFFFFF}),
                CHECK_TIMEOUT_SECONDS,
            )
            still = bool(result.scalar())
        except (TimeoutError, sa.exc.DBAPIError, OSError):
            still = False
        if not still:
            await self._drop()
        return still

    async def release(self) -> None:
        """End the session: the server frees the lock (a pooled connection would keep it)."""
        await self._drop()

    async def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()


class FileLock:
    """``flock`` on a lock file (never deleted: deleting it would let two holders lock two files)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        """Take the lock without waiting."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        if not self._same_file():
            await self.release()  # replaced while we opened it: lock the file that is there now, next time
            return False
        return True

    async def held(self) -> bool:
        """The lock lasts while the descriptor is open, unless the file was replaced under it."""
        if self._fd is None:
            return False
        if not self._same_file():
            await self.release()
            return False
        return True

    async def release(self) -> None:
        """Close the descriptor: the kernel frees the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _same_file(self) -> bool:
        assert self._fd is not None  # noqa: S101 - called while holding
        try:
            there = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._fd)
        return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)
