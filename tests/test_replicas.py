"""Two content service processes on one database: a publish through one is served by the other."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from services.content.storage.database import Database
from tests.sync_support import PATIENCE, Process, free_port, sync_env, test_redis_url, wait_http

PAGE = "/v1/sites/in-new-delhi/pages/internal-security-section"


def _start(database_url: str, tmp_path: Path, name: str) -> tuple[Process, str]:
    port = free_port()
    env = sync_env(database_url, test_redis_url(), port)
    process = Process(["serve", "--port", str(port)], env, tmp_path / f"{name}.log")
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health/live")
    return process, base


def test_a_change_through_one_replica_is_served_by_the_other(
    database_url: str, seeded: Database, admin: dict[str, str], tmp_path: Path
) -> None:
    first, a = _start(database_url, tmp_path, "a")
    second, b = _start(database_url, tmp_path, "b")
    try:
        before = httpx.get(b + PAGE, params={"locale": "en"})  # warms replica B's cache
        assert before.status_code == 200
        assert "79</data>" not in before.json()["html"]

        updated = httpx.put(
            a + "/v1/facts/global/network.embassy_count",
            json={"value": {"type": "integer", "value": 79}, "base_version": 1},
            headers=admin,
        )
        assert updated.status_code == 200, updated.text

        # Replica B learns of the change from the outbox (NOTIFY on PostgreSQL, a short poll on SQLite).
        deadline = time.monotonic() + PATIENCE
        while True:
            after = httpx.get(b + PAGE, params={"locale": "en"})
            if after.headers["etag"] != before.headers["etag"] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert after.headers["etag"] != before.headers["etag"], "replica B kept serving the old render"
        assert "79</data>" in after.json()["html"]
        revalidated = httpx.get(b + PAGE, params={"locale": "en"}, headers={"If-None-Match": before.headers["etag"]})
        assert revalidated.status_code == 200

        # A consumer that names the revision it was told about never reads an older one.
        published = httpx.post(a + "/v1/documents/2/variants/en/publish", json={"revision": 1}, headers=admin)
        assert published.status_code == 200, published.text
        fresh = httpx.get(b + PAGE, params={"locale": "en", "min_revision": 1})
        assert fresh.status_code == 200
        # uvicorn's own Date (a copy updated once a second) is off: one Date, never before Last-Modified.
        assert len(fresh.headers.get_list("date")) == 1, fresh.headers
        modified = parsedate_to_datetime(fresh.headers["last-modified"])
        assert modified <= parsedate_to_datetime(fresh.headers["date"])
    finally:
        first.close()
        second.close()
