"""Domain errors. The HTTP layer maps each to an RFC 9457 problem type and status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a request can cause.

    ``name`` is the stable problem name (``urn:liaison:problem:<name>``),
    ``detail`` says what is wrong and names the field path or key at fault.
    """

    name = "invalid-request"
    title = "The request is invalid"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


class InvalidQuery(DomainError):
    """A query parameter has a value the route cannot use."""

    name = "invalid-query"
    title = "Invalid query parameter"


class InvalidHeader(DomainError):
    """A request header has a value the route cannot use (e.g. an If-Match that is not our ETag)."""

    name = "invalid-header"
    title = "Invalid header"


class NotFound(DomainError):
    """A named thing does not exist (or the caller may not know it exists)."""

    name = "not-found"
    title = "Not found"


class AlreadyExists(DomainError):
    """A create named a key that is taken."""

    name = "already-exists"
    title = "Already exists"


class InvalidContent(DomainError):
    """The body is well-formed but breaks a content rule (unknown fact, bad locale...)."""

    name = "invalid-content"
    title = "The content is invalid"


class InvalidLocale(InvalidContent):
    """A language tag is not valid BCP 47 or not known to Babel."""

    name = "invalid-locale"
    title = "Invalid locale"


class LocaleNotOnSite(InvalidContent):
    """The locale is valid but the site does not offer it."""

    name = "locale-not-on-site"
    title = "The site does not have this locale"


class UnknownFact(InvalidContent):
    """A placeholder names a fact that does not exist in a visible scope."""

    name = "unknown-fact"
    title = "Unknown fact"


class UnknownFragment(InvalidContent):
    """An include names a fragment that does not exist."""

    name = "unknown-fragment"
    title = "Unknown fragment"


class FragmentCycle(InvalidContent):
    """Fragment includes would form a cycle."""

    name = "fragment-cycle"
    title = "Fragment includes form a cycle"


class StaleBase(DomainError):
    """The write was based on a revision that is no longer the head."""

    name = "stale-base"
    title = "The base revision is not the current head"


class BaseRequired(DomainError):
    """A write to an existing variant or fact did not name its base."""

    name = "base-required"
    title = "The base revision is required"


class StillReferenced(DomainError):
    """A delete was refused because published content still uses the target."""

    name = "still-referenced"
    title = "Still referenced by published content"


class Unauthenticated(DomainError):
    """No token, or a token that is unknown or revoked."""

    name = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    """The token is valid but its role or scope does not allow this."""

    name = "forbidden"
    title = "Not allowed"


class RevisionNotServed(DomainError):
    """A reader asked for at least a revision newer than the published one."""

    name = "revision-not-served"
    title = "The requested revision is not the published one yet"


class CursorExpired(DomainError):
    """A change-feed cursor older than what the outbox retains: resynchronise from the page list."""

    name = "cursor-expired"
    title = "The cursor is older than the retained changes"
