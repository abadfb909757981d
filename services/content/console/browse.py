"""The browse pages: a site's pages and fragments with a status per locale, search, filters and what needs attention.

The list is the API's document list (`usecases.document_list.list_documents`), called with the
session's principal: the console counts and filters nothing itself. The filter form is a plain
GET form (it works without JavaScript); with htmx it replaces only the table and pushes the URL,
so the answer to an htmx request is the table alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from schemas.documents import (
    MAX_LIST_LIMIT,
    DocumentList,
    DocumentListItem,
    DocumentQuery,
    DocumentStatus,
    LocaleStatus,
)
from services.content.console.controllers import SignedInController
from services.content.console.templating import page
from services.content.domain.access import Action, Principal
from services.content.domain.messages import N_, Message
from services.content.http.dependencies import DB, Caller
from services.content.storage.database import Database
from services.content.usecases.document_list import list_documents, status_counts
from services.content.usecases.sites import get_site

PAGE_SIZE = 50
FILTERS = ("kind", "locale", "status", "q")
"""The query parameters of the filter form, in the order the "next" link repeats them."""

ATTENTION: tuple[DocumentStatus, ...] = ("draft-ahead", "translation-outdated", "translation-missing")
"""What the "needs attention" panel counts, each a filter of the list."""


BAD_FILTER = N_("These filters are not valid ({detail}). Choose them again in the form.")


@dataclass(frozen=True)
class Cell:
    """A document in one locale of the site: its status there, and the work the token may start on it."""

    tag: str
    entry: LocaleStatus | None
    action: str | None
    """``edit`` (the source), ``translate`` (another locale), or None when the token may do neither."""


@dataclass(frozen=True)
class Row:
    """A document as the table shows it: its item, and a cell for each locale of the site, in the site's order."""

    item: DocumentListItem
    statuses: list[Cell]

    @property
    def name(self) -> str:
        """The head title in the source locale, else the slug or key."""
        for entry in self.item.locales:
            if entry.locale == self.item.source_locale and entry.title:
                return entry.title
        return self.item.slug or self.item.key or str(self.item.id)


@dataclass(frozen=True)
class Attention:
    """How many documents of the site are in one state that needs attention."""

    status: DocumentStatus
    count: int


def _rows(listed: DocumentList, locales: list[str], principal: Principal | None) -> list[Row]:
    """The table's rows; what the token may start is asked once per (site, locale, source or not), not per cell."""
    actions: dict[tuple[str | None, str, bool], str | None] = {}

    def action(site: str | None, tag: str, is_source: bool) -> str | None:
        key = (site, tag, is_source)
        if key not in actions:
            if principal is None:
                actions[key] = None
            elif is_source:
                actions[key] = "edit" if principal.allows(Action.WRITE_SOURCE, site=site) else None
            else:
                allowed = principal.allows(Action.WRITE_TRANSLATION, site=site, locale=tag)
                actions[key] = "translate" if allowed else None
        return actions[key]

    rows = []
    for item in listed.items:
        by_locale = {entry.locale: entry for entry in item.locales}
        cells = [Cell(tag, by_locale.get(tag), action(item.site, tag, tag == item.source_locale)) for tag in locales]
        rows.append(Row(item, cells))
    return rows


def _query(site: str, params: Mapping[str, str], limit: int) -> DocumentQuery:
    """The list's query from the form's parameters (empty ones ignored); msgspec checks them as the API does."""
    given: dict[str, Any] = {name: params[name] for name in (*FILTERS, "cursor") if params.get(name)}
    return msgspec.convert({**given, "site": site, "limit": limit}, DocumentQuery, strict=False)


async def _attention(db: Database, principal: Principal, site: str) -> list[Attention]:
    # One pass over the site by the list's own rules, not one full list scan per status.
    counts = await status_counts(db, principal, site, ATTENTION)
    return [Attention(status, counts[status]) for status in ATTENTION]


async def _shared_fragments(db: Database, principal: Principal, query: DocumentQuery) -> DocumentList | None:
    """The shared fragments (of no site) matching the filters, when the token may see them (a token of all sites)."""
    if query.kind == "page" or not principal.allows(Action.READ_DRAFTS, site=None):
        return None
    found = await list_documents(
        db,
        principal,
        DocumentQuery(kind="fragment", locale=query.locale, status=query.status, q=query.q, limit=MAX_LIST_LIMIT),
    )
    return DocumentList(items=[item for item in found.items if item.site is None], next_cursor=found.next_cursor)


class BrowseController(SignedInController):
    """``/console/sites/{site}``: the site's documents."""

    path = "/sites"

    @get("/{site:str}", name="console:site")
    async def site_documents(
        self, request: Request[Any, Any, Any], db: DB, principal: Caller, site: FromPath[str]
    ) -> Template:
        """The site's pages and fragments, filtered; only the table for an htmx request of the filter form."""
        found = await get_site(db, site)
        params = {name: request.query_params.get(name, "").strip() for name in (*FILTERS, "cursor")}
        limit_given = request.query_params.get("limit", "")
        context: dict[str, Any] = {"site": found, "filters": params, "error": None, "limit": limit_given}
        try:
            query = _query(site, params, int(limit_given) if limit_given.isdigit() else PAGE_SIZE)
        except msgspec.ValidationError as error:
            context["error"] = Message(BAD_FILTER, detail=str(error))
            query = DocumentQuery(site=site, limit=PAGE_SIZE)
        listed = await list_documents(db, principal, query)
        shared = await _shared_fragments(db, principal, query) if query.cursor is None else None
        signed_in: Principal | None = getattr(request.state, "console_principal", None)
        context |= {
            "rows": _rows(listed, found.locales, signed_in),
            "shared": _rows(shared, found.locales, signed_in) if shared else [],
            "next_query": _next_query(params, listed.next_cursor, limit_given),
            "filtered": any(params[name] for name in FILTERS),
        }
        partial = (
            request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"
        )
        if partial:
            return page(
                request, "site_documents_table.html", context, 400 if context["error"] else 200, {"Vary": "HX-Request"}
            )
        context["attention"] = await _attention(db, principal, site)
        return page(request, "site_documents.html", context, 400 if context["error"] else 200, {"Vary": "HX-Request"})


def _next_query(params: Mapping[str, str], cursor: int | None, limit: str) -> dict[str, str] | None:
    """The query of the "next" link: the same filters, from ``cursor``."""
    if cursor is None:
        return None
    kept = {name: params[name] for name in FILTERS if params[name]}
    if limit:
        kept["limit"] = limit
    return {**kept, "cursor": str(cursor)}
