"""Loading what many renders read with a fixed number of queries.

A render reads its site, its page, the page's variants (every live locale is an
alternate), live revisions, the fragments included (in the locale or along the
site's fallback chain, however deep) and the facts named. Loading them page by
page costs a dozen queries each; a fact shown on a thousand pages would cost
twelve thousand. `RenderInputs.load` reads them for a whole batch of pages at
once (about six queries, one more per level of nested fragments), and the render
itself is then pure computation.

Revisions never change once written, so `RevisionCache` keeps them across batches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

import msgspec

from schemas.blocks import Block
from services.content.domain.content import references
from services.content.domain.facts import GLOBAL_SCOPE
from services.content.domain.model import Document, Fact, Revision, Site, Variant
from services.content.domain.rendering import ResolvedFragment
from services.content.storage.repository import Repository

PageKey = tuple[str, str]
"""(site key, slug)"""


class Candidate(msgspec.Struct, frozen=True):
    """A revision to render as if it were its variant's live one (a preview): stored, or an unsaved body."""

    document_id: int
    locale: str
    revision: Revision
    published_at: dt.datetime


class RevisionCache:
    """Revisions by (variant id, number); immutable, so never invalidated (bounded).

    A cache with a ``parent`` reads through to it but keeps what it loads to itself:
    a writing transaction uses one, since a revision it wrote vanishes if it rolls
    back; `merge_into_parent` after the commit.
    """

    def __init__(self, max_entries: int = 20_000, parent: RevisionCache | None = None) -> None:
        self._revisions: dict[tuple[int, int], Revision] = {}
        self._max_entries = max_entries
        self._parent = parent

    def get(self, variant_id: int, number: int) -> Revision | None:
        """The revision if it was loaded before."""
        found = self._revisions.get((variant_id, number))
        if found is None and self._parent is not None:
            found = self._parent.get(variant_id, number)
        return found

    async def load(self, repo: Repository, wanted: Iterable[tuple[int, int]]) -> None:
        """Read the revisions of ``wanted`` not held yet, in one query."""
        missing = {pair for pair in wanted if self.get(*pair) is None}
        if missing:
            self._keep(await repo.revisions_by_numbers(missing))

    def hold(self, revision: Revision) -> None:
        """Keep a revision that may not be stored (a preview's candidate); only ever on a child cache."""
        if self._parent is None:
            raise ValueError("a revision that may not be stored goes into a child cache only")
        self._keep([revision])

    def merge_into_parent(self) -> None:
        """Hand what this cache loaded to its parent (once the transaction that read it committed)."""
        if self._parent is not None:
            self._parent._keep(self._revisions.values())

    def _keep(self, revisions: Collection[Revision]) -> None:
        if len(self._revisions) + len(revisions) > self._max_entries:
            self._revisions.clear()
        for revision in revisions:
            self._revisions[(revision.variant_id, revision.number)] = revision


class RenderInputs:
    """Everything the renders of a batch of pages read, from one transaction."""

    def __init__(self, revisions: RevisionCache) -> None:
        self.revisions = revisions
        self.sites: dict[str, Site] = {}
        self.pages: dict[PageKey, Document] = {}
        self.variants: dict[int, dict[str, Variant]] = {}
        """Document id -> locale -> variant (pages and fragments)."""
        self.fragments: dict[str, Document] = {}
        self._facts: dict[tuple[str, str], Fact] = {}
        """(scope, key) -> fact."""

    async def load(self, repo: Repository, pages: Collection[PageKey], candidate: Candidate | None = None) -> None:
        """Read the inputs of every render of ``pages`` (unknown sites and pages are just absent).

        With a ``candidate``, its revision stands in for the live one of its variant (a preview):
        the render is then exactly the public one that publishing it would produce.
        """
        self.sites = await repo.sites_by_keys({site for site, _ in pages})
        site_ids = {site.id for site in self.sites.values()}
        wanted = set(pages)
        for document in await repo.pages_by_slugs(site_ids, {slug for _, slug in pages}):
            if document.site_key is not None and document.slug is not None:
                key = (document.site_key, document.slug)
                if key in wanted:
                    self.pages[key] = document
        await self._load_documents(repo, list(self.pages.values()), candidate)

    async def load_fragment(
        self, repo: Repository, site: Site | None, document: Document, candidate: Candidate
    ) -> None:
        """Read the inputs of a render of the fragment ``document`` alone, showing ``candidate`` (its preview).

        Its includes and facts are resolved as a page of ``site`` would see them (global facts only without one).
        """
        self.sites = {site.key: site} if site is not None else {}
        await self._load_documents(repo, [document], candidate)

    async def _load_documents(self, repo: Repository, documents: list[Document], candidate: Candidate | None) -> None:
        await self._load_variants(repo, [document.id for document in documents])
        if candidate is not None:
            self._inject(candidate)
        # Every live revision (each locale is an alternate), then the source revisions
        # the live translations were made from (their translation state).
        await self.revisions.load(repo, self._live_pairs(documents))
        translated_from: set[tuple[int, int]] = set()
        for document in documents:
            source = self.variants[document.id].get(document.source_locale)
            for revision in self._live_revisions(document):
                if source is not None and revision.source_revision is not None:
                    translated_from.add((source.id, revision.source_revision))
        await self.revisions.load(repo, translated_from)
        blocks = [r.blocks for document in documents for r in self._live_revisions(document)]
        await self._load_fragments(repo, blocks)
        fact_keys: set[str] = set()
        for document in [*documents, *self.fragments.values()]:
            for revision in self._live_revisions(document):
                fact_keys |= set(references(revision.blocks).facts)
        if fact_keys:
            scopes = [*self.sites, GLOBAL_SCOPE]
            self._facts = {(fact.scope, fact.key): fact for fact in await repo.facts_for(fact_keys, scopes)}

    def _inject(self, candidate: Candidate) -> None:
        """Make ``candidate`` its variant's live revision, for these inputs only (a preview)."""
        revision = candidate.revision
        variant = self.variant(candidate.document_id, candidate.locale) or Variant(
            revision.variant_id, candidate.document_id, candidate.locale, revision.number, None, None
        )
        self.variants.setdefault(candidate.document_id, {})[candidate.locale] = msgspec.structs.replace(
            variant, published_revision=revision.number, published_at=candidate.published_at
        )
        self.revisions.hold(revision)

    async def _load_variants(self, repo: Repository, document_ids: Iterable[int]) -> None:
        ids = list(document_ids)
        for document_id in ids:
            self.variants.setdefault(document_id, {})
        for variant in await repo.variants_of_documents(ids):
            self.variants[variant.document_id][variant.locale] = variant

    def _live_pairs(self, documents: Iterable[Document]) -> set[tuple[int, int]]:
        return {
            (variant.id, variant.published_revision)
            for document in documents
            for variant in self.variants.get(document.id, {}).values()
            if variant.published_revision is not None
        }

    def _live_revisions(self, document: Document) -> list[Revision]:
        found = []
        for variant in self.variants.get(document.id, {}).values():
            if variant.published_revision is not None:
                revision = self.revisions.get(variant.id, variant.published_revision)
                if revision is not None:
                    found.append(revision)
        return found

    async def _load_fragments(self, repo: Repository, blocks: list[list[Block]]) -> None:
        """Fragments included by ``blocks``, level by level, with their live revisions."""
        pending = {key for b in blocks for key in references(b).fragments}
        while pending - self.fragments.keys():
            fresh = await repo.fragments_by_keys(pending - self.fragments.keys())
            if not fresh:
                return
            for document in fresh:
                if document.key is not None:
                    self.fragments[document.key] = document
            await self._load_variants(repo, [document.id for document in fresh])
            await self.revisions.load(repo, self._live_pairs(fresh))
            pending = {
                key
                for document in fresh
                for revision in self._live_revisions(document)
                for key in references(revision.blocks).fragments
            }

    # -- what one render reads ------------------------------------------------------

    def variant(self, document_id: int, locale: str) -> Variant | None:
        """A document's variant in ``locale``."""
        return self.variants.get(document_id, {}).get(locale)

    def live_revision(self, document_id: int, locale: str) -> Revision | None:
        """The published revision of a document in ``locale``."""
        variant = self.variant(document_id, locale)
        if variant is None or variant.published_revision is None:
            return None
        return self.revisions.get(variant.id, variant.published_revision)

    def fragments_for(self, site: Site, locale: str, blocks: list[Block]) -> dict[str, ResolvedFragment]:
        """Live revisions of every fragment included, in ``locale`` or the site's fallback chain."""
        found: dict[str, ResolvedFragment] = {}
        pending = list(references(blocks).fragments)
        while pending:
            key = pending.pop()
            document = self.fragments.get(key) if key not in found else None
            if document is None:
                continue
            for candidate in dict.fromkeys((locale, *site.fallback, site.default_locale)):
                variant = self.variant(document.id, candidate)
                if variant is None or variant.published_revision is None or variant.published_at is None:
                    continue
                revision = self.revisions.get(variant.id, variant.published_revision)
                if revision is None:
                    continue
                found[key] = ResolvedFragment(key, revision.number, candidate, revision.blocks, variant.published_at)
                pending += [k for k in references(revision.blocks).fragments if k not in found]
                break
        return found

    def facts_for(self, site: Site, keys: Iterable[str]) -> dict[str, Fact]:
        """The facts a page of ``site`` sees: its own scope first, then the global one."""
        visible: dict[str, Fact] = {}
        for key in keys:
            fact = self._facts.get((site.key, key)) or self._facts.get((GLOBAL_SCOPE, key))
            if fact is not None:
                visible[key] = fact
        return visible
