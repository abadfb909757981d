"""Diff two revisions: blocks added, removed, moved and changed, with word-level detail."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import msgspec

from schemas.blocks import Block
from schemas.diffs import BlockChange, ChangeKind, RevisionDiff, WordChange
from services.content.domain.content import block_text

_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[WordChange]:
    """Word-level diff of two texts; whitespace runs are kept as tokens."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    changes: list[WordChange] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            changes.append(WordChange("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            changes.append(WordChange("delete", "".join(a[i1:i2])))
        if j2 > j1:
            changes.append(WordChange("insert", "".join(b[j1:j2])))
    return changes


def _moved(old_ids: Sequence[str], new_ids: Sequence[str]) -> set[str]:
    """Ids of common blocks outside the longest run kept in order: those moved."""
    common_old = [i for i in old_ids if i in set(new_ids)]
    common_new = [i for i in new_ids if i in set(old_ids)]
    matcher = difflib.SequenceMatcher(a=common_old, b=common_new, autojunk=False)
    kept = {common_old[block.a + k] for block in matcher.get_matching_blocks() for k in range(block.size)}
    return set(common_old) - kept


def diff_revisions(
    from_number: int,
    from_title: str,
    from_blocks: Sequence[Block],
    to_number: int,
    to_title: str,
    to_blocks: Sequence[Block],
) -> RevisionDiff:
    """Compare two revisions block by block, matching blocks by id."""
    old = {b.id: (i, b) for i, b in enumerate(from_blocks) if b.id}
    new = {b.id: (i, b) for i, b in enumerate(to_blocks) if b.id}
    moved = _moved(list(old), list(new))
    changes: list[BlockChange] = []
    unchanged = 0
    for block_id, (new_pos, block) in new.items():
        if block_id not in old:
            changes.append(BlockChange("added", block_id, block_type(block), new_position=new_pos))
            continue
        old_pos, old_block = old[block_id]
        content_changed = msgspec.json.encode(old_block) != msgspec.json.encode(block)
        if not content_changed and block_id not in moved:
            unchanged += 1
            continue
        kind: ChangeKind = "changed" if content_changed else "moved"
        if content_changed and block_id in moved:
            kind = "moved_and_changed"
        words = word_diff(block_text(old_block), block_text(block)) if content_changed else None
        changes.append(BlockChange(kind, block_id, block_type(block), old_pos, new_pos, words))
    for block_id, (old_pos, block) in old.items():
        if block_id not in new:
            changes.append(BlockChange("removed", block_id, block_type(block), old_position=old_pos))
    title_changed = from_title != to_title
    return RevisionDiff(
        from_revision=from_number,
        to_revision=to_number,
        title_changed=title_changed,
        title_words=word_diff(from_title, to_title) if title_changed else None,
        blocks=changes,
        unchanged_blocks=unchanged,
    )


def block_type(block: Block) -> str:
    """The tag of a block ('heading', 'paragraph', 'list', 'fragment')."""
    return type(block).__struct_config__.tag  # type: ignore[return-value]
