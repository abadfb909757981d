"""The outbox relay: database outbox -> one Redis stream per site, each event exactly once.

Writers give each outbox row the next gapless sequence of its site in their own
transaction (`Repository.insert_outbox`), so rows become visible in sequence
order. One round of the relay:

1. read the rows not relayed yet, in sequence order per site;
2. render each changed page now, for the ETag its event carries;
3. XADD each event with the explicit entry id ``<sequence>-0``: a retry after a
   crash is refused by Redis as "equal or smaller than the top item", so the
   stream holds each event once (and the relay reads back the ETag the stream has);
4. record the rows as relayed, with their ETags.

Step 4 runs in the background while the relay loops (`run`): the next round never
waits for the database's write lock, and remembers in memory which sequences it
already sent. A crash between any two steps repeats at most the XADD, which Redis
refuses. Only the holder of the lease, and of the relay lock that proves a dead holder gone
(`storage/process_lock.py`), runs rounds. When a stream's last id is below what
was relayed (Redis restarted empty, or lost its last writes), the missing rows are
marked unrelayed and go out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
from collections.abc import Iterable, Sequence

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from schemas.events import PageEvent
from services.content.doorbell import CHANNEL as DOORBELL
from services.content.settings import Settings
from services.content.storage.database import DATABASE_DOWN, Database
from services.content.storage.notifications import listen_outbox
from services.content.storage.outbox import OutboxQueries
from services.content.storage.process_lock import ProcessLock, process_lock
from services.content.storage.repository import OutboxRow, RenderKey
from services.content.usecases.delivery import Delivery
from services.content.usecases.events import encode_event, event_of
from services.redis_client import REDIS_DOWN

logger = logging.getLogger("liaison.relay")

LEASE = "relay"
LOCK_POLL_SECONDS = 0.2
"""How often a standby tries the relay lock: the delay from a relay's death to its successor's first round."""
TRIM_EVERY_SECONDS = 30.0
"""How often the change feed's retention is applied to the outbox."""


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


class _Sent(msgspec.Struct, frozen=True):
    """An event in its stream whose row is not yet recorded as relayed."""

    site: str
    sequence: int
    etag: str


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
        self._lock: ProcessLock | None = None
        """Taken by `run`: the lock whose release proves this relay gone (the lease row then only says who)."""
        self._last_loss_check = 0.0
        self._unrepairable: set[str] = set()
        self._foreign: set[str] = set()
        """Sites whose stream was found to hold another database's events (said once)."""
        self._unrecorded: dict[int, _Sent] = {}
        """Outbox row id -> its event, in the stream, not yet recorded in the database."""
        self._sent: dict[str, int] = {}
        """Per site, the highest sequence this relay put in the stream (recorded or not)."""
        self._relayed_heads: dict[str, int] | None = None
        """Per site, the highest sequence recorded as relayed when the lease was taken (read once; what this relay
        sends after that is in ``_sent``)."""
        self._recording = asyncio.Lock()
        self._record_wanted = asyncio.Event()
        self._background = False
        self.published = 0
        """Events added to streams by this process (not counting ones Redis already had)."""

    # -- states and logging ------------------------------------------------------

    def _enter(self, state: str, message: str) -> None:
        """Log one line per state change, never one per retry."""
        if state != self.state:
            self.state = state
            (logger.info if state in {"relaying", "idle"} else logger.warning)(message)

    # -- the lease -----------------------------------------------------------------

    async def hold_lease(self, *, renew: bool = False) -> bool:
        """Take the lease, or renew it a third of the TTL before expiry (at once with ``renew``).

        A relay run by `run` first takes the relay lock, which the system releases when
        its holder dies: holding it proves every other relay gone or standing by, so the
        lease row is taken whoever it names, without waiting out its TTL.
        """
        if self._lock is not None and not await self._lock.acquire():
            self._lease_until = 0.0
            if self.state != "waiting-lease":
                async with self.db.reading() as repo:
                    self._waiting(await OutboxQueries.of(repo).lease_holder(LEASE))
            return False
        if not renew and time.monotonic() < self._lease_until - self.lease_ttl * 2 / 3:
            return True
        if self._lock is not None and not await self._lock.held():
            return self._lost_lock()  # checked first: only a holder of the lock may take the row over
        asked = time.monotonic()  # the lease runs from before the claim: a slow claim only shortens it here
        async with self.db.transaction() as repo:
            queries = OutboxQueries.of(repo)
            held = await queries.claim_lease(LEASE, self.holder, self.lease_ttl, take_over=self._lock is not None)
            holder = None if held else await queries.lease_holder(LEASE)
        if held:
            if not self._lease_until:
                self._relayed_heads = None  # another relay may have sent events since we last held it
            self._lease_until = asked + self.lease_ttl
            return True
        self._lease_until = 0.0
        self._waiting(holder)
        return False

    def _waiting(self, holder: tuple[str, dt.datetime] | None) -> None:
        who = f"{holder[0]} until {holder[1]:%H:%M:%S}" if holder else "unknown"
        self._enter("waiting-lease", f"relay {self.holder}: another relay holds the lease ({who}); waiting")

    async def may_publish(self) -> bool:
        """The fence before each XADD batch: the lease is valid by this process's clock, and the lock still held.

        A relay that was paused, or cut off from the database, finds out here and sends nothing.
        """
        if not await self.hold_lease():
            return False
        if self._lock is not None and not await self._lock.held():
            return self._lost_lock()
        return True

    def _lost_lock(self) -> bool:
        self._lease_until = 0.0
        self._enter("waiting-lease", f"relay {self.holder}: lost the relay lock; standing by")
        return False

    async def release_lease(self) -> None:
        """Give the lease up so a standby relay takes over at once."""
        if self._lease_until:
            async with self.db.transaction() as repo:
                await OutboxQueries.of(repo).release_lease(LEASE, self.holder)
            self._lease_until = 0.0

    # -- one round -------------------------------------------------------------------

    async def round(self) -> int:
        """Publish one batch; return how many events went out (including ones Redis already had)."""
        if time.monotonic() - self._last_loss_check >= self.loss_check_seconds:
            await self.repair_lost_events()
        async with self.db.reading() as repo:
            rows = await OutboxQueries.of(repo).unrelayed(self.settings.relay_batch, self._sent)
        if not rows:
            return 0
        if await self._stream_lost_rows(rows):
            return 0  # the lost rows are marked unrelayed; the next round sends them in order
        etags = await self._etags(rows)
        if not await self.may_publish():
            return 0  # a long round outlived the lease, or the lock is lost: the relay that has it sends these rows
        carried = await self._publish(rows, etags)
        for row in rows:
            assert row.sequence is not None  # noqa: S101 - writers number every row
            self._unrecorded[row.id] = _Sent(row.site, row.sequence, carried[row.id])
            self._sent[row.site] = max(self._sent.get(row.site, 0), row.sequence)
        if self._background:
            self._record_wanted.set()
        else:
            await self.record()
        return len(rows)

    async def record(self) -> None:
        """Record the events in their streams as relayed (one transaction)."""
        async with self._recording:
            batch = dict(self._unrecorded)
            if not batch:
                return
            async with self.db.transaction() as repo:
                await OutboxQueries.of(repo).record_relayed({row_id: sent.etag for row_id, sent in batch.items()})
            for row_id in batch:
                self._unrecorded.pop(row_id, None)

    async def _stream_lost_rows(self, rows: list[OutboxRow]) -> bool:
        """Whether a stream ends before the rows about to follow it (Redis lost data since the last check).

        Checked before every XADD batch: adding ``n+1`` to a stream that lost ``1..n``
        would hide the loss from the periodic check for good.
        """
        first: dict[str, int] = {}
        for row in rows:
            if row.sequence is not None:
                first.setdefault(row.site, row.sequence)
        tops = await self._stream_tops(first)
        lost = False
        for site, sequence in first.items():
            top = tops[site]
            if top < sequence - 1:
                count = await self._forget_after(site, top)
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

    async def _stream_tops(self, sites: Iterable[str]) -> dict[str, int]:
        """The last sequence in each site's stream (0 when the stream is empty or gone)."""
        names = list(sites)
        pipe = self.redis.pipeline(transaction=False)
        for site in names:
            pipe.xrevrange(stream_key(self.settings, site), count=1)
        tops = await pipe.execute()
        return {site: _sequence_of(last[0][0]) if last else 0 for site, last in zip(names, tops, strict=True)}

    async def _forget_after(self, site: str, top: int) -> int:
        """The stream of ``site`` ends at ``top``: everything after it goes out again; return how many rows."""
        async with self._recording:
            for row_id in [i for i, sent in self._unrecorded.items() if sent.site == site and sent.sequence > top]:
                del self._unrecorded[row_id]
            if self._sent.get(site, 0) > top:
                self._sent[site] = top
            if self._relayed_heads is not None and self._relayed_heads.get(site, 0) > top:
                self._relayed_heads[site] = top
            async with self.db.transaction() as repo:
                count: int = await OutboxQueries.of(repo).mark_unrelayed_after(site, top)
        return count

    async def _etags(self, rows: list[OutboxRow]) -> dict[int, str]:
        """Each row's event ETag: the one already recorded (an event sent again), else the render's now."""
        keys = {RenderKey(row.site, row.slug, row.locale) for row in rows if row.etag is None}
        renders = await self.delivery.etags(keys) if keys else {}
        return {
            row.id: row.etag if row.etag is not None else renders[RenderKey(row.site, row.slug, row.locale)] or ""
            for row in rows
        }

    async def _publish(self, rows: Sequence[OutboxRow], etags: dict[int, str]) -> dict[int, str]:
        """XADD the rows' events; return the ETag each event in the stream carries."""
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            assert row.sequence is not None  # noqa: S101 - writers number every row
            event = event_of(msgspec.structs.replace(row, etag=etags[row.id]), self.settings.public_url)
            pipe.xadd(
                stream_key(self.settings, row.site),
                {"event": encode_event(event)},
                id=entry_id(row.sequence),
                maxlen=self.settings.stream_maxlen,
                approximate=True,
            )
        results = await pipe.execute(raise_on_error=False)
        carried = dict(etags)
        already: list[OutboxRow] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, ResponseError) and "equal or smaller" in str(result):
                already.append(row)  # in the stream already: a retry after a crash
            elif isinstance(result, Exception):
                raise result
            else:
                self.published += 1
        if already:
            carried.update(await self._etags_in_streams(already))
        return carried

    async def _etags_in_streams(self, rows: list[OutboxRow]) -> dict[int, str]:
        """The ETags the streams' copies of these events carry (a retry renders anew; the stream's copy wins)."""
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xrange(stream_key(self.settings, row.site), entry_id(row.sequence or 0), entry_id(row.sequence or 0))
        found: dict[int, str] = {}
        for row, entries in zip(rows, await pipe.execute(), strict=True):
            if entries:
                with contextlib.suppress(msgspec.DecodeError, KeyError):
                    event = msgspec.json.decode(entries[0][1][b"event"], type=PageEvent)
                    found[row.id] = event.data.etag or ""
                    if event.id != row.event_id:
                        self._foreign_stream(row)
        return found

    def _foreign_stream(self, row: OutboxRow) -> None:
        """Say once per site that its stream holds another database's events (a retry finds its own)."""
        if row.site in self._foreign:
            return
        self._foreign.add(row.site)
        logger.error(
            "stream %s already holds a different event at sequence %s: it was written from another database "
            "(reset or shared); this database's events up to its end are not in it. Give each database its own "
            "LIAISON_STREAM_PREFIX, or delete the stream so that the relay writes it anew",
            stream_key(self.settings, row.site),
            row.sequence,
        )

    # -- Redis lost data -----------------------------------------------------------------

    async def repair_lost_events(self) -> int:
        """Mark unrelayed whatever a stream no longer has; return how many rows will go again."""
        self._last_loss_check = time.monotonic()
        if self._relayed_heads is None:
            async with self.db.reading() as repo:
                self._relayed_heads = await OutboxQueries.of(repo).relayed_heads()
        heads = dict(self._relayed_heads)
        for site, sequence in self._sent.items():
            heads[site] = max(heads.get(site, 0), sequence)
        if not heads:
            return 0
        tops = await self._stream_tops(heads)
        repaired = 0
        for site, head in heads.items():
            top = tops[site]
            if top < head:
                count = await self._forget_after(site, top)
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
        """Relay until ``stop`` is set; then finish the round in progress, record it and release the lease."""
        wake = wake or asyncio.Event()
        self._background = True
        self._lock = process_lock(self.db.engine, LEASE)
        helpers = [
            asyncio.create_task(self._listen_doorbell(stop, wake)),
            asyncio.create_task(self._keep_lease(stop)),
            asyncio.create_task(self._record_in_background(stop)),
        ]
        if self.db.dialect == "postgresql":
            helpers.append(asyncio.create_task(listen_outbox(self.db, stop, wake)))
        delay = 0.0
        try:
            while not stop.is_set():
                try:
                    if not await self.hold_lease():
                        # With the lock, its release is the signal to watch for; without, the lease's expiry.
                        await _sleep_or(stop, LOCK_POLL_SECONDS if self._lock is not None else self.lease_ttl / 3)
                        continue
                    if self.state in {"redis-down", "database-down"}:
                        await self.repair_lost_events()
                    moved = await self.round()
                    delay = 0.0
                    if self._lease_until:  # not if the round found the lease or the lock lost
                        self._enter("relaying", f"relay {self.holder}: holding the lease, relaying")
                except REDIS_DOWN as exc:
                    delay = _backoff(delay)
                    self._enter("redis-down", f"relay: Redis unreachable ({exc}); outbox kept, retrying with backoff")
                    await _sleep_or(stop, delay)
                    continue
                except DATABASE_DOWN as exc:
                    delay = _backoff(delay)
                    self._enter("database-down", f"relay: database unavailable ({exc.__class__.__name__}); retrying")
                    await _sleep_or(stop, delay)
                    continue
                if moved == 0:
                    wake.clear()
                    await _wait_any(stop, wake, self.settings.relay_poll_seconds)
        finally:
            stop.set()
            self._record_wanted.set()
            for helper in helpers:
                await helper
            try:
                await self.record()
                await self.release_lease()
            except DATABASE_DOWN:
                logger.warning(
                    "relay: database unavailable at shutdown; the lease expires in %.0fs and unrecorded events "
                    "go out again (Redis refuses the copies)",
                    self.lease_ttl,
                )
            if self._lock is not None:
                await self._lock.release()
                self._lock = None
            self._background = False
            logger.info("relay %s stopped (%d events published)", self.holder, self.published)

    async def _record_in_background(self, stop: asyncio.Event) -> None:
        """Record sent events as relayed, and apply the outbox retention now and then, off the rounds' path."""
        delay = 0.0
        last_trim = time.monotonic()
        while not stop.is_set():
            await _wait_any(stop, self._record_wanted, self.settings.relay_poll_seconds)
            self._record_wanted.clear()
            try:
                await self.record()
                if time.monotonic() - last_trim >= TRIM_EVERY_SECONDS and self._lease_until:
                    last_trim = time.monotonic()
                    await self.trim_outbox()
                delay = 0.0
            except DATABASE_DOWN:
                delay = _backoff(delay)
                await _sleep_or(stop, delay)  # the round loop logs the outage; the records wait in memory

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        """Renew the lease well before it expires, so a round never waits for that write."""
        while not stop.is_set():
            await _sleep_or(stop, self.lease_ttl / 6)
            if self._lease_until and not stop.is_set():
                with contextlib.suppress(*DATABASE_DOWN):
                    await self.hold_lease(renew=True)

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
