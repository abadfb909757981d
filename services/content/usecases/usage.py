"""Where a fact or a fragment is used, for the confirmations before a change: pages by site, and renders.

The pages are those a change would re-render, found by the same fan-out the change's outbox
rows come from (`changes.fact_fanout`, `changes.fragment_fanout`): what the confirmation says
is what the change does.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.usage import PageUsage, SiteUsage, Usage
from services.content.domain.access import Action, Principal
from services.content.domain.facts import GLOBAL_SCOPE
from services.content.storage.database import Database
from services.content.storage.repository import Repository
from services.content.usecases import changes
from services.content.usecases.documents import load_document
from services.content.usecases.facts import existing_fact


async def _usage(repo: Repository, fanout: changes.Fanout, direct: Iterable[int]) -> Usage:
    live = await repo.published_locales_of(document_id for document_id, _, _ in fanout.pages)
    named = set(direct)
    by_site: dict[str, list[PageUsage]] = {}
    for document_id, site, slug in sorted(fanout.pages, key=lambda page: (page[1], page[0])):
        locales = [locale for locale, _ in live.get(document_id, [])]
        if locales:
            by_site.setdefault(site, []).append(PageUsage(document_id, slug, document_id in named, locales))
    sites = [
        SiteUsage(site=site, pages=pages, renders=sum(len(page.locales) for page in pages))
        for site, pages in by_site.items()
    ]
    return Usage(
        fragments=sorted(fanout.fragments),
        sites=sites,
        pages=sum(len(site.pages) for site in sites),
        renders=sum(site.renders for site in sites),
    )


async def fact_usage(db: Database, principal: Principal, scope: str, key: str) -> Usage:
    """The live pages showing fact ``scope``/``key`` (directly or through fragments), by site; needs READ_DRAFTS.

    A site's own fact of the same key hides a global one: those sites' pages are not counted.
    """
    async with db.reading() as repo:
        fact = await existing_fact(repo, scope, key)
        principal.require(Action.READ_DRAFTS, site=None if fact.scope == GLOBAL_SCOPE else fact.scope)
        fanout = await changes.fact_fanout(repo, fact.scope, fact.key)
        direct = [page[0] for page in await repo.published_pages_referencing("fact", [fact.key])]
        return await _usage(repo, fanout, direct)


async def document_usage(db: Database, principal: Principal, document_id: int) -> Usage:
    """For a fragment: the live pages including it, however deep, by site. For a page: the page itself.

    Either way, the renders a publication or unpublication of the document re-renders.
    """
    async with db.reading() as repo:
        document, site = await load_document(repo, document_id, principal)
        principal.require(Action.READ_DRAFTS, site=site.key if site else None)
        if document.is_fragment and document.key is not None:
            fanout = await changes.fragment_fanout(repo, document.key)
            direct = [page[0] for page in await repo.published_pages_referencing("fragment", [document.key])]
        elif document.site_key is not None and document.slug is not None:
            fanout = changes.Fanout(set(), [(document.id, document.site_key, document.slug)])
            direct = [document.id]
        else:  # pragma: no cover - a document is a page or a fragment
            fanout, direct = changes.Fanout(set(), []), []
        return await _usage(repo, fanout, direct)


__all__ = ["document_usage", "fact_usage"]
