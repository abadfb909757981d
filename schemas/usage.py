"""Where a fact or a fragment is used, and how many renders a change to it re-renders."""

from __future__ import annotations

import msgspec


class PageUsage(msgspec.Struct):
    """A live page that shows the fact or fragment."""

    document_id: int
    slug: str
    direct: bool
    """True when the page's own live revision names it; false when only through fragments."""
    locales: list[str]
    """The page's live locales: each is a render that a change re-renders."""


class SiteUsage(msgspec.Struct):
    """The pages of one site that show the fact or fragment."""

    site: str
    pages: list[PageUsage]
    renders: int
    """Renders of this site a change re-renders (live locales of its pages)."""


class Usage(msgspec.Struct):
    """Where a fact or fragment is used by live content, directly or through fragments at any depth.

    Exactly what a change to it re-renders (the change's outbox rows), by site.
    """

    fragments: list[str]
    """Keys of the fragments whose live revision uses it, directly or through other fragments."""
    sites: list[SiteUsage]
    pages: int
    renders: int
