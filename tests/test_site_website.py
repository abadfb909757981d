"""A site's website: its address and page URL pattern, checked, stored, and used by every render's links."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from tests.conftest import TokenFactory, dump

Client = AsyncTestClient[Litestar]
SLUG = "internal-security-section"
PAGE = f"/v1/sites/in-new-delhi/pages/{SLUG}"
WEBSITE = "/v1/sites/in-new-delhi/website"


def new_site(**website: Any) -> dict[str, Any]:
    """A site body with the given website fields."""
    return {"key": "lk-colombo", "name": "Colombo", "locales": ["fr", "en"], "default_locale": "fr", **website}


async def test_a_site_is_created_with_its_website(client: Client, db: Database, admin: dict[str, str]) -> None:
    body = new_site(website_url="https://lk.example.org/fr-site/", page_url_pattern="{locale}/{slug}/")
    created = await client.post("/v1/sites", json=body, headers=admin)
    assert created.status_code == 201, created.text
    shown = (await client.get("/v1/sites/lk-colombo")).json()
    assert (shown["website_url"], shown["page_url_pattern"]) == ("https://lk.example.org/fr-site/", "{locale}/{slug}/")
    plain = await client.post("/v1/sites", json={**new_site(), "key": "lk-kandy"}, headers=admin)
    assert (plain.json()["website_url"], plain.json()["page_url_pattern"]) == (None, None)


REFUSED = [
    ({"page_url_pattern": "https://x.example/{locale}/page.html"}, 422, "invalid-website", "{slug}"),
    ({"page_url_pattern": "https://x.example/{slug}.html"}, 422, "invalid-website", "{locale}"),
    ({"page_url_pattern": "https://x.example/{lang}/{locale}/{slug}"}, 422, "invalid-website", "placeholders"),
    ({"page_url_pattern": "https://x.example/{locale}/{slug}}"}, 422, "invalid-website", "placeholders"),
    ({"page_url_pattern": "ftp://x.example/{locale}/{slug}"}, 422, "invalid-website", "http"),
    ({"page_url_pattern": "javascript:{locale}{slug}"}, 422, "invalid-website", "http"),
    ({"page_url_pattern": "/{locale}/{slug}.html"}, 422, "invalid-website", "website_url"),
    ({"page_url_pattern": "https://x.example/{locale}/{slug}#top"}, 422, "invalid-website", "fragment"),
    ({"page_url_pattern": "/{locale}/ {slug}.html", "website_url": "https://x.example/"}, 400, "invalid-body", ""),
    ({"page_url_pattern": "/{locale}/\u202e{slug}", "website_url": "https://x.example/"}, 400, "invalid-body", ""),
    ({"website_url": "ftp://x.example/"}, 400, "invalid-body", "website_url"),
    ({"website_url": "https://x.example/?lang=fr"}, 422, "invalid-website", "query"),
    ({"website_url": "http://[::1/"}, 422, "invalid-website", "http"),
    ({"page_url_pattern": "http://a]b/{locale}/{slug}"}, 422, "invalid-website", "http"),
    ({"website_url": "https://x.example/", "page_url_pattern": "//[/{locale}/{slug}"}, 422, "invalid-website", "http"),
]


@pytest.mark.parametrize(("website", "status", "problem", "named"), REFUSED)
async def test_a_bad_website_is_refused_and_changes_nothing(
    client: Client,
    seeded: Database,
    admin: dict[str, str],
    website: dict[str, str],
    status: int,
    problem: str,
    named: str,
) -> None:
    before = await dump(seeded)
    for method, url, body in (("POST", "/v1/sites", new_site(**website)), ("PUT", WEBSITE, website)):
        answer = await client.request(method, url, json=body, headers=admin)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == f"urn:liaison:problem:{problem}"
        assert named in answer.json()["detail"]
    assert await dump(seeded) == before


async def test_only_an_admin_sets_a_website(client: Client, seeded: Database, make_token: TokenFactory) -> None:
    body = {"website_url": "https://in.example.org/", "page_url_pattern": "/{slug}.{locale}.html"}
    assert (await client.put(WEBSITE, json=body)).status_code == 401
    editor = await make_token("editor", sites=["in-new-delhi"])
    assert (await client.put(WEBSITE, json=body, headers=editor)).status_code == 403
    admin = await make_token("admin")
    assert (await client.put("/v1/sites/nowhere/website", json=body, headers=admin)).status_code == 404


async def test_renders_link_to_the_website_and_follow_its_change(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    fr = (await client.get(PAGE, params={"locale": "fr"})).json()
    assert {a["locale"]: a["url"] for a in fr["alternates"]} == {
        "fr": f"http://127.0.0.1:8080/fr/{SLUG}.html",
        "en": f"http://127.0.0.1:8080/en/{SLUG}.html",
    }
    assert fr["x_default"] == f"http://127.0.0.1:8080/fr/{SLUG}.html"
    async with seeded.reading() as repo:
        heads_before = await OutboxQueries.of(repo).site_heads()

    body = {"website_url": "https://in.example.org/site/", "page_url_pattern": "{locale}/{slug}/"}
    answer = await client.put(WEBSITE, json=body, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["page_url_pattern"] == "{locale}/{slug}/"
    en = (await client.get(PAGE, params={"locale": "en"})).json()
    assert {a["locale"]: a["url"] for a in en["alternates"]} == {
        "fr": f"https://in.example.org/site/fr/{SLUG}/",
        "en": f"https://in.example.org/site/en/{SLUG}/",
    }
    assert {a["locale"]: a["api_url"] for a in en["alternates"]} == {
        locale: f"http://127.0.0.1:8000{PAGE}?locale={locale}" for locale in ("fr", "en")
    }
    assert f'href="https://in.example.org/site/fr/{SLUG}/" hreflang="fr"' in en["html"]
    assert en["x_default"] == f"https://in.example.org/site/fr/{SLUG}/"
    # Every published render of the site changed: one event each, so agents rewrite them.
    async with seeded.reading() as repo:
        heads_after = await OutboxQueries.of(repo).site_heads()
        pages = await repo.published_locales_of(
            [document.id for document in await repo.published_pages((await repo.site("in-new-delhi")).id, None, 1000)]  # type: ignore[union-attr]
        )
    renders = sum(len(locales) for locales in pages.values())
    assert heads_after["in-new-delhi"] - heads_before["in-new-delhi"] == renders
    # The same website again changes nothing and sends nothing.
    assert (await client.put(WEBSITE, json=body, headers=admin)).status_code == 200
    async with seeded.reading() as repo:
        assert (await OutboxQueries.of(repo).site_heads())["in-new-delhi"] == heads_after["in-new-delhi"]

    cleared = await client.put(WEBSITE, json={}, headers=admin)
    assert cleared.json()["website_url"] is None
    fr = (await client.get(PAGE, params={"locale": "fr"})).json()
    assert {a["url"] for a in fr["alternates"]} == {a["api_url"] for a in fr["alternates"]}
    assert f'href="http://127.0.0.1:8000{PAGE}.html?locale=en"' in fr["html"]
