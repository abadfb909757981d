"""The site agent end to end: real `liaison serve`, `liaison sync run` and `liaison agent` processes.

Every test ends with the same check (`Cluster.final_check`): each agent's folder holds
exactly the API's published renders, no file ever went back to an older revision
(the agents run with ``--journal``), and every outbox event is in its stream once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import pytest
from aiohttp import web
from redis.asyncio import Redis

from schemas.delivery import PageRender
from schemas.events import PageEvent, sequence_text
from schemas.facts import FactUpdate
from services.content.demo.loader import SEED_AUTHOR
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.usecases import facts as fact_usecases
from services.redis_client import make_redis
from services.sync import agent as agent_module
from services.sync import agent_files
from services.sync.agent import MAX_EVENT_BYTES, Reply, SiteAgent
from services.sync.agent_errors import FileSystemError, PoisonEvent, Transient
from services.sync.agent_files import GroupCommit, stage_file
from services.sync.agent_health import AgentHealth, HealthLog, Mode
from services.sync.agent_state import AgentState, StateFile
from services.sync.cli import event_loop_factory, run_on_fast_loop
from services.sync.relay import Relay
from services.sync.status import SyncStatus, agent_reports
from tests.conftest import TokenFactory
from tests.helpers import fact, paragraph, revision, text
from tests.sync_support import (
    LIAISON,
    PATIENCE,
    Process,
    RedisServer,
    assert_each_event_applied_once,
    assert_each_event_once,
    assert_files_match_api,
    assert_journal_monotonic,
    free_port,
    journal_writes,
    redis_server,
    stream_sequences,
    sync_env,
    unwritable,
    wait_http,
    wait_until,
)
from tests.sync_support import test_redis_url as shared_redis_url  # a test_* name would be collected

SITES = ("in-new-delhi", "np-kathmandu")
SEEDED_SLUG = "internal-security-section"
COUNT_FACT = "network.embassy_count"


async def relayed(db: Database) -> bool:
    """True when the relay has nothing left to do."""
    async with db.reading() as repo:
        backlog, _ = await OutboxQueries.of(repo).backlog()
    return backlog == 0


# -- the cluster of processes ---------------------------------------------------------------


@dataclass
class AgentRun:
    """One site agent's folder, journal and current process."""

    site: str
    out: Path
    journal: Path
    log: Path
    process: Process | None = None

    def state(self) -> AgentState:
        """What the agent saved."""
        return StateFile(self.out, self.site).load()


@dataclass
class Cluster:
    """The processes of one test: a content server, a relay, agents; all stopped at the end."""

    tmp: Path
    database_url: str
    redis_url: str
    port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)
    agents: dict[str, AgentRun] = field(default_factory=dict)
    redis_server: RedisServer | None = None
    """The private redis-server, when the test has one (`private_cluster`): it may stop and start it."""

    def __post_init__(self) -> None:
        self.env = sync_env(self.database_url, self.redis_url, self.port)
        self.prefix = self.env["LIAISON_STREAM_PREFIX"]
        self.api = f"http://127.0.0.1:{self.port}"

    def stream(self, site: str) -> str:
        """A site's stream key."""
        return self.prefix + site

    def start(self, args: list[str], log: str) -> Process:
        """Start a liaison command; it is killed at the end of the test whatever happens."""
        process = Process(args, self.env, self.tmp / log)
        self.processes.append(process)
        return process

    def serve(self) -> Process:
        """Start the content API and wait until it answers."""
        process = self.start(["serve"], "serve.log")
        try:
            wait_http(self.api + "/health/live")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its output:\n{process.output()[-2000:]}") from exc
        return process

    def relay(self) -> Process:
        """Start the outbox relay."""
        return self.start(["sync", "run"], "relay.log")

    def agent(self, site: str, name: str | None = None) -> AgentRun:
        """Start (or restart) the agent of ``site`` (``name`` tells several agents of one site apart)."""
        name = name or site
        run = self.agents.get(name)
        if run is None:
            out = self.tmp / "sites" / name
            run = AgentRun(site, out, self.tmp / f"{name}.journal", self.tmp / f"agent-{name}.log")
            self.agents[name] = run
        assert run.process is None or run.process.popen.poll() is not None, "the agent is still running"
        args = ["agent", "--site", site, "--out", str(run.out), "--journal", str(run.journal)]
        run.process = self.start(args, run.log.name)
        return run

    def close(self) -> None:
        """Kill whatever still runs."""
        for process in self.processes:
            process.close()

    # -- convergence ---------------------------------------------------------------------

    async def matches(self, run: AgentRun) -> bool:
        """True when the agent's folder equals the API's published renders."""
        try:
            await asyncio.to_thread(assert_files_match_api, run.out, self.api, run.site)
        except (AssertionError, OSError, httpx.HTTPError):
            return False
        return True

    async def converge(self, db: Database, within: float = PATIENCE) -> None:
        """Wait until the outbox is relayed and every agent has applied its stream and matches the API."""
        await wait_until(lambda: relayed(db), within=within, interval=0.1)
        async with db.reading() as repo:
            heads = await OutboxQueries.of(repo).site_heads()
        for run in self.agents.values():
            head = heads.get(run.site, 0)
            await wait_until(lambda run=run, head=head: run.state().last_sequence >= head, within=within, interval=0.1)
            await wait_until(lambda run=run: self.matches(run), within=within, interval=0.2)

    async def final_check(
        self, db: Database, redis: Redis, within: float = PATIENCE, trimmed: dict[str, int] | None = None
    ) -> None:
        """The check every test ends with.

        ``trimmed`` names streams a test cut on purpose (site -> first sequence kept): those
        must hold every event from there on exactly once.
        """
        started = time.monotonic()
        await self.converge(db, within)
        print(f"converged in {time.monotonic() - started:.2f}s")
        for run in self.agents.values():
            assert_files_match_api(run.out, self.api, run.site)
            assert_journal_monotonic(run.journal)
        if not trimmed:
            await assert_each_event_once(db, redis, self.prefix)
            return
        async with db.reading() as repo:
            heads = await OutboxQueries.of(repo).site_heads()
            backlog, _ = await OutboxQueries.of(repo).backlog()
        assert backlog == 0
        for site, head in heads.items():
            sequences = await stream_sequences(redis, self.stream(site))
            assert sequences == list(range(trimmed.get(site, 1), head + 1)), (site, sequences[:20], head)


@pytest.fixture
def redis_url() -> str:
    """The shared test Redis."""
    return shared_redis_url()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the shared test Redis."""
    client = make_redis(redis_url, 5.0)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def running(cluster: Cluster, redis: Redis) -> AsyncIterator[Cluster]:
    """Kill the cluster's processes and delete its Redis keys at the end."""
    try:
        yield cluster
    finally:
        cluster.close()
        await delete_keys(redis, cluster.prefix)


@pytest.fixture
async def cluster(
    tmp_path: Path, database_url: str, redis_url: str, redis: Redis, seeded: Database
) -> AsyncIterator[Cluster]:
    """A cluster on the seeded database and the shared Redis."""
    async with running(Cluster(tmp_path, database_url, redis_url), redis) as started:
        yield started


async def delete_keys(redis: Redis, prefix: str) -> None:
    """Remove this test's keys from the shared Redis."""
    keys = [key async for key in redis.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await redis.delete(*keys)


# -- writes over HTTP ----------------------------------------------------------------------


class Editor:
    """Writes through the content API with an admin token, keeping track of heads."""

    def __init__(self, api: str, headers: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(base_url=api, headers=headers, timeout=30)
        self.heads: dict[tuple[int, str], int] = {}
        self.sources: dict[int, str] = {}

    async def aclose(self) -> None:
        """Close the client."""
        await self.http.aclose()

    async def call(self, method: str, url: str, expect: int = 200, **kwargs: Any) -> httpx.Response:
        """A request that must answer ``expect``."""
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code == expect, (method, url, response.status_code, response.text)
        return response

    async def document_id(self, site: str, slug: str) -> int:
        """The document id of a published page."""
        listing = (await self.call("GET", f"/v1/sites/{site}/pages", params={"limit": 500})).json()
        for item in listing["items"]:
            if item["slug"] == slug:
                document_id: int = item["document_id"]
                return document_id
        raise AssertionError(f"{site}/{slug} is not published")

    async def head(self, document_id: int, locale: str) -> int | None:
        """The head revision of a variant."""
        key = (document_id, locale)
        if document_id not in self.sources:
            document = (await self.call("GET", f"/v1/documents/{document_id}")).json()
            self.sources[document_id] = document["source_locale"]
            for variant in document["variants"]:
                if variant["head_revision"] is not None:
                    self.heads[(document_id, variant["locale"])] = variant["head_revision"]
        return self.heads.get(key)

    async def create_page(self, site: str, slug: str, source_locale: str = "fr") -> int:
        """Create a page document."""
        body = {"kind": "page", "site": site, "slug": slug, "source_locale": source_locale}
        created = await self.call("POST", "/v1/documents", expect=201, json=body)
        document_id: int = created.json()["id"]
        self.sources[document_id] = source_locale
        return document_id

    async def write(self, document_id: int, locale: str, words: str) -> int:
        """Write a new revision (on the current head) that shows ``words`` and the embassy count.

        A translation names the source's head as the revision it translates.
        """
        base = await self.head(document_id, locale)
        body = revision(words[:60], paragraph(text(words + " "), fact(COUNT_FACT)))
        if base is not None:
            body["base_revision"] = base
        if locale != self.sources[document_id]:
            body["source_revision"] = await self.head(document_id, self.sources[document_id])
        created = await self.call("POST", f"/v1/documents/{document_id}/variants/{locale}/revisions", 201, json=body)
        number: int = created.json()["number"]
        self.heads[(document_id, locale)] = number
        return number

    async def publish(self, document_id: int, locale: str, number: int) -> None:
        """Make a revision live."""
        await self.call("POST", f"/v1/documents/{document_id}/variants/{locale}/publish", json={"revision": number})

    async def write_and_publish(self, document_id: int, locale: str, words: str) -> int:
        """A new live revision."""
        number = await self.write(document_id, locale, words)
        await self.publish(document_id, locale, number)
        return number

    async def unpublish(self, document_id: int, locale: str) -> None:
        """Take a variant offline."""
        await self.call("POST", f"/v1/documents/{document_id}/variants/{locale}/unpublish")

    async def set_fact(self, scope: str, key: str, value: int) -> None:
        """A new version of an integer fact, based on the current one (If-Match)."""
        current = await self.call("GET", f"/v1/facts/{scope}/{key}")
        await self.call(
            "PUT",
            f"/v1/facts/{scope}/{key}",
            json={"value": {"type": "integer", "value": value}},
            headers={"If-Match": current.headers["etag"]},
        )


@pytest.fixture
async def editor_token(make_token: TokenFactory) -> dict[str, str]:
    """Authorization header of the admin that makes the tests' changes."""
    return await make_token("admin", name="sync-agent-tests")


@pytest.fixture
async def editor(cluster: Cluster, editor_token: dict[str, str]) -> AsyncIterator[Editor]:
    """An admin editor of the cluster's API (the server must be started before use)."""
    writer = Editor(cluster.api, editor_token)
    yield writer
    await writer.aclose()


def rng(seed: int) -> random.Random:
    """A seeded generator: the tests' choices are reproducible."""
    return random.Random(seed)


def published_files(out: Path) -> set[str]:
    """Names of the renders in an agent's folder (not its complete pages, sitemap and stylesheet)."""
    return {
        path.name for path in out.glob("*.*") if not path.name.startswith(".") and path.suffix in (".html", ".json")
    }


# -- 1. the happy path ------------------------------------------------------------------------


async def test_agent_resyncs_an_empty_folder_then_follows_publish_fact_and_unpublish(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    agents = [cluster.agent(site) for site in SITES]
    delhi = agents[0]
    expected = {f"{SEEDED_SLUG}.{locale}.{ext}" for locale in ("fr", "en") for ext in ("html", "json")}
    await wait_until(lambda: published_files(delhi.out) == expected)
    await cluster.converge(db)

    document_id = await editor.document_id("in-new-delhi", SEEDED_SLUG)
    fr = delhi.out / f"{SEEDED_SLUG}.fr.json"

    started = time.monotonic()
    number = await editor.write_and_publish(document_id, "fr", "Nouvelle version de la section")
    await wait_until(lambda: revision_in(fr) == number)
    print(f"publish reached the files in {time.monotonic() - started:.2f}s")

    started = time.monotonic()
    await editor.set_fact("global", COUNT_FACT, 81)
    for run in agents:
        for locale in ("fr", "en"):
            page = run.out / f"{SEEDED_SLUG}.{locale}.json"
            await wait_until(lambda page=page: fact_value(page, COUNT_FACT) == 81)
    print(f"fact update reached the files in {time.monotonic() - started:.2f}s")

    started = time.monotonic()
    await editor.unpublish(document_id, "fr")
    await editor.unpublish(document_id, "en")
    await wait_until(lambda: published_files(delhi.out) == set())
    print(f"unpublish reached the files in {time.monotonic() - started:.2f}s")
    assert published_files(agents[1].out) == expected

    await cluster.final_check(db, redis)
    for run in agents:
        assert run.process is not None
        assert run.process.terminate() == 0


async def churn(
    editor: Editor,
    variants: list[tuple[int, str]],
    count: int,
    rng: random.Random,
    *,
    pause: float = 0.1,
    fact_every: int = 5,
    label: str = "change",
) -> None:
    """``count`` changes: new live revisions of random variants, and every ``fact_every``-th a fact update."""
    for i in range(count):
        if fact_every and i % fact_every == fact_every - 1:
            await editor.set_fact("global", COUNT_FACT, 1000 + rng.randrange(1_000_000))
        else:
            document_id, locale = rng.choice(variants)
            await editor.write_and_publish(document_id, locale, f"{label} {i}")
        if pause:
            await asyncio.sleep(rng.uniform(0, pause))


async def seeded_variants(editor: Editor, site: str = "in-new-delhi") -> list[tuple[int, str]]:
    """The seeded page's two variants on ``site``."""
    document_id = await editor.document_id(site, SEEDED_SLUG)
    return [(document_id, "fr"), (document_id, "en")]


# -- 2. crashes --------------------------------------------------------------------------------


async def test_agent_killed_at_random_moments_converges(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    chooser, killer = rng(20260611), rng(7)
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    variants = await seeded_variants(editor)
    changes = asyncio.create_task(churn(editor, variants, 20, chooser, pause=0.25))
    kills = 0
    try:
        while not changes.done() or kills < 5:
            await asyncio.sleep(killer.uniform(0.1, 1.2))
            assert run.process is not None
            run.process.kill()
            kills += 1
            run = cluster.agent("in-new-delhi")
    finally:
        await changes
    print(f"agent killed {kills} times")
    assert kills >= 5
    await cluster.final_check(db, redis)


async def test_agent_killed_after_delivery_before_applying_catches_up_at_restart(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    """An entry Redis delivered to an agent that died before applying it must not wait for a later change."""
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    # A page in one locale: publishing it makes exactly one event (no alternates to refresh).
    document_id, locale = await editor.create_page("in-new-delhi", "solo"), "fr"
    await editor.write_and_publish(document_id, locale, "first")
    await cluster.converge(db)
    assert run.process is not None
    stream = cluster.stream("in-new-delhi")
    consumers: Any = await redis.xinfo_consumers(stream, "site-agent")
    (consumer,) = [entry["name"] for entry in consumers]
    run.process.popen.send_signal(signal.SIGSTOP)
    number = await editor.write_and_publish(document_id, locale, "delivered to a frozen agent")
    await wait_until(lambda: relayed(db), interval=0.1)
    # Redis hands the entry to the frozen agent's consumer: to its blocked read, if it was in one and that
    # read has not timed out yet; otherwise to this read, made in its name.
    await redis.xreadgroup("site-agent", consumer, {stream: ">"}, count=1)
    summary: Any = await redis.xpending(stream, "site-agent")
    assert summary["pending"] == 1
    assert [entry["name"] for entry in summary["consumers"]] == [consumer]
    run.process.kill()
    run = cluster.agent("in-new-delhi")
    page = run.out / f"solo.{locale}.json"
    started = time.monotonic()
    await wait_until(lambda: revision_in(page) == number, interval=0.1)
    print(f"the restarted agent applied the change in {time.monotonic() - started:.2f}s")
    await cluster.final_check(db, redis)


class Crash(Exception):
    """Stands for the process dying at this exact point."""


def in_process_agent(cluster: Cluster, run: AgentRun) -> SiteAgent:
    """A SiteAgent in this process, configured like the CLI one, with a fixed consumer name."""
    settings = Settings.from_env(cluster.env)
    return SiteAgent(
        settings,
        run.site,
        run.out,
        cluster.api,
        make_redis(cluster.redis_url, settings.redis_socket_timeout),
        make_redis(cluster.redis_url, settings.redis_socket_timeout, max_connections=1),
        consumer="in-process",
        journal=run.journal,
    )


async def close_agent(agent: SiteAgent) -> None:
    """Close what an in-process agent holds."""
    await agent.aclose()
    await agent.redis.aclose()
    await agent.blocking_redis.aclose()


def crash_once(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original``, except that its first call raises Crash."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Crash(original.__name__)
        return original(*args, **kwargs)

    return wrapper


def fact_value(path: Path, key: str) -> Any:
    """The value of fact ``key`` in a render file (None when the file or the fact is missing)."""
    try:
        render = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        return None
    return next((used["value"]["value"] for used in render["facts"] if used["key"] == key), None)


def revision_in(path: Path) -> int | None:
    """The revision of a render file, or None when there is none."""
    try:
        revision: int = msgspec.json.decode(path.read_bytes())["revision"]
    except FileNotFoundError:
        return None
    return revision


@pytest.mark.parametrize("point", ["before-write", "after-write-before-state", "after-state-before-ack"])
async def test_agent_crash_between_fetch_write_state_and_ack_is_repaired_on_restart(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    cluster.serve()
    cluster.relay()
    run = AgentRun(
        "in-new-delhi", cluster.tmp / "in-process", cluster.tmp / "in-process.journal", cluster.tmp / "unused.log"
    )
    cluster.agents["in-process"] = run
    document_id = await editor.create_page("in-new-delhi", "solo")
    await editor.write_and_publish(document_id, "fr", "first")
    page = run.out / "solo.fr.json"
    stream = cluster.stream("in-new-delhi")

    agent = in_process_agent(cluster, run)
    task = asyncio.create_task(agent.run(asyncio.Event()))
    try:
        await cluster.converge(db)
        if point == "before-write":
            monkeypatch.setattr("services.sync.agent.stage_file", crash_once(stage_file))
        elif point == "after-write-before-state":
            monkeypatch.setattr(agent.state_file, "save", crash_once(agent.state_file.save))
        else:
            monkeypatch.setattr(agent.redis, "xack", crash_once(agent.redis.xack))
        number = await editor.write_and_publish(document_id, "fr", f"crash {point}")
        with pytest.raises(Crash):
            await asyncio.wait_for(asyncio.shield(task), PATIENCE)
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await close_agent(agent)
        monkeypatch.undo()

    # What the dead agent left: the file written or not, the entry unacknowledged.
    assert (revision_in(page) == number) is (point != "before-write")
    summary: Any = await redis.xpending(stream, "site-agent")
    assert summary["pending"] == 1

    stop = asyncio.Event()
    agent = in_process_agent(cluster, run)
    task = asyncio.create_task(agent.run(stop))
    try:
        await wait_until(lambda: revision_in(page) == number)

        async def acknowledged() -> bool:
            summary: Any = await redis.xpending(stream, "site-agent")
            return bool(summary["pending"] == 0)

        await wait_until(acknowledged)
        await cluster.final_check(db, redis)
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE)
        await close_agent(agent)


# -- 3. offline past the retention ------------------------------------------------------------------


async def test_agent_offline_while_stream_and_feed_are_trimmed_resyncs_fully(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    gone = await editor.create_page("in-new-delhi", "soon-gone")
    await editor.write_and_publish(gone, "fr", "bientôt retirée")
    await cluster.converge(db)
    assert (run.out / "soon-gone.fr.json").exists()
    assert run.process is not None
    assert run.process.terminate() == 0
    offline_at = run.state().last_sequence

    await churn(editor, await seeded_variants(editor), 20, rng(3), pause=0)
    await editor.unpublish(gone, "fr")
    await wait_until(lambda: relayed(db))
    stream = cluster.stream("in-new-delhi")
    await redis.xtrim(stream, maxlen=1, approximate=False)
    kept = await stream_sequences(redis, stream)
    assert len(kept) == 1
    assert kept[0] > offline_at + 1
    relay = Relay(
        Settings(database_url=cluster.database_url, stream_prefix=cluster.prefix, outbox_retention=2), db, redis
    )
    assert await relay.trim_outbox() > 0
    async with httpx.AsyncClient(base_url=cluster.api) as http:
        feed = await http.get("/v1/changes", params={"site": "in-new-delhi", "after": offline_at})
    assert feed.status_code == 410, feed.text

    run = cluster.agent("in-new-delhi")
    await cluster.final_check(db, redis, trimmed={"in-new-delhi": kept[0]})
    assert not (run.out / "soon-gone.fr.json").exists()
    assert run.log.read_text().count("full resync done") == 2, "the restart resynchronised from the page list"


# -- 4. Redis loses the group, or everything ----------------------------------------------------------


async def test_agent_recreates_a_destroyed_consumer_group(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    await cluster.converge(db)
    stream = cluster.stream("in-new-delhi")
    assert await redis.xgroup_destroy(stream, "site-agent")
    await churn(editor, await seeded_variants(editor), 6, rng(4), pause=0.05)
    await cluster.final_check(db, redis)
    groups = await redis.xinfo_groups(stream)
    assert [group["name"] for group in groups] == [b"site-agent"]
    assert "consumer group gone" in run.log.read_text()


@contextlib.asynccontextmanager
async def private_cluster(
    tmp_path: Path, database_url: str, token: dict[str, str]
) -> AsyncIterator[tuple[Cluster, Editor, Redis]]:
    """A cluster on its own redis-server, which the test may flush."""
    with redis_server(tmp_path) as server:
        private = make_redis(server.url, 5.0)
        try:
            async with running(Cluster(tmp_path, database_url, server.url, redis_server=server), private) as cluster:
                cluster.serve()
                cluster.relay()
                editor = Editor(cluster.api, token)
                try:
                    yield cluster, editor, private
                finally:
                    await editor.aclose()
        finally:
            await private.aclose()


async def streams_complete(db: Database, redis: Redis, cluster: Cluster) -> bool:
    """True when every site's stream holds its events 1..head."""
    async with db.reading() as repo:
        heads = await OutboxQueries.of(repo).site_heads()
    for site, head in heads.items():
        if await stream_sequences(redis, cluster.stream(site)) != list(range(1, head + 1)):
            return False
    return True


async def test_agents_survive_a_redis_flush(
    tmp_path: Path, database_url: str, editor_token: dict[str, str], db: Database, seeded: Database
) -> None:
    async with private_cluster(tmp_path, database_url, editor_token) as (cluster, editor, private):
        runs = [cluster.agent(site) for site in SITES]
        variants = await seeded_variants(editor)
        await churn(editor, variants, 4, rng(5), pause=0.05)
        await cluster.converge(db)

        assert await private.flushall()
        await wait_until(lambda: streams_complete(db, private, cluster), interval=0.1)
        for run in runs:  # their blocked reads have noticed
            await wait_until(lambda run=run: "consumer group gone" in run.log.read_text(), interval=0.1)
        for run in runs:
            assert run.process is not None
            assert run.process.popen.poll() is None, f"agent {run.site} exited:\n{run.process.output()[-1500:]}"
        await churn(editor, variants, 6, rng(6), pause=0.05)
        await cluster.final_check(db, private)


async def test_events_written_just_after_a_redis_flush_still_leave_every_event_in_the_stream(
    tmp_path: Path, database_url: str, editor_token: dict[str, str], db: Database, seeded: Database
) -> None:
    """Redis loses everything, and a change is relayed before the relay's loss check runs."""
    async with private_cluster(tmp_path, database_url, editor_token) as (cluster, editor, private):
        runs = [cluster.agent(site) for site in SITES]
        await cluster.converge(db)
        for run in runs:  # stopped: this test is about the stream, not the agents' blocked reads
            assert run.process is not None
            assert run.process.terminate() == 0
        assert await private.flushall()
        await editor.set_fact("global", COUNT_FACT, 90)
        for site in SITES:
            cluster.agent(site)
        await cluster.final_check(db, private)


# -- 5. duplicates and stale events -----------------------------------------------------------------


def render_files(out: Path) -> dict[str, bytes]:
    """The renders in an agent's folder, by name."""
    return {path.name: path.read_bytes() for path in out.glob("*.*") if not path.name.startswith(".")}


async def group_caught_up(redis: Redis, stream: str, last_id: str) -> bool:
    """True when the site-agent group was handed everything up to ``last_id`` and acknowledged it."""
    groups: Any = await redis.xinfo_groups(stream)
    group = next(g for g in groups if g["name"] == b"site-agent")
    return bool(group["last-delivered-id"] == last_id.encode() and group["pending"] == 0)


async def test_duplicate_and_out_of_order_events_do_no_harm(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    chooser = rng(8)
    variants = await seeded_variants(editor)
    await churn(editor, variants, 8, chooser, pause=0)
    await cluster.converge(db)
    stream = cluster.stream("in-new-delhi")
    entries: Any = await redis.xrange(stream)
    top = int(entries[-1][0].split(b"-")[0])
    files, journal, last = render_files(run.out), run.journal.read_text(), run.state().last_sequence
    assert last == top

    # Copies of every event, shuffled, with ids just above the top (``<top>-1``...) so that
    # the relay's next id ``<top + 1>-0`` stays valid.
    copies = [fields for _id, fields in entries]
    chooser.shuffle(copies)
    injected = [await redis.xadd(stream, fields, id=f"{top}-{k}") for k, fields in enumerate(copies, 1)]
    await wait_until(lambda: group_caught_up(redis, stream, f"{top}-{len(copies)}"))
    assert render_files(run.out) == files, "a duplicate changed a file"
    assert run.journal.read_text() == journal, "a duplicate was written again"
    assert run.state().last_sequence == top

    await churn(editor, variants, 4, chooser, pause=0)
    await cluster.converge(db)
    assert run.state().last_sequence > top
    assert await redis.xdel(stream, *injected) == len(injected)  # not outbox events
    await cluster.final_check(db, redis)


# -- 6. poison messages ------------------------------------------------------------------------------


async def test_poison_entries_are_dead_lettered_and_acknowledged_and_later_events_flow(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.env["LIAISON_AGENT_DEAD_LETTER_AFTER"] = "3"
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    await cluster.converge(db)
    stream = cluster.stream("in-new-delhi")
    entries: Any = await redis.xrange(stream)
    top = int(entries[-1][0].split(b"-")[0])
    real = msgspec.json.decode(entries[-1][1][b"event"])
    other: Any = await redis.xrange(cluster.stream("np-kathmandu"), count=1)

    def variant(**changes: Any) -> bytes:
        event = {**real, **changes}
        return msgspec.json.encode({k: v for k, v in event.items() if v is not None})

    poison: dict[str, Any] = {
        "bad JSON": {"event": b'{"id": "1", "source": '},
        "no event field": {"payload": msgspec.json.encode(real)},
        "no id": {"event": variant(id=None)},
        "wrong specversion": {"event": variant(specversion="0.3")},
        "huge": {"event": variant(data={**real["data"], "cause": "x" * (MAX_EVENT_BYTES + 1)})},
        "other site": {"event": other[0][1][b"event"]},
        "not UTF-8": {"event": b"\xff\xfe\x00\x80"},
    }
    ids = {
        name: await redis.xadd(stream, fields, id=f"{top}-{k}") for k, (name, fields) in enumerate(poison.items(), 1)
    }
    dead = stream + ":dead"

    async def all_dead() -> bool:
        return bool(await redis.xlen(dead) >= len(poison))

    await wait_until(all_dead)
    letters: Any = await redis.xrange(dead)
    assert sorted(fields[b"entry"] for _id, fields in letters) == sorted(ids.values())
    assert all(fields[b"error"] for _id, fields in letters)
    summary: Any = await redis.xpending(stream, "site-agent")
    assert summary["pending"] == 0, "dead letters are acknowledged"
    assert run.process is not None
    assert run.process.popen.poll() is None

    await churn(editor, await seeded_variants(editor), 3, rng(9), pause=0)
    await cluster.converge(db)
    assert await redis.xdel(stream, *ids.values()) == len(ids)  # not outbox events
    await cluster.final_check(db, redis)


async def test_event_whose_slug_leaves_the_folder_is_dead_lettered_and_deletes_nothing(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    """A slug is a file name for the agent: one that is not a valid slug must never reach the file system."""
    cluster.env["LIAISON_AGENT_DEAD_LETTER_AFTER"] = "3"
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    await cluster.converge(db)
    stream = cluster.stream("in-new-delhi")
    entries: Any = await redis.xrange(stream)
    top = int(entries[-1][0].split(b"-")[0])
    real = msgspec.json.decode(entries[-1][1][b"event"])
    canaries = [cluster.tmp / "escape.fr.json", cluster.tmp / "escape.fr.html"]
    for canary in canaries:
        canary.write_text("not the agent's to touch")
    # Looks like the next event, but its slug climbs out of the agent's folder to ``cluster.tmp``.
    forged = {
        **real,
        "id": "forged",
        "sequence": sequence_text(top + 1),
        "data": {**real["data"], "slug": "../../escape", "revision": None},
    }
    entry = await redis.xadd(stream, {"event": msgspec.json.encode(forged)}, id=f"{top}-1")
    await wait_until(lambda: group_caught_up(redis, stream, f"{top}-1"))
    assert all(canary.exists() for canary in canaries), "an event's slug made the agent delete files outside its folder"
    letters: Any = await redis.xrange(stream + ":dead")
    assert [fields[b"entry"] for _id, fields in letters] == [entry]
    assert run.state().last_sequence == top, "a refused event must not move the agent's cursor"

    # The real event with that sequence still applies.
    document_id, _locale = (await seeded_variants(editor))[0]
    number = await editor.write_and_publish(document_id, "fr", "after the forged event")
    page = run.out / f"{SEEDED_SLUG}.fr.json"
    await wait_until(lambda: revision_in(page) == number)
    assert await redis.xdel(stream, entry) == 1  # not an outbox event
    await cluster.final_check(db, redis)


async def test_poison_entry_is_tried_exactly_n_times_before_the_dead_letter_stream(
    cluster: Cluster, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted in process: a poison entry is decoded N times (N = agent_dead_letter_after), then dead-lettered."""
    settings = Settings(stream_prefix=cluster.prefix + "inproc:", agent_dead_letter_after=3)
    agent = SiteAgent(
        settings,
        "in-new-delhi",
        cluster.tmp / "inproc",
        "http://127.0.0.1:9",  # never asked: the entries fail before any request
        make_redis(cluster.redis_url, 2.0),
        make_redis(cluster.redis_url, 2.0, max_connections=1),
    )
    tries = 0
    decode = agent._decode

    def counting(fields: dict[bytes, bytes]) -> Any:
        nonlocal tries
        tries += 1
        return decode(fields)

    monkeypatch.setattr(agent, "_decode", counting)
    agent.out_dir.mkdir()
    try:
        for k, fields in enumerate([{b"event": b"{"}, {b"other": b"x"}, {b"event": b"\xff"}], 1):
            tries = 0
            await agent.handle(f"1-{k}".encode(), fields)
            assert tries == 3
        assert await redis.xlen(agent.dead_letters) == 3
        # Kept in the state file too, with the reasons: a Redis that loses its data loses the stream of them.
        kept = StateFile(agent.out_dir, "in-new-delhi").load().dead_letters
        assert [letter.entry for letter in kept] == ["1-1", "1-2", "1-3"]
        assert "not a page event" in kept[0].reason
        assert "no 'event' field" in kept[1].reason
    finally:
        await close_agent(agent)


# -- 7. a burst over three sites ----------------------------------------------------------------------


THIRD_SITE = "lk-colombo"


async def new_pages(editor: Editor, site: str, count: int) -> list[tuple[int, str]]:
    """``count`` new fr/en pages on ``site``, published; their variants."""
    variants: list[tuple[int, str]] = []
    for i in range(count):
        document_id = await editor.create_page(site, f"burst-{i}")
        for locale in ("fr", "en"):
            await editor.write_and_publish(document_id, locale, f"{site} page {i} {locale}")
            variants.append((document_id, locale))
    return variants


async def burst_variants(editor: Editor, pages_per_site: int) -> list[tuple[int, str]]:
    """A third site, and ``pages_per_site`` extra fr/en pages on each site, all published."""
    await editor.call(
        "POST",
        "/v1/sites",
        json={
            "key": THIRD_SITE,
            "name": "Ambassade de France au Sri Lanka",
            "locales": ["fr", "en"],
            "default_locale": "fr",
            "fallback": ["fr", "en"],
            "country": "LK",
        },
        expect=201,
    )
    variants: list[tuple[int, str]] = []
    for site in (*SITES, THIRD_SITE):
        variants += await new_pages(editor, site, pages_per_site)
    return variants


async def burst(editor: Editor, variants: list[tuple[int, str]], operations: int, workers: int, seed: int) -> None:
    """``operations`` writes by ``workers`` concurrent editors on their own variants; worker 0 updates facts."""

    async def worker(index: int) -> None:
        mine = variants[index::workers]
        chooser = rng(seed + index)
        for i in range(operations // workers):
            if index == 0 and i % 2 == 1:
                await editor.set_fact("global", COUNT_FACT, 2000 + i)
            else:
                document_id, locale = chooser.choice(mine)
                await editor.write_and_publish(document_id, locale, f"burst {index}.{i}")

    await asyncio.gather(*(worker(index) for index in range(workers)))


async def outbox_events(db: Database) -> int:
    """How many events the outbox has sequenced, all sites together."""
    async with db.reading() as repo:
        return sum((await OutboxQueries.of(repo).site_heads()).values())


@pytest.mark.slow
async def test_burst_of_a_thousand_changes_over_three_sites_converges(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    variants = await burst_variants(editor, pages_per_site=3)
    for site in (*SITES, THIRD_SITE):
        cluster.agent(site)
    started = time.monotonic()
    await burst(editor, variants, operations=240, workers=4, seed=10)
    written = time.monotonic() - started
    await cluster.final_check(db, redis)
    events = await outbox_events(db)
    print(f"burst: {events} events in {written:.1f}s of writes, converged after {time.monotonic() - started:.1f}s")
    assert events >= 1000


# -- 8. SIGTERM mid-burst -----------------------------------------------------------------------------


def assert_journal_sequences_never_decrease(journal: Path) -> None:
    """Per (page, locale), the agent never applied an older event after a newer one."""
    latest: dict[tuple[str, str], int] = {}
    for line in journal.read_text().splitlines():
        sequence, slug, locale, _rest = line.split(" ", 3)
        key = (slug, locale)
        assert int(sequence) >= latest.get(key, 0), f"{slug}.{locale}: event {sequence} applied after a later one"
        latest[key] = int(sequence)


async def test_sigterm_mid_burst_exits_cleanly_and_restart_loses_nothing(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    delhi = await new_pages(editor, "in-new-delhi", 2) + await seeded_variants(editor)
    await cluster.converge(db)
    converged = len(run.journal.read_text().splitlines())
    writes = asyncio.create_task(churn(editor, delhi, 60, rng(11), pause=0.02, fact_every=4))
    try:
        # SIGTERM once the agent is applying the burst.
        await wait_until(lambda: len(run.journal.read_text().splitlines()) > converged)
        assert run.process is not None
        applied_before = len(run.journal.read_text().splitlines())
        started = time.monotonic()
        code = await asyncio.to_thread(run.process.terminate, PATIENCE)
        stopped_in = time.monotonic() - started
        print(f"SIGTERM: exit code {code} after {stopped_in:.2f}s")
        assert code == 0
        assert stopped_in < 20, "well within the 30 s that Docker waits before SIGKILL"
        assert "stopped at sequence" in run.log.read_text()
        assert not writes.done(), "the burst should still be running"
        stopped_at = run.state().last_sequence

        async def changed_meanwhile() -> bool:
            async with db.reading() as repo:
                head = (await OutboxQueries.of(repo).site_heads()).get("in-new-delhi", 0)
            return writes.done() or head > stopped_at

        await wait_until(changed_meanwhile)  # the agent restarts behind
        run = cluster.agent("in-new-delhi")
    finally:
        await writes
    await cluster.final_check(db, redis)
    assert len(run.journal.read_text().splitlines()) > applied_before
    assert_journal_sequences_never_decrease(run.journal)


# -- 9. fan-out: no fetch for a copy already held, files written off the loop ------------------------


def in_process_run(cluster: Cluster) -> AgentRun:
    """The folder and journal of an in-process agent of in-new-delhi."""
    run = AgentRun(
        "in-new-delhi", cluster.tmp / "in-process", cluster.tmp / "in-process.journal", cluster.tmp / "unused.log"
    )
    cluster.agents["in-process"] = run
    return run


async def latest_events(redis: Redis, stream: str) -> dict[tuple[str, str], PageEvent]:
    """The last event of each (slug, locale) in a stream."""
    entries: Any = await redis.xrange(stream)
    latest: dict[tuple[str, str], PageEvent] = {}
    for _id, fields in entries:
        event = msgspec.json.decode(fields[b"event"], type=PageEvent)
        latest[(event.data.slug, event.data.locale)] = event
    return latest


def entry_of(event: PageEvent, sequence: int, **data: Any) -> tuple[bytes, dict[bytes, bytes]]:
    """A stream entry carrying ``event`` as event ``sequence`` (``data`` replaces fields of its data)."""
    copy = msgspec.structs.replace(
        event, sequence=sequence_text(sequence), data=msgspec.structs.replace(event.data, **data)
    )
    return f"{sequence}-0".encode(), {b"event": msgspec.json.encode(copy)}


async def test_event_whose_etag_is_the_copy_held_is_applied_without_a_request(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fact used by many pages: its events name renders by ETag, and those the agent holds cost no request."""
    cluster.serve()
    cluster.relay()
    run = in_process_run(cluster)
    await new_pages(editor, "in-new-delhi", 2)
    await churn(editor, await seeded_variants(editor), 4, rng(12), pause=0)
    agent = in_process_agent(cluster, run)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await cluster.converge(db)
        stop.set()
        await asyncio.wait_for(task, PATIENCE)

        # What the relay stamps on an event is the ETag the agent stored from the response.
        latest = await latest_events(redis, cluster.stream("in-new-delhi"))
        live = {key: event for key, event in latest.items() if event.data.etag is not None}
        assert len(live) >= 6
        for (slug, locale), event in live.items():
            assert agent.state.pages[f"{slug}.{locale}"].etag == event.data.etag

        requests: list[str] = []
        get = agent._get

        async def counting(
            path: str, params: Mapping[str, str | int] | None = None, headers: Mapping[str, str] | None = None
        ) -> Reply:
            requests.append(path)
            return await get(path, params, headers)

        monkeypatch.setattr(agent, "_get", counting)
        journal = run.journal.read_text()
        top = agent.state.last_sequence
        copies = [entry_of(event, top + k) for k, event in enumerate(live.values(), 1)]
        await agent.handle_batch(copies)
        assert requests == [], "an event naming the copy held was fetched"
        assert run.journal.read_text() == journal
        assert agent.state.last_sequence == top + len(copies)
        for k, (slug, locale) in enumerate(live, 1):
            assert agent.state.pages[f"{slug}.{locale}"].sequence == top + k, "the held sequence follows the event"
        assert StateFile(run.out, run.site).load() == agent.state

        # Another ETag is fetched, and asked again while the answer is 304 (a content process may
        # not have dropped its cached render yet); then the 304 is believed: the render is the same.
        (slug, locale), event = next(iter(live.items()))
        await agent.handle_batch([entry_of(event, agent.state.last_sequence + 1, etag='"another"')])
        assert requests == [f"/v1/sites/in-new-delhi/pages/{slug}"] * (1 + len(agent_module.RE_RENDER_PAUSES))
        assert run.journal.read_text() == journal
        assert_files_match_api(run.out, cluster.api, run.site)
    finally:
        stop.set()
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await close_agent(agent)


async def test_batch_writes_renders_in_groups_off_the_loop_and_syncs_the_folder_before_state_and_ack(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renders are written by group commit in the writer thread: few hand-overs and syncs for many files, each
    file renamed only after a sync that followed its staging; then the folder sync, the state, the ack."""
    cluster.serve()
    cluster.relay()
    await new_pages(editor, "in-new-delhi", 2)
    await wait_until(lambda: relayed(db))
    entries: Any = await redis.xrange(cluster.stream("in-new-delhi"))
    run = in_process_run(cluster)
    run.out.mkdir(parents=True)
    agent = in_process_agent(cluster, run)
    await agent.ensure_group()

    steps: list[tuple[str, str]] = []
    writers: set[int] = set()
    groups: list[int] = []
    lock = threading.Lock()

    def staging(path: Path, data: bytes) -> Path:
        temporary = stage_file(path, data)
        with lock:
            writers.add(threading.get_ident())
            steps.append(("staged", path.name))
        return temporary

    write_renders = agent_module._write_renders

    def writing(writes: Sequence[Any], *args: Any) -> Any:
        groups.append(len(writes))
        return write_renders(writes, *args)

    commit = agent_module._commit_files

    def renaming(staged: Sequence[tuple[Path, Path]], *args: Any) -> None:
        commit(staged, *args)
        with lock:
            steps.extend(("file", final.name) for _, final in staged)

    def step(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            with lock:
                steps.append((name, ""))
            return result

        return wrapper

    monkeypatch.setattr("services.sync.agent.stage_file", staging)
    monkeypatch.setattr(agent_module, "_write_renders", writing)
    monkeypatch.setattr("services.sync.agent.sync_to_disk", step("sync", agent_files.sync_to_disk))
    monkeypatch.setattr(agent_module, "_commit_files", renaming)
    # The state file's own writes, as `StateFile.save` calls them.
    monkeypatch.setattr("services.sync.agent_state.fsync_folder", step("folder", agent_files.fsync_folder))
    monkeypatch.setattr("services.sync.agent_state.atomic_write", step("state", agent_files.atomic_write))
    xack = agent.redis.xack

    async def acking(*args: Any) -> Any:
        steps.append(("ack", ""))
        return await xack(*args)

    monkeypatch.setattr(agent.redis, "xack", acking)
    try:
        await agent.handle_batch(entries)
    finally:
        await close_agent(agent)
        monkeypatch.undo()

    assert threading.get_ident() not in writers, "a file was written on the event loop's thread"
    names = [name for name, _ in steps]
    files = names.count("file")
    # A render is three files: its fragment, its JSON and its complete page.
    pages = [path for path in run.out.glob("*/*.html") if path.name != "index.html"]
    renders = len(pages)
    assert files == len(published_files(run.out)) + renders, "each render of the batch is written once"
    assert files == renders * 3
    assert renders >= 4
    assert names.count("staged") == files
    # Grouped: fewer hand-overs to the writer thread than renders, one sync per group.
    assert sum(groups) == renders
    assert 1 <= len(groups) < renders, groups
    assert names.count("sync") == len(groups)
    # Each file is renamed only after a sync that started after it was staged.
    syncs = [index for index, name in enumerate(names) if name == "sync"]
    for file_name in {name for kind, name in steps if kind == "file"}:
        staged_at = steps.index(("staged", file_name))
        renamed_at = steps.index(("file", file_name))
        assert any(staged_at < sync < renamed_at for sync in syncs), file_name
    # Every render file renamed, then the folder synced, then the state saved (and synced), then the ack.
    tail = [name for name in names if name not in {"staged", "sync"}][files:]
    assert tail == ["folder", "state", "folder", "ack"], tail
    assert agent.state.last_sequence == int(entries[-1][0].split(b"-")[0])
    assert_files_match_api(run.out, cluster.api, run.site)
    assert_journal_monotonic(run.journal)
    assert len(run.journal.read_text().splitlines()) == renders


async def test_agent_keeps_the_path_of_its_api_url_and_retries_5xx_429_and_no_answer(tmp_path: Path) -> None:
    """The content API may sit under a path (``http://host/cms``); its failures are transient, a 400 is not."""
    answer = 404
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.path_qs)
        if answer == 0:
            await asyncio.sleep(5)  # longer than the client's timeout
        return web.Response(status=answer)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    redis, blocking = make_redis(shared_redis_url(), 2.0), make_redis(shared_redis_url(), 2.0, max_connections=1)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5))
    agent = SiteAgent(Settings(), "in-new-delhi", tmp_path, f"http://127.0.0.1:{port}/cms/", redis, blocking)
    impatient = SiteAgent(
        Settings(), "in-new-delhi", tmp_path, f"http://127.0.0.1:{port}/cms", redis, blocking, http=session
    )
    nobody = SiteAgent(Settings(), "in-new-delhi", tmp_path, f"http://127.0.0.1:{free_port()}", redis, blocking)
    try:
        await agent.apply("visas", "fr", 3, 7)  # 404: not published, nothing to keep
        assert seen == ["/cms/v1/sites/in-new-delhi/pages/visas?locale=fr&min_revision=3"]
        for answer in (500, 503, 429):
            with pytest.raises(Transient, match=str(answer)):
                await agent.apply("visas", "fr", 3, 7)
        answer = 400
        with pytest.raises(PoisonEvent):
            await agent.apply("visas", "fr", 3, 7)
        answer = 0
        with pytest.raises(Transient, match="unreachable"):
            await impatient.apply("visas", "fr", 3, 7)
        with pytest.raises(Transient, match="unreachable"):
            await nobody.apply("visas", "fr", 3, 7)
        assert all(path.startswith("/cms/v1/") for path in seen)
    finally:
        for each in (agent, impatient, nobody):
            await each.aclose()
        assert not session.closed, "a session the caller passed is the caller's to close"
        await session.close()
        await redis.aclose()
        await blocking.aclose()
        await runner.cleanup()


async def test_agent_logs_the_content_api_going_away_once_and_coming_back_once(
    cluster: Cluster, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One line when the content API stops answering and one when it answers again, however many retries come
    between (docs/production.md): at start (the first resync) and while a batch of events waits."""
    cluster.relay()
    run = in_process_run(cluster)
    agent = in_process_agent(cluster, run)  # its API, cluster.api, is not started yet
    attempts = 0
    get = agent._get

    async def counting(
        path: str, params: Mapping[str, str | int] | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        nonlocal attempts
        attempts += 1
        return await get(path, params, headers)

    def lines(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "liaison.agent" and r.levelno == level]

    monkeypatch.setattr(agent, "_get", counting)
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="liaison.agent")
    task = asyncio.create_task(agent.run(stop))
    try:
        await wait_until(lambda: attempts >= 5)  # the first resync, retried with backoff
        assert len(lines(logging.WARNING)) == 1, lines(logging.WARNING)
        assert "content API unreachable" in lines(logging.WARNING)[0]
        server = cluster.serve()
        await cluster.converge(db)
        assert [line for line in lines(logging.INFO) if "content API" in line] == [
            "agent in-new-delhi: content API reachable again"
        ]

        # Gone while a batch of events waits: each page's fetch fails, then fails again on each retry.
        assert server.terminate() in (0, -signal.SIGTERM)
        before = attempts
        update = msgspec.convert({"value": {"type": "integer", "value": 4242}, "base_version": 1}, FactUpdate)
        await fact_usecases.update_fact(db, SEED_AUTHOR, "global", COUNT_FACT, update, None)
        await wait_until(lambda: attempts >= before + 6)
        assert len(lines(logging.WARNING)) == 2, lines(logging.WARNING)
        cluster.serve()
        await cluster.converge(db)
        assert len(lines(logging.WARNING)) == 2, lines(logging.WARNING)
        assert sum("content API reachable again" in line for line in lines(logging.INFO)) == 2
        assert fact_value(run.out / f"{SEEDED_SLUG}.fr.json", COUNT_FACT) == 4242
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE)
        await close_agent(agent)


def test_relay_and_agent_commands_run_on_uvloop_and_fall_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_on_fast_loop(loop_module()).startswith("uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert event_loop_factory() is None
    assert run_on_fast_loop(loop_module()).startswith("asyncio")


async def test_a_re_render_answered_304_by_a_process_that_still_holds_the_old_one_is_fetched_again(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fact change keeps the page's revision, so min_revision cannot demand it: a process that has
    not yet dropped its cached render answers 304 to the event's fetch (seen under compose, two
    workers). The agent asks again instead of keeping the old file."""
    cluster.serve()
    cluster.relay()
    run = in_process_run(cluster)
    agent = in_process_agent(cluster, run)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await cluster.converge(db)
        stop.set()
        await asyncio.wait_for(task, PATIENCE)
        held = agent.state.pages[f"{SEEDED_SLUG}.fr"].etag
        await editor.set_fact("global", COUNT_FACT, 4343)

        async def re_rendered() -> PageEvent | None:
            event = (await latest_events(redis, cluster.stream("in-new-delhi"))).get((SEEDED_SLUG, "fr"))
            return event if event is not None and event.data.etag != held else None

        await wait_until(re_rendered)
        event = await re_rendered()
        assert event is not None

        stale: list[int] = []
        get = agent._get

        async def stale_once(
            path: str, params: Mapping[str, str | int] | None = None, headers: Mapping[str, str] | None = None
        ) -> Reply:
            if not stale and path.endswith(f"/pages/{SEEDED_SLUG}"):
                stale.append(1)
                return Reply(304, b"", held)  # what the process still holding the old render answers
            return await get(path, params, headers)

        monkeypatch.setattr(agent, "_get", stale_once)
        await agent.handle_batch([entry_of(event, agent.state.last_sequence + 1)])
        assert stale == [1]
        assert fact_value(run.out / f"{SEEDED_SLUG}.fr.json", COUNT_FACT) == 4343
        assert agent.state.pages[f"{SEEDED_SLUG}.fr"].etag == event.data.etag
    finally:
        stop.set()
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await close_agent(agent)


async def test_an_event_overtaken_by_another_publish_writes_the_current_render_at_once(
    cluster: Cluster, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Revision 2 published, then revision 1 again: the event for 2 gets 409, and the agent keeps what is live now."""
    cluster.serve()
    run = in_process_run(cluster)
    agent = in_process_agent(cluster, run)
    run.out.mkdir(parents=True, exist_ok=True)
    requests: list[Mapping[str, str | int] | None] = []
    get = agent._get

    async def recording(
        path: str, params: Mapping[str, str | int] | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        requests.append(dict(params or {}))
        return await get(path, params, headers)

    monkeypatch.setattr(agent, "_get", recording)
    slug = "internal-security-section"
    try:
        # The event names a revision above the one live now (the page went back to an older one).
        await agent.apply(slug, "fr", 2, 1)  # raises Transient (and backs off) without the fix
        assert requests == [{"locale": "fr", "min_revision": 2}, {"locale": "fr"}]
        assert revision_in(run.out / f"{slug}.fr.json") == 1, "the live render was written"
        async with httpx.AsyncClient(base_url=cluster.api, timeout=10) as http:
            served = await http.get(f"/v1/sites/{run.site}/pages/{slug}", params={"locale": "fr"})
        assert (run.out / f"{slug}.fr.json").read_bytes() == served.content
    finally:
        await close_agent(agent)


async def test_group_commit_takes_every_item_queued_during_a_commit_and_fails_only_the_failed_ones() -> None:
    """Ten submitters, a slow first commit: the nine that arrive meanwhile go together in the second commit; an item
    that fails fails its own submitter only."""
    commits: list[list[int]] = []
    release = asyncio.Event()

    async def commit(items: list[int]) -> list[BaseException | None]:
        commits.append(items)
        if len(commits) == 1:
            await release.wait()  # the first commit is slow: nine items queue meanwhile
        return [ValueError(item) if item == 7 else None for item in items]

    group = GroupCommit[int](commit)
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 10)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in rest), "nobody returns before a commit holding its item"
    release.set()
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert commits == [[0], list(range(1, 10))]
    assert group.commits == 2
    assert [type(outcome) for outcome in outcomes] == [type(None)] * 7 + [ValueError] + [type(None)] * 2


async def test_agent_removes_leftovers_at_start_and_a_fan_out_leaves_no_hidden_file_but_its_state(
    cluster: Cluster, editor: Editor, db: Database
) -> None:
    """An agent starting on a folder an older agent used deletes its ``.liaison-spare/`` folder and a temporary file a
    crash left; a fact shown on every page, changed twice, rewrites every file in place of the old one: nothing but
    the renders and the agent's state remains in the folder."""
    cluster.serve()
    cluster.relay()
    await new_pages(editor, "in-new-delhi", 3)
    run = in_process_run(cluster)
    spares = run.out / agent_files.SPARE_FOLDER
    spares.mkdir(parents=True)
    for number in range(3):
        (spares / f"0123456789ab-{number}").write_text(f"an old version {number}")
    leftover = run.out / f".{SEEDED_SLUG}.fr.html.4242.tmp"
    leftover.write_text("half a render")
    agent = in_process_agent(cluster, run)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await cluster.converge(db)
        assert not spares.exists()
        assert not leftover.exists()
        for value in (91, 92):
            await editor.set_fact("global", COUNT_FACT, value)
            await cluster.converge(db)
        shown = sorted(run.out.glob("burst-*.json"))
        assert len(shown) == 6, "three new pages, in fr and en, all showing the fact"
        assert all(fact_value(path, COUNT_FACT) == 92 for path in shown)
        assert {path.name for path in run.out.iterdir() if path.name.startswith(".")} == {StateFile.NAME}
        # Folders are the complete pages' locale folders, holding pages and no hidden file.
        folders = {path.name for path in run.out.iterdir() if not path.is_file()}
        assert folders == {"fr", "en"}
        assert all(not path.name.startswith(".") for folder in folders for path in (run.out / folder).iterdir())
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE)
        await close_agent(agent)


# -- 10. Redis down: the change feed ---------------------------------------------------------------


async def site_head(db: Database, site: str) -> int:
    """The last sequence of ``site`` in the outbox."""
    async with db.reading() as repo:
        return (await OutboxQueries.of(repo).site_heads()).get(site, 0)


async def test_agent_follows_the_change_feed_while_redis_is_down_then_returns_to_the_stream(
    tmp_path: Path, database_url: str, editor_token: dict[str, str], db: Database, seeded: Database
) -> None:
    """Redis stops: publishes still reach the files, through GET /v1/changes. Redis starts again (empty): the agent
    goes back to its consumer group, later publishes come through the stream, and no event is applied twice."""
    async with private_cluster(tmp_path, database_url, editor_token) as (cluster, editor, private):
        assert cluster.redis_server is not None
        run = cluster.agent("in-new-delhi")
        variants = await seeded_variants(editor)
        await cluster.converge(db)
        document_id, _ = variants[0]
        page = run.out / f"{SEEDED_SLUG}.fr.json"

        cluster.redis_server.stop()
        await wait_until(lambda: "following the change feed" in run.log.read_text())
        before = await site_head(db, "in-new-delhi")
        number = await editor.write_and_publish(document_id, "fr", "pendant la panne de Redis")
        await wait_until(lambda: revision_in(page) == number)
        await churn(editor, variants, 4, rng(21), pause=0, label="outage")
        head = await site_head(db, "in-new-delhi")
        await wait_until(lambda: run.state().last_sequence == head)
        await wait_until(lambda: cluster.matches(run))
        state = run.state()
        assert state.health.mode is Mode.FEED
        assert state.health.redis_error
        assert any(sequence > before for sequence, _slug, _locale in journal_writes(run.journal))
        assert await relayed(db) is False, "with Redis down nothing was relayed: these came from the feed"

        # SIGTERM on the feed stops it cleanly too; restarted with Redis still down, it follows the feed again.
        assert run.process is not None
        assert run.process.terminate() == 0
        assert "stopped at sequence" in run.log.read_text()
        run = cluster.agent("in-new-delhi")
        await wait_until(lambda: run.log.read_text().count("following the change feed") == 2)
        number = await editor.write_and_publish(document_id, "fr", "après le redémarrage de l agent")
        await wait_until(lambda: revision_in(page) == number)

        cluster.redis_server.start()
        await wait_until(lambda: "back on the stream" in run.log.read_text())
        back_at = run.state().last_sequence
        await churn(editor, variants, 4, rng(22), pause=0, label="after")
        await cluster.final_check(db, private)
        head = await site_head(db, "in-new-delhi")
        assert head > back_at
        # The later events were delivered by the group and acknowledged: the stream brought them.
        assert await group_caught_up(private, cluster.stream("in-new-delhi"), f"{head}-0")
        assert run.state().health.mode is Mode.STREAM
        assert run.state().health.redis_error is None
        assert_each_event_applied_once(run.journal)
        log = run.log.read_text()
        assert log.count("following the change feed") == 2, "one line per change of state (and per start)"
        assert log.count("back on the stream") == 1
        assert run.process is not None
        assert run.process.terminate() == 0


# -- 11. a folder that refuses writes ----------------------------------------------------------------


def sync_status_of(cluster: Cluster, *args: str) -> str:
    """What ``liaison sync status`` prints (with ``args``)."""
    done = subprocess.run(
        [*LIAISON, "sync", "status", *args], env=cluster.env, capture_output=True, text=True, timeout=PATIENCE
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def reported_health(cluster: Cluster, site: str) -> AgentHealth | None:
    """The health ``liaison sync status --json`` shows for the site's (only) agent."""
    status = msgspec.json.decode(sync_status_of(cluster, "--json"), type=SyncStatus)
    agents = next(each.agents for each in status.sites if each.site == site)
    return agents[0].health if agents else None


async def test_a_folder_that_refuses_writes_is_a_file_system_error_in_the_log_and_status_and_is_caught_up(
    cluster: Cluster, editor: Editor, db: Database, redis: Redis
) -> None:
    cluster.serve()
    cluster.relay()
    run = cluster.agent("in-new-delhi")
    variants = await seeded_variants(editor)
    await cluster.converge(db)
    stream = cluster.stream("in-new-delhi")
    written = len(journal_writes(run.journal))
    with unwritable(run.out) as code:
        await churn(editor, variants, 3, rng(23), pause=0, fact_every=0, label="refused")
        await wait_until(lambda: "file system error" in run.log.read_text())

        def reported() -> bool:
            health = reported_health(cluster, "in-new-delhi")
            return bool(health and health.files_error)

        await wait_until(reported, interval=0.5)
        health = reported_health(cluster, "in-new-delhi")
        assert health is not None
        assert health.files_error is not None
        assert str(run.out) in health.files_error
        assert f"[Errno {code}] {os.strerror(code)}" in health.files_error
        assert "file system error" in sync_status_of(cluster)
        pending: Any = await redis.xpending(stream, "site-agent")
        assert pending["pending"] > 0, "what could not be written is not acknowledged"
        assert len(journal_writes(run.journal)) == written
        log = run.log.read_text()
        lines = [line for line in log.splitlines() if "file system error" in line]
        assert len(lines) == 1, lines  # several pages and retries, one problem: one line
        assert str(run.out) in lines[0]
        assert os.strerror(code) in lines[0]
        assert "Redis unreachable" not in log
    await wait_until(lambda: "files are written again" in run.log.read_text())
    await cluster.final_check(db, redis)
    await wait_until(lambda: (health := reported_health(cluster, "in-new-delhi")) and not health.files_error)
    assert run.state().health.files_error is None
    assert_each_event_applied_once(run.journal)
    assert run.process is not None
    assert run.process.terminate() == 0


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_file_system_errors_name_the_file_the_path_and_the_error(code: int) -> None:
    refused = OSError(code, os.strerror(code), "/srv/site/.visas.fr.html.7.tmp")
    error = FileSystemError.of(refused, "/srv/site/visas.fr.html")
    assert str(error) == (
        f"file system error: cannot write /srv/site/visas.fr.html: [Errno {code}] {os.strerror(code)} "
        f"[{errno.errorcode[code]}] (/srv/site/.visas.fr.html.7.tmp)"
    )
    assert error.folder == "/srv/site"


def test_health_log_says_a_file_system_problem_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    health = AgentHealth()
    said = HealthLog("in-new-delhi", health)
    full = [
        FileSystemError.of(OSError(errno.ENOSPC, "No space left on device", f"/srv/site/{name}"), f"/srv/site/{name}")
        for name in ("a.fr.html", "b.fr.html")
    ]
    with caplog.at_level(logging.INFO, logger="liaison.agent"):
        assert said.files_failed(full[0]) is True
        assert said.files_failed(full[1]) is False  # the same error in the same folder
        assert said.files_failed(full[0]) is False  # a retry
        said.files_ok("/srv/site/a.fr.html")
        assert health.files_error is not None, "b.fr.html is still refused"
        said.files_ok("/srv/site/b.fr.html")
    assert health.files_error is None
    assert health.since is None
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "No space left on device" in messages[0]
    assert "/srv/site/a.fr.html" in messages[0]
    assert "files are written again" in messages[1]


# -- 12. a newer service ---------------------------------------------------------------------------


def newer_render(slug: str, revision: int, *, words: str) -> bytes:
    """A render as a later version of the service might send it: a block type, a fact type and a field this
    agent has never heard of."""
    return msgspec.json.encode(
        {
            "site": "in-new-delhi",
            "slug": slug,
            "locale": "fr",
            "requested_locale": "fr",
            "fallback": False,
            "revision": revision,
            "published_at": f"2026-12-0{revision}T09:00:00Z",
            "title": "Visas",
            "blocks": [
                {"type": "paragraph", "id": "p1", "content": [{"text": words}]},
                {"type": "table", "id": "t1", "rows": [[{"text": "Tarif"}, {"text": "80 €"}]]},
            ],
            "html": f'<article lang="fr" id="top"><p>{words}</p><table><tr><td>80 €</td></tr></table></article>',
            "facts": [
                {
                    "key": "visa.fee",
                    "scope": "in-new-delhi",
                    "version": 1,
                    "value": {"type": "money", "value": "80 EUR"},
                }
            ],
            "fragments": {},
            "alternates": [
                {"locale": "fr", "url": "https://in.example.org/fr/visas/", "status": "reviewed", "revision": revision}
            ],
            "reading_minutes": 2,
        }
    )


def newer_event(slug: str, sequence: int, revision: int) -> dict[Any, Any]:
    """A stream entry's fields holding an event with a reason and fields this agent does not know."""
    event = {
        "id": str(uuid.uuid4()),
        "source": "urn:liaison:site:in-new-delhi",
        "type": "org.liaison.page.reviewed",
        "subject": f"in-new-delhi/{slug}/fr",
        "time": "2026-12-01T09:00:00Z",
        "sequence": sequence_text(sequence),
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "data": {
            "site": "in-new-delhi",
            "slug": slug,
            "locale": "fr",
            "revision": revision,
            "etag": f'"newer-{sequence}"',
            "url": f"http://127.0.0.1/v1/sites/in-new-delhi/pages/{slug}?locale=fr",
            "reason": "review",
            "reviewer": "consular section",
        },
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    return {b"event": msgspec.json.encode(event)}


async def test_agent_writes_a_newer_services_render_and_event_and_dead_letters_only_what_it_cannot_read(
    tmp_path: Path, redis: Redis
) -> None:
    renders = {"visas": newer_render("visas", 1, words="Première version")}
    renders["broken"] = msgspec.json.encode(
        {**msgspec.json.decode(renders["visas"]), "slug": "broken", "revision": "1"}
    )
    for body in (renders["visas"],):
        with pytest.raises(msgspec.ValidationError):  # what the agent decoded before its own contract
            msgspec.json.decode(body, type=PageRender)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(newer_event("visas", 1, 1)[b"event"], type=PageEvent)

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/v1/changes":
            after = int(request.query.get("after", "0"))
            return web.json_response({"site": "in-new-delhi", "events": [], "next_after": after, "head": 0})
        if request.path == "/v1/sites/in-new-delhi/pages":
            return web.json_response({"items": [], "next_cursor": None})
        slug = request.path.rsplit("/", 1)[-1]
        body = renders[slug]
        etag = f'"{abs(hash(body))}"'
        return web.Response(body=body, content_type="application/json", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    prefix = f"test:{uuid.uuid4().hex[:8]}:events:"
    settings = Settings(stream_prefix=prefix, agent_dead_letter_after=2)
    url = shared_redis_url()
    out = tmp_path / "site"
    agent = SiteAgent(
        settings,
        "in-new-delhi",
        out,
        f"http://127.0.0.1:{port}",
        make_redis(url, 2.0),
        make_redis(url, 2.0, max_connections=1),
        consumer="newer",
    )
    stop = asyncio.Event()
    running_agent = asyncio.create_task(agent.run(stop))
    stream = prefix + "in-new-delhi"
    files = (out / "visas.fr.json", out / "visas.fr.html")
    try:
        await redis.xadd(stream, newer_event("visas", 1, 1), id="1-0")
        await wait_until(lambda: files[0].exists() and files[0].read_bytes() == renders["visas"])
        assert files[1].read_text() == msgspec.json.decode(renders["visas"])["html"]
        assert not running_agent.done()

        await redis.xadd(stream, newer_event("broken", 2, 1), id="2-0")
        await wait_until(lambda: redis.xlen(stream + ":dead"))
        letters: Any = await redis.xrange(stream + ":dead")
        assert "not one this agent can read" in letters[0][1][b"error"].decode()
        kept = StateFile(out, "in-new-delhi").load().dead_letters
        assert [(letter.entry, "not one this agent can read" in letter.reason) for letter in kept] == [("2-0", True)]
        assert not running_agent.done(), "an unreadable render is dead-lettered, not a crash"

        renders["visas"] = newer_render("visas", 2, words="Deuxième version")
        await redis.xadd(stream, newer_event("visas", 3, 2), id="3-0")
        await wait_until(lambda: files[0].read_bytes() == renders["visas"])
        await wait_until(lambda: group_caught_up(redis, stream, "3-0"))
        assert await redis.xlen(stream + ":dead") == 1, "a new reason is a re-render, not a dead letter"
        state = StateFile(out, "in-new-delhi").load()
        assert state.last_sequence == 3
        assert not (out / "broken.fr.json").exists()

        async def reported() -> bool:
            reports = await agent_reports(redis, stream)
            return bool(reports and reports[0].dead_letters and reports[0].last_sequence == 3)

        await wait_until(reported, interval=0.2)
        assert not running_agent.done()
    finally:
        stop.set()
        await asyncio.wait_for(running_agent, PATIENCE)
        await close_agent(agent)
        await runner.cleanup()
        await delete_keys(redis, prefix)
