"""Small builders for request bodies used across tests."""

from __future__ import annotations

from typing import Any


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
