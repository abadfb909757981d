"""What a site agent has written: its files, and the state that makes it restartable."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec


class PageCopy(msgspec.Struct):
    """The local copy of one (page, locale)."""

    revision: int
    etag: str
    sequence: int
    published_at: float = 0.0
    """Publication time (Unix seconds) of the copy: what orders two renders of one page."""


class AgentState(msgspec.Struct):
    """Persisted beside the files, rewritten atomically after every applied event."""

    site: str
    last_sequence: int = 0
    pages: dict[str, PageCopy] = {}


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    then renamed over the target (rename is atomic within a file system). The
    rename itself is durable only once the folder is synced (``fsync_folder``):
    callers write several files, then sync their folder once.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)  # served by a web server: readable by all, like a normal file
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def stage_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``path`` (not yet synced); return its path.

    With `sync_file_system` then `os.replace`, this is `atomic_write` for many files at the
    cost of one sync instead of one per file.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), 0o644)  # served by a web server: readable by all, like a normal file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return Path(temporary)


def sync_file_system(folder: Path) -> None:
    """Flush every file written on the file system of ``folder`` to disk (``syncfs``; ``sync`` elsewhere)."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(folder))
    finally:
        os.close(descriptor)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


class GroupSync:
    """Group commit for files: one file-system sync covers every file staged before it started.

    A writer stages its files, then awaits `synced`; writers that arrive while a sync is
    running wait for the next one, which then covers all of them. A fan-out of thousands
    of renders costs a few syncs instead of an fsync per file.
    """

    def __init__(self, sync: Callable[[], Awaitable[None]]) -> None:
        self._sync = sync
        self._lock = asyncio.Lock()
        self._staged = 0
        self._covered = 0

    async def synced(self) -> None:
        """Return once a sync that started after this call has finished."""
        self._staged += 1
        ticket = self._staged
        async with self._lock:
            if self._covered >= ticket:
                return  # a sync that started after our files were staged has finished
            upto = self._staged
            await self._sync()
            self._covered = upto


def fsync_folder(folder: Path) -> None:
    """Make the renames and removals done in ``folder`` durable (a crash cannot undo them after this)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class StateFile:
    """The agent's state file in its output folder."""

    NAME = ".liaison-agent.json"

    def __init__(self, out_dir: Path, site: str) -> None:
        self.path = out_dir / self.NAME
        self.site = site

    def load(self) -> AgentState:
        """The saved state, or a fresh one (which triggers a full resync)."""
        try:
            state = msgspec.json.decode(self.path.read_bytes(), type=AgentState)
        except (FileNotFoundError, msgspec.DecodeError):
            return AgentState(site=self.site)
        return state if state.site == self.site else AgentState(site=self.site)

    def save(self, state: AgentState) -> None:
        """Persist the state atomically and durably, after the files it describes.

        The folder is synced first: the renames of the render files written since the
        last save reach the disk before a state that says they were written (otherwise a
        crash could leave a state naming an ETag whose file is still the old one, and the
        agent would skip that page's next events). It is synced again after the state's
        own rename, so that what the agent acknowledges next is on disk.
        """
        fsync_folder(self.path.parent)
        atomic_write(self.path, msgspec.json.encode(state))
        fsync_folder(self.path.parent)
