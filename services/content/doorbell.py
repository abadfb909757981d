"""Ringing the relay after a commit that wrote outbox rows, so it wakes within milliseconds.

The ring is a Redis Pub/Sub message: a hint, never the event itself (Pub/Sub is
at-most-once). If Redis is down the ring is dropped and the relay's poll finds
the rows anyway; requests never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from redis.asyncio import Redis

from services.content.storage.repository import RenderKey
from services.redis_client import REDIS_DOWN

logger = logging.getLogger("liaison.doorbell")

CHANNEL = "liaison:outbox"


class Doorbell:
    """One background task publishes at most one ring at a time, however many commits happen."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pending = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._down = False

    def ring(self, _changed: Sequence[RenderKey]) -> None:
        """Commit listener: ask for a ring (never blocks)."""
        self._pending.set()

    def start(self) -> None:
        """Start the background publisher."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop after the ring in flight, if any."""
        self._stopping = True
        self._pending.set()
        if self._task is not None:
            await self._task
        await self.redis.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            await self._pending.wait()
            self._pending.clear()
            if self._stopping:
                return
            try:
                await self.redis.publish(CHANNEL, b"1")
                if self._down:
                    logger.info("doorbell: Redis reachable again")
                self._down = False
            except REDIS_DOWN:
                if not self._down:
                    logger.warning("doorbell: Redis unreachable; the relay will find new events by polling")
                self._down = True
                await asyncio.sleep(1.0)
