"""Translation status: whether a translation is up to date with its source's text."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from schemas.blocks import Block
from schemas.delivery import TranslationState


def same_text(title_a: str, blocks_a: Sequence[Block], title_b: str, blocks_b: Sequence[Block]) -> bool:
    """Whether two source revisions say the same thing.

    Facts are language-neutral placeholders, so a fact's new value never makes a
    translation outdated; only the source's own text and structure do.
    """
    return title_a == title_b and msgspec.json.encode(list(blocks_a)) == msgspec.json.encode(list(blocks_b))


def translation_state(
    is_source: bool,
    exists: bool,
    translated_from_text: tuple[str, Sequence[Block]] | None,
    source_head_text: tuple[str, Sequence[Block]] | None,
) -> TranslationState:
    """up_to_date, outdated or missing for one locale."""
    if not exists:
        return "missing"
    if is_source or translated_from_text is None or source_head_text is None:
        return "up_to_date"
    return "up_to_date" if same_text(*translated_from_text, *source_head_text) else "outdated"
