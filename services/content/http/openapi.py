"""OpenAPI pieces shared by the routes: security scheme and problem responses."""

from __future__ import annotations

from litestar.openapi import ResponseSpec

from schemas.documents import RevisionOut
from schemas.problems import Problem

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""Security requirement of routes that need a token."""


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a route can give."""
    descriptions = {
        400: "Malformed JSON, a body that does not match the schema, or an invalid locale",
        401: "No token, or an unknown or revoked one",
        403: "The token's role or scope does not allow this",
        404: "Not found",
        409: "Conflict: stale base revision (the body names the current head), key taken, or still referenced",
        410: "The cursor is older than the retained changes: resynchronise from the page list",
        413: "The body is over the size limit",
        422: "The content breaks a rule (unknown fact or fragment, include cycle, locale not on the site)",
        428: "The base revision is required (body field or If-Match)",
    }
    return {
        status: ResponseSpec(
            data_container=Problem, description=descriptions[status], media_type="application/problem+json"
        )
        for status in statuses
    }


def unchanged_head(what: str) -> dict[int, ResponseSpec]:
    """The 200 answer of a revision write that repeats the head: nothing written, the head returned."""
    return {
        200: ResponseSpec(
            data_container=RevisionOut,
            description=f"Unchanged: {what} the head's title, blocks and source revision, so no revision is "
            "written (no event either); the body and ETag are the existing head's",
        )
    }
