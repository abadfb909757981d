"""Routes for sites."""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.params import JSONBody

from schemas.sites import SiteCreate, SiteOut, SiteWebsite
from services.content.http.dependencies import DB, Caller
from services.content.http.openapi import BEARER, SiteKeyPath, problems
from services.content.usecases import sites


class SiteController(Controller):
    """Embassy websites and their locales."""

    path = "/v1/sites"
    tags = ["sites"]

    @post("/", summary="Create a site", security=BEARER, responses=problems(400, 401, 403, 409, 413, 422))
    async def create_site(self, db: DB, principal: Caller, data: JSONBody[SiteCreate]) -> SiteOut:
        """Create a site with its locales, default locale and fallback chain (an admin token for all sites)."""
        return await sites.create_site(db, principal, data)

    @get("/", summary="List the sites")
    async def list_sites(self, db: DB) -> list[SiteOut]:
        """Every site with its locales, default locale and fallback chain. Public."""
        return await sites.list_sites(db)

    @get("/{key:str}", summary="Read a site", responses=problems(404))
    async def get_site(self, db: DB, key: SiteKeyPath) -> SiteOut:
        """One site by its key. Public."""
        return await sites.get_site(db, key)

    @put(
        "/{key:str}/website",
        summary="Set a site's website address and page URL pattern",
        security=BEARER,
        responses=problems(400, 401, 403, 404, 413, 422),
    )
    async def set_website(self, db: DB, principal: Caller, key: SiteKeyPath, data: JSONBody[SiteWebsite]) -> SiteOut:
        """Replace the website's address and page URL pattern (null clears them; an admin token for all sites).

        Renders' alternates and language switchers then link to the website's pages, so every
        published page of the site re-renders (one `alternates` event per page and locale).
        """
        return await sites.set_website(db, principal, key, data)
