"""Transactions: the unit of work every use case runs in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.content.storage.engine import READ_ONLY, create_engine, ensure_sqlite_folder
from services.content.storage.repository import RenderKey, Repository

DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, OSError)
"""What a lost or locked database raises: workers back off and retry on these."""

CommitListener = Callable[[Sequence[RenderKey]], None]
EtagStamper = Callable[[Repository, Sequence[RenderKey]], Awaitable[Mapping[RenderKey, str]]]
"""Renders the pages a transaction changed, inside it, and says each render's ETag ("" when not published)."""


class Database:
    """Owns the engine and hands out repositories bound to one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._listeners: list[CommitListener] = []
        self._stamper: EtagStamper | None = None
        self.local_events: set[str] = set()
        """Outbox event ids committed through this object (listeners already saw their renders)."""

    def stamp_etags_with(self, stamper: EtagStamper) -> None:
        """Give every outbox row its event's ETag in the writing transaction, just before it commits.

        Without a stamper the relay renders the page when it sends the event, later.
        """
        self._stamper = stamper

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener`` with the renders a transaction changed, right after it commits."""
        self._listeners.append(listener)

    @classmethod
    def from_url(cls, url: str, *, pooled: bool = True) -> Database:
        """Create the engine for ``url`` (making the SQLite file's folder if needed)."""
        ensure_sqlite_folder(url)
        return cls(create_engine(url, pooled=pooled))

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """A read-write transaction, committed on normal exit and rolled back on error."""
        async with self.engine.begin() as conn:
            repo = Repository(conn)
            yield repo
            if self._stamper is not None and repo.changed_renders:
                # Last thing before the commit: the renders see every write of this transaction, and
                # (the site's sequence counter being locked) no other change to these pages can commit first.
                await repo.set_outbox_etags(await self._stamper(repo, repo.changed_renders))
        if repo.written_events:
            if len(self.local_events) > 100_000:
                self.local_events.clear()
            self.local_events.update(repo.written_events)
        if repo.changed_renders:
            for listener in self._listeners:
                listener(repo.changed_renders)
        for callback in repo.after_commit:
            callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Repository]:
        """A read-only transaction (one consistent snapshot, never takes the write lock)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                yield Repository(conn)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()
