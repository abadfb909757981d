"""Queries over the content tables, returning domain records.

Every method runs inside the caller's transaction; none commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.blocks import Block
from schemas.facts import FactValue
from services.content.domain.content import References
from services.content.domain.model import (
    Activity,
    ConsoleSession,
    Document,
    Fact,
    FactVersion,
    Revision,
    Site,
    Token,
    Variant,
)
from services.content.storage.tables import (
    console_sessions,
    document_activity,
    documents,
    fact_versions,
    facts,
    outbox,
    outbox_sequences,
    revision_references,
    revisions,
    sites,
    tokens,
    variants,
)


def _blocks(raw: Any) -> list[Block]:
    return msgspec.convert(raw, list[Block])


def _fact_value(raw: Any) -> FactValue:
    value: FactValue = msgspec.convert(raw, FactValue)
    return value


def _jsonable(value: Any) -> Any:
    return msgspec.to_builtins(value)


def now() -> dt.datetime:
    """The current time, timezone-aware UTC (stored as such on every engine)."""
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _maybe_aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


_T = TypeVar("_T")
_CHUNK = 500
"""Values per IN list: well under every engine's limit on bound parameters."""


@functools.cache
def _site_status_counts() -> sa.Select[Any]:
    """The statement of `Repository.site_status_counts`, built once: building it costs more than SQLite's run."""
    head = revisions.alias("counted_head")
    source = variants.alias("counted_source")
    translation = variants.c.locale != documents.c.source_locale
    offered: sa.BindParameter[str] = sa.bindparam("locales", expanding=True)

    def flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.max(sa.case((condition, 1), else_=0))

    present = sa.func.sum(sa.case((sa.and_(translation, variants.c.locale.in_(offered)), 1), else_=0))
    wanted = sa.case(
        (documents.c.source_locale.in_(offered), sa.bindparam("others", type_=sa.Integer)),
        else_=sa.bindparam("all", type_=sa.Integer),
    )
    per_document = (
        sa.select(
            flag(variants.c.published_revision.is_not(None)).label("published"),
            flag(sa.and_(variants.c.id.is_not(None), variants.c.published_revision.is_(None))).label("unpublished"),
            flag(variants.c.head_revision > variants.c.published_revision).label("draft_ahead"),
            sa.case((sa.func.coalesce(present, 0) < sa.func.max(wanted), 1), else_=0).label("missing"),
            flag(
                sa.and_(
                    translation,
                    head.c.source_revision.is_not(None),
                    head.c.source_revision != source.c.head_revision,
                )
            ).label("source_moved"),
        )
        .select_from(
            documents.outerjoin(variants, variants.c.document_id == documents.c.id)
            .outerjoin(head, sa.and_(head.c.variant_id == variants.c.id, head.c.number == variants.c.head_revision))
            .outerjoin(
                source,
                sa.and_(source.c.document_id == documents.c.id, source.c.locale == documents.c.source_locale),
            )
        )
        .where(documents.c.site_id == sa.bindparam("site_id", type_=sa.Integer))
        .group_by(documents.c.id)
        .subquery("per_document")
    )
    return sa.select(*(sa.func.coalesce(sa.func.sum(column), 0) for column in per_document.c))


class _ListShape(NamedTuple):
    """Which of `DocumentFilter`'s conditions a list query has: its statement is built once per shape."""

    every_site: bool
    of_sites: bool
    fragments: bool
    kind: bool
    locale: bool
    publication: str | None
    source_moved: bool
    missing: int | None
    after: bool


@functools.cache
def _listed_statement(shape: _ListShape) -> sa.Select[Any]:
    """The document list's query for one shape of filter, its values bound at execution (see `DocumentFilter`)."""
    query = sa.select(documents, sites.c.key.label("site_key")).select_from(
        documents.outerjoin(sites, sites.c.id == documents.c.site_id)
    )
    visible = []
    if shape.every_site:
        visible.append(documents.c.kind == "page")
    elif shape.of_sites:
        visible.append(documents.c.site_id.in_(sa.bindparam("site_ids", expanding=True)))
    if shape.fragments:
        visible.append(documents.c.kind == "fragment")
    query = query.where(sa.or_(*visible) if visible else sa.false())
    if shape.kind:
        query = query.where(documents.c.kind == sa.bindparam("kind", type_=sa.String))
    variant = variants.alias("listed_variant")
    of_document = [variant.c.document_id == documents.c.id]
    if shape.locale:
        of_document.append(variant.c.locale == sa.bindparam("locale", type_=sa.String))
    if shape.publication == "published":
        of_document.append(variant.c.published_revision.is_not(None))
    elif shape.publication == "unpublished":
        of_document.append(variant.c.published_revision.is_(None))
    elif shape.publication == "draft-ahead":
        of_document.append(variant.c.published_revision.is_not(None))
        of_document.append(variant.c.head_revision > variant.c.published_revision)
    if shape.publication is not None:
        query = query.where(sa.exists().where(*of_document))
    if shape.source_moved:
        source = variants.alias("listed_source")
        head = revisions.alias("listed_head")
        moved = (
            sa.exists()
            .select_from(
                variant.join(
                    head, sa.and_(head.c.variant_id == variant.c.id, head.c.number == variant.c.head_revision)
                ).join(source, source.c.document_id == variant.c.document_id)
            )
            .where(*of_document)
            .where(variant.c.locale != documents.c.source_locale, source.c.locale == documents.c.source_locale)
            .where(head.c.source_revision.is_not(None), head.c.source_revision != source.c.head_revision)
        )
        query = query.where(moved)
    if shape.missing is not None:
        query = query.where(sa.or_(sa.false(), *(_missing_in(f"missing_{n}") for n in range(shape.missing))))
    if shape.after:
        query = query.where(documents.c.id > sa.bindparam("after_id", type_=sa.Integer))
    chosen = query.order_by(documents.c.id).limit(sa.bindparam("limit", type_=sa.Integer)).subquery("listed")
    head = revisions.alias("head")
    return (
        sa.select(
            chosen,
            variants.c.id.label("variant_id"),
            variants.c.locale,
            variants.c.head_revision,
            variants.c.published_revision,
            variants.c.published_at,
            head.c.title,
            head.c.source_revision,
        )
        .select_from(
            chosen.outerjoin(variants, variants.c.document_id == chosen.c.id).outerjoin(
                head, sa.and_(head.c.variant_id == variants.c.id, head.c.number == variants.c.head_revision)
            )
        )
        .order_by(chosen.c.id, variants.c.locale)
    )


def _missing_in(parameter: str) -> sa.ColumnElement[bool]:
    """No variant in the locale bound to ``parameter``, which is not the document's source locale."""
    locale = sa.bindparam(parameter, type_=sa.String)
    present = sa.exists().where(variants.c.document_id == documents.c.id, variants.c.locale == locale)
    return sa.and_(documents.c.source_locale != locale, ~present)


def _chunks(values: Sequence[_T]) -> Iterable[list[_T]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


OUTBOX_CHANNEL = "liaison_outbox"
"""PostgreSQL NOTIFY channel rung by every transaction that writes outbox rows."""


class RenderKey(msgspec.Struct, frozen=True, array_like=True):
    """One (site, page, locale) render."""

    site: str
    slug: str
    locale: str


class RenderChange(NamedTuple):
    """An outbox row reduced to what a render cache needs: which render changed, and where in its site's order."""

    sequence: int
    event_id: str
    key: RenderKey


class VariantHead(NamedTuple):
    """A variant with its head revision's title and the source revision that head translates."""

    variant: Variant
    title: str
    source_revision: int | None


class ListedDocument(NamedTuple):
    """A document of the document list, with its variants' heads (by locale)."""

    document: Document
    heads: dict[str, VariantHead]


class SiteStatusCounts(NamedTuple):
    """How many documents of a site each SQL-side list filter keeps (``source_moved``: candidates to check)."""

    published: int
    unpublished: int
    draft_ahead: int
    missing: int
    source_moved: int


class DocumentFilter(msgspec.Struct, frozen=True):
    """The SQL side of the document list's filters.

    ``site_ids`` None: pages of every site; ``fragments``: shared fragments too. ``publication``
    keeps documents with a variant (in ``locale``, when given) that is ``published`` (has a live
    revision), ``unpublished`` (has a head, no live revision) or ``draft-ahead`` (head newer than
    live); ``source_moved`` keeps documents with a translation (in ``locale``) whose head names an
    older source revision than the source's head (the text check is the caller's);
    ``missing_locales`` keeps documents with no variant in one of these locales, other than
    their source locale (a translation missing).
    """

    site_ids: list[int] | None
    fragments: bool
    kind: str | None = None
    locale: str | None = None
    publication: str | None = None
    source_moved: bool = False
    missing_locales: list[str] | None = None


class OutboxRow(msgspec.Struct, frozen=True):
    """A change event waiting for (or done with) the relay."""

    id: int
    event_id: str
    site: str
    document_id: int
    slug: str
    locale: str
    kind: str
    reason: str
    revision: int | None
    cause: str
    created_at: dt.datetime
    sequence: int | None
    etag: str | None
    relayed_at: dt.datetime | None


class Repository:
    """Data access for one transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.changed_renders: list[RenderKey] = []
        """Renders this transaction's outbox rows say changed; handed to listeners after commit."""
        self.written_events: list[str] = []
        """Event ids of the outbox rows this transaction wrote (the render each names is in ``changed_renders``,
        at the same position)."""
        self.after_commit: list[Callable[[], None]] = []
        """Called after a successful commit (after the commit listeners)."""

    # -- sites ---------------------------------------------------------------

    async def site(self, key: str) -> Site | None:
        """The site with ``key``."""
        row = (await self.conn.execute(sa.select(sites).where(sites.c.key == key))).first()
        return None if row is None else self._site(row)

    async def site_by_id(self, site_id: int) -> Site | None:
        """The site with primary key ``site_id``."""
        row = (await self.conn.execute(sa.select(sites).where(sites.c.id == site_id))).first()
        return None if row is None else self._site(row)

    async def list_sites(self) -> list[Site]:
        """All sites, by key."""
        rows = await self.conn.execute(sa.select(sites).order_by(sites.c.key))
        return [self._site(r) for r in rows]

    async def insert_site(
        self,
        key: str,
        name: str,
        locales: list[str],
        default_locale: str,
        fallback: list[str],
        country: str | None,
        website_url: str | None = None,
        page_url_pattern: str | None = None,
    ) -> Site:
        """Create a site."""
        created_at = now()
        result = await self.conn.execute(
            sa.insert(sites)
            .values(
                key=key,
                name=name,
                locales=locales,
                default_locale=default_locale,
                fallback=fallback,
                country=country,
                created_at=created_at,
                website_url=website_url,
                page_url_pattern=page_url_pattern,
            )
            .returning(sites.c.id)
        )
        return Site(
            result.scalar_one(),
            key,
            name,
            locales,
            default_locale,
            fallback,
            country,
            created_at,
            website_url,
            page_url_pattern,
        )

    async def set_site_website(self, site_id: int, website_url: str | None, page_url_pattern: str | None) -> None:
        """Replace a site's website address and page URL pattern."""
        await self.conn.execute(
            sa.update(sites)
            .where(sites.c.id == site_id)
            .values(website_url=website_url, page_url_pattern=page_url_pattern)
        )

    @staticmethod
    def _site(row: sa.Row[Any]) -> Site:
        return Site(
            id=row.id,
            key=row.key,
            name=row.name,
            locales=list(row.locales),
            default_locale=row.default_locale,
            fallback=list(row.fallback),
            country=row.country,
            created_at=_aware(row.created_at),
            website_url=row.website_url,
            page_url_pattern=row.page_url_pattern,
        )

    # -- documents -----------------------------------------------------------

    def _documents_query(self) -> sa.Select[Any]:
        return sa.select(documents, sites.c.key.label("site_key")).select_from(
            documents.outerjoin(sites, sites.c.id == documents.c.site_id)
        )

    async def document(self, document_id: int) -> Document | None:
        """The document with ``document_id``."""
        row = (await self.conn.execute(self._documents_query().where(documents.c.id == document_id))).first()
        return None if row is None else self._document(row)

    async def fragment(self, key: str) -> Document | None:
        """The fragment with ``key``."""
        query = self._documents_query().where(documents.c.key == key)
        row = (await self.conn.execute(query)).first()
        return None if row is None else self._document(row)

    async def page(self, site_id: int, slug: str) -> Document | None:
        """The page ``slug`` of a site."""
        query = self._documents_query().where(documents.c.site_id == site_id, documents.c.slug == slug)
        row = (await self.conn.execute(query)).first()
        return None if row is None else self._document(row)

    async def insert_document(
        self, kind: str, source_locale: str, site: Site | None, slug: str | None, key: str | None
    ) -> Document:
        """Create a page or fragment."""
        created_at = now()
        result = await self.conn.execute(
            sa.insert(documents)
            .values(
                kind=kind,
                site_id=site.id if site else None,
                slug=slug,
                key=key,
                source_locale=source_locale,
                created_at=created_at,
            )
            .returning(documents.c.id)
        )
        return Document(
            id=result.scalar_one(),
            kind=kind,
            site_id=site.id if site else None,
            site_key=site.key if site else None,
            slug=slug,
            key=key,
            source_locale=source_locale,
            created_at=created_at,
        )

    async def delete_document(self, document_id: int) -> None:
        """Delete a document with its variants, revisions, references and activity."""
        variant_ids = sa.select(variants.c.id).where(variants.c.document_id == document_id)
        revision_ids = sa.select(revisions.c.id).where(revisions.c.variant_id.in_(variant_ids))
        await self.conn.execute(
            sa.delete(revision_references).where(revision_references.c.revision_id.in_(revision_ids))
        )
        await self.conn.execute(sa.delete(revisions).where(revisions.c.variant_id.in_(variant_ids)))
        await self.conn.execute(sa.delete(variants).where(variants.c.document_id == document_id))
        await self.conn.execute(sa.delete(document_activity).where(document_activity.c.document_id == document_id))
        await self.conn.execute(sa.delete(documents).where(documents.c.id == document_id))

    @staticmethod
    def _document(row: sa.Row[Any]) -> Document:
        return Document(
            id=row.id,
            kind=row.kind,
            site_id=row.site_id,
            site_key=row.site_key,
            slug=row.slug,
            key=row.key,
            source_locale=row.source_locale,
            created_at=_aware(row.created_at),
        )

    # -- variants and revisions ------------------------------------------------

    async def variant(self, document_id: int, locale: str) -> Variant | None:
        """The variant of a document in ``locale``."""
        query = sa.select(variants).where(variants.c.document_id == document_id, variants.c.locale == locale)
        row = (await self.conn.execute(query)).first()
        return None if row is None else self._variant(row)

    async def variants_of(self, document_id: int) -> list[Variant]:
        """Every variant of a document, by locale."""
        query = sa.select(variants).where(variants.c.document_id == document_id).order_by(variants.c.locale)
        return [self._variant(r) for r in await self.conn.execute(query)]

    async def insert_variant(self, document_id: int, locale: str) -> Variant | None:
        """Create the variant with revision 1 as its head; None if another writer created it first."""
        try:
            async with self.conn.begin_nested():
                result = await self.conn.execute(
                    sa.insert(variants)
                    .values(document_id=document_id, locale=locale, head_revision=1)
                    .returning(variants.c.id)
                )
        except sa.exc.IntegrityError:
            return None
        return Variant(result.scalar_one(), document_id, locale, 1, None, None)

    async def advance_head(self, variant_id: int, base: int) -> bool:
        """Move the head from ``base`` to ``base + 1``; False if the head is no longer ``base``.

        This compare-and-set is what refuses the losers of a concurrent write.
        """
        result = await self.conn.execute(
            sa.update(variants)
            .where(variants.c.id == variant_id, variants.c.head_revision == base)
            .values(head_revision=base + 1)
        )
        return result.rowcount == 1

    async def set_publication(self, variant_id: int, revision: int | None, at: dt.datetime | None) -> None:
        """Point the variant's publication at ``revision`` (None: unpublished)."""
        await self.conn.execute(
            sa.update(variants).where(variants.c.id == variant_id).values(published_revision=revision, published_at=at)
        )

    async def insert_revision(
        self,
        variant_id: int,
        number: int,
        title: str,
        blocks: Sequence[Block],
        author: str,
        message: str,
        base_revision: int | None,
        source_revision: int | None,
        refs: References,
    ) -> Revision:
        """Store a new immutable revision and the references it makes."""
        created_at = now()
        result = await self.conn.execute(
            sa.insert(revisions)
            .values(
                variant_id=variant_id,
                number=number,
                title=title,
                blocks=_jsonable(list(blocks)),
                author=author,
                message=message,
                created_at=created_at,
                base_revision=base_revision,
                source_revision=source_revision,
            )
            .returning(revisions.c.id)
        )
        revision_id = result.scalar_one()
        rows = [{"revision_id": revision_id, "kind": "fact", "target": key} for key in refs.facts]
        rows += [{"revision_id": revision_id, "kind": "fragment", "target": key} for key in refs.fragments]
        if rows:
            await self.conn.execute(sa.insert(revision_references), rows)
        return Revision(
            revision_id,
            variant_id,
            number,
            title,
            list(blocks),
            author,
            message,
            created_at,
            base_revision,
            source_revision,
        )

    async def insert_activity(
        self, document_id: int, locale: str, kind: str, revision: int | None, author: str, message: str
    ) -> None:
        """Record a change to a document in its activity list (in the change's own transaction)."""
        await self.conn.execute(
            sa.insert(document_activity).values(
                document_id=document_id,
                locale=locale,
                kind=kind,
                revision=revision,
                author=author,
                message=message,
                created_at=now(),
            )
        )

    async def activity(
        self, document_id: int, before: int | None, limit: int, locale: str | None = None
    ) -> list[Activity]:
        """A document's activity newest first, with ids below ``before`` when given."""
        table = document_activity
        query = sa.select(table).where(table.c.document_id == document_id)
        if before is not None:
            query = query.where(table.c.id < before)
        if locale is not None:
            query = query.where(table.c.locale == locale)
        query = query.order_by(table.c.id.desc()).limit(limit)
        return [
            Activity(
                row.id,
                row.document_id,
                row.locale,
                row.kind,
                row.revision,
                row.author,
                row.message,
                _aware(row.created_at),
            )
            for row in await self.conn.execute(query)
        ]

    async def revision(self, variant_id: int, number: int) -> Revision | None:
        """Revision ``number`` of a variant."""
        query = sa.select(revisions).where(revisions.c.variant_id == variant_id, revisions.c.number == number)
        row = (await self.conn.execute(query)).first()
        return None if row is None else self._revision(row)

    async def history(self, variant_id: int, before: int | None, limit: int) -> list[Revision]:
        """Revisions of a variant newest first, numbered below ``before`` when given."""
        query = sa.select(revisions).where(revisions.c.variant_id == variant_id)
        if before is not None:
            query = query.where(revisions.c.number < before)
        query = query.order_by(revisions.c.number.desc()).limit(limit)
        return [self._revision(r) for r in await self.conn.execute(query)]

    @staticmethod
    def _variant(row: sa.Row[Any]) -> Variant:
        return Variant(
            row.id,
            row.document_id,
            row.locale,
            row.head_revision,
            row.published_revision,
            _maybe_aware(row.published_at),
        )

    @staticmethod
    def _revision(row: sa.Row[Any]) -> Revision:
        return Revision(
            id=row.id,
            variant_id=row.variant_id,
            number=row.number,
            title=row.title,
            blocks=_blocks(row.blocks),
            author=row.author,
            message=row.message,
            created_at=_aware(row.created_at),
            base_revision=row.base_revision,
            source_revision=row.source_revision,
        )

    # -- references --------------------------------------------------------------

    async def fragment_include_graph(self) -> dict[str, set[str]]:
        """Fragment key -> fragment keys included by the head revision of any of its variants."""
        query = (
            sa.select(documents.c.key, revision_references.c.target)
            .select_from(
                documents.join(variants, variants.c.document_id == documents.c.id)
                .join(
                    revisions,
                    sa.and_(revisions.c.variant_id == variants.c.id, revisions.c.number == variants.c.head_revision),
                )
                .join(revision_references, revision_references.c.revision_id == revisions.c.id)
            )
            .where(documents.c.kind == "fragment", revision_references.c.kind == "fragment")
        )
        graph: dict[str, set[str]] = defaultdict(set)
        for key, target in await self.conn.execute(query):
            graph[key].add(target)
        return graph

    async def published_referrers(self, kind: str, target: str) -> list[dict[str, Any]]:
        """Published variants whose live revision references ``target`` (a fact or fragment key)."""
        query = (
            sa.select(
                documents.c.id,
                documents.c.kind,
                documents.c.slug,
                documents.c.key,
                sites.c.key.label("site"),
                variants.c.locale,
                revisions.c.number,
            )
            .select_from(
                revision_references.join(revisions, revisions.c.id == revision_references.c.revision_id)
                .join(
                    variants,
                    sa.and_(
                        variants.c.id == revisions.c.variant_id, variants.c.published_revision == revisions.c.number
                    ),
                )
                .join(documents, documents.c.id == variants.c.document_id)
                .outerjoin(sites, sites.c.id == documents.c.site_id)
            )
            .where(revision_references.c.kind == kind, revision_references.c.target == target)
            .order_by(documents.c.id, variants.c.locale)
        )
        return [
            {
                "document_id": r.id,
                "kind": r.kind,
                "site": r.site,
                "slug": r.slug,
                "key": r.key,
                "locale": r.locale,
                "revision": r.number,
            }
            for r in await self.conn.execute(query)
        ]

    # -- facts -------------------------------------------------------------------

    def _facts_query(self) -> sa.Select[Any]:
        return sa.select(facts, fact_versions.c.value).select_from(
            facts.join(
                fact_versions,
                sa.and_(fact_versions.c.fact_id == facts.c.id, fact_versions.c.version == facts.c.head_version),
            )
        )

    async def fact(self, scope: str, key: str) -> Fact | None:
        """The fact ``key`` of ``scope`` with its current value."""
        row = (await self.conn.execute(self._facts_query().where(facts.c.scope == scope, facts.c.key == key))).first()
        return None if row is None else self._fact(row)

    async def list_facts(self, scope: str | None) -> list[Fact]:
        """Facts of one scope (or all), by scope and key."""
        query = self._facts_query().order_by(facts.c.scope, facts.c.key)
        if scope is not None:
            query = query.where(facts.c.scope == scope)
        return [self._fact(r) for r in await self.conn.execute(query)]

    async def existing_fact_keys(self, keys: Iterable[str], scopes: Sequence[str] | None) -> set[str]:
        """Which of ``keys`` exist in one of ``scopes`` (None: in any scope)."""
        query = sa.select(facts.c.key).where(facts.c.key.in_(list(keys)))
        if scopes is not None:
            query = query.where(facts.c.scope.in_(list(scopes)))
        return {row.key for row in await self.conn.execute(query)}

    async def insert_fact(self, key: str, scope: str, value: FactValue, author: str, message: str) -> Fact | None:
        """Create a fact with version 1; None if the key is taken in that scope."""
        created_at = now()
        value_type = type(value).__struct_config__.tag
        try:
            async with self.conn.begin_nested():
                result = await self.conn.execute(
                    sa.insert(facts)
                    .values(
                        key=key,
                        scope=scope,
                        type=value_type,
                        head_version=1,
                        created_at=created_at,
                        updated_at=created_at,
                    )
                    .returning(facts.c.id)
                )
        except sa.exc.IntegrityError:
            return None
        fact_id = result.scalar_one()
        await self._insert_fact_version(fact_id, 1, value, author, message, created_at)
        return Fact(fact_id, key, scope, str(value_type), 1, value, created_at, created_at)

    async def advance_fact(self, fact: Fact, base: int, value: FactValue, author: str, message: str) -> Fact | None:
        """Store version ``base + 1``; None if the fact's head is no longer ``base``."""
        updated_at = now()
        result = await self.conn.execute(
            sa.update(facts)
            .where(facts.c.id == fact.id, facts.c.head_version == base)
            .values(head_version=base + 1, updated_at=updated_at)
        )
        if result.rowcount != 1:
            return None
        await self._insert_fact_version(fact.id, base + 1, value, author, message, updated_at)
        return msgspec.structs.replace(fact, version=base + 1, value=value, updated_at=updated_at)

    async def _insert_fact_version(
        self, fact_id: int, version: int, value: FactValue, author: str, message: str, at: dt.datetime
    ) -> None:
        await self.conn.execute(
            sa.insert(fact_versions).values(
                fact_id=fact_id, version=version, value=_jsonable(value), author=author, message=message, created_at=at
            )
        )

    async def fact_history(self, fact_id: int) -> list[FactVersion]:
        """Every version of a fact, newest first."""
        query = (
            sa.select(fact_versions).where(fact_versions.c.fact_id == fact_id).order_by(fact_versions.c.version.desc())
        )
        return [
            FactVersion(r.version, _fact_value(r.value), r.author, r.message, _aware(r.created_at))
            for r in await self.conn.execute(query)
        ]

    async def delete_fact(self, fact_id: int) -> None:
        """Delete a fact and its versions."""
        await self.conn.execute(sa.delete(fact_versions).where(fact_versions.c.fact_id == fact_id))
        await self.conn.execute(sa.delete(facts).where(facts.c.id == fact_id))

    @staticmethod
    def _fact(row: sa.Row[Any]) -> Fact:
        return Fact(
            id=row.id,
            key=row.key,
            scope=row.scope,
            type=row.type,
            version=row.head_version,
            value=_fact_value(row.value),
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
        )

    # -- tokens ------------------------------------------------------------------

    async def insert_token(
        self, name: str, secret_hash: str, role: str, sites_: list[str] | None, locales: list[str] | None
    ) -> Token:
        """Store a token by the hash of its secret."""
        created_at = now()
        result = await self.conn.execute(
            sa.insert(tokens)
            .values(name=name, secret_hash=secret_hash, role=role, sites=sites_, locales=locales, created_at=created_at)
            .returning(tokens.c.id)
        )
        return Token(result.scalar_one(), name, role, sites_, locales, created_at, None)

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        """The live (not revoked) token whose secret hashes to ``secret_hash``."""
        query = sa.select(tokens).where(tokens.c.secret_hash == secret_hash, tokens.c.revoked_at.is_(None))
        row = (await self.conn.execute(query)).first()
        return None if row is None else self._token(row)

    async def list_tokens(self) -> list[Token]:
        """Every token, revoked ones included."""
        return [self._token(r) for r in await self.conn.execute(sa.select(tokens).order_by(tokens.c.id))]

    async def revoke_token(self, token_id: int) -> bool:
        """Mark a token revoked; False if there is no such live token."""
        result = await self.conn.execute(
            sa.update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now())
        )
        return result.rowcount == 1

    @staticmethod
    def _token(row: sa.Row[Any]) -> Token:
        return Token(
            row.id, row.name, row.role, row.sites, row.locales, _aware(row.created_at), _maybe_aware(row.revoked_at)
        )

    # -- console sessions --------------------------------------------------------

    async def insert_console_session(self, id_hash: str, token_id: int, at: dt.datetime) -> None:
        """Store a console session by the hash of its id."""
        await self.conn.execute(
            sa.insert(console_sessions).values(id_hash=id_hash, token_id=token_id, created_at=at, last_seen_at=at)
        )

    async def console_session(self, id_hash: str) -> ConsoleSession | None:
        """The console session whose id hashes to ``id_hash``."""
        row = (
            await self.conn.execute(sa.select(console_sessions).where(console_sessions.c.id_hash == id_hash))
        ).first()
        if row is None:
            return None
        return ConsoleSession(row.token_id, _aware(row.created_at), _aware(row.last_seen_at))

    async def touch_console_session(self, id_hash: str, at: dt.datetime) -> None:
        """Record that a console session was used at ``at``."""
        await self.conn.execute(
            sa.update(console_sessions).where(console_sessions.c.id_hash == id_hash).values(last_seen_at=at)
        )

    async def delete_console_session(self, id_hash: str) -> bool:
        """Delete a console session; False if there was none."""
        result = await self.conn.execute(sa.delete(console_sessions).where(console_sessions.c.id_hash == id_hash))
        return result.rowcount == 1

    async def delete_idle_console_sessions(self, seen_before: dt.datetime) -> int:
        """Delete every console session last used before ``seen_before``; how many went."""
        result = await self.conn.execute(
            sa.delete(console_sessions).where(console_sessions.c.last_seen_at < seen_before)
        )
        return result.rowcount

    async def token(self, token_id: int) -> Token | None:
        """The live (not revoked) token ``token_id``."""
        query = sa.select(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        row = (await self.conn.execute(query)).first()
        return None if row is None else self._token(row)

    # -- published pages and the render graph --------------------------------------

    @staticmethod
    def _live_references() -> sa.Join:
        """Join from references to their revision, its variant (only if that revision is live) and document."""
        live = sa.and_(variants.c.id == revisions.c.variant_id, variants.c.published_revision == revisions.c.number)
        return (
            revision_references.join(revisions, revisions.c.id == revision_references.c.revision_id)
            .join(variants, live)
            .join(documents, documents.c.id == variants.c.document_id)
        )

    async def published_pages_referencing(self, kind: str, targets: Iterable[str]) -> list[tuple[int, str, str]]:
        """(document id, site key, slug) of pages whose live revision in some locale references a target."""
        query = (
            sa.select(documents.c.id, sites.c.key, documents.c.slug)
            .distinct()
            .select_from(self._live_references().join(sites, sites.c.id == documents.c.site_id))
            .where(revision_references.c.kind == kind, revision_references.c.target.in_(list(targets)))
            .where(documents.c.kind == "page")
        )
        return [(r[0], r[1], r[2]) for r in await self.conn.execute(query)]

    async def fragments_referencing(self, kind: str, targets: Iterable[str]) -> set[str]:
        """Keys of fragments whose live revision in some locale references a target."""
        query = (
            sa.select(documents.c.key)
            .distinct()
            .select_from(self._live_references())
            .where(revision_references.c.kind == kind, revision_references.c.target.in_(list(targets)))
            .where(documents.c.kind == "fragment")
        )
        return {r[0] for r in await self.conn.execute(query)}

    async def published_pages(self, site_id: int, after_id: int | None, limit: int) -> list[Document]:
        """Pages of a site with at least one live variant, by id."""
        live = sa.select(variants.c.document_id).where(variants.c.published_revision.is_not(None))
        query = (
            self._documents_query()
            .where(documents.c.site_id == site_id, documents.c.kind == "page", documents.c.id.in_(live))
            .order_by(documents.c.id)
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(documents.c.id > after_id)
        return [self._document(r) for r in await self.conn.execute(query)]

    # -- the document list ------------------------------------------------------------

    async def site_status_counts(self, site_id: int, locales: Sequence[str]) -> SiteStatusCounts:
        """How many documents of a site are in each list state, in one pass over its variants.

        The rules of `DocumentFilter` for the site's documents (``site_ids=[site_id]``):
        ``publication``, ``missing_locales=locales`` and ``source_moved``.
        """
        params = {"site_id": site_id, "locales": list(locales), "others": len(locales) - 1, "all": len(locales)}
        row = (await self.conn.execute(_site_status_counts(), params)).one()
        return SiteStatusCounts(*(int(value) for value in row))

    async def listed_documents(self, wanted: DocumentFilter, after_id: int | None, limit: int) -> list[ListedDocument]:
        """Up to ``limit`` documents matching ``wanted``, by id after ``after_id``, with their variants' heads.

        One query: the documents, their variants and each head's title and source revision.
        """
        shape = _ListShape(
            every_site=wanted.site_ids is None,
            of_sites=bool(wanted.site_ids),
            fragments=wanted.fragments,
            kind=wanted.kind is not None,
            locale=wanted.locale is not None,
            publication=wanted.publication,
            source_moved=wanted.source_moved,
            missing=None if wanted.missing_locales is None else len(wanted.missing_locales),
            after=after_id is not None,
        )
        params: dict[str, Any] = {"site_ids": wanted.site_ids or [], "kind": wanted.kind, "locale": wanted.locale}
        params |= {f"missing_{n}": tag for n, tag in enumerate(wanted.missing_locales or [])}
        params |= {"after_id": after_id, "limit": limit}
        rows = await self.conn.execute(_listed_statement(shape), params)
        listed: dict[int, ListedDocument] = {}
        for row in rows:
            entry = listed.get(row.id)
            if entry is None:
                entry = listed[row.id] = ListedDocument(self._document(row), {})
            if row.variant_id is not None:
                variant = Variant(
                    id=row.variant_id,
                    document_id=row.id,
                    locale=row.locale,
                    head_revision=row.head_revision,
                    published_revision=row.published_revision,
                    published_at=_maybe_aware(row.published_at),
                )
                entry.heads[row.locale] = VariantHead(variant, row.title, row.source_revision)
        return list(listed.values())

    async def revision_texts(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, list[Block]]]:
        """(title, blocks) of the revisions named by (variant id, number) pairs."""
        found: dict[tuple[int, int], tuple[str, list[Block]]] = {}
        for chunk in _chunks(sorted(set(wanted))):
            pairs = sa.tuple_(revisions.c.variant_id, revisions.c.number).in_(chunk)
            query = sa.select(revisions.c.variant_id, revisions.c.number, revisions.c.title, revisions.c.blocks)
            for row in await self.conn.execute(query.where(pairs)):
                found[(row.variant_id, row.number)] = (row.title, _blocks(row.blocks))
        return found

    # -- batch reads for renders (a fixed number of queries however many pages) --------

    async def sites_by_keys(self, keys: Iterable[str]) -> dict[str, Site]:
        """The sites among ``keys``, by key."""
        rows = await self.conn.execute(sa.select(sites).where(sites.c.key.in_(list(keys))))
        return {site.key: site for site in map(self._site, rows)}

    async def pages_by_slugs(self, site_ids: Iterable[int], slugs: Iterable[str]) -> list[Document]:
        """Pages of the given sites with one of ``slugs`` (the caller keeps the pairs it wants)."""
        result: list[Document] = []
        for chunk in _chunks(sorted(set(slugs))):
            query = self._documents_query().where(
                documents.c.kind == "page", documents.c.site_id.in_(list(site_ids)), documents.c.slug.in_(chunk)
            )
            result += [self._document(r) for r in await self.conn.execute(query)]
        return result

    async def fragments_by_keys(self, keys: Iterable[str]) -> list[Document]:
        """The fragments among ``keys``."""
        query = self._documents_query().where(documents.c.key.in_(list(keys)))
        return [self._document(r) for r in await self.conn.execute(query)]

    async def variants_of_documents(self, document_ids: Iterable[int]) -> list[Variant]:
        """Every variant of the given documents."""
        result: list[Variant] = []
        for chunk in _chunks(sorted(set(document_ids))):
            query = sa.select(variants).where(variants.c.document_id.in_(chunk))
            result += [self._variant(r) for r in await self.conn.execute(query)]
        return result

    async def revisions_by_numbers(self, wanted: Iterable[tuple[int, int]]) -> list[Revision]:
        """The revisions named by (variant id, number) pairs."""
        result: list[Revision] = []
        for chunk in _chunks(sorted(set(wanted))):
            pairs = sa.tuple_(revisions.c.variant_id, revisions.c.number).in_(chunk)
            result += [self._revision(r) for r in await self.conn.execute(sa.select(revisions).where(pairs))]
        return result

    async def published_locales_of(self, document_ids: Iterable[int]) -> dict[int, list[tuple[str, int]]]:
        """(locale, published revision) of each document's live variants, by locale."""
        found: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for chunk in _chunks(sorted(set(document_ids))):
            query = (
                sa.select(variants.c.document_id, variants.c.locale, variants.c.published_revision)
                .where(variants.c.document_id.in_(chunk), variants.c.published_revision.is_not(None))
                .order_by(variants.c.document_id, variants.c.locale)
            )
            for document_id, locale, revision in await self.conn.execute(query):
                found[document_id].append((locale, revision))
        return found

    async def facts_for(self, keys: Iterable[str], scopes: Sequence[str]) -> list[Fact]:
        """Facts with one of ``keys`` in one of ``scopes``."""
        query = self._facts_query().where(facts.c.key.in_(list(keys)), facts.c.scope.in_(list(scopes)))
        return [self._fact(r) for r in await self.conn.execute(query)]

    async def sites_overriding(self, key: str) -> set[str]:
        """Site keys that have their own fact ``key`` (hiding the global one)."""
        query = sa.select(facts.c.scope).where(facts.c.key == key, facts.c.scope != "global")
        return {r[0] for r in await self.conn.execute(query)}

    # -- outbox --------------------------------------------------------------------

    async def insert_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write change events in this transaction (one per affected site, page and locale)."""
        if not rows:
            return
        created_at = now()
        numbered: list[dict[str, Any]] = []
        by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_site[row["site"]].append(row)
        # Sites in a fixed order: two transactions that both touch sites A and B lock their
        # counters in the same order, so they queue instead of deadlocking (PostgreSQL).
        for site in sorted(by_site):
            site_rows = by_site[site]
            last = await self._advance_sequence(site, len(site_rows))
            first = last - len(site_rows) + 1
            numbered += [
                {**row, "event_id": str(uuid.uuid4()), "created_at": created_at, "sequence": first + i}
                for i, row in enumerate(site_rows)
            ]
        await self.conn.execute(sa.insert(outbox), numbered)
        self.written_events += [row["event_id"] for row in numbered]
        self.changed_renders += [RenderKey(row["site"], row["slug"], row["locale"]) for row in numbered]
        if self.conn.dialect.name == "postgresql":
            # Delivered to listeners when (and only if) this transaction commits: wakes the relay.
            await self.conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})

    async def set_outbox_etags(self, etags: Mapping[RenderKey, str]) -> None:
        """Give the outbox rows this transaction wrote the ETag of the render each names.

        Called last before the commit, it also moves the events' time there: the moment the
        change takes effect, not the moment the row was first written.
        """
        at = now()
        values = [
            {"row_event": event_id, "row_etag": etags[key], "row_time": at}
            for event_id, key in zip(self.written_events, self.changed_renders, strict=True)
            if key in etags
        ]
        if values:
            await self.conn.execute(
                sa.update(outbox)
                .where(outbox.c.event_id == sa.bindparam("row_event"))
                .values(etag=sa.bindparam("row_etag"), created_at=sa.bindparam("row_time")),
                values,
            )

    async def _advance_sequence(self, site: str, count: int) -> int:
        """Reserve ``count`` sequences of ``site``; return the last one.

        The counter row stays locked until this transaction ends, so a second writer of
        the site waits here: sequences are visible in order, and a rollback frees them.
        """
        insert = (
            sqlite_insert(outbox_sequences)
            if self.conn.dialect.name == "sqlite"
            else postgresql_insert(outbox_sequences)
        )
        statement = (
            insert.values(site=site, last=count)
            .on_conflict_do_update(
                index_elements=[outbox_sequences.c.site], set_={"last": outbox_sequences.c.last + count}
            )
            .returning(outbox_sequences.c.last)
        )
        return int((await self.conn.execute(statement)).scalar_one())

    async def outbox_heads(self) -> dict[str, int]:
        """Each site's last outbox sequence handed out (committed, as this transaction sees it)."""
        result = await self.conn.execute(sa.select(outbox_sequences.c.site, outbox_sequences.c.last))
        return {site: int(last) for site, last in result}

    async def render_changes_after(self, site: str, after: int, limit: int) -> list[RenderChange]:
        """The renders named by ``site``'s outbox rows with a sequence above ``after``, in sequence order."""
        query = (
            sa.select(outbox.c.sequence, outbox.c.event_id, outbox.c.slug, outbox.c.locale)
            .where(outbox.c.site == site, outbox.c.sequence > after)
            .order_by(outbox.c.sequence)
            .limit(limit)
        )
        return [
            RenderChange(sequence, event_id, RenderKey(site, slug, locale))
            for sequence, event_id, slug, locale in await self.conn.execute(query)
        ]

    @staticmethod
    def _outbox(row: sa.Row[Any]) -> OutboxRow:
        return OutboxRow(
            id=row.id,
            event_id=row.event_id,
            site=row.site,
            document_id=row.document_id,
            slug=row.slug,
            locale=row.locale,
            kind=row.kind,
            reason=row.reason,
            revision=row.revision,
            cause=row.cause,
            created_at=_aware(row.created_at),
            sequence=row.sequence,
            etag=row.etag,
            relayed_at=_maybe_aware(row.relayed_at),
        )
