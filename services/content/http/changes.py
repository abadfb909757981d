"""Route of the change feed."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import QueryParameter

from schemas.events import ChangeFeed
from schemas.sites import SiteKey
from services.content.http.dependencies import DB
from services.content.http.openapi import pattern_of, problems
from services.content.usecases.change_feed import changes


class ChangeController(Controller):
    """Ordered change events, the same CloudEvents as the Redis streams carry."""

    path = "/v1/changes"
    tags = ["changes"]

    @get("/", summary="Read the change feed of a site", responses=problems(400, 404, 410))
    async def list_changes(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        site: Annotated[str, QueryParameter(description="Site key", schema_extra={"pattern": pattern_of(SiteKey)})],
        after: Annotated[int, QueryParameter(ge=0, le=2**31 - 1, description="Last sequence the caller has")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> ChangeFeed:
        """Events of a site after a sequence, in order; 410 when the cursor is older than the retention."""
        return await changes(db, request.app.state.public_url, site, after, limit)
