"""How a site agent writes its files: atomically, durably, and cheaply in bulk.

A render's files are staged, then one file-system sync covers a whole group of them
(`GroupCommit`), then they are renamed into place: a reader finds the old file or the
new one, never half of one, and after a crash the disk holds one of the two.

A fan-out rewrites thousands of files at once. On ext4 (this project's CI machine:
mounted with ``discard``) the costly steps of replacing a file are creating the new
one and freeing the old one, each up to ten times the cost of the rename and the
write, and worse for a minute after many deletions. `SpareFiles` avoids both: a
replaced version is kept aside and later written over to stage another file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import errno
import fcntl
import functools
import itertools
import os
import signal
import stat
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

TEMPORARY_SUFFIX = ".tmp"
T = TypeVar("T")
_F_SETLEASE: int | None = getattr(fcntl, "F_SETLEASE", None)
"""Linux only: elsewhere a spare is never reused (a new file is created instead)."""
_LEASE_UNSUPPORTED = {errno.EINVAL, errno.ENOLCK, errno.ENOSYS, errno.EACCES, errno.EPERM}


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    then renamed over the target (rename is atomic within a file system). The
    rename itself is durable only once the folder is synced (``fsync_folder``):
    callers write several files, then sync their folder once.
    """
    temporary = _write_temporary(path, data, durable=True)
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def stage_file(path: Path, data: bytes, spares: SpareFiles | None = None) -> Path:
    """Write ``data`` to a temporary file for ``path`` (not yet synced); return the temporary's path.

    The temporary is a spare file written over when ``spares`` has one free, otherwise a
    new file beside ``path``. With `sync_file_system` then `os.replace`, this is
    `atomic_write` for many files at the cost of one sync instead of one per file.
    """
    if spares is not None:
        reused = spares.write_over(data)
        if reused is not None:
            return reused
    return _write_temporary(path, data, durable=False)


def _write_temporary(path: Path, data: bytes, *, durable: bool) -> Path:
    """Write ``data`` to a new temporary file beside ``path`` (flushed to disk if ``durable``); return its path.

    Its name is the target's and the writing thread's: no random name to draw, and a
    crash leaves at most one per thread and target, which `remove_temporaries` clears
    when the agent starts.
    """
    temporary = path.with_name(f".{path.name}.{threading.get_native_id()}{TEMPORARY_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o644)
    try:
        _write_all(descriptor, data)
        os.fchmod(descriptor, 0o644)  # served by a web server: readable by all, whatever the umask
        if durable:
            os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    os.close(descriptor)
    return temporary


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.pwrite(descriptor, view[offset:], offset)


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


class SpareFiles:
    """Replaced versions of an agent's files, kept in a hidden folder to be written over.

    `replace` links the old version of a file into the folder before renaming the new
    one over it, so the rename frees nothing. `write_over` stages the next file in the
    oldest spare instead of creating one, but only when no process has the spare open:
    Linux grants a write lease on a file only then (``F_SETLEASE``), so a web server
    still sending an old version keeps reading it whole. A spare that is open, or
    still linked at a page's path (a crash between the link and the rename), is
    skipped. Spares beyond what the next fan-out needs are deleted while the agent is
    idle (`sweep`).

    A lease break would send the agent ``SIGIO``, whose default is to end the
    process: spares are written over only while ``SIGIO`` is ignored, which
    `SiteAgent.run` arranges.
    """

    FOLDER = ".liaison-spare"

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / self.FOLDER
        self._lock = threading.Lock()
        self._spares: collections.deque[Path] = collections.deque()
        self._names = itertools.count()
        # Unique to this run: a restarted agent (often the same pid in a container) finds earlier names taken.
        self._prefix = f"{uuid.uuid4().hex[:12]}-"
        self._made = False
        self.reusable = _F_SETLEASE is not None
        """False once leases proved unsupported here: spares are then only deleted."""

    def __len__(self) -> int:
        return len(self._spares)

    def can_reuse(self) -> bool:
        """True when spares are written over here (Linux leases work, and SIGIO is ignored)."""
        return self.reusable and signal.getsignal(signal.SIGIO) is signal.SIG_IGN

    def load(self) -> int:
        """Take the files already in the folder (left by an earlier run) as spares; return how many."""
        try:
            with os.scandir(self.folder) as entries:
                found = [Path(entry.path) for entry in entries if entry.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            found = []
        with self._lock:
            self._spares = collections.deque(found)
        return len(found)

    def replace(self, temporary: Path, path: Path) -> None:
        """``os.replace(temporary, path)``, keeping the old version of ``path`` as a spare."""
        if not self._made:
            self.folder.mkdir(exist_ok=True)
            self._made = True
        name = self.folder / f"{self._prefix}{next(self._names)}"
        try:
            os.link(path, name, follow_symlinks=False)
            kept = True
        except (FileNotFoundError, FileExistsError):
            kept = False  # a new page (nothing to keep), or a name left by an earlier process: freed at once
        os.replace(temporary, path)
        if kept:
            with self._lock:
                self._spares.append(name)

    def write_over(self, data: bytes) -> Path | None:
        """Write ``data`` over the oldest free spare and return its path; None when none is free.

        A spare found open is put back at the end of the line, and the next one tried
        (a few at most: then a new file is cheaper than the search).
        """
        if not self.can_reuse():
            return None
        for _ in range(3):
            with self._lock:
                spare = self._spares.popleft() if self._spares else None
            if spare is None:
                return None
            try:
                descriptor = os.open(spare, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue  # gone: the sweeper, or someone else, removed it
            try:
                if not self._free(descriptor):
                    with self._lock:
                        self._spares.append(spare)
                    continue
                _write_all(descriptor, data)
                os.ftruncate(descriptor, len(data))
                os.fchmod(descriptor, 0o644)
            finally:
                os.close(descriptor)
            return spare
        return None

    def _free(self, descriptor: int) -> bool:
        """True when this is a plain file that no path of a page and no other process holds."""
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_nlink != 1:
            return False
        assert _F_SETLEASE is not None  # noqa: S101 (checked by the caller)
        try:
            fcntl.fcntl(descriptor, _F_SETLEASE, fcntl.F_WRLCK)
        except OSError as exc:
            if exc.errno in _LEASE_UNSUPPORTED:
                self.reusable = False
            return False  # EAGAIN: another process has it open
        # The lease has done its work: nobody had the file open. It is not kept while writing, so no
        # opener is made to wait on it; only the agent knows the spare's path, and a page's path
        # reaches this inode only by the rename after the sync.
        fcntl.fcntl(descriptor, _F_SETLEASE, fcntl.F_UNLCK)
        return True

    def sweep(self, busy: threading.Event, keep: int) -> None:
        """Delete the newest spares until ``keep`` are left, stopping early when ``busy`` is set.

        The oldest are kept: they are the next to be written over, and the least
        likely to be open.
        """
        while not busy.is_set():
            with self._lock:
                if len(self._spares) <= keep:
                    return
                spare = self._spares.pop()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spare)


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
