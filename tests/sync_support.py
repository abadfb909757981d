"""Real processes and real Redis for the sync tests: servers, relays, agents, and the final check."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis

from schemas.events import PageEvent
from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries

LIAISON = [sys.executable, "-m", "services.cli"]
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
PATIENCE = 60.0
"""Seconds a test waits for a state before it fails. Only a bound on a failure, never a pause (a state reached
sooner ends the wait at once), so it is generous: on a busy machine a process takes seconds to start."""


def test_redis_url() -> str:
    """The shared Redis of the test run (``LIAISON_TEST_REDIS_URL``), checked to answer."""
    url = os.environ.get("LIAISON_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        raise RuntimeError(
            f"the sync tests need Redis at {url} ({exc}); start it or set LIAISON_TEST_REDIS_URL"
        ) from exc
    return url


test_redis_url.__test__ = False  # type: ignore[attr-defined]  # imported by test modules: not a test


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A private redis-server on a free port, for tests that stop, restart or flush Redis."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (again, on the same port) with no persistence."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; the fault tests start their own")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill it (all data is lost: it keeps nothing on disk)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A started private Redis, killed at the end."""
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sync_env(database_url: str, redis_url: str, port: int, prefix: str | None = None) -> dict[str, str]:
    """Environment for liaison processes of one test (own stream prefix: the shared Redis stays clean)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env.update(
        LIAISON_DATABASE_URL=database_url,
        LIAISON_REDIS_URL=redis_url,
        LIAISON_PUBLIC_URL=f"http://127.0.0.1:{port}",
        LIAISON_PORT=str(port),
        LIAISON_STREAM_PREFIX=prefix or f"test:{uuid.uuid4().hex[:8]}:events:",
        LIAISON_RELAY_POLL_SECONDS="0.1",
        LIAISON_REDIS_SOCKET_TIMEOUT="2",
    )
    return env


class Process:
    """A liaison command running in the background, its output kept in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> None:
        self.args = args
        self.log = log
        self._handle = log.open("ab")
        # A process group of its own: `liaison serve` runs granian, whose workers are child processes
        # that a SIGKILL of the main process alone would leave running after the test.
        self.popen = subprocess.Popen(
            [*LIAISON, *args], env=env, stdout=self._handle, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )

    def kill(self) -> None:
        """SIGKILL: the crash case (the whole process group, workers included)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the graceful case; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def output(self) -> str:
        """What it printed so far."""
        self._handle.flush()
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        """Kill if still running and close the log."""
        self.kill()
        self._handle.close()


def wait_http(url: str, timeout: float = PATIENCE) -> None:
    """Wait until ``url`` answers (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


async def wait_until(condition: object, within: float = PATIENCE, interval: float = 0.05) -> None:
    """Poll an async or sync zero-argument callable until it returns true."""
    deadline = time.monotonic() + within
    while True:
        result = condition()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


async def stream_sequences(redis: Redis, stream: str) -> list[int]:
    """Sequences of the events in a stream, in stream order (checked against the entry ids)."""
    sequences: list[int] = []
    entries: Any = await redis.xrange(stream)
    for entry_id, fields in entries:
        event = msgspec.json.decode(fields[b"event"], type=PageEvent)
        assert entry_id.decode() == f"{int(event.sequence)}-0"
        sequences.append(int(event.sequence))
    return sequences


async def assert_each_event_once(db: Database, redis: Redis, prefix: str) -> None:
    """Every outbox event is in its site's stream exactly once, in sequence order, with no gap."""
    async with db.reading() as repo:
        queries = OutboxQueries.of(repo)
        heads = await queries.site_heads()
        backlog, _ = await queries.backlog()
    assert backlog == 0, f"{backlog} outbox rows not relayed"
    for site, head in heads.items():
        sequences = await stream_sequences(redis, prefix + site)
        assert sequences == list(range(1, head + 1)), (site, sequences[:20], head)


def assert_files_match_api(out_dir: Path, api: str, site: str) -> None:
    """Every published render of ``site`` is in ``out_dir`` with the API's current bytes, and nothing else."""
    expected: dict[str, bytes] = {}
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        listing = httpx.get(f"{api}/v1/sites/{site}/pages", params=params, timeout=30).json()
        for item in listing["items"]:
            for locale in item["locales"]:
                body = httpx.get(
                    f"{api}/v1/sites/{site}/pages/{item['slug']}", params={"locale": locale}, timeout=30
                ).content
                expected[f"{item['slug']}.{locale}.json"] = body
        cursor = listing["next_cursor"]
        if cursor is None:
            break
    found = {path.name: path.read_bytes() for path in out_dir.glob("*.json") if not path.name.startswith(".")}
    assert sorted(found) == sorted(expected), (sorted(found), sorted(expected))
    for name, body in expected.items():
        assert found[name] == body, f"{name} differs from the API's render"
        html = out_dir / name.replace(".json", ".html")
        assert html.read_text() == msgspec.json.decode(body)["html"]


def assert_journal_monotonic(journal: Path) -> None:
    """No file was ever written with a render from an older publication than one written before it.

    Journal lines: sequence, slug, locale, revision, publication time, ETag, write time (RFC 3339).
    """
    latest: dict[tuple[str, str], dt.datetime] = {}
    if not journal.exists():
        return
    for line in journal.read_text().splitlines():
        _sequence, slug, locale, revision, published, _etag, _written = line.split(" ")
        key = (slug, locale)
        at = dt.datetime.fromisoformat(published)
        assert at >= latest.get(key, at), f"{slug}.{locale} went back to an older publication ({revision})"
        latest[key] = at


@contextmanager
def unwritable(folder: Path) -> Iterator[int]:
    """``folder`` refuses new files, renames and removals until the block ends; yields the errno writes get.

    As root, permissions stop nothing (root passes every mode check), so the folder is made
    immutable (``chattr +i``: needs CAP_LINUX_IMMUTABLE, which root has, and ext2/3/4, XFS or
    Btrfs, the file systems CI runners use): writes get EPERM. As another user, ``chmod a-w``
    is enough: writes get EACCES. Either way the agent sees a real refusal from the kernel.
    """
    import errno

    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None:
            raise RuntimeError("as root, this test needs chattr (e2fsprogs) to make a folder unwritable")
        done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"chattr +i {folder} failed: {done.stderr.strip()} (the file system must support it)")
        try:
            yield errno.EPERM
        finally:
            subprocess.run([chattr, "-i", str(folder)], check=True)
        return
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        yield errno.EACCES
    finally:
        folder.chmod(mode)


def journal_writes(journal: Path) -> list[tuple[int, str, str]]:
    """(sequence, slug, locale) of every file write in an agent's journal, in order."""
    writes: list[tuple[int, str, str]] = []
    for line in journal.read_text().splitlines():
        sequence, slug, locale, _rest = line.split(" ", 3)
        writes.append((int(sequence), slug, locale))
    return writes


def assert_each_event_applied_once(journal: Path) -> None:
    """No event's render was written twice, and per page no event was applied after a later one."""
    writes = journal_writes(journal)
    assert len(writes) == len(set(writes)), "an event was applied twice"
    latest: dict[tuple[str, str], int] = {}
    for sequence, slug, locale in writes:
        assert sequence > latest.get((slug, locale), 0), f"{slug}.{locale}: event {sequence} after a later one"
        latest[(slug, locale)] = sequence
