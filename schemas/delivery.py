"""What embassy websites read: published pages rendered for one locale."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from schemas.blocks import Mark
from schemas.diffs import RevisionDiff
from schemas.facts import FactValue

TranslationState = Literal["up_to_date", "outdated", "missing"]


class RenderedSpan(msgspec.Struct, omit_defaults=True):
    """A span with its text final: a fact placeholder carries the formatted value and its key."""

    text: str
    marks: tuple[Mark, ...] = ()
    link: str | None = None
    fact: str | None = None


class RenderedHeading(msgspec.Struct, tag="heading", tag_field="type", omit_defaults=True):
    """A heading, its facts resolved."""

    id: str
    level: int
    content: list[RenderedSpan]
    fragment: str | None = None


class RenderedParagraph(msgspec.Struct, tag="paragraph", tag_field="type", omit_defaults=True):
    """A paragraph, its facts resolved."""

    id: str
    content: list[RenderedSpan]
    fragment: str | None = None


class RenderedList(msgspec.Struct, tag="list", tag_field="type", omit_defaults=True):
    """A list, its facts resolved."""

    id: str
    items: list[list[RenderedSpan]]
    ordered: bool = False
    fragment: str | None = None


RenderedBlock = RenderedHeading | RenderedParagraph | RenderedList
"""Fragment includes are expanded in place; ``fragment`` names where a block came from."""


class FactUsed(msgspec.Struct):
    """A fact a render used, with its raw value and the version formatted."""

    key: str
    scope: str
    version: int
    value: FactValue


class Alternate(msgspec.Struct):
    """Another locale of the same page, for ``hreflang`` links (``locale`` is the BCP 47 tag to use)."""

    locale: str
    url: str
    """Where a reader finds it: the website's page when the site has a page URL pattern, else the API's render."""
    status: TranslationState
    revision: int | None
    api_url: str = ""
    """The API's render of it (JSON), whatever the site's website."""


class PageRender(msgspec.Struct):
    """A published page in one locale, as JSON (``GET /v1/sites/{site}/pages/{slug}``)."""

    site: str
    slug: str
    locale: str
    """The locale served."""
    requested_locale: str | None
    """The locale asked for (query or Accept-Language), when one was."""
    fallback: bool
    """True when the served locale is not the one asked for."""
    revision: int
    published_at: dt.datetime
    title: str
    blocks: list[RenderedBlock]
    html: str
    facts: list[FactUsed]
    fragments: dict[str, int]
    """Fragment key -> published revision included."""
    alternates: list[Alternate]
    x_default: str | None = None
    """The URL for ``hreflang="x-default"``: the ``url`` of the site's default locale, or of the first
    published locale of its fallback chain when the default one is not published."""


class PageSummary(msgspec.Struct):
    """A published page in the page list."""

    slug: str
    document_id: int
    locales: dict[str, int]
    """Locale -> published revision."""
    etags: dict[str, str]
    updated_at: dt.datetime


class PageList(msgspec.Struct):
    """A page of the published page list; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[PageSummary]
    next_cursor: str | None


class TranslationStatus(msgspec.Struct):
    """How one locale of a document stands against its source."""

    locale: str
    status: TranslationState
    head_revision: int | None
    translated_from: int | None
    """Source revision the translation's head was made from."""
    source_revision: int
    """The source's current (head) revision."""
    source_diff: RevisionDiff | None = None
    """What changed in the source since ``translated_from`` (outdated only)."""
    changed_segments: list[str] = []
    """Ids of the source segments whose text changed since ``translated_from`` (outdated only), in order."""


class TranslationReport(msgspec.Struct):
    """Translation status of every locale of a document."""

    document_id: int
    source_locale: str
    source_revision: int | None
    locales: list[TranslationStatus]
