"""Domain errors. The HTTP layer maps each to an RFC 9457 problem type and status."""

from __future__ import annotations

from typing import Any, Self

from services.content.domain.messages import N_, Catalog, Message


class DomainError(Exception):
    """Base of every error a request can cause.

    ``name`` is the stable problem name (``urn:liaison:problem:<name>``); ``title`` (a class
    attribute, marked for translation) says what kind of error it is. ``message`` says what
    is wrong and names the field path or key at fault: a `Message`, so the HTTP layer can
    put it in the reader's language; ``detail`` is the same in English (logs). ``context``
    holds the problem's extension members (``current``, ``references``...).

    ``raise UnknownFact(Message(N_("{path}: no fact '{key}' in {where}"), path=..., key=..., where=...), key=key)``:
    the template's parameters go into the `Message`, the extension members are keywords.
    A plain string is accepted too; it is then shown as it is, in every language.
    """

    name = "invalid-request"
    title = N_("The request is invalid")

    def __init__(self, message: str | Message, /, **context: Any) -> None:
        self.message = message if isinstance(message, Message) else Message(message)
        super().__init__(self.detail)
        self.context = context

    @property
    def detail(self) -> str:
        """What is wrong, in English."""
        return self.message.format()

    def at(self, field: str | Message) -> Self:
        """Prefix the message with the field path (or parameter) it is about; returns the error."""
        self.message = Message(N_("{field}: {reason}"), field=field, reason=self.message)
        self.args = (self.detail,)
        return self

    def translated(self, catalog: Catalog) -> tuple[str, str]:
        """``(title, detail)`` in ``catalog``'s language."""
        return catalog.gettext(self.title), self.message.format(catalog)


class InvalidQuery(DomainError):
    """A query parameter has a value the route cannot use."""

    name = "invalid-query"
    title = N_("Invalid query parameter")


class InvalidHeader(DomainError):
    """A request header has a value the route cannot use (e.g. an If-Match that is not our ETag)."""

    name = "invalid-header"
    title = N_("Invalid header")


class MalformedBody(DomainError):
    """A request body the JSON decoder cannot read (e.g. a string that is not valid UTF-8)."""

    name = "malformed-json"
    title = N_("The body is not valid JSON")


class DuplicateKey(DomainError):
    """A JSON object in the body names the same member twice (which one counts is ambiguous)."""

    name = "duplicate-key"
    title = N_("A JSON object repeats a key")


class NotFound(DomainError):
    """A named thing does not exist (or the caller may not know it exists)."""

    name = "not-found"
    title = N_("Not found")


class AlreadyExists(DomainError):
    """A create named a key that is taken."""

    name = "already-exists"
    title = N_("Already exists")


class InvalidContent(DomainError):
    """The body is well-formed but breaks a content rule (unknown fact, bad locale...)."""

    name = "invalid-content"
    title = N_("The content is invalid")


class InvalidWebsite(InvalidContent):
    """A site's website address or page URL pattern cannot give the URLs of its pages."""

    name = "invalid-website"
    title = N_("Invalid website address or page URL pattern")


class InvalidLocale(InvalidContent):
    """A language tag is not valid BCP 47 or not known to Babel."""

    name = "invalid-locale"
    title = N_("Invalid locale")


class LocaleNotOnSite(InvalidContent):
    """The locale is valid but the site does not offer it."""

    name = "locale-not-on-site"
    title = N_("The site does not have this locale")


class UnknownFact(InvalidContent):
    """A placeholder names a fact that does not exist in a visible scope."""

    name = "unknown-fact"
    title = N_("Unknown fact")


class UnknownFragment(InvalidContent):
    """An include names a fragment that does not exist."""

    name = "unknown-fragment"
    title = N_("Unknown fragment")


class FragmentCycle(InvalidContent):
    """Fragment includes would form a cycle."""

    name = "fragment-cycle"
    title = N_("Fragment includes form a cycle")


class StaleBase(DomainError):
    """The write was based on a revision that is no longer the head."""

    name = "stale-base"
    title = N_("The base revision is not the current head")


class BaseRequired(DomainError):
    """A write to an existing variant or fact did not name its base."""

    name = "base-required"
    title = N_("The base revision is required")


class StillReferenced(DomainError):
    """A delete was refused because published content still uses the target."""

    name = "still-referenced"
    title = N_("Still referenced by published content")


class Unauthenticated(DomainError):
    """No token, or a token that is unknown or revoked."""

    name = "unauthenticated"
    title = N_("Authentication required")


class Forbidden(DomainError):
    """The token is valid but its role or scope does not allow this."""

    name = "forbidden"
    title = N_("Not allowed")


class RevisionNotServed(DomainError):
    """A reader asked for at least a revision newer than the published one."""

    name = "revision-not-served"
    title = N_("The requested revision is not the published one yet")


class CursorExpired(DomainError):
    """A change-feed cursor older than what the outbox retains: resynchronise from the page list."""

    name = "cursor-expired"
    title = N_("The cursor is older than the retained changes")
