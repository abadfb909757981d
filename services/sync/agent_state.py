"""What a site agent has written: its files, and the state that makes it restartable."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import itertools
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

import msgspec

TEMPORARY_SUFFIX = ".tmp"
T = TypeVar("T")


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
    """Write ``data`` to a temporary file beside ``path`` (not yet synced); return its path.

    With `sync_file_system` then `os.replace`, this is `atomic_write` for many files at the
    cost of one sync instead of one per file. The temporary's name is the target's and the
    writing thread's: no random name to draw and retry (four times the cost of the write on
    ext4), and a crash leaves at most one per thread and target, which
    `remove_temporaries` clears when the agent starts.
    """
    temporary = path.with_name(f".{path.name}.{threading.get_native_id()}{TEMPORARY_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fchmod(descriptor, 0o644)  # served by a web server: readable by all, whatever the umask
    except BaseException:
        os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    os.close(descriptor)
    return temporary


def remove_temporaries(folder: Path) -> int:
    """Delete the temporary files a crashed writer left in ``folder``; return how many."""
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(TEMPORARY_SUFFIX) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


class RetiredFiles:
    """The replaced versions of an agent's files, deleted later, while the agent is idle.

    Replacing a file frees the old one's blocks at once, and on some file systems that
    is most of the cost: on ext4 mounted with ``discard`` (this project's CI machine) an
    unlink takes about 0.1 ms, five times the rename. `replace` first links the old
    version into a hidden folder, so the rename only drops a link; `sweep` frees them
    when no batch is being written. Readers never see the folder's files: they are
    not at any page's path.
    """

    FOLDER = ".liaison-old"

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / self.FOLDER
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._prefix = f"{os.getpid()}-"
        self._made = False
        self.pending = 0
        """Old versions waiting for `sweep` (counted from the folder by `count`)."""

    def count(self) -> int:
        """Count the old versions already in the folder (left by an earlier run); return the count."""
        try:
            with os.scandir(self.folder) as entries:
                found = sum(1 for _ in entries)
        except FileNotFoundError:
            found = 0
        with self._lock:
            self.pending = found
        return found

    def replace(self, temporary: Path, path: Path) -> None:
        """``os.replace(temporary, path)``, keeping the old version of ``path`` for `sweep` to delete."""
        if not self._made:
            self.folder.mkdir(exist_ok=True)
            self._made = True
        kept = self.folder / f"{self._prefix}{next(self._names)}"
        try:
            os.link(path, kept, follow_symlinks=False)
        except (FileNotFoundError, FileExistsError):
            pass  # a new page (nothing to keep), or a name left by an earlier process: freed at once
        else:
            with self._lock:
                self.pending += 1
        os.replace(temporary, path)

    def sweep(self, busy: threading.Event, limit: int) -> None:
        """Delete old versions until none is left, or ``busy`` is set while fewer than ``limit`` are."""
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if busy.is_set() and self.pending < limit:
                    return
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                with self._lock:
                    self.pending = max(0, self.pending - 1)


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


class GroupCommit(Generic[T]):
    """Group commit: items submitted while a commit runs go together in the next one.

    ``commit`` takes every item queued and returns one outcome per item (None, or the
    exception for that item). For the agent's files, one call stages many renders,
    syncs the file system once and renames them all: a fan-out of thousands of renders
    costs a few syncs and a few hand-overs to the writer thread, instead of a sync and
    two thread hand-overs per render (whose lock traffic cost more than the writes).
    """

    def __init__(self, commit: Callable[[list[T]], Awaitable[list[BaseException | None]]]) -> None:
        self._commit = commit
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0
        """Commits made so far (how many groups)."""

    async def submit(self, item: T) -> None:
        """Return once a commit holding ``item`` has succeeded; raise the item's failure otherwise."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            self.commits += 1
            try:
                outcomes = await self._commit([item for item, _ in group])
            except BaseException as exc:  # the whole group failed (or the flusher was cancelled)
                outcomes = [exc] * len(group)
                if isinstance(exc, asyncio.CancelledError):
                    for _, future in group:
                        future.cancel()
                    raise
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue  # its waiter was cancelled; the item was committed all the same
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)


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
