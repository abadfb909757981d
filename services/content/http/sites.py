"""Routes for sites."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from schemas.sites import SiteCreate, SiteOut
from services.content.http.dependencies import DB, Caller
from services.content.http.openapi import BEARER, problems
from services.content.usecases import sites


class SiteController(Controller):
    """Embassy websites and their locales."""

    path = "/v1/sites"
    tags = ["sites"]

    @post("/", security=BEARER, responses=problems(400, 401, 403, 409, 413, 422))
    async def create_site(self, db: DB, principal: Caller, data: JSONBody[SiteCreate]) -> SiteOut:
        """Create a site (admin token for all sites)."""
        return await sites.create_site(db, principal, data)

    @get("/")
    async def list_sites(self, db: DB) -> list[SiteOut]:
        """List every site."""
        return await sites.list_sites(db)

    @get("/{key:str}", responses=problems(404))
    async def get_site(self, db: DB, key: FromPath[str]) -> SiteOut:
        """Read one site."""
        return await sites.get_site(db, key)
