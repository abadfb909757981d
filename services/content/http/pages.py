"""Routes for embassy websites: published pages per locale, the page list, translation status."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from schemas.delivery import PageList, PageRender, TranslationReport
from services.content.domain.errors import InvalidLocale, RevisionNotServed
from services.content.domain.locales import normalize_locale
from services.content.domain.negotiation import parse_accept_language
from services.content.http.dependencies import Caller
from services.content.http.openapi import BEARER, problems
from services.content.usecases.delivery import Delivery, ServedPage

HTML = "text/html; charset=utf-8"
JSON = "application/json"


def provide_delivery(state: State) -> Delivery:
    """The app's delivery service (render cache included)."""
    delivery: Delivery = state.delivery
    return delivery


Reader = NamedDependency[Delivery]


def _requested(locale: str | None, accept_language: str | None) -> tuple[str, ...]:
    if locale is not None:
        try:
            return (normalize_locale(locale),)
        except InvalidLocale as exc:
            exc.detail = f"query parameter 'locale': {exc.detail}"
            raise
    return parse_accept_language(accept_language) if accept_language else ()


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _respond(served: ServedPage, as_html: bool, if_none_match: str | None, cache_control: str) -> Response[bytes]:
    entry = served.entry
    body, etag = (entry.html, entry.html_etag) if as_html else entry.json(served.requested, served.fallback)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(entry.last_modified.astimezone(dt.UTC), usegmt=True),
        "Cache-Control": cache_control,
        "Vary": "Accept, Accept-Language",
        "Content-Language": entry.render.locale,
        "Liaison-Locale-Fallback": "true" if served.fallback else "false",
    }
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type=HTML if as_html else JSON, headers=headers)


class PageController(Controller):
    """Published pages: public, cached, rendered for the visitor's locale."""

    path = "/v1"
    tags = ["pages"]

    @get(
        "/sites/{site:str}/pages/{slug:str}",
        responses=problems(400, 404, 409),
        response_description="The published page (JSON, or an HTML fragment for Accept: text/html or a .html slug)",
    )
    async def read_page(
        self,
        request: Request[Any, Any, Any],
        delivery: Reader,
        site: FromPath[str],
        slug: FromPath[str],
        locale: Annotated[str | None, QueryParameter(description="Locale to serve; wins over Accept-Language.")] = None,
        min_revision: Annotated[
            int | None,
            QueryParameter(
                ge=1,
                description="Answer 409 instead of a render older than this revision (after re-reading the database).",
            ),
        ] = None,
    ) -> Response[PageRender]:
        """Read a published page in the negotiated locale.

        Locale: ``?locale=``, then ``Accept-Language`` (q-values), then the site's fallback chain,
        then its default; ``Content-Language`` and the body's ``locale``/``fallback`` say what was
        served. ``If-None-Match`` answers 304. ``Cache-Control: public, max-age=<LIAISON_CACHE_MAX_AGE>``.
        """
        as_html = slug.endswith(".html")
        if as_html:
            slug = slug.removesuffix(".html")
        else:
            as_html = request.accept.best_match([JSON, "text/html"], default=JSON) == "text/html"
        requested = _requested(locale, request.headers.get("accept-language"))
        served = await delivery.serve(site, slug, requested)
        if min_revision is not None and served.entry.render.revision < min_revision:
            # This process may have missed another replica's publish: read the database again.
            served = await delivery.serve(site, slug, requested, fresh=True)
            if served.entry.render.revision < min_revision:
                raise RevisionNotServed(
                    f"min_revision {min_revision}: the published {served.entry.render.locale} revision is "
                    f"{served.entry.render.revision}",
                    current={"revision": served.entry.render.revision},
                )
        cache_control = request.app.state.cache_control
        return _respond(served, as_html, request.headers.get("if-none-match"), cache_control)  # type: ignore[return-value]

    @get("/sites/{site:str}/pages", responses=problems(400, 404))
    async def list_pages(
        self,
        delivery: Reader,
        site: FromPath[str],
        cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        updated_since: Annotated[
            dt.datetime | None, QueryParameter(description="Only pages whose render changed at or after this time")
        ] = None,
    ) -> PageList:
        """List a site's published pages with their locales, revisions, ETags and update times."""
        after = int(cursor) if cursor and cursor.isdigit() else None
        if updated_since is not None and updated_since.tzinfo is None:
            updated_since = updated_since.replace(tzinfo=dt.UTC)
        return await delivery.list_pages(site, after, limit, updated_since)

    @get("/documents/{document_id:int}/translations", security=BEARER, responses=problems(401, 403, 404))
    async def translations(self, delivery: Reader, principal: Caller, document_id: FromPath[int]) -> TranslationReport:
        """Translation status of every locale: up to date, outdated (with the source's diff) or missing."""
        return await delivery.translations(principal, document_id)
