"""Facts: typed values with their own versions, written with a base version."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database

Client = AsyncTestClient[Litestar]


async def test_fact_versions_and_history(client: Client, admin: dict[str, str], seeded: Database) -> None:
    created = await client.post(
        "/v1/facts",
        json={"key": "consulate.opened_on", "scope": "in-new-delhi", "value": {"type": "date", "value": "1950-01-26"}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"v1"'

    updated = await client.put(
        "/v1/facts/in-new-delhi/consulate.opened_on",
        json={"value": {"type": "date", "value": "1951-02-01"}, "message": "corrected"},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2

    stale = await client.put(
        "/v1/facts/in-new-delhi/consulate.opened_on",
        json={"value": {"type": "date", "value": "1999-01-01"}, "base_version": 1},
        headers=admin,
    )
    assert stale.status_code == 409
    assert stale.json()["current"]["version"] == 2

    history = (await client.get("/v1/facts/in-new-delhi/consulate.opened_on/versions", headers=admin)).json()
    assert [(v["version"], v["value"]["value"]) for v in history["versions"]] == [(2, "1951-02-01"), (1, "1950-01-26")]
    assert history["versions"][0]["message"] == "corrected"

    public = await client.get("/v1/facts/in-new-delhi/consulate.opened_on")
    assert public.json()["value"] == {"type": "date", "value": "1951-02-01"}


async def test_every_fact_type_is_accepted(client: Client, admin: dict[str, str], seeded: Database) -> None:
    values: list[dict[str, Any]] = [
        {"type": "integer", "value": 1200},
        {"type": "decimal", "value": "12.50"},
        {"type": "date", "value": "2010-09-01"},
        {"type": "year", "value": 2001},
        {"type": "territories", "value": ["IN", "NP", "LK", "MV"]},
        {"type": "text", "value": {"fr": "Bonjour", "en": "Hello"}},
        {"type": "url", "value": "https://example.org/visa"},
        {"type": "email", "value": "securite.delhi@example.org"},
    ]
    for i, value in enumerate(values):
        response = await client.post("/v1/facts", json={"key": f"t.{i}", "value": value}, headers=admin)
        assert response.status_code == 201, (value, response.text)
        assert response.json()["type"] == value["type"]
    listed = (await client.get("/v1/facts", params={"scope": "global"})).json()
    assert {f["key"] for f in listed} >= {f"t.{i}" for i in range(len(values))}


async def test_same_key_in_two_scopes(client: Client, admin: dict[str, str], seeded: Database) -> None:
    india = (await client.get("/v1/facts/in-new-delhi/post.in_country")).json()
    nepal = (await client.get("/v1/facts/np-kathmandu/post.in_country")).json()
    assert india["value"]["value"]["en"] == "in India"
    assert nepal["value"]["value"]["en"] == "in Nepal"
