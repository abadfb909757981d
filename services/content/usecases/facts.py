"""Use cases about facts: create, update with a base version, history, delete."""

from __future__ import annotations

from schemas.facts import FactCreate, FactHistory, FactOut, FactUpdate
from services.content.domain.access import Action, Principal
from services.content.domain.errors import (
    AlreadyExists,
    BaseRequired,
    InvalidContent,
    NotFound,
    StaleBase,
    StillReferenced,
)
from services.content.domain.facts import GLOBAL_SCOPE, checked_value, value_type
from services.content.domain.messages import N_, NN_, Message
from services.content.domain.model import EntityTag, Fact, fact_etag
from services.content.storage.database import Database
from services.content.storage.repository import Repository
from services.content.usecases import changes
from services.content.usecases.presenters import fact_out, fact_version_out


def _site_of(scope: str) -> str | None:
    return None if scope == GLOBAL_SCOPE else scope


async def existing_fact(repo: Repository, scope: str, key: str) -> Fact:
    """The fact ``scope``/``key``; `NotFound` otherwise."""
    fact = await repo.fact(scope, key)
    if fact is None:
        raise NotFound(Message(N_("no fact '{key}' in scope '{scope}'"), key=key, scope=scope))
    return fact


async def create_fact(db: Database, principal: Principal, body: FactCreate) -> FactOut:
    """Create a fact in the global scope or one site's."""
    principal.require(Action.WRITE_FACT, site=_site_of(body.scope))
    value = checked_value(body.value)
    async with db.transaction() as repo:
        if body.scope != GLOBAL_SCOPE and await repo.site(body.scope) is None:
            raise InvalidContent(
                Message(N_("$.scope: no site '{scope}' (use 'global' or a site key)"), scope=body.scope)
            )
        fact = await repo.insert_fact(body.key, body.scope, value, principal.name, body.message)
        if fact is None:
            raise AlreadyExists(
                Message(N_("$.key: fact '{key}' already exists in scope '{scope}'"), key=body.key, scope=body.scope)
            )
        # A new site fact can hide a global one of the same key on that site's pages.
        await changes.fact_changed(repo, body.scope, body.key, fact.version)
    return fact_out(fact)


async def update_fact(
    db: Database, principal: Principal, scope: str, key: str, body: FactUpdate, if_match: EntityTag | None
) -> FactOut:
    """Store a new version; the base version must be the current one."""
    principal.require(Action.WRITE_FACT, site=_site_of(scope))
    value = checked_value(body.value)
    named = if_match.number if if_match is not None else None
    base = body.base_version if body.base_version is not None else named
    async with db.transaction() as repo:
        fact = await existing_fact(repo, scope, key)
        current = {"current": {"version": fact.version, "etag": fact_etag(fact.version)}}
        if if_match is not None and if_match.weak:
            raise StaleBase(
                Message(
                    N_("If-Match: {etag} is a weak ETag, which never matches (RFC 9110, 13.1.1); send {strong}"),
                    etag=f"W/{fact_etag(if_match.number)}",
                    strong=fact_etag(fact.version),
                ),
                **current,
            )
        if base is None:
            raise BaseRequired(Message(N_("send 'base_version' or If-Match with the fact's ETag")), **current)
        if base != fact.version:
            raise StaleBase(
                Message(
                    N_("base version {base} is not current; the current version is {current}"),
                    base=base,
                    current=fact.version,
                ),
                **current,
            )
        if value_type(value) != fact.type:
            raise InvalidContent(
                Message(
                    N_("$.value.type: fact '{key}' is of type '{type}', not '{given}'"),
                    key=key,
                    type=fact.type,
                    given=value_type(value),
                )
            )
        updated = await repo.advance_fact(fact, base, value, principal.name, body.message)
        if updated is None:
            raise StaleBase(Message(N_("version {base} stopped being current during the write"), base=base))
        await changes.fact_changed(repo, scope, key, updated.version)
    return fact_out(updated)


async def get_fact(db: Database, scope: str, key: str) -> FactOut:
    """A fact's current value (facts are public: they are on published pages)."""
    async with db.reading() as repo:
        return fact_out(await existing_fact(repo, scope, key))


async def list_facts(db: Database, scope: str | None) -> list[FactOut]:
    """Facts of one scope, or all."""
    async with db.reading() as repo:
        return [fact_out(f) for f in await repo.list_facts(scope)]


async def fact_history(db: Database, principal: Principal, scope: str, key: str) -> FactHistory:
    """Every version of a fact, newest first (needs a token)."""
    principal.require(Action.READ_DRAFTS, site=_site_of(scope))
    async with db.reading() as repo:
        fact = await existing_fact(repo, scope, key)
        versions = await repo.fact_history(fact.id)
    return FactHistory(key=key, scope=scope, versions=[fact_version_out(v) for v in versions])


async def delete_fact(db: Database, principal: Principal, scope: str, key: str) -> None:
    """Delete a fact; refused with 409 while published content uses it."""
    principal.require(Action.DELETE, site=_site_of(scope))
    async with db.transaction() as repo:
        fact = await existing_fact(repo, scope, key)
        referrers = await repo.published_referrers("fact", key)
        if scope != GLOBAL_SCOPE:
            referrers = [r for r in referrers if r["site"] in (scope, None)]
        if referrers:
            raise StillReferenced(
                Message(
                    NN_(
                        "fact '{key}' is used by {count} published variant",
                        "fact '{key}' is used by {count} published variants",
                    ),
                    key=key,
                    count=len(referrers),
                ),
                references=referrers,
            )
        await repo.delete_fact(fact.id)
