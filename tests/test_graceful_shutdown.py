"""SIGTERM mid-burst: the content service finishes in-flight requests, the relay its round, the agent its batch.

Nothing acknowledged to a client is lost, nothing is duplicated in a stream, and
the site agent's files converge without ever going back to an older revision.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from services.content.storage.database import Database
from tests.sync_support import (
    Process,
    assert_each_event_once,
    assert_files_match_api,
    assert_journal_monotonic,
    free_port,
    sync_env,
    test_redis_url,
    wait_http,
    wait_until,
)

SITES = ("in-new-delhi", "np-kathmandu")


async def _variants(client: httpx.AsyncClient, admin: dict[str, str]) -> list[tuple[int, str]]:
    """Each (document, locale) of the demo pages, given a second revision to alternate with."""
    found: list[tuple[int, str]] = []
    for site in SITES:
        document = (await client.get(f"/v1/sites/{site}/pages")).json()["items"][0]["document_id"]
        for locale in ("fr", "en"):
            first = (await client.get(f"/v1/documents/{document}/variants/{locale}/revisions/1", headers=admin)).json()
            body = {"title": first["title"] + " (2)", "blocks": first["blocks"], "base_revision": 1}
            if locale == "en":
                body["source_revision"] = 1
            response = await client.post(
                f"/v1/documents/{document}/variants/{locale}/revisions", json=body, headers=admin
            )
            assert response.status_code == 201, response.text
            found.append((document, locale))
    return found


@pytest.mark.slow
async def test_sigterm_mid_burst_loses_and_duplicates_nothing(
    database_url: str, seeded: Database, admin: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = sync_env(database_url, test_redis_url(), port)
    prefix = env["LIAISON_STREAM_PREFIX"]
    api = f"http://127.0.0.1:{port}"
    out = tmp_path / "site"
    journal = tmp_path / "journal.log"
    agent_args = ["agent", "--site", SITES[0], "--out", str(out), "--journal", str(journal)]
    server = Process(["serve", "--port", str(port)], env, tmp_path / "server.log")
    relay = Process(["sync", "run"], env, tmp_path / "relay.log")
    agent = Process(agent_args, env, tmp_path / "agent.log")
    redis = Redis.from_url(env["LIAISON_REDIS_URL"])
    try:
        await asyncio.to_thread(wait_http, api + "/health/live")
        # All three are up before the burst: a SIGTERM that comes while a process is still starting tests nothing.
        await wait_until(lambda: "holding the lease, relaying" in relay.output())
        await wait_until(lambda: (out / ".liaison-agent.json").exists())
        async with httpx.AsyncClient(base_url=api, timeout=30) as client:
            variants = await _variants(client, admin)
            acknowledged: dict[tuple[int, str], int] = {}
            publishes = 0
            failures: list[str] = []

            async def publisher(document: int, locale: str) -> None:
                nonlocal publishes
                for i in range(40):
                    revision = 1 + i % 2
                    try:
                        response = await client.post(
                            f"/v1/documents/{document}/variants/{locale}/publish",
                            json={"revision": revision},
                            headers=admin,
                        )
                    except httpx.TransportError:
                        return  # the server stopped accepting: this publish never happened
                    if response.status_code >= 500:
                        failures.append(f"{response.status_code} {response.text}")
                    if response.status_code == 200:
                        publishes += 1
                        acknowledged[(document, locale)] = revision
                    await asyncio.sleep(0.01)

            burst = asyncio.gather(*(publisher(document, locale) for document, locale in variants))
            await wait_until(lambda: publishes >= 8)  # the burst is under way
            assert not burst.done(), "the burst ended before the SIGTERM"
            relay_code = await asyncio.to_thread(relay.terminate)
            agent_code = await asyncio.to_thread(agent.terminate)
            server_code = await asyncio.to_thread(server.terminate)
            await burst

            assert (relay_code, agent_code) == (0, 0), "a worker did not stop cleanly on SIGTERM"
            assert server_code == 0
            assert "application shutdown complete" in server.output()
            assert not failures, failures
            assert "released" in relay.output() or "stopped" in relay.output()

        # Every publish a client saw succeed is what the database holds.
        async with seeded.reading() as repo:
            for (document, locale), revision in acknowledged.items():
                variant = await repo.variant(document, locale)
                assert variant is not None
                assert variant.published_revision == revision, (document, locale)

        for stopped in (server, relay, agent):
            stopped.close()
        server = Process(["serve", "--port", str(port)], env, tmp_path / "server2.log")
        relay = Process(["sync", "run"], env, tmp_path / "relay2.log")
        agent = Process(agent_args, env, tmp_path / "agent2.log")
        await asyncio.to_thread(wait_http, api + "/health/live")

        async def settled() -> bool:
            async with seeded.reading() as repo:
                from services.content.storage.outbox import OutboxQueries

                backlog, _ = await OutboxQueries.of(repo).backlog()
            if backlog:
                return False
            try:
                await asyncio.to_thread(assert_files_match_api, out, api, SITES[0])
            except AssertionError:
                return False
            return True

        await wait_until(settled, interval=0.25)
        await assert_each_event_once(seeded, redis, prefix)
        assert_journal_monotonic(journal)
    finally:
        for process in (server, relay, agent):
            process.close()
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_dev_starts_the_agent_once_the_api_answers_and_stops_all_three_on_sigterm(
    database_url: str, seeded: Database, tmp_path: Path
) -> None:
    """`liaison dev` (what `make run` starts): the demo agent writes the site's files without a failed first fetch,
    and SIGTERM stops the content service, the relay and the agent cleanly."""
    port = free_port()
    env = sync_env(database_url, test_redis_url(), port)
    out = tmp_path / "sites"
    dev = Process(["dev", "--out", str(out)], env, tmp_path / "dev.log")
    try:
        state = out / "in-new-delhi" / ".liaison-agent.json"
        # The agent saves its state once at start (the indexes and sitemap), before its first resync.
        await wait_until(lambda: state.exists() and len(json.loads(state.read_bytes())["pages"]) >= 2)
        assert_files_match_api(out / "in-new-delhi", f"http://127.0.0.1:{port}", "in-new-delhi")
        assert dev.terminate(timeout=30) == 0
        output = dev.output()
        assert "content API unreachable" not in output, output
        for stopped in ("application shutdown complete", "relay", "agent in-new-delhi stopped"):
            assert stopped in output, output
    finally:
        dev.close()
