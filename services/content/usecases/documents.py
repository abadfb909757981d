"""Use cases about documents: create, read, delete, and the access rules they share."""

from __future__ import annotations

from schemas.documents import DocumentCreate, DocumentOut
from services.content.domain.access import Action, Principal
from services.content.domain.errors import AlreadyExists, InvalidContent, LocaleNotOnSite, NotFound, StillReferenced
from services.content.domain.locales import normalize_locale
from services.content.domain.messages import N_, NN_, Message
from services.content.domain.model import Document, Site
from services.content.storage.database import Database
from services.content.storage.repository import Repository
from services.content.usecases import changes
from services.content.usecases.presenters import document_out


async def load_document(repo: Repository, document_id: int, principal: Principal) -> tuple[Document, Site | None]:
    """The document and, for a page, its site; `NotFound` otherwise.

    A document outside the token's sites is not found either, with the very same answer: a
    token must not learn what exists on a site it has no access to (a 403 would tell it).
    """
    document = await repo.document(document_id)
    site = await repo.site_by_id(document.site_id) if document and document.site_id is not None else None
    if document is None or not principal.allows(Action.READ_DRAFTS, site=site.key if site else None):
        raise NotFound(Message(N_("document {id} does not exist"), id=document_id))
    return document, site


def checked_locale(tag: str, site: Site | None, field: str = "locale") -> str:
    """Normalise ``tag`` and, for a page, check the site offers it."""
    try:
        locale = normalize_locale(tag)
    except InvalidContent as exc:
        exc.at(field)
        raise
    if site is not None and locale not in site.locales:
        raise LocaleNotOnSite(
            Message(
                N_("{field}: site '{site}' has no locale '{locale}' (it has {locales})"),
                field=field,
                site=site.key,
                locale=locale,
                locales=", ".join(site.locales),
            ),
            locale=locale,
            site_locales=site.locales,
        )
    return locale


async def create_document(db: Database, principal: Principal, body: DocumentCreate) -> DocumentOut:
    """Create an empty page or fragment; its variants appear with their first revision."""
    async with db.transaction() as repo:
        site: Site | None = None
        if body.kind == "page":
            if body.site is None or body.slug is None or body.key is not None:
                raise InvalidContent(Message(N_("$: a page needs 'site' and 'slug' and has no 'key'")))
            site = await repo.site(body.site)
            if site is None:
                raise InvalidContent(Message(N_("$.site: site '{site}' does not exist"), site=body.site))
            principal.require(Action.WRITE_SOURCE, site=site.key)
            if await repo.page(site.id, body.slug) is not None:
                raise AlreadyExists(
                    Message(N_("$.slug: site '{site}' already has a page '{slug}'"), site=site.key, slug=body.slug)
                )
        else:
            if body.key is None or body.site is not None or body.slug is not None:
                raise InvalidContent(Message(N_("$: a fragment needs 'key' and has no 'site' or 'slug'")))
            # A fragment is shared by every site, so only an all-sites token may create one.
            principal.require(Action.WRITE_SOURCE, site=None)
            if await repo.fragment(body.key) is not None:
                raise AlreadyExists(Message(N_("$.key: fragment '{key}' already exists"), key=body.key))
        source_locale = checked_locale(body.source_locale, site, "$.source_locale")
        document = await repo.insert_document(body.kind, source_locale, site, body.slug, body.key)
    return document_out(document, [])


async def get_document(db: Database, principal: Principal, document_id: int) -> DocumentOut:
    """A document with its variants' heads and publications (drafts: needs a token)."""
    async with db.reading() as repo:
        document, site = await load_document(repo, document_id, principal)
        principal.require(Action.READ_DRAFTS, site=site.key if site else None)
        return document_out(document, await repo.variants_of(document.id))


async def delete_document(db: Database, principal: Principal, document_id: int) -> None:
    """Delete a document; refused with 409 while published content includes the fragment."""
    async with db.transaction() as repo:
        document, site = await load_document(repo, document_id, principal)
        principal.require(Action.DELETE, site=site.key if site else None)
        if document.is_fragment and document.key is not None:
            referrers = [
                r for r in await repo.published_referrers("fragment", document.key) if r["document_id"] != document.id
            ]
            if referrers:
                raise StillReferenced(
                    Message(
                        NN_(
                            "fragment '{key}' is included by {count} published variant",
                            "fragment '{key}' is included by {count} published variants",
                        ),
                        key=document.key,
                        count=len(referrers),
                    ),
                    references=referrers,
                )
        if document.site_key is not None and document.slug is not None:
            await changes.page_deleted(repo, document.id, document.site_key, document.slug)
        await repo.delete_document(document.id)


__all__ = ["checked_locale", "create_document", "delete_document", "get_document", "load_document"]
