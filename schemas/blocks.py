"""Structured page content: blocks made of inline spans.

Inline text is plain text. There is no field that is ever read as HTML: every
renderer escapes text, and links accept only ``http``, ``https`` and ``mailto``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.text import LINK_TARGET, NO_CONTROL_CHARACTERS, whole

Mark = Literal["em", "strong"]
"""Inline emphasis marks a span may carry."""

FactFormat = Literal["short", "medium", "long", "full"]
"""Optional format a placeholder asks for (dates use all four; numbers ignore it)."""

FactKey = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[a-z0-9][a-z0-9_.-]{0,99}"),
        description="Fact key: lower-case letters, digits, '.', '_' and '-'.",
        examples=["network.embassy_count"],
    ),
]
FragmentKey = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[a-z0-9][a-z0-9_.-]{0,99}"),
        description="Key of a shared fragment document.",
        examples=["dci-presentation"],
    ),
]
BlockId = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[A-Za-z0-9_-]{1,40}"),
        description="Stable block id; assigned by the server when omitted.",
    ),
]
LinkTarget = Annotated[
    str,
    msgspec.Meta(
        pattern=LINK_TARGET,
        max_length=2000,
        description="Link target; only http, https and mailto are accepted.",
    ),
]
SpanText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000, pattern=NO_CONTROL_CHARACTERS)]


class TextSpan(msgspec.Struct, tag="text", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A run of plain text, optionally emphasised and/or linked."""

    text: SpanText
    marks: tuple[Mark, ...] = ()
    link: LinkTarget | None = None


class FactSpan(msgspec.Struct, tag="fact", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A placeholder replaced at render time by a fact formatted for the locale."""

    key: FactKey
    format: FactFormat | None = None
    marks: tuple[Mark, ...] = ()
    link: LinkTarget | None = None


Span = TextSpan | FactSpan
Inline = Annotated[list[Span], msgspec.Meta(min_length=1, max_length=500)]


class Heading(msgspec.Struct, tag="heading", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A section heading; level 2 is the top level inside a page body."""

    content: Inline
    level: Annotated[int, msgspec.Meta(ge=2, le=6)] = 2
    id: BlockId | None = None


class Paragraph(msgspec.Struct, tag="paragraph", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A paragraph of inline content."""

    content: Inline
    id: BlockId | None = None


class ListBlock(msgspec.Struct, tag="list", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A bulleted (or numbered) list; each item is inline content."""

    items: Annotated[list[Inline], msgspec.Meta(min_length=1, max_length=500)]
    ordered: bool = False
    id: BlockId | None = None


class FragmentInclude(msgspec.Struct, tag="fragment", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """Includes the published revision of a shared fragment, in the same locale."""

    fragment: FragmentKey
    id: BlockId | None = None


Block = Heading | Paragraph | ListBlock | FragmentInclude
Blocks = Annotated[list[Block], msgspec.Meta(max_length=2000)]
