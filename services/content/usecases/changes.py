"""Which renders a change alters, written to the outbox in the change's own transaction.

A page's render depends on its live revision, the live revisions of the
fragments it includes (directly or through other fragments), the facts any of
those name, and the other locales' publications (its alternates). Every write
that moves one of these calls a function here before its transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from services.content.domain.facts import GLOBAL_SCOPE
from services.content.domain.translation import same_text
from services.content.storage.repository import Repository


async def _fragment_ancestors(repo: Repository, keys: set[str]) -> set[str]:
    """``keys`` plus every fragment that includes one of them, however deep."""
    found = set(keys)
    frontier = set(keys)
    while frontier:
        frontier = await repo.fragments_referencing("fragment", frontier) - found
        found |= frontier
    return found


async def _rerender_pages(
    repo: Repository, pages: Iterable[tuple[int, str, str]], reason: str, cause: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pages = sorted(set(pages))
    live = await repo.published_locales_of(document_id for document_id, _, _ in pages)
    for document_id, site, slug in pages:
        for locale, revision in live.get(document_id, []):
            rows.append(
                {
                    "site": site,
                    "document_id": document_id,
                    "slug": slug,
                    "locale": locale,
                    "kind": "rerendered",
                    "reason": reason,
                    "revision": revision,
                    "cause": cause[:200],
                }
            )
    return rows


async def page_publication_changed(
    repo: Repository, document_id: int, site: str, slug: str, locale: str, revision: int | None
) -> None:
    """A page variant was published (``revision``) or unpublished (None)."""
    kind, reason = ("published", "publish") if revision is not None else ("unpublished", "unpublish")
    cause = f"page {site}/{slug} {locale} {'revision ' + str(revision) if revision else 'unpublished'}"
    rows: list[dict[str, Any]] = [
        {
            "site": site,
            "document_id": document_id,
            "slug": slug,
            "locale": locale,
            "kind": kind,
            "reason": reason,
            "revision": revision,
            "cause": cause,
        }
    ]
    # The other locales list this one among their alternates, so their renders change too.
    rows += [
        row
        for row in await _rerender_pages(repo, [(document_id, site, slug)], "alternates", cause)
        if row["locale"] != locale
    ]
    if revision is not None:
        rows += await _outdated_translations(repo, document_id, site, slug, locale, revision)
    await repo.insert_outbox(rows)


async def _outdated_translations(
    repo: Repository, document_id: int, site: str, slug: str, locale: str, revision: int
) -> list[dict[str, Any]]:
    """A ``translation_outdated`` row per locale whose latest translation says another text than ``revision``.

    Only a publish of the source locale outdates translations; a fact's new value never does
    (placeholders are language-neutral), nor does a publish whose text is the translated one.
    """
    document = await repo.document(document_id)
    source = await repo.variant(document_id, locale) if document and document.source_locale == locale else None
    published = await repo.revision(source.id, revision) if source else None
    if source is None or published is None:
        return []
    rows: list[dict[str, Any]] = []
    for variant in await repo.variants_of(document_id):
        if variant.locale == locale:
            continue
        head = await repo.revision(variant.id, variant.head_revision)
        if head is None or head.source_revision is None:
            continue
        translated_from = await repo.revision(source.id, head.source_revision)
        if translated_from is None or same_text(
            translated_from.title, translated_from.blocks, published.title, published.blocks
        ):
            continue
        cause = (
            f"page {site}/{slug} {variant.locale} translates {locale} revision {head.source_revision}; "
            f"{locale} revision {revision} published"
        )
        rows.append(
            {
                "site": site,
                "document_id": document_id,
                "slug": slug,
                "locale": variant.locale,
                "kind": "translation_outdated",
                "reason": "publish",
                "revision": variant.published_revision,
                "cause": cause[:200],
            }
        )
    return rows


class Fanout(NamedTuple):
    """What a change to a fact or fragment reaches: the fragments through which, and the live pages."""

    fragments: set[str]
    """Fragments whose live revision names the target, directly or through other fragments."""
    pages: list[tuple[int, str, str]]
    """(document id, site key, slug) of the pages whose live revision shows the target, however deep."""


async def fragment_fanout(repo: Repository, key: str) -> Fanout:
    """The pages a change to fragment ``key`` re-renders, and the fragments including it on the way."""
    including = await _fragment_ancestors(repo, {key})
    pages = await repo.published_pages_referencing("fragment", including)
    return Fanout(including - {key}, pages)


async def fact_fanout(repo: Repository, scope: str, key: str) -> Fanout:
    """The pages a new value of fact ``scope``/``key`` re-renders, and the fragments they show it through."""
    fragments = await _fragment_ancestors(repo, await repo.fragments_referencing("fact", [key]))
    pages = await repo.published_pages_referencing("fact", [key])
    if fragments:
        pages += await repo.published_pages_referencing("fragment", fragments)
    if scope == GLOBAL_SCOPE:
        # Sites with their own fact of this key never showed the global one.
        hidden = await repo.sites_overriding(key)
        pages = [page for page in pages if page[1] not in hidden]
    else:
        pages = [page for page in pages if page[1] == scope]
    return Fanout(fragments, sorted(set(pages)))


async def fragment_publication_changed(repo: Repository, key: str, locale: str, revision: int | None) -> None:
    """A fragment variant was published or unpublished: every page including it re-renders."""
    pages = (await fragment_fanout(repo, key)).pages
    cause = f"fragment {key} {locale} {'revision ' + str(revision) if revision else 'unpublished'}"
    await repo.insert_outbox(await _rerender_pages(repo, pages, "fragment", cause))


async def fact_changed(repo: Repository, scope: str, key: str, version: int) -> None:
    """A fact has a new value: every page showing it, directly or through fragments, re-renders."""
    pages = (await fact_fanout(repo, scope, key)).pages
    await repo.insert_outbox(await _rerender_pages(repo, pages, "fact", f"fact {scope}/{key} version {version}"))


async def page_deleted(repo: Repository, document_id: int, site: str, slug: str) -> None:
    """A page is about to be deleted: each live locale is unpublished."""
    for locale, _ in (await repo.published_locales_of([document_id])).get(document_id, []):
        await page_publication_changed(repo, document_id, site, slug, locale, None)
