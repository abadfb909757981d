"""The outbox relay: database outbox -> one Redis stream per site, each event exactly once.

One round:
1. assign the next gapless per-site sequence to outbox rows that have none (one transaction);
2. store each row's ETag, so that every retry sends the identical event;
3. XADD each event with the explicit entry id ``<sequence>-0``: a retry after a crash
   is refused by Redis as "equal or smaller than the top item", so the stream holds
   each event once;
4. mark the rows relayed.

A crash between any two steps repeats at most the step it was in. Only the lease
holder runs rounds. When a stream's last id is below what the database says was
relayed (Redis restarted empty, or lost its last writes), the missing rows are
marked unrelayed and go out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.content.domain.errors import NotFound
from services.content.doorbell import CHANNEL as DOORBELL
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.notifications import listen_outbox
from services.content.storage.outbox import OutboxQueries
from services.content.storage.repository import OutboxRow, RenderKey
from services.content.usecases.delivery import Delivery
from services.content.usecases.events import encode_event, event_of
from services.redis_client import REDIS_DOWN

logger = logging.getLogger("liaison.relay")

LEASE = "relay"


def stream_key(settings: Settings, site: str) -> str:
    """The Redis stream of a site's events."""
    return settings.stream_prefix + site


def entry_id(sequence: int) -> str:
    """The stream entry id of an event: its sequence, so retries collide instead of duplicating."""
    return f"{sequence}-0"


def _sequence_of(entry: bytes | str | None) -> int:
    if entry is None:
        return 0
    text = entry.decode() if isinstance(entry, bytes) else entry
    return int(text.split("-")[0])


class Relay:
    """Moves outbox rows into Redis streams; run one per deployment (a lease enforces it)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis: Redis,
        *,
        holder: str | None = None,
        lease_ttl: float | None = None,
        loss_check_seconds: float = 2.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.delivery = Delivery(db, settings.public_url)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ttl = lease_ttl if lease_ttl is not None else settings.relay_lease_seconds
        self.loss_check_seconds = loss_check_seconds
        self.state = "starting"
        self._lease_until = 0.0
        self._last_loss_check = 0.0
        self._unrepairable: set[str] = set()
        self.published = 0
        """Events added to streams by this process (not counting ones Redis already had)."""

    # -- states and logging ------------------------------------------------------

    def _enter(self, state: str, message: str) -> None:
        """Log one line per state change, never one per retry."""
        if state != self.state:
            self.state = state
            (logger.info if state in {"relaying", "idle"} else logger.warning)(message)

    # -- the lease -----------------------------------------------------------------

    async def hold_lease(self) -> bool:
        """Take or renew the lease; renewals happen a third of the TTL before expiry."""
        if time.monotonic() < self._lease_until - self.lease_ttl * 2 / 3:
            return True
        async with self.db.transaction() as repo:
            held = await OutboxQueries.of(repo).claim_lease(LEASE, self.holder, self.lease_ttl)
            holder = None if held else await OutboxQueries.of(repo).lease_holder(LEASE)
        if held:
            self._lease_until = time.monotonic() + self.lease_ttl
            return True
        self._lease_until = 0.0
        who = f"{holder[0]} until {holder[1]:%H:%M:%S}" if holder else "unknown"
        self._enter("waiting-lease", f"relay {self.holder}: another relay holds the lease ({who}); waiting")
        return False

    async def release_lease(self) -> None:
        """Give the lease up so a standby relay takes over at once."""
        if self._lease_until:
            async with self.db.transaction() as repo:
                await OutboxQueries.of(repo).release_lease(LEASE, self.holder)
            self._lease_until = 0.0

    # -- one round -------------------------------------------------------------------

    async def round(self) -> int:
        """Sequence, stamp and publish one batch; return how many events went out."""
        if time.monotonic() - self._last_loss_check >= self.loss_check_seconds:
            await self.repair_lost_events()
        async with self.db.transaction() as repo:
            await OutboxQueries.of(repo).assign_sequences(self.settings.relay_batch)
        async with self.db.reading() as repo:
            rows = await OutboxQueries.of(repo).unrelayed(self.settings.relay_batch)
        if not rows:
            return 0
        if await self._stream_lost_rows(rows):
            return 0  # the lost rows are marked unrelayed; the next round sends them in order
        rows = await self._stamp_etags(rows)
        if not await self.hold_lease():
            return 0  # a long round outlived the lease: the relay that has it now sends these rows
        await self._publish(rows)
        async with self.db.transaction() as repo:
            await OutboxQueries.of(repo).mark_relayed([row.id for row in rows])
        return len(rows)

    async def _stream_lost_rows(self, rows: list[OutboxRow]) -> bool:
        """Whether a stream ends before the rows about to follow it (Redis lost data since the last check).

        Checked before every XADD batch: adding ``n+1`` to a stream that lost ``1..n``
        would hide the loss from the periodic check for good.
        """
        first: dict[str, int] = {}
        for row in rows:
            if row.sequence is not None:
                first.setdefault(row.site, row.sequence)
        pipe = self.redis.pipeline(transaction=False)
        for site in first:
            pipe.xrevrange(stream_key(self.settings, site), count=1)
        tops = await pipe.execute()
        lost = False
        for (site, sequence), last in zip(first.items(), tops, strict=True):
            top = _sequence_of(last[0][0]) if last else 0
            if top < sequence - 1:
                async with self.db.transaction() as repo:
                    count = await OutboxQueries.of(repo).mark_unrelayed_after(site, top)
                if count == 0:
                    # The missing events are older than the outbox keeps: they cannot be sent again.
                    # Go on; agents see the gap, and the change feed's 410 sends them to a full resync.
                    if site not in self._unrepairable:
                        logger.warning(
                            "stream of site %s ends at %d before sequence %d and the outbox no longer has "
                            "the events between; agents will resynchronise",
                            site,
                            top,
                            sequence,
                        )
                        self._unrepairable.add(site)
                    continue
                logger.warning(
                    "stream of site %s ends at %d before sequence %d: Redis lost data; republishing %d event(s)",
                    site,
                    top,
                    sequence,
                    count,
                )
                lost = True
        return lost

    async def _stamp_etags(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        missing = [row for row in rows if row.etag is None]
        if not missing:
            return rows
        keys = {RenderKey(row.site, row.slug, row.locale) for row in missing}
        self.delivery.cache.invalidate(keys)
        etags: dict[RenderKey, str | None] = {}
        # Renders wait on the database more than on the CPU: a few at a time overlap those waits.
        limit = asyncio.Semaphore(4)

        async def etag_of(key: RenderKey) -> None:
            async with limit:
                try:
                    etags[key] = await self.delivery.canonical_etag(key.site, key.slug, key.locale)
                except NotFound:
                    etags[key] = None

        await asyncio.gather(*(etag_of(key) for key in keys))
        by_row = {row.id: etags[RenderKey(row.site, row.slug, row.locale)] for row in missing}
        async with self.db.transaction() as repo:
            await OutboxQueries.of(repo).set_etags(by_row)
        return [
            row if row.etag is not None else msgspec.structs.replace(row, etag=by_row[row.id] or "") for row in rows
        ]

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            assert row.sequence is not None  # noqa: S101 - unrelayed() returns sequenced rows only
            pipe.xadd(
                stream_key(self.settings, row.site),
                {"event": encode_event(event_of(row, self.settings.public_url))},
                id=entry_id(row.sequence),
                maxlen=self.settings.stream_maxlen,
                approximate=True,
            )
        results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, ResponseError):
                if "equal or smaller" in str(result):
                    continue  # already in the stream: a retry after a crash
                raise result
            if isinstance(result, Exception):
                raise result
            self.published += 1

    # -- Redis lost data -----------------------------------------------------------------

    async def repair_lost_events(self) -> int:
        """Mark unrelayed whatever a stream no longer has; return how many rows will go again."""
        self._last_loss_check = time.monotonic()
        async with self.db.reading() as repo:
            heads = await OutboxQueries.of(repo).relayed_heads()
        repaired = 0
        for site, head in heads.items():
            last = await self.redis.xrevrange(stream_key(self.settings, site), count=1)
            top = _sequence_of(last[0][0]) if last else 0
            if top < head:
                async with self.db.transaction() as repo:
                    count = await OutboxQueries.of(repo).mark_unrelayed_after(site, top)
                repaired += count
                logger.warning(
                    "stream of site %s ends at %d but %d was relayed: Redis lost data; republishing %d event(s)",
                    site,
                    top,
                    head,
                    count,
                )
        return repaired

    async def trim_outbox(self) -> int:
        """Apply the change feed's retention, always keeping each site's newest row."""
        removed = 0
        async with self.db.transaction() as repo:
            queries = OutboxQueries.of(repo)
            for site, head in (await queries.relayed_heads()).items():
                keep_after = head - self.settings.outbox_retention
                if keep_after > 0:
                    removed += await queries.trim(site, min(keep_after, head - 1))
        return removed

    # -- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Relay until ``stop`` is set; then finish the round in progress and release the lease."""
        wake = wake or asyncio.Event()
        doorbell = asyncio.create_task(self._listen_doorbell(stop, wake))
        notifications = (
            asyncio.create_task(listen_outbox(self.db, stop, wake)) if self.db.dialect == "postgresql" else None
        )
        delay = 0.0
        rounds = 0
        try:
            while not stop.is_set():
                try:
                    if not await self.hold_lease():
                        await _sleep_or(stop, self.lease_ttl / 3)
                        continue
                    was_down = self.state in {"redis-down", "database-down"}
                    if was_down:
                        await self.repair_lost_events()
                    moved = await self.round()
                    rounds += 1
                    if rounds % 100 == 0:
                        await self.trim_outbox()
                    delay = 0.0
                    self._enter("relaying", f"relay {self.holder}: holding the lease, relaying")
                except REDIS_DOWN as exc:
                    delay = _backoff(delay)
                    self._enter("redis-down", f"relay: Redis unreachable ({exc}); outbox kept, retrying with backoff")
                    await _sleep_or(stop, delay)
                    continue
                except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
                    delay = _backoff(delay)
                    self._enter("database-down", f"relay: database unavailable ({exc.__class__.__name__}); retrying")
                    await _sleep_or(stop, delay)
                    continue
                if moved == 0:
                    wake.clear()
                    await _wait_any(stop, wake, self.settings.relay_poll_seconds)
        finally:
            stop.set()
            await doorbell
            if notifications is not None:
                await notifications
            try:
                await self.release_lease()
            except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError):
                logger.warning("relay: could not release the lease; it expires in %.0fs", self.lease_ttl)
            logger.info("relay %s stopped (%d events published)", self.holder, self.published)

    async def _listen_doorbell(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Turn doorbell messages into wake-ups; a lost ring only costs one poll interval."""
        timeout = max(0.05, min(self.settings.relay_poll_seconds, self.settings.redis_socket_timeout / 2))
        while not stop.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(DOORBELL)
                while not stop.is_set():
                    message = await pubsub.get_message(timeout=timeout)
                    if message is not None:
                        wake.set()
            except REDIS_DOWN:
                await _sleep_or(stop, 1.0)
            finally:
                with contextlib.suppress(*REDIS_DOWN):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _backoff(previous: float) -> float:
    """Exponential backoff with full jitter, capped at 5 s."""
    ceiling = min(5.0, max(0.1, previous * 2))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
