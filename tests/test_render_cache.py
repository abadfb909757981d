"""The render cache: a build overtaken by a change is never kept; builds are shared and batched; other processes'
changes reach it through the outbox."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import sqlalchemy as sa

from schemas.facts import FactUpdate, IntegerValue
from services.content.domain.access import Principal
from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.storage.repository import RenderKey, Repository
from services.content.storage.tables import outbox as outbox_table
from services.content.usecases import facts
from services.content.usecases.delivery import Delivery, PageBuild
from services.content.usecases.render_cache_sync import RenderCacheSync
from services.content.usecases.render_inputs import PageKey, RenderInputs

SITE, SLUG = "in-new-delhi", "internal-security-section"
FACT = "network.embassy_count"


def _count_loads(monkeypatch: pytest.MonkeyPatch, during: Any = None) -> list[int]:
    """Count `RenderInputs.load` calls (one per batch); run ``during`` right after each load."""
    calls: list[int] = []
    load = RenderInputs.load

    async def counted(self: RenderInputs, repo: Repository, pages: Any) -> None:
        calls.append(len(pages))
        await load(self, repo, pages)
        if during is not None:
            during()

    monkeypatch.setattr(RenderInputs, "load", counted)
    return calls


async def test_an_invalidation_during_a_render_keeps_neither_the_render_nor_its_index(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = Delivery(seeded, "http://127.0.0.1:8000")
    await delivery.serve(SITE, SLUG, ("en",))  # the index (with its alternates) and both renders are cached
    delivery.cache.invalidate([RenderKey(SITE, SLUG, "fr")])  # drops fr and the index
    build = Delivery._page_build

    def commit_meanwhile(self: Delivery, inputs: RenderInputs, page: PageKey) -> PageBuild:
        built = build(self, inputs, page)
        # Another locale is published while this page is rendered: its alternates are stale.
        self.cache.invalidate([RenderKey(SITE, SLUG, "en")])
        return built

    monkeypatch.setattr(Delivery, "_page_build", commit_meanwhile)
    served = await delivery.serve(SITE, SLUG, ("fr",))
    assert served.entry.render.locale == "fr"  # the request itself is answered
    assert delivery.cache.render(SITE, SLUG, "fr") is None
    assert delivery.cache.index(SITE, SLUG) is None


async def test_an_invalidation_while_the_inputs_load_keeps_nothing(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = Delivery(seeded, "http://127.0.0.1:8000")
    _count_loads(monkeypatch, lambda: delivery.cache.invalidate([RenderKey(SITE, SLUG, "en")]))
    await delivery.serve(SITE, SLUG, ("fr",))
    assert delivery.cache.render(SITE, SLUG, "fr") is None, "a render built on inputs read before a change was kept"
    assert delivery.cache.index(SITE, SLUG) is None


async def test_a_change_to_another_page_does_not_discard_a_build(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = Delivery(seeded, "http://127.0.0.1:8000")
    _count_loads(monkeypatch, lambda: delivery.cache.invalidate([RenderKey(SITE, "another-page", "fr")]))
    await delivery.serve(SITE, SLUG, ("fr",))
    assert delivery.cache.render(SITE, SLUG, "fr") is not None
    assert delivery.cache.render(SITE, SLUG, "en") is not None, "a page is built in every published locale"


async def test_concurrent_requests_for_one_page_share_one_build(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = Delivery(seeded, "http://127.0.0.1:8000")
    loads = _count_loads(monkeypatch)
    served = await asyncio.gather(*(delivery.serve(SITE, SLUG, (locale,)) for locale in ["fr", "en"] * 10))
    assert loads == [1], "twenty requests for one uncached page read the database once"
    assert {s.entry.render.locale for s in served} == {"fr", "en"}


async def test_a_fact_change_is_rendered_as_it_is_written_and_its_events_carry_the_etags(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = Delivery(seeded, "http://127.0.0.1:8000", eager=True)
    await delivery.serve(SITE, SLUG, ("en",))
    loads = _count_loads(monkeypatch)
    fact = await facts.get_fact(seeded, "global", FACT)
    body = FactUpdate(value=IntegerValue(99), base_version=fact.version)
    await facts.update_fact(seeded, Principal.system("test"), "global", FACT, body, None)
    await delivery.stop()  # nothing is left to rebuild in the background, but wait for it
    assert len(loads) == 1, "every page the change touched rendered in one batch, in the writing transaction"
    assert loads[0] >= 2, "the fact is shown on two sites"
    entry = delivery.cache.render(SITE, SLUG, "en")
    assert entry is not None, "the changed page was cached at the commit"
    assert "99" in entry.render.html
    async with seeded.reading() as repo:
        rows = await OutboxQueries.of(repo).unrelayed(1000)  # no relay runs here: every row
    stamped = {(r.site, r.slug, r.locale): r.etag for r in rows if "version" in r.cause}
    assert stamped[(SITE, SLUG, "en")] == entry.json("en", False)[1], "the event carries the served render's ETag"
    calls = len(loads)
    await delivery.serve(SITE, SLUG, ("en",))
    assert len(loads) == calls, "the next request is served from the rebuilt cache"


async def _change_fact(db: Database, value: int) -> None:
    fact = await facts.get_fact(db, "global", FACT)
    body = FactUpdate(value=IntegerValue(value), base_version=fact.version)
    await facts.update_fact(db, Principal.system("test"), "global", FACT, body, None)


async def test_cache_sync_follows_other_writers_by_site_sequence_and_an_idle_poll_reads_no_outbox_row(
    seeded: Database, database_url: str
) -> None:
    """Another process's change invalidates its renders here, this process's own do not, an idle poll reads only
    the per-site counters, and rows trimmed before they were read drop the whole cache."""
    other = Database.from_url(database_url, pooled=False)  # another replica, or the CLI
    invalidated: list[RenderKey] = []
    missed: list[bool] = []
    sync = RenderCacheSync(seeded, invalidated.extend, lambda: missed.append(True))
    await sync.skip_to_now()  # followed by hand here, not in the background
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(seeded.engine.sync_engine, "before_cursor_execute", record)
    try:
        await _change_fact(other, 7)
        assert await sync.catch_up() >= 2
        assert RenderKey(SITE, SLUG, "en") in invalidated
        assert not missed

        statements.clear()
        assert await sync.catch_up() == 0
        assert statements, "an idle poll still looks at the counters"
        assert not [s for s in statements if re.search(r"\bFROM outbox\b", s)], "an idle poll reads no outbox row"

        invalidated.clear()
        await _change_fact(seeded, 8)
        assert await sync.catch_up() >= 2, "this process's rows are read ..."
        assert invalidated == [], "... but its renders were already replaced at its commit"

        await _change_fact(other, 9)
        async with other.transaction() as repo:
            await repo.conn.execute(sa.delete(outbox_table))  # trimmed before this replica read them
        assert not missed
        await sync.catch_up()
        assert missed, "rows it never read: the whole cache is dropped"
    finally:
        sa.event.remove(seeded.engine.sync_engine, "before_cursor_execute", record)
        await other.close()
