"""The browse page of a site over HTTP: status badges from the seed, needs attention, filters, search, pages, scope."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import TokenFactory
from tests.console.support import secret_of, sign_in
from tests.helpers import page_id, paragraph, revision, text
from tests.test_document_list import head, new_page, write

Client = AsyncTestClient[Litestar]
DELHI = "in-new-delhi"
KATHMANDU = "np-kathmandu"
SLUG = "internal-security-section"


def row_of(html: str, document_id: int) -> str:
    """The table row of a document."""
    found = re.search(rf'<tr data-document="{document_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row for document {document_id}"
    return found.group(1)


def cell(row: str, locale: str) -> str:
    found = re.search(rf'<td data-locale="{locale}">(.*?)</td>', row, re.S)
    assert found, f"no {locale} cell"
    return " ".join(found.group(1).split())


def attention(html: str, status: str) -> str:
    found = re.search(rf'<li data-status="{status}">(.*?)</li>', html, re.S)
    assert found
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


async def signed_in(client: Client, make_token: TokenFactory, role: str, sites: list[str] | None = None) -> None:
    response = await sign_in(client, secret_of(await make_token(role, sites=sites)))
    assert response.status_code == 303


async def test_the_seed_shows_live_revisions_and_links_to_the_editor_history_and_translation(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "editor")
    response = await client.get(f"/console/sites/{DELHI}")
    assert response.status_code == 200, response.text
    doc = await page_id(seeded, DELHI)
    row = row_of(response.text, doc)
    assert "Service de sécurité intérieure" in row
    assert re.search(r"Live, revision \d+", cell(row, "fr"))
    assert "Translation up to date" in cell(row, "en")
    assert f'href="/console/documents/{doc}/fr/edit"' in row
    assert f'href="/console/documents/{doc}/fr/history"' in row
    assert f'href="/console/documents/{doc}/en/translate"' in row
    assert f"/console/documents/{doc}/fr/translate" not in row  # the source is edited, not translated
    # The shared fragment both sites include is listed below, for a token of all sites.
    assert "Shared fragments" in response.text
    assert "dci-internal-security" in response.text
    assert attention(response.text, "draft-ahead") == "0 drafts ahead of live"
    assert attention(response.text, "translation-outdated") == "0 outdated translations"
    french = await client.get(f"/console/sites/{DELHI}", headers={"Accept-Language": "fr"})
    assert re.search(r"En ligne, révision \d+", cell(row_of(french.text, doc), "fr"))
    assert attention(french.text, "translation-missing") == "0 traduction manquante"


async def test_a_draft_and_a_moved_source_show_in_the_badges_and_in_needs_attention(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, DELHI)
    live = await head(client, admin, doc, "fr")
    body = revision("Service de sécurité intérieure", paragraph(text("Nouveau texte")), base_revision=live)
    draft = await write(client, admin, doc, "fr", body)
    fresh = await new_page(client, admin, "visas")
    await write(client, admin, fresh, "fr", revision("Visas", paragraph(text("Demander un visa"))))
    await signed_in(client, make_token, "reader")

    html = (await client.get(f"/console/sites/{DELHI}")).text
    row = row_of(html, doc)
    assert f"Draft {draft} ahead of live {live}" in cell(row, "fr")
    assert "Translation outdated" in cell(row, "en")
    fresh_row = row_of(html, fresh)
    assert "Unpublished (draft 1)" in cell(fresh_row, "fr")
    assert "No variant" in cell(fresh_row, "en")
    assert "Translation missing" in cell(fresh_row, "en")
    assert attention(html, "draft-ahead") == "1 draft ahead of live"
    assert attention(html, "translation-outdated") == "1 outdated translation"
    assert attention(html, "translation-missing") == "1 missing translation"
    assert f'href="/console/sites/{DELHI}?status=draft-ahead"' in html
    assert "/edit" not in html
    assert "/translate" not in html

    ahead = (await client.get(f"/console/sites/{DELHI}", params={"status": "draft-ahead"})).text
    assert f'data-document="{doc}"' in ahead
    assert f'data-document="{fresh}"' not in ahead
    missing = (await client.get(f"/console/sites/{DELHI}", params={"status": "translation-missing"})).text
    assert f'data-document="{fresh}"' in missing
    assert f'data-document="{doc}"' not in missing
    # The filter form shows the chosen filter again.
    assert '<option value="translation-missing" selected>' in missing


async def test_search_kind_and_locale_filters_and_the_htmx_answer_is_the_table_alone(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    fresh = await new_page(client, admin, "visas-etudiants")
    await write(client, admin, fresh, "fr", revision("Visas pour étudiants", paragraph(text("Étudier"))))
    doc = await page_id(seeded, DELHI)
    await signed_in(client, make_token, "editor")

    found = (await client.get(f"/console/sites/{DELHI}", params={"q": "ÉTUDIANTS"})).text
    assert f'data-document="{fresh}"' in found
    assert f'data-document="{doc}"' not in found
    by_slug = (await client.get(f"/console/sites/{DELHI}", params={"q": "security-sec"})).text
    assert f'data-document="{doc}"' in by_slug
    assert f'data-document="{fresh}"' not in by_slug
    none = (await client.get(f"/console/sites/{DELHI}", params={"q": "zzz"})).text
    assert "No page or fragment of this site matches these filters." in none
    pages_only = (await client.get(f"/console/sites/{DELHI}", params={"kind": "page"})).text
    assert "Shared fragments" not in pages_only
    assert f'data-document="{doc}"' in pages_only

    partial = await client.get(f"/console/sites/{DELHI}", params={"q": "visas"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="documents"')
    assert "<html" not in partial.text
    assert f'data-document="{fresh}"' in partial.text
    assert partial.headers["vary"] == "HX-Request"

    bad = await client.get(f"/console/sites/{DELHI}", params={"status": "everything", "kind": "poem"})
    assert bad.status_code == 400
    assert "These filters are not valid" in bad.text
    assert bad.headers["content-type"].startswith("text/html")


async def test_the_next_link_pages_through_the_site_by_cursor(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    created = [await new_page(client, admin, f"page-{n}") for n in range(3)]
    for doc in created:
        await write(client, admin, doc, "fr", revision(f"Page {doc}", paragraph(text("x"))))
    await signed_in(client, make_token, "editor")
    seen: list[int] = []
    url = f"/console/sites/{DELHI}?kind=page&limit=2"
    for _ in range(5):
        html = (await client.get(url)).text
        seen += [int(found) for found in re.findall(r'<tr data-document="(\d+)">', html)]
        following = re.search(r'<a rel="next" href="([^"]+)"', html)
        if following is None:
            break
        url = following.group(1).replace("&amp;", "&")
        assert "kind=page" in url
        assert "limit=2" in url
    assert seen == sorted(seen)
    assert set(created) <= set(seen)
    assert len(seen) == len(set(seen)) == 4


async def test_a_site_scoped_token_sees_only_its_sites(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "editor", sites=[DELHI])
    own = await client.get(f"/console/sites/{DELHI}")
    assert own.status_code == 200
    assert f'data-document="{await page_id(seeded, DELHI)}"' in own.text
    assert "Shared fragments" not in own.text  # shared fragments need a token of all sites
    other = await client.get(f"/console/sites/{KATHMANDU}")
    assert other.status_code == 403
    assert "data-document=" not in other.text
    assert "Service de sécurité" not in other.text
    assert "Ask an administrator" in other.text
    assert (await client.get("/console/sites/nowhere")).status_code == 404
