"""A render computed while a change commits is never kept: the next request sees the change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.content.storage.database import Database
from services.content.storage.repository import RenderKey
from services.content.usecases.delivery import Delivery, PageIndex, RenderEntry

SITE, SLUG = "in-new-delhi", "internal-security-section"


async def test_an_invalidation_during_a_render_keeps_neither_the_render_nor_its_index(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = Delivery(seeded, "http://127.0.0.1:8000")
    await delivery.serve(SITE, SLUG, ("en",))  # the index (with its alternates) is now cached
    delivery.cache.invalidate([RenderKey(SITE, SLUG, "fr")])  # drops fr and the index
    await delivery.index(SITE, SLUG)  # a later request caches the index again
    load_render = Delivery._load_render

    async def commit_meanwhile(self: Delivery, index: PageIndex, locale: str) -> RenderEntry:
        entry = await load_render(self, index, locale)
        # Another locale is published while this render is computed: its alternates are stale.
        self.cache.invalidate([RenderKey(SITE, SLUG, "en")])
        return entry

    monkeypatch.setattr(Delivery, "_load_render", commit_meanwhile)
    await delivery.serve(SITE, SLUG, ("fr",))
    assert delivery.cache.render(SITE, SLUG, "fr") is None
    assert delivery.cache.index(SITE, SLUG) is None


async def test_a_cached_index_older_than_an_invalidation_is_not_used_to_store_a_render(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.content.usecases import delivery as delivery_module

    delivery = Delivery(seeded, "http://127.0.0.1:8000")
    await delivery.serve(SITE, SLUG, ("en",))
    delivery.cache.invalidate([RenderKey(SITE, SLUG, "fr")])
    await delivery.index(SITE, SLUG)  # cached again, with the alternates of this moment
    choose: Callable[..., tuple[str, bool] | None] = getattr(delivery_module, "choose_locale")  # noqa: B009

    def change_right_after_the_index_was_read(*args: Any) -> tuple[str, bool] | None:
        # The page changes after this request took the cached index, before it renders.
        delivery.cache.invalidate([RenderKey(SITE, SLUG, "en")])
        return choose(*args)

    monkeypatch.setattr(delivery_module, "choose_locale", change_right_after_the_index_was_read)
    await delivery.serve(SITE, SLUG, ("fr",))
    assert delivery.cache.render(SITE, SLUG, "fr") is None, "a render built on a stale index was kept"
