"""Request ids, Prometheus metrics and health checks of the content service."""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import time
from email.utils import formatdate
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.openapi import ResponseSpec
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.types import Message as ASGIMessage
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from services.content.domain.errors import Unauthenticated
from services.content.domain.messages import N_, Message
from services.content.http.openapi import problems
from services.content.storage.database import Database
from services.content.storage.migrate import current_revision_of, head_revision
from services.content.storage.outbox import OutboxQueries
from services.logging_setup import REQUEST_ID, AccessLog

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@lru_cache(maxsize=4)
def http_date(second: int) -> bytes:
    """An HTTP date (RFC 9110, 5.6.7) for a Unix time in whole seconds."""
    return formatdate(second, usegmt=True).encode()


REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "liaison_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "liaison_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
BACKLOG = Gauge("liaison_outbox_backlog", "Outbox rows not yet in their stream", registry=REGISTRY)
BACKLOG_AGE = Gauge("liaison_outbox_oldest_age_seconds", "Age of the oldest unrelayed outbox row", registry=REGISTRY)
SEQUENCE = Gauge("liaison_site_sequence", "Last sequence per site", ["site", "state"], registry=REGISTRY)
STREAM_LENGTH = Gauge("liaison_stream_length", "Entries in a site's stream", ["site"], registry=REGISTRY)
GROUP_PENDING = Gauge(
    "liaison_group_pending", "Pending entries of a consumer group", ["site", "group"], registry=REGISTRY
)
GROUP_LAG = Gauge(
    "liaison_group_lag", "Entries a consumer group has not read yet", ["site", "group"], registry=REGISTRY
)
RELAY_LATENCY = Gauge(
    "liaison_relay_publish_latency_seconds",
    "Commit-to-stream latency of the newest relayed event",
    registry=REGISTRY,
)


_NOSNIFF = (b"x-content-type-options", b"nosniff")


def observability_middleware(app: ASGIApp, access_log: AccessLog | None = None) -> ASGIApp:
    """Carry or make an ``X-Request-ID``, count and time each request by route and status, and log it.

    Every response also says ``X-Content-Type-Options: nosniff``, problems and prepared page
    responses included: a browser must take a JSON or text body for what its type says, never
    sniff it into HTML. ``Date`` is the time the response starts, not a server's copy updated once a
    second: a page just published must not claim a ``Last-Modified`` later than its ``Date``.
    The access line is only queued here (:class:`AccessLog`): a thread writes it.
    """
    # The metric children of each (method, route, status), looked up once: ``labels()`` costs
    # more than the increment itself.
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
    record = access_log.record if access_log is not None else None

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        # Random, not a uuid4 object: the same 128 bits at a fifth of the cost.
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else os.urandom(16).hex()
        token = REQUEST_ID.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: ASGIMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    _NOSNIFF,
                    (b"date", http_date(int(time.time()))),
                ]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            REQUEST_ID.reset(token)
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            key = (method, route, status)
            metric = children.get(key)
            if metric is None:
                metric = children[key] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
            metric[0].inc()
            metric[1].observe(elapsed)
            if record is not None:
                record(
                    (
                        time.time(),
                        scope.get("client"),
                        method,
                        scope["path"],
                        scope["query_string"],
                        scope["http_version"],
                        status,
                        elapsed,
                        request_id,
                    )
                )

    return middleware


@get("/health/live", summary="Liveness", include_in_schema=True, tags=["operations"])
async def live() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


async def _check_redis(request: Request[Any, Any, Any]) -> str:
    redis = getattr(request.app.state, "redis", None)
    if redis is None:
        return "not configured"
    try:
        # A short, uncancelled call: the client's own socket timeout bounds it.
        await redis.ping()
    except Exception as exc:
        return f"unreachable ({exc.__class__.__name__})"
    return "ok"


@get(
    "/health/ready",
    summary="Readiness",
    tags=["operations"],
    responses={503: ResponseSpec(dict[str, str], description="Not ready: the checks say what is wrong")},
)
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Readiness: database reachable and migrated to head (503 otherwise); Redis state is reported.

    Redis does not decide readiness: the content service keeps serving and
    recording changes without it, and the relay catches up when it returns.
    """
    db: Database = request.app.state.db
    checks: dict[str, str] = {}
    try:
        async with db.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
            current = await conn.run_sync(current_revision_of)
        head = head_revision()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        checks["database"] = f"unreachable ({exc.__class__.__name__})"
    checks["redis"] = await _check_redis(request)
    healthy = checks.get("database") == "ok" and checks.get("migrations") == "ok"
    return Response({"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503)


async def _refresh_pipeline_gauges(request: Request[Any, Any, Any]) -> None:
    db: Database = request.app.state.db
    async with db.reading() as repo:
        queries = OutboxQueries.of(repo)
        backlog, oldest = await queries.backlog()
        heads = await queries.site_heads()
        relayed = await queries.relayed_heads()
        latency = await queries.last_relay_latency()
    BACKLOG.set(backlog)
    BACKLOG_AGE.set((time.time() - oldest.timestamp()) if oldest else 0)
    RELAY_LATENCY.set(latency or 0)
    for site, head in heads.items():
        SEQUENCE.labels(site, "sequenced").set(head)
        SEQUENCE.labels(site, "relayed").set(relayed.get(site, 0))
    redis = getattr(request.app.state, "redis", None)
    prefix: str = request.app.state.stream_prefix
    if redis is None:
        return
    try:
        for site in heads:
            key = prefix + site
            if not await redis.exists(key):
                continue
            STREAM_LENGTH.labels(site).set(await redis.xlen(key))
            for group in await redis.xinfo_groups(key):
                name = group["name"].decode() if isinstance(group["name"], bytes) else str(group["name"])
                GROUP_PENDING.labels(site, name).set(int(group["pending"]))
                if group.get("lag") is not None:
                    GROUP_LAG.labels(site, name).set(int(group["lag"]))
    except Exception:  # noqa: S110 - metrics must not fail because Redis is away
        pass


def _require_metrics_token(request: Request[Any, Any, Any]) -> None:
    """401 unless the request carries ``LIAISON_METRICS_TOKEN`` as its bearer token (when one is set)."""
    expected: str = request.app.state.metrics_token
    if not expected:
        return
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken must not tell how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(secret.strip().encode(), expected.encode()):
        raise Unauthenticated(Message(N_("/metrics needs 'Authorization: Bearer <LIAISON_METRICS_TOKEN>'")))


@get(
    "/metrics",
    summary="Prometheus metrics",
    media_type="text/plain",
    tags=["operations"],
    responses=problems(401),
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus metrics: requests and latency by route and status, outbox backlog, streams and groups.

    Public unless ``LIAISON_METRICS_TOKEN`` is set; then it needs that token as a bearer token.
    """
    _require_metrics_token(request)
    with contextlib.suppress(sa.exc.SQLAlchemyError, OSError):
        await _refresh_pipeline_gauges(request)
    return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
