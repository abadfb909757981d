"""A variant's history for review: its revisions and its activity as one timeline, and two revisions compared.

The timeline is the revision list (number, author, time, message, base and source revision,
which one is live) with the document's activity in that locale folded in: a revision row says
whether it was written, reverted to or imported, and publications and unpublications are rows
of their own. The comparison is the domain's diff (`domain/diff.py`) with the plain text of the
blocks it names, so added and removed blocks can be shown, not only counted.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.diffs import RevisionDiff
from schemas.documents import ActivityKind, DocumentOut, RevisionOut
from services.content.domain.access import Principal
from services.content.domain.content import block_text
from services.content.domain.diff import diff_revisions
from services.content.domain.locales import normalize_locale
from services.content.storage.database import Database
from services.content.usecases.activity import document_activity
from services.content.usecases.documents import get_document
from services.content.usecases.revisions import get_revision, history

TIMELINE_REVISIONS = 200
"""Revisions a timeline shows (the newest); older ones stay in the API's paged history."""

_WRITES: frozenset[ActivityKind] = frozenset({"revision", "revert", "import"})


class TimelineEntry(msgspec.Struct, frozen=True):
    """One row of the timeline: a revision (written, reverted to, imported) or a (un)publication."""

    kind: ActivityKind
    at: dt.datetime
    who: str
    message: str
    revision: int | None
    title: str = ""
    base_revision: int | None = None
    source_revision: int | None = None
    live: bool = False


class Timeline(msgspec.Struct, frozen=True):
    """A variant's timeline, newest first, with its document and head and live revision numbers."""

    document: DocumentOut
    locale: str
    head_revision: int | None
    published_revision: int | None
    entries: list[TimelineEntry]


class Comparison(msgspec.Struct, frozen=True):
    """Two revisions of a variant and the diff between them, with each side's block texts by block id."""

    old: RevisionOut
    new: RevisionOut
    diff: RevisionDiff
    old_texts: dict[str, str]
    new_texts: dict[str, str]


async def variant_timeline(db: Database, principal: Principal, document_id: int, locale: str) -> Timeline:
    """The timeline of a variant, newest first; needs READ_DRAFTS (the use cases it calls check it)."""
    document = await get_document(db, principal, document_id)
    page = await history(db, principal, document_id, locale, None, TIMELINE_REVISIONS)
    tag = normalize_locale(locale)  # valid: `history` has checked it
    variant = next(v for v in document.variants if v.locale == tag)
    activity = await document_activity(db, principal, document_id, limit=2 * TIMELINE_REVISIONS, locale=tag)
    written: dict[int, ActivityKind] = {}
    entries: list[tuple[tuple[dt.datetime, int], TimelineEntry]] = []
    for row in activity.items:
        if row.kind in _WRITES and row.revision is not None:
            written.setdefault(row.revision, row.kind)  # newest first: a revision is written once
        elif row.kind in ("publish", "unpublish"):
            entry = TimelineEntry(row.kind, row.created_at, row.author, row.message, row.revision)
            entries.append(((row.created_at, row.id), entry))
    for item in page.items:
        entry = TimelineEntry(
            kind=written.get(item.number, "revision"),
            at=item.created_at,
            who=item.author,
            message=item.message,
            revision=item.number,
            title=item.title,
            base_revision=item.base_revision,
            source_revision=item.source_revision,
            live=item.published,
        )
        entries.append(((item.created_at, -1), entry))  # a publication in the same instant comes after it
    entries.sort(key=lambda pair: pair[0], reverse=True)
    return Timeline(
        document=document,
        locale=variant.locale,
        head_revision=variant.head_revision,
        published_revision=variant.published_revision,
        entries=[entry for _, entry in entries],
    )


async def compare_revisions(
    db: Database, principal: Principal, document_id: int, locale: str, from_number: int, to_number: int
) -> Comparison:
    """Revisions ``from_number`` and ``to_number`` of a variant and what changed between them."""
    old = await get_revision(db, principal, document_id, locale, from_number)
    new = await get_revision(db, principal, document_id, locale, to_number)
    return Comparison(
        old=old,
        new=new,
        diff=diff_revisions(old.number, old.title, old.blocks, new.number, new.title, new.blocks),
        old_texts={block.id: block_text(block) for block in old.blocks if block.id},
        new_texts={block.id: block_text(block) for block in new.blocks if block.id},
    )


__all__ = ["Comparison", "Timeline", "TimelineEntry", "compare_revisions", "variant_timeline"]
