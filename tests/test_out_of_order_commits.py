"""Two writers of one site: sequences follow commit order, and every event is relayed once.

A writer takes its site's next sequence in its own transaction and holds the
counter row until it commits, so a second writer of the site waits for the first:
the sequence a relay sees next is never one that a slower transaction will fill in later.
"""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.usecases import changes
from services.redis_client import make_redis
from services.sync.relay import Relay
from tests.helpers import page_id
from tests.sync_support import assert_each_event_once, stream_sequences, test_redis_url

SLUG = "internal-security-section"


async def test_a_second_writer_of_a_site_waits_and_both_are_relayed_once_in_order(
    database_url: str, seeded: Database
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:8]}:events:"
    settings = Settings(database_url=database_url, redis_url=test_redis_url(), stream_prefix=prefix)
    redis: Redis = make_redis(settings.redis_url)
    # A second engine: the held transaction and the later one must be different connections.
    other = Database.from_url(database_url, pooled=False)
    relay = Relay(settings, seeded, redis)
    try:
        while await relay.round():
            pass
        document = await page_id(seeded, "in-new-delhi", SLUG)
        held_open = asyncio.Event()
        release = asyncio.Event()

        async def early_but_slow() -> None:
            async with other.transaction() as repo:
                # Takes its outbox id first...
                await changes.page_publication_changed(repo, document, "in-new-delhi", SLUG, "fr", 1)
                held_open.set()
                await release.wait()  # ...and commits last.

        slow = asyncio.create_task(early_but_slow())
        await held_open.wait()

        async def later() -> None:
            async with seeded.transaction() as repo:
                await changes.page_publication_changed(repo, document, "in-new-delhi", SLUG, "en", 1)

        late = asyncio.create_task(later())
        await asyncio.sleep(0.5)
        assert not late.done(), "the second writer of the site waits for the first to commit"
        assert await relay.round() == 0, "nothing uncommitted is visible to the relay"
        release.set()
        await slow
        await late
        while await relay.round():
            pass
        await assert_each_event_once(seeded, redis, prefix)
        sequences = await stream_sequences(redis, prefix + "in-new-delhi")
        assert sequences == sorted(sequences)
    finally:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await other.close()
