"""What a publication or an unpublication will change, and where, for the confirmation before it.

For a page: for each locale a reader may ask for, which locale and revision the public URL
serves now and will serve after the change, by the delivery's own locale choice
(`domain/negotiation.choose_locale` over the live locales): a locale goes live, changes
revision, or falls back to another. For a fragment: the live pages including it on every site,
which the change re-renders (`usage.document_usage`, the change's own fan-out).
"""

from __future__ import annotations

import msgspec

from schemas.documents import DocumentOut
from schemas.usage import Usage
from services.content.domain.access import Action, Principal
from services.content.domain.errors import NotFound
from services.content.domain.messages import N_, Message
from services.content.domain.negotiation import choose_locale
from services.content.storage.database import Database
from services.content.usecases.documents import checked_locale, load_document
from services.content.usecases.presenters import document_out
from services.content.usecases.usage import document_usage


class Served(msgspec.Struct, frozen=True):
    """What a public URL serves: a locale and its live revision, or nothing (404)."""

    locale: str | None
    revision: int | None
    fallback: bool


class LocaleEffect(msgspec.Struct, frozen=True):
    """One public URL of a page (a requested locale, or none asked): what it serves before and after."""

    requested: str | None
    url: str
    before: Served
    after: Served

    @property
    def changed(self) -> bool:
        """Whether readers of this URL will see something else."""
        return self.before != self.after


class PublicationEffect(msgspec.Struct, frozen=True):
    """The change: ``revision`` of ``locale`` goes live (None: the locale goes offline), and its effect."""

    document: DocumentOut
    locale: str
    revision: int | None
    live_revision: int | None
    urls: list[LocaleEffect] = []
    """A page's public URLs, one per site locale and one with no locale asked."""
    usage: Usage | None = None
    """A fragment's live includers, which the change re-renders."""


def _served(requested: str | None, live: dict[str, int], fallback: list[str], default: str) -> Served:
    chosen = choose_locale((requested,) if requested else (), list(live), fallback, default)
    if chosen is None:
        return Served(None, None, False)
    return Served(chosen[0], live[chosen[0]], chosen[1])


async def publication_effect(
    db: Database, principal: Principal, document_id: int, locale_tag: str, revision: int | None
) -> PublicationEffect:
    """What publishing ``revision`` of the variant (``None``: unpublishing it) changes; needs READ_DRAFTS."""
    async with db.reading() as repo:
        document, site = await load_document(repo, document_id, principal)
        principal.require(Action.READ_DRAFTS, site=site.key if site else None)
        locale = checked_locale(locale_tag, site)
        variants = await repo.variants_of(document.id)
        variant = next((v for v in variants if v.locale == locale), None)
        if variant is None:
            raise NotFound(Message(N_("document {id} has no {locale} variant"), id=document_id, locale=locale))
        if revision is not None and not 1 <= revision <= variant.head_revision:
            raise NotFound(
                Message(
                    N_("{field}: variant {locale} has no revision {number}"),
                    field="revision",
                    locale=locale,
                    number=revision,
                )
            )
        out = document_out(document, variants)
    if site is None:
        usage = await document_usage(db, principal, document_id)
        return PublicationEffect(out, locale, revision, variant.published_revision, usage=usage)
    before = {v.locale: v.published_revision for v in variants if v.published_revision is not None}
    after = {k: v for k, v in before.items() if k != locale}
    if revision is not None:
        after[locale] = revision
    base = f"/v1/sites/{site.key}/pages/{document.slug}"
    urls = [
        LocaleEffect(
            requested=requested,
            url=f"{base}?locale={requested}" if requested else base,
            before=_served(requested, before, site.fallback, site.default_locale),
            after=_served(requested, after, site.fallback, site.default_locale),
        )
        for requested in [*site.locales, None]
    ]
    return PublicationEffect(out, locale, revision, variant.published_revision, urls=urls)


__all__ = ["LocaleEffect", "PublicationEffect", "Served", "publication_effect"]
