"""The read side: published pages rendered per locale, cached until an input changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Sequence
from email.utils import format_datetime
from urllib.parse import quote

import msgspec

from schemas.delivery import Alternate, PageList, PageRender, PageSummary, TranslationReport, TranslationStatus
from services.content import i18n
from services.content.domain.access import Action, Principal
from services.content.domain.content import references
from services.content.domain.diff import diff_revisions
from services.content.domain.errors import NotFound
from services.content.domain.messages import N_, Message
from services.content.domain.model import Document, Site
from services.content.domain.negotiation import choose_locale
from services.content.domain.rendering import (
    LanguageLink,
    PageWords,
    RenderInput,
    RenderOutput,
    notice_html,
    render,
    with_notice,
)
from services.content.domain.segments import changed_segments
from services.content.domain.translation import translation_state
from services.content.storage.database import DATABASE_DOWN, Database
from services.content.storage.repository import RenderKey, Repository
from services.content.usecases.documents import load_document
from services.content.usecases.render_cache import RenderCache
from services.content.usecases.render_inputs import Candidate, PageKey, RenderInputs, RevisionCache

logger = logging.getLogger("liaison.delivery")
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


def _needs_notice(requested: str | None, served: str, fallback: bool) -> bool:
    # 'de' served 'fr' says so; 'fr-CA' served 'fr' does not (the same language).
    return fallback and requested is not None and _language(requested) != _language(served)


def page_html(render: PageRender, requested: str | None = None, fallback: bool = False) -> str:
    """The HTML the public read answers for ``render`` when ``requested`` was asked for (the fallback notice first).

    Without ``requested``, the render's own ``requested_locale`` and ``fallback`` (a preview's).
    """
    if requested is None:
        requested, fallback = render.requested_locale, render.fallback
    if requested is not None and _needs_notice(requested, render.locale, fallback):
        return with_notice(render.html, fallback_notice(requested, render.locale))
    return render.html


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
            if as_html and _needs_notice(requested, served, fallback):
                body = page_html(self.render, requested, fallback).encode()
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


class PageBuild(msgspec.Struct, frozen=True):
    """A page's index and its render in every published locale."""

    index: PageIndex
    entries: dict[str, RenderEntry]

    def etag(self, locale: str) -> str | None:
        """ETag of the JSON a request with ``?locale=<locale>`` gets (None: no locale of the page is published).

        That is the locale's own render, or the fallback one once the locale is unpublished.
        """
        chosen = _chosen(self.index, (locale,))
        if chosen is None:
            return None
        served, fell_back = chosen
        return self.entries[served].json(locale, fell_back)[1]


def _chosen(index: PageIndex, requested: tuple[str, ...]) -> tuple[str, bool] | None:
    """(locale served, fell back) for a request asking for ``requested``; None when nothing is published."""
    return choose_locale(requested, list(index.published), index.site.fallback, index.site.default_locale)


BuildResult = PageBuild | NotFound


def _no_published_variant(site: str, slug: str) -> NotFound:
    # The same answer whether the page was never written, is a draft or was unpublished: a
    # public reader must not learn that an unpublished page exists.
    return NotFound(Message(N_("site '{site}' has no published page '{slug}'"), slug=slug, site=site))


class Delivery:
    """Reads published pages; owns the render cache and keeps it in step with commits.

    Renders are built page by page (every published locale at once) from inputs
    loaded for a whole batch of pages (`RenderInputs`), so rebuilding a thousand
    pages after a fact changed costs a handful of queries. A page being built is
    built once: concurrent requests for it wait for that build.
    """

    def __init__(
        self, db: Database, public_url: str, cache_control: str = "public, max-age=60", *, eager: bool = False
    ) -> None:
        self.db = db
        self.public_url = public_url.rstrip("/")
        self.cache_control = cache_control
        self.cache: RenderCache[PageIndex, RenderEntry] = RenderCache()
        self.revisions = RevisionCache()
        self._building: dict[PageKey, tuple[int, asyncio.Future[BuildResult | None]]] = {}
        self._warming: set[asyncio.Task[None]] = set()
        self.eager = eager
        """Build renders as changes are written, before anyone asks (the content service): a transaction
        renders the pages it changed and stamps its events' ETags, the renders are cached at its commit,
        and changes written by other processes are rebuilt in the background."""
        db.on_commit(self.cache.invalidate)
        if eager:
            db.stamp_etags_with(self.stamp)

    def page_url(self, site: str, slug: str, locale: str) -> str:
        """Public URL of a page in one locale."""
        return f"{self.public_url}/v1/sites/{quote(site)}/pages/{quote(slug)}?locale={quote(locale)}"

    def html_url(self, site: str, slug: str, locale: str) -> str:
        """Public URL of a page's HTML in one locale (the language switcher's links)."""
        return f"{self.public_url}/v1/sites/{quote(site)}/pages/{quote(slug)}.html?locale={quote(locale)}"

    # -- serving -------------------------------------------------------------------

    async def serve(self, site: str, slug: str, requested: tuple[str, ...], fresh: bool = False) -> ServedPage:
        """The render to answer a request with; ``fresh`` skips the cache (used to honour min_revision)."""
        index = None if fresh else self.cache.index(site, slug)
        if index is not None:
            locale, fallback = self._choose(index, requested)
            entry = self.cache.render(site, slug, locale)
            if entry is not None:
                return ServedPage(entry, requested[0] if requested else None, fallback)
        build = (await self._built([(site, slug)], fresh=fresh))[(site, slug)]
        if isinstance(build, NotFound):
            raise build
        locale, fallback = self._choose(build.index, requested)
        return ServedPage(build.entries[locale], requested[0] if requested else None, fallback)

    @staticmethod
    def _choose(index: PageIndex, requested: tuple[str, ...]) -> tuple[str, bool]:
        chosen = _chosen(index, requested)
        if chosen is None:
            raise _no_published_variant(index.site.key, index.slug)
        return chosen

    async def etags(self, keys: Iterable[RenderKey]) -> dict[RenderKey, str | None]:
        """ETag of the JSON a request with ``?locale=<locale>`` gets now, per render (None: not published).

        Always built from the database, never from the cache: this is what change events carry.
        The builds are not cached either (the relay, which asks, serves no page).
        """
        wanted = list(keys)
        builds = await self._built(list({(key.site, key.slug) for key in wanted}), fresh=True, store=False)
        etags: dict[RenderKey, str | None] = {}
        for key in wanted:
            build = builds[(key.site, key.slug)]
            etags[key] = None if isinstance(build, NotFound) else build.etag(key.locale)
        return etags

    # -- keeping the cache in step -------------------------------------------------------

    def changed_elsewhere(self, keys: Sequence[RenderKey]) -> None:
        """Drop the renders another process's commit changed; rebuild them in the background when eager.

        A commit through this process needs no rebuild: it rendered its pages before committing
        (`stamp`), and they are cached right after its commit listeners drop the old ones.
        """
        self.cache.invalidate(keys)
        if self.eager and keys:
            task = asyncio.get_running_loop().create_task(self.warm({(key.site, key.slug) for key in keys}))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)

    async def stamp(self, repo: Repository, keys: Sequence[RenderKey]) -> dict[RenderKey, str]:
        """Render, inside the writing transaction, the pages it changed; return each render's ETag.

        The builds are cached once the transaction commits ("" is the ETag of a render that is
        no longer published).
        """
        pages = sorted({(key.site, key.slug) for key in keys})
        inputs = RenderInputs(RevisionCache(parent=self.revisions))
        await inputs.load(repo, pages)
        builds = {
            page: build for page, build in self._build_pages(inputs, pages).items() if isinstance(build, PageBuild)
        }
        repo.after_commit.append(lambda: self._adopt(builds, inputs.revisions))
        etags: dict[RenderKey, str] = {}
        for key in keys:
            build = builds.get((key.site, key.slug))
            etags[key] = (build.etag(key.locale) if build is not None else None) or ""
        return etags

    def _adopt(self, builds: dict[PageKey, PageBuild], revisions: RevisionCache) -> None:
        """Cache the renders a committed transaction built (its commit already invalidated the old ones)."""
        revisions.merge_into_parent()
        for page, build in builds.items():
            self._store(page, build, self.cache.version(*page))

    def _store(self, page: PageKey, build: PageBuild, version: int) -> None:
        """Cache a page's index and renders, built at page ``version`` (kept only if it did not move)."""
        self.cache.store_index(*page, build.index, version)
        for locale, entry in build.entries.items():
            self.cache.store_render(*page, locale, entry, version)

    async def warm(self, pages: Iterable[PageKey], chunk: int = 50) -> None:
        """Build the pages not cached, a chunk at a time (requests are served between chunks)."""
        pending = sorted(set(pages))
        for start in range(0, len(pending), chunk):
            try:
                await self._built(pending[start : start + chunk])
            except DATABASE_DOWN as exc:
                logger.warning("render warm-up skipped: database unavailable (%s)", exc.__class__.__name__)
                return

    async def stop(self) -> None:
        """Wait for background rebuilds (shutdown)."""
        if self._warming:
            await asyncio.gather(*self._warming, return_exceptions=True)

    # -- building --------------------------------------------------------------------

    def _cached(self, page: PageKey) -> PageBuild | None:
        index = self.cache.index(*page)
        if index is None:
            return None
        entries = {locale: self.cache.render(*page, locale) for locale in index.published}
        if any(entry is None for entry in entries.values()):
            return None
        return PageBuild(index, {locale: entry for locale, entry in entries.items() if entry is not None})

    async def _built(
        self, pages: Sequence[PageKey], fresh: bool = False, store: bool = True
    ) -> dict[PageKey, BuildResult]:
        """Each page's build: from the cache, from a build in flight, or built now in one batch (kept if ``store``)."""
        results: dict[PageKey, BuildResult] = {}
        versions = {page: self.cache.version(*page) for page in pages}
        waiting: list[tuple[PageKey, asyncio.Future[BuildResult | None]]] = []
        missing: list[PageKey] = []
        for page in dict.fromkeys(pages):
            cached = None if fresh else self._cached(page)
            if cached is not None:
                results[page] = cached
                continue
            flight = self._building.get(page)
            if flight is not None and flight[0] == versions[page]:
                waiting.append((page, flight[1]))
            else:
                missing.append(page)
        if missing:
            results.update(await self._build(missing, versions, store))
        for page, future in waiting:
            result = await future
            # None: that build failed (database error); build it here, which raises the error to this caller.
            results[page] = result if result is not None else (await self._build([page], versions, store))[page]
        return results

    async def _build(
        self, pages: list[PageKey], versions: dict[PageKey, int], store: bool
    ) -> dict[PageKey, BuildResult]:
        loop = asyncio.get_running_loop()
        futures: dict[PageKey, asyncio.Future[BuildResult | None]] = {}
        for page in pages:
            futures[page] = loop.create_future()
            self._building[page] = (versions[page], futures[page])
        results: dict[PageKey, BuildResult] = {}
        try:
            async with self.db.reading() as repo:
                inputs = RenderInputs(self.revisions)
                await inputs.load(repo, pages)
            results = self._build_pages(inputs, pages)
            for page, build in results.items():
                if store and isinstance(build, PageBuild):
                    self._store(page, build, versions[page])
        finally:
            for page, future in futures.items():
                future.set_result(results.get(page))
                if self._building.get(page, (0, None))[1] is future:
                    del self._building[page]
        return results

    def _build_pages(self, inputs: RenderInputs, pages: Iterable[PageKey]) -> dict[PageKey, BuildResult]:
        """Build each page from loaded inputs; a page that cannot be served gets its NotFound."""
        results: dict[PageKey, BuildResult] = {}
        for page in pages:
            try:
                results[page] = self._page_build(inputs, page)
            except NotFound as exc:
                results[page] = exc
        return results

    def _page_build(self, inputs: RenderInputs, page: PageKey) -> PageBuild:
        site_key, slug = page
        site = inputs.sites.get(site_key)
        if site is None:
            raise NotFound(Message(N_("site '{site}' does not exist"), site=site_key))
        document = inputs.pages.get(page)
        if document is None:
            raise _no_published_variant(site_key, slug)
        published = {
            locale: variant.published_revision
            for locale, variant in sorted(inputs.variants.get(document.id, {}).items())
            if variant.published_revision is not None
        }
        if not published:
            raise _no_published_variant(site_key, slug)
        index = PageIndex(document.id, site, slug, document.source_locale, published, [])
        index.alternates.extend(self._alternates(inputs, index))
        entries = {locale: self._render(inputs, index, locale) for locale in published}
        return PageBuild(index, entries)

    def _alternates(self, inputs: RenderInputs, index: PageIndex) -> list[Alternate]:
        # Public output compares published revisions only: a draft must never change a render.
        source = inputs.variant(index.document_id, index.source_locale)
        source_live = inputs.live_revision(index.document_id, index.source_locale)
        alternates: list[Alternate] = []
        for locale in index.site.locales:
            revision_number = index.published.get(locale)
            translated_from = None
            if revision_number is not None and locale != index.source_locale and source is not None:
                live = inputs.live_revision(index.document_id, locale)
                if live is not None and live.source_revision is not None:
                    translated_from = inputs.revisions.get(source.id, live.source_revision)
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

    def _render(self, inputs: RenderInputs, index: PageIndex, locale: str) -> RenderEntry:
        site = index.site
        variant = inputs.variant(index.document_id, locale)
        revision = inputs.live_revision(index.document_id, locale)
        if variant is None or variant.published_at is None or revision is None:  # pragma: no cover - published
            raise NotFound(Message(N_("page '{slug}' lost its published revision"), slug=index.slug))
        fragments = inputs.fragments_for(site, locale, revision.blocks)
        keys = set(references(revision.blocks).facts)
        for fragment in fragments.values():
            keys |= set(references(fragment.blocks).facts)
        facts = inputs.facts_for(site, keys)
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

    # -- previews ------------------------------------------------------------------------

    async def preview(
        self,
        repo: Repository,
        site: Site | None,
        document: Document,
        candidate: Candidate,
        requested: str | None = None,
    ) -> PageRender:
        """Render ``candidate`` exactly as publishing it would render its page; never cached.

        The inputs are read through ``repo`` (the caller's transaction) into a child revision
        cache that is dropped afterwards, so an unsaved body never reaches another render. A
        fragment is rendered alone, as a page of ``site`` would include it (global facts only
        without a site). With ``requested``, the page is the one a reader asking for that locale
        gets, by the site's negotiation: perhaps another locale (``fallback``; `page_html` adds
        the notice as the public HTML does).
        """
        inputs = RenderInputs(RevisionCache(parent=self.revisions))
        if document.is_fragment or site is None or document.slug is None:
            await inputs.load_fragment(repo, site, document, candidate)
            context = site or Site(
                0,
                "",
                "",
                [candidate.locale],
                document.source_locale,
                [document.source_locale],
                None,
                document.created_at,
            )
            published = {candidate.locale: candidate.revision.number}
            index = PageIndex(document.id, context, document.key or "", document.source_locale, published, [])
            return self._render(inputs, index, candidate.locale).render
        page = (site.key, document.slug)
        await inputs.load(repo, [page], candidate)
        build = self._page_build(inputs, page)
        if requested is None:
            return build.entries[candidate.locale].render
        served, fell_back = self._choose(build.index, (requested,))
        return msgspec.structs.replace(build.entries[served].render, requested_locale=requested, fallback=fell_back)

    # -- the page list -----------------------------------------------------------------

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
        builds = await self._built([(site_key, page.slug) for page in pages if page.slug is not None])
        items: list[PageSummary] = []
        for page in pages:
            build = builds.get((site_key, page.slug or ""))
            if build is None or isinstance(build, NotFound):  # unpublished between the two reads
                continue
            etags = {locale: entry.json(locale, False)[1] for locale, entry in build.entries.items()}
            updated = max(entry.last_modified for entry in build.entries.values())
            if updated_since is not None and updated < updated_since:
                continue
            items.append(PageSummary(page.slug or "", page.id, dict(build.index.published), etags, updated))
        return PageList(items, str(pages[-1].id) if more and pages else None)

    async def translations(self, principal: Principal, document_id: int) -> TranslationReport:
        """Up to date / outdated / missing for every locale of a document, with the source's diff."""
        async with self.db.reading() as repo:
            document, site = await load_document(repo, document_id, principal)
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
