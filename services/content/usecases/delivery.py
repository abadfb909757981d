"""The read side: published pages rendered per locale, cached until an input changes."""

from __future__ import annotations

import datetime as dt
import hashlib
from email.utils import format_datetime
from urllib.parse import quote

import msgspec

from schemas.blocks import Block
from schemas.delivery import Alternate, PageList, PageRender, PageSummary, TranslationReport, TranslationStatus
from services.content import i18n
from services.content.domain.access import Action, Principal
from services.content.domain.content import references
from services.content.domain.diff import diff_revisions
from services.content.domain.errors import NotFound
from services.content.domain.facts import GLOBAL_SCOPE
from services.content.domain.messages import N_, Message
from services.content.domain.model import Fact, Revision, Site
from services.content.domain.negotiation import choose_locale
from services.content.domain.rendering import (
    LanguageLink,
    PageWords,
    RenderInput,
    RenderOutput,
    ResolvedFragment,
    notice_html,
    render,
    with_notice,
)
from services.content.domain.segments import changed_segments
from services.content.domain.translation import translation_state
from services.content.storage.database import Database
from services.content.storage.repository import Repository
from services.content.usecases.documents import load_document
from services.content.usecases.render_cache import RenderCache

_json = msgspec.json.Encoder()


def strong_etag(body: bytes) -> str:
    """A strong ETag for exact bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class PageIndex(msgspec.Struct, frozen=True):
    """What locale negotiation needs about a page: its site and its live locales."""

    document_id: int
    site: Site
    slug: str
    source_locale: str
    published: dict[str, int]
    alternates: list[Alternate]
    """The same for every locale of the page, so computed once with the index."""


class PreparedResponse(msgspec.Struct, frozen=True):
    """One representation of a render, ready to send: body, ETag and header lists."""

    body: bytes
    etag: str
    headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def _language(tag: str) -> str:
    return tag.split("-")[0].lower()


def _words_locale(locale: str) -> tuple[str, str]:
    """(catalog locale, ``lang`` of the words) for the service's words around a page in ``locale``."""
    catalog = i18n.ui_locale(locale)
    same_language = _language(catalog) == _language(locale)
    return catalog, locale if same_language else catalog


def page_words(locale: str) -> PageWords:
    """The words around a page served in ``locale``, in its language (English when there is no catalog for it)."""
    catalog, lang = _words_locale(locale)
    _ = i18n.translator(catalog)
    return PageWords(lang=lang, top=_("Top of the page"), languages=_("Languages"))


def fallback_notice(requested: str, served: str) -> str:
    """The HTML note that says the page is not in the language asked for, written in the served one."""
    catalog, lang = _words_locale(served)
    text = Message(
        N_("This page is not available in {language}; here is the {served} version."),
        language=i18n.language_name(requested, catalog),
        served=i18n.language_name(served, catalog),
    ).format(i18n.translations(catalog))
    return notice_html(text, lang, served)


class RenderEntry(msgspec.Struct):
    """A render of one page in one locale, with its response bodies ready to send."""

    render: PageRender
    last_modified: dt.datetime
    headers: dict[str, str]
    """Response headers shared by every representation (ETag aside)."""
    html: bytes
    html_etag: str
    bodies: dict[tuple[str | None, bool], tuple[bytes, str]]
    """(requested locale, fell back) -> (JSON bytes, ETag): the body names what was asked for."""
    responses: dict[tuple[str | None, bool, bool], PreparedResponse] = {}
    """(requested, fell back, HTML) -> the response to send."""

    def prepared(self, requested: str | None, fallback: bool, as_html: bool) -> PreparedResponse:
        """The ready-to-send response for one representation.

        The HTML of a fallback to another language ('de' served 'fr'; not 'fr-CA' served 'fr')
        says so in a notice first thing in the article, written in the served locale; the JSON
        says it with ``fallback`` and keeps ``html`` as the page's own body.
        """
        key = (requested, fallback, as_html)
        found = self.responses.get(key)
        if found is None:
            served = self.render.locale
            if as_html and fallback and requested is not None and _language(requested) != _language(served):
                body = with_notice(self.render.html, fallback_notice(requested, served)).encode()
                etag = strong_etag(body)
            else:
                body, etag = (self.html, self.html_etag) if as_html else self.json(requested, fallback)
            common = {**self.headers, "ETag": etag, "Liaison-Locale-Fallback": "true" if fallback else "false"}
            media_type = "text/html; charset=utf-8" if as_html else "application/json"
            found = PreparedResponse(
                body,
                etag,
                _raw({"Content-Type": media_type, "Content-Length": str(len(body)), **common}),
                _raw(common),
            )
            if len(self.responses) < 64:
                self.responses[key] = found
        return found

    def json(self, requested: str | None, fallback: bool) -> tuple[bytes, str]:
        """JSON bytes and ETag of this render for a request that asked for ``requested``."""
        key = (requested, fallback)
        found = self.bodies.get(key)
        if found is None:
            body = _json.encode(msgspec.structs.replace(self.render, requested_locale=requested, fallback=fallback))
            found = (body, strong_etag(body))
            if len(self.bodies) < 64:
                self.bodies[key] = found
        return found


class ServedPage(msgspec.Struct, frozen=True):
    """The render chosen for a request, and how it was chosen."""

    entry: RenderEntry
    requested: str | None
    fallback: bool


class Delivery:
    """Reads published pages; owns the render cache and keeps it in step with commits."""

    def __init__(self, db: Database, public_url: str, cache_control: str = "public, max-age=60") -> None:
        self.db = db
        self.public_url = public_url.rstrip("/")
        self.cache_control = cache_control
        self.cache: RenderCache[PageIndex, RenderEntry] = RenderCache()
        self._revisions: dict[tuple[int, int], Revision] = {}
        """Revisions never change once written, so they are kept without invalidation (bounded)."""
        db.on_commit(self.cache.invalidate)

    def page_url(self, site: str, slug: str, locale: str) -> str:
        """Public URL of a page in one locale."""
        return f"{self.public_url}/v1/sites/{quote(site)}/pages/{quote(slug)}?locale={quote(locale)}"

    def html_url(self, site: str, slug: str, locale: str) -> str:
        """Public URL of a page's HTML in one locale (the language switcher's links)."""
        return f"{self.public_url}/v1/sites/{quote(site)}/pages/{quote(slug)}.html?locale={quote(locale)}"

    async def serve(self, site: str, slug: str, requested: tuple[str, ...], fresh: bool = False) -> ServedPage:
        """The render to answer a request with; ``fresh`` skips the cache (used to honour min_revision)."""
        if fresh:
            self.cache.invalidate([])
        # One generation for the whole request: the index (with its alternates) and the render
        # must both predate any invalidation, or neither is kept.
        generation = self.cache.generation
        index = await self.index(site, slug, generation)
        chosen = choose_locale(requested, list(index.published), index.site.fallback, index.site.default_locale)
        if chosen is None:
            raise NotFound(Message(N_("page '{slug}' of site '{site}' has no published variant"), slug=slug, site=site))
        locale, fallback = chosen
        entry = None if fresh else self.cache.render(site, slug, locale)
        if entry is None:
            entry = await self._load_render(index, locale)
            self.cache.store_render(site, slug, locale, entry, generation)
        return ServedPage(entry, requested[0] if requested else None, fallback)

    async def index(self, site: str, slug: str, generation: int | None = None) -> PageIndex:
        """The page's live locales (cached like renders), kept only if nothing changed since ``generation``."""
        index = self.cache.index(site, slug)
        if index is None:
            generation = self.cache.generation if generation is None else generation
            index = await self._load_index(site, slug)
            self.cache.store_index(site, slug, index, generation)
        return index

    async def _load_index(self, site_key: str, slug: str) -> PageIndex:
        async with self.db.reading() as repo:
            site = await repo.site(site_key)
            if site is None:
                raise NotFound(Message(N_("site '{site}' does not exist"), site=site_key))
            document = await repo.page(site.id, slug)
            if document is None:
                raise NotFound(Message(N_("site '{site}' has no page '{slug}'"), site=site_key, slug=slug))
            published = dict(await repo.published_locales(document.id))
            if not published:
                raise NotFound(
                    Message(N_("page '{slug}' of site '{site}' has no published variant"), slug=slug, site=site_key)
                )
            index = PageIndex(document.id, site, slug, document.source_locale, published, [])
            index.alternates.extend(await self._alternates(repo, index))
        return index

    async def _revision(self, repo: Repository, variant_id: int, number: int) -> Revision | None:
        key = (variant_id, number)
        found = self._revisions.get(key)
        if found is None:
            found = await repo.revision(variant_id, number)
            if found is not None:
                if len(self._revisions) >= 20_000:
                    self._revisions.clear()
                self._revisions[key] = found
        return found

    async def _fragments(
        self, repo: Repository, site: Site, locale: str, blocks: list[Block]
    ) -> dict[str, ResolvedFragment]:
        """Live revisions of every fragment included, in ``locale`` or the site's fallback chain."""
        found: dict[str, ResolvedFragment] = {}
        pending = list(references(blocks).fragments)
        while pending:
            key = pending.pop()
            document = await repo.fragment(key) if key not in found else None
            if document is None:
                continue
            for candidate in dict.fromkeys((locale, *site.fallback, site.default_locale)):
                variant = await repo.variant(document.id, candidate)
                if variant is None or variant.published_revision is None or variant.published_at is None:
                    continue
                revision = await self._revision(repo, variant.id, variant.published_revision)
                if revision is None:
                    continue
                found[key] = ResolvedFragment(key, revision.number, candidate, revision.blocks, variant.published_at)
                pending += [k for k in references(revision.blocks).fragments if k not in found]
                break
        return found

    async def _facts(self, repo: Repository, site: Site, keys: set[str]) -> dict[str, Fact]:
        visible: dict[str, Fact] = {}
        for fact in await repo.facts_for(keys, [site.key, GLOBAL_SCOPE]):
            # A site's own fact hides the global one of the same key.
            if fact.key not in visible or fact.scope != GLOBAL_SCOPE:
                visible[fact.key] = fact
        return visible

    async def _alternates(self, repo: Repository, index: PageIndex) -> list[Alternate]:
        # Public output compares published revisions only: a draft must never change a render.
        source = await repo.variant(index.document_id, index.source_locale)
        source_live = (
            await self._revision(repo, source.id, source.published_revision)
            if source and source.published_revision is not None
            else None
        )
        alternates: list[Alternate] = []
        for locale in index.site.locales:
            revision_number = index.published.get(locale)
            translated_from = None
            if revision_number is not None and locale != index.source_locale and source is not None:
                variant = await repo.variant(index.document_id, locale)
                live = await self._revision(repo, variant.id, revision_number) if variant else None
                if live is not None and live.source_revision is not None:
                    translated_from = await self._revision(repo, source.id, live.source_revision)
            state = translation_state(
                locale == index.source_locale,
                revision_number is not None,
                (translated_from.title, translated_from.blocks) if translated_from else None,
                (source_live.title, source_live.blocks) if source_live else None,
            )
            alternates.append(
                Alternate(locale, self.page_url(index.site.key, index.slug, locale), state, revision_number)
            )
        return alternates

    async def _load_render(self, index: PageIndex, locale: str) -> RenderEntry:
        site = index.site
        async with self.db.reading() as repo:
            variant = await repo.variant(index.document_id, locale)
            if variant is None or variant.published_revision is None or variant.published_at is None:
                raise NotFound(
                    Message(N_("page '{slug}' has no published {locale} variant"), slug=index.slug, locale=locale)
                )
            revision = await self._revision(repo, variant.id, variant.published_revision)
            if revision is None:  # pragma: no cover - a publication always points at a revision
                raise NotFound(Message(N_("page '{slug}' lost its published revision"), slug=index.slug))
            fragments = await self._fragments(repo, site, locale, revision.blocks)
            keys = set(references(revision.blocks).facts)
            for fragment in fragments.values():
                keys |= set(references(fragment.blocks).facts)
            facts = await self._facts(repo, site, keys)
        languages = tuple(
            LanguageLink(alternate.locale, self.html_url(site.key, index.slug, alternate.locale))
            for alternate in index.alternates
            if alternate.revision is not None
        )
        output: RenderOutput = render(
            RenderInput(
                locale, site.fallback, revision.title, revision.blocks, facts, fragments, languages, page_words(locale)
            )
        )
        last_modified = max(filter(None, [variant.published_at, output.latest_input]))
        page = PageRender(
            site=site.key,
            slug=index.slug,
            locale=locale,
            requested_locale=locale,
            fallback=False,
            revision=revision.number,
            published_at=variant.published_at,
            title=output.title,
            blocks=output.blocks,
            html=output.html,
            facts=output.facts,
            fragments=output.fragments,
            alternates=index.alternates,
        )
        html = output.html.encode()
        headers = {
            "Last-Modified": format_datetime(last_modified.astimezone(dt.UTC), usegmt=True),
            "Cache-Control": self.cache_control,
            "Vary": "Accept, Accept-Language",
            "Content-Language": locale,
        }
        entry = RenderEntry(page, last_modified, headers, html, strong_etag(html), {})
        entry.json(locale, False)
        return entry

    async def canonical_etag(self, site: str, slug: str, locale: str) -> str:
        """ETag of the JSON a request with ``?locale=<locale>`` gets (what change events carry)."""
        served = await self.serve(site, slug, (locale,))
        if served.entry.render.locale != locale:
            raise NotFound(Message(N_("page '{slug}' has no published {locale} variant"), slug=slug, locale=locale))
        return served.entry.json(served.requested, served.fallback)[1]

    async def list_pages(
        self, site_key: str, cursor: int | None, limit: int, updated_since: dt.datetime | None
    ) -> PageList:
        """Published pages of a site, by id, with their live revisions and ETags."""
        async with self.db.reading() as repo:
            site = await repo.site(site_key)
            if site is None:
                raise NotFound(Message(N_("site '{site}' does not exist"), site=site_key))
            pages = await repo.published_pages(site.id, cursor, limit + 1)
        more = len(pages) > limit
        pages = pages[:limit]
        items: list[PageSummary] = []
        for page in pages:
            if page.slug is None:
                continue
            try:
                index = await self.index(site_key, page.slug)
            except NotFound:  # unpublished between the two reads
                continue
            etags: dict[str, str] = {}
            updated = dt.datetime.min.replace(tzinfo=dt.UTC)
            for locale in index.published:
                served = await self.serve(site_key, page.slug, (locale,))
                etags[locale] = served.entry.json(locale, False)[1]
                updated = max(updated, served.entry.last_modified)
            if updated_since is not None and updated < updated_since:
                continue
            items.append(PageSummary(page.slug, page.id, dict(index.published), etags, updated))
        return PageList(items, str(pages[-1].id) if more and pages else None)

    async def translations(self, principal: Principal, document_id: int) -> TranslationReport:
        """Up to date / outdated / missing for every locale of a document, with the source's diff."""
        async with self.db.reading() as repo:
            document, site = await load_document(repo, document_id)
            principal.require(Action.READ_DRAFTS, site=site.key if site else None)
            variants = {v.locale: v for v in await repo.variants_of(document.id)}
            locales = site.locales if site else sorted(variants)
            source = variants.get(document.source_locale)
            source_head = await repo.revision(source.id, source.head_revision) if source else None
            statuses: list[TranslationStatus] = []
            for locale in dict.fromkeys([document.source_locale, *locales]):
                variant = variants.get(locale)
                head = await repo.revision(variant.id, variant.head_revision) if variant else None
                from_number = head.source_revision if head else None
                translated_from = (
                    await repo.revision(source.id, from_number) if source and from_number is not None else None
                )
                state = translation_state(
                    locale == document.source_locale,
                    head is not None,
                    (translated_from.title, translated_from.blocks) if translated_from else None,
                    (source_head.title, source_head.blocks) if source_head else None,
                )
                source_diff = None
                changed: list[str] = []
                if state == "outdated" and translated_from is not None and source_head is not None:
                    changed = changed_segments(
                        translated_from.title, translated_from.blocks, source_head.title, source_head.blocks
                    )
                    source_diff = diff_revisions(
                        translated_from.number,
                        translated_from.title,
                        translated_from.blocks,
                        source_head.number,
                        source_head.title,
                        source_head.blocks,
                    )
                statuses.append(
                    TranslationStatus(
                        locale=locale,
                        status=state,
                        head_revision=head.number if head else None,
                        translated_from=from_number if locale != document.source_locale else None,
                        source_revision=source_head.number if source_head else 0,
                        source_diff=source_diff,
                        changed_segments=changed,
                    )
                )
        return TranslationReport(
            document.id, document.source_locale, source_head.number if source_head else None, statuses
        )
