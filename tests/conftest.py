"""Shared fixtures: a migrated SQLite database per test, the app, tokens, the demo content."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.demo.loader import load_demo
from services.content.http.app import create_app
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.tables import metadata
from services.content.usecases.tokens import create_token
from tests.databases import DatabaseFactory

TokenFactory = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    """Templates (migrated; migrated and seeded) made once per run, on the configured engine."""
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    factory.template("migrated")
    factory.template("seeded", load_demo, base="migrated")
    yield factory
    factory.close()


@pytest.fixture
def database_url(databases: DatabaseFactory, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test: migrated, and with the demo already loaded if it asks for ``seeded``."""
    template = "seeded" if "seeded" in request.fixturenames else "migrated"
    url = databases.clone(template, tmp_path / "liaison.db")
    yield url
    databases.drop(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings pointing at this test's database."""
    return Settings(database_url=database_url, max_body_bytes=262_144)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database."""
    # The test client runs the app on another event loop: no connection may outlive its loop.
    database = Database.from_url(database_url, pooled=database_url.startswith("sqlite"))
    yield database
    await database.close()


@pytest.fixture
def app(settings: Settings, db: Database) -> Litestar:
    """The content service, sharing the test's database."""
    return create_app(settings, db=db)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An HTTP client talking to the app in-process (lifespan included)."""
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_token(db: Database) -> TokenFactory:
    """Create a token and return its Authorization header."""

    async def factory(
        role: str = "admin", sites: list[str] | None = None, locales: list[str] | None = None, name: str = "test"
    ) -> dict[str, str]:
        issued = await create_token(db, name, role, sites, locales)
        return {"Authorization": f"Bearer {issued.secret}"}

    return factory


@pytest.fixture
async def admin(make_token: TokenFactory) -> dict[str, str]:
    """Authorization header of an all-sites admin."""
    return await make_token("admin", name="admin")


@pytest.fixture
async def seeded(db: Database) -> Database:
    """The database with the demo content loaded and published (cloned from the seeded template)."""
    return db


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused request changed nothing."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with db.reading() as repo:
        for table in metadata.sorted_tables:
            rows = await repo.conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            result[table.name] = [tuple(row) for row in rows]
    return result
