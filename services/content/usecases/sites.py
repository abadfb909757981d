"""Use cases about sites."""

from __future__ import annotations

import msgspec

from schemas.sites import SiteCreate, SiteOut, SiteWebsite
from services.content.domain.access import Action, Principal
from services.content.domain.errors import AlreadyExists, InvalidContent, NotFound
from services.content.domain.facts import GLOBAL_SCOPE, checked_territory
from services.content.domain.locales import normalize_locale
from services.content.domain.messages import N_, Message
from services.content.domain.website import checked_address, checked_pattern
from services.content.storage.database import Database
from services.content.usecases.changes import site_website_changed
from services.content.usecases.presenters import site_out


def _locales(tags: list[str], field: str) -> list[str]:
    result: list[str] = []
    for i, tag in enumerate(tags):
        try:
            locale = normalize_locale(tag)
        except InvalidContent as exc:
            exc.at(f"$.{field}[{i}]")
            raise
        if locale in result:
            raise InvalidContent(
                Message(N_("{field}: locale '{locale}' is listed twice"), field=f"$.{field}[{i}]", locale=locale)
            )
        result.append(locale)
    return result


def _website(body: SiteCreate | SiteWebsite) -> tuple[str | None, str | None]:
    """The checked website address and page URL pattern of a body."""
    address = checked_address(body.website_url, "$.website_url") if body.website_url is not None else None
    pattern = body.page_url_pattern
    if pattern is not None:
        pattern = checked_pattern(pattern, address, "$.page_url_pattern")
    return address, pattern


async def create_site(db: Database, principal: Principal, body: SiteCreate) -> SiteOut:
    """Create a site after checking its locales with Babel."""
    principal.require(Action.MANAGE_SITES, site=None)
    if body.key == GLOBAL_SCOPE:
        raise InvalidContent(Message(N_("$.key: 'global' is reserved for global facts")))
    locales = _locales(body.locales, "locales")
    default = _locales([body.default_locale], "default_locale")[0]
    fallback = _locales(body.fallback, "fallback")
    country = checked_territory(body.country, "$.country") if body.country is not None else None
    website_url, page_url_pattern = _website(body)
    if default not in locales:
        raise InvalidContent(
            Message(
                N_("{field}: '{locale}' is not one of the site's locales {locales}"),
                field="$.default_locale",
                locale=default,
                locales=locales,
            )
        )
    for i, locale in enumerate(fallback):
        if locale not in locales:
            raise InvalidContent(
                Message(
                    N_("{field}: '{locale}' is not one of the site's locales {locales}"),
                    field=f"$.fallback[{i}]",
                    locale=locale,
                    locales=locales,
                )
            )
    async with db.transaction() as repo:
        if await repo.site(body.key) is not None:
            raise AlreadyExists(Message(N_("$.key: site '{site}' already exists"), site=body.key))
        site = await repo.insert_site(
            body.key, body.name, locales, default, fallback or [default], country, website_url, page_url_pattern
        )
    return site_out(site)


async def set_website(db: Database, principal: Principal, key: str, body: SiteWebsite) -> SiteOut:
    """Replace a site's website address and page URL pattern; every render of the site changes its links."""
    principal.require(Action.MANAGE_SITES, site=None)
    website_url, page_url_pattern = _website(body)
    async with db.transaction() as repo:
        site = await repo.site(key)
        if site is None:
            raise NotFound(Message(N_("site '{site}' does not exist"), site=key))
        if (site.website_url, site.page_url_pattern) != (website_url, page_url_pattern):
            await repo.set_site_website(site.id, website_url, page_url_pattern)
            await site_website_changed(repo, site.id, site.key)
    return site_out(msgspec.structs.replace(site, website_url=website_url, page_url_pattern=page_url_pattern))


async def list_sites(db: Database) -> list[SiteOut]:
    """Every site (public)."""
    async with db.reading() as repo:
        return [site_out(s) for s in await repo.list_sites()]


async def sites_for(db: Database, principal: Principal) -> list[SiteOut]:
    """The sites ``principal`` may read the drafts of (its scope), for the console."""
    return [site for site in await list_sites(db) if principal.allows(Action.READ_DRAFTS, site=site.key)]


async def get_site(db: Database, key: str) -> SiteOut:
    """One site (public)."""
    async with db.reading() as repo:
        site = await repo.site(key)
    if site is None:
        raise NotFound(Message(N_("site '{site}' does not exist"), site=key))
    return site_out(site)
