"""The facts pages: global and per-site tables of each fact's value as every locale renders it, and the edit flow.

Editing a fact is three steps, each a plain form: the form of its type; a confirmation that
shows the new value in each locale and what saving re-renders (`usecases.usage.fact_usage`, the
same fan-out the change's outbox rows come from); the save, which sends the base version the
form was opened on. When someone saved in between (409), the form comes back with the head's
value beside what was typed, based on the head, so re-applying is one click and nothing typed
is lost. Readers and translators see the tables without edit controls; a write they post is
refused by the use case (`Action.WRITE_FACT`), as the API refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from schemas.facts import FactOut, FactUpdate, FactValue
from schemas.sites import SiteOut
from services.content.console.controllers import SignedInController
from services.content.console.fact_forms import (
    HINTS,
    TEXT_FIELD,
    TYPE_NAMES,
    UnreadableValue,
    form_fields,
    parsed_value,
    text_locales,
    typed_fields,
)
from services.content.console.templating import page
from services.content.domain.access import Action, Principal
from services.content.domain.errors import DomainError, StaleBase
from services.content.domain.facts import GLOBAL_SCOPE
from services.content.domain.formatting import format_fact
from services.content.domain.locales import babel_locale
from services.content.domain.messages import N_, Message
from services.content.http.dependencies import DB, Caller
from services.content.http.problems import status_of
from services.content.storage.database import Database
from services.content.usecases.facts import get_fact, list_facts, update_fact
from services.content.usecases.sites import get_site, list_sites
from services.content.usecases.usage import fact_usage

MESSAGE_MAX = 500
NO_BASE = N_(
    "This form does not say which version of the fact it was opened on; it is now based on the current "
    "version, {version}. Check your value against it, then review and save again."
)
CONFLICT = N_(
    "Someone saved version {version} of this fact while you were editing. Their value is shown beside yours; "
    "your value is kept in the form: check it and save again to apply it on their version."
)


@dataclass(frozen=True)
class Rendering:
    """A value as one locale renders it: what the public pages show."""

    locale: str
    text: str


@dataclass(frozen=True)
class FactRow:
    """A fact in the table: its current version and its rendering in each locale."""

    fact: FactOut
    renderings: list[Rendering]


def _site_of(scope: str) -> str | None:
    return None if scope == GLOBAL_SCOPE else scope


def renderings(value: FactValue, locales: list[str], fallback: list[str]) -> list[Rendering]:
    """``value`` formatted for each of ``locales`` by the renderer's own formatter."""
    return [Rendering(tag, format_fact(value, babel_locale(tag), fallback=fallback)) for tag in locales]


async def _locales(db: Database, scope: str) -> tuple[list[str], list[str]]:
    """The locales (and fallback chain) a fact of ``scope`` renders in: its site's, or every site's."""
    if scope != GLOBAL_SCOPE:
        site = await get_site(db, scope)
        return site.locales, site.fallback
    every: list[SiteOut] = await list_sites(db)
    return list(dict.fromkeys(tag for site in every for tag in site.locales)), []


def _list_path(scope: str) -> str:
    return "/console/facts" if scope == GLOBAL_SCOPE else f"/console/sites/{scope}/facts"


class FactController(SignedInController):
    """``/console/facts``, ``/console/sites/{site}/facts`` and ``/console/facts/{scope}/{key}/edit``."""

    path = "/"

    async def _table(
        self, request: Request[Any, Any, Any], db: Database, principal: Principal, scope: str, site: SiteOut | None
    ) -> Template:
        locales, fallback = await _locales(db, scope)
        rows = [FactRow(fact, renderings(fact.value, locales, fallback)) for fact in await list_facts(db, scope)]
        saved = request.query_params.get("saved", "")
        context = {
            "scope": scope,
            "site": site,
            "rows": rows,
            "locales": locales,
            "type_names": TYPE_NAMES,
            "may_edit": principal.allows(Action.WRITE_FACT, site=_site_of(scope)),
            "saved": next((row.fact for row in rows if row.fact.key == saved), None),
        }
        return page(request, "facts.html", context)

    @get("/facts", name="console:facts")
    async def global_facts(self, request: Request[Any, Any, Any], db: DB, principal: Caller) -> Template:
        """The global facts, rendered in every locale of the sites."""
        return await self._table(request, db, principal, GLOBAL_SCOPE, None)

    @get("/sites/{site:str}/facts", name="console:site-facts")
    async def site_facts(
        self, request: Request[Any, Any, Any], db: DB, principal: Caller, site: FromPath[str]
    ) -> Template:
        """The facts of one site (which hide global facts of the same key on its pages), in its locales."""
        found = await get_site(db, site)
        principal.require(Action.READ_DRAFTS, site=found.key)
        return await self._table(request, db, principal, found.key, found)

    @get("/facts/{fact_scope:str}/{key:str}/edit", name="console:fact-edit")
    async def edit_form(
        self, request: Request[Any, Any, Any], db: DB, principal: Caller, fact_scope: FromPath[str], key: FromPath[str]
    ) -> Template:
        """The form of the fact's type, showing its current value, based on its current version."""
        scope = fact_scope
        principal.require(Action.WRITE_FACT, site=_site_of(scope))
        fact = await get_fact(db, scope, key)
        return await self._form(request, db, fact, form_fields(fact.value), fact.version, "")

    @post("/facts/{fact_scope:str}/{key:str}/edit", status_code=200)
    async def edit(
        self, request: Request[Any, Any, Any], db: DB, principal: Caller, fact_scope: FromPath[str], key: FromPath[str]
    ) -> Response[Any]:
        """``step=review``: the confirmation of what a save re-renders; ``step=save``: the save; else the form."""
        scope = fact_scope
        principal.require(Action.WRITE_FACT, site=_site_of(scope))
        fact = await get_fact(db, scope, key)
        form = {name: str(value) for name, value in (await request.form()).items()}
        typed = typed_fields(form)
        note = form.get("message", "")[:MESSAGE_MAX]
        base_text = form.get("base_version", "")
        step = form.get("step", "")
        if not (base_text.isdigit() and len(base_text) < 10):
            # Without the version the form was opened on, a save could overwrite a change unseen.
            no_base = Message(NO_BASE, version=fact.version)
            return await self._form(request, db, fact, typed, fact.version, note, error=no_base, status=400)
        base = int(base_text)
        if step not in ("review", "save"):
            return await self._form(request, db, fact, typed, base, note)
        try:
            value = parsed_value(fact.type, typed)
        except UnreadableValue as unreadable:
            return await self._form(request, db, fact, typed, base, note, error=Message(unreadable.hint), status=400)
        if step == "review":
            locales, fallback = await _locales(db, scope)
            context = {
                "fact": fact,
                "typed": typed,
                "base": base,
                "note": note,
                "usage": await fact_usage(db, principal, scope, key),
                "now": renderings(fact.value, locales, fallback),
                "new": renderings(value, locales, fallback),
                "type_names": TYPE_NAMES,
                "list_path": _list_path(scope),
            }
            return page(request, "fact_confirm.html", context)
        try:
            saved = await update_fact(
                db, principal, scope, key, FactUpdate(value, base_version=base, message=note), None
            )
        except StaleBase:
            head = await get_fact(db, scope, key)
            conflict = Message(CONFLICT, version=head.version)
            return await self._form(request, db, head, typed, head.version, note, conflict=conflict, status=409)
        except DomainError as refused:
            return await self._form(
                request, db, fact, typed, base, note, error=refused.message, status=status_of(refused)
            )
        return Redirect(f"{_list_path(scope)}?saved={quote(saved.key)}", status_code=303)

    async def _form(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        fact: FactOut,
        fields: dict[str, str],
        base: int,
        note: str,
        *,
        error: Message | None = None,
        conflict: Message | None = None,
        status: int = 200,
    ) -> Template:
        locales, fallback = await _locales(db, fact.scope)
        context = {
            "fact": fact,
            "fields": fields,
            "base": base,
            "note": note,
            "error": error,
            "conflict": conflict,
            "head": renderings(fact.value, locales, fallback) if conflict else None,
            "text_locales": text_locales(fact.value, locales),
            "text_field": TEXT_FIELD,
            "hint": HINTS[fact.type],
            "type_names": TYPE_NAMES,
            "list_path": _list_path(fact.scope),
        }
        return page(request, "fact_edit.html", context, status)
