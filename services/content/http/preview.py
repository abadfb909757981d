"""Routes for previews: a revision, or an unsaved body, rendered by the delivery renderer for an editor."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, QueryParameter

from schemas.delivery import PageRender
from schemas.documents import PreviewRequest
from schemas.sites import SiteKey
from services.content.http.dependencies import Caller, PathNumber
from services.content.http.openapi import BEARER, LOCALE_SHAPE, LocalePath, pattern_of, problems
from services.content.http.pages import Reader
from services.content.usecases import preview

VARIANT = "/{document_id:int}/variants/{locale:str}"

FragmentSite = Annotated[
    str | None,
    QueryParameter(
        description="For a fragment: the site whose facts and fallback chain it is rendered with (pages ignore it)",
        schema_extra={"pattern": pattern_of(SiteKey)},
    ),
]

Requested = Annotated[
    str | None,
    QueryParameter(
        description="For a page: show what a reader asking for this locale gets (perhaps another locale: fallback)",
        schema_extra={"pattern": LOCALE_SHAPE},
    ),
]

_PRIVATE = {"Cache-Control": "private, no-store"}
"""A preview shows drafts: no shared cache may keep it."""


def _private(render: PageRender) -> Response[PageRender]:
    return Response(render, headers={**_PRIVATE, "Content-Language": render.locale})


class PreviewController(Controller):
    """Previews need a token that may read drafts on the document's site."""

    path = "/v1/documents"
    tags = ["documents"]
    security = BEARER

    @get(
        VARIANT + "/revisions/{number:int}/preview",
        summary="Preview a revision",
        responses=problems(400, 401, 403, 404, 422),
    )
    async def preview_revision(
        self,
        delivery: Reader,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        number: PathNumber,
        site: FragmentSite = None,
        requested: Requested = None,
    ) -> Response[PageRender]:
        """Render any revision, draft or not, exactly as the public page would show it once published."""
        return _private(
            await preview.preview(
                delivery, principal, document_id, locale, revision=number, site=site, requested=requested
            )
        )

    @post(
        VARIANT + "/preview",
        status_code=200,
        summary="Preview an unsaved body",
        responses=problems(400, 401, 403, 404, 413, 422),
    )
    async def preview_body(
        self,
        delivery: Reader,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        data: JSONBody[PreviewRequest],
        site: FragmentSite = None,
        requested: Requested = None,
    ) -> Response[PageRender]:
        """Render a title and blocks (checked as a revision's are) as the public page would show them; saves nothing."""
        return _private(
            await preview.preview(delivery, principal, document_id, locale, body=data, site=site, requested=requested)
        )
