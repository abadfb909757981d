"""Bring a database to the latest schema with Alembic (``liaison migrate``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call it outside the event loop."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest migration's id."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision_of(connection: Connection) -> str | None:
    """The migration the database behind a sync connection is at."""
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(connection_url: str) -> str | None:
    """The migration a database is at (None when never migrated)."""
    from services.content.storage.engine import create_engine

    engine = create_engine(connection_url)

    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_read)
    finally:
        await engine.dispose()


def run_upgrade_in_thread(url: str) -> asyncio.Future[None]:
    """Run `upgrade` in a worker thread (Alembic's env starts its own event loop)."""
    return asyncio.get_running_loop().run_in_executor(None, upgrade, url)
