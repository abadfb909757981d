"""Queries of the relay and the change feed over the outbox and the lease table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.storage.repository import OutboxRow, Repository, now
from services.content.storage.tables import leases, outbox


class OutboxQueries:
    """Outbox reads and writes for one transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    @classmethod
    def of(cls, repo: Repository) -> OutboxQueries:
        """Queries sharing a repository's transaction."""
        return cls(repo.conn)

    # -- the lease ---------------------------------------------------------------

    async def claim_lease(self, name: str, holder: str, ttl: float, *, take_over: bool = False) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while someone else holds it.

        ``take_over``: the caller proved the holder gone (it holds the lock the holder held), so the
        lease is taken before it expires.
        """
        current = now()
        expires = current + dt.timedelta(seconds=ttl)
        row = (await self.conn.execute(sa.select(leases).where(leases.c.name == name))).first()
        if row is None:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(sa.insert(leases).values(name=name, holder=holder, expires_at=expires))
            except sa.exc.IntegrityError:
                return False
            return True
        result = await self.conn.execute(
            sa.update(leases)
            .where(leases.c.name == name)
            .where(sa.true() if take_over else sa.or_(leases.c.holder == holder, leases.c.expires_at < current))
            .values(holder=holder, expires_at=expires)
        )
        return result.rowcount == 1

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once (graceful shutdown), if ``holder`` has it."""
        await self.conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    async def lease_holder(self, name: str) -> tuple[str, dt.datetime] | None:
        """Who holds the lease and until when."""
        row = (await self.conn.execute(sa.select(leases).where(leases.c.name == name))).first()
        if row is None:
            return None
        expires: dt.datetime = row.expires_at
        return row.holder, expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)

    # -- sequencing ------------------------------------------------------------------

    async def site_heads(self) -> dict[str, int]:
        """Each site's highest assigned sequence."""
        query = sa.select(outbox.c.site, sa.func.max(outbox.c.sequence)).group_by(outbox.c.site)
        return {site: int(head or 0) for site, head in await self.conn.execute(query)}

    async def unrelayed(self, limit: int, sent: Mapping[str, int] | None = None) -> list[OutboxRow]:
        """Rows not yet recorded as relayed, in sequence order per site.

        Each site's sequences up to ``sent[site]`` are skipped: they are in the stream
        already, and their record is on its way.
        """
        query = sa.select(outbox).where(outbox.c.sequence.is_not(None), outbox.c.relayed_at.is_(None))
        for site, sequence in (sent or {}).items():
            query = query.where(sa.or_(outbox.c.site != site, outbox.c.sequence > sequence))
        query = query.order_by(outbox.c.site, outbox.c.sequence).limit(limit)
        return [Repository._outbox(r) for r in await self.conn.execute(query)]

    async def record_relayed(self, etags: Mapping[int, str]) -> None:
        """Record that these rows are in their streams, with the ETag each event carried."""
        if etags:
            await self.conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == sa.bindparam("row_id"))
                .values(relayed_at=now(), etag=sa.bindparam("row_etag")),
                [{"row_id": row_id, "row_etag": etag} for row_id, etag in etags.items()],
            )

    async def mark_unrelayed_after(self, site: str, sequence: int) -> int:
        """Mark a site's rows after ``sequence`` as not in the stream (Redis lost them)."""
        result = await self.conn.execute(
            sa.update(outbox)
            .where(outbox.c.site == site, outbox.c.sequence > sequence, outbox.c.relayed_at.is_not(None))
            .values(relayed_at=None)
        )
        return result.rowcount

    async def relayed_heads(self) -> dict[str, int]:
        """Each site's highest sequence the database says is in the stream."""
        query = (
            sa.select(outbox.c.site, sa.func.max(outbox.c.sequence))
            .where(outbox.c.relayed_at.is_not(None))
            .group_by(outbox.c.site)
        )
        return {site: int(head or 0) for site, head in await self.conn.execute(query)}

    async def by_sequence(self, site: str, after: int, limit: int, upto: int | None = None) -> list[OutboxRow]:
        """A site's sequenced rows after ``after`` (up to ``upto``), in order."""
        query = sa.select(outbox).where(outbox.c.site == site, outbox.c.sequence > after)
        if upto is not None:
            query = query.where(outbox.c.sequence <= upto)
        query = query.order_by(outbox.c.sequence).limit(limit)
        return [Repository._outbox(r) for r in await self.conn.execute(query)]

    async def oldest_retained(self, site: str) -> int | None:
        """The lowest sequence still kept for a site."""
        query = sa.select(sa.func.min(outbox.c.sequence)).where(outbox.c.site == site)
        value = (await self.conn.execute(query)).scalar_one()
        return None if value is None else int(value)

    async def backlog(self) -> tuple[int, dt.datetime | None]:
        """Rows not yet relayed, and when the oldest of them was written."""
        query = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(outbox.c.relayed_at.is_(None))
        count, oldest = (await self.conn.execute(query)).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        return int(count), oldest

    async def last_relay_latency(self) -> float | None:
        """Seconds between the newest relayed row's commit and its relay."""
        query = (
            sa.select(outbox.c.created_at, outbox.c.relayed_at)
            .where(outbox.c.relayed_at.is_not(None))
            .order_by(outbox.c.id.desc())
            .limit(1)
        )
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        created, relayed = (v if v.tzinfo else v.replace(tzinfo=dt.UTC) for v in row)
        seconds: float = (relayed - created).total_seconds()
        return max(0.0, seconds)

    async def trim(self, site: str, keep_after: int) -> int:
        """Forget a site's relayed rows at or below ``keep_after`` (the change feed's retention)."""
        result = await self.conn.execute(
            sa.delete(outbox).where(
                outbox.c.site == site, outbox.c.sequence <= keep_after, outbox.c.relayed_at.is_not(None)
            )
        )
        return result.rowcount
