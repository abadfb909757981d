"""Usage: where a fact or fragment is used, by site, and the renders a change re-renders (its outbox rows)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from services.content.storage.tables import outbox
from tests.conftest import TokenFactory
from tests.helpers import fragment_id, page_id, paragraph, revision, text

Client = AsyncTestClient[Litestar]
DELHI = "in-new-delhi"
KATHMANDU = "np-kathmandu"
SLUG = "internal-security-section"
FRAGMENT = "dci-internal-security"


async def usage(client: Client, headers: dict[str, str], path: str) -> dict[str, Any]:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pages(body: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, list[str]]]:
    return {
        (site["site"], page["slug"]): (page["direct"], page["locales"])
        for site in body["sites"]
        for page in site["pages"]
    }


async def outbox_count(db: Database) -> int:
    async with db.reading() as repo:
        return int((await repo.conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one())


async def publish_new(
    client: Client, admin: dict[str, str], create: dict[str, Any], locale: str, body: dict[str, Any]
) -> int:
    response = await client.post("/v1/documents", json=create, headers=admin)
    assert response.status_code == 201, response.text
    doc: int = response.json()["id"]
    response = await client.post(f"/v1/documents/{doc}/variants/{locale}/revisions", json=body, headers=admin)
    assert response.status_code == 201, response.text
    response = await client.post(f"/v1/documents/{doc}/variants/{locale}/publish", json={"revision": 1}, headers=admin)
    assert response.status_code == 200, response.text
    return doc


async def test_a_fact_used_directly_and_through_the_fragment(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    body = await usage(client, admin, "/v1/facts/global/network.embassy_count/usage")
    assert body["fragments"] == [FRAGMENT]
    assert pages(body) == {(DELHI, SLUG): (True, ["en", "fr"]), (KATHMANDU, SLUG): (False, ["en", "fr"])}
    assert [(site["site"], site["renders"]) for site in body["sites"]] == [(DELHI, 2), (KATHMANDU, 2)]
    assert (body["pages"], body["renders"]) == (2, 4)

    # The count is what the change does: one outbox row per render.
    before = await outbox_count(seeded)
    response = await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 79}},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert response.status_code == 200, response.text
    assert await outbox_count(seeded) - before == body["renders"]


async def test_a_site_fact_counts_its_sites_pages_only(client: Client, admin: dict[str, str], seeded: Database) -> None:
    delhi = await usage(client, admin, f"/v1/facts/{DELHI}/post.in_country/usage")
    assert pages(delhi) == {(DELHI, SLUG): (False, ["en", "fr"])}
    kathmandu = await usage(client, admin, f"/v1/facts/{KATHMANDU}/post.in_country/usage")
    assert pages(kathmandu) == {(KATHMANDU, SLUG): (True, ["en", "fr"])}
    direct_only = await usage(client, admin, f"/v1/facts/{DELHI}/iss.jurisdiction/usage")
    assert direct_only["fragments"] == []
    assert (direct_only["pages"], direct_only["renders"]) == (1, 2)


async def test_fragments_at_any_depth_are_followed(client: Client, admin: dict[str, str], seeded: Database) -> None:
    include = {"type": "fragment", "id": "inner", "fragment": FRAGMENT}
    await publish_new(
        client, admin, {"kind": "fragment", "key": "outer", "source_locale": "fr"}, "fr", revision("Outer", include)
    )
    deep = await publish_new(
        client,
        admin,
        {"kind": "page", "site": KATHMANDU, "slug": "deep", "source_locale": "fr"},
        "fr",
        revision("Deep", paragraph(text("x")), {"type": "fragment", "id": "o", "fragment": "outer"}),
    )
    fragment = await fragment_id(seeded)
    body = await usage(client, admin, f"/v1/documents/{fragment}/usage")
    assert body["fragments"] == ["outer"]
    assert pages(body) == {
        (DELHI, SLUG): (True, ["en", "fr"]),
        (KATHMANDU, "deep"): (False, ["fr"]),
        (KATHMANDU, SLUG): (True, ["en", "fr"]),
    }
    assert [page["document_id"] for page in body["sites"][1]["pages"]] == sorted(
        [deep, await page_id(seeded, KATHMANDU)]
    )
    assert (body["pages"], body["renders"]) == (3, 5)
    fact = await usage(client, admin, "/v1/facts/global/dci.established_on/usage")
    assert fact["fragments"] == [FRAGMENT, "outer"]
    assert fact["renders"] == 5

    before = await outbox_count(seeded)
    response = await client.post(f"/v1/documents/{fragment}/variants/fr/publish", json={"revision": 1}, headers=admin)
    assert response.status_code == 200, response.text
    assert await outbox_count(seeded) - before == body["renders"]

    page = await usage(client, admin, f"/v1/documents/{deep}/usage")
    assert pages(page) == {(KATHMANDU, "deep"): (True, ["fr"])}
    assert page["renders"] == 1


async def test_who_may_ask(client: Client, admin: dict[str, str], make_token: TokenFactory, seeded: Database) -> None:
    fragment = await fragment_id(seeded)
    delhi_reader = await make_token("reader", sites=[DELHI], name="delhi reader")
    assert (await client.get("/v1/facts/global/network.embassy_count/usage")).status_code == 401
    assert (await client.get(f"/v1/documents/{fragment}/usage")).status_code == 401
    response = await client.get("/v1/facts/global/network.embassy_count/usage", headers=delhi_reader)
    assert response.status_code == 403
    assert (await usage(client, delhi_reader, f"/v1/facts/{DELHI}/post.in_country/usage"))["renders"] == 2
    assert (await client.get(f"/v1/facts/{KATHMANDU}/post.in_country/usage", headers=delhi_reader)).status_code == 403
    hidden = await client.get(f"/v1/documents/{fragment}/usage", headers=delhi_reader)
    assert hidden.status_code == 404
    assert (await client.get("/v1/facts/global/no.such.fact/usage", headers=admin)).status_code == 404
    own = await page_id(seeded, DELHI)
    assert (await usage(client, delhi_reader, f"/v1/documents/{own}/usage"))["renders"] == 2
