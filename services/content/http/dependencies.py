"""Request-scoped dependencies: the database and the caller's principal."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import PathParameter

from schemas.documents import MAX_NUMBER
from services.content.domain.access import Principal
from services.content.domain.errors import InvalidHeader, Unauthenticated
from services.content.domain.messages import N_, Message
from services.content.domain.model import EntityTag, parse_etag
from services.content.storage.database import Database
from services.content.usecases.tokens import authenticate


def provide_db(state: State) -> Database:
    """The app's database, created at start-up."""
    db: Database = state.db
    return db


async def provide_principal(request: Request[Any, Any, Any], db: NamedDependency[Database]) -> Principal:
    """The holder of the request's bearer token; 401 when absent, unknown or revoked."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(Message(N_("this needs 'Authorization: Bearer <token>'")))
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(Message(N_("the Authorization header must be 'Bearer <token>'")))
    return await authenticate(db, secret.strip())


def if_match_tag(header: str | None, prefix: str) -> EntityTag | None:
    """The revision or version named by an ``If-Match`` header (400 if it is not ours)."""
    try:
        return parse_etag(header, prefix)
    except ValueError as exc:
        raise InvalidHeader(
            Message(
                N_("If-Match must be an ETag like {example}, got {value}"),
                example=f"'\"{prefix}3\"'",
                value=repr(header),
            )
        ).at("If-Match") from exc


DB = NamedDependency[Database]
"""Handler parameter type for the ``db`` dependency."""
Caller = NamedDependency[Principal]
"""Handler parameter type for the ``principal`` dependency (the request needs a token)."""

PathNumber = Annotated[int, PathParameter(ge=1, le=MAX_NUMBER)]
"""A document id or revision number in a path (bounded so no engine overflows)."""
