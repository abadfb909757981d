"""The translation screen over HTTP: progress on the seed page, saving through the import's checks, scopes, 409."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import TokenFactory, dump
from tests.console.support import csrf_of, secret_of, sign_in
from tests.helpers import page_id

SITE = "np-kathmandu"
FIELD = re.compile(
    r'<(?:input type="hidden"|textarea id="[^"]*") name="([^"]+)"[^>]*?(?: value="([^"]*)")?>(?:([^<]*)</textarea>)?'
)


def form_of(html: str) -> dict[str, str]:
    """The translation form's fields as the page fills them (hidden inputs and textareas)."""
    import html as markup

    fields: dict[str, str] = {}
    for name, value, text in FIELD.findall(html):
        fields[markup.unescape(name)] = markup.unescape(value or text or "")
    fields["_csrf_token"] = csrf_of(html)
    return fields


def progress(html: str) -> str:
    found = re.search(r'data-testid="progress">.*?(\d+ of \d+ up to date)', html, re.S)
    assert found, "no progress on the page"
    return found.group(1)


def states(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-segment="([^"]+)" data-state="([^"]+)"', html))


async def edit_source(client: AsyncTestClient[Litestar], editor: dict[str, str], document: int) -> int:
    """An editor changes two list items of the French source through the API; the new revision's number."""
    head = (await client.get(f"/v1/documents/{document}/variants/fr/revisions", headers=editor)).json()
    number = head["items"][0]["number"]
    body = (await client.get(f"/v1/documents/{document}/variants/fr/revisions/{number}", headers=editor)).json()
    blocks = body["blocks"]
    items = next(block for block in blocks if block["id"] == "s3-list")["items"]
    items[0][-1]["text"] = ". L'attaché de sécurité intérieure est l'interlocuteur des polices népalaises."
    items[1][0]["text"] = (
        "Il travaille en lien étroit avec l'ambassade de France à Katmandou, pour la communauté résidant "
    )
    written = await client.post(
        f"/v1/documents/{document}/variants/fr/revisions",
        json={"title": body["title"], "blocks": blocks, "base_revision": number, "message": "Two items rewritten"},
        headers=editor,
    )
    assert written.status_code == 201, written.text
    return int(written.json()["number"])


async def translator_client(client: AsyncTestClient[Litestar], make_token: TokenFactory, **scope: Any) -> None:
    header = await make_token("translator", name="Tara", **scope)
    assert (await sign_in(client, secret_of(header))).status_code == 303


async def test_the_seed_page_is_up_to_date_then_shows_exactly_the_two_items_the_source_changed(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    await translator_client(client, make_token, locales=["en"])
    screen = await client.get(f"/console/documents/{document}/en/translate")
    assert screen.status_code == 200, screen.text
    assert progress(screen.text) == "4 of 4 up to date"
    assert set(states(screen.text).values()) == {"up_to_date"}

    await edit_source(client, await make_token("editor", name="Eve"), document)
    screen = await client.get(f"/console/documents/{document}/en/translate")
    assert progress(screen.text) == "2 of 4 up to date"
    assert states(screen.text) == {
        "title": "up_to_date",
        "s3-h": "up_to_date",
        "s3-list.1": "outdated",
        "s3-list.2": "outdated",
    }
    # The source's word diff since the translation was made, and the previous translation kept in the field.
    assert re.search(r'data-testid="diff-s3-list.1".*?<del>.*?en poste.*?</del>', screen.text, re.S)
    assert re.search(r'data-testid="diff-s3-list.1".*?<ins>.*?polices.*?</ins>', screen.text, re.S)
    assert "Nepal falls within the jurisdiction" in form_of(screen.text)["t:s3-list.1"]


async def test_saving_writes_a_revision_naming_the_source_head_and_brings_it_up_to_date(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    editor = await make_token("editor", name="Eve")
    source_head = await edit_source(client, editor, document)
    await translator_client(client, make_token, locales=["en"])
    screen = await client.get(f"/console/documents/{document}/en/translate")
    fields = form_of(screen.text)
    assert fields["source_revision"] == str(source_head)
    fields["t:s3-list.1"] = fields["t:s3-list.1"].replace(
        ". The Internal Security Attaché posted in New Delhi is the point of contact of the Nepalese police "
        "authorities for all internal security matters.",
        ". The Internal Security Attaché is the contact of the Nepalese police.",
    )
    fields["t:s3-list.2"] = fields["t:s3-list.2"].replace("He carries out the missions described above", "He works")
    saved = await client.post(f"/console/documents/{document}/en/translate", data=fields)
    assert saved.status_code == 303, saved.text
    assert "saved=" in saved.headers["location"]

    revisions = (await client.get(f"/v1/documents/{document}/variants/en/revisions", headers=editor)).json()
    items = revisions["items"]
    head = max(items, key=lambda item: item["number"])
    stored = (
        await client.get(f"/v1/documents/{document}/variants/en/revisions/{head['number']}", headers=editor)
    ).json()
    assert stored["source_revision"] == source_head
    assert stored["author"] == "Tara"
    status = (await client.get(f"/v1/documents/{document}/translations", headers=editor)).json()
    assert {entry["locale"]: entry["status"] for entry in status["locales"]}["en"] == "up_to_date"
    after = await client.get(saved.headers["location"])
    assert progress(after.text) == "4 of 4 up to date"
    assert "Saved as revision" in after.text


async def test_a_dropped_placeholder_is_refused_naming_it_and_nothing_is_written(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    await translator_client(client, make_token, locales=["en"])
    fields = form_of((await client.get(f"/console/documents/{document}/en/translate")).text)
    assert "{fact:post.in_country}" in fields["t:s3-list.2"]
    fields["t:s3-list.2"] = fields["t:s3-list.2"].replace("{fact:post.in_country}", "in Nepal")
    before = await dump(seeded)
    refused = await client.post(f"/console/documents/{document}/en/translate", data=fields)
    assert refused.status_code == 422
    fault = re.search(r'data-testid="fault-s3-list.2">(.*?)</p>', refused.text, re.S)
    assert fault, refused.text
    assert "must keep every fact placeholder" in fault.group(1)
    assert "missing {fact:post.in_country}" in fault.group(1)
    assert "Nothing was saved" in refused.text
    assert "in Nepal" in form_of(refused.text)["t:s3-list.2"]  # what was typed is kept
    assert await dump(seeded) == before


async def test_a_translator_of_fr_cannot_save_en_and_sees_it_read_only(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    await translator_client(client, make_token, locales=["fr"])
    screen = await client.get(f"/console/documents/{document}/en/translate")
    assert screen.status_code == 200
    assert 'data-testid="read-only"' in screen.text
    assert "Save the translation" not in screen.text
    fields = form_of(screen.text)
    fields["t:s3-h"] = "Changed by the wrong translator"
    before = await dump(seeded)
    refused = await client.post(f"/console/documents/{document}/en/translate", data=fields)
    assert refused.status_code == 403
    assert "may not write a translation" in refused.text
    assert await dump(seeded) == before


async def test_a_reader_sees_the_sheet_read_only(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    assert (await sign_in(client, secret_of(await make_token("reader", name="Rose")))).status_code == 303
    screen = await client.get(f"/console/documents/{document}/en/translate")
    assert screen.status_code == 200
    assert "Save the translation" not in screen.text
    assert screen.text.count(" readonly") == 4


async def test_a_save_on_a_moved_head_shows_their_version_and_keeps_what_was_typed(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    editor = await make_token("editor", name="Eve")
    await translator_client(client, make_token, locales=["en"])
    fields = form_of((await client.get(f"/console/documents/{document}/en/translate")).text)
    # Someone else saves a new English heading meanwhile.
    revisions = (await client.get(f"/v1/documents/{document}/variants/en/revisions", headers=editor)).json()
    items = revisions["items"]
    number = max(item["number"] for item in items)
    head = (await client.get(f"/v1/documents/{document}/variants/en/revisions/{number}", headers=editor)).json()
    next(block for block in head["blocks"] if block["id"] == "s3-h")["content"] = [
        {"type": "text", "text": "Security cooperation with Nepal"}
    ]
    written = await client.post(
        f"/v1/documents/{document}/variants/en/revisions",
        json={
            "title": head["title"],
            "blocks": head["blocks"],
            "base_revision": number,
            "source_revision": head["source_revision"],
        },
        headers=editor,
    )
    assert written.status_code == 201, written.text
    fields["t:title"] = "Internal Security Section (typed)"
    conflict = await client.post(f"/console/documents/{document}/en/translate", data=fields)
    assert conflict.status_code == 409
    assert re.search(r'data-testid="theirs-s3-h">.*?Security cooperation with Nepal', conflict.text, re.S)
    assert 'data-testid="theirs-title"' not in conflict.text
    again = form_of(conflict.text)
    assert again["t:title"] == "Internal Security Section (typed)"
    assert again["base_revision"] == str(number + 1)
    saved = await client.post(f"/console/documents/{document}/en/translate", data=again)
    assert saved.status_code == 303, saved.text


async def test_the_live_preview_renders_the_typed_translation_and_names_a_dropped_placeholder(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    await translator_client(client, make_token, locales=["en"])
    screen = await client.get(f"/console/documents/{document}/en/translate")
    fields = form_of(screen.text)
    fields["t:s3-h"] = "Cooperation <strong>typed</strong> live"
    headers = {"X-CSRF-Token": fields["_csrf_token"], "HX-Request": "true"}
    shown = await client.post(f"/console/documents/{document}/en/translate/preview", data=fields, headers=headers)
    assert shown.status_code == 200, shown.text
    assert "Cooperation <strong>typed</strong> live" in shown.text
    assert 'lang="en"' in shown.text
    fields["t:s3-list.2"] = "no fact here"
    faulty = await client.post(f"/console/documents/{document}/en/translate/preview", data=fields, headers=headers)
    assert faulty.status_code == 200
    assert "missing {fact:post.in_country}" in faulty.text


async def test_a_new_source_paragraph_is_marked_missing_and_must_be_translated_before_saving(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    editor = await make_token("editor", name="Eve")
    listed = (await client.get(f"/v1/documents/{document}/variants/fr/revisions", headers=editor)).json()
    number = listed["items"][0]["number"]
    body = (await client.get(f"/v1/documents/{document}/variants/fr/revisions/{number}", headers=editor)).json()
    blocks = [*body["blocks"], {"type": "paragraph", "id": "s3-new", "content": [{"type": "text", "text": "Nouveau."}]}]
    written = await client.post(
        f"/v1/documents/{document}/variants/fr/revisions",
        json={"title": body["title"], "blocks": blocks, "base_revision": number},
        headers=editor,
    )
    assert written.status_code == 201, written.text
    await translator_client(client, make_token, locales=["en"])
    screen = await client.get(f"/console/documents/{document}/en/translate")
    assert states(screen.text)["s3-new"] == "missing"
    assert progress(screen.text) == "4 of 5 up to date"
    fields = form_of(screen.text)
    assert fields["t:s3-new"] == ""
    before = await dump(seeded)
    refused = await client.post(f"/console/documents/{document}/en/translate", data=fields)
    assert refused.status_code == 422
    assert "not translated yet" in refused.text
    assert await dump(seeded) == before
    fields["t:s3-new"] = "New."
    saved = await client.post(f"/console/documents/{document}/en/translate", data=fields)
    assert saved.status_code == 303, saved.text
    assert progress((await client.get(saved.headers["location"])).text) == "5 of 5 up to date"


async def test_tampered_forms_are_refused_with_a_page_and_nothing_written(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    document = await page_id(seeded, SITE)
    await translator_client(client, make_token, locales=["en"])
    fields = form_of((await client.get(f"/console/documents/{document}/en/translate")).text)
    before = await dump(seeded)
    for change in (
        {"source_revision": "x"},
        {"source_revision": "99999999999"},
        {"source_revision": "0"},
        {"base_revision": "-1"},
        {"s:s3-h": "not the source"},
        {"s:unknown": "x", "t:unknown": "y"},
        {"t:title": "<script>alert(1)</script>"},
    ):
        response = await client.post(f"/console/documents/{document}/en/translate", data={**fields, **change})
        assert 400 <= response.status_code < 500, (change, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
        assert "<script>alert" not in response.text
    for path in ("/console/documents/999999/en/translate", f"/console/documents/{document}/xx/translate"):
        assert 400 <= (await client.get(path)).status_code < 500
    # The source locale has no translation screen.
    assert (await client.get(f"/console/documents/{document}/fr/translate")).status_code == 422
    assert await dump(seeded) == before
