"""The three-way merge by block id that re-applies an edit on a newer head (pure rules)."""

from __future__ import annotations

from schemas.blocks import Paragraph, TextSpan
from services.content.domain.rebase import rebase_blocks, rebase_title


def para(block_id: str | None, words: str) -> Paragraph:
    return Paragraph(content=[TextSpan(text=words)], id=block_id)


def test_untouched_blocks_take_the_heads_version_and_edited_ones_stay_mine() -> None:
    base = [para("a", "one"), para("b", "two"), para("c", "three")]
    head = [para("a", "ONE by them"), para("b", "two"), para("c", "three")]
    mine = [para("a", "one"), para("b", "two, edited by me"), para("c", "three")]
    assert rebase_blocks(base, mine, head) == [
        para("a", "ONE by them"),
        para("b", "two, edited by me"),
        para("c", "three"),
    ]


def test_blocks_added_on_either_side_are_kept_and_removals_by_either_side_hold() -> None:
    base = [para("a", "one"), para("b", "two"), para("c", "three")]
    head = [para("a", "one"), para("x", "theirs, new"), para("c", "three")]  # they removed b, added x after a
    mine = [para("a", "one"), para("b", "two"), para(None, "mine, new")]  # I removed c, added a block
    assert rebase_blocks(base, mine, head) == [para("a", "one"), para("x", "theirs, new"), para(None, "mine, new")]


def test_a_block_i_changed_survives_even_when_they_removed_it() -> None:
    base = [para("a", "one")]
    assert rebase_blocks(base, [para("a", "one, mine")], []) == [para("a", "one, mine")]


def test_the_title_is_mine_only_when_i_changed_it() -> None:
    assert rebase_title("Old", "Old", "Theirs") == "Theirs"
    assert rebase_title("Old", "Mine", "Theirs") == "Mine"
