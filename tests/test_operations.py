"""Health checks, Prometheus metrics, request ids, the access log, and logs that never carry a token."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import time
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.usecases.tokens import create_token
from services.logging_setup import ACCESS_LOGGER, AccessLog, ConsoleFormatter, JsonFormatter, configure_logging
from tests.sync_support import Process, free_port, sync_env, test_redis_url, wait_http, wait_until

Client = AsyncTestClient[Litestar]
PAGE = "/v1/sites/in-new-delhi/pages/internal-security-section"


async def test_live_and_ready(client: Client, seeded: Database) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["database"] == "ok"
    assert body["migrations"] == "ok"
    assert "redis" in body


async def test_ready_is_503_when_migrations_are_behind(client: Client, db: Database, seeded: Database) -> None:
    async with db.transaction() as repo:
        await repo.conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["migrations"].startswith("at 0001")


async def test_metrics_count_requests_by_route_and_status_and_show_the_outbox(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    await client.get(PAGE, params={"locale": "fr"})
    await client.get("/v1/sites/nowhere/pages/x")
    await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 79}, "base_version": 1},
        headers=admin,
    )
    text = (await client.get("/metrics")).text
    route = 'route="/v1/sites/{site}/pages/{slug}"'
    assert f'liaison_http_requests_total{{method="GET",{route},status="200"}}' in text
    assert f'{route},status="404"' in text
    assert "liaison_http_request_duration_seconds_bucket" in text
    async with seeded.reading() as repo:
        backlog, _ = await OutboxQueries.of(repo).backlog()
    assert backlog >= 4  # the fact fans out to 2 sites x 2 locales, and no relay runs here
    assert f"liaison_outbox_backlog {float(backlog)}" in text
    assert "liaison_outbox_oldest_age_seconds" in text
    assert 'liaison_site_sequence{site="in-new-delhi",state="sequenced"}' in text


def _sample(metrics: str, name: str) -> float:
    """The value of one sample line of the Prometheus text (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_requests_no_route_matches_are_counted_and_carry_a_request_id(client: Client, seeded: Database) -> None:
    not_found = 'liaison_http_requests_total{method="GET",route="unmatched",status="404"}'
    not_allowed = 'liaison_http_requests_total{method="DELETE",route="unmatched",status="405"}'
    before = (await client.get("/metrics")).text  # the registry is the process's: other tests count too
    missing = await client.get("/nowhere", headers={"X-Request-ID": "probe-1"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "probe-1"
    wrong_method = await client.delete("/v1/sites")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["x-request-id"]
    after = (await client.get("/metrics")).text
    assert _sample(after, not_found) == _sample(before, not_found) + 1
    assert _sample(after, not_allowed) == _sample(before, not_allowed) + 1


async def test_request_id_is_carried_or_made(client: Client, seeded: Database) -> None:
    carried = await client.get("/v1/sites", headers={"X-Request-ID": "abc-123"})
    assert carried.headers["x-request-id"] == "abc-123"
    made = await client.get("/v1/sites", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_no_log_line_carries_a_token_or_its_hash(database_url: str, seeded: Database, tmp_path: Path) -> None:
    """A real server process, JSON logs, requests with good, bad and revoked tokens: none is logged."""

    secret = _issue_sync(database_url)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    port = free_port()
    env = {**sync_env(database_url, test_redis_url(), port), "LIAISON_LOG_FORMAT": "json"}
    server = Process(["serve", "--port", str(port)], env, tmp_path / "server.log")
    try:
        api = f"http://127.0.0.1:{port}"
        wait_http(api + "/health/live")
        for path in ("/v1/documents/1", "/v1/documents/999999", "/v1/nope", "/v1/documents/1/variants/de/revisions"):
            httpx.get(api + path, headers={"Authorization": f"Bearer {secret}"})
        httpx.get(api + "/v1/documents/1", headers={"Authorization": "Bearer lsn_wrong"})
        httpx.post(api + "/v1/sites", content=b"{", headers={"Authorization": f"Bearer {secret}"})
    finally:
        server.close()
    output = (tmp_path / "server.log").read_text()
    lines = [line for line in output.splitlines() if line.strip()]
    assert any("/v1/documents/1" in line for line in lines), "the requests were logged"
    for line in lines:
        json.loads(line)  # every line is one JSON object
    assert secret not in output
    assert digest not in output
    assert "lsn_wrong" not in output


def _issue_sync(database_url: str) -> str:
    async def issue() -> str:
        db = Database.from_url(database_url, pooled=False)
        try:
            return (await create_token(db, "leaky", "editor", None, None)).secret
        finally:
            await db.close()

    return asyncio.run(issue())


def test_json_logs_are_one_object_per_line_with_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("liaison.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("relay: Redis unreachable")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["level"] == "warning"
    assert line["message"] == "relay: Redis unreachable"
    assert line["logger"] == "liaison.test-json"
    assert "request_id" in line


def test_configure_logging_installs_one_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _access_lines(log: Path) -> list[dict[str, str]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "liaison.access"]


async def test_a_served_request_is_logged_with_its_request_id_and_counted(
    database_url: str, seeded: Database, tmp_path: Path
) -> None:
    """`liaison serve` as deployed (granian, JSON logs): each request gets an access line, written by the
    access log's thread while the server runs and flushed at SIGTERM, with the id its response carried."""
    port = free_port()
    env = {**sync_env(database_url, test_redis_url(), port), "LIAISON_LOG_FORMAT": "json"}
    log = tmp_path / "server.log"
    server = Process(["serve", "--port", str(port)], env, log)
    try:
        api = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_http, api + "/health/live")
        async with httpx.AsyncClient(base_url=api) as client:
            carried = await client.get(PAGE, params={"locale": "en"}, headers={"X-Request-ID": "probe-7"})
            assert carried.headers["x-request-id"] == "probe-7"
            assert carried.headers["x-content-type-options"] == "nosniff"
            etag = carried.headers["etag"]
            made = await client.get(PAGE, params={"locale": "en"}, headers={"If-None-Match": etag})
            assert made.status_code == 304
            made_id = made.headers["x-request-id"]
            assert len(made_id) == 32
            metrics = (await client.get("/metrics")).text
            page_200 = 'liaison_http_requests_total{method="GET",route="/v1/sites/{site}/pages/{slug}",status="200"}'
            page_304 = page_200.replace('status="200"', 'status="304"')
            assert _sample(metrics, page_200) == 1
            assert _sample(metrics, page_304) == 1

        # Written while the server runs, not only when it stops.
        await wait_until(lambda: any(line["request_id"] == made_id for line in _access_lines(log)), within=20)
        assert server.terminate() == 0
    finally:
        server.close()
    by_id = {line["request_id"]: line for line in _access_lines(log)}
    assert by_id["probe-7"]["message"].startswith("127.0.0.1:")
    assert f'"GET {PAGE}?locale=en HTTP/1.1" 200 ' in by_id["probe-7"]["message"]
    assert f'"GET {PAGE}?locale=en HTTP/1.1" 304 ' in by_id[made_id]["message"]
    assert by_id[made_id]["level"] == "info"
    # The /metrics request was in flight or queued at SIGTERM: it is written all the same.
    assert any('"GET /metrics HTTP/1.1" 200' in line["message"] for line in by_id.values())
    assert "application shutdown complete" in log.read_text()


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()], ids=["json", "console"])
def test_an_access_line_is_the_line_its_log_record_would_give(formatter: logging.Formatter) -> None:
    """The access log's writer formats without making records: what it writes is what the handler would."""
    created = time.time()
    message = '127.0.0.1:5000 - "GET /v1/sites?x=\u00e9 HTTP/1.1" 200 1.2ms'
    record = logging.LogRecord(ACCESS_LOGGER.name, logging.INFO, __file__, 0, message, (), None)
    record.created = created
    record.request_id = "rid-1"
    assert formatter.access_line(created, message, "rid-1") == formatter.format(record)  # type: ignore[attr-defined]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_access_log_writes_through_the_handler_it_finds_or_through_the_logger() -> None:
    """With the handler configure_logging installs, lines are written in batches; with any other set-up
    (here a handler of the test's own), each entry becomes an ordinary record."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    entry = (time.time(), ("10.0.0.1", 4242), "GET", "/v1/sites", b"", "1.1", 200, 0.0012, "rid-2")
    try:
        configure_logging("json")
        stream = io.StringIO()
        root.handlers[0].stream = stream  # type: ignore[attr-defined]
        access = AccessLog()
        access.record(entry)
        access.flush()
        line = json.loads(stream.getvalue())
        assert line["message"] == '10.0.0.1:4242 - "GET /v1/sites HTTP/1.1" 200 1.2ms'
        assert line["request_id"] == "rid-2"

        capture = _Capture()
        root.handlers[:] = [capture]
        access.start()
        access.record(entry)
        access.stop()
        assert [(r.name, r.getMessage(), r.request_id) for r in capture.records] == [  # type: ignore[attr-defined]
            ("liaison.access", '10.0.0.1:4242 - "GET /v1/sites HTTP/1.1" 200 1.2ms', "rid-2")
        ]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
