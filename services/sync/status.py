"""``liaison sync status`` and ``liaison sync replay``: what operators look at and repair with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.usecases.events import encode_event, event_of
from services.redis_client import REDIS_DOWN
from services.sync.agent_health import AgentReport, agents_key, report_decoder
from services.sync.relay import LEASE, entry_id, stream_key


class GroupStatus(msgspec.Struct):
    """A consumer group of a site's stream."""

    name: str
    consumers: int
    pending: int
    lag: int | None
    last_delivered: str


class SiteStatus(msgspec.Struct):
    """One site's position in the pipeline."""

    site: str
    sequenced: int
    relayed: int
    stream_length: int | None
    stream_last: str | None
    groups: list[GroupStatus]
    agents: list[AgentReport] = []
    """What the site's agents last reported (``<stream>:agents``): mode, problems, dead letters."""


class SyncStatus(msgspec.Struct):
    """The whole pipeline's state."""

    backlog: int
    oldest_unrelayed_age_seconds: float | None
    relay_lease: str | None
    sites: list[SiteStatus]
    redis_error: str | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def sync_status(settings: Settings, db: Database, redis: Redis) -> SyncStatus:
    """Backlog and its age, last sequences per site, stream lengths, group pending counts and lag."""
    async with db.reading() as repo:
        queries = OutboxQueries.of(repo)
        backlog, oldest = await queries.backlog()
        heads = await queries.site_heads()
        relayed = await queries.relayed_heads()
        lease = await queries.lease_holder(LEASE)
    now = dt.datetime.now(dt.UTC)
    status = SyncStatus(
        backlog=backlog,
        oldest_unrelayed_age_seconds=(now - oldest).total_seconds() if oldest else None,
        relay_lease=f"{lease[0]} until {lease[1]:%H:%M:%S}" if lease and lease[1] > now else None,
        sites=[],
    )
    for site in sorted(heads):
        site_status = SiteStatus(site, heads[site], relayed.get(site, 0), None, None, [])
        key = stream_key(settings, site)
        try:
            if status.redis_error is None and await redis.exists(key):
                info = await redis.xinfo_stream(key)
                site_status.stream_length = int(info["length"])
                site_status.stream_last = _text(info["last-generated-id"])
                for group in await redis.xinfo_groups(key):
                    lag = group.get("lag")
                    site_status.groups.append(
                        GroupStatus(
                            name=_text(group["name"]),
                            consumers=int(group["consumers"]),
                            pending=int(group["pending"]),
                            lag=None if lag is None else int(lag),
                            last_delivered=_text(group["last-delivered-id"]),
                        )
                    )
            if status.redis_error is None:
                site_status.agents = await agent_reports(redis, key)
        except (ResponseError, *REDIS_DOWN) as exc:
            status.redis_error = f"{exc.__class__.__name__}: {exc}"
        status.sites.append(site_status)
    return status


async def agent_reports(redis: Redis, stream: str) -> list[AgentReport]:
    """The reports of a stream's agents, by consumer name (one that cannot be read is left out)."""
    reports: list[AgentReport] = []
    fields: Any = await redis.hgetall(agents_key(stream))
    for _consumer, raw in sorted(fields.items()):
        try:
            reports.append(report_decoder.decode(raw))
        except msgspec.DecodeError:
            continue
    return reports


async def replay(
    settings: Settings,
    db: Database,
    redis: Redis,
    site: str,
    first: int,
    last: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int, list[int]]:
    """Put events ``first``..``last`` of a site back into its stream where Redis lost them.

    Returns (re-added, already present, not re-addable). An entry id below the
    stream's top cannot be inserted (stream ids only grow); agents repair those
    from the change feed.
    """
    async with db.reading() as repo:
        rows = await OutboxQueries.of(repo).by_sequence(site, first - 1, 1_000_000, last)
    added = present = 0
    refused: list[int] = []
    top_entry = await redis.xrevrange(stream_key(settings, site), count=1)
    top = int(_text(top_entry[0][0]).split("-")[0]) if top_entry else 0
    for done, row in enumerate(rows, start=1):
        assert row.sequence is not None  # noqa: S101 - by_sequence returns sequenced rows
        if row.sequence <= top:
            found = await redis.xrange(stream_key(settings, site), entry_id(row.sequence), entry_id(row.sequence))
            if found:
                present += 1
            else:
                refused.append(row.sequence)
        else:
            await redis.xadd(
                stream_key(settings, site),
                {"event": encode_event(event_of(row, settings.public_url))},
                id=entry_id(row.sequence),
                maxlen=settings.stream_maxlen,
                approximate=True,
            )
            top = row.sequence
            added += 1
        if progress:
            progress(done, len(rows))
    return added, present, refused
