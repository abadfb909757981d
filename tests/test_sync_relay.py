"""The relay: outbox rows written with each change, relayed into Redis streams exactly once, whatever fails.

The in-process tests drive `Relay.round()` by hand; the fault tests run real
``liaison`` processes against real Redis servers (the shared one, with a stream
prefix of their own, or a private one when they kill or flush it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from schemas.events import EVENT_TYPES, ChangeFeed, PageEvent
from schemas.facts import FactUpdate
from services.content.demo.loader import SEED_AUTHOR
from services.content.domain.errors import StaleBase
from services.content.http.app import create_app
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.storage.process_lock import advisory_key, process_lock
from services.content.storage.repository import RenderKey, Repository
from services.content.storage.tables import leases, outbox
from services.content.usecases import changes
from services.content.usecases import facts as fact_usecases
from services.content.usecases.delivery import Delivery
from services.content.usecases.events import encode_event, event_of, page_url
from services.redis_client import make_redis
from services.sync.relay import LEASE, Relay, entry_id, stream_key
from tests.conftest import TokenFactory, dump
from tests.helpers import fragment_id, page_id, revision
from tests.sync_support import (
    PATIENCE,
    Process,
    assert_each_event_once,
    free_port,
    redis_server,
    sync_env,
    test_redis_url,
    wait_http,
    wait_until,
)

Client = AsyncTestClient[Litestar]

SLUG = "internal-security-section"
DELHI = "in-new-delhi"
KATHMANDU = "np-kathmandu"
SITES = ("in-new-delhi", "np-kathmandu")
FACT = "network.embassy_count"
PROBLEM = "application/problem+json"
REPO = Path(__file__).resolve().parents[1]

# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    """This test's stream prefix, so the shared Redis holds nothing of another test."""
    return f"test:relay:{uuid.uuid4().hex[:10]}:events:"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    """A client of the shared Redis; the test's streams are deleted at the end."""
    client = make_redis(test_redis_url(), 2.0)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def relay_settings(database_url: str, redis_url: str, prefix: str, **extra: Any) -> Settings:
    """Settings of an in-process relay (the same public URL as the test app, so events compare equal)."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        stream_prefix=prefix,
        relay_poll_seconds=0.1,
        redis_socket_timeout=2.0,
        **extra,
    )


@asynccontextmanager
async def redis_client(url: str) -> AsyncIterator[Redis]:
    """A Redis client closed at the end."""
    client = make_redis(url, 2.0)
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def app_client(settings: Settings, db: Database) -> AsyncIterator[Client]:
    """The content service in-process with its own settings (e.g. its doorbell on a private Redis)."""
    async with AsyncTestClient(app=create_app(settings, db=db), raise_server_exceptions=False) as client:
        yield client


class Processes:
    """Every process a test starts, each closed (killed if need be) at the end."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.started: list[Process] = []

    def start(self, name: str, *args: str) -> Process:
        """Start ``liaison <args>``, logging to ``<folder>/<name>.log``."""
        process = Process(list(args), self.env, self.folder / f"{name}.log")
        self.started.append(process)
        return process

    def close(self) -> None:
        """Stop them all."""
        for process in self.started:
            process.close()


@pytest.fixture
def processes() -> Iterator[list[Processes]]:
    """A place to register `Processes` groups so they are closed even when the test fails."""
    groups: list[Processes] = []
    yield groups
    for group in groups:
        group.close()


# -- helpers ---------------------------------------------------------------------------


async def outbox_rows(db: Database) -> list[dict[str, Any]]:
    """Every outbox row, oldest first."""
    async with db.reading() as repo:
        rows = await repo.conn.execute(sa.select(outbox).order_by(outbox.c.id))
        return [dict(row._mapping) for row in rows]


async def new_outbox_rows(db: Database, known: int) -> list[dict[str, Any]]:
    """Rows written after the first ``known`` ones."""
    return (await outbox_rows(db))[known:]


async def backlog(db: Database) -> int:
    """Outbox rows not yet relayed."""
    async with db.reading() as repo:
        count, _ = await OutboxQueries.of(repo).backlog()
    return count


async def no_backlog(db: Database) -> bool:
    """Whether everything is relayed."""
    return await backlog(db) == 0


async def stream_events(redis: Redis, stream: str) -> list[tuple[str, PageEvent]]:
    """(entry id, decoded event) of every entry of a stream, in stream order."""
    entries: Any = await redis.xrange(stream)
    return [(entry.decode(), msgspec.json.decode(fields[b"event"], type=PageEvent)) for entry, fields in entries]


async def assert_stream_matches_outbox(db: Database, redis: Redis, prefix: str) -> None:
    """Each stream entry is its outbox row's event: same id, sequence, ETag (a retry never sent another)."""
    rows = {row["event_id"]: row for row in await outbox_rows(db)}
    for site in SITES:
        for entry, event in await stream_events(redis, prefix + site):
            row = rows[event.id]
            assert (row["site"], entry) == (site, entry_id(row["sequence"])), (site, entry, row)
            assert event.data.etag == (row["etag"] or None), (entry, event.data.etag, row["etag"])
            assert event.data.revision == row["revision"]


async def expire_lease(db: Database) -> None:
    """Move the relay lease's expiry into the past: what its TTL does after a crash, without the wait."""
    async with db.transaction() as repo:
        await repo.conn.execute(
            sa.update(leases).where(leases.c.name == LEASE).values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )


async def lease_holder(db: Database) -> str | None:
    """Who holds the relay lease, if anybody and if it has not expired."""
    async with db.reading() as repo:
        held = await OutboxQueries.of(repo).lease_holder(LEASE)
    if held is None or held[1] < dt.datetime.now(dt.UTC):
        return None
    return held[0]


async def bump_fact(http: httpx.AsyncClient | Client, headers: dict[str, str], key: str = FACT) -> httpx.Response:
    """Write the next version of a global integer fact (based on the current one)."""
    current = await http.get(f"/v1/facts/global/{key}")
    assert current.status_code == 200, current.text
    body = current.json()
    return await http.put(
        f"/v1/facts/global/{key}",
        json={"value": {"type": "integer", "value": body["value"]["value"] + 1}, "base_version": body["version"]},
        headers=headers,
    )


async def republish(
    http: httpx.AsyncClient | Client, headers: dict[str, str], doc: int, locale: str, number: int = 1
) -> httpx.Response:
    """Publish a revision of a variant again (its render changes: ``published_at`` moves)."""
    return await http.post(f"/v1/documents/{doc}/variants/{locale}/publish", json={"revision": number}, headers=headers)


async def next_fact_version(db: Database) -> None:
    """Write the next version of the global integer fact through the use case (in this event loop)."""
    current = await fact_usecases.get_fact(db, "global", FACT)
    value = msgspec.to_builtins(current.value)["value"] + 1
    body = {"value": {"type": "integer", "value": value}, "base_version": current.version}
    update = msgspec.convert(body, FactUpdate)
    await fact_usecases.update_fact(db, SEED_AUTHOR, "global", FACT, update, None)


def log_lines(process: Process, needle: str) -> int:
    """How many lines of a process's output contain ``needle``."""
    return sum(needle in line for line in process.output().splitlines())


def relaying(process: Process) -> bool:
    """Whether a relay process holds the lease and has finished a round (it says so once)."""
    return "holding the lease, relaying" in process.output()


# -- 1. the outbox is written with the change --------------------------------------------


async def test_each_render_changing_write_writes_its_outbox_rows(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    def summary(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {(r["site"], r["slug"], r["locale"], r["kind"], r["reason"], r["revision"]) for r in rows}

    # A publish: the variant's event, and its other locales re-render (their alternates list it).
    created = await client.post(
        "/v1/documents", json={"kind": "page", "site": DELHI, "slug": "visas", "source_locale": "fr"}, headers=admin
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    for locale, extra in (("fr", {}), ("en", {"source_revision": 1})):
        written = await client.post(
            f"/v1/documents/{doc}/variants/{locale}/revisions", json=revision(f"Visas {locale}", **extra), headers=admin
        )
        assert written.status_code == 201, written.text
    known = len(await outbox_rows(seeded))
    assert (await republish(client, admin, doc, "fr")).status_code == 200
    rows = await new_outbox_rows(seeded, known)
    assert summary(rows) == {(DELHI, "visas", "fr", "published", "publish", 1)}

    known += len(rows)
    assert (await republish(client, admin, doc, "en")).status_code == 200
    rows = await new_outbox_rows(seeded, known)
    assert summary(rows) == {
        (DELHI, "visas", "en", "published", "publish", 1),
        (DELHI, "visas", "fr", "rerendered", "alternates", 1),
    }
    assert len(rows) == 2
    assert len({r["created_at"] for r in rows}) == 1, "one transaction, one timestamp"

    # An unpublish.
    known += len(rows)
    response = await client.post(f"/v1/documents/{doc}/variants/en/unpublish", headers=admin)
    assert response.status_code == 200, response.text
    rows = await new_outbox_rows(seeded, known)
    assert summary(rows) == {
        (DELHI, "visas", "en", "unpublished", "unpublish", None),
        (DELHI, "visas", "fr", "rerendered", "alternates", 1),
    }

    # A global fact: every page showing it, on both sites, in both locales.
    known += len(rows)
    response = await client.put(
        f"/v1/facts/global/{FACT}", json={"value": {"type": "integer", "value": 79}, "base_version": 1}, headers=admin
    )
    assert response.status_code == 200, response.text
    rows = await new_outbox_rows(seeded, known)
    assert sorted((r["site"], r["slug"], r["locale"]) for r in rows) == [
        (site, SLUG, locale) for site in SITES for locale in ("en", "fr")
    ]
    assert {(r["kind"], r["reason"], r["revision"]) for r in rows} == {("rerendered", "fact", 1)}
    assert all(f"{FACT} version 2" in r["cause"] for r in rows)

    # A fragment: every page including it, on both sites.
    known += len(rows)
    fragment = await fragment_id(seeded, "dci-internal-security")
    blocks = (await client.get(f"/v1/documents/{fragment}/variants/fr/revisions/1", headers=admin)).json()["blocks"]
    written = await client.post(
        f"/v1/documents/{fragment}/variants/fr/revisions",
        json=revision("La DCI", *blocks, base_revision=1),
        headers=admin,
    )
    assert written.status_code == 201, written.text
    assert await new_outbox_rows(seeded, known) == [], "a draft changes no render"
    assert (await republish(client, admin, fragment, "fr", 2)).status_code == 200
    rows = await new_outbox_rows(seeded, known)
    assert {(r["site"], r["slug"]) for r in rows} == {(site, SLUG) for site in SITES}
    assert {(site, SLUG, "fr") for site in SITES} <= {(r["site"], r["slug"], r["locale"]) for r in rows}
    assert {(r["kind"], r["reason"]) for r in rows} == {("rerendered", "fragment")}
    assert all("fragment dci-internal-security fr revision 2" in r["cause"] for r in rows)

    # Every row waits for the relay, with a unique event id and the ETag its render had at the
    # commit; each site's sequences were given by the writers, gapless from 1 in writing order.
    every = await outbox_rows(seeded)
    assert len({r["event_id"] for r in every}) == len(every)
    for row in every[known:]:
        uuid.UUID(row["event_id"])
        assert row["relayed_at"] is None
        assert row["etag"] is not None
        assert row["etag"] == "" or row["etag"].startswith('"'), row["etag"]
    for site in SITES:
        numbered = [r["sequence"] for r in sorted(every, key=lambda r: r["id"]) if r["site"] == site]
        assert numbered == list(range(1, len(numbered) + 1)), site


async def test_an_unpublish_event_carries_the_etag_of_the_fallback_answer_and_null_once_nothing_is_published(
    client: Client, admin: dict[str, str], seeded: Database, database_url: str, redis: Redis, prefix: str
) -> None:
    """docs/consumer.md: an unpublished locale's URL still answers, with a fallback, and the event carries that
    answer's ETag; null only when no locale of the page is published any more."""
    created = await client.post(
        "/v1/documents", json={"kind": "page", "site": DELHI, "slug": "visas", "source_locale": "fr"}, headers=admin
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    for locale, extra in (("fr", {}), ("en", {"source_revision": 1})):
        written = await client.post(
            f"/v1/documents/{doc}/variants/{locale}/revisions", json=revision(f"Visas {locale}", **extra), headers=admin
        )
        assert written.status_code == 201, written.text
        assert (await republish(client, admin, doc, locale)).status_code == 200
    settings = relay_settings(database_url, test_redis_url(), prefix)
    relay = Relay(settings, seeded, redis)

    async def unpublished_event(locale: str) -> PageEvent:
        """Unpublish ``locale`` and relay: its event, as the stream has it."""
        response = await client.post(f"/v1/documents/{doc}/variants/{locale}/unpublish", headers=admin)
        assert response.status_code == 200, response.text
        while await relay.round():
            pass
        events = [event for _, event in await stream_events(redis, prefix + DELHI)]
        return next(e for e in reversed(events) if e.type == EVENT_TYPES["unpublished"] and e.data.locale == locale)

    event = await unpublished_event("en")
    assert event.data.url == page_url(settings.public_url, DELHI, "visas", "en")
    served = await client.get(f"/v1/sites/{DELHI}/pages/visas", params={"locale": "en"})
    assert served.status_code == 200, served.text
    assert (served.json()["locale"], served.json()["fallback"]) == ("fr", True)
    assert event.data.etag == served.headers["etag"], "the event names the answer the public now gets"
    # The relay, rendering a row written without an ETag (by the command line), finds the same one.
    etags = await Delivery(seeded, settings.public_url).etags([RenderKey(DELHI, "visas", "en")])
    assert etags == {RenderKey(DELHI, "visas", "en"): served.headers["etag"]}

    event = await unpublished_event("fr")
    assert event.data.etag is None
    gone = await client.get(f"/v1/sites/{DELHI}/pages/visas", params={"locale": "fr"})
    assert gone.status_code == 404, gone.text
    await assert_stream_matches_outbox(seeded, redis, prefix)


async def test_a_rolled_back_or_refused_write_leaves_no_outbox_row(
    client: Client, admin: dict[str, str], seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await dump(seeded)

    # The rows are written, then the transaction fails: none stays.
    async def fail_after_the_outbox_insert() -> None:
        async with seeded.transaction() as repo:
            await changes.fact_changed(repo, "global", FACT, 2)
            assert len((await repo.conn.execute(sa.select(outbox))).all()) == len(before["outbox"]) + 4
            raise RuntimeError("failure after the outbox insert")

    with pytest.raises(RuntimeError, match="after the outbox"):
        await fail_after_the_outbox_insert()
    assert await dump(seeded) == before

    # A real use case failing after its outbox insert: the fact's new version goes too (same transaction).
    original = Repository.insert_outbox

    async def insert_then_fail(self: Repository, rows: Any) -> None:
        await original(self, rows)
        raise RuntimeError("crash after the outbox insert")

    monkeypatch.setattr(Repository, "insert_outbox", insert_then_fail)
    with pytest.raises(RuntimeError, match="after the outbox"):
        await fact_usecases.update_fact(
            seeded,
            SEED_AUTHOR,
            "global",
            FACT,
            msgspec.convert({"value": {"type": "integer", "value": 90}, "base_version": 1}, FactUpdate),
            None,
        )
    monkeypatch.undo()
    assert await dump(seeded) == before, "the change and its events commit together or not at all"

    # A stale base is refused before anything is written.
    update = msgspec.convert({"value": {"type": "integer", "value": 91}, "base_version": 5}, FactUpdate)
    with pytest.raises(StaleBase):
        await fact_usecases.update_fact(seeded, SEED_AUTHOR, "global", FACT, update, None)
    response = await client.put(
        f"/v1/facts/global/{FACT}",
        json={"value": {"type": "integer", "value": 92}},
        headers={**admin, "If-Match": '"v7"'},
    )
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await dump(seeded) == before


# -- 2. the relay in-process ---------------------------------------------------------------


async def test_a_round_publishes_each_row_once_as_a_cloudevent(
    client: Client, admin: dict[str, str], seeded: Database, database_url: str, redis: Redis, prefix: str
) -> None:
    response = await client.put(
        f"/v1/facts/global/{FACT}", json={"value": {"type": "integer", "value": 79}, "base_version": 1}, headers=admin
    )
    assert response.status_code == 200, response.text
    rows = await outbox_rows(seeded)
    settings = relay_settings(database_url, test_redis_url(), prefix)
    relay = Relay(settings, seeded, redis)

    assert await relay.round() == len(rows)
    assert relay.published == len(rows)
    assert await backlog(seeded) == 0
    by_id = {row["event_id"]: row for row in await outbox_rows(seeded)}
    schema = json.loads((REPO / "schemas" / "page-event.schema.json").read_text())
    for site in SITES:
        assert stream_key(settings, site) == prefix + site
        entries = await stream_events(redis, prefix + site)
        assert [entry for entry, _ in entries] == [f"{n}-0" for n in range(1, len(entries) + 1)]
        assert len(entries) == sum(row["site"] == site for row in rows)
        for entry, event in entries:
            row = by_id[event.id]
            assert row["sequence"] == int(entry.split("-")[0])
            assert event.specversion == "1.0"
            assert event.datacontenttype == "application/json"
            assert event.source == f"urn:liaison:site:{site}"
            assert event.type == EVENT_TYPES[row["kind"]]
            assert event.type in {"org.liaison.page.published", "org.liaison.page.rerendered"}
            assert event.subject == f"{site}/{row['slug']}/{row['locale']}"
            assert event.sequence == f"{row['sequence']:020d}"
            assert event.time.tzinfo is not None
            data = event.data
            assert (data.site, data.slug, data.locale, data.revision) == (
                site,
                row["slug"],
                row["locale"],
                row["revision"],
            )
            assert data.reason == row["reason"]
            assert data.url == page_url(settings.public_url, site, row["slug"], row["locale"])
            assert data.etag is not None
            assert data.etag == row["etag"]
        # The raw JSON has what the committed schema requires, and nothing it does not describe.
        first: Any = await redis.xrange(prefix + site, count=1)
        _, fields = first[0]
        raw = json.loads(fields[b"event"])
        event_schema = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema
        assert set(event_schema["required"]) <= set(raw) <= set(event_schema["properties"])
    # The newest event of each render carries the ETag the API serves now.
    latest = {(r["site"], r["slug"], r["locale"]): r for r in await outbox_rows(seeded)}
    for (site, slug, locale), row in latest.items():
        served = await client.get(f"/v1/sites/{site}/pages/{slug}", params={"locale": locale})
        assert served.headers["etag"] == row["etag"], (site, slug, locale)

    # Nothing new: nothing published, the streams unchanged.
    assert await relay.round() == 0
    assert relay.published == len(rows)
    await assert_each_event_once(seeded, redis, prefix)

    # A crash between XADD and recording the rows relayed: a new relay sends them again, Redis refuses the copies.
    doc = await page_id(seeded, DELHI, SLUG)
    assert (await republish(client, admin, doc, "en")).status_code == 200
    async with seeded.reading() as repo:
        pending = await OutboxQueries.of(repo).unrelayed(settings.relay_batch)
    assert len(pending) == 2
    await relay._publish(pending, await relay._etags(pending))
    assert relay.published == len(rows) + 2
    assert await backlog(seeded) == 2, "the crash came before the rows were recorded as relayed"
    # The page changes again before the new relay starts, and the two rows have no ETag (as when a
    # process without a renderer, like the CLI, wrote them): the retry renders another ETag, but the
    # events already in the stream keep theirs, and the outbox records what the stream has.
    assert (await republish(client, admin, doc, "fr")).status_code == 200
    async with seeded.transaction() as repo:
        await repo.conn.execute(sa.update(outbox).where(outbox.c.id.in_([r.id for r in pending])).values(etag=None))

    fresh = Relay(settings, seeded, redis)
    assert await fresh.round() == 4
    assert fresh.published == 2, "Redis already had the first two events"
    assert await backlog(seeded) == 0
    await assert_each_event_once(seeded, redis, prefix)
    await assert_stream_matches_outbox(seeded, redis, prefix)


# -- 3. SIGKILL at random points -------------------------------------------------------------


@pytest.mark.slow
async def test_a_relay_killed_at_random_points_loses_and_duplicates_nothing(
    seeded: Database,
    database_url: str,
    make_token: TokenFactory,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    processes: list[Processes],
) -> None:
    rng = random.Random(20260527)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    group = Processes(sync_env(database_url, test_redis_url(), port, prefix), tmp_path)
    processes.append(group)
    headers = await make_token("editor", name="kill-test")
    doc = await page_id(seeded, DELHI, SLUG)
    group.start("serve", "serve")
    wait_http(f"{api}/health/live")
    writes = 0
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        for round_number in range(8):
            relay = group.start(f"relay-{round_number}", "sync", "run")
            # The kill window opens once the relay holds the lease and has done a round (the first one
            # publishes what the killed one left): a relay still starting up would be killed doing nothing.
            await wait_until(lambda relay=relay: relaying(relay), interval=0.05)
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.5:
                    response = await bump_fact(http, headers)
                else:
                    response = await republish(http, headers, doc, rng.choice(["fr", "en"]))
                assert response.is_success, response.text
                writes += 1
            await asyncio.sleep(rng.uniform(0.3, 1.8))
            relay.kill()
            # The lease of a killed relay expires after its TTL; skip the wait.
            await expire_lease(seeded)
        relayed_before_the_last = len(await stream_events(redis, prefix + DELHI))
        group.start("relay-final", "sync", "run")
        await wait_until(lambda: no_backlog(seeded), interval=0.1)
    assert writes >= 8
    assert relayed_before_the_last > 0, "no killed relay ever got to publish: the kills hit nothing"
    await assert_each_event_once(seeded, redis, prefix)
    await assert_stream_matches_outbox(seeded, redis, prefix)


# -- 4. two relays ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_two_relays_one_holds_the_lease_and_the_other_takes_over(
    client: Client,
    admin: dict[str, str],
    seeded: Database,
    database_url: str,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    processes: list[Processes],
) -> None:
    group = Processes(sync_env(database_url, test_redis_url(), free_port(), prefix), tmp_path)
    processes.append(group)
    relays = [group.start("relay-a", "sync", "run"), group.start("relay-b", "sync", "run")]

    def roles() -> tuple[Process, Process] | None:
        holding = [r for r in relays if "holding the lease, relaying" in r.output()]
        waiting = [r for r in relays if "another relay holds the lease" in r.output()]
        if len(holding) == 1 and len(waiting) == 1 and holding != waiting:
            return holding[0], waiting[0]
        return None

    await wait_until(roles, interval=0.1)
    found = roles()
    assert found is not None
    holder, standby = found
    assert log_lines(holder, "another relay holds the lease") == 0
    assert log_lines(standby, "holding the lease") == 0
    held = await lease_holder(seeded)
    assert held is not None
    assert held.endswith(f":{holder.popen.pid}"), held
    await wait_until(lambda: no_backlog(seeded), interval=0.1)

    # The standby keeps waiting, and says so once, not once per check (it checks every third of the
    # lease's TTL; this only watches for a second line, so a slower machine cannot fail it).
    await asyncio.sleep(4)
    assert log_lines(standby, "another relay holds the lease") == 1
    assert standby.popen.poll() is None

    # The holder stops gracefully: it releases the lease and the standby takes over at once, that is
    # before the lease it held would have expired (which is what a killed holder costs).
    async with seeded.reading() as repo:
        last = await OutboxQueries.of(repo).lease_holder(LEASE)
    assert last is not None
    assert holder.terminate() == 0
    assert "stopped" in holder.output()

    async def standby_holds() -> bool:
        current = await lease_holder(seeded)
        return current is not None and current.endswith(f":{standby.popen.pid}")

    await wait_until(standby_holds, interval=0.05)
    took_over = dt.datetime.now(dt.UTC)
    assert took_over < last[1], f"the standby took over at {took_over:%T.%f}, after the lease's end {last[1]:%T.%f}"

    # Events still flow.
    for _ in range(3):
        assert (await bump_fact(client, admin)).status_code == 200
    await wait_until(lambda: no_backlog(seeded), interval=0.1)
    assert "holding the lease, relaying" in standby.output()
    await assert_each_event_once(seeded, redis, prefix)
    await assert_stream_matches_outbox(seeded, redis, prefix)


@pytest.mark.slow
async def test_a_killed_relays_successor_relays_long_before_its_lease_would_have_expired(
    client: Client,
    admin: dict[str, str],
    seeded: Database,
    database_url: str,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    processes: list[Processes],
) -> None:
    env = sync_env(database_url, test_redis_url(), free_port(), prefix)
    env["LIAISON_RELAY_LEASE_SECONDS"] = "30"
    group = Processes(env, tmp_path)
    processes.append(group)
    first = group.start("relay-first", "sync", "run")
    assert (await bump_fact(client, admin)).status_code == 200
    await wait_until(lambda: no_backlog(seeded), within=20, interval=0.1)
    async with seeded.reading() as repo:
        dead = await OutboxQueries.of(repo).lease_holder(LEASE)
    assert dead is not None
    assert dead[0].endswith(f":{first.popen.pid}"), dead
    first.kill()
    assert (await bump_fact(client, admin)).status_code == 200  # committed while no relay runs

    # A new relay (a new name) finds the lease held for up to 30 s more, but the dead relay's lock is
    # free: that proves it gone, so the successor relays at once instead of waiting the lease out.
    successor = group.start("relay-successor", "sync", "run")
    await wait_until(lambda: no_backlog(seeded), within=20, interval=0.1)
    assert dt.datetime.now(dt.UTC) < dead[1], "the event went out only after the dead relay's lease expired"
    assert (await lease_holder(seeded) or "").endswith(f":{successor.popen.pid}")
    assert "holding the lease, relaying" in successor.output()
    await assert_each_event_once(seeded, redis, prefix)
    await assert_stream_matches_outbox(seeded, redis, prefix)


async def test_two_relays_started_at_once_one_relays_the_other_waits_then_takes_over(
    seeded: Database, database_url: str, redis: Redis, prefix: str
) -> None:
    settings = relay_settings(database_url, test_redis_url(), prefix, relay_lease_seconds=30.0)
    relays = [Relay(settings, seeded, redis, holder=f"relay-{name}") for name in "ab"]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(relay.run(stop)) for relay, stop in zip(relays, stops, strict=True)]
    try:
        await wait_until(lambda: sorted(r.state for r in relays) == ["relaying", "waiting-lease"], within=20)
        active, standby = sorted(relays, key=lambda r: r.state)
        for _ in range(5):
            await next_fact_version(seeded)
        await wait_until(lambda: no_backlog(seeded), within=20, interval=0.1)
        assert active.published > 0
        assert (standby.published, standby.state) == (0, "waiting-lease"), "both relays relayed"
        assert await lease_holder(seeded) == active.holder

        # The active relay stops; the standby takes the lease over and relays what follows.
        stops[relays.index(active)].set()
        await tasks[relays.index(active)]
        published = active.published
        await next_fact_version(seeded)
        await wait_until(lambda: no_backlog(seeded), within=20, interval=0.1)
        assert standby.published > 0
        assert active.published == published
        assert await lease_holder(seeded) == standby.holder
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)
    await assert_each_event_once(seeded, redis, prefix)


async def test_a_relay_that_lost_its_lock_sends_nothing_until_it_has_it_again(
    seeded: Database, database_url: str, redis: Redis, prefix: str
) -> None:
    settings = relay_settings(database_url, test_redis_url(), prefix, relay_lease_seconds=30.0)
    relay = Relay(settings, seeded, redis, holder="relay-cut-off")
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    intruder = process_lock(seeded.engine, LEASE)
    assert intruder is not None
    try:
        await wait_until(lambda: relay.state == "relaying", within=20)
        # Its lock goes, as when its database session dies (PostgreSQL) or its lock file is replaced
        # (SQLite), and someone else takes it: the relay, its lease row still valid, must stop.
        if seeded.dialect == "postgresql":
            async with seeded.transaction() as repo:
                await repo.conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND classid = :high AND objid = :low AND pid <> pg_backend_pid()"
                    ),
                    {"high": advisory_key(LEASE) >> 32, "low": advisory_key(LEASE) & 0xFFFFFFFF},
                )
        else:
            lock_file = Path(str(make_url(database_url).database) + "-relay.lock")
            lock_file.with_suffix(".new").touch()
            lock_file.with_suffix(".new").replace(lock_file)
        await wait_until(intruder.acquire, within=20)
        published = relay.published
        await next_fact_version(seeded)
        await wait_until(lambda: relay.state == "waiting-lease", within=20)
        assert await backlog(seeded) > 0
        assert relay.published == published

        await intruder.release()
        await wait_until(lambda: no_backlog(seeded), within=20, interval=0.1)
        assert relay.published > published
    finally:
        await intruder.release()
        stop.set()
        await task
    await assert_each_event_once(seeded, redis, prefix)


# -- 5. Redis down during a burst ---------------------------------------------------------------


@pytest.mark.slow
async def test_redis_down_during_a_burst_is_logged_once_and_caught_up(
    admin: dict[str, str],
    seeded: Database,
    database_url: str,
    prefix: str,
    tmp_path: Path,
    processes: list[Processes],
) -> None:
    with redis_server(tmp_path) as server:
        group = Processes(sync_env(database_url, server.url, free_port(), prefix), tmp_path)
        processes.append(group)
        relay = group.start("relay", "sync", "run")
        settings = relay_settings(database_url, server.url, prefix)
        doc = await page_id(seeded, DELHI, SLUG)
        async with app_client(settings, seeded) as client:
            await wait_until(lambda: no_backlog(seeded), interval=0.1)
            unreachable = "Redis unreachable"
            assert log_lines(relay, unreachable) == 0

            server.stop()
            before = await backlog(seeded)
            for number in range(30):
                if number % 3:
                    response = await bump_fact(client, admin)
                else:
                    response = await republish(client, admin, doc, ("fr", "en")[number % 2])
                assert response.is_success, (number, response.status_code, response.text)
            assert await backlog(seeded) >= before + 30, "the outbox keeps every change while Redis is down"
            await wait_until(lambda: log_lines(relay, unreachable) >= 1, interval=0.1)
            await asyncio.sleep(2.5)  # several retries with backoff: a window to see no second line, never a wait
            assert log_lines(relay, unreachable) == 1, relay.output()[-3000:]
            assert relay.popen.poll() is None, "the relay keeps running"
            assert await backlog(seeded) >= 30

            server.start()
            await wait_until(lambda: no_backlog(seeded), interval=0.1)
        assert log_lines(relay, unreachable) == 1
        async with redis_client(server.url) as private:
            await assert_each_event_once(seeded, private, prefix)
            await assert_stream_matches_outbox(seeded, private, prefix)


# -- 6. Redis loses its data ------------------------------------------------------------------


@pytest.mark.parametrize("change_at_once", [False, True], ids=["flush-then-check", "flush-then-change-at-once"])
async def test_a_flushed_redis_gets_every_event_again(
    client: Client,
    admin: dict[str, str],
    seeded: Database,
    database_url: str,
    prefix: str,
    tmp_path: Path,
    change_at_once: bool,
) -> None:
    with redis_server(tmp_path) as server:
        async with redis_client(server.url) as private:
            settings = relay_settings(database_url, server.url, prefix)
            relay = Relay(settings, seeded, private, loss_check_seconds=1.0)
            assert (await bump_fact(client, admin)).status_code == 200
            while await relay.round():
                pass
            await assert_each_event_once(seeded, private, prefix)
            relayed = await private.xlen(prefix + DELHI)
            assert relayed > 0

            assert await private.flushall()
            if not change_at_once:
                # The relay runs before the next change and finds the loss itself.
                deadline = time.monotonic() + PATIENCE
                while time.monotonic() < deadline and await private.xlen(prefix + DELHI) < relayed:
                    await relay.round()
                    await asyncio.sleep(0.05)
                assert await private.xlen(prefix + DELHI) == relayed, "the relay never noticed the flush"
            assert (await bump_fact(client, admin)).status_code == 200

            # Once the relay's loss check has run, the stream has every event once.
            deadline = time.monotonic() + PATIENCE
            while True:
                await relay.round()
                async with seeded.reading() as repo:
                    head = (await OutboxQueries.of(repo).site_heads())[DELHI]
                entries = [entry for entry, _ in await stream_events(private, prefix + DELHI)]
                if entries == [entry_id(n) for n in range(1, head + 1)] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert entries == [entry_id(n) for n in range(1, head + 1)], (
                f"after FLUSHALL the stream of {DELHI} holds {entries}, not sequences 1..{head}: "
                "events relayed before the flush were never republished"
            )
            await assert_each_event_once(seeded, private, prefix)
            await assert_stream_matches_outbox(seeded, private, prefix)


async def test_a_flushed_redis_whose_lost_events_the_outbox_no_longer_keeps_does_not_stop_the_relay(
    client: Client, admin: dict[str, str], seeded: Database, database_url: str, prefix: str, tmp_path: Path
) -> None:
    """Redis lost its data and the outbox was trimmed meanwhile: the relay republishes what it still has, says once
    that the rest is gone, and every site's new events keep flowing (agents resync through the feed's 410)."""
    with redis_server(tmp_path) as server:
        async with redis_client(server.url) as private:
            settings = relay_settings(database_url, server.url, prefix)
            relay = Relay(settings, seeded, private, loss_check_seconds=0.2)
            for _ in range(3):
                assert (await bump_fact(client, admin)).status_code == 200
            while await relay.round():
                pass
            async with seeded.transaction() as repo:
                queries = OutboxQueries.of(repo)
                heads = await queries.site_heads()
                for site, head in heads.items():
                    await queries.trim(site, head - 1)  # only each site's newest row is kept
            assert await private.flushall()

            assert (await bump_fact(client, admin)).status_code == 200
            deadline = time.monotonic() + PATIENCE
            while True:
                await relay.round()
                async with seeded.reading() as repo:
                    now = await OutboxQueries.of(repo).site_heads()
                tops = {site: await stream_events(private, prefix + site) for site in now}
                arrived = all(events and events[-1][0] == entry_id(now[site]) for site, events in tops.items())
                if arrived or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert arrived, f"the relay is stuck: streams end at {[e[-1][0] if e else None for e in tops.values()]}"
            for site, events in tops.items():
                kept = [entry for entry, _ in events]
                # The newest row kept before the flush, then the new change's rows; nothing lost that was kept.
                assert kept == [entry_id(n) for n in range(heads[site], now[site] + 1)], (site, kept)
            assert await backlog(seeded) == 0


async def test_a_stream_holding_another_databases_events_is_reported_once_and_a_retry_is_not(
    client: Client,
    admin: dict[str, str],
    seeded: Database,
    database_url: str,
    redis: Redis,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database reset under a kept Redis: the stream's entry at a sequence is another event. The relay cannot
    add its own there, and says so once, clearly; its own event found there (a retry after a crash) is no alarm."""
    assert (await bump_fact(client, admin)).status_code == 200
    settings = relay_settings(database_url, test_redis_url(), prefix)
    rows = await outbox_rows(seeded)
    first = next(row for row in rows if row["site"] == DELHI and row["sequence"] == 1)
    stranger = json.dumps({**json.loads(await _event_json(seeded, settings, first)), "id": "from-elsewhere"})
    await redis.xadd(prefix + DELHI, {"event": stranger}, id="1-0")  # written from another database's history

    def reports() -> list[str]:
        return [r.getMessage() for r in caplog.records if "another database" in r.getMessage()]

    relay = Relay(settings, seeded, redis)
    with caplog.at_level("ERROR", logger="liaison.relay"):
        for _ in range(3):
            await relay.round()
        assert len(reports()) == 1, reports()
        assert prefix + DELHI in reports()[0]
        assert "LIAISON_STREAM_PREFIX" in reports()[0]

        # Its own events found in a stream (every row sent again, as after a crash) raise no alarm.
        caplog.clear()
        async with seeded.transaction() as repo:
            await OutboxQueries.of(repo).mark_unrelayed_after(KATHMANDU, 0)
        again = Relay(settings, seeded, redis)
        while await again.round():
            pass
        assert await backlog(seeded) == 0
        assert reports() == []


async def _event_json(db: Database, settings: Settings, row: dict[str, Any]) -> str:
    """The JSON of the event an outbox row makes."""
    async with db.reading() as repo:
        (outbox_row,) = await OutboxQueries.of(repo).by_sequence(row["site"], row["sequence"] - 1, 1)
    return encode_event(event_of(outbox_row, settings.public_url)).decode()


# -- 7. the database locked --------------------------------------------------------------------


@asynccontextmanager
async def write_lock(database_url: str, db: Database) -> AsyncIterator[None]:
    """Hold the database's write lock from another connection."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database or "", timeout=10, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    async with db.engine.connect() as conn, conn.begin():
        await conn.execute(sa.text("LOCK TABLE outbox, facts IN EXCLUSIVE MODE"))
        yield


@pytest.mark.slow
async def test_a_locked_database_delays_writes_and_the_relay_without_harm(
    seeded: Database,
    database_url: str,
    make_token: TokenFactory,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    processes: list[Processes],
) -> None:
    # A real server: the in-process test client blocks the test's event loop while a request runs.
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    group = Processes(sync_env(database_url, test_redis_url(), port, prefix), tmp_path)
    processes.append(group)
    group.start("serve", "serve")
    relay = group.start("relay", "sync", "run")
    headers = await make_token("editor", name="lock-test")
    wait_http(f"{api}/health/live")
    async with httpx.AsyncClient(base_url=api, timeout=40) as http:
        await wait_until(lambda: no_backlog(seeded), interval=0.1)
        version = (await http.get(f"/v1/facts/global/{FACT}")).json()["version"]
        known = len(await outbox_rows(seeded))

        async with write_lock(database_url, seeded):
            locked_at = time.monotonic()
            write = asyncio.create_task(bump_fact(http, headers))
            page = await http.get(f"/v1/sites/{DELHI}/pages/{SLUG}", params={"locale": "en"})
            assert page.status_code == 200, "readers are not blocked by a writer"
            await asyncio.sleep(1.0)
            finished_while_locked = write.done()
        response = await asyncio.wait_for(write, timeout=35)
        waited = time.monotonic() - locked_at

        assert response.status_code != 500, response.text
        if finished_while_locked or not response.is_success:
            assert response.status_code in {*range(400, 500), 503}, response.text
            assert response.headers["content-type"].startswith(PROBLEM)
            expected_version, expected_rows = version, 0
        else:
            assert waited >= 1.0, "the write waited for the lock"
            expected_version, expected_rows = version + 1, 4
        assert (await http.get(f"/v1/facts/global/{FACT}")).json()["version"] == expected_version
        rows = await new_outbox_rows(seeded, known)
        assert len(rows) == expected_rows, "all of the write or none of it"

        # After the release everything is relayed once; the relay never gave up.
        assert (await bump_fact(http, headers)).status_code == 200
        await wait_until(lambda: no_backlog(seeded), interval=0.1)
    assert relay.popen.poll() is None
    await assert_each_event_once(seeded, redis, prefix)
    await assert_stream_matches_outbox(seeded, redis, prefix)


# -- 8. the change feed ------------------------------------------------------------------------


async def test_the_change_feed_serves_the_streams_events(
    client: Client, admin: dict[str, str], seeded: Database, database_url: str, redis: Redis, prefix: str
) -> None:
    assert (await bump_fact(client, admin)).status_code == 200
    settings = relay_settings(database_url, test_redis_url(), prefix)
    relay = Relay(settings, seeded, redis)
    while await relay.round():
        pass
    streamed = [event for _, event in await stream_events(redis, prefix + DELHI)]
    head = len(streamed)
    assert head >= 5

    response = await client.get("/v1/changes", params={"site": DELHI, "after": 0})
    assert response.status_code == 200, response.text
    feed = msgspec.json.decode(response.content, type=ChangeFeed)
    assert feed.site == DELHI
    assert feed.events == streamed, "the feed and the stream carry the same CloudEvents"
    assert [int(e.sequence) for e in feed.events] == list(range(1, head + 1))
    assert (feed.next_after, feed.head) == (head, head)
    assert response.json()["events"][0]["specversion"] == "1.0"

    # Page by page with next_after.
    collected: list[PageEvent] = []
    after = 0
    for _ in range(head):
        page = msgspec.json.decode(
            (await client.get("/v1/changes", params={"site": DELHI, "after": after, "limit": 2})).content,
            type=ChangeFeed,
        )
        if not page.events:
            break
        assert len(page.events) <= 2
        collected += page.events
        after = page.next_after
    assert collected == streamed
    empty = (await client.get("/v1/changes", params={"site": DELHI, "after": head})).json()
    assert (empty["events"], empty["next_after"], empty["head"]) == ([], head, head)

    # Retention: only the last two are kept; an older cursor is told to resynchronise.
    trimming = Relay(relay_settings(database_url, test_redis_url(), prefix, outbox_retention=2), seeded, redis)
    assert await trimming.trim_outbox() > 0
    kept = await client.get("/v1/changes", params={"site": DELHI, "after": head - 2})
    assert kept.status_code == 200, kept.text
    assert msgspec.json.decode(kept.content, type=ChangeFeed).events == streamed[-2:]
    for stale in (0, head - 3):
        gone = await client.get("/v1/changes", params={"site": DELHI, "after": stale})
        assert gone.status_code == 410, gone.text
        assert gone.headers["content-type"].startswith(PROBLEM)
        problem = gone.json()
        assert (problem["status"], problem["oldest"], problem["head"]) == (410, head - 1, head)
        assert problem["type"].endswith("cursor-expired")

    unknown = await client.get("/v1/changes", params={"site": "nowhere", "after": 0})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith(PROBLEM)
    assert "nowhere" in unknown.json()["detail"]


# -- 9. the exported JSON Schema ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "contract"),
    [("page-event.schema.json", PageEvent), ("change-feed.schema.json", ChangeFeed)],
)
def test_the_committed_json_schema_is_the_contracts(file_name: str, contract: type[msgspec.Struct]) -> None:
    path = REPO / "schemas" / file_name
    assert path.exists(), f"schemas/{file_name} is missing: run `liaison schemas export` and commit it"
    assert json.loads(path.read_text()) == msgspec.json.schema(contract), (
        f"schemas/{file_name} differs from {contract.__name__}: run `liaison schemas export` and commit it"
    )


def test_the_schemas_export_command_exists() -> None:
    from services.cli import main

    result = CliRunner().invoke(main, ["schemas", "export", "--help"])
    assert result.exit_code == 0, result.output
    assert "schema" in result.output.lower()
