"""Routes for embassy websites: published pages per locale, the page list, translation status."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Any
from urllib.parse import parse_qsl

from litestar import Controller, Request, get
from litestar.datastructures import Accept, State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from schemas.delivery import PageList, PageRender, TranslationReport
from schemas.documents import MAX_NUMBER
from services.content.domain.errors import InvalidLocale, InvalidQuery
from services.content.domain.locales import normalize_locale
from services.content.domain.messages import N_, Message
from services.content.domain.negotiation import parse_accept_language
from services.content.http.dependencies import Caller, PathNumber
from services.content.http.observability import http_date
from services.content.http.openapi import BEARER, LOCALE_SHAPE, POSITIVE_NUMBER, SiteKeyPath, SlugPath, problems
from services.content.http.problems import parameter
from services.content.http.raw_response import RawHeaders, RawResponse
from services.content.usecases.delivery import Delivery, ServedPage
from services.content.usecases.min_revision import serve_at_least

HTML = "text/html; charset=utf-8"
JSON = "application/json"


def provide_delivery(state: State) -> Delivery:
    """The app's delivery service (render cache included)."""
    delivery: Delivery = state.delivery
    return delivery


Reader = NamedDependency[Delivery]


@lru_cache(maxsize=1024)
def _requested(locale: str | None, accept_language: str | None) -> tuple[str, ...]:
    """The locales a request asks for, best first (memoised: headers repeat a lot)."""
    if locale is not None:
        try:
            return (normalize_locale(locale),)
        except InvalidLocale as exc:
            raise InvalidLocale(exc.message, locale=locale).at(parameter("query", "locale")) from None
    return parse_accept_language(accept_language) if accept_language else ()


@lru_cache(maxsize=256)
def _wants_html(accept: str | None) -> bool:
    if not accept or "text/html" not in accept:
        return False
    return Accept(accept).best_match([JSON, "text/html"], default=JSON) == "text/html"


_READ_HEADERS = frozenset({b"accept", b"accept-language", b"if-none-match"})


def _read_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """The request headers ``read_page`` uses, in one pass over the ASGI scope's (a repeated one's lines joined)."""
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in _READ_HEADERS:
            text = value.decode("latin-1")
            found[name] = f"{found[name]}, {text}" if name in found else text
    return found


@lru_cache(maxsize=1024)
def _query(raw: bytes) -> Mapping[str, str]:
    """The first value of each query parameter (memoised: the same page URLs come again and again)."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        found.setdefault(name, value)
    return MappingProxyType(found)


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _positive_integer(raw: str | None, name: str) -> int | None:
    """The query parameter ``name`` as a positive integer (None when absent); a 400 problem otherwise."""
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_NUMBER:
        raise InvalidQuery(Message(N_("expected a positive integer, got {value}"), value=repr(raw[:40]))).at(
            parameter("query", name)
        )
    return int(raw)


def _respond(served: ServedPage, as_html: bool, if_none_match: str | None) -> RawResponse:
    entry = served.entry
    prepared = entry.prepared(served.requested, served.fallback, as_html)
    headers, not_modified = prepared.headers, prepared.not_modified_headers
    now = time.time()
    if entry.last_modified.timestamp() > now:
        # Written by a process whose clock is ahead: a response never says it changed after its own Date,
        # which the middleware sets from this clock a moment later.
        headers, not_modified = _last_modified_at(headers, now), _last_modified_at(not_modified, now)
    if if_none_match is not None and _matches(if_none_match, prepared.etag):
        return RawResponse(HTTP_304_NOT_MODIFIED, not_modified)
    return RawResponse(200, headers, prepared.body)


def _last_modified_at(headers: RawHeaders, now: float) -> RawHeaders:
    return [(name, http_date(int(now)) if name == b"last-modified" else value) for name, value in headers]


@dataclass
class ReadPageOperation(Operation):
    """OpenAPI operation of ``read_page``: documents the query and headers the handler reads itself."""

    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            OpenAPIParameter(
                name="locale",
                param_in="query",
                schema=Schema(type=OpenAPIType.STRING, pattern=LOCALE_SHAPE),
                description="Locale to serve (BCP 47); wins over Accept-Language. An invalid tag is a 400 problem.",
            ),
            OpenAPIParameter(
                name="min_revision",
                param_in="query",
                schema=Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_NUMBER),
                description=(
                    "Answer 409 instead of a render older than this revision (the database is read again first), "
                    "so a consumer acting on a change event never reads a stale page."
                ),
            ),
            OpenAPIParameter(
                name="Accept-Language",
                param_in="header",
                schema=Schema(type=OpenAPIType.STRING),
                description="Preferred locales with q-values; used when there is no ?locale=.",
            ),
            OpenAPIParameter(
                name="If-None-Match",
                param_in="header",
                schema=Schema(type=OpenAPIType.STRING),
                description="ETag of a copy the client holds; 304 with no body when it is still current.",
            ),
        ]
        if self.responses and isinstance(ok := self.responses.get("200"), OpenAPIResponse) and ok.content:
            ok.content = {**ok.content, "text/html": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))}


class PageController(Controller):
    """Published pages: public, cached, rendered for the visitor's locale."""

    path = "/v1"
    tags = ["pages"]

    @get(
        "/sites/{site:str}/pages/{slug:str}",
        summary="Read a published page",
        response_description="The published page (JSON, or an HTML fragment for Accept: text/html or a .html slug)",
        operation_class=ReadPageOperation,
        responses={
            200: ResponseSpec(PageRender, description="The published page in the served locale"),
            304: ResponseSpec(None, description="Not modified: the If-None-Match ETag is current"),
            **problems(400, 404, 409),
        },
    )
    async def read_page(
        self,
        request: Request[Any, Any, Any],
        site: SiteKeyPath,
        slug: SlugPath,
    ) -> RawResponse:
        """Read a published page in the negotiated locale.

        Locale: ``?locale=``, then ``Accept-Language`` (q-values), then the site's fallback chain,
        then its default; ``Content-Language`` and the body's ``locale``/``fallback`` say what was
        served. ``If-None-Match`` answers 304. ``Cache-Control: public, max-age=<LIAISON_CACHE_MAX_AGE>``.
        """
        # The hot path of the service: headers and query are read from the ASGI scope rather than
        # through the signature model or Litestar's header and query objects (which cost more than
        # the rest of this route), and everything per render (bodies, headers) is precomputed.
        delivery: Delivery = request.app.state.delivery
        headers = _read_headers(request.scope["headers"])
        query = _query(request.scope["query_string"])
        as_html = slug.endswith(".html")
        if as_html:
            slug = slug[: -len(".html")]
        else:
            as_html = _wants_html(headers.get(b"accept"))
        requested = _requested(query.get("locale"), headers.get(b"accept-language"))
        wanted = _positive_integer(query.get("min_revision"), "min_revision")
        served = await serve_at_least(delivery, site, slug, requested, wanted)
        return _respond(served, as_html, headers.get(b"if-none-match"))

    @get("/sites/{site:str}/pages", summary="List a site's published pages", responses=problems(400, 404))
    async def list_pages(
        self,
        delivery: Reader,
        site: SiteKeyPath,
        cursor: Annotated[
            str | None,
            QueryParameter(description="next_cursor of the previous page", schema_extra={"pattern": POSITIVE_NUMBER}),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        updated_since: Annotated[
            dt.datetime | None, QueryParameter(description="Only pages whose render changed at or after this time")
        ] = None,
    ) -> PageList:
        """List a site's published pages with their locales, revisions, ETags and update times."""
        # A cursor is a next_cursor this API returned; anything else is refused rather than read as "start".
        after = _positive_integer(cursor, "cursor")
        if updated_since is not None and updated_since.tzinfo is None:
            updated_since = updated_since.replace(tzinfo=dt.UTC)
        return await delivery.list_pages(site, after, limit, updated_since)

    @get(
        "/documents/{document_id:int}/translations",
        summary="Translation status of a document",
        security=BEARER,
        responses=problems(400, 401, 403, 404),
    )
    async def translations(self, delivery: Reader, principal: Caller, document_id: PathNumber) -> TranslationReport:
        """Translation status of every locale: up to date, outdated (with the source's diff) or missing."""
        return await delivery.translations(principal, document_id)
