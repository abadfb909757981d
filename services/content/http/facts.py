"""Routes for facts: typed, language-neutral values with their own versions."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, QueryParameter

from schemas.facts import FactCreate, FactHistory, FactOut, FactScope, FactUpdate
from schemas.usage import Usage
from services.content.http.dependencies import DB, Caller, if_match_tag
from services.content.http.openapi import (
    BEARER,
    FactIfMatch,
    FactKeyPath,
    FactScopePath,
    pattern_of,
    problems,
)
from services.content.usecases import facts, usage

FACT = "/{fact_scope:str}/{key:str}"


def _with_etag(fact: FactOut, status: int = 200) -> Response[FactOut]:
    return Response(fact, status_code=status, headers={"ETag": fact.etag})


class FactController(Controller):
    """Facts are public to read (they appear on published pages); writes need a token."""

    path = "/v1/facts"
    tags = ["facts"]

    @post(
        "/",
        status_code=201,
        summary="Create a fact",
        security=BEARER,
        responses=problems(400, 401, 403, 409, 413, 422),
    )
    async def create_fact(self, db: DB, principal: Caller, data: JSONBody[FactCreate]) -> Response[FactOut]:
        """Create a fact in the global scope or a site's scope."""
        return _with_etag(await facts.create_fact(db, principal, data), 201)

    @get("/", summary="List facts", responses=problems(400))
    async def list_facts(
        self,
        db: DB,
        fact_scope: Annotated[
            str | None,
            QueryParameter(name="scope", description="'global' or a site key", pattern=pattern_of(FactScope)),
        ] = None,
    ) -> list[FactOut]:
        """List facts with their current values."""
        return await facts.list_facts(db, fact_scope)

    @get(FACT, summary="Read a fact", responses=problems(404))
    async def get_fact(self, db: DB, fact_scope: FactScopePath, key: FactKeyPath) -> Response[FactOut]:
        """Read a fact's current value."""
        return _with_etag(await facts.get_fact(db, fact_scope, key))

    @put(
        FACT,
        summary="Write a new version of a fact",
        security=BEARER,
        responses=problems(400, 401, 403, 404, 409, 413, 422, 428),
    )
    async def update_fact(
        self,
        db: DB,
        principal: Caller,
        fact_scope: FactScopePath,
        key: FactKeyPath,
        data: JSONBody[FactUpdate],
        if_match: FactIfMatch = None,
    ) -> Response[FactOut]:
        """Write a new version; name the current one (``base_version`` or ``If-Match``)."""
        return _with_etag(await facts.update_fact(db, principal, fact_scope, key, data, if_match_tag(if_match, "v")))

    @get(FACT + "/versions", summary="List a fact's versions", security=BEARER, responses=problems(401, 403, 404))
    async def fact_history(self, db: DB, principal: Caller, fact_scope: FactScopePath, key: FactKeyPath) -> FactHistory:
        """Every version of a fact, newest first."""
        return await facts.fact_history(db, principal, fact_scope, key)

    @get(
        FACT + "/usage",
        summary="Where a fact is used",
        security=BEARER,
        responses=problems(400, 401, 403, 404),
    )
    async def fact_usage(self, db: DB, principal: Caller, fact_scope: FactScopePath, key: FactKeyPath) -> Usage:
        """The live pages showing the fact (directly or through fragments) by site, and the renders it feeds."""
        return await usage.fact_usage(db, principal, fact_scope, key)

    @delete(FACT, summary="Delete a fact", security=BEARER, responses=problems(401, 403, 404, 409))
    async def delete_fact(self, db: DB, principal: Caller, fact_scope: FactScopePath, key: FactKeyPath) -> None:
        """Delete a fact; refused while published content uses it."""
        await facts.delete_fact(db, principal, fact_scope, key)
