"""Keeping a replica's render cache in step with writes made by other processes.

Writes in this process invalidate at commit (`Database.on_commit`). Writes made
by another replica, or by the CLI, are seen by following the outbox: every render
change writes an outbox row naming the (site, page, locale). On PostgreSQL a
NOTIFY at commit wakes the follower within milliseconds; otherwise it polls.

It follows each site by its outbox sequence, not by row id. A site's sequences
become visible in order and without gaps (a writer holds the site's counter row
until it commits), so "above the last sequence read" never skips a row that
commits late, which row ids, taken before commit, could. A poll with no change
reads only the small table of per-site counters.
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

BATCH = 5000
"""Outbox rows read at once per site."""


class RenderCacheSync:
    """Background task invalidating a render cache from outbox rows written elsewhere."""

    def __init__(
        self, db: Database, invalidate: Invalidate, missed: Callable[[], None], poll_seconds: float = 0.25
    ) -> None:
        """``missed`` drops the whole cache: called when rows were trimmed before they were read."""
        self.db = db
        self.invalidate = invalidate
        self.missed = missed
        self.poll_seconds = poll_seconds
        self._read: dict[str, int] = {}
        """Per site, the last outbox sequence read."""
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Remember where the outbox is now, then follow it in the background."""
        await self.skip_to_now()
        wake = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._follow(wake)),
            asyncio.create_task(listen_outbox(self.db, self._stop, wake)),
        ]

    async def skip_to_now(self) -> None:
        """Take the outbox as it is now as read (what is cached from now on is built after it)."""
        async with self.db.reading() as repo:
            self._read = await repo.outbox_heads()

    async def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        for task in self._tasks:
            await task

    async def catch_up(self) -> int:
        """Invalidate the renders named by outbox rows not read yet; return how many rows were new."""
        fresh = 0
        async with self.db.reading() as repo:
            heads = await repo.outbox_heads()
            for site, head in heads.items():
                read = self._read.get(site, 0)
                if head < read:
                    # The counter went back (the database was restored): nothing read can be trusted.
                    self.missed()
                    read = self._read[site] = 0
                while head > read:
                    changes = await repo.render_changes_after(site, read, BATCH)
                    if not changes or changes[0].sequence != read + 1:
                        # Trimmed before this process read them: which renders changed is unknown.
                        self.missed()
                    if not changes:
                        read = head
                        break
                    # Rows this process wrote were invalidated at their commit: doing it again would
                    # only throw away the renders rebuilt since.
                    local = self.db.local_events
                    elsewhere = [change.key for change in changes if change.event_id not in local]
                    local.difference_update(change.event_id for change in changes)
                    if elsewhere:
                        self.invalidate(list(dict.fromkeys(elsewhere)))
                    fresh += len(changes)
                    read = changes[-1].sequence
                self._read[site] = read
        return fresh

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
