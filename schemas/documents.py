"""Documents (pages and fragments), their variants and revisions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from schemas.blocks import Blocks, FragmentKey
from schemas.delivery import TranslationState
from schemas.facts import LocaleTag
from schemas.sites import SiteKey
from schemas.text import NO_CONTROL_CHARACTERS, whole

DocumentKind = Literal["page", "fragment"]
Slug = Annotated[str, msgspec.Meta(pattern=whole(r"[a-z0-9][a-z0-9-]{0,120}"), description="URL slug of a page.")]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NO_CONTROL_CHARACTERS)]
Message = Annotated[str, msgspec.Meta(max_length=1000, pattern=NO_CONTROL_CHARACTERS)]
MAX_NUMBER = 2**31 - 1
"""Largest revision or version number (fits every engine's INTEGER)."""
RevisionNumber = Annotated[int, msgspec.Meta(ge=1, le=MAX_NUMBER)]


class DocumentCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/documents``.

    A page belongs to one ``site`` and has a ``slug``; a fragment has a ``key``
    and may be included by pages of any site.
    """

    kind: DocumentKind
    source_locale: LocaleTag
    site: SiteKey | None = None
    slug: Slug | None = None
    key: FragmentKey | None = None


class VariantOut(msgspec.Struct):
    """A document in one locale: its head and published revisions."""

    locale: str
    head_revision: int | None
    published_revision: int | None
    published_at: dt.datetime | None
    etag: str | None


class DocumentOut(msgspec.Struct):
    """A document and its variants."""

    id: int
    kind: DocumentKind
    source_locale: str
    site: str | None
    slug: str | None
    key: str | None
    created_at: dt.datetime
    variants: list[VariantOut]


class RevisionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/documents/{id}/variants/{locale}/revisions``.

    ``base_revision`` (or ``If-Match``) must name the variant's head when the
    variant already has revisions. A translation (a locale other than the
    document's source locale) names the ``source_revision`` it translates.
    """

    title: Title
    blocks: Blocks
    message: Message = ""
    base_revision: RevisionNumber | None = None
    source_revision: RevisionNumber | None = None


class RevertRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST .../revert``: make a new revision holding ``revision``'s content."""

    revision: RevisionNumber
    base_revision: RevisionNumber | None = None
    message: Message = ""


class PublishRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST .../publish``: the revision that goes live."""

    revision: RevisionNumber


class RevisionOut(msgspec.Struct):
    """An immutable revision of a variant."""

    document_id: int
    locale: str
    number: int
    title: str
    blocks: Blocks
    author: str
    message: str
    created_at: dt.datetime
    base_revision: int | None
    source_revision: int | None
    etag: str


class RevisionSummary(msgspec.Struct):
    """A revision in a history listing (no content)."""

    number: int
    title: str
    author: str
    message: str
    created_at: dt.datetime
    base_revision: int | None
    source_revision: int | None
    published: bool


class RevisionPage(msgspec.Struct):
    """One page of a variant's history, newest first.

    Pass ``next_cursor`` as ``cursor`` to get the next page; it is null on the last.
    """

    items: list[RevisionSummary]
    next_cursor: int | None


class PublicationOut(msgspec.Struct):
    """The publication pointer of a variant after a publish or unpublish."""

    document_id: int
    locale: str
    published_revision: int | None
    published_at: dt.datetime | None


class PreviewRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/documents/{id}/variants/{locale}/preview``: an unsaved revision to render.

    Checked as a ``RevisionCreate`` is (facts and fragments it names must exist); nothing is
    written. A translation may name the ``source_revision`` it translates, for its translation state.
    """

    title: Title
    blocks: Blocks
    source_revision: RevisionNumber | None = None


ActivityKind = Literal["revision", "revert", "import", "publish", "unpublish"]
"""What happened: a revision written, a revert, a translation file imported, a publication, an unpublication."""


class ActivityOut(msgspec.Struct):
    """One change to a document: what, in which locale, which revision, who, when, and their message."""

    id: int
    document_id: int
    locale: str
    kind: ActivityKind
    revision: int | None
    """The revision written or published; for an unpublication, the one that was live."""
    author: str
    """The name of the token that made the change."""
    message: str
    created_at: dt.datetime


class ActivityPage(msgspec.Struct):
    """One page of a document's activity, newest first.

    Pass ``next_cursor`` as ``cursor`` to get the next page; it is null on the last.
    """

    items: list[ActivityOut]
    next_cursor: int | None


DocumentStatus = Literal["draft-ahead", "published", "unpublished", "translation-outdated", "translation-missing"]
"""A document-list filter: a variant (in ``locale``, when given) whose head is newer than its live revision,
that has a live revision, that has a head but no live revision, a translation whose source moved on
since it was made, or a locale of the page's site with no translation at all."""
PublicationState = Literal["published", "draft-ahead", "unpublished", "missing"]
"""One locale: live and up to date with its head, live with a newer head, a head never or no longer
live, or no variant at all."""
SearchText = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)]
MAX_LIST_LIMIT = 200
"""The largest page of the document list."""


class DocumentQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The document list's filters (``GET /v1/documents`` query), all optional.

    ``site`` keeps that site's pages (shared fragments belong to no site); ``locale`` keeps the
    pages whose site has it (and every fragment) and makes ``status`` about that locale; ``q`` is
    found, whatever its case, in a head title of any locale, a slug or a fragment key.
    """

    site: SiteKey | None = None
    kind: DocumentKind | None = None
    locale: LocaleTag | None = None
    status: DocumentStatus | None = None
    q: SearchText | None = None
    cursor: RevisionNumber | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIST_LIMIT)] = 50


class LocaleStatus(msgspec.Struct):
    """A document in one locale, in the document list."""

    locale: str
    publication: PublicationState
    translation: TranslationState
    """Against the source's head, as ``/translations`` says it (the source itself is up to date)."""
    head_revision: int | None
    published_revision: int | None
    published_at: dt.datetime | None
    title: str | None
    """The head's title."""
    translated_from: int | None
    """The source revision a translation's head was made from."""


class DocumentListItem(msgspec.Struct):
    """A document in the document list, with every locale of its site (of its variants, for a fragment)."""

    id: int
    kind: DocumentKind
    source_locale: str
    site: str | None
    slug: str | None
    key: str | None
    created_at: dt.datetime
    locales: list[LocaleStatus]


class DocumentList(msgspec.Struct):
    """One page of the document list, by id; pass ``next_cursor`` as ``cursor`` for the next (null on the last)."""

    items: list[DocumentListItem]
    next_cursor: int | None
