"""Use cases about revisions: write, read, history, diff, publish, unpublish, revert.

Every write to an existing variant names its base revision; the compare-and-set
on the variant's head makes exactly one of several concurrent writers win. A write whose
content (title, blocks and source revision) is the head's writes nothing: its answer is the
head, with ``created`` false.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from schemas.blocks import Block
from schemas.diffs import RevisionDiff
from schemas.documents import (
    ActivityKind,
    PublicationOut,
    PublishRequest,
    RevertRequest,
    RevisionCreate,
    RevisionOut,
    RevisionPage,
)
from services.content.domain.access import Action, Principal
from services.content.domain.content import references, same_blocks, with_block_ids
from services.content.domain.diff import diff_revisions
from services.content.domain.errors import (
    BaseRequired,
    FragmentCycle,
    InvalidContent,
    NotFound,
    StaleBase,
    UnknownFact,
    UnknownFragment,
)
from services.content.domain.facts import GLOBAL_SCOPE
from services.content.domain.fragments import find_cycle
from services.content.domain.messages import N_, Message
from services.content.domain.model import Document, EntityTag, Revision, Site, Variant, revision_etag
from services.content.domain.rebase import rebase_blocks, rebase_title
from services.content.storage.database import Database
from services.content.storage.repository import Repository, now
from services.content.usecases import changes
from services.content.usecases.documents import checked_locale, load_document
from services.content.usecases.presenters import revision_out, revision_summary


class Written(msgspec.Struct, frozen=True):
    """A write's answer: the variant's head, and whether this write created it.

    ``created`` is false when the head already held that content: nothing was written.
    """

    revision: RevisionOut
    created: bool


class _Draft:
    """A revision about to be written: what the editor sent, plus the server's checks."""

    def __init__(self, title: str, blocks: Sequence[Block], message: str, source_revision: int | None) -> None:
        self.title = title
        self.sent = list(blocks)
        self.blocks = with_block_ids(blocks)
        self.message = message
        self.source_revision = source_revision

    def same_as(self, revision: Revision) -> bool:
        """Whether writing this draft would repeat ``revision`` (the message aside)."""
        return (
            self.title == revision.title
            and self.source_revision == revision.source_revision
            and same_blocks(self.sent, revision.blocks)
        )


def _head_context(variant: Variant) -> dict[str, object]:
    return {"current": {"revision": variant.head_revision, "etag": revision_etag(variant.head_revision)}}


async def check_references(repo: Repository, document: Document, site: Site | None, blocks: Sequence[Block]) -> None:
    """Unknown facts, unknown or non-fragment includes and include cycles are refused."""
    refs = references(blocks)
    if refs.facts:
        # A page sees its site's facts and global ones; a fragment may name a key
        # of any scope, resolved against the including page's site at render time.
        scopes = [site.key, GLOBAL_SCOPE] if site is not None else None
        known = await repo.existing_fact_keys(refs.facts, scopes)
        for key, path in refs.facts.items():
            if key not in known:
                where = Message(N_("site '{site}' or global"), site=site.key) if site else Message(N_("any scope"))
                raise UnknownFact(
                    Message(N_("{path}: no fact '{key}' in {where}"), path=path, key=key, where=where), key=key
                )
    for key, path in refs.fragments.items():
        if await repo.fragment(key) is None:
            raise UnknownFragment(Message(N_("{path}: no fragment '{key}'"), path=path, key=key), key=key)
    if refs.fragments and document.is_fragment and document.key is not None:
        graph = await repo.fragment_include_graph()
        cycle = find_cycle(document.key, refs.fragments, lambda key: graph.get(key, ()))
        if cycle:
            raise FragmentCycle(
                Message(
                    N_("{path}: including '{key}' makes a cycle: {cycle}"),
                    path=refs.fragments[cycle[1]],
                    key=cycle[1],
                    cycle=" -> ".join(cycle),
                ),
                cycle=cycle,
            )


async def _write(
    db: Database,
    principal: Principal,
    document_id: int,
    locale_tag: str,
    base: int | None,
    draft_of: RevisionCreate | int,
    message: str,
    if_match: EntityTag | None = None,
    kind: ActivityKind = "revision",
) -> Written:
    async with db.transaction() as repo:
        document, site = await load_document(repo, document_id, principal)
        locale = checked_locale(locale_tag, site)
        site_key = site.key if site else None
        is_translation = locale != document.source_locale
        principal.require(
            Action.WRITE_TRANSLATION if is_translation else Action.WRITE_SOURCE, site=site_key, locale=locale
        )
        if isinstance(draft_of, int):
            # A revert brings any past state of the variant back: an editor's power, in a translation too.
            principal.require(Action.REVERT, site=site_key, locale=locale)
        variant = await repo.variant(document.id, locale)
        if variant is not None and if_match is not None and if_match.weak:
            raise StaleBase(
                Message(
                    N_("If-Match: {etag} is a weak ETag, which never matches (RFC 9110, 13.1.1); send {strong}"),
                    etag=f"W/{revision_etag(if_match.number)}",
                    strong=revision_etag(variant.head_revision),
                ),
                **_head_context(variant),
            )
        if variant is not None and base is None:
            raise BaseRequired(
                Message(
                    N_("variant {locale} exists: send 'base_revision' or If-Match with the head's ETag"), locale=locale
                ),
                **_head_context(variant),
            )
        if variant is not None and base != variant.head_revision:
            raise StaleBase(
                Message(
                    N_("base revision {base} is not the head; the head is revision {head}"),
                    base=base,
                    head=variant.head_revision,
                ),
                **_head_context(variant),
            )
        if variant is None and base is not None:
            raise StaleBase(
                Message(
                    N_("base revision {base} does not exist: variant {locale} has no revision yet"),
                    base=base,
                    locale=locale,
                ),
                current=None,
            )

        if isinstance(draft_of, int):
            old = await repo.revision(variant.id, draft_of) if variant else None
            if old is None:
                raise NotFound(
                    Message(
                        N_("{field}: variant {locale} has no revision {number}"),
                        field="$.revision",
                        locale=locale,
                        number=draft_of,
                    )
                )
            draft = _Draft(old.title, old.blocks, message, old.source_revision)
        else:
            draft = _Draft(draft_of.title, draft_of.blocks, message, draft_of.source_revision)

        if is_translation:
            if draft.source_revision is None:
                raise InvalidContent(
                    Message(
                        N_(
                            "$.source_revision: a {locale} revision translates the {source} source: "
                            "name the source revision it translates"
                        ),
                        locale=locale,
                        source=document.source_locale,
                    )
                )
            source = await repo.variant(document.id, document.source_locale)
            if source is None or not 1 <= draft.source_revision <= source.head_revision:
                raise InvalidContent(
                    Message(
                        N_("$.source_revision: the {source} source has no revision {number}"),
                        source=document.source_locale,
                        number=draft.source_revision,
                    )
                )
        elif draft.source_revision is not None:
            raise InvalidContent(Message(N_("$.source_revision: only translations name a source revision")))

        if variant is not None:
            head = await repo.revision(variant.id, variant.head_revision)
            if head is not None and draft.same_as(head):
                # A repeated save or an unchanged import: no revision, no event, the head stays.
                return Written(revision_out(document.id, locale, head), created=False)

        await check_references(repo, document, site, draft.blocks)

        if variant is None:
            created = await repo.insert_variant(document.id, locale)
            if created is None:
                raise StaleBase(
                    Message(N_("variant {locale} was created by another writer"), locale=locale), current=None
                )
            variant, number = created, 1
        else:
            if not await repo.advance_head(variant.id, variant.head_revision):
                raise StaleBase(
                    Message(
                        N_("revision {number} stopped being the head during the write"), number=variant.head_revision
                    )
                )
            number = variant.head_revision + 1
        revision = await repo.insert_revision(
            variant.id,
            number,
            draft.title,
            draft.blocks,
            principal.name,
            draft.message,
            base,
            draft.source_revision,
            references(draft.blocks),
        )
        await repo.insert_activity(
            document.id, locale, "revert" if isinstance(draft_of, int) else kind, number, principal.name, draft.message
        )
    return Written(revision_out(document.id, locale, revision), created=True)


async def create_revision(
    db: Database,
    principal: Principal,
    document_id: int,
    locale: str,
    body: RevisionCreate,
    if_match: EntityTag | None,
    *,
    kind: ActivityKind = "revision",
) -> Written:
    """Write a new revision of a variant (its first one creates the variant); nothing when it repeats the head.

    ``kind`` is what the document's activity records (``import`` for a translation file).
    """
    named = if_match.number if if_match is not None else None
    base = body.base_revision if body.base_revision is not None else named
    if body.base_revision is not None and named is not None and body.base_revision != named:
        raise InvalidContent(Message(N_("$.base_revision: differs from the revision named by If-Match")))
    return await _write(db, principal, document_id, locale, base, body, body.message, if_match, kind)


async def revert(
    db: Database, principal: Principal, document_id: int, locale: str, body: RevertRequest, if_match: EntityTag | None
) -> Written:
    """Write a new revision holding the content of an older one; nothing when the head holds it already."""
    named = if_match.number if if_match is not None else None
    base = body.base_revision if body.base_revision is not None else named
    message = body.message or f"Revert to revision {body.revision}"
    return await _write(db, principal, document_id, locale, base, body.revision, message, if_match)


async def _readable_variant(
    repo: Repository, principal: Principal, document_id: int, locale_tag: str
) -> tuple[Document, Variant]:
    document, site = await load_document(repo, document_id, principal)
    locale = checked_locale(locale_tag, site)
    principal.require(Action.READ_DRAFTS, site=site.key if site else None)
    variant = await repo.variant(document.id, locale)
    if variant is None:
        raise NotFound(Message(N_("document {id} has no {locale} variant"), id=document_id, locale=locale))
    return document, variant


async def _revision(repo: Repository, variant: Variant, number: int, field: str) -> Revision:
    revision = await repo.revision(variant.id, number)
    if revision is None:
        raise NotFound(
            Message(
                N_("{field}: variant {locale} has no revision {number}"),
                field=field,
                locale=variant.locale,
                number=number,
            )
        )
    return revision


async def get_revision(db: Database, principal: Principal, document_id: int, locale: str, number: int) -> RevisionOut:
    """One revision (drafts included: needs a token)."""
    async with db.reading() as repo:
        document, variant = await _readable_variant(repo, principal, document_id, locale)
        return revision_out(document.id, variant.locale, await _revision(repo, variant, number, "revision"))


async def history(
    db: Database, principal: Principal, document_id: int, locale: str, cursor: int | None, limit: int
) -> RevisionPage:
    """A page of the variant's history, newest first."""
    async with db.reading() as repo:
        _, variant = await _readable_variant(repo, principal, document_id, locale)
        items = await repo.history(variant.id, cursor, limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return RevisionPage(
        items=[revision_summary(r, variant.published_revision) for r in items],
        next_cursor=items[-1].number if more else None,
    )


async def diff(
    db: Database, principal: Principal, document_id: int, locale: str, from_number: int, to_number: int
) -> RevisionDiff:
    """What changed from one revision to another."""
    async with db.reading() as repo:
        _, variant = await _readable_variant(repo, principal, document_id, locale)
        old = await _revision(repo, variant, from_number, "from")
        new = await _revision(repo, variant, to_number, "to")
    return diff_revisions(old.number, old.title, old.blocks, new.number, new.title, new.blocks)


async def publish(
    db: Database, principal: Principal, document_id: int, locale_tag: str, body: PublishRequest
) -> PublicationOut:
    """Make a revision the live one. Its references are checked again: facts may have gone."""
    async with db.transaction() as repo:
        document, site = await load_document(repo, document_id, principal)
        locale = checked_locale(locale_tag, site)
        principal.require(Action.PUBLISH, site=site.key if site else None)
        variant = await repo.variant(document.id, locale)
        if variant is None:
            raise NotFound(Message(N_("document {id} has no {locale} variant"), id=document_id, locale=locale))
        revision = await _revision(repo, variant, body.revision, "$.revision")
        await check_references(repo, document, site, revision.blocks)
        published_at = now()
        await repo.set_publication(variant.id, revision.number, published_at)
        await _publication_changed(repo, document, locale, revision.number)
        await repo.insert_activity(document.id, locale, "publish", revision.number, principal.name, "")
    return PublicationOut(document.id, locale, revision.number, published_at)


async def _publication_changed(repo: Repository, document: Document, locale: str, revision: int | None) -> None:
    if document.is_fragment and document.key is not None:
        await changes.fragment_publication_changed(repo, document.key, locale, revision)
    elif document.site_key is not None and document.slug is not None:
        await changes.page_publication_changed(repo, document.id, document.site_key, document.slug, locale, revision)


async def unpublish(db: Database, principal: Principal, document_id: int, locale_tag: str) -> PublicationOut:
    """Take a variant offline; its revisions stay."""
    async with db.transaction() as repo:
        document, site = await load_document(repo, document_id, principal)
        locale = checked_locale(locale_tag, site)
        principal.require(Action.PUBLISH, site=site.key if site else None)
        variant = await repo.variant(document.id, locale)
        if variant is None:
            raise NotFound(Message(N_("document {id} has no {locale} variant"), id=document_id, locale=locale))
        await repo.set_publication(variant.id, None, None)
        if variant.published_revision is not None:
            await _publication_changed(repo, document, locale, None)
            await repo.insert_activity(document.id, locale, "unpublish", variant.published_revision, principal.name, "")
    return PublicationOut(document.id, locale, None, None)


async def rebased_edit(
    db: Database, principal: Principal, document_id: int, locale: str, body: RevisionCreate
) -> RevisionCreate:
    """``body``, an edit made on an older base, re-applied on the head (`domain/rebase.py`); nothing is written.

    Blocks the edit left as they were in its base take the head's version; the rest stay as sent.
    The answer names the head as its base, so saving it goes through unless the head moves again.
    """
    async with db.reading() as repo:
        _, variant = await _readable_variant(repo, principal, document_id, locale)
        head = await _revision(repo, variant, variant.head_revision, "head")
        if body.base_revision == head.number:
            return body
        # No base: the variant was created meanwhile; both sides' blocks are kept.
        base = await _revision(repo, variant, body.base_revision, "$.base_revision") if body.base_revision else None
    base_title, base_blocks = (base.title, base.blocks) if base is not None else ("", [])
    return msgspec.structs.replace(
        body,
        title=rebase_title(base_title, body.title, head.title),
        blocks=rebase_blocks(base_blocks, body.blocks, head.blocks),
        base_revision=head.number,
    )
