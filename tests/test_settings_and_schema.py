"""Settings come from LIAISON_* only when asked; the OpenAPI document is complete."""

from __future__ import annotations

import subprocess
import sys

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.settings import Settings


def test_settings_read_from_the_given_environment() -> None:
    settings = Settings.from_env({"LIAISON_PORT": "9001", "LIAISON_DATABASE_URL": "sqlite+aiosqlite:///x.db"})
    assert settings.port == 9001
    assert settings.database_url == "sqlite+aiosqlite:///x.db"
    assert Settings.from_env({}).database_url == "sqlite+aiosqlite:///var/liaison.db"


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="LIAISON_PROT"):
        Settings.from_env({"LIAISON_PROT": "1"})


def test_nothing_reads_the_environment_at_import() -> None:
    # A bad setting in the environment must not break importing the app.
    code = "import services.cli, services.content.http.app, services.content.asgi"
    env = {"LIAISON_PROT": "oops", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


async def test_openapi_documents_every_operation(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 18
    for path, method, op in operations:
        assert op.get("description") or op.get("summary"), (method, path)
        ok = [status for status in op["responses"] if status.startswith("2")]
        assert ok, (method, path)
        if method in {"post", "put"} and "publish" not in path and "unpublish" not in path:
            assert "requestBody" in op, (method, path)
        if method != "delete":
            assert "content" in op["responses"][ok[0]], (method, path)
    components = schema["components"]["schemas"]
    for name in ("RevisionCreate", "RevisionOut", "FactCreate", "Problem", "RevisionDiff", "SiteCreate"):
        assert any(key.endswith(name) for key in components), name
    assert "bearer" in schema["components"]["securitySchemes"]
