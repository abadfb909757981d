"""Rules about the blocks of a revision: ids, references and plain text."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence

import msgspec

from schemas.blocks import Block, FactSpan, FragmentInclude, Heading, ListBlock, Paragraph, Span, TextSpan
from services.content.domain.errors import InvalidContent
from services.content.domain.messages import N_, Message


class References(msgspec.Struct, frozen=True):
    """What a revision depends on: fact keys and fragment keys, with where they appear."""

    facts: dict[str, str]
    """fact key -> JSON path of its first placeholder."""
    fragments: dict[str, str]
    """fragment key -> JSON path of its first include."""


def with_block_ids(blocks: Sequence[Block]) -> list[Block]:
    """Give every block an id, keeping the ones the editor sent.

    Ids make diffs able to tell a moved block from a removed and re-added one,
    and give translators stable segment ids. Duplicate ids are refused.
    """
    seen: set[str] = set()
    result: list[Block] = []
    for index, block in enumerate(blocks):
        block_id = block.id or _new_block_id(seen)
        if block_id in seen:
            raise InvalidContent(
                Message(N_("{field}: duplicate block id '{id}'"), field=f"$.blocks[{index}].id", id=block_id)
            )
        seen.add(block_id)
        result.append(block if block.id else msgspec.structs.replace(block, id=block_id))
    return result


def same_blocks(sent: Sequence[Block], stored: Sequence[Block]) -> bool:
    """Whether blocks as an editor sent them hold the content of ``stored``.

    A block sent without an id matches the stored block at its place whatever that one's id
    (the server would give it a new one); a block with an id must match it exactly.
    """
    return len(sent) == len(stored) and all(
        block == (existing if block.id is not None else msgspec.structs.replace(existing, id=None))
        for block, existing in zip(sent, stored, strict=True)
    )


def _new_block_id(taken: set[str]) -> str:
    while True:
        candidate = "b" + secrets.token_hex(4)
        if candidate not in taken:
            return candidate


def block_inlines(block: Block) -> Iterator[tuple[str, Sequence[Span]]]:
    """Yield (JSON path suffix, spans) for each run of inline content in a block."""
    if isinstance(block, Heading | Paragraph):
        yield ".content", block.content
    elif isinstance(block, ListBlock):
        for i, item in enumerate(block.items):
            yield f".items[{i}]", item


def references(blocks: Iterable[Block]) -> References:
    """Collect the facts and fragments a list of blocks refers to."""
    facts: dict[str, str] = {}
    fragments: dict[str, str] = {}
    for index, block in enumerate(blocks):
        if isinstance(block, FragmentInclude):
            fragments.setdefault(block.fragment, f"$.blocks[{index}].fragment")
            continue
        for suffix, spans in block_inlines(block):
            for j, span in enumerate(spans):
                if isinstance(span, FactSpan):
                    facts.setdefault(span.key, f"$.blocks[{index}]{suffix}[{j}].key")
    return References(facts=facts, fragments=fragments)


def plain_text(spans: Sequence[Span]) -> str:
    """Inline content as plain text, fact placeholders written as ``{key}``."""
    return "".join(span.text if isinstance(span, TextSpan) else "{" + span.key + "}" for span in spans)


def block_text(block: Block) -> str:
    """A block's content as plain text, used for word-level diffs."""
    if isinstance(block, FragmentInclude):
        return "{fragment:" + block.fragment + "}"
    return "\n".join(plain_text(spans) for _, spans in block_inlines(block))
