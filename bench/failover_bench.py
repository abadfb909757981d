"""Failover benchmark: from a relay's SIGKILL to the next event in the stream, under a steady stream of publishes.

Runs a real content service and relays (``liaison serve``, ``liaison sync run``, default
settings: the 10 s lease users run) on a fresh SQLite database (or --database-url) and a
Redis (its own stream prefix, cleaned up). An editor publishes the demo page every 20 ms
throughout. Two cases, each repeated --kills times:

- restart: one relay; it is SIGKILLed and a new one started at once (a new name, as
  after a crash: before, it waited out the dead relay's lease). The figure includes
  the new process's start-up.
- standby: two relays; the active one is SIGKILLed, and a replacement standby started
  at once. The figure is the standby's takeover.

The figure is the time from the kill (the killed process reaped) until a blocking XREAD
of the site's stream receives an entry added after it.

    python -m bench.failover_bench --kills 8
    python -m bench.sync_bench --failover            # the same
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.usecases.tokens import create_token
from services.sync.relay import LEASE

LIAISON = [sys.executable, "-m", "services.cli"]
SITE = "in-new-delhi"
PUBLISH_EVERY_SECONDS = 0.02
READY = ("holding the lease", "another relay holds the lease")
"""What a relay logs once started: a standby killed before would measure its start-up, not its takeover."""


async def _publish_steadily(client: httpx.AsyncClient, headers: dict[str, str], stop: asyncio.Event) -> int:
    """Publish the site's first page (French) again and again until ``stop``; return how many times."""
    listing = (await client.get(f"/v1/sites/{SITE}/pages", params={"limit": 1})).json()
    page_id = listing["items"][0]["document_id"]
    document = (await client.get(f"/v1/documents/{page_id}", headers=headers)).json()
    revision = next(v for v in document["variants"] if v["locale"] == "fr")["published_revision"]
    count = 0
    while not stop.is_set():
        response = await client.post(
            f"/v1/documents/{page_id}/variants/fr/publish", json={"revision": revision}, headers=headers
        )
        response.raise_for_status()
        count += 1
        await asyncio.sleep(PUBLISH_EVERY_SECONDS)
    return count


async def _next_entry_after(redis: Redis, stream: str, after: str, within: float) -> float | None:
    """Wait for an entry after ``after``; return when it arrived (time.monotonic), None if none came."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        reply: Any = await redis.xread({stream: after}, block=100, count=1)
        if reply:
            return time.monotonic()
    return None


async def _top(redis: Redis, stream: str) -> str:
    last: Any = await redis.xrevrange(stream, count=1)
    return last[0][0].decode() if last else "0-0"


async def _active_pid(db: Database, relays: list[subprocess.Popen[bytes]], within: float = 60) -> int:
    """The pid of the relay holding the lease, once one of ``relays`` does."""
    pids = {relay.pid for relay in relays}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.reading() as repo:
            held = await OutboxQueries.of(repo).lease_holder(LEASE)
        if held is not None and int(held[0].rsplit(":", 1)[1]) in pids:
            return int(held[0].rsplit(":", 1)[1])
        await asyncio.sleep(0.05)
    raise SystemExit("no relay took the lease")


def _start_up_seconds(runs: int = 3) -> float:
    """Median time for a fresh interpreter to import the relay: the floor of the restart case, on this machine now."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import services.sync.cli, services.sync.relay"], check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def _report(name: str, seconds: list[float], missed: int) -> None:
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        print(f"{name:<10} no takeover measured ({missed} kills without a next event within the wait)")
        return
    print(
        f"{name:<10} kills={len(ms) + missed:<3} p50 {statistics.median(ms):7.1f} ms   max {max(ms):7.1f} ms"
        f"   min {min(ms):7.1f} ms" + (f"   ({missed} without a next event within the wait)" if missed else "")
    )


async def measure(database_url: str | None, redis_url: str, port: int, kills: int, keep: bool) -> None:
    """Set up, kill relays, print the delays."""
    workdir = Path(tempfile.mkdtemp(prefix="liaison-failover-bench-"))
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")},
        "LIAISON_DATABASE_URL": database_url,
        "LIAISON_REDIS_URL": redis_url,
        "LIAISON_PORT": str(port),
        "LIAISON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LIAISON_STREAM_PREFIX": prefix,
    }
    subprocess.run([*LIAISON, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*LIAISON, "seed"], env=env, check=True, capture_output=True)
    db = Database.from_url(database_url)
    token = (await create_token(db, "bench", "admin", None, None)).secret
    headers = {"Authorization": f"Bearer {token}"}
    logs: dict[int, Path] = {}

    def start(*args: str) -> subprocess.Popen[bytes]:
        log = workdir / f"{args[0]}-{len(logs)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen([*LIAISON, *args], env=env, stdout=out, stderr=out)
        logs[process.pid] = log
        return process

    async def started(relays: list[subprocess.Popen[bytes]], within: float = 60) -> None:
        """Wait until every relay has either the lease or says it waits for it (past its start-up)."""
        deadline = time.monotonic() + within
        while not all(any(w in logs[r.pid].read_text() for w in READY) for r in relays):
            if time.monotonic() > deadline:
                raise SystemExit("a relay did not start")
            await asyncio.sleep(0.05)

    server = start("serve")
    relays: list[subprocess.Popen[bytes]] = []
    redis = Redis.from_url(redis_url, socket_timeout=5)
    stream = prefix + SITE
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(400):
                try:
                    await client.get("/health/live")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            publisher = asyncio.create_task(_publish_steadily(client, headers, stop))
            results: dict[str, tuple[list[float], int]] = {}
            for case, standbys in (("restart", 0), ("standby", 1)):
                relays.extend(start("sync", "run") for _ in range(1 + standbys - len(relays)))
                delays: list[float] = []
                missed = 0
                for _ in range(kills):
                    active = await _active_pid(db, relays)
                    await started(relays)
                    # Let it relay for a while: the kill then lands mid-stream.
                    if await _next_entry_after(redis, stream, await _top(redis, stream), within=30) is None:
                        raise SystemExit("the relay does not relay")
                    await asyncio.sleep(0.5)
                    victim = next(r for r in relays if r.pid == active)
                    victim.kill()
                    victim.wait()
                    killed = time.monotonic()
                    relays.remove(victim)
                    relays.append(start("sync", "run"))  # at once, in both cases
                    arrived = await _next_entry_after(redis, stream, await _top(redis, stream), within=60)
                    if arrived is None:
                        missed += 1
                    else:
                        delays.append(arrived - killed)
                results[case] = (delays, missed)
            stop.set()
            published = await publisher
        start_up = _start_up_seconds()
        print(f"\n{published} publishes, one every {PUBLISH_EVERY_SECONDS * 1000:.0f} ms; relay lease: default")
        print(f"reference: a new interpreter imports the relay in {start_up * 1000:.0f} ms (median of 3), now")
        print("from a relay's SIGKILL to the next event in the stream:")
        for case, (delays, missed) in results.items():
            _report(case, delays, missed)
    finally:
        stop.set()
        for process in [*relays, server]:
            process.terminate()
        for process in [*relays, server]:
            process.wait(timeout=30)
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await db.close()
        if keep:
            print(f"work folder kept: {workdir} (a log per process)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark (shared with ``bench.sync_bench --failover``)."""
    parser.add_argument("--kills", type=int, default=8, help="kills per case (default 8)")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--database-url", help="database (default: a fresh SQLite file)")
    parser.add_argument("--redis-url", default=os.environ.get("LIAISON_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--port", type=int, default=8766, help="port of the content service (default 8766)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (database, logs)")
    args = parser.parse_args()
    asyncio.run(measure(args.database_url, args.redis_url, args.port, args.kills, args.keep))


if __name__ == "__main__":
    main()
