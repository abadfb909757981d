"""Keeping a replica's render cache in step with writes made by other processes.

Writes in this process invalidate at commit (`Database.on_commit`). Writes made
by another replica, or by the CLI, are seen by tailing the outbox: every render
change writes an outbox row naming the (site, page, locale). On PostgreSQL a
NOTIFY at commit wakes the tail within milliseconds; otherwise it polls.

Rows are re-read over a window of recent ids, not strictly "after the last id":
on PostgreSQL a transaction can commit after one that took a later id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from services.content.storage.database import DATABASE_DOWN, Database
from services.content.storage.notifications import listen_outbox
from services.content.storage.repository import RenderKey

logger = logging.getLogger("liaison.cache")

Invalidate = Callable[[Sequence[RenderKey]], None]
"""What drops (and may rebuild) the renders named: `Delivery.changed_elsewhere`."""

WINDOW = 1000
"""Outbox ids re-read behind the newest one, to catch transactions that committed late."""


class RenderCacheSync:
    """Background task invalidating a render cache from outbox rows written elsewhere."""

    def __init__(self, db: Database, invalidate: Invalidate, poll_seconds: float = 0.25) -> None:
        self.db = db
        self.invalidate = invalidate
        self.poll_seconds = poll_seconds
        self._seen: set[int] = set()
        self._newest = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Remember where the outbox is now, then follow it in the background."""
        async with self.db.reading() as repo:
            self._newest = await repo.last_outbox_id()
        wake = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._follow(wake)),
            asyncio.create_task(listen_outbox(self.db, self._stop, wake)),
        ]

    async def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        for task in self._tasks:
            await task

    async def catch_up(self) -> int:
        """Invalidate renders named by outbox rows not seen yet; return how many rows were new."""
        async with self.db.reading() as repo:
            rows = await repo.outbox_after(max(0, self._newest - WINDOW), WINDOW * 10)
        fresh = [row for row in rows if row.id not in self._seen]
        # Rows this process wrote were invalidated at their commit: doing it again would only
        # throw away the renders rebuilt since.
        elsewhere = [row for row in fresh if row.event_id not in self.db.local_events]
        self.db.local_events.difference_update(row.event_id for row in fresh)
        if elsewhere:
            self.invalidate(list({RenderKey(row.site, row.slug, row.locale): None for row in elsewhere}))
        if fresh:
            self._seen.update(row.id for row in fresh)
            self._newest = max(self._newest, *(row.id for row in fresh))
            self._seen = {row_id for row_id in self._seen if row_id > self._newest - WINDOW}
        return len(fresh)

    async def _follow(self, wake: asyncio.Event) -> None:
        while not self._stop.is_set():
            try:
                await self.catch_up()
            except DATABASE_DOWN as exc:
                logger.warning("render cache sync: database unavailable (%s)", exc.__class__.__name__)
            wake.clear()
            waiters = [asyncio.create_task(self._stop.wait()), asyncio.create_task(wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
