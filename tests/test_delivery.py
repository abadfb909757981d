"""The read API: published pages per locale, HTTP caching, invalidation, the page list, translations."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from babel.numbers import format_decimal
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.documents import PublishRequest
from services.content.domain.access import Principal
from services.content.domain.errors import RevisionNotServed
from services.content.storage.database import Database
from services.content.storage.repository import RenderKey
from services.content.storage.tables import outbox, variants
from services.content.usecases import revisions
from services.content.usecases.delivery import Delivery
from services.content.usecases.min_revision import serve_at_least
from tests.conftest import dump
from tests.helpers import fact, fragment_id, page_id, paragraph, revision, text

Client = AsyncTestClient[Litestar]

SLUG = "internal-security-section"
DELHI = f"/v1/sites/in-new-delhi/pages/{SLUG}"
KATHMANDU = f"/v1/sites/np-kathmandu/pages/{SLUG}"
SITES = ("in-new-delhi", "np-kathmandu")
PROBLEM = "application/problem+json"


# -- helpers -------------------------------------------------------------------------


async def new_page(client: Client, admin: dict[str, str], slug: str, site: str = "in-new-delhi") -> int:
    """Create a page (no variant yet) and return its id."""
    response = await client.post(
        "/v1/documents",
        json={"kind": "page", "site": site, "slug": slug, "source_locale": "fr"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    document_id: int = response.json()["id"]
    return document_id


async def write(
    client: Client, admin: dict[str, str], doc: int, locale: str, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    """Write a revision and return it."""
    response = await client.post(f"/v1/documents/{doc}/variants/{locale}/revisions", json=body, headers=admin)
    assert response.status_code == status, response.text
    written: dict[str, Any] = response.json()
    return written


async def publish(client: Client, admin: dict[str, str], doc: int, locale: str, number: int) -> None:
    """Make ``number`` the live revision of a variant."""
    response = await client.post(
        f"/v1/documents/{doc}/variants/{locale}/publish", json={"revision": number}, headers=admin
    )
    assert response.status_code == 200, response.text


async def published_page(
    client: Client, admin: dict[str, str], slug: str, *blocks: dict[str, Any], site: str = "in-new-delhi"
) -> int:
    """A new page with a published fr variant only."""
    doc = await new_page(client, admin, slug, site)
    await write(client, admin, doc, "fr", revision(f"Page {slug}", *blocks))
    await publish(client, admin, doc, "fr", 1)
    return doc


async def source_blocks(client: Client, admin: dict[str, str], doc: int, locale: str, number: int) -> Any:
    """The blocks of one revision (drafts included)."""
    response = await client.get(f"/v1/documents/{doc}/variants/{locale}/revisions/{number}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["blocks"]


def with_text(blocks: Any, block_id: str, new_text: str) -> Any:
    """A copy of ``blocks`` where the first span of block ``block_id`` says ``new_text``."""
    changed = []
    for block in blocks:
        if block.get("id") == block_id:
            content = [dict(span) for span in block["content"]]
            content[0] = {"type": "text", "text": new_text}
            block = {**block, "content": content}
        changed.append(block)
    assert changed != blocks, f"no block {block_id}"
    return changed


async def outbox_rows(db: Database) -> list[dict[str, Any]]:
    """Every outbox row, oldest first."""
    async with db.reading() as repo:
        rows = await repo.conn.execute(sa.select(outbox).order_by(outbox.c.id))
        return [dict(row._mapping) for row in rows]


def spans_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rendered span of a JSON render, in order."""
    spans: list[dict[str, Any]] = []
    for block in body["blocks"]:
        if block["type"] == "list":
            for item in block["items"]:
                spans += item
        else:
            spans += block["content"]
    return spans


def delivery_of(client: Client) -> Delivery:
    """The app's delivery service (to simulate another replica by emptying its cache)."""
    delivery: Delivery = client.app.state.delivery
    return delivery


# -- the render ----------------------------------------------------------------------


async def test_json_render_has_every_field_and_resolved_facts(client: Client, seeded: Database) -> None:
    response = await client.get(DELHI, params={"locale": "en"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {
        "site",
        "slug",
        "locale",
        "requested_locale",
        "fallback",
        "revision",
        "published_at",
        "title",
        "blocks",
        "html",
        "facts",
        "fragments",
        "alternates",
        "x_default",
    }
    assert (body["site"], body["slug"], body["locale"]) == ("in-new-delhi", SLUG, "en")
    assert body["requested_locale"] == "en"
    assert body["fallback"] is False
    assert body["revision"] == 1
    assert dt.datetime.fromisoformat(body["published_at"]).tzinfo is not None
    assert body["title"] == "Internal Security section"
    assert body["fragments"] == {"dci-internal-security": 1}

    fact_spans = {span["fact"]: span["text"] for span in spans_of(body) if "fact" in span}
    assert fact_spans["network.embassy_count"] == "78"
    assert fact_spans["network.staff_count"] == "300"
    assert fact_spans["network.country_count"] == "153"
    assert fact_spans["dci.established_on"] == "September 1, 2010"
    assert fact_spans["iss.established_year"] == "2001"
    assert fact_spans["iss.jurisdiction"] == "India, Nepal, Sri Lanka, and Maldives"
    assert fact_spans["page.last_modified"] == "July 30, 2018"
    assert all(text for text in fact_spans.values()), "every placeholder has its final text"
    # Blocks from the fragment say where they came from.
    assert any(block.get("fragment") == "dci-internal-security" for block in body["blocks"])

    facts = {f["key"]: f for f in body["facts"]}
    assert facts["network.embassy_count"] == {
        "key": "network.embassy_count",
        "scope": "global",
        "version": 1,
        "value": {"type": "integer", "value": 78},
    }
    assert facts["iss.jurisdiction"]["scope"] == "in-new-delhi"
    assert facts["iss.jurisdiction"]["value"] == {"type": "territories", "value": ["IN", "NP", "LK", "MV"]}
    assert facts["dci.established_on"]["value"] == {"type": "date", "value": "2010-09-01"}

    alternates = {a["locale"]: a for a in body["alternates"]}
    assert set(alternates) == {"fr", "en"}
    for locale, alternate in alternates.items():
        # The demo site has a website: readers go there, the API's render stays in api_url.
        assert alternate["url"] == f"http://127.0.0.1:8080/{locale}/{SLUG}.html"
        assert alternate["api_url"].endswith(f"/v1/sites/in-new-delhi/pages/{SLUG}?locale={locale}")
        assert alternate["status"] == "up_to_date"
        assert alternate["revision"] == 1


async def test_facts_are_formatted_per_locale_and_agree_across_locales(client: Client, seeded: Database) -> None:
    en = (await client.get(DELHI, params={"locale": "en"})).json()
    fr = (await client.get(DELHI, params={"locale": "fr"})).json()
    for expected in ("September 1, 2010", "India, Nepal, Sri Lanka, and Maldives", "July 30, 2018"):
        assert expected in en["html"]
    for number in ("78", "300", "153", "2001"):
        assert f">{number}</data>" in en["html"]
        assert f">{number}</data>" in fr["html"]
    for expected in ("1er septembre 2010", "Inde, Népal, Sri Lanka et Maldives", "30 juillet 2018"):
        assert expected in fr["html"]
    assert fr["title"] == "Service de sécurité intérieure"
    assert '<article lang="fr" id="top">' in fr["html"]
    assert '<time datetime="2010-09-01">' in fr["html"]

    def summary(body: dict[str, Any]) -> list[tuple[str, str, int, Any]]:
        return [(f["key"], f["scope"], f["version"], f["value"]) for f in body["facts"]]

    assert summary(fr) == summary(en)
    assert {f["key"] for f in fr["facts"]} >= {
        "dci.established_on",
        "network.embassy_count",
        "network.staff_count",
        "network.country_count",
        "iss.established_year",
        "iss.jurisdiction",
        "page.last_modified",
    }


async def test_numbers_are_grouped_the_locales_way(client: Client, admin: dict[str, str], seeded: Database) -> None:
    for key, value in (
        ("budget.total", {"type": "integer", "value": 1234567}),
        ("budget.rate", {"type": "decimal", "value": "1234.50"}),
    ):
        created = await client.post("/v1/facts", json={"key": key, "value": value}, headers=admin)
        assert created.status_code == 201, created.text
    doc = await published_page(
        client, admin, "budget", paragraph(text("Total "), fact("budget.total"), text(" taux "), fact("budget.rate"))
    )
    await write(
        client,
        admin,
        doc,
        "en",
        revision(
            "Budget",
            paragraph(text("Total "), fact("budget.total"), text(" rate "), fact("budget.rate")),
            source_revision=1,
        ),
    )
    await publish(client, admin, doc, "en", 1)

    en = (await client.get("/v1/sites/in-new-delhi/pages/budget", params={"locale": "en"})).json()
    fr = (await client.get("/v1/sites/in-new-delhi/pages/budget", params={"locale": "fr"})).json()
    assert en["locale"] == "en"
    assert fr["locale"] == "fr"
    assert '<data value="1234567">1,234,567</data>' in en["html"]
    assert '<data value="1234.50">1,234.50</data>' in en["html"]
    nnbsp = "\u202f"
    assert format_decimal(1234567, locale="fr") == f"1{nnbsp}234{nnbsp}567", "Babel's French grouping"
    assert f'<data value="1234567">{format_decimal(1234567, locale="fr")}</data>' in fr["html"]
    assert f'<data value="1234.50">1{nnbsp}234,50</data>' in fr["html"]
    assert [f["value"] for f in fr["facts"]] == [f["value"] for f in en["facts"]]


async def test_html_is_served_for_accept_text_html_and_the_html_suffix(client: Client, seeded: Database) -> None:
    for locale in ("fr", "en"):
        body = (await client.get(DELHI, params={"locale": locale})).json()
        by_accept = await client.get(DELHI, params={"locale": locale}, headers={"Accept": "text/html"})
        by_suffix = await client.get(DELHI + ".html", params={"locale": locale})
        for response in (by_accept, by_suffix):
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["content-language"] == locale
            assert response.text == body["html"]
            assert response.text.startswith(f'<article lang="{locale}" id="top">')
        assert by_accept.headers["etag"] == by_suffix.headers["etag"]

    json_again = await client.get(DELHI, params={"locale": "fr"}, headers={"Accept": "application/json"})
    assert json_again.headers["content-type"].startswith("application/json")


# -- locale negotiation ----------------------------------------------------------------


async def test_locale_negotiation(client: Client, seeded: Database) -> None:
    async def read(headers: dict[str, str] | None = None, **params: str) -> Any:
        response = await client.get(DELHI, params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        assert "accept-language" in response.headers["vary"].lower()
        assert response.headers["content-language"] == response.json()["locale"]
        return response

    query_wins = await read({"Accept-Language": "fr"}, locale="en")
    assert (query_wins.json()["locale"], query_wins.json()["fallback"]) == ("en", False)

    weighted = (await read({"Accept-Language": "en;q=0.4, fr;q=0.9"})).json()
    assert (weighted["locale"], weighted["fallback"], weighted["requested_locale"]) == ("fr", False, "fr")

    weighted_en = (await read({"Accept-Language": "fr;q=0.2, en"})).json()
    assert (weighted_en["locale"], weighted_en["fallback"]) == ("en", False)

    regional = (await read({"Accept-Language": "fr-CA"})).json()
    assert (regional["locale"], regional["fallback"], regional["requested_locale"]) == ("fr", True, "fr-CA")

    german = await read({"Accept-Language": "de"})
    assert german.headers["content-language"] == "fr"
    assert (german.json()["locale"], german.json()["fallback"], german.json()["requested_locale"]) == ("fr", True, "de")

    nothing = (await read()).json()
    assert (nothing["locale"], nothing["fallback"], nothing["requested_locale"]) == ("fr", False, None)


async def test_invalid_locale_and_unknown_pages_are_problems(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    bad = await client.get(DELHI, params={"locale": "!!"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["status"] == 400
    assert "locale" in bad.json()["detail"]

    for path in ("/v1/sites/nowhere/pages/" + SLUG, "/v1/sites/in-new-delhi/pages/no-such-page"):
        missing = await client.get(path)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"].startswith(PROBLEM)
        assert missing.json()["status"] == 404

    doc = await new_page(client, admin, "draft-only")
    await write(client, admin, doc, "fr", revision("Brouillon", paragraph(text("Pas encore"))))
    draft_only = await client.get("/v1/sites/in-new-delhi/pages/draft-only")
    assert draft_only.status_code == 404
    assert draft_only.headers["content-type"].startswith(PROBLEM)


async def test_unpublishing_the_only_variant_is_404_on_the_next_request(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await published_page(client, admin, "ephemeral", paragraph(text("Bientôt parti")))
    path = "/v1/sites/in-new-delhi/pages/ephemeral"
    assert (await client.get(path)).status_code == 200
    assert (await client.get(path + ".html")).status_code == 200
    response = await client.post(f"/v1/documents/{doc}/variants/fr/unpublish", headers=admin)
    assert response.status_code == 200, response.text
    gone = await client.get(path)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith(PROBLEM)
    assert (await client.get(path + ".html")).status_code == 404
    listed = (await client.get("/v1/sites/in-new-delhi/pages")).json()
    assert "ephemeral" not in {item["slug"] for item in listed["items"]}


async def test_a_page_published_only_in_french_falls_back(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    await published_page(client, admin, "visas", paragraph(text("Les visas")))
    response = await client.get("/v1/sites/in-new-delhi/pages/visas", params={"locale": "en"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["locale"], body["fallback"], body["requested_locale"]) == ("fr", True, "en")
    assert response.headers["content-language"] == "fr"
    assert "Les visas" in body["html"]
    alternates = {a["locale"]: a for a in body["alternates"]}
    assert alternates["fr"]["status"] == "up_to_date"
    assert alternates["en"]["status"] == "missing"
    assert alternates["en"]["revision"] is None


# -- HTTP caching --------------------------------------------------------------------------


async def test_etag_last_modified_and_conditional_requests(client: Client, seeded: Database) -> None:
    response = await client.get(DELHI, params={"locale": "fr"})
    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert not etag.startswith("W/"), "a strong ETag"
    assert "max-age=" in response.headers["cache-control"]
    last_modified = response.headers["last-modified"]
    assert last_modified.endswith("GMT")

    again = await client.get(DELHI, params={"locale": "fr"})
    assert again.headers["etag"] == etag, "the same bytes give the same ETag"

    not_modified = await client.get(DELHI, params={"locale": "fr"}, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag

    other = await client.get(DELHI, params={"locale": "fr"}, headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200
    assert other.json()["locale"] == "fr"

    html = await client.get(DELHI + ".html", params={"locale": "fr"})
    assert html.headers["etag"] != etag
    html_304 = await client.get(
        DELHI + ".html", params={"locale": "fr"}, headers={"If-None-Match": html.headers["etag"]}
    )
    assert html_304.status_code == 304
    assert html_304.content == b""


async def test_last_modified_is_never_later_than_the_responses_date(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    def dates(response: Any) -> tuple[dt.datetime, dt.datetime]:
        assert len(response.headers.get_list("date")) == 1, response.headers
        return parsedate_to_datetime(response.headers["last-modified"]), parsedate_to_datetime(response.headers["date"])

    # A fresh render: published a moment ago.
    doc = await published_page(client, admin, "visas", paragraph(text("Les visas")))
    page = "/v1/sites/in-new-delhi/pages/visas"
    fresh = await client.get(page, params={"locale": "fr"})
    assert fresh.status_code == 200, fresh.text
    modified, date = dates(fresh)
    assert modified <= date
    assert date - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=2), "the response's own time"

    # Published through a replica whose clock is an hour ahead: still never after Date, on a 304 too.
    async with seeded.transaction() as repo:
        await repo.conn.execute(
            sa.update(variants)
            .where(variants.c.document_id == doc, variants.c.locale == "fr")
            .values(published_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        )
    delivery_of(client).changed_elsewhere([RenderKey("in-new-delhi", "visas", "fr")])
    ahead = await client.get(page, params={"locale": "fr"})
    assert ahead.json()["published_at"] > fresh.json()["published_at"]
    modified, date = dates(ahead)
    assert modified <= date
    not_modified = await client.get(page, params={"locale": "fr"}, headers={"If-None-Match": ahead.headers["etag"]})
    assert not_modified.status_code == 304
    modified, date = dates(not_modified)
    assert modified <= date

    # Every response carries one Date, problems included.
    missing = await client.get("/v1/sites/in-new-delhi/pages/nowhere")
    assert missing.status_code == 404
    assert len(missing.headers.get_list("date")) == 1


async def test_min_revision(client: Client, seeded: Database) -> None:
    served = await client.get(DELHI, params={"locale": "fr", "min_revision": "1"})
    assert served.status_code == 200
    assert served.json()["revision"] == 1
    ahead = await client.get(DELHI, params={"locale": "fr", "min_revision": "2"})
    assert ahead.status_code == 409
    assert ahead.headers["content-type"].startswith(PROBLEM)
    assert ahead.json()["current"] == {"revision": 1}


async def test_min_revision_is_not_met_by_a_fallback_to_another_locale(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    await client.post(f"/v1/documents/{doc}/variants/en/unpublish", headers=admin)
    fallback = await client.get(DELHI, params={"locale": "en"})
    assert fallback.json()["locale"] == "fr"
    refused = await client.get(DELHI, params={"locale": "en", "min_revision": "1"})
    assert refused.status_code == 409, "the fr fallback (revision 1) is not en revision 1"
    assert refused.json()["type"] == "urn:liaison:problem:revision-not-served"
    assert refused.json()["current"] == {"revision": None, "locale": "fr"}
    assert refused.json()["detail"] == "min_revision 1: en is not published; the page is served in fr"


async def test_a_replica_that_missed_a_publish_answers_min_revision_from_the_database_not_its_cached_fallback(
    seeded: Database, database_url: str
) -> None:
    """The replica caches the fr fallback of an unpublished en; another process publishes en and the event says en
    revision 1. The replica's cached fallback must not pass for it (an agent would delete its en file)."""
    replica = Delivery(seeded, "http://127.0.0.1:8000")  # hears only the commits made through ``seeded``
    other = Database.from_url(database_url, pooled=database_url.startswith("sqlite"))
    system = Principal.system("test")
    try:
        doc = await page_id(seeded, "in-new-delhi", SLUG)
        await revisions.unpublish(other, system, doc, "en")
        assert (await replica.serve("in-new-delhi", SLUG, ("en",))).entry.render.locale == "fr"
        await revisions.publish(other, system, doc, "en", PublishRequest(revision=1))
        stale = await replica.serve("in-new-delhi", SLUG, ("en",))
        assert (stale.entry.render.locale, stale.fallback) == ("fr", True), "the replica's cache is still the old one"

        served = await serve_at_least(replica, "in-new-delhi", SLUG, ("en",), 1)
        assert (served.entry.render.locale, served.entry.render.revision, served.fallback) == ("en", 1, False)

        await revisions.unpublish(seeded, system, doc, "en")  # through the replica's own Database: it knows
        with pytest.raises(RevisionNotServed):
            await serve_at_least(replica, "in-new-delhi", SLUG, ("en",), 1)
    finally:
        await other.close()


# -- invalidation ----------------------------------------------------------------------------


async def test_publishing_a_new_revision_is_served_on_the_next_request(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    before = await client.get(DELHI, params={"locale": "fr"})
    blocks = with_text(await source_blocks(client, admin, doc, "fr", 1), "last-modified", "Révisée le ")
    await write(client, admin, doc, "fr", revision("Service de sécurité intérieure", *blocks, base_revision=1))
    await publish(client, admin, doc, "fr", 2)

    after = await client.get(DELHI, params={"locale": "fr"})
    assert after.json()["revision"] == 2
    assert after.headers["etag"] != before.headers["etag"]
    assert "Révisée le " in after.json()["html"]
    assert "Dernière modification le " not in after.json()["html"]
    html = await client.get(DELHI + ".html", params={"locale": "fr"})
    assert "Révisée le " in html.text
    stale = await client.get(DELHI, params={"locale": "fr"}, headers={"If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200


async def test_publishing_a_fragment_changes_every_page_including_it(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    before = {site: await client.get(f"/v1/sites/{site}/pages/{SLUG}", params={"locale": "fr"}) for site in SITES}
    fragment = await fragment_id(seeded, "dci-internal-security")
    blocks = with_text(await source_blocks(client, admin, fragment, "fr", 1), "dci-network", "Un réseau remanié. ")
    await write(client, admin, fragment, "fr", revision("La DCI", *blocks, base_revision=1))
    await publish(client, admin, fragment, "fr", 2)

    for site in SITES:
        after = await client.get(f"/v1/sites/{site}/pages/{SLUG}", params={"locale": "fr"})
        assert after.headers["etag"] != before[site].headers["etag"], site
        assert "Un réseau remanié. " in after.json()["html"], site
        assert after.json()["fragments"] == {"dci-internal-security": 2}
        assert after.json()["revision"] == 1, "the page's own revision did not move"


async def test_a_fact_update_reaches_both_sites_and_both_locales(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    paths = [(f"/v1/sites/{site}/pages/{SLUG}", locale) for site in SITES for locale in ("fr", "en")]
    for path, locale in paths:  # warm the cache
        assert '<data value="78">78</data>' in (await client.get(path, params={"locale": locale})).json()["html"]
        assert '<data value="78">78</data>' in (await client.get(path + ".html", params={"locale": locale})).text

    updated = await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 79}},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert updated.status_code == 200, updated.text

    for path, locale in paths:
        body = (await client.get(path, params={"locale": locale})).json()
        assert '<data value="79">79</data>' in body["html"], (path, locale)
        assert '<data value="78">' not in body["html"], (path, locale)
        used = {f["key"]: f for f in body["facts"]}["network.embassy_count"]
        assert (used["version"], used["value"]["value"]) == (2, 79)
        html = (await client.get(path + ".html", params={"locale": locale})).text
        assert '<data value="79">79</data>' in html, (path, locale)


async def test_a_site_fact_that_hides_the_global_one_is_served_at_once(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    before = (await client.get(KATHMANDU, params={"locale": "en"})).json()
    assert '<data value="78">78</data>' in before["html"]
    created = await client.post(
        "/v1/facts",
        json={"key": "network.embassy_count", "scope": "np-kathmandu", "value": {"type": "integer", "value": 5}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    after = (await client.get(KATHMANDU, params={"locale": "en"})).json()
    assert '<data value="5">5</data>' in after["html"]
    assert {f["key"]: f["scope"] for f in after["facts"]}["network.embassy_count"] == "np-kathmandu"
    delhi = (await client.get(DELHI, params={"locale": "en"})).json()
    assert '<data value="78">78</data>' in delhi["html"], "other sites still see the global fact"
    rows = [r for r in await outbox_rows(seeded) if r["reason"] == "fact"]
    assert sorted((r["site"], r["locale"]) for r in rows) == [("np-kathmandu", "en"), ("np-kathmandu", "fr")]


async def test_drafts_never_reach_a_public_response(client: Client, admin: dict[str, str], seeded: Database) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    fragment = await fragment_id(seeded, "dci-internal-security")

    async def public_state() -> list[Any]:
        state: list[Any] = []
        for locale in ("fr", "en"):
            response = await client.get(DELHI, params={"locale": locale})
            html = await client.get(DELHI + ".html", params={"locale": locale})
            state += [response.headers["etag"], response.text, html.headers["etag"], html.text]
        state.append((await client.get("/v1/sites/in-new-delhi/pages")).json())
        return state

    before = await public_state()
    page_blocks = with_text(await source_blocks(client, admin, doc, "fr", 1), "last-modified", "Zanzibarique ")
    await write(client, admin, doc, "fr", revision("Brouillon secret", *page_blocks, base_revision=1))
    en_blocks = with_text(await source_blocks(client, admin, doc, "en", 1), "last-modified", "Zanzibaresque ")
    await write(client, admin, doc, "en", revision("Secret draft", *en_blocks, base_revision=1, source_revision=2))
    fragment_blocks = with_text(await source_blocks(client, admin, fragment, "fr", 1), "dci-network", "Zanzibar ")
    await write(client, admin, fragment, "fr", revision("La DCI", *fragment_blocks, base_revision=1))

    after = await public_state()
    assert after == before
    assert not any("Zanzibar" in str(part) or "Brouillon secret" in str(part) for part in after)

    # Another replica (an empty render cache) must serve the very same bytes: the
    # drafts are not part of any public render.
    delivery_of(client).cache.clear()
    for locale in ("fr", "en"):
        alternates = (await client.get(DELHI, params={"locale": locale})).json()["alternates"]
        assert {a["locale"]: a["status"] for a in alternates} == {"fr": "up_to_date", "en": "up_to_date"}, (
            "a translation's public status compares published revisions, not drafts"
        )
    fresh = await public_state()
    assert not any("Zanzibar" in str(part) for part in fresh)
    assert fresh == before


# -- outbox ----------------------------------------------------------------------------------


async def test_a_fact_update_writes_one_outbox_row_per_render_it_changes(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    known = len(await outbox_rows(seeded))
    updated = await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 79}},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert updated.status_code == 200, updated.text
    rows = (await outbox_rows(seeded))[known:]
    assert sorted((r["site"], r["slug"], r["locale"]) for r in rows) == [
        (site, SLUG, locale) for site in SITES for locale in ("en", "fr")
    ]
    assert {r["reason"] for r in rows} == {"fact"}
    assert {r["kind"] for r in rows} == {"rerendered"}
    assert all("network.embassy_count" in r["cause"] for r in rows)

    before = await dump(seeded)
    stale = await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 80}},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith(PROBLEM)
    assert await dump(seeded) == before, "a refused write leaves no outbox row (and nothing else)"
    page = (await client.get(DELHI, params={"locale": "fr"})).json()
    assert '<data value="79">79</data>' in page["html"]


# -- the page list ---------------------------------------------------------------------------


async def test_page_list_has_locales_revisions_and_the_canonical_etags(client: Client, seeded: Database) -> None:
    listed = await client.get("/v1/sites/in-new-delhi/pages")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["slug"] for item in items] == [SLUG]
    item = items[0]
    assert item["locales"] == {"fr": 1, "en": 1}
    assert item["document_id"] == await page_id(seeded, "in-new-delhi", SLUG)
    for locale in ("fr", "en"):
        response = await client.get(DELHI, params={"locale": locale})
        assert item["etags"][locale] == response.headers["etag"]
    updated_at = dt.datetime.fromisoformat(item["updated_at"])
    assert updated_at.tzinfo is not None
    assert updated_at <= dt.datetime.now(dt.UTC)
    assert listed.json()["next_cursor"] is None

    unknown = await client.get("/v1/sites/nowhere/pages")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith(PROBLEM)


async def test_page_list_cursor_and_updated_since(client: Client, admin: dict[str, str], seeded: Database) -> None:
    await published_page(client, admin, "visas", paragraph(text("Visas")))
    await published_page(client, admin, "contact", paragraph(text("Contact")))
    await new_page(client, admin, "unpublished")

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/sites/in-new-delhi/pages", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 1
        seen += [item["slug"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([SLUG, "visas", "contact"])
    assert len(seen) == len(set(seen))

    # A cursor the API never returned is refused, not read as "from the start".
    for bad in ("abc", "0", "-1", "1.5", "99999999999"):
        refused = await client.get("/v1/sites/in-new-delhi/pages", params={"cursor": bad})
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "cursor" in refused.json()["detail"], refused.json()
    huge = await client.get(f"/v1/sites/in-new-delhi/pages/{SLUG}", params={"min_revision": "9" * 30})
    assert huge.status_code == 400, huge.text
    assert "min_revision" in huge.json()["detail"]

    future = await client.get("/v1/sites/in-new-delhi/pages", params={"updated_since": "2999-01-01T00:00:00+00:00"})
    assert future.status_code == 200, future.text
    assert future.json()["items"] == []
    past = await client.get("/v1/sites/in-new-delhi/pages", params={"updated_since": "2000-01-01T00:00:00+00:00"})
    assert len(past.json()["items"]) == 3


# -- translation status -----------------------------------------------------------------------


async def test_translation_status(client: Client, admin: dict[str, str], seeded: Database) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    path = f"/v1/documents/{doc}/translations"
    anonymous = await client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith(PROBLEM)

    def by_locale(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {status["locale"]: status for status in report["locales"]}

    seeded_report = (await client.get(path, headers=admin)).json()
    assert seeded_report["source_locale"] == "fr"
    assert seeded_report["source_revision"] == 1
    statuses = by_locale(seeded_report)
    assert statuses["fr"]["status"] == "up_to_date"
    assert statuses["en"]["status"] == "up_to_date"
    assert statuses["en"]["translated_from"] == 1

    # A fact is a language-neutral placeholder: its new value never outdates a translation.
    updated = await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 79}},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert updated.status_code == 200
    assert by_locale((await client.get(path, headers=admin)).json())["en"]["status"] == "up_to_date"

    blocks = with_text(await source_blocks(client, admin, doc, "fr", 1), "last-modified", "Mise à jour le ")
    await write(client, admin, doc, "fr", revision("Service de sécurité intérieure", *blocks, base_revision=1))
    report = (await client.get(path, headers=admin)).json()
    assert report["source_revision"] == 2
    en = by_locale(report)["en"]
    assert en["status"] == "outdated"
    assert en["translated_from"] == 1
    assert en["source_revision"] == 2
    assert en["head_revision"] == 1
    diff = en["source_diff"]
    assert (diff["from_revision"], diff["to_revision"]) == (1, 2)
    assert [(change["block_id"], change["change"]) for change in diff["blocks"]] == [("last-modified", "changed")]
    assert diff["title_changed"] is False
    assert by_locale(report)["fr"]["status"] == "up_to_date"
    assert by_locale(report)["fr"]["source_diff"] is None


async def test_a_site_locale_without_a_variant_is_missing(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    site = await client.post(
        "/v1/sites",
        json={
            "key": "de-berlin",
            "name": "Ambassade de France en Allemagne",
            "locales": ["fr", "en", "de"],
            "default_locale": "fr",
            "fallback": ["fr"],
            "country": "DE",
        },
        headers=admin,
    )
    assert site.status_code == 201, site.text
    doc = await published_page(client, admin, "kontakt", paragraph(text("Contact")), site="de-berlin")
    report = (await client.get(f"/v1/documents/{doc}/translations", headers=admin)).json()
    statuses = {status["locale"]: status for status in report["locales"]}
    assert set(statuses) == {"fr", "en", "de"}
    assert statuses["fr"]["status"] == "up_to_date"
    for locale in ("en", "de"):
        assert statuses[locale]["status"] == "missing"
        assert statuses[locale]["head_revision"] is None

    german = await client.get("/v1/sites/de-berlin/pages/kontakt", headers={"Accept-Language": "de"})
    assert (german.json()["locale"], german.json()["fallback"]) == ("fr", True)
    assert {a["locale"]: a["status"] for a in german.json()["alternates"]} == {
        "fr": "up_to_date",
        "en": "missing",
        "de": "missing",
    }
