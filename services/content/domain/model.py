"""Domain records: what the storage adapter loads and the use cases reason about."""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.blocks import Block
from schemas.facts import FactValue


class Site(msgspec.Struct, frozen=True):
    """One embassy website."""

    id: int
    key: str
    name: str
    locales: list[str]
    default_locale: str
    fallback: list[str]
    country: str | None
    created_at: dt.datetime


class Document(msgspec.Struct, frozen=True):
    """A page of one site (``site_key``/``slug``) or a shared fragment (``key``)."""

    id: int
    kind: str
    site_id: int | None
    site_key: str | None
    slug: str | None
    key: str | None
    source_locale: str
    created_at: dt.datetime

    @property
    def is_fragment(self) -> bool:
        """True for shared fragments, False for pages."""
        return self.kind == "fragment"


class Variant(msgspec.Struct, frozen=True):
    """A document in one locale, with its head and published revision numbers."""

    id: int
    document_id: int
    locale: str
    head_revision: int
    published_revision: int | None
    published_at: dt.datetime | None


class Revision(msgspec.Struct, frozen=True):
    """An immutable snapshot of a variant."""

    id: int
    variant_id: int
    number: int
    title: str
    blocks: list[Block]
    author: str
    message: str
    created_at: dt.datetime
    base_revision: int | None
    source_revision: int | None


class Fact(msgspec.Struct, frozen=True):
    """A typed fact with its current version's value."""

    id: int
    key: str
    scope: str
    type: str
    version: int
    value: FactValue
    created_at: dt.datetime
    updated_at: dt.datetime


class FactVersion(msgspec.Struct, frozen=True):
    """One immutable version of a fact."""

    version: int
    value: FactValue
    author: str
    message: str
    created_at: dt.datetime


class Token(msgspec.Struct, frozen=True):
    """An API token as stored (hash only)."""

    id: int
    name: str
    role: str
    sites: list[str] | None
    locales: list[str] | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ConsoleSession(msgspec.Struct, frozen=True):
    """A signed-in console session as stored: the token it acts for and when it was last used."""

    token_id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime


def revision_etag(number: int) -> str:
    """Strong ETag of a variant whose head is revision ``number``."""
    return f'"r{number}"'


def fact_etag(version: int) -> str:
    """Strong ETag of a fact whose current version is ``version``."""
    return f'"v{version}"'


class EntityTag(msgspec.Struct, frozen=True):
    """An ``If-Match`` ETag of ours: the revision or version it names, and whether it came weak.

    ``W/"r3"`` names revision 3 but never matches it: If-Match compares strongly
    (RFC 9110, 13.1.1), so a write based on it is refused as stale.
    """

    number: int
    weak: bool = False


def parse_etag(header: str | None, prefix: str) -> EntityTag | None:
    """Read the number out of an ``If-Match`` header written by `revision_etag`/`fact_etag`.

    Returns None when absent; raises ValueError when it is not one of ours.
    """
    if header is None:
        return None
    value = header.strip()
    weak = value.startswith("W/")
    if weak:
        value = value[2:]
    if len(value) < 3 or not (value.startswith(f'"{prefix}') and value.endswith('"')):
        raise ValueError(f"If-Match must be an ETag like '\"{prefix}3\"', got {header!r}")
    number = value[1 + len(prefix) : -1]
    if not number.isdigit():
        raise ValueError(f"If-Match must be an ETag like '\"{prefix}3\"', got {header!r}")
    return EntityTag(int(number), weak)


class Activity(msgspec.Struct, frozen=True):
    """A change to a document, as its activity list records it."""

    id: int
    document_id: int
    locale: str
    kind: str
    revision: int | None
    author: str
    message: str
    created_at: dt.datetime
