"""The editor over HTTP: saving through the form, the conflict view, refusals, block ids, the preview, new documents."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import TokenFactory, dump
from tests.console.support import csrf_of, secret_of, sign_in
from tests.helpers import fragment_id, page_id

PAYLOAD = re.compile(r'id="revision-payload" value="([^"]*)"')
SLUG = "internal-security-section"


def payload_of(page: str) -> dict[str, Any]:
    """The revision the editor page carries in its hidden field."""
    found = PAYLOAD.search(page)
    assert found, "the editor page has no revision field"
    decoded: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return decoded


async def signed_in(
    client: AsyncTestClient[Litestar], make_token: TokenFactory, role: str = "editor", **scope: Any
) -> dict[str, str]:
    header = await make_token(role, name=f"{role}-1", **scope)
    assert (await sign_in(client, secret_of(header))).status_code == 303
    return header


async def open_editor(
    client: AsyncTestClient[Litestar], document: int, locale: str = "fr"
) -> tuple[str, dict[str, Any]]:
    response = await client.get(f"/console/documents/{document}/{locale}/edit")
    assert response.status_code == 200, response.text
    return csrf_of(response.text), payload_of(response.text)


async def save(
    client: AsyncTestClient[Litestar],
    document: int,
    csrf: str,
    body: dict[str, Any],
    locale: str = "fr",
    action: str = "save",
) -> Any:
    return await client.post(
        f"/console/documents/{document}/{locale}/edit",
        data={"_csrf_token": csrf, "revision": json.dumps(body), "action": action},
    )


def first_paragraph(body: dict[str, Any]) -> dict[str, Any]:
    return next(block for block in body["blocks"] if block["type"] == "list")


async def test_saving_through_the_form_writes_a_revision_on_the_opened_head_and_keeps_every_block_id(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    header = await signed_in(client, make_token)
    document = await page_id(seeded, "in-new-delhi", SLUG)
    csrf, body = await open_editor(client, document)
    head = body["base_revision"]
    assert head is not None
    assert all(block.get("id") for block in body["blocks"])
    ids = [block["id"] for block in body["blocks"]]

    edited = first_paragraph(body)
    edited["items"][1] = [{"type": "text", "text": "Le SSI est dirigé par une commissaire."}]
    response = await save(client, document, csrf, body)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/documents/{document}/fr/edit?saved={head + 1}"

    written = (await client.get(f"/v1/documents/{document}/variants/fr/revisions/{head + 1}", headers=header)).json()
    assert written["base_revision"] == head
    assert written["author"] == "editor-1"
    assert [block["id"] for block in written["blocks"]] == ids
    changes = (
        await client.get(
            f"/v1/documents/{document}/variants/fr/diff", params={"from": head, "to": head + 1}, headers=header
        )
    ).json()
    assert [(change["block_id"], change["change"]) for change in changes["blocks"]] == [(edited["id"], "changed")]
    assert changes["unchanged_blocks"] == len(ids) - 1

    again = await client.get(response.headers["location"])
    assert "Saved as revision" in again.text
    assert payload_of(again.text)["base_revision"] == head + 1


async def test_a_stale_base_shows_the_heads_changes_and_keeps_the_typed_content_then_re_applies(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    header = await signed_in(client, make_token)
    document = await page_id(seeded, "in-new-delhi", SLUG)
    csrf, mine = await open_editor(client, document)
    base = mine["base_revision"]

    # Someone else saves first, through the API, changing the heading.
    theirs = json.loads(json.dumps(mine))
    heading = next(block for block in theirs["blocks"] if block["type"] == "heading")
    heading["content"] = [{"type": "text", "text": "Le service de sécurité intérieure à New Delhi et Katmandou"}]
    theirs.pop("message")
    written = await client.post(f"/v1/documents/{document}/variants/fr/revisions", json=theirs, headers=header)
    assert written.status_code == 201, written.text

    mine["blocks"][-1]["content"] = [{"type": "text", "text": "Mon paragraphe tapé pendant ce temps."}]
    conflict = await save(client, document, csrf, mine)
    assert conflict.status_code == 409
    page = conflict.text
    assert 'data-testid="conflict"' in page
    assert f"revision {base + 1}" in page
    assert f'data-block-id="{heading["id"]}"' in page
    assert "<ins>" in page
    assert "Katmandou" in page
    assert "[added: " in page
    kept = payload_of(page)
    assert kept == mine  # the typed content, base and all, is still in the form
    assert 'value="rebase"' in page

    rebased = await save(client, document, csrf_of(page), kept, action="rebase")
    assert rebased.status_code == 200
    assert f"now based on revision {base + 1}" in rebased.text
    reapplied = payload_of(rebased.text)
    assert reapplied["base_revision"] == base + 1
    by_id = {block["id"]: block for block in reapplied["blocks"]}
    assert by_id[heading["id"]]["content"][0]["text"].endswith("Katmandou")  # their change, which I did not touch
    assert reapplied["blocks"][-1]["content"][0]["text"] == "Mon paragraphe tapé pendant ce temps."  # mine

    done = await save(client, document, csrf_of(rebased.text), reapplied)
    assert done.status_code == 303
    latest = (await client.get(f"/v1/documents/{document}/variants/fr/revisions/{base + 2}", headers=header)).json()
    assert latest["base_revision"] == base + 1
    assert latest["blocks"][-1]["content"][0]["text"] == "Mon paragraphe tapé pendant ce temps."
    theirs_kept = next(block for block in latest["blocks"] if block["id"] == heading["id"])
    assert theirs_kept["content"][0]["text"] == heading["content"][0]["text"]  # their edit is not undone


async def test_a_translator_cannot_save_the_source_and_nothing_is_written(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await signed_in(client, make_token, "translator", locales=["en"])
    document = await page_id(seeded, "in-new-delhi", SLUG)
    response = await client.get(f"/console/documents/{document}/fr/edit")
    assert response.status_code == 200
    assert 'data-testid="refusal"' in response.text
    assert 'value="save"' not in response.text  # no save button for what the token may not save
    body = payload_of(response.text)
    body["title"] = "Titre du traducteur"
    before = await dump(seeded)
    refused = await save(client, document, csrf_of(response.text), body)
    assert refused.status_code == 403
    assert "may not write a revision" in refused.text
    assert 'data-testid="editor-error"' in refused.text
    assert payload_of(refused.text)["title"] == "Titre du traducteur"  # kept in the form
    assert await dump(seeded) == before


async def test_an_unreadable_or_invalid_form_is_a_sentence_next_to_the_form_and_changes_nothing(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await signed_in(client, make_token)
    document = await page_id(seeded, "in-new-delhi", SLUG)
    csrf, body = await open_editor(client, document)
    before = await dump(seeded)
    body["blocks"].append(
        {"type": "paragraph", "content": [{"type": "text", "text": "x", "link": "javascript:alert(1)"}]}
    )
    refused = await save(client, document, csrf, body)
    assert refused.status_code == 422
    assert "could not be read" in refused.text
    assert "link" in refused.text
    garbled = await client.post(
        f"/console/documents/{document}/fr/edit", data={"_csrf_token": csrf, "revision": "{not json", "action": "save"}
    )
    assert garbled.status_code == 422
    body["blocks"][-1] = {"type": "paragraph", "content": [{"type": "fact", "key": "no.such.fact"}]}
    unknown = await save(client, document, csrf, body)
    assert unknown.status_code == 422
    assert "no fact &#39;no.such.fact&#39;" in unknown.text
    assert await dump(seeded) == before


async def test_the_preview_renders_the_unsaved_body_with_facts_formatted_in_the_chosen_locale(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await signed_in(client, make_token)
    document = await page_id(seeded, "in-new-delhi", SLUG)
    csrf, body = await open_editor(client, document)
    body["blocks"] = [
        {
            "type": "paragraph",
            "content": [{"type": "text", "text": "Créée le "}, {"type": "fact", "key": "dci.established_on"}],
        }
    ]
    body["title"] = "Essai <b>"
    before = await dump(seeded)
    previews = {}
    for locale in ("fr", "en"):
        response = await client.post(
            f"/console/documents/{document}/fr/preview",
            data={"revision": json.dumps(body), "preview_locale": locale},
            headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        )
        assert response.status_code == 200, response.text
        previews[locale] = response.text
    assert "1er septembre 2010" in previews["fr"]
    assert "September 1, 2010" in previews["en"]
    assert "Essai &lt;b&gt;" in previews["fr"]  # the renderer's escaping, kept
    assert await dump(seeded) == before
    wrong = await client.post(
        f"/console/documents/{document}/fr/preview",
        data={"revision": "[]", "preview_locale": "fr"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 200
    assert 'data-testid="preview-problem"' in wrong.text


async def test_the_editor_offers_the_sites_facts_formatted_in_the_variants_locale_and_the_fragments(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await signed_in(client, make_token)
    document = await page_id(seeded, "in-new-delhi", SLUG)
    french = (await client.get(f"/console/documents/{document}/fr/edit")).text
    english = (await client.get(f"/console/documents/{document}/en/edit")).text
    assert 'data-shown="en Inde"' in french
    assert 'data-shown="in India"' in english
    assert 'data-shown="Inde, Népal, Sri Lanka et Maldives"' in french
    assert 'data-shown="1er septembre 2010"' in french
    assert 'data-shown="September 1, 2010"' in english
    assert "au Népal" not in french  # another site's fact of the same key
    assert '<option value="dci-internal-security">' in french
    assert payload_of(english)["source_revision"] is not None  # a translation names its source


async def test_creating_a_page_from_the_site_opens_its_empty_editor_and_refuses_a_bad_slug(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    header = await signed_in(client, make_token, sites=["in-new-delhi"])
    form = await client.get("/console/sites/in-new-delhi/new")
    assert form.status_code == 200
    csrf = csrf_of(form.text)
    bad = await client.post(
        "/console/sites/in-new-delhi/new",
        data={"_csrf_token": csrf, "kind": "page", "name": "Bad Slug", "source_locale": "fr"},
    )
    assert bad.status_code == 400
    assert "cannot be an address" in bad.text
    taken = await client.post(
        "/console/sites/in-new-delhi/new",
        data={"_csrf_token": csrf, "kind": "page", "name": SLUG, "source_locale": "fr"},
    )
    assert taken.status_code == 409
    assert "already has a page" in taken.text
    shared = await client.post(
        "/console/sites/in-new-delhi/new",
        data={"_csrf_token": csrf, "kind": "fragment", "name": "shared", "source_locale": "fr"},
    )
    assert shared.status_code == 403  # a fragment belongs to every site: a site-scoped token may not create one
    created = await client.post(
        "/console/sites/in-new-delhi/new",
        data={"_csrf_token": csrf, "kind": "page", "name": "visas", "source_locale": "fr"},
    )
    assert created.status_code == 303
    editor = await client.get(created.headers["location"])
    assert editor.status_code == 200
    assert payload_of(editor.text) == {
        "title": "",
        "blocks": [],
        "message": "",
        "base_revision": None,
        "source_revision": None,
    }
    document = int(created.headers["location"].split("/")[3])
    body = {
        "title": "Visas",
        "blocks": [{"type": "paragraph", "content": [{"type": "text", "text": "Bonjour"}]}],
        "base_revision": None,
    }
    saved = await save(client, document, csrf_of(editor.text), body)
    assert saved.status_code == 303
    first = (await client.get(f"/v1/documents/{document}/variants/fr/revisions/1", headers=header)).json()
    assert first["title"] == "Visas"
    assert first["blocks"][0]["id"]
    other = await client.get("/console/sites/np-kathmandu/new")
    assert other.status_code == 404


async def test_a_fragments_editor_in_french_offers_every_sites_locales_for_its_preview(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await signed_in(client, make_token, "admin")
    document = await fragment_id(seeded)
    response = await client.get(f"/console/documents/{document}/fr/edit", headers={"Accept-Language": "fr"})
    assert response.status_code == 200, response.text
    assert "Modifier dci-internal-security (français)" in response.text
    assert "Fragment partagé" in response.text
    assert '<option value="en" lang="en"' in response.text
    assert '<option value="dci-internal-security">' not in response.text  # a fragment cannot include itself
    missing = await client.get(f"/console/documents/{document}/xx-nope/edit")
    assert missing.status_code in (400, 422)
