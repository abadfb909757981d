"""The difference between two revisions of a variant."""

from __future__ import annotations

from typing import Literal

import msgspec


class WordChange(msgspec.Struct):
    """One run of a word-level diff: kept, inserted or deleted words."""

    op: Literal["equal", "insert", "delete"]
    text: str


ChangeKind = Literal["added", "removed", "moved", "changed", "moved_and_changed"]


class BlockChange(msgspec.Struct):
    """What happened to one block between two revisions."""

    change: ChangeKind
    block_id: str
    block_type: str
    old_position: int | None = None
    new_position: int | None = None
    words: list[WordChange] | None = None


class RevisionDiff(msgspec.Struct):
    """Blocks added, removed, moved and changed from ``from_revision`` to ``to_revision``."""

    from_revision: int
    to_revision: int
    title_changed: bool
    title_words: list[WordChange] | None
    blocks: list[BlockChange]
    unchanged_blocks: int
