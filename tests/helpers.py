"""Small builders for request bodies used across tests."""

from __future__ import annotations

from typing import Any

from services.content.storage.database import Database


def text(value: str, **extra: Any) -> dict[str, Any]:
    """A text span."""
    return {"type": "text", "text": value, **extra}


def fact(key: str, **extra: Any) -> dict[str, Any]:
    """A fact placeholder span."""
    return {"type": "fact", "key": key, **extra}


def paragraph(*spans: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    """A paragraph block."""
    block: dict[str, Any] = {"type": "paragraph", "content": list(spans)}
    if block_id:
        block["id"] = block_id
    return block


def revision(title: str, *blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A revision body."""
    return {"title": title, "blocks": list(blocks), **extra}


async def page_id(db: Database, site_key: str, slug: str = "internal-security-section") -> int:
    """Id of a page, read from the database (there is no public lookup by slug)."""
    async with db.reading() as repo:
        site = await repo.site(site_key)
        assert site is not None
        document = await repo.page(site.id, slug)
        assert document is not None
        return document.id


async def fragment_id(db: Database, key: str = "dci-internal-security") -> int:
    """Id of a shared fragment."""
    async with db.reading() as repo:
        document = await repo.fragment(key)
        assert document is not None
        return document.id
