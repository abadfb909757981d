"""How a site agent writes its files: atomically, durably, and cheaply in bulk.

A render's files are staged in temporary files, then one sync covers a whole group of
them (`GroupCommit`), then they are renamed into place: a reader finds the old file or
the new one, never half of one, and after a crash the disk holds one of the two.

One sync per group, not an ``fsync`` per file: on ext4 each ``fsync`` of a new file
waits for a journal commit of its own, and a fan-out of 4,000 files took 11 times
longer that way (``bench/agent_files_bench.py``). Replacing a file frees the old one:
on a file system mounted with ``discard`` that is slow (docs/production.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

TEMPORARY_SUFFIX = ".tmp"
SPARE_FOLDER = ".liaison-spare"
"""Where agents before issue 14 kept replaced files to write over; deleted when an agent starts."""
T = TypeVar("T")


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


def stage_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` (not yet synced); return the temporary's path.

    With `sync_to_disk` then `os.replace`, this is `atomic_write` for many files at the
    cost of one sync instead of one per file.
    """
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


def remove_leftovers(folder: Path) -> int:
    """Delete what earlier runs left in ``folder``; return how many temporary files.

    That is the temporary files of a crashed writer, and the folder of spare files
    (`SPARE_FOLDER`) that agents before issue 14 kept.
    """
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(folder / SPARE_FOLDER)
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(TEMPORARY_SUFFIX) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def sync_to_disk() -> None:
    """Flush every file written so far to disk: the staged files of a whole group at the cost of one call.

    ``sync`` covers every file system of the machine, not only the agent's folder; Python
    has no ``syncfs``. On Linux it returns once the data is written.
    """
    os.sync()


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
