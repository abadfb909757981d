"""Sync benchmark: commit -> stream -> agent file latencies, and a fact's fan-out to 2,000 renders.

Runs a real content service, relay and site agent on a fresh SQLite (or --database-url)
database and a Redis (LIAISON_REDIS_URL or --redis-url; its own stream prefix, cleaned up).

1. Publish-to-stream and publish-to-file: N publishes of the demo page, one after the
   other. "Commit" is the event's ``time`` (written last thing in the transaction, so just
   before the commit: the figures err on the slow side); "stream" is when a blocking
   XREAD in a listener process of its own receives the entry; "file" is the time the
   agent's journal records the write.
2. Fan-out: one global fact used by 1,000 pages in 2 locales is changed; the figure is
   the time from the fact's ``updated_at`` (taken when the transaction writes the new
   value, before it renders the 2,000 pages) until the agent has written all 2,000 renders.

    python -m bench.sync_bench --publishes 1000 --pages 1000
    python -m bench.sync_bench --failover --kills 8   # relay failover (bench/failover_bench.py)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis as sync_redis
from redis.asyncio import Redis

from schemas.documents import DocumentCreate, PublishRequest, RevisionCreate
from schemas.events import PageEvent
from schemas.facts import FactCreate, IntegerValue
from services.content.domain.access import Principal
from services.content.storage.database import Database
from services.content.usecases import documents, facts, revisions
from services.content.usecases.tokens import create_token

LIAISON = [sys.executable, "-m", "services.cli"]
BENCH = [sys.executable, "-m", "bench.sync_bench"]
SITE = "in-new-delhi"
BENCH_AUTHOR = Principal.system("bench")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{name:<22} n={len(ms):<5} p50 {_percentile(ms, 0.5):7.2f} ms   p99 {_percentile(ms, 0.99):7.2f} ms"
        f"   max {max(ms):7.2f} ms   mean {statistics.fmean(ms):7.2f} ms"
    )


def _journal(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split(" ") for line in path.read_text().splitlines()]


def _written_at(field: str) -> float:
    """Epoch seconds of a journal time (RFC 3339, as the agent writes it since its journal left epoch floats)."""
    return dt.datetime.fromisoformat(field).timestamp()


async def _fan_out_pages(db: Database, pages: int) -> None:
    """Create ``pages`` published pages (fr and en) that all show the fact ``bench.fanout``."""
    await facts.create_fact(db, BENCH_AUTHOR, FactCreate(key="bench.fanout", value=IntegerValue(1)))
    blocks = msgspec.convert(
        [
            {
                "type": "paragraph",
                "id": "p",
                "content": [{"type": "text", "text": "Value "}, {"type": "fact", "key": "bench.fanout"}],
            }
        ],
        list[object],
    )
    for i in range(pages):
        doc = await documents.create_document(
            db, BENCH_AUTHOR, DocumentCreate(kind="page", site=SITE, slug=f"fanout-{i}", source_locale="fr")
        )
        body = msgspec.convert({"title": f"Page {i}", "blocks": blocks}, RevisionCreate)
        await revisions.create_revision(db, BENCH_AUTHOR, doc.id, "fr", body, None)
        translated = msgspec.convert({"title": f"Page {i}", "blocks": blocks, "source_revision": 1}, RevisionCreate)
        await revisions.create_revision(db, BENCH_AUTHOR, doc.id, "en", translated, None)
        await revisions.publish(db, BENCH_AUTHOR, doc.id, "fr", PublishRequest(1))
        await revisions.publish(db, BENCH_AUTHOR, doc.id, "en", PublishRequest(1))


def listen(redis_url: str, stream: str, after: str, out: Path) -> None:
    """Record when each entry reaches a blocking XREAD (own process, so the publishing client never delays it).

    Writes one "<sequence> <commit to arrival, seconds>" line per entry to ``out`` until SIGTERM.
    """
    client = sync_redis.Redis.from_url(redis_url, socket_timeout=5)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    client.ping()
    out.with_suffix(".ready").touch()  # the bench publishes only from now on: no start-up time in the figures
    last = after
    with out.open("w") as lines:
        while not stopping:
            reply: Any = client.xread({stream: last}, block=200, count=1000)
            now = time.time()
            for _name, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    event = msgspec.json.decode(fields[b"event"], type=PageEvent)
                    lines.write(f"{int(event.sequence)} {now - event.time.timestamp():.6f}\n")
            lines.flush()


async def run(args: argparse.Namespace) -> None:
    """Set up, measure, print."""
    workdir = Path(tempfile.mkdtemp(prefix="liaison-sync-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    port = args.port
    env = {
        **os.environ,
        "LIAISON_DATABASE_URL": database_url,
        "LIAISON_REDIS_URL": args.redis_url,
        "LIAISON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LIAISON_STREAM_PREFIX": prefix,
        "LIAISON_LOG_FORMAT": "console",
    }
    subprocess.run([*LIAISON, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*LIAISON, "seed"], env=env, check=True, capture_output=True)
    db = Database.from_url(database_url)
    print(f"creating {args.pages} pages x 2 locales that show one fact ...", flush=True)
    started = time.perf_counter()
    await _fan_out_pages(db, args.pages)
    print(f"  done in {time.perf_counter() - started:.1f}s", flush=True)
    token = (await create_token(db, "bench", "admin", None, None)).secret
    headers = {"Authorization": f"Bearer {token}"}
    journal = workdir / "journal.log"
    logs = (workdir / "server.log").open("wb")
    processes = [
        subprocess.Popen([*LIAISON, "serve", "--port", str(port)], env=env, stdout=logs, stderr=logs),
        subprocess.Popen([*LIAISON, "sync", "run"], env=env, stdout=logs, stderr=logs),
    ]
    redis = Redis.from_url(args.redis_url, socket_timeout=5)
    api = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=api, timeout=30) as client:
            for _ in range(200):
                try:
                    await client.get("/health/live")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            processes.append(
                subprocess.Popen(
                    [*LIAISON, "agent", "--site", SITE, "--out", str(workdir / "site"), "--journal", str(journal)],
                    env=env,
                    stdout=logs,
                    stderr=logs,
                )
            )
            # Wait for the agent's initial resync of every page.
            deadline = time.monotonic() + 300
            while len({(p[1], p[2]) for p in _journal(journal)}) < args.pages * 2 + 2:
                if time.monotonic() > deadline:
                    raise SystemExit("the agent did not finish its initial sync")
                await asyncio.sleep(0.2)
            print("agent in sync; measuring publishes ...", flush=True)

            stream = prefix + SITE
            arrivals_file = workdir / "arrivals.log"
            top: Any = await redis.xrevrange(stream, count=1)
            after = top[0][0].decode() if top else "0-0"
            listener = subprocess.Popen(
                [*BENCH, "--listen", stream, "--after", after, "--arrivals", str(arrivals_file)], env=env
            )
            for _ in range(200):
                if arrivals_file.with_suffix(".ready").exists():
                    break
                await asyncio.sleep(0.05)
            listing = (await client.get(f"/v1/sites/{SITE}/pages", params={"limit": 1})).json()
            page_id = listing["items"][0]["document_id"]
            slug = listing["items"][0]["slug"]
            before = len(_journal(journal))
            # Two revisions to alternate between, so every publish changes the render.
            current = (await client.get(f"/v1/documents/{page_id}", headers=headers)).json()
            fr = next(v for v in current["variants"] if v["locale"] == "fr")
            base = fr["head_revision"]
            revision = (
                await client.get(f"/v1/documents/{page_id}/variants/fr/revisions/{base}", headers=headers)
            ).json()
            await client.post(
                f"/v1/documents/{page_id}/variants/fr/revisions",
                json={"title": revision["title"] + " (bench)", "blocks": revision["blocks"], "base_revision": base},
                headers=headers,
            )
            published_sequences: list[int] = []
            for i in range(args.publishes):
                number = base + (i % 2)
                response = await client.post(
                    f"/v1/documents/{page_id}/variants/fr/publish", json={"revision": number}, headers=headers
                )
                response.raise_for_status()
            await asyncio.sleep(1.0)
            deadline = time.monotonic() + 60
            events: Any = await redis.xrange(stream)
            for _entry_id, fields in events:
                event = msgspec.json.decode(fields[b"event"], type=PageEvent)
                if event.type.endswith("published") and event.data.slug == slug and event.data.locale == "fr":
                    published_sequences.append(int(event.sequence))
            published_sequences = published_sequences[-args.publishes :]
            while time.monotonic() < deadline:
                written = {int(p[0]) for p in _journal(journal)[before:]}
                if published_sequences and max(published_sequences) in written:
                    break
                await asyncio.sleep(0.1)
            listener.terminate()
            listener.wait(timeout=10)
            arrivals = {int(seq): float(lag) for seq, lag in (line.split() for line in arrivals_file.open())}
            times = {int(e[0]): _written_at(e[6]) for e in _journal(journal)[before:] if e[1] == slug and e[2] == "fr"}
            event_time = {
                int(msgspec.json.decode(f[b"event"], type=PageEvent).sequence): msgspec.json.decode(
                    f[b"event"], type=PageEvent
                ).time.timestamp()
                for _i, f in events
            }
            to_stream = [arrivals[s] for s in published_sequences if s in arrivals]
            to_file = [times[s] - event_time[s] for s in published_sequences if s in times]
            print(f"\n{args.publishes} publishes of {slug} (fr), one after the other:")
            _report("commit -> stream", to_stream)
            if to_file:
                _report("commit -> agent file", to_file)
            print(
                f"  ({len(to_file)} of {len(published_sequences)} publishes written by the agent: it skips an event "
                "whose render it already has and collapses a backlog)"
            )

            # Fan-out: one fact, 1,000 pages x 2 locales.
            before = len(_journal(journal))
            response = await client.put(
                "/v1/facts/global/bench.fanout",
                json={"value": {"type": "integer", "value": 2}, "base_version": 1},
                headers=headers,
            )
            answered = time.time()
            response.raise_for_status()
            committed = dt.datetime.fromisoformat(response.json()["updated_at"]).timestamp()
            deadline = time.monotonic() + 120
            while True:
                done = {(e[1], e[2]) for e in _journal(journal)[before:] if e[1].startswith("fanout-")}
                if len(done) >= args.pages * 2 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            write_times = [_written_at(e[6]) for e in _journal(journal)[before:] if e[1].startswith("fanout-")]
            print(
                f"\nfan-out: fact used by {args.pages} pages x 2 locales -> {len(done)} renders written by the agent "
                f"in {max(write_times) - committed:.2f} s after the commit\n"
                f"  (the PUT answered at {answered - committed:.2f} s, after rendering the pages in its transaction; "
                f"first file at {min(write_times) - committed:.2f} s)"
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        logs.close()
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await db.close()
        if args.keep:
            print(f"\nwork folder kept: {workdir} (server.log has every process's output)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishes", type=int, default=1000, help="publishes to time (default 1000)")
    parser.add_argument("--pages", type=int, default=1000, help="pages showing the fan-out fact (default 1000)")
    parser.add_argument("--database-url", help="database (default: a fresh SQLite file)")
    parser.add_argument("--redis-url", default=os.environ.get("LIAISON_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--port", type=int, default=8765, help="port of the content service (default 8765)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (database, files, logs)")
    parser.add_argument("--listen", metavar="STREAM", help=argparse.SUPPRESS)
    parser.add_argument("--arrivals", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--after", default="$", help=argparse.SUPPRESS)
    _failover_arguments(parser)
    args = parser.parse_args()
    if args.listen:
        listen(args.redis_url, args.listen, args.after, args.arrivals)
    elif args.failover:
        _failover(args)
    else:
        asyncio.run(run(args))


def _failover_arguments(parser: argparse.ArgumentParser) -> None:
    """``--failover``: measure bench/failover_bench.py's relay failover instead."""
    from bench import failover_bench

    parser.add_argument("--failover", action="store_true", help="time relay failovers (bench/failover_bench.py)")
    failover_bench.add_arguments(parser)


def _failover(args: argparse.Namespace) -> None:
    from bench import failover_bench

    asyncio.run(failover_bench.measure(args.database_url, args.redis_url, args.port, args.kills, args.keep))


if __name__ == "__main__":
    main()
