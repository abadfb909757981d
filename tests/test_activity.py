"""A document's activity: one row per change, written in the change's transaction, newest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.documents import PublishRequest
from services.content.domain.access import Principal
from services.content.storage.database import Database
from services.content.storage.repository import RenderKey, Repository
from services.content.usecases import revisions
from services.content.usecases.activity import document_activity
from tests.conftest import TokenFactory
from tests.helpers import fact, page_id, paragraph, revision, text
from tests.test_translation_files import XLIFF_TYPE, export, filled_xliff, upload

Client = AsyncTestClient[Litestar]
SITE = "in-new-delhi"


async def activity(client: Client, headers: dict[str, str], doc: int, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/documents/{doc}/activity", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def all_activity(client: Client, headers: dict[str, str], doc: int) -> list[dict[str, Any]]:
    return list((await activity(client, headers, doc, limit=200))["items"])


async def head(client: Client, headers: dict[str, str], doc: int, locale: str) -> int:
    response = await client.get(f"/v1/documents/{doc}", headers=headers)
    number: int = next(v["head_revision"] for v in response.json()["variants"] if v["locale"] == locale)
    return number


async def test_each_kind_of_change_is_listed_with_who_when_and_message(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    doc = await page_id(seeded, SITE)
    editor = await make_token("editor", sites=[SITE], name="Amélie (editor)")
    translator = await make_token("translator", sites=[SITE], locales=["en"], name="Tom (translator)")
    seed = await all_activity(client, editor, doc)
    # The demo loader goes through the same use cases: its revisions and publications are there.
    assert {(row["kind"], row["author"]) for row in seed} == {("revision", "liaison seed"), ("publish", "liaison seed")}
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    base = await head(client, editor, doc, "fr")
    body = revision("Service", paragraph(text("Nouveau texte")), message="Shorter intro", base_revision=base)
    response = await client.post(f"/v1/documents/{doc}/variants/fr/revisions", json=body, headers=editor)
    assert response.status_code == 201, response.text
    written = response.json()["number"]
    response = await client.post(
        f"/v1/documents/{doc}/variants/fr/revert", json={"revision": base, "base_revision": written}, headers=editor
    )
    assert response.status_code == 201, response.text
    reverted = response.json()["number"]
    response = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": written}, headers=editor)
    assert response.status_code == 200, response.text
    live_en = await head(client, editor, doc, "en")
    response = await client.post(f"/v1/documents/{doc}/variants/en/unpublish", headers=editor)
    assert response.status_code == 200, response.text
    response = await upload(
        client, translator, doc, filled_xliff(await export(client, translator, doc, "xliff")), XLIFF_TYPE
    )
    assert response.status_code == 201, response.text
    imported = response.json()

    rows = await all_activity(client, editor, doc)
    new = rows[: len(rows) - len(seed)]
    assert rows[len(new) :] == seed
    assert [(r["kind"], r["locale"], r["revision"], r["author"], r["message"]) for r in new] == [
        ("import", "en", imported["number"], "Tom (translator)", imported["message"]),
        ("unpublish", "en", live_en, "Amélie (editor)", ""),
        ("publish", "fr", written, "Amélie (editor)", ""),
        ("revert", "fr", reverted, "Amélie (editor)", f"Revert to revision {base}"),
        ("revision", "fr", written, "Amélie (editor)", "Shorter intro"),
    ]
    assert imported["message"].startswith("Imported from a XLIFF file")
    times = [dt.datetime.fromisoformat(r["created_at"]) for r in new]
    assert times == sorted(times, reverse=True)
    assert all(started <= t <= dt.datetime.now(dt.UTC) for t in times)
    assert all(r["document_id"] == doc for r in rows)
    assert [r["kind"] for r in (await activity(client, editor, doc, locale="en", limit=200))["items"]][:2] == [
        "import",
        "unpublish",
    ]


async def test_the_list_is_paged_newest_first_with_a_cursor(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, SITE)
    for index in range(5):
        body = revision(
            f"Title {index}", paragraph(text(f"Text {index}")), base_revision=await head(client, admin, doc, "fr")
        )
        response = await client.post(f"/v1/documents/{doc}/variants/fr/revisions", json=body, headers=admin)
        assert response.status_code == 201, response.text
    everything = await all_activity(client, admin, doc)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await activity(client, admin, doc, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert [r["id"] for r in seen] == sorted((r["id"] for r in seen), reverse=True)
    response = await client.get(f"/v1/documents/{doc}/activity", params={"limit": 0}, headers=admin)
    assert response.status_code == 400


async def test_a_refused_or_repeated_write_leaves_no_row(
    client: Client, admin: dict[str, str], make_token: TokenFactory, seeded: Database
) -> None:
    doc = await page_id(seeded, SITE)
    before = await all_activity(client, admin, doc)
    base = await head(client, admin, doc, "fr")
    current = (await client.get(f"/v1/documents/{doc}/variants/fr/revisions/{base}", headers=admin)).json()
    reader = await make_token("reader", sites=[SITE], name="reader")
    attempts = [
        (admin, "revisions", revision("T", paragraph(text("x")), base_revision=base - 1 if base > 1 else 99), 409),
        (admin, "revisions", revision("T", paragraph(fact("no.such.fact")), base_revision=base), 422),
        (admin, "revisions", revision("T", paragraph(text("x"))), 428),
        (reader, "revisions", revision("T", paragraph(text("x")), base_revision=base), 403),
        (reader, "publish", {"revision": base}, 403),
        (admin, "publish", {"revision": 9999}, 404),
        (admin, "revert", {"revision": 9999, "base_revision": base}, 404),
        # The head's own content again: nothing written, so nothing to list.
        (admin, "revisions", {"title": current["title"], "blocks": current["blocks"], "base_revision": base}, 200),
        (admin, "revert", {"revision": base, "base_revision": base}, 200),
    ]
    for headers, action, body, status in attempts:
        response = await client.post(f"/v1/documents/{doc}/variants/fr/{action}", json=body, headers=headers)
        assert response.status_code == status, (action, body, response.text)
    assert await all_activity(client, admin, doc) == before


async def test_a_change_rolled_back_after_its_row_was_written_leaves_no_row(seeded: Database) -> None:
    doc = await page_id(seeded, SITE)
    system = Principal.system("tester")
    before = await document_activity(seeded, system, doc, limit=200)

    async def failing_stamper(repo: Repository, keys: Sequence[RenderKey]) -> dict[RenderKey, str]:
        # Runs inside the transaction after the use case wrote everything, just before the commit.
        raise RuntimeError("the commit did not happen")

    seeded.stamp_etags_with(failing_stamper)
    with pytest.raises(RuntimeError, match="did not happen"):
        await revisions.publish(seeded, system, doc, "fr", PublishRequest(revision=1))
    with pytest.raises(RuntimeError, match="did not happen"):
        await revisions.unpublish(seeded, system, doc, "en")
    assert await document_activity(seeded, system, doc, limit=200) == before


async def test_who_may_read_the_activity(client: Client, make_token: TokenFactory, seeded: Database) -> None:
    doc = await page_id(seeded, SITE)
    reader = await make_token("reader", sites=[SITE], name="reader")
    assert (await activity(client, reader, doc))["items"]
    assert (await client.get(f"/v1/documents/{doc}/activity")).status_code == 401
    elsewhere = await make_token("admin", sites=["np-kathmandu"], name="elsewhere")
    hidden = await client.get(f"/v1/documents/{doc}/activity", headers=elsewhere)
    missing = await client.get("/v1/documents/999999/activity", headers=elsewhere)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("999999", str(doc))
    assert (
        await client.get(f"/v1/documents/{doc}/activity", params={"locale": "xx-!"}, headers=reader)
    ).status_code == 400
