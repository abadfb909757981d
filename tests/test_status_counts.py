"""`status_counts`: the "needs attention" counts of a site in one pass, equal to the document list's own filters."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.documents import DocumentQuery, DocumentStatus
from services.content.domain.access import Principal, Role
from services.content.domain.errors import Forbidden, NotFound
from services.content.storage.database import Database
from services.content.usecases.document_list import list_documents, status_counts
from tests.helpers import page_id, paragraph, revision, text

Client = AsyncTestClient[Litestar]
DELHI = "in-new-delhi"
STATUSES: tuple[DocumentStatus, ...] = get_args(DocumentStatus)
EDITOR = Principal(token_id=1, name="counts", role=Role.EDITOR)


async def post(client: Client, admin: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body, headers=admin)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def listed_count(db: Database, status: DocumentStatus) -> int:
    count, cursor = 0, None
    while True:
        found = await list_documents(db, EDITOR, DocumentQuery(site=DELHI, kind="page", status=status, cursor=cursor))
        count += len(found.items)
        if found.next_cursor is None:
            return count
        cursor = found.next_cursor


async def test_the_counts_are_those_of_the_list_filters(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    # The seed page: a draft ahead of live, an outdated translation; a page with no translation; an unpublished one.
    seed = await page_id(seeded, DELHI)
    head = await client.get(f"/v1/documents/{seed}/variants/fr/revisions/1", headers=admin)
    body = head.json()
    await post(
        client,
        admin,
        f"/v1/documents/{seed}/variants/fr/revisions",
        {"title": body["title"] + "!", "blocks": body["blocks"], "base_revision": 1},
    )
    for slug, publish in (("counted-a", True), ("counted-b", False)):
        created = await post(
            client, admin, "/v1/documents", {"kind": "page", "site": DELHI, "slug": slug, "source_locale": "fr"}
        )
        await post(
            client, admin, f"/v1/documents/{created['id']}/variants/fr/revisions", revision(slug, paragraph(text("x")))
        )
        if publish:
            await post(client, admin, f"/v1/documents/{created['id']}/variants/fr/publish", {"revision": 1})

    counts = await status_counts(seeded, EDITOR, DELHI, STATUSES)
    assert counts == {status: await listed_count(seeded, status) for status in STATUSES}
    assert counts["draft-ahead"] == 1
    assert counts["translation-outdated"] == 1
    assert counts["translation-missing"] == 2
    assert counts["unpublished"] == 1


async def test_counts_follow_the_lists_access_rules(seeded: Database) -> None:
    scoped = Principal(token_id=2, name="nepal", role=Role.EDITOR, sites=frozenset({"np-kathmandu"}))
    with pytest.raises(Forbidden):
        await status_counts(seeded, scoped, DELHI, STATUSES)
    with pytest.raises(NotFound):
        await status_counts(seeded, EDITOR, "nowhere", STATUSES)
