"""The document list: every page and fragment a token may see, with each locale's publication and translation state.

The SQL does the visibility, kind, site, locale and publication filters, the cursor and a
necessary condition for "translation outdated" (the head names an older source revision);
the rest is decided here on what one query per batch returned: the text search (SQLite's
``lower`` folds ASCII only) and the translation states, by `domain/translation.py`'s rule, for
which only the source revisions of translations made from an older source are read.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.blocks import Block
from schemas.delivery import TranslationState
from schemas.documents import (
    DocumentList,
    DocumentListItem,
    DocumentQuery,
    DocumentStatus,
    LocaleStatus,
    PublicationState,
)
from services.content.domain.access import Action, Principal
from services.content.domain.errors import NotFound
from services.content.domain.messages import N_, Message
from services.content.domain.model import Site
from services.content.domain.translation import translation_state
from services.content.storage.database import Database
from services.content.storage.repository import DocumentFilter, ListedDocument, Repository, VariantHead
from services.content.usecases.documents import checked_locale

_SCAN = 250
"""Documents read per query when filters decided here may drop some."""

_Texts = dict[tuple[int, int], tuple[str, list[Block]]]


async def list_documents(db: Database, principal: Principal, query: DocumentQuery) -> DocumentList:
    """A page of the documents ``principal`` may read drafts of, filtered by ``query``, by id.

    A site-scoped token sees its sites' pages; shared fragments need a token of all sites (the
    rule of `load_document`). Naming a site the token may not read is refused (403); an unknown
    site is 404.
    """
    locale = checked_locale(query.locale, None, "locale") if query.locale is not None else None
    async with db.reading() as repo:
        sites = {site.id: site for site in await repo.list_sites()}
        if query.site is not None:
            chosen = next((site for site in sites.values() if site.key == query.site), None)
            if chosen is None:
                raise NotFound(Message(N_("site '{site}' does not exist"), site=query.site))
            principal.require(Action.READ_DRAFTS, site=chosen.key)
            visible = [chosen]
            fragments = False
        else:
            visible = [site for site in sites.values() if principal.allows(Action.READ_DRAFTS, site=site.key)]
            fragments = principal.allows(Action.READ_DRAFTS, site=None)
        if locale is not None:
            visible = [site for site in visible if locale in site.locales]
        every_site = query.site is None and locale is None and len(visible) == len(sites) and principal.sites is None
        status = query.status
        missing = _missing_locales(visible[0] if query.site is not None else None, locale)
        wanted = DocumentFilter(
            site_ids=None if every_site else [site.id for site in visible],
            fragments=fragments and query.kind != "page",
            kind=query.kind,
            locale=locale,
            publication=status if status in ("published", "unpublished", "draft-ahead") else None,
            source_moved=status == "translation-outdated",
            missing_locales=missing if status == "translation-missing" else None,
        )
        decided_here = (
            query.q is not None
            or status == "translation-outdated"
            or (status == "translation-missing" and missing is None)
        )
        batch_size = max(query.limit + 1, _SCAN) if decided_here else query.limit + 1
        matched: list[ListedDocument] = []
        after = query.cursor
        while len(matched) <= query.limit:
            batch = await repo.listed_documents(wanted, after, batch_size)
            named = [listed for listed in batch if _named(listed, query.q)]
            # Only "outdated" needs the source texts to decide; the others are read for the page shown.
            texts = await _source_texts(repo, named) if status == "translation-outdated" else {}
            for listed in named:
                if _matches(_item(listed, sites, texts, locale), query.status, locale):
                    matched.append(listed)
                    if len(matched) > query.limit:
                        break
            if len(batch) < batch_size:
                break
            after = batch[-1].document.id
        shown = matched[: query.limit]
        texts = await _source_texts(repo, shown)
    items = [_item(listed, sites, texts, locale) for listed in shown]
    more = len(matched) > query.limit
    return DocumentList(items=items, next_cursor=items[-1].id if more and items else None)


def _missing_locales(site: Site | None, locale: str | None) -> list[str] | None:
    """The locales whose lack the SQL can check for "translation missing", when it decides it exactly.

    With a locale, that locale (every listed site offers it; a fragment lacking it shows it
    missing); for one site, its locales. Across sites without a locale, each site offers its
    own: decided here.
    """
    if locale is not None:
        return [locale]
    return list(site.locales) if site is not None else None


def _translated_pair(listed: ListedDocument, head: VariantHead) -> tuple[int, int] | None:
    """(source variant id, revision) a translation's head was made from, when the source moved on since."""
    source = listed.heads.get(listed.document.source_locale)
    if source is None or head.source_revision is None or head.variant.locale == listed.document.source_locale:
        return None
    if head.source_revision == source.variant.head_revision:
        return None  # made from the source's head: up to date, nothing to read
    return (source.variant.id, head.source_revision)


async def _source_texts(repo: Repository, batch: Sequence[ListedDocument]) -> _Texts:
    """The source texts the translation states of ``batch`` compare (one query)."""
    wanted: set[tuple[int, int]] = set()
    for listed in batch:
        for head in listed.heads.values():
            pair = _translated_pair(listed, head)
            if pair is not None:
                source = listed.heads[listed.document.source_locale]
                wanted |= {pair, (source.variant.id, source.variant.head_revision)}
    return await repo.revision_texts(wanted) if wanted else {}


def _translation(listed: ListedDocument, head: VariantHead | None, texts: _Texts) -> TranslationState:
    document = listed.document
    locale_is_source = head is not None and head.variant.locale == document.source_locale
    pair = _translated_pair(listed, head) if head is not None else None
    source = listed.heads.get(document.source_locale)
    translated_from = texts.get(pair) if pair is not None else None
    source_head = texts.get((source.variant.id, source.variant.head_revision)) if source is not None else None
    return translation_state(locale_is_source, head is not None, translated_from, source_head)


def _publication(head: VariantHead | None) -> PublicationState:
    if head is None:
        return "missing"
    live = head.variant.published_revision
    if live is None:
        return "unpublished"
    return "published" if live == head.variant.head_revision else "draft-ahead"


def _item(listed: ListedDocument, sites: dict[int, Site], texts: _Texts, locale: str | None) -> DocumentListItem:
    document = listed.document
    site = sites.get(document.site_id) if document.site_id is not None else None
    offered = site.locales if site is not None else sorted(listed.heads)
    if site is None and locale is not None:
        offered = [*offered, locale]  # a fragment without that locale shows it missing
    states = []
    for tag in dict.fromkeys([document.source_locale, *offered, *sorted(listed.heads)]):
        head = listed.heads.get(tag)
        states.append(
            LocaleStatus(
                locale=tag,
                publication=_publication(head),
                translation=_translation(listed, head, texts),
                head_revision=head.variant.head_revision if head else None,
                published_revision=head.variant.published_revision if head else None,
                published_at=head.variant.published_at if head else None,
                title=head.title if head else None,
                translated_from=head.source_revision if head and tag != document.source_locale else None,
            )
        )
    return DocumentListItem(
        id=document.id,
        kind=document.kind,  # type: ignore[arg-type]
        source_locale=document.source_locale,
        site=document.site_key,
        slug=document.slug,
        key=document.key,
        created_at=document.created_at,
        locales=states,
    )


def _named(listed: ListedDocument, q: str | None) -> bool:
    """Whether ``q`` is in the document's slug, key or a head title, whatever the case (all without ``q``)."""
    if q is None:
        return True
    needle = q.casefold()
    document = listed.document
    names = [document.slug or "", document.key or "", *(head.title for head in listed.heads.values())]
    return any(needle in name.casefold() for name in names)


def _matches(item: DocumentListItem, status: DocumentStatus | None, locale: str | None) -> bool:
    if status is None:
        return True
    entries = [entry for entry in item.locales if locale is None or entry.locale == locale]
    if status == "published":
        return any(entry.publication in ("published", "draft-ahead") for entry in entries)
    if status == "unpublished":
        return any(entry.publication == "unpublished" for entry in entries)
    if status == "draft-ahead":
        return any(entry.publication == "draft-ahead" for entry in entries)
    if status == "translation-outdated":
        return any(entry.translation == "outdated" for entry in entries)
    return any(entry.translation == "missing" and entry.locale != item.source_locale for entry in entries)


async def status_counts(
    db: Database, principal: Principal, site_key: str, statuses: Sequence[DocumentStatus]
) -> dict[DocumentStatus, int]:
    """How many of a site's pages each of ``statuses`` keeps (the list's own filters), without listing the site.

    For a "needs attention" panel. One aggregate query counts what the SQL decides exactly
    (publication states, missing translations) and the candidates for "translation outdated";
    only when there are some are those pages read and their texts compared, as the list does.
    """
    async with db.reading() as repo:
        chosen = await repo.site(site_key)
        if chosen is None:
            raise NotFound(Message(N_("site '{site}' does not exist"), site=site_key))
        principal.require(Action.READ_DRAFTS, site=chosen.key)
        counted = await repo.site_status_counts(chosen.id, chosen.locales)
        counts: dict[DocumentStatus, int] = {
            "published": counted.published,
            "unpublished": counted.unpublished,
            "draft-ahead": counted.draft_ahead,
            "translation-missing": counted.missing,
            "translation-outdated": 0,
        }
        if "translation-outdated" in statuses and counted.source_moved:
            counts["translation-outdated"] = await _outdated_count(repo, chosen)
    return {status: counts[status] for status in statuses}


async def _outdated_count(repo: Repository, site: Site) -> int:
    """The site's documents with an outdated translation: the SQL's candidates, checked on their texts."""
    moved = DocumentFilter(site_ids=[site.id], fragments=False, source_moved=True)
    sites = {site.id: site}
    count = 0
    after: int | None = None
    while True:
        batch = await repo.listed_documents(moved, after, _SCAN)
        texts = await _source_texts(repo, batch)
        count += sum(_matches(_item(listed, sites, texts, None), "translation-outdated", None) for listed in batch)
        if len(batch) < _SCAN:
            return count
        after = batch[-1].document.id


__all__ = ["list_documents", "status_counts"]
