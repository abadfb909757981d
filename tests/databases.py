"""Per-test databases on SQLite or PostgreSQL, cloned from templates migrated (and seeded) once.

``LIAISON_TEST_BACKEND`` picks the engine (``sqlite``, the default, or ``postgres``);
PostgreSQL is reached at ``LIAISON_TEST_POSTGRES_URL``. Each test gets its own
database: a copied file on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from services.content.storage.database import Database
from services.content.storage.migrate import upgrade

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
Prepare = Callable[[Database], Awaitable[object]]


def backend() -> str:
    """The engine the suite runs on."""
    name = os.environ.get("LIAISON_TEST_BACKEND", "sqlite")
    if name not in {"sqlite", "postgres"}:
        raise RuntimeError(f"LIAISON_TEST_BACKEND must be 'sqlite' or 'postgres', not {name!r}")
    return name


class DatabaseFactory:
    """Makes template databases once and a fresh clone for each test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.backend = backend()
        self.run_id = uuid.uuid4().hex[:8]
        self.templates: dict[str, str] = {}
        self.created: list[str] = []
        if self.backend == "postgres":
            self.admin_url = os.environ.get("LIAISON_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
            try:
                asyncio.run(self._admin("SELECT 1"))
            except (OSError, asyncpg.PostgresError) as exc:
                raise RuntimeError(
                    f"the PostgreSQL run needs a server at {self.admin_url} ({exc}); "
                    "start it or set LIAISON_TEST_POSTGRES_URL"
                ) from exc

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def _pg_url(self, name: str) -> str:
        url = make_url(self.admin_url).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False)

    def template(self, key: str, prepare: Prepare | None = None, base: str | None = None) -> str:
        """Create (once) a migrated template, optionally cloned from ``base`` and then prepared."""
        if key in self.templates:
            return self.templates[key]
        url = self.clone(base) if base else self._empty(key)
        if base is None:
            upgrade(url)
        if prepare is not None:

            async def run() -> None:
                db = Database.from_url(url)
                try:
                    await prepare(db)
                finally:
                    await db.close()

            asyncio.run(run())
        self.templates[key] = url
        return url

    def _empty(self, key: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / f'template-{key}.db'}"
        name = f"liaison_tpl_{self.run_id}_{key}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self._pg_url(name)

    def clone(self, template_key: str, target: Path | None = None) -> str:
        """A fresh database with the content of a template."""
        source = self.templates[template_key]
        if self.backend == "sqlite":
            path = target or self.workdir / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(make_url(source).database or "", path)
            return f"sqlite+aiosqlite:///{path}"
        name = f"liaison_t_{self.run_id}_{uuid.uuid4().hex[:10]}"
        template_name = make_url(source).database
        asyncio.run(self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
        self.created.append(name)
        return self._pg_url(name)

    def drop(self, url: str) -> None:
        """Remove a test's database (PostgreSQL; SQLite files go with the temporary folder)."""
        if self.backend != "postgres":
            return
        name = make_url(url).database
        if name in self.created:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.created.remove(name)

    def close(self) -> None:
        """Drop whatever is left (templates included)."""
        if self.backend == "postgres" and self.created:
            asyncio.run(self._admin(*[f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in reversed(self.created)]))
            self.created.clear()
