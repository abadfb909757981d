"""Bring a database to the latest schema with Alembic (``liaison migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from services.content.storage.engine import ensure_sqlite_folder

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call it outside the event loop."""
    ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest migration's id."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision_of(connection: Connection) -> str | None:
    """The migration the database behind a sync connection is at."""
    return MigrationContext.configure(connection).get_current_revision()
