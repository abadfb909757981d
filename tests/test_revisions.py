"""Documents, revisions, history, diff, publish, revert, translations, and no lost update."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import dump
from tests.helpers import fact, paragraph, revision, text

Client = AsyncTestClient[Litestar]


async def new_page(client: Client, admin: dict[str, str], slug: str = "visas") -> int:
    """Create a page on in-new-delhi and return its id."""
    response = await client.post(
        "/v1/documents",
        json={"kind": "page", "site": "in-new-delhi", "slug": slug, "source_locale": "fr"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    document_id: int = response.json()["id"]
    return document_id


async def write(client: Client, admin: dict[str, str], doc: int, locale: str, body: dict[str, Any]) -> Any:
    return await client.post(f"/v1/documents/{doc}/variants/{locale}/revisions", json=body, headers=admin)


async def test_first_revision_creates_the_variant_and_later_ones_need_the_base(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await new_page(client, admin)
    first = await write(client, admin, doc, "fr", revision("Visas", paragraph(text("Bonjour"))))
    assert first.status_code == 201
    assert first.json()["number"] == 1
    assert first.headers["etag"] == '"r1"'
    assert first.json()["blocks"][0]["id"], "the server gives blocks an id"

    second = await write(client, admin, doc, "fr", revision("Visas", paragraph(text("Salut")), base_revision=1))
    assert second.status_code == 201
    assert second.json()["number"] == 2
    assert second.json()["base_revision"] == 1

    via_if_match = await client.post(
        f"/v1/documents/{doc}/variants/fr/revisions",
        json=revision("Visas", paragraph(text("Re-salut"))),
        headers={**admin, "If-Match": '"r2"'},
    )
    assert via_if_match.status_code == 201
    assert via_if_match.json()["number"] == 3

    stale = await write(client, admin, doc, "fr", revision("Visas", paragraph(text("Vieux")), base_revision=1))
    assert stale.status_code == 409
    assert stale.json()["current"] == {"revision": 3, "etag": '"r3"'}

    missing = await write(client, admin, doc, "fr", revision("Visas", paragraph(text("Sans base"))))
    assert missing.status_code == 428


async def test_twenty_concurrent_writers_on_the_same_base_one_wins(
    client: Client, admin: dict[str, str], db: Database, seeded: Database
) -> None:
    doc = await new_page(client, admin)
    assert (await write(client, admin, doc, "fr", revision("Visas", paragraph(text("v1"))))).status_code == 201

    bodies = [revision("Visas", paragraph(text(f"writer {i}")), base_revision=1) for i in range(20)]
    responses = await asyncio.gather(*(write(client, admin, doc, "fr", body) for body in bodies))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    history = (await client.get(f"/v1/documents/{doc}/variants/fr/revisions", headers=admin)).json()
    assert [item["number"] for item in history["items"]] == [2, 1]
    winner = next(r for r in responses if r.status_code == 201).json()
    head = (await client.get(f"/v1/documents/{doc}/variants/fr/revisions/2", headers=admin)).json()
    assert head["blocks"] == winner["blocks"]


async def test_history_is_paginated_newest_first(client: Client, admin: dict[str, str], seeded: Database) -> None:
    doc = await new_page(client, admin)
    for n in range(1, 8):
        body = revision(f"Visas {n}", paragraph(text(f"v{n}")), base_revision=n - 1 if n > 1 else None)
        assert (await write(client, admin, doc, "fr", body)).status_code == 201

    seen: list[int] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/v1/documents/{doc}/variants/fr/revisions", params=params, headers=admin)).json()
        seen += [item["number"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]


async def test_diff_reports_added_removed_moved_and_changed_blocks_with_word_changes(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await new_page(client, admin)
    v1 = revision(
        "Visas",
        paragraph(text("The office opens at nine."), block_id="a"),
        paragraph(text("Bring your passport."), block_id="b"),
        paragraph(text("Old note."), block_id="c"),
        paragraph(text("Contact us."), block_id="d"),
    )
    v2 = revision(
        "Visas and passports",
        paragraph(text("Contact us."), block_id="d"),
        paragraph(text("The office opens at ten."), block_id="a"),
        paragraph(text("Bring your passport."), block_id="b"),
        paragraph(text("New note."), block_id="e"),
        base_revision=1,
    )
    assert (await write(client, admin, doc, "fr", v1)).status_code == 201
    assert (await write(client, admin, doc, "fr", v2)).status_code == 201

    diff = (await client.get(f"/v1/documents/{doc}/variants/fr/diff?from=1&to=2", headers=admin)).json()
    by_id = {change["block_id"]: change for change in diff["blocks"]}
    assert by_id["e"]["change"] == "added"
    assert by_id["c"]["change"] == "removed"
    assert by_id["d"]["change"] == "moved"
    assert by_id["a"]["change"] == "changed"
    assert {"op": "delete", "text": "nine."} in by_id["a"]["words"]
    assert {"op": "insert", "text": "ten."} in by_id["a"]["words"]
    assert "b" not in by_id
    assert diff["unchanged_blocks"] == 1
    assert diff["title_changed"] is True


async def test_publish_unpublish_and_revert(client: Client, admin: dict[str, str], seeded: Database) -> None:
    doc = await new_page(client, admin)
    await write(client, admin, doc, "fr", revision("Visas", paragraph(text("un"))))
    await write(client, admin, doc, "fr", revision("Visas", paragraph(text("deux")), base_revision=1))

    published = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 1}, headers=admin)
    assert published.status_code == 200
    assert published.json()["published_revision"] == 1
    document = (await client.get(f"/v1/documents/{doc}", headers=admin)).json()
    assert document["variants"][0]["head_revision"] == 2
    assert document["variants"][0]["published_revision"] == 1

    reverted = await client.post(
        f"/v1/documents/{doc}/variants/fr/revert", json={"revision": 1, "base_revision": 2}, headers=admin
    )
    assert reverted.status_code == 201
    assert reverted.json()["number"] == 3
    assert reverted.json()["blocks"][0]["content"][0]["text"] == "un"
    first = (await client.get(f"/v1/documents/{doc}/variants/fr/revisions/1", headers=admin)).json()
    assert first["blocks"] == reverted.json()["blocks"], "a revert copies, it never edits a revision"

    unpublished = await client.post(f"/v1/documents/{doc}/variants/fr/unpublish", headers=admin)
    assert unpublished.json()["published_revision"] is None
    missing = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 9}, headers=admin)
    assert missing.status_code == 404


async def test_translation_names_the_source_revision_it_translates(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await new_page(client, admin)
    await write(client, admin, doc, "fr", revision("Visas", paragraph(text("Bonjour "), fact("network.embassy_count"))))
    translated = await write(
        client,
        admin,
        doc,
        "en",
        revision("Visas", paragraph(text("Hello "), fact("network.embassy_count")), source_revision=1),
    )
    assert translated.status_code == 201
    assert translated.json()["source_revision"] == 1
    assert translated.json()["locale"] == "en"


async def test_a_refused_write_changes_nothing(
    client: Client, admin: dict[str, str], db: Database, seeded: Database
) -> None:
    doc = await new_page(client, admin)
    await write(client, admin, doc, "fr", revision("Visas", paragraph(text("un"))))
    before = await dump(db)
    stale = await write(client, admin, doc, "fr", revision("Visas", paragraph(text("x")), base_revision=7))
    assert stale.status_code == 409
    assert await dump(db) == before


async def test_a_write_that_repeats_the_head_writes_nothing_and_answers_the_head(
    client: Client, admin: dict[str, str], db: Database, seeded: Database
) -> None:
    doc = await new_page(client, admin)
    content = paragraph(text("un "), fact("network.embassy_count"))
    first = await write(client, admin, doc, "fr", revision("Visas", content))
    assert first.status_code == 201, first.text
    head = first.json()
    before = await dump(db)

    # The head as read back (block ids included), the body as first sent (no ids), another message, If-Match.
    repeats = [
        ({"title": "Visas", "blocks": head["blocks"], "base_revision": 1}, {}),
        (revision("Visas", content, base_revision=1, message="Again"), {}),
        (revision("Visas", content), {"If-Match": '"r1"'}),
    ]
    for body, headers in repeats:
        again = await client.post(f"/v1/documents/{doc}/variants/fr/revisions", json=body, headers={**admin, **headers})
        assert again.status_code == 200, again.text
        assert again.json() == head
        assert again.headers["etag"] == '"r1"'
    reverted = await client.post(
        f"/v1/documents/{doc}/variants/fr/revert", json={"revision": 1, "base_revision": 1}, headers=admin
    )
    assert reverted.status_code == 200, reverted.text
    assert reverted.json() == head
    assert await dump(db) == before, "no revision, no outbox row, nothing"

    # The base is still checked; and any change, a new block id included, is a revision.
    stale = await write(client, admin, doc, "fr", revision("Visas", content, base_revision=7))
    assert stale.status_code == 409
    renamed = {**head["blocks"][0], "id": "renamed"}
    moved = await write(client, admin, doc, "fr", {"title": "Visas", "blocks": [renamed], "base_revision": 1})
    assert (moved.status_code, moved.json()["number"]) == (201, 2)

    # A translation with the same text that names a newer source revision says something new.
    english = paragraph(text("one "), fact("network.embassy_count"))
    assert (await write(client, admin, doc, "en", revision("Visas", english, source_revision=1))).status_code == 201
    newer = await write(client, admin, doc, "en", revision("Visas", english, source_revision=2, base_revision=1))
    assert (newer.status_code, newer.json()["number"]) == (201, 2)
    same = await write(client, admin, doc, "en", revision("Visas", english, source_revision=2, base_revision=2))
    assert (same.status_code, same.json()["number"]) == (200, 2)
