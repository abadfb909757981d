"""Previews: a draft revision or an unsaved body, rendered by the delivery renderer, for a token only."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.delivery import PageRender
from services.content.storage.database import Database
from services.content.usecases.delivery import page_html
from tests.conftest import TokenFactory, dump
from tests.helpers import fact, fragment_id, page_id, paragraph, revision, text

Client = AsyncTestClient[Litestar]

SITE = "in-new-delhi"
PUBLIC = f"/v1/sites/{SITE}/pages/internal-security-section"
PROBLEM = "application/problem+json"
DRAFT_WORDS = {"fr": "Brouillon du service", "en": "Draft of the section"}
DATES = {"fr": "1er septembre 2010", "en": "September 1, 2010"}


def draft_body(locale: str, **extra: Any) -> dict[str, Any]:
    """A revision naming the DCI's date fact in its long format, and including the demo fragment."""
    return revision(
        f"{DRAFT_WORDS[locale]} ({locale})",
        paragraph(text(DRAFT_WORDS[locale] + " "), fact("dci.established_on", format="long")),
        {"type": "fragment", "id": "dci", "fragment": "dci-internal-security"},
        **extra,
    )


async def variant(client: Client, admin: dict[str, str], doc: int, locale: str) -> dict[str, Any]:
    response = await client.get(f"/v1/documents/{doc}", headers=admin)
    found: dict[str, Any] = next(v for v in response.json()["variants"] if v["locale"] == locale)
    return found


async def write_drafts(client: Client, admin: dict[str, str], doc: int) -> dict[str, int]:
    """A new (unpublished) revision in fr (the source) and in en (its translation); their numbers."""
    numbers: dict[str, int] = {}
    fr = await variant(client, admin, doc, "fr")
    response = await client.post(
        f"/v1/documents/{doc}/variants/fr/revisions",
        json=draft_body("fr", base_revision=fr["head_revision"]),
        headers=admin,
    )
    assert response.status_code == 201, response.text
    numbers["fr"] = response.json()["number"]
    en = await variant(client, admin, doc, "en")
    response = await client.post(
        f"/v1/documents/{doc}/variants/en/revisions",
        json=draft_body("en", base_revision=en["head_revision"], source_revision=numbers["fr"]),
        headers=admin,
    )
    assert response.status_code == 201, response.text
    numbers["en"] = response.json()["number"]
    return numbers


async def test_a_draft_preview_shows_its_text_and_facts_per_locale_while_the_public_page_stays(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, SITE)
    live = {locale: (await client.get(PUBLIC, params={"locale": locale})).json() for locale in ("fr", "en")}
    numbers = await write_drafts(client, admin, doc)
    for locale in ("fr", "en"):
        response = await client.get(
            f"/v1/documents/{doc}/variants/{locale}/revisions/{numbers[locale]}/preview", headers=admin
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "private, no-store"
        shown = response.json()
        assert shown["revision"] == numbers[locale]
        assert shown["locale"] == locale
        assert shown["title"] == f"{DRAFT_WORDS[locale]} ({locale})"
        assert DRAFT_WORDS[locale] in shown["html"]
        assert DATES[locale] in shown["html"]
        # The published fragment is included, and the language switcher and alternates are the public ones.
        assert "dci-internal-security" in shown["fragments"]
        assert [a["locale"] for a in shown["alternates"]] == [a["locale"] for a in live[locale]["alternates"]]
        assert {a["locale"]: a["revision"] for a in shown["alternates"]}[locale] == numbers[locale]
        assert 'hreflang="en"' in shown["html"]
        assert 'hreflang="fr"' in shown["html"]
        # The public read still serves the published revision, before and after the preview.
        public = (await client.get(PUBLIC, params={"locale": locale})).json()
        assert public["revision"] == live[locale]["revision"] < numbers[locale]
        assert DRAFT_WORDS[locale] not in public["html"]


async def test_an_unsaved_body_is_previewed_checked_and_nothing_is_written(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, SITE)
    head = (await variant(client, admin, doc, "fr"))["head_revision"]
    before = await dump(seeded)
    response = await client.post(f"/v1/documents/{doc}/variants/fr/preview", json=draft_body("fr"), headers=admin)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert DRAFT_WORDS["fr"] in shown["html"]
    assert DATES["fr"] in shown["html"]
    assert shown["revision"] == head + 1
    assert shown["blocks"][0]["id"]  # block ids are given as a save would
    assert await dump(seeded) == before

    unknown = revision("Titre", paragraph(fact("no.such.fact")))
    response = await client.post(f"/v1/documents/{doc}/variants/fr/preview", json=unknown, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:liaison:problem:unknown-fact"
    response = await client.post(
        f"/v1/documents/{doc}/variants/fr/preview", json={"title": "", "blocks": []}, headers=admin
    )
    assert response.status_code == 400
    response = await client.post(
        f"/v1/documents/{doc}/variants/fr/preview", json={**draft_body("fr"), "message": "x"}, headers=admin
    )
    assert response.status_code == 400
    assert await dump(seeded) == before
    public = (await client.get(PUBLIC, params={"locale": "fr"})).json()
    assert DRAFT_WORDS["fr"] not in public["html"]

    # The previewed body held the number the next save gets; that save, once published, is what is served.
    saved = revision("Enregistré", paragraph(text("Le texte enregistré")), base_revision=head)
    response = await client.post(f"/v1/documents/{doc}/variants/fr/revisions", json=saved, headers=admin)
    assert response.status_code == 201
    assert response.json()["number"] == head + 1
    response = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": head + 1}, headers=admin)
    assert response.status_code == 200
    public = (await client.get(PUBLIC, params={"locale": "fr"})).json()
    assert "Le texte enregistré" in public["html"]
    assert DRAFT_WORDS["fr"] not in public["html"]


async def test_a_fragment_preview_renders_the_fragment_itself(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await fragment_id(seeded)
    body = revision("Fragment", paragraph(text("Nouveau texte partagé "), fact("post.in_country")))
    response = await client.post(
        f"/v1/documents/{doc}/variants/fr/preview", json=body, params={"site": "np-kathmandu"}, headers=admin
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert "Nouveau texte partagé" in shown["html"]
    assert "au Népal" in shown["html"]
    assert shown["slug"] == "dci-internal-security"
    head = (await variant(client, admin, doc, "fr"))["head_revision"]
    response = await client.get(f"/v1/documents/{doc}/variants/fr/revisions/{head}/preview", headers=admin)
    assert response.status_code == 200, response.text
    assert DATES["fr"] in response.json()["html"]
    response = await client.get(
        f"/v1/documents/{doc}/variants/fr/revisions/{head}/preview", params={"site": "nowhere"}, headers=admin
    )
    assert response.status_code == 404


async def test_who_may_preview(
    client: Client, admin: dict[str, str], make_token: TokenFactory, seeded: Database
) -> None:
    doc = await page_id(seeded, SITE)
    numbers = await write_drafts(client, admin, doc)
    path = f"/v1/documents/{doc}/variants/fr/revisions/{numbers['fr']}/preview"
    reader = await make_token("reader", sites=[SITE], name="reader")
    response = await client.get(path, headers=reader)
    assert response.status_code == 200, response.text
    assert DRAFT_WORDS["fr"] in response.json()["html"]
    response = await client.post(f"/v1/documents/{doc}/variants/fr/preview", json=draft_body("fr"), headers=reader)
    assert response.status_code == 200, response.text

    for anonymous in (await client.get(path), await client.post(f"/v1/documents/{doc}/variants/fr/preview", json={})):
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == PROBLEM

    # Another site's token learns nothing: the same 404 as a document that does not exist.
    elsewhere = await make_token("admin", sites=["np-kathmandu"], name="elsewhere")
    hidden = await client.get(path, headers=elsewhere)
    missing_id = 999_999
    missing = await client.get(
        f"/v1/documents/{missing_id}/variants/fr/revisions/{numbers['fr']}/preview", headers=elsewhere
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["type"] == missing.json()["type"]
    assert hidden.json()["detail"] == missing.json()["detail"].replace(str(missing_id), str(doc))
    posted = await client.post(f"/v1/documents/{doc}/variants/fr/preview", json=draft_body("fr"), headers=elsewhere)
    assert posted.status_code == 404
    assert posted.json()["detail"] == hidden.json()["detail"]

    unknown_revision = await client.get(f"/v1/documents/{doc}/variants/fr/revisions/9999/preview", headers=admin)
    assert unknown_revision.status_code == 404


async def test_a_preview_for_a_locale_the_page_lacks_is_the_fallback_the_public_page_will_serve(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    response = await client.post(
        "/v1/documents", json={"kind": "page", "site": SITE, "slug": "visas", "source_locale": "fr"}, headers=admin
    )
    assert response.status_code == 201, response.text
    doc = response.json()["id"]
    response = await client.post(f"/v1/documents/{doc}/variants/fr/revisions", json=draft_body("fr"), headers=admin)
    assert response.status_code == 201, response.text
    response = await client.get(
        f"/v1/documents/{doc}/variants/fr/revisions/1/preview", params={"requested": "en"}, headers=admin
    )
    assert response.status_code == 200, response.text
    shown = msgspec.json.decode(response.content, type=PageRender)
    assert (shown.locale, shown.requested_locale, shown.fallback) == ("fr", "en", True)
    html = page_html(shown)
    assert 'class="liaison-notice"' in html
    assert DRAFT_WORDS["fr"] in html

    # Once published, the public HTML a reader asking for English gets is exactly that.
    response = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 1}, headers=admin)
    assert response.status_code == 200, response.text
    public = await client.get(f"/v1/sites/{SITE}/pages/visas.html", params={"locale": "en"})
    assert public.status_code == 200
    assert public.text == html
    bad = await client.get(
        f"/v1/documents/{doc}/variants/fr/revisions/1/preview", params={"requested": "no locale"}, headers=admin
    )
    assert bad.status_code == 400
