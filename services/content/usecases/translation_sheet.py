"""The translation sheet: a variant's translation set against its source, segment by segment, and its save.

What the console's translation screen shows and sends. The sheet is the translation export's
data (`translation_files.load_export`: the source head's segments, the translation's text, and
which segments changed since the source revision the translation was made from), with, for each
changed segment, the word diff of its source text since then. Saving goes through the import's
own path (`translation_files.import_entries`): the same checks (every segment translated, fact
placeholders and link targets kept), then one translation revision naming the source revision
the sheet showed and based on the translation revision it showed (a moved head is a 409).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

from schemas.diffs import WordChange
from services.content.domain.access import Principal
from services.content.domain.diff import word_diff
from services.content.domain.model import Document
from services.content.domain.segments import Segment, SegmentSyntaxError, parse_segment
from services.content.storage.database import Database
from services.content.usecases import revisions
from services.content.usecases.translation_files import (
    FileEntry,
    ParsedFile,
    import_entries,
    load_export,
)

RowState = Literal["up_to_date", "outdated", "missing"]
_STATES: dict[str, RowState] = {"translated": "up_to_date", "fuzzy": "outdated", "untranslated": "missing"}


class SheetCode(msgspec.Struct, frozen=True):
    """A piece of a segment a translation must keep: a fact placeholder or a link target."""

    kind: Literal["fact", "link"]
    code: str
    """As it is written in segment text: ``{fact:key}``, or the link's ``href`` value."""
    count: int = 1
    """How many times the source holds it (a translation keeps each placeholder as often)."""


class SheetRow(msgspec.Struct, frozen=True):
    """One segment: its source, the translation so far, and how the two stand."""

    segment: Segment
    translation: str | None
    """The translation's segment text (None: the segment is missing from the translation)."""
    state: RowState
    previous_source: str | None
    """The source text the translation was made from, when it has changed since."""
    source_diff: list[WordChange] | None
    """Word diff of the source text, from ``previous_source`` to now (outdated rows)."""
    codes: list[SheetCode]


class TranslationSheet(msgspec.Struct, frozen=True):
    """A translation beside its source, one row per segment of the source's head revision."""

    document: Document
    label: str
    source_locale: str
    locale: str
    source_revision: int
    """The source head: a save names it as the revision it translates."""
    base_revision: int | None
    """The translation's head (None: no translation yet): a save is based on it."""
    translated_from: int | None
    rows: list[SheetRow]

    @property
    def up_to_date(self) -> int:
        """How many rows need no work."""
        return sum(row.state == "up_to_date" for row in self.rows)


def display_text(segment_text: str) -> str:
    """Segment text as a reader sees it: the words, with fact placeholders kept and markup left out."""
    try:
        spans = parse_segment(segment_text)
    except SegmentSyntaxError:
        return segment_text
    parts = []
    for span in spans:
        if span["type"] == "fact":
            parts.append("{fact:" + span["key"] + (":" + span["format"] if span.get("format") else "") + "}")
        else:
            parts.append(span["text"])
    return "".join(parts)


def segment_codes(segment: Segment) -> list[SheetCode]:
    """The fact placeholders and link targets of ``segment``, in reading order, each once."""
    found: dict[tuple[str, str], int] = {}
    for piece in parse_segment(segment.text) if segment.kind != "title" else []:
        link = piece.get("link")
        if link:
            found.setdefault(("link", link), 1)
        if piece["type"] == "fact":
            code = "{fact:" + piece["key"] + (":" + piece["format"] if piece.get("format") else "") + "}"
            found[("fact", code)] = found.get(("fact", code), 0) + 1
    return [SheetCode("fact" if kind == "fact" else "link", code, count) for (kind, code), count in found.items()]


async def load_sheet(db: Database, principal: Principal, document_id: int, locale: str) -> TranslationSheet:
    """The translation of ``locale`` beside the source's head, with the drift since it was made."""
    data = await load_export(db, principal, document_id, locale)
    rows = []
    for unit in data.units:
        previous = unit.previous_source
        diff = word_diff(display_text(previous), display_text(unit.segment.text)) if previous is not None else None
        rows.append(
            SheetRow(
                segment=unit.segment,
                translation=unit.target,
                state=_STATES[unit.state],
                previous_source=previous,
                source_diff=diff,
                codes=segment_codes(unit.segment),
            )
        )
    return TranslationSheet(
        document=data.document,
        label=data.label,
        source_locale=data.source_locale,
        locale=data.target_locale,
        source_revision=data.source_revision.number,
        base_revision=data.translation_revision,
        translated_from=data.translated_from,
        rows=rows,
    )


async def save_sheet(
    db: Database,
    principal: Principal,
    document_id: int,
    locale: str,
    *,
    source_revision: int,
    base_revision: int | None,
    sources: Mapping[str, str],
    translations: Mapping[str, str],
    order: Sequence[str],
    message: str = "",
) -> revisions.Written:
    """Write the sheet's translations as one revision of ``locale``, through the import's checks.

    ``sources`` are the source texts the sheet showed (checked against ``source_revision``, as a
    file's are), ``translations`` the texts typed, both by segment id; ``order`` the segment ids
    as shown. A segment left empty is refused as untranslated; nothing is written on a refusal.
    """

    def entries(document: Document, target: str) -> ParsedFile:
        return ParsedFile(
            document=str(document.id),
            source_locale=document.source_locale,
            target_locale=target,
            source_revision=str(source_revision),
            entries=[
                FileEntry(segment_id, sources.get(segment_id, ""), translations.get(segment_id, "").strip())
                for segment_id in order
            ],
        )

    return await import_entries(
        db,
        principal,
        document_id,
        locale,
        entries,
        message=message,
        default_message=lambda source, number: f"Translated in the console ({source} revision {number})",
        base_revision=base_revision,
        kind="revision",
    )
