"""Re-applying an edit made on an old base onto the variant's head, block by block (a three-way merge by block id).

A block the editor left as it was in their base takes the head's version (or goes, when the head
removed it); a block they changed or added stays as they wrote it; blocks the head added are
kept, after the head block they follow. So re-applying never undoes someone else's work on a
block the editor did not touch, and never drops what the editor typed.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.blocks import Block


def rebase_blocks(base: Sequence[Block], mine: Sequence[Block], head: Sequence[Block]) -> list[Block]:
    """``mine`` (edited from ``base``) re-applied on ``head``."""
    base_by_id = {block.id: block for block in base if block.id}
    head_by_id = {block.id: block for block in head if block.id}
    result: list[Block] = []
    for block in mine:
        untouched = block.id is not None and base_by_id.get(block.id) == block
        if not untouched:
            result.append(block)
        elif block.id in head_by_id:
            result.append(head_by_id[block.id])
    placed = {block.id for block in result if block.id}
    for index, block in enumerate(head):
        if not block.id or block.id in placed or block.id in base_by_id:
            continue  # already there, or removed by the editor
        before = next((head[i].id for i in range(index - 1, -1, -1) if head[i].id in placed), None)
        at = next((i + 1 for i, kept in enumerate(result) if before is not None and kept.id == before), 0)
        result.insert(at, block)
        placed.add(block.id)
    return result


def rebase_title(base: str, mine: str, head: str) -> str:
    """The editor's title if they changed it, else the head's."""
    return head if mine == base else mine


__all__ = ["rebase_blocks", "rebase_title"]
