"""The document list: filters, text search, cursor pages, per-locale states, and what each token sees."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import TokenFactory
from tests.helpers import fragment_id, page_id, paragraph, revision, text

Client = AsyncTestClient[Litestar]
DELHI = "in-new-delhi"
KATHMANDU = "np-kathmandu"
PROBLEM = "application/problem+json"


async def listed(client: Client, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/documents", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ids(client: Client, headers: dict[str, str], **params: Any) -> list[int]:
    """Every id the list gives for ``params``, following the cursor."""
    found: list[int] = []
    cursor = None
    while True:
        page = await listed(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        found += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def new_page(client: Client, headers: dict[str, str], slug: str, site: str = DELHI) -> int:
    response = await client.post(
        "/v1/documents", json={"kind": "page", "site": site, "slug": slug, "source_locale": "fr"}, headers=headers
    )
    assert response.status_code == 201, response.text
    document_id: int = response.json()["id"]
    return document_id


async def write(client: Client, headers: dict[str, str], doc: int, locale: str, body: dict[str, Any]) -> int:
    response = await client.post(f"/v1/documents/{doc}/variants/{locale}/revisions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    number: int = response.json()["number"]
    return number


async def head(client: Client, headers: dict[str, str], doc: int, locale: str) -> int:
    response = await client.get(f"/v1/documents/{doc}", headers=headers)
    number: int = next(v["head_revision"] for v in response.json()["variants"] if v["locale"] == locale)
    return number


def by_locale(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["locale"]: entry for entry in item["locales"]}


async def test_the_seed_is_listed_with_each_locales_state(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    page = await listed(client, admin)
    kinds = {(item["kind"], item["site"], item["slug"], item["key"]) for item in page["items"]}
    assert ("fragment", None, None, "dci-internal-security") in kinds
    assert ("page", DELHI, "internal-security-section", None) in kinds
    assert page["next_cursor"] is None
    delhi = next(item for item in page["items"] if item["site"] == DELHI)
    states = by_locale(delhi)
    assert list(states) == ["fr", "en"]
    assert states["fr"]["publication"] == "published"
    assert states["fr"]["translation"] == "up_to_date"
    assert states["fr"]["title"] == "Service de sécurité intérieure"
    assert states["fr"]["head_revision"] == states["fr"]["published_revision"]
    assert states["en"]["translated_from"] == states["fr"]["head_revision"]
    assert [item["id"] for item in page["items"]] == sorted(item["id"] for item in page["items"])


async def test_status_filters_follow_drafts_publications_and_translation_drift(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, DELHI)
    assert doc in await ids(client, admin, status="published")
    assert doc not in await ids(client, admin, status="draft-ahead")
    assert doc not in await ids(client, admin, status="translation-outdated")

    # A new source draft: ahead of live, and the translation made from the old source is outdated.
    old = await head(client, admin, doc, "fr")
    await write(
        client, admin, doc, "fr", revision("Service de sécurité", paragraph(text("Nouveau")), base_revision=old)
    )
    assert doc in await ids(client, admin, status="draft-ahead")
    assert doc in await ids(client, admin, status="draft-ahead", locale="fr")
    assert doc not in await ids(client, admin, status="draft-ahead", locale="en")
    assert doc in await ids(client, admin, status="translation-outdated")
    assert doc in await ids(client, admin, status="translation-outdated", locale="en")
    assert doc not in await ids(client, admin, status="translation-outdated", locale="fr")
    item = next(i for i in (await listed(client, admin, site=DELHI))["items"] if i["id"] == doc)
    assert by_locale(item)["en"]["translation"] == "outdated"
    assert by_locale(item)["fr"]["publication"] == "draft-ahead"
    # The same state as the translation report says.
    report = (await client.get(f"/v1/documents/{doc}/translations", headers=admin)).json()
    assert {s["locale"]: s["status"] for s in report["locales"]} == {
        e["locale"]: e["translation"] for e in item["locales"]
    }

    # Reverting the source to the text the translation was made from: up to date again (text, not numbers).
    number = await head(client, admin, doc, "fr")
    response = await client.post(
        f"/v1/documents/{doc}/variants/fr/revert", json={"revision": old, "base_revision": number}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert doc not in await ids(client, admin, status="translation-outdated")

    # A page with only a source draft: unpublished, and its English is missing.
    fresh = await new_page(client, admin, "visas")
    await write(client, admin, fresh, "fr", revision("Visas", paragraph(text("Bientôt"))))
    assert fresh in await ids(client, admin, status="unpublished")
    assert fresh not in await ids(client, admin, status="published")
    assert fresh in await ids(client, admin, status="translation-missing")
    assert fresh in await ids(client, admin, status="translation-missing", locale="en")
    assert fresh not in await ids(client, admin, status="translation-missing", locale="fr")
    assert doc not in await ids(client, admin, status="translation-missing")
    item = next(i for i in (await listed(client, admin, q="visas"))["items"] if i["id"] == fresh)
    assert by_locale(item)["en"] == {
        "locale": "en",
        "publication": "missing",
        "translation": "missing",
        "head_revision": None,
        "published_revision": None,
        "published_at": None,
        "title": None,
        "translated_from": None,
    }
    assert by_locale(item)["fr"]["publication"] == "unpublished"


async def test_site_kind_locale_and_text_filters(client: Client, admin: dict[str, str], seeded: Database) -> None:
    delhi = await page_id(seeded, DELHI)
    kathmandu = await page_id(seeded, KATHMANDU)
    fragment = await fragment_id(seeded)
    assert set(await ids(client, admin)) >= {delhi, kathmandu, fragment}
    assert await ids(client, admin, site=DELHI) == [delhi]
    assert await ids(client, admin, kind="fragment") == [fragment]
    assert fragment not in await ids(client, admin, kind="page")
    assert await ids(client, admin, site=KATHMANDU, kind="page") == [kathmandu]
    # Case-insensitive, accents included, in titles of any locale, slugs and keys.
    assert set(await ids(client, admin, q="SÉCURITÉ INTÉRIEURE")) >= {delhi, kathmandu}
    assert await ids(client, admin, q="DCI-INTERNAL") == [fragment]
    assert await ids(client, admin, q="internal-security-section", site=DELHI) == [delhi]
    assert await ids(client, admin, q="no such words anywhere") == []
    # A locale no site offers keeps only fragments, which show it missing.
    only = await listed(client, admin, locale="de")
    assert [item["id"] for item in only["items"]] == [fragment]
    assert by_locale(only["items"][0])["de"]["translation"] == "missing"


async def test_cursor_pages_are_stable_by_id(client: Client, admin: dict[str, str], seeded: Database) -> None:
    made = [await new_page(client, admin, f"page-{index}") for index in range(7)]
    for doc in made:
        await write(client, admin, doc, "fr", revision(f"Page {doc}", paragraph(text("x"))))
    everything = await ids(client, admin, limit=200)
    assert await ids(client, admin, limit=3) == everything == sorted(everything)
    assert await ids(client, admin, limit=2, q="page ") == made
    first = await listed(client, admin, limit=3)
    assert len(first["items"]) == 3
    assert first["next_cursor"] == first["items"][-1]["id"]


async def test_bad_filters_are_400_problems(client: Client, admin: dict[str, str], seeded: Database) -> None:
    for params in (
        {"status": "drafty"},
        {"kind": "post"},
        {"limit": "0"},
        {"limit": "201"},
        {"cursor": "0"},
        {"cursor": "x"},
        {"locale": "not a locale"},
        {"q": ""},
    ):
        response = await client.get("/v1/documents", params=params, headers=admin)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"] == PROBLEM
    response = await client.get("/v1/documents", params={"site": "nowhere"}, headers=admin)
    assert response.status_code == 404


async def test_each_token_sees_only_what_it_may_read(
    client: Client, admin: dict[str, str], make_token: TokenFactory, seeded: Database
) -> None:
    delhi = await page_id(seeded, DELHI)
    kathmandu = await page_id(seeded, KATHMANDU)
    fragment = await fragment_id(seeded)
    reader = await make_token("reader", sites=[DELHI], name="delhi reader")
    assert await ids(client, reader) == [delhi]
    assert await ids(client, reader, kind="fragment") == []
    response = await client.get("/v1/documents", params={"site": KATHMANDU}, headers=reader)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    everywhere = await make_token("reader", name="global reader")
    assert set(await ids(client, everywhere)) >= {delhi, kathmandu, fragment}
    assert (await client.get("/v1/documents")).status_code == 401
