"""Agent file-writer benchmark: a fact's fan-out rewriting every file, with and without spare files.

The site agent writes a fan-out's renders through one writer thread by group commit
(`GroupCommit`): the renders fetched while the writer is busy are written together.
This script drives that writer alone, as fast as it can take renders (no content API,
so the writer is the bottleneck and its cost is not hidden behind fetches): N pages in
L locales, each render two files (``.html`` 6 KB and ``.json`` 16 KB), submitted by 32
concurrent callers (the agent's fetch concurrency), the state saved after every 500
renders (the agent's batch). One round rewrites every render with new bytes; the
figure is the time from the round's first submission to its last file renamed.

Writers compared, each in its own folder of the same file system, their rounds
interleaved so that noise from other processes falls on all of them alike:

- ``agent``: the agent's own writer (`services.sync.agent._write_renders`), as shipped.
- ``fsync``: new temporary file per file, ``fsync`` of each, rename (plain, portable).
- ``syncfs``: new temporary file per file, one ``syncfs`` per group, rename.
- ``spares``: the mechanism removed in issue 14, reproduced here to re-measure the
  decision: a replaced version is linked into ``.liaison-spare/`` and later written over
  (after a write lease proves nobody has it open) to stage another file; one ``syncfs``
  per group. Neither creates nor frees a file in a steady fan-out.
- ``floor``: the same bytes written over the files in place, no sync, no rename: the
  reference measured beside the others, what the machine does at best.

    python -m bench.agent_files_bench --folder tmpfs=/dev/shm/x --folder disk=/tmp/x --pages 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import fcntl
import itertools
import os
import shutil
import signal
import stat
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.sync import agent as agent_module
from services.sync.agent import RenderWrite
from services.sync.agent_files import GroupCommit
from services.sync.agent_state import AgentState, PageCopy, StateFile

Writer = Callable[[Sequence[RenderWrite], Path], list[BaseException | None]]
HTML_BYTES = 6 * 1024
JSON_BYTES = 16 * 1024
CONCURRENCY = 32
BATCH = 500


def _temporary(path: Path, data: bytes, *, durable: bool) -> Path:
    temporary = path.with_name(f".{path.name}.bench.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(descriptor, data)
        if durable:
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return temporary


def _syncfs(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(descriptor) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    finally:
        os.close(descriptor)


def write_fsync(writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
    """Each file staged and fsynced, then renamed."""
    staged = [(_temporary(path, data, durable=True), path) for write in writes for path, data in write.files]
    for temporary, path in staged:
        os.replace(temporary, path)
    return [None] * len(writes)


def write_sync(writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
    """Each file staged, one ``os.sync`` for the group (every file system), then renamed."""
    staged = [(_temporary(path, data, durable=False), path) for write in writes for path, data in write.files]
    os.sync()
    for temporary, path in staged:
        os.replace(temporary, path)
    return [None] * len(writes)


def write_parallel_fsync(writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
    """Each file staged, fsynced by 16 threads at once (their journal commits are shared), then renamed."""
    staged = [(_temporary(path, data, durable=False), path) for write in writes for path, data in write.files]

    def fsync(path: Path) -> None:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    list(_FSYNCERS.map(fsync, [temporary for temporary, _ in staged]))
    for temporary, path in staged:
        os.replace(temporary, path)
    return [None] * len(writes)


_FSYNCERS = ThreadPoolExecutor(max_workers=16)


def write_syncfs(writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
    """Each file staged, one syncfs for the group, then renamed."""
    staged = [(_temporary(path, data, durable=False), path) for write in writes for path, data in write.files]
    _syncfs(folder)
    for temporary, path in staged:
        os.replace(temporary, path)
    return [None] * len(writes)


class Spares:
    """The spare-file writer as the agent had it before issue 14 (``SpareFiles``), without the idle sweep."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / ".liaison-spare"
        self.folder.mkdir(exist_ok=True)
        self.spares: collections.deque[Path] = collections.deque()
        self.names = itertools.count()

    def stage(self, path: Path, data: bytes) -> Path:
        for _ in range(3):
            if not self.spares:
                break
            spare = self.spares.popleft()
            descriptor = os.open(spare, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                status = os.fstat(descriptor)
                if not stat.S_ISREG(status.st_mode) or status.st_nlink != 1:
                    self.spares.append(spare)
                    continue
                try:
                    fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_WRLCK)
                except OSError:
                    self.spares.append(spare)
                    continue
                fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_UNLCK)
                os.pwrite(descriptor, data, 0)
                os.ftruncate(descriptor, len(data))
                os.fchmod(descriptor, 0o644)
            finally:
                os.close(descriptor)
            return spare
        return _temporary(path, data, durable=False)

    def replace(self, temporary: Path, path: Path) -> None:
        name = self.folder / str(next(self.names))
        try:
            os.link(path, name, follow_symlinks=False)
            kept = True
        except FileNotFoundError:
            kept = False
        os.replace(temporary, path)
        if kept:
            self.spares.append(name)

    def write(self, writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
        staged = [(self.stage(path, data), path) for write in writes for path, data in write.files]
        _syncfs(folder)
        for temporary, path in staged:
            self.replace(temporary, path)
        return [None] * len(writes)


def write_floor(writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
    """The bytes written over the files in place: no sync, no rename (not atomic, not durable)."""
    for write in writes:
        for path, data in write.files:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(descriptor, data)
            finally:
                os.close(descriptor)
    return [None] * len(writes)


def write_agent(writes: Sequence[RenderWrite], folder: Path) -> list[BaseException | None]:
    """The agent's writer as shipped."""
    return agent_module._write_renders(writes, None)


def _writers(out: Path) -> dict[str, Writer]:
    return {
        "agent": write_agent,
        "fsync": write_fsync,
        "pfsync": write_parallel_fsync,
        "sync": write_sync,
        "syncfs": write_syncfs,
        "spares": Spares(out).write,
    }


async def _round(writer: Writer, out: Path, pages: int, locales: int, version: int) -> float:
    """Rewrite every render once through a group commit; return the seconds to the last file."""
    executor = ThreadPoolExecutor(max_workers=1)
    group = GroupCommit[RenderWrite](
        lambda writes: asyncio.get_running_loop().run_in_executor(executor, writer, writes, out)
    )
    state_file = StateFile(out, "bench")
    state = AgentState(site="bench")
    limit = asyncio.Semaphore(CONCURRENCY)
    html = (f"<p>version {version}</p>".encode() * HTML_BYTES)[:HTML_BYTES]
    json = (f'{{"version": {version}}}'.encode() * JSON_BYTES)[:JSON_BYTES]

    async def one(slug: str, locale: str) -> None:
        async with limit:
            base = out / f"{slug}.{locale}"
            files = ((base.with_name(base.name + ".html"), html), (base.with_name(base.name + ".json"), json))
            await group.submit(RenderWrite(files, ""))
            state.pages[f"{slug}.{locale}"] = PageCopy(version, f'"{version}"', version)

    keys = [(f"page-{page}", f"l{locale}") for page in range(pages) for locale in range(locales)]
    started = time.perf_counter()
    for at in range(0, len(keys), BATCH):
        await asyncio.gather(*(one(slug, locale) for slug, locale in keys[at : at + BATCH]))
        await asyncio.get_running_loop().run_in_executor(executor, state_file.save, state)
    elapsed = time.perf_counter() - started
    executor.shutdown()
    return elapsed


def _mount_options(folder: Path) -> str:
    found = subprocess.run(["findmnt", "-no", "FSTYPE,OPTIONS", "-T", str(folder)], capture_output=True, text=True)
    return found.stdout.strip().splitlines()[0] if found.stdout.strip() else "?"


def run(args: argparse.Namespace) -> None:
    """Measure every writer on every folder; print the medians and ratios."""
    # Spares are written over only while SIGIO is ignored (a lease break would otherwise end the process).
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    for spec in args.folder:
        name, _, root = spec.partition("=")
        base = Path(root)
        base.mkdir(parents=True, exist_ok=True)
        print(f"\n== {name}: {base} ({_mount_options(base)})")
        outs = {writer: base / writer for writer in [*args.writers, "floor"]}
        for out in outs.values():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
        writers = {**{w: f for w, f in _writers(outs["spares"]).items() if w in args.writers}, "floor": write_floor}
        times: dict[str, list[float]] = {writer: [] for writer in writers}
        try:
            for version in range(args.rounds + 1):
                for writer, function in writers.items():
                    seconds = asyncio.run(_round(function, outs[writer], args.pages, args.locales, version))
                    if version > 0:  # round 0 creates the files: a fan-out rewrites existing ones
                        times[writer].append(seconds)
            renders = args.pages * args.locales
            floor = statistics.median(times["floor"])
            print(f"{renders} renders ({2 * renders} files) rewritten {args.rounds} times; seconds to the last file")
            print(f"{'writer':<8} {'median':>8} {'min':>8} {'max':>8}  {'x floor':>8}")
            for writer, rounds in times.items():
                median = statistics.median(rounds)
                print(f"{writer:<8} {median:8.3f} {min(rounds):8.3f} {max(rounds):8.3f}  {median / floor:8.2f}")
            if "spares" in times:
                spares = statistics.median(times["spares"])
                for writer in [w for w in times if w not in {"spares", "floor"}]:
                    gain = 1 - spares / statistics.median(times[writer])
                    print(f"spares vs {writer}: {gain:+.0%} of the time saved by spare files")
        finally:
            for out in outs.values():
                with contextlib.suppress(OSError):
                    shutil.rmtree(out)


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", action="append", required=True, metavar="NAME=PATH", help="a folder to write in")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--locales", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="rewrites of every render (after the first write)")
    parser.add_argument("--writers", nargs="+", default=["agent", "fsync", "syncfs", "spares"])
    run(parser.parse_args())


if __name__ == "__main__":
    main()
