"""Renders computed once per change and served from memory afterwards.

Entries are dropped exactly when an input changes: the storage adapter reports,
after each commit, the (site, page, locale) renders its outbox rows name, and
`RenderCache.invalidate` drops those. Each page has a version that every
invalidation naming it moves; a render (or page index) computed while its
page's version moved is not stored, so a slow render can never resurrect a
stale page, and a change to one page never discards the renders of others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from services.content.storage.repository import RenderKey

Entry = TypeVar("Entry")
Index = TypeVar("Index")


class RenderCache(Generic[Index, Entry]):
    """In-process cache of page indexes (per page) and renders (per page and locale)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._renders: dict[tuple[str, str, str], Entry] = {}
        self._indexes: dict[tuple[str, str], Index] = {}
        self._max_entries = max_entries
        self._clock = 0
        self._changed: dict[tuple[str, str], int] = {}
        """Page -> clock of its last invalidation."""
        self._cleared = 0
        """Clock of the last `clear` (every page changed then)."""

    def version(self, site: str, slug: str) -> int:
        """The page's version: it moves whenever the page's renders are invalidated."""
        return max(self._changed.get((site, slug), 0), self._cleared)

    def index(self, site: str, slug: str) -> Index | None:
        """The cached locale index of a page."""
        return self._indexes.get((site, slug))

    def render(self, site: str, slug: str, locale: str) -> Entry | None:
        """The cached render of a page in ``locale``."""
        return self._renders.get((site, slug, locale))

    def store_index(self, site: str, slug: str, index: Index, version: int) -> None:
        """Keep an index computed at page ``version`` unless the page changed since."""
        if version == self.version(site, slug):
            if len(self._indexes) >= self._max_entries:
                self._indexes.clear()
            self._indexes[(site, slug)] = index

    def store_render(self, site: str, slug: str, locale: str, entry: Entry, version: int) -> None:
        """Keep a render computed at page ``version`` unless the page changed since."""
        if version == self.version(site, slug):
            if len(self._renders) >= self._max_entries:
                self._renders.clear()
            self._renders[(site, slug, locale)] = entry

    def invalidate(self, keys: Iterable[RenderKey]) -> None:
        """Drop the renders (and their pages' indexes) that a committed change altered."""
        self._clock += 1
        for key in keys:
            self._renders.pop((key.site, key.slug, key.locale), None)
            self._indexes.pop((key.site, key.slug), None)
            self._changed[(key.site, key.slug)] = self._clock
        if len(self._changed) > self._max_entries:
            self.clear()

    def clear(self) -> None:
        """Drop everything (used when changes may have been missed)."""
        self._clock += 1
        self._cleared = self._clock
        self._changed.clear()
        self._renders.clear()
        self._indexes.clear()
