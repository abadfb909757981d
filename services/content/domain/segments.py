"""Translatable segments of a revision: what a translator sees, and how the translation comes back.

A revision's text is cut into segments: its title, each heading, each paragraph and each list
item. A segment has a stable id, the same in every revision that keeps the block:

- ``title``;
- ``<block id>`` for a heading or a paragraph;
- ``<block id>.<n>`` for the n-th item of a list (counted from 1).

Its text is one string, written so that a translator can move words around and keep the rest:

- a fact placeholder is ``{fact:<key>}`` or ``{fact:<key>:<format>}`` (a valid Python brace
  format string, so standard tools check it); a literal brace is doubled: ``{{``, ``}}``;
- marks and links are inline markup: ``<em>…</em>``, ``<strong>…</strong>``,
  ``<a href="…">…</a>``;
- ``&``, ``<`` and ``>`` in the text itself are written ``&amp;``, ``&lt;`` and ``&gt;``;
- a character XML 1.0 does not allow (a C0 control other than tab, line feed and carriage
  return, U+FFFE, U+FFFF, a lone surrogate) is written as a character reference, ``&#x0;``,
  so that every file holding segment text is well-formed whatever the stored text holds.

Reading a translation back parses that markup into spans and refuses anything else: any other
element, a link that is not http, https or mailto, an unclosed or crossed element, a lone brace.
Content never stores markup: only spans, which every renderer escapes. A translation must keep
its segment's fact placeholders (each as many times) and its link targets; fragment includes
and the block structure come from the source unchanged.
"""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import msgspec

from schemas.blocks import Block, FactSpan, FragmentInclude, Heading, Inline, ListBlock, Paragraph, Span, TextSpan
from schemas.documents import Title
from services.content.domain.errors import InvalidContent
from services.content.domain.messages import N_, NN_, Message

TITLE = "title"
"""Segment id of the title."""

SegmentKind = Literal["title", "heading", "paragraph", "item"]
FaultKind = Literal[
    "missing",
    "unknown",
    "duplicate",
    "untranslated",
    "needs-review",
    "source-changed",
    "placeholder",
    "link",
    "markup",
    "invalid",
]


class Segment(msgspec.Struct, frozen=True):
    """One translatable piece of a revision."""

    id: str
    text: str
    """The text with placeholders and inline markup (see the module's docstring)."""
    kind: SegmentKind
    note: str
    """Where it sits, for translators: 'heading (level 2)', 'list item 2 of 3'..."""
    spans: tuple[Span, ...] = ()
    """The spans (the title's is one text span)."""


class SegmentFault(msgspec.Struct, frozen=True):
    """Why one segment of a translation is refused."""

    id: str
    problem: FaultKind
    detail: str


class SegmentMismatch(InvalidContent):
    """A translation's segments do not fit the source: missing, unknown, or placeholders/links changed.

    ``segments`` lists every fault: ``{"id", "problem", "detail"}``.
    """

    name = "segment-mismatch"
    title = N_("The translation does not match the source's segments")


class InvalidTranslationFile(InvalidContent):
    """A translation file that cannot be read, or that is for another document, locale or revision.

    ``reasons`` says why; ``segments`` is empty (no segment was looked at).
    """

    name = "invalid-translation-file"
    title = N_("The translation file cannot be used")


class SegmentSyntaxError(ValueError):
    """A segment text whose markup or placeholders cannot be read."""


# -- writing segments ----------------------------------------------------------------------


NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 does not allow in a document, even as character references."""


def _character_reference(match: re.Match[str]) -> str:
    return f"&#x{ord(match.group()):X};"


def xml_safe(text: str) -> str:
    """``text`` with each character XML refuses written as a character reference (``&#xFFFE;``)."""
    return NOT_IN_XML.sub(_character_reference, text)


def escape_text(text: str) -> str:
    """Plain text as segment text: markup as entities, braces doubled, characters XML refuses as references."""
    return xml_safe(
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("{", "{{").replace("}", "}}")
    )


def _escape_attribute(value: str) -> str:
    return xml_safe(value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def unescape_text(text: str) -> str:
    """Segment text's entities and character references -> the characters.

    Unlike `html.unescape`, a numeric reference gives exactly its code point (``&#x0;`` is
    U+0000, ``&#x80;`` U+0080), so text that `escape_text` wrote reads back the same; only a
    surrogate or a number beyond U+10FFFF, which no stored text can hold, gives U+FFFD.
    """
    out: list[str] = []
    position = 0
    for match in _REFERENCE.finditer(text):
        out.append(html.unescape(text[position : match.start()]))
        number = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        out.append("\ufffd" if number > 0x10FFFF or 0xD800 <= number <= 0xDFFF else chr(number))
        position = match.end()
    out.append(html.unescape(text[position:]))
    return "".join(out)


def placeholder(span: FactSpan) -> str:
    """How a fact placeholder is written in a segment: ``{fact:key}`` or ``{fact:key:format}``."""
    return "{fact:" + span.key + (":" + span.format if span.format else "") + "}"


class InlinePiece(msgspec.Struct, frozen=True):
    """One piece of a segment's inline content, in reading order.

    Segment text is the pieces joined (text escaped); XLIFF writes the same pieces as text,
    ``<ph>`` and ``<pc>`` elements, so both formats carry one structure.
    """

    kind: Literal["text", "fact", "start", "end"]
    text: str
    """The plain text (``text``), else the piece as segment text: ``{fact:key}``, ``<strong>``, ``</a>``."""
    element: Literal["em", "strong", "a"] | None = None
    """The element a ``start`` or ``end`` opens or closes."""


def _with_marks(spans: Sequence[Span]) -> Iterator[InlinePiece]:
    """Spans sharing a link, their marks as elements; runs sharing marks share the elements."""
    opened: list[Literal["em", "strong"]] = []
    for span in spans:
        marks = list(dict.fromkeys(span.marks))
        kept = 0
        while kept < min(len(opened), len(marks)) and opened[kept] == marks[kept]:
            kept += 1
        for mark in reversed(opened[kept:]):
            yield InlinePiece("end", f"</{mark}>", mark)
        for mark in marks[kept:]:
            yield InlinePiece("start", f"<{mark}>", mark)
        opened = marks
        yield InlinePiece("text", span.text) if isinstance(span, TextSpan) else InlinePiece("fact", placeholder(span))
    for mark in reversed(opened):
        yield InlinePiece("end", f"</{mark}>", mark)


def inline_pieces(spans: Sequence[Span]) -> list[InlinePiece]:
    """Inline content as pieces: text, fact placeholders, and the starts and ends of marks and links."""
    pieces: list[InlinePiece] = []
    for link, group in itertools.groupby(spans, key=lambda span: span.link):
        if link:
            pieces.append(InlinePiece("start", f'<a href="{_escape_attribute(link)}">', "a"))
        pieces += _with_marks(list(group))
        if link:
            pieces.append(InlinePiece("end", "</a>", "a"))
    return pieces


def pieces_text(pieces: Iterable[InlinePiece]) -> str:
    """Pieces as segment text."""
    return "".join(escape_text(piece.text) if piece.kind == "text" else piece.text for piece in pieces)


def inline_text(spans: Sequence[Span]) -> str:
    """Inline content as segment text."""
    return pieces_text(inline_pieces(spans))


def code_piece(text: str) -> InlinePiece | None:
    """The piece segment text ``text`` is when it is one fact placeholder, or one mark's or link's start or end.

    None otherwise. A link target that would be refused is still recognised (the segment checks
    refuse it). Used to read back the codes of XLIFF's inline elements.
    """
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    if match.group("fact") is not None:
        return InlinePiece("fact", text)
    if match.group("mark_open") is not None:
        return InlinePiece("start", text, "strong" if match.group("mark").lower() == "strong" else "em")
    if match.group("link_open") is not None:
        return InlinePiece("start", text, "a")
    if match.group("close") is not None:
        closing = match.group("closing").lower()
        return InlinePiece("end", text, "a" if closing == "a" else "strong" if closing == "strong" else "em")
    return None


def _block_segment_id(block: Block, index: int) -> str:
    # Stored revisions always have block ids; the fallback cannot be a block id (':' is not allowed in one).
    return block.id or f":{index + 1}"


def to_segments(title: str, blocks: Sequence[Block]) -> list[Segment]:
    """A revision's segments, in reading order; fragment includes have none."""
    segments = [Segment(TITLE, escape_text(title), "title", "page title", (TextSpan(title),) if title else ())]
    for index, block in enumerate(blocks):
        block_id = _block_segment_id(block, index)
        if isinstance(block, Heading | Paragraph):
            # A heading or paragraph whose id is 'title' takes 'title.0' (list items start at 1).
            segment_id = f"{block_id}.0" if block_id == TITLE else block_id
            kind: SegmentKind = "heading" if isinstance(block, Heading) else "paragraph"
            note = f"heading (level {block.level})" if isinstance(block, Heading) else "paragraph"
            segments.append(Segment(segment_id, inline_text(block.content), kind, note, tuple(block.content)))
        elif isinstance(block, ListBlock):
            total = len(block.items)
            for number, item in enumerate(block.items, start=1):
                note = f"{'numbered ' if block.ordered else ''}list item {number} of {total}"
                segments.append(Segment(f"{block_id}.{number}", inline_text(item), "item", note, tuple(item)))
    return segments


def segment_texts(title: str, blocks: Sequence[Block]) -> dict[str, str]:
    """Segment id -> text, in reading order."""
    return {segment.id: segment.text for segment in to_segments(title, blocks)}


def changed_segments(
    old_title: str, old_blocks: Sequence[Block], new_title: str, new_blocks: Sequence[Block]
) -> list[str]:
    """Ids of the new revision's segments whose text differs from the old one's (or that are new), in order."""
    old = segment_texts(old_title, old_blocks)
    return [segment.id for segment in to_segments(new_title, new_blocks) if old.get(segment.id) != segment.text]


# -- reading segments ----------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<open_brace>\{\{)"
    r"|(?P<close_brace>\}\})"
    r"|(?P<fact>\{fact:(?P<key>[a-z0-9][a-z0-9_.-]{0,99})(?::(?P<format>short|medium|long|full))?\})"
    r"|(?P<brace>[{}])"
    r"|(?P<mark_open><(?P<mark>(?i:em|strong))\s*>)"
    r"|(?P<link_open><(?i:a)\s+(?i:href)\s*=\s*\"(?P<href>[^\"<>]*)\"\s*>)"
    r"|(?P<close></\s*(?P<closing>(?i:em|strong|a))\s*>)"
    r"|(?P<tag><[/!?A-Za-z][^<>]*>?)"
)
_LINK = re.compile(r"^(?:https?://[^\s<>\"']+|mailto:[^\s<>\"']+)$")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Reader:
    """Turns segment text into span dicts (not yet validated against the schema)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.open: list[tuple[str, str | None]] = []

    def _format(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        marks = tuple(dict.fromkeys(name for name, _ in self.open if name != "a"))
        if marks:
            found["marks"] = list(marks)
        links = [href for name, href in self.open if name == "a"]
        if links:
            found["link"] = links[-1]
        return found

    def text(self, text: str) -> None:
        if not text:
            return
        style = self._format()
        last = self.spans[-1] if self.spans else None
        if (
            last is not None
            and last["type"] == "text"
            and {k: v for k, v in last.items() if k in ("marks", "link")} == style
        ):
            last["text"] += text
        else:
            self.spans.append({"type": "text", "text": text, **style})

    def fact(self, key: str, fmt: str | None) -> None:
        span: dict[str, Any] = {"type": "fact", "key": key, **self._format()}
        if fmt:
            span["format"] = fmt
        self.spans.append(span)

    def open_element(self, name: str, href: str | None = None) -> None:
        if name == "a":
            if any(open_name == "a" for open_name, _ in self.open):
                raise SegmentSyntaxError("a link inside a link")
            if href is None or not _LINK.match(href) or len(href) > 2000:
                raise SegmentSyntaxError(f"link target {href!r} is not an http, https or mailto URL")
        self.open.append((name, href))

    def close_element(self, name: str) -> None:
        if not self.open:
            raise SegmentSyntaxError(f"'</{name}>' closes nothing")
        top = self.open[-1][0]
        if top != name:
            raise SegmentSyntaxError(f"'</{name}>' closes '<{top}>'")
        self.open.pop()


def parse_segment(text: str) -> list[dict[str, Any]]:
    """Segment text -> span dicts (``{"type": "text" | "fact", ...}``); `SegmentSyntaxError` if malformed."""
    reader = _Reader()
    position = 0
    for match in _TOKEN.finditer(text):
        reader.text(unescape_text(text[position : match.start()]))
        position = match.end()
        if match.group("open_brace") is not None:
            reader.text("{")
        elif match.group("close_brace") is not None:
            reader.text("}")
        elif match.group("fact") is not None:
            reader.fact(match.group("key"), match.group("format"))
        elif match.group("brace") is not None:
            raise SegmentSyntaxError(
                f"a lone '{match.group('brace')}' at {match.start()}: write a fact as {{fact:key}} "
                "and a literal brace doubled ({{ or }})"
            )
        elif match.group("mark_open") is not None:
            reader.open_element(match.group("mark").lower())
        elif match.group("link_open") is not None:
            reader.open_element("a", unescape_text(match.group("href")))
        elif match.group("close") is not None:
            reader.close_element(match.group("closing").lower())
        else:
            raise SegmentSyntaxError(
                f"markup {_shorten(match.group('tag'))!r} is not allowed: only <em>, <strong> and "
                '<a href="..."> (write &lt; for a literal <)'
            )
    reader.text(unescape_text(text[position:]))
    if reader.open:
        raise SegmentSyntaxError(f"'<{reader.open[-1][0]}>' is not closed")
    return reader.spans


def _placeholders(spans: Sequence[Span] | Sequence[dict[str, Any]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for span in spans:
        if isinstance(span, dict):
            if span["type"] == "fact":
                found["{fact:" + span["key"] + (":" + span["format"] if span.get("format") else "") + "}"] += 1
        elif isinstance(span, FactSpan):
            found[placeholder(span)] += 1
    return found


def _links(spans: Sequence[Span] | Sequence[dict[str, Any]]) -> set[str]:
    links: set[str] = set()
    for span in spans:
        link = span.get("link") if isinstance(span, dict) else span.link
        if link:
            links.add(link)
    return links


def _difference(kind: str, missing: Sequence[str], extra: Sequence[str]) -> str:
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"not in the source: {', '.join(extra)}")
    return f"{kind} differ from the source: {'; '.join(parts)}"


def _read_title(text: str) -> tuple[str | None, SegmentFault | None]:
    try:
        spans = parse_segment(text)
    except SegmentSyntaxError as exc:
        return None, SegmentFault(TITLE, "markup", str(exc))
    if any(span["type"] == "fact" for span in spans):
        return None, SegmentFault(TITLE, "placeholder", "the title has no fact placeholders")
    if any("marks" in span or "link" in span for span in spans):
        return None, SegmentFault(TITLE, "markup", "the title has no marks or links")
    title = "".join(span["text"] for span in spans)
    try:
        return msgspec.convert(title, Title), None
    except msgspec.ValidationError as exc:
        return None, SegmentFault(TITLE, "invalid", f"the title is not valid: {exc}")


def _read_inline(segment: Segment, text: str) -> tuple[list[Span] | None, SegmentFault | None]:
    try:
        raw = parse_segment(text)
    except SegmentSyntaxError as exc:
        return None, SegmentFault(segment.id, "markup", str(exc))
    source_facts, facts = _placeholders(segment.spans), _placeholders(raw)
    if source_facts != facts:
        missing = sorted((source_facts - facts).elements())
        extra = sorted((facts - source_facts).elements())
        return None, SegmentFault(segment.id, "placeholder", _difference("fact placeholders", missing, extra))
    source_links, links = _links(segment.spans), _links(raw)
    if source_links != links:
        detail = _difference("link targets", sorted(source_links - links), sorted(links - source_links))
        return None, SegmentFault(segment.id, "link", detail)
    if not raw:
        return None, SegmentFault(segment.id, "invalid", "the translation is empty")
    try:
        return msgspec.convert(raw, Inline), None
    except msgspec.ValidationError as exc:
        return None, SegmentFault(segment.id, "invalid", f"the translation is not valid content: {exc}")


def _read(segments: Sequence[Segment], translations: Mapping[str, str]) -> tuple[dict[str, Any], list[SegmentFault]]:
    read: dict[str, Any] = {}
    faults: list[SegmentFault] = []
    for segment in segments:
        text = translations.get(segment.id)
        if text is None:
            faults.append(SegmentFault(segment.id, "missing", "no translation for this segment"))
            continue
        value, fault = _read_title(text) if segment.kind == "title" else _read_inline(segment, text)
        if fault is not None:
            faults.append(fault)
        else:
            read[segment.id] = value
    known = {segment.id for segment in segments}
    faults += [
        SegmentFault(segment_id, "unknown", "the source has no such segment")
        for segment_id in translations
        if segment_id not in known
    ]
    return read, faults


def segment_faults(
    source_title: str, source_blocks: Sequence[Block], translations: Mapping[str, str]
) -> list[SegmentFault]:
    """Every reason the translations cannot be applied to the source (empty when they can)."""
    return _read(to_segments(source_title, source_blocks), translations)[1]


def mismatch(faults: Sequence[SegmentFault]) -> SegmentMismatch:
    """The error listing ``faults`` (``segments`` holds each one)."""
    shown = "; ".join(f"{fault.id}: {fault.detail}" for fault in faults[:5])
    more = len(faults) - 5
    return SegmentMismatch(
        Message(
            NN_("{count} segment refused: {faults}{more}", "{count} segments refused: {faults}{more}"),
            count=len(faults),
            faults=shown,
            more=f" (and {more} more)" if more > 0 else "",
        ),
        segments=[msgspec.to_builtins(fault) for fault in faults],
    )


def _rebuilt(blocks: Sequence[Block], read: Mapping[str, Any]) -> Iterator[Block]:
    for index, block in enumerate(blocks):
        block_id = _block_segment_id(block, index)
        if isinstance(block, FragmentInclude):
            yield block
        elif isinstance(block, Heading | Paragraph):
            content = read[f"{block_id}.0" if block_id == TITLE else block_id]
            yield msgspec.structs.replace(block, content=content)
        else:
            items = [read[f"{block_id}.{number}"] for number in range(1, len(block.items) + 1)]
            yield msgspec.structs.replace(block, items=items)


def apply_segments(
    source_title: str, source_blocks: Sequence[Block], translations: Mapping[str, str]
) -> tuple[str, list[Block]]:
    """The translated revision: the source's structure with each segment's translation.

    Fragment includes, block ids, heading levels and list kinds come from the source.
    Raises `SegmentMismatch` listing every segment at fault.
    """
    read, faults = _read(to_segments(source_title, source_blocks), translations)
    if faults:
        raise mismatch(faults)
    return read[TITLE], list(_rebuilt(source_blocks, read))
