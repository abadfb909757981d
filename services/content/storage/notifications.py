"""PostgreSQL LISTEN on the outbox channel: a wake-up the moment an outbox row commits."""

from __future__ import annotations

import asyncio
import contextlib

from services.content.storage.database import DATABASE_DOWN, Database
from services.content.storage.repository import OUTBOX_CHANNEL


async def listen_outbox(db: Database, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Set ``wake`` on every outbox notification until ``stop``; reconnects after errors.

    A no-op on other engines (their readers poll). If the connection drops
    silently, the callers' poll interval still finds new rows.
    """
    if db.dialect != "postgresql":
        return

    def ring(*_args: object) -> None:
        wake.set()

    while not stop.is_set():
        try:
            async with db.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                if driver is None:  # pragma: no cover - asyncpg always has one
                    return
                await driver.add_listener(OUTBOX_CHANNEL, ring)
                try:
                    await stop.wait()
                finally:
                    await driver.remove_listener(OUTBOX_CHANNEL, ring)
        except DATABASE_DOWN:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
