"""A document's activity: who wrote, reverted, imported, published or unpublished what, and when.

The rows are written by the use cases that make those changes (`revisions.py`, and the
translation import through it), inside the change's own transaction: a refused or rolled-back
change leaves none, and every committed change has one.
"""

from __future__ import annotations

from typing import cast

from schemas.documents import ActivityKind, ActivityOut, ActivityPage
from services.content.domain.access import Action, Principal
from services.content.storage.database import Database
from services.content.usecases.documents import checked_locale, load_document


async def document_activity(
    db: Database,
    principal: Principal,
    document_id: int,
    cursor: int | None = None,
    limit: int = 50,
    locale: str | None = None,
) -> ActivityPage:
    """A page of a document's activity, newest first (one locale's only, with ``locale``); needs READ_DRAFTS."""
    async with db.reading() as repo:
        document, site = await load_document(repo, document_id, principal)
        principal.require(Action.READ_DRAFTS, site=site.key if site else None)
        wanted = checked_locale(locale, site) if locale is not None else None
        rows = await repo.activity(document.id, cursor, limit + 1, wanted)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        ActivityOut(
            id=row.id,
            document_id=row.document_id,
            locale=row.locale,
            kind=cast(ActivityKind, row.kind),
            revision=row.revision,
            author=row.author,
            message=row.message,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return ActivityPage(items=items, next_cursor=items[-1].id if more and items else None)


__all__ = ["document_activity"]
