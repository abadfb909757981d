"""Translation files: a variant exported for translators as PO or XLIFF 2.0, and imported back.

The export holds one entry per segment of the source's head revision (see
`services.content.domain.segments`), its id as context, and the current translation's text
where there is one. When the source moved on since the revision the translation was made from,
exactly the segments whose source text changed are marked for review (PO: ``fuzzy`` with the
previous source text as ``#| msgid``, as msgmerge does; XLIFF: ``state="initial"`` and a
``previous-source`` note); the others stay translated.

PO carries segment text as it is (markup as text). XLIFF carries the same pieces (see
`segments.inline_pieces`) as XLIFF's inline elements, so translation tools protect and show them:
a fact placeholder is a ``<ph>`` (``canCopy="no" canDelete="no"``), a mark or a link a ``<pc>``
(``xlf:b``, ``xlf:i``, ``type="link"``) around its words, and each one's code (``{fact:key}``,
``<strong>``, ``<a href="…">``) is kept outside the translatable text, in the unit's
``<originalData>``. A character XML 1.0 does not allow is a ``<cp hex="…"/>``. Reading a file
turns it back into segment text, so the same checks apply to both formats. A file exported before
the inline elements (no ``liaison:inline`` attribute, no inline element) is read as it was written:
its text is segment text.

The import checks everything before it writes: the file must be for this document, its source
locale and this target locale, name a source revision that exists (and is not older than the one
the current translation was made from), carry the source texts of that revision, and translate
every segment keeping its fact placeholders and link targets. Then one translation revision is
written through `revisions.create_revision`, naming that source revision and based on the
variant's current head. A refused import changes nothing; nor does one whose translation is the
head's (an unchanged export imported back): the answer is the head.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import msgspec
from babel.messages.catalog import Catalog
from babel.messages.catalog import Message as PoMessage
from babel.messages.pofile import PoFileParser, normalize, write_po

from schemas.blocks import Span
from schemas.documents import ActivityKind, RevisionCreate
from schemas.documents import Message as MessageText
from services.content.domain.access import Action, Principal
from services.content.domain.errors import InvalidContent, InvalidLocale, NotFound
from services.content.domain.locales import babel_locale, normalize_locale
from services.content.domain.messages import N_, Message
from services.content.domain.model import Document, Revision, Variant
from services.content.domain.segments import (
    NOT_IN_XML,
    InlinePiece,
    InvalidTranslationFile,
    Segment,
    SegmentFault,
    apply_segments,
    code_piece,
    escape_text,
    inline_pieces,
    mismatch,
    segment_faults,
    segment_texts,
    to_segments,
    xml_safe,
)
from services.content.storage.database import Database
from services.content.usecases import revisions
from services.content.usecases.documents import checked_locale, load_document

FileFormat = Literal["po", "xliff"]
FORMATS: tuple[FileFormat, ...] = ("po", "xliff")
MEDIA_TYPES: dict[FileFormat, str] = {
    "po": "text/x-gettext-translation; charset=utf-8",
    "xliff": "application/xliff+xml; charset=utf-8",
}
EXTENSIONS: dict[FileFormat, str] = {"po": "po", "xliff": "xlf"}
_MEDIA_FORMATS: dict[str, FileFormat] = {
    "text/x-gettext-translation": "po",
    "text/x-po": "po",
    "text/x-gettext": "po",
    "application/x-po": "po",
    "application/x-gettext": "po",
    "application/x-gettext-translation": "po",
    "application/xliff+xml": "xliff",
    "application/x-xliff+xml": "xliff",
    "application/xml": "xliff",
    "text/xml": "xliff",
}

XLIFF_NAMESPACE = "urn:oasis:names:tc:xliff:document:2.0"
LIAISON_NAMESPACE = "urn:liaison:xliff:1"
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
_X = "{" + XLIFF_NAMESPACE + "}"
_L = "{" + LIAISON_NAMESPACE + "}"
INLINE_CODES = "codes"
"""Value of ``liaison:inline`` on ``<file>``: marks, links and facts are inline elements."""
_MAX_NESTING = 32

HEADER_DOCUMENT = "X-Liaison-Document"
HEADER_SOURCE_LOCALE = "X-Liaison-Source-Locale"
HEADER_SOURCE_REVISION = "X-Liaison-Source-Revision"
HEADER_TARGET_LOCALE = "X-Liaison-Target-Locale"
HEADER_TRANSLATED_FROM = "X-Liaison-Translated-From"

UnitState = Literal["untranslated", "translated", "fuzzy"]


class TranslationFile(msgspec.Struct, frozen=True):
    """An exported file: its bytes, media type and a file name for ``Content-Disposition``."""

    content: bytes
    media_type: str
    filename: str
    segments: int
    fuzzy: int


class ExportUnit(msgspec.Struct, frozen=True):
    """One segment as exported: the source text, the translation so far, and its state."""

    segment: Segment
    target: str | None
    state: UnitState
    previous_source: str | None = None
    target_spans: tuple[Span, ...] = ()
    """The translation's spans (XLIFF writes them as inline elements)."""


class ExportData(msgspec.Struct, frozen=True):
    """Everything a file names: the document, both locales, the source revision and the units."""

    document: Document
    label: str
    """``site/slug`` of a page, the key of a fragment."""
    source_locale: str
    source_revision: Revision
    target_locale: str
    translated_from: int | None
    translation_date: dt.datetime | None
    units: list[ExportUnit]
    translation_revision: int | None = None
    """The translation's head the units were read from (None: no translation yet)."""


class FileEntry(msgspec.Struct, frozen=True):
    """One entry read from an uploaded file."""

    id: str
    source: str
    target: str
    needs_review: bool = False
    fault: str | None = None
    """Why the entry cannot be read at all (no context, plural forms, XLIFF inline elements)."""


class ParsedFile(msgspec.Struct, frozen=True):
    """What an uploaded file says about itself, and its entries (nothing checked yet)."""

    document: str | None
    source_locale: str | None
    target_locale: str | None
    source_revision: str | None
    entries: list[FileEntry]


# -- export --------------------------------------------------------------------------------


def _units(source: Revision, translation: Revision | None, translated_from: Revision | None) -> list[ExportUnit]:
    existing = {s.id: s for s in to_segments(translation.title, translation.blocks)} if translation else {}
    previous = segment_texts(translated_from.title, translated_from.blocks) if translated_from else {}
    units: list[ExportUnit] = []
    for segment in to_segments(source.title, source.blocks):
        target = existing.get(segment.id)
        if target is None:
            units.append(ExportUnit(segment, None, "untranslated"))
        elif previous.get(segment.id) == segment.text:
            units.append(ExportUnit(segment, target.text, "translated", target_spans=target.spans))
        else:
            # The source text changed since the translation was made: keep it, for review (msgmerge's fuzzy).
            units.append(ExportUnit(segment, target.text, "fuzzy", previous.get(segment.id), target.spans))
    return units


def _label(document: Document) -> str:
    if document.site_key is not None and document.slug is not None:
        return f"{document.site_key}/{document.slug}"
    return document.key or f"document-{document.id}"


async def load_export(db: Database, principal: Principal, document_id: int, locale_tag: str) -> ExportData:
    """The source head's segments for ``locale``, with the current translation's text and states."""
    async with db.reading() as repo:
        document, site = await load_document(repo, document_id, principal)
        locale = checked_locale(locale_tag, site)
        principal.require(Action.READ_DRAFTS, site=site.key if site else None)
        if locale == document.source_locale:
            raise InvalidContent(
                Message(
                    N_("locale: {locale} is the source locale of document {id}; export a translation locale"),
                    locale=locale,
                    id=document.id,
                )
            )
        source = await repo.variant(document.id, document.source_locale)
        source_head = await repo.revision(source.id, source.head_revision) if source else None
        if source_head is None:
            raise NotFound(
                Message(
                    N_("document {id} has no {locale} revision to translate"),
                    id=document.id,
                    locale=document.source_locale,
                )
            )
        target = await repo.variant(document.id, locale)
        translation = await repo.revision(target.id, target.head_revision) if target else None
        translated_from = None
        if source is not None and translation is not None and translation.source_revision is not None:
            translated_from = await repo.revision(source.id, translation.source_revision)
    return export_data(document, source_head, locale, translation, translated_from)


def export_data(
    document: Document,
    source: Revision,
    locale: str,
    translation: Revision | None = None,
    translated_from: Revision | None = None,
) -> ExportData:
    """What a file for ``locale`` holds: the source's segments, the translation's texts, drift since its source."""
    return ExportData(
        document=document,
        label=_label(document),
        source_locale=document.source_locale,
        source_revision=source,
        target_locale=locale,
        translated_from=translation.source_revision if translation else None,
        translation_date=translation.created_at if translation else None,
        units=_units(source, translation, translated_from),
        translation_revision=translation.number if translation else None,
    )


def _filename(data: ExportData, file_format: FileFormat) -> str:
    name = data.document.slug or data.document.key or f"document-{data.document.id}"
    return f"{name}.{data.source_locale}-r{data.source_revision.number}.{data.target_locale}.{EXTENSIONS[file_format]}"


class _Catalog(Catalog):
    """A Babel catalog that also writes and reads Liaison's ``X-Liaison-*`` header fields.

    Babel keeps only the header fields it knows; this one writes ``liaison`` after them and
    records the ``X-Liaison-*`` fields it reads in ``found`` (lower-case names).
    """

    def __init__(self, *, liaison: Mapping[str, str] | None = None, **options: Any) -> None:
        self.liaison: dict[str, str] = dict(liaison or {})
        self.found: dict[str, str] = {}
        super().__init__(**options)

    @property
    def mime_headers(self) -> list[tuple[str, str]]:
        """Babel's header fields, then ours (the last field keeps the closing newline)."""
        headers = [(name, value.rstrip("\n")) for name, value in Catalog.mime_headers.fget(self)]  # type: ignore[attr-defined]
        headers += list(self.liaison.items())
        name, value = headers[-1]
        headers[-1] = (name, value + "\n")
        return headers

    @mime_headers.setter
    def mime_headers(self, value: Iterable[tuple[str, str]]) -> None:
        items = list(value)
        for name, text in items:
            if name.lower().startswith("x-liaison-"):
                self.found[name.lower()] = text.strip()
        Catalog.mime_headers.fset(self, items)  # type: ignore[attr-defined]


_PO_HEADER = """\
# Liaison translation file
# {label} (document {id}): {source} revision {revision} -> {target}
#
# Translate each msgstr. Keep every {{fact:...}} placeholder, and the <em>,
# <strong> and <a href="..."> markup around the words it belongs to.
# Write &lt; for <, &amp; for & and {{{{ or }}}} for a literal brace.
# Entries marked fuzzy changed in the source since the translation was
# made (#| msgid is the previous source text): check them, then remove
# the fuzzy flag.
#
{fields}"""
_COMMENT_FIELD = re.compile(r"^#\s*(X-Liaison-[A-Za-z-]+):[ \t]*(\S[^\r\n]*?)[ \t]*$", re.MULTILINE | re.IGNORECASE)


def render_po(data: ExportData) -> bytes:
    """The export as a PO file (Babel's writer)."""
    source_date = data.source_revision.created_at
    fields = {
        HEADER_DOCUMENT: str(data.document.id),
        HEADER_SOURCE_LOCALE: data.source_locale,
        HEADER_SOURCE_REVISION: str(data.source_revision.number),
        HEADER_TARGET_LOCALE: data.target_locale,
        **({HEADER_TRANSLATED_FROM: str(data.translated_from)} if data.translated_from else {}),
    }
    catalog = _Catalog(
        # In the header entry, and again as comments: tools that rewrite the header keep those.
        liaison=fields,
        locale=babel_locale(data.target_locale),
        header_comment=_PO_HEADER.format(
            label=data.label,
            id=data.document.id,
            source=data.source_locale,
            revision=data.source_revision.number,
            target=data.target_locale,
            fields="\n".join(f"# {name}: {value}" for name, value in fields.items()),
        ),
        project=data.label,
        version=f"{data.source_locale}-r{data.source_revision.number}",
        msgid_bugs_address="-",
        creation_date=source_date,
        revision_date=data.translation_date or source_date,
        last_translator="Liaison",
        language_team=f"{data.target_locale} (Liaison)",
        charset="utf-8",
        fuzzy=False,
    )
    previous: dict[str, str] = {}
    for unit in data.units:
        message = PoMessage(
            unit.segment.text,
            unit.target or "",
            flags=("fuzzy",) if unit.state == "fuzzy" else (),
            auto_comments=(unit.segment.note,),
            context=unit.segment.id,
        )
        # Babel guesses '%' formats from the text; ours has none (a '%' is just a percent sign).
        message.flags.discard("python-format")
        catalog[message.id] = message
        if unit.previous_source is not None:
            previous[unit.segment.id] = unit.previous_source
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    return _with_previous(buffer.getvalue(), previous)


def _with_previous(content: bytes, previous: Mapping[str, str]) -> bytes:
    """Add msgmerge's ``#| msgid`` lines (the previous source text) before the entries of ``previous``.

    Babel's writer wraps long previous ids as comments, which breaks their strings; here each
    line of the normalised string gets the ``#| `` prefix, as msgmerge writes it.
    """
    if not previous:
        return content
    lines = content.decode("utf-8").split("\n")
    out: list[str] = []
    for line in lines:
        if line.startswith('msgctxt "') and line.endswith('"'):
            segment_id = line[len('msgctxt "') : -1]
            if segment_id in previous:
                out += ["#| " + part for part in ("msgid " + normalize(previous[segment_id])).split("\n")]
        out.append(line)
    return "\n".join(out).encode("utf-8")


_PC_ATTRIBUTES: dict[str, dict[str, str]] = {
    "strong": {"type": "fmt", "subType": "xlf:b"},
    "em": {"type": "fmt", "subType": "xlf:i"},
    # A translation keeps every link target of its segment: the link may move, not go.
    "a": {"type": "link", "canDelete": "no"},
}


def _end_code(piece: InlinePiece) -> str:
    return f"</{piece.element}>"


def _inline_ids(pieces: Sequence[InlinePiece], source: Sequence[InlinePiece] | None = None) -> list[str]:
    """An id for each ``<ph>`` and ``<pc>``: 1, 2… in the source.

    In the target, the id of the source element with the same code (its n-th use for the n-th),
    else a new one: XLIFF pairs a target's inline element with the source's of the same id.
    """
    codes = [piece.text for piece in pieces if piece.kind in ("fact", "start")]
    if source is None:
        return [str(number) for number in range(1, len(codes) + 1)]
    source_codes = [piece.text for piece in source if piece.kind in ("fact", "start")]
    free: dict[str, list[str]] = {}
    for number, code in enumerate(source_codes, start=1):
        free.setdefault(code, []).append(str(number))
    ids: list[str] = []
    extra = len(source_codes)
    for code in codes:
        if free.get(code):
            ids.append(free[code].pop(0))
        else:
            extra += 1
            ids.append(str(extra))
    return ids


def _append_text(parent: ET.Element, text: str) -> None:
    """Add ``text`` at the end of ``parent``'s content, each character XML refuses as a ``<cp>``."""
    position = 0
    for match in NOT_IN_XML.finditer(text):
        _append_plain(parent, text[position : match.start()])
        ET.SubElement(parent, _X + "cp", {"hex": f"{ord(match.group()):04X}"})
        position = match.end()
    _append_plain(parent, text[position:])


def _append_plain(parent: ET.Element, text: str) -> None:
    if not text:
        return
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _write_inline(
    parent: ET.Element, pieces: Sequence[InlinePiece], ids: Sequence[str], data: Mapping[str, str]
) -> None:
    """Pieces as XLIFF content: text, ``<ph>`` for a fact, ``<pc>`` around a mark's or a link's words."""
    stack = [parent]
    numbers = iter(ids)
    for piece in pieces:
        if piece.kind == "text":
            _append_text(stack[-1], piece.text)
        elif piece.kind == "fact":
            attributes = {"id": next(numbers), "dataRef": data[piece.text], "type": "other"}
            attributes |= {"subType": "liaison:fact", "canCopy": "no", "canDelete": "no", "disp": xml_safe(piece.text)}
            ET.SubElement(stack[-1], _X + "ph", attributes)
        elif piece.kind == "start":
            attributes = {"id": next(numbers), "dataRefStart": data[piece.text], "dataRefEnd": data[_end_code(piece)]}
            stack.append(ET.SubElement(stack[-1], _X + "pc", attributes | _PC_ATTRIBUTES[piece.element or ""]))
        else:
            stack.pop()


def render_xliff(data: ExportData) -> bytes:
    """The export as an XLIFF 2.0 document (one unit per segment, marks, links and facts as inline elements)."""
    ET.register_namespace("", XLIFF_NAMESPACE)
    ET.register_namespace("liaison", LIAISON_NAMESPACE)
    root = ET.Element(_X + "xliff", {"version": "2.0", "srcLang": data.source_locale, "trgLang": data.target_locale})
    file = ET.SubElement(
        root,
        _X + "file",
        {
            "id": f"document-{data.document.id}",
            "original": f"liaison:document/{data.document.id}/{data.source_locale}/r{data.source_revision.number}",
            "canResegment": "no",
            f"{{{_XML_NAMESPACE}}}space": "preserve",
            _L + "document": str(data.document.id),
            _L + "sourceRevision": str(data.source_revision.number),
            _L + "label": xml_safe(data.label),
            _L + "inline": INLINE_CODES,
            **({_L + "translatedFrom": str(data.translated_from)} if data.translated_from else {}),
        },
    )
    notes = ET.SubElement(file, _X + "notes")
    ET.SubElement(notes, _X + "note", {"category": "liaison"}).text = xml_safe(
        f"{data.label} (document {data.document.id}), {data.source_locale} revision "
        f"{data.source_revision.number} -> {data.target_locale}. Fact placeholders are <ph> elements: keep each "
        "one, once. Marks and links are <pc> elements around their words: keep each link; their codes are in "
        '<originalData>, not to be changed. Segments in state "initial" with a "previous-source" note changed '
        'in the source since the current translation: check them and set state="translated".'
    )
    # Inline content is written after ET.indent, which would otherwise put whitespace into it.
    fills: list[tuple[ET.Element, Sequence[InlinePiece], Sequence[str], Mapping[str, str]]] = []
    codes: list[tuple[ET.Element, str]] = []
    for unit in data.units:
        element = ET.SubElement(file, _X + "unit", {"id": unit.segment.id})
        unit_notes = ET.SubElement(element, _X + "notes")
        ET.SubElement(unit_notes, _X + "note", {"category": "location"}).text = unit.segment.note
        if unit.previous_source is not None:
            ET.SubElement(
                unit_notes, _X + "note", {"category": "previous-source", "appliesTo": "source"}
            ).text = unit.previous_source
        source = inline_pieces(unit.segment.spans)
        target = inline_pieces(unit.target_spans) if unit.target is not None else []
        data_ids: dict[str, str] = {}
        for piece in (*source, *target):
            if piece.kind != "text":
                data_ids.setdefault(piece.text, f"d{len(data_ids) + 1}")
        if data_ids:
            original = ET.SubElement(element, _X + "originalData")
            codes += [(ET.SubElement(original, _X + "data", {"id": ref}), code) for code, ref in data_ids.items()]
        attributes = {"translated": {"state": "translated"}, "fuzzy": {"state": "initial"}}.get(unit.state, {})
        segment = ET.SubElement(element, _X + "segment", attributes)
        fills.append((ET.SubElement(segment, _X + "source"), source, _inline_ids(source), data_ids))
        if unit.target is not None:
            fills.append((ET.SubElement(segment, _X + "target"), target, _inline_ids(target, source), data_ids))
    ET.indent(root)
    for data_element, code in codes:
        _append_text(data_element, code)
    for parent, pieces, ids, refs in fills:
        _write_inline(parent, pieces, ids, refs)
    content: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    # XML parsers turn a raw carriage return into a line feed; as a character reference it survives.
    return content.replace(b"\r", b"&#13;") + b"\n"


async def export_translation(
    db: Database, principal: Principal, document_id: int, locale: str, file_format: FileFormat
) -> TranslationFile:
    """The file a translator fills for ``locale``: PO or XLIFF 2.0."""
    data = await load_export(db, principal, document_id, locale)
    content = render_po(data) if file_format == "po" else render_xliff(data)
    return TranslationFile(
        content=content,
        media_type=MEDIA_TYPES[file_format],
        filename=_filename(data, file_format),
        segments=len(data.units),
        fuzzy=sum(unit.state == "fuzzy" for unit in data.units),
    )


# -- reading files -------------------------------------------------------------------------


def _unreadable(kind: str, why: str) -> InvalidTranslationFile:
    reason = f"not a readable {kind} file: {why}"
    return InvalidTranslationFile(
        Message(N_("the file cannot be imported: {reasons}"), reasons=reason), reasons=[reason], segments=[]
    )


def parse_po(data: bytes) -> ParsedFile:
    """Read an uploaded PO file (Babel's parser); `InvalidTranslationFile` when it is not one."""
    catalog = _Catalog()
    try:
        PoFileParser(catalog, ignore_obsolete=True, abort_invalid=True).parse(io.BytesIO(data))
    except Exception as exc:  # Babel raises PoFileError, UnicodeDecodeError, ValueError... on bad input
        raise _unreadable("PO", str(exc)[:300] or exc.__class__.__name__) from None
    entries: list[FileEntry] = []
    for message in catalog:
        if not message.id:
            continue  # the header
        if isinstance(message.id, tuple | list) or isinstance(message.string, tuple | list):
            source = message.id[0] if isinstance(message.id, tuple | list) else message.id
            entries.append(FileEntry(message.context or "", source, "", fault="plural forms are not used"))
            continue
        if not message.context:
            entries.append(FileEntry("", message.id, "", fault="an entry without msgctxt (the segment id)"))
            continue
        entries.append(FileEntry(message.context, message.id, message.string or "", needs_review=message.fuzzy))
    fields = dict(catalog.found)
    for name, value in _COMMENT_FIELD.findall(catalog.header_comment or ""):
        fields.setdefault(name.lower(), value)
    if not entries and not fields:
        raise _unreadable("PO", "no header and no entries")
    target = fields.get(HEADER_TARGET_LOCALE.lower())
    if target is None and catalog.locale_identifier:
        target = catalog.locale_identifier.replace("_", "-")
    return ParsedFile(
        document=fields.get(HEADER_DOCUMENT.lower()),
        source_locale=fields.get(HEADER_SOURCE_LOCALE.lower()),
        target_locale=target,
        source_revision=fields.get(HEADER_SOURCE_REVISION.lower()),
        entries=entries,
    )


_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _element_text(element: ET.Element | None) -> str:
    """Text of a <source> or <target> of a file written before the inline elements (none): segment text as it is."""
    return "" if element is None else element.text or ""


class _InlineFault(Exception):
    """Why the inline content of a <source> or <target> cannot be read."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _code_point(element: ET.Element) -> str:
    found = element.get("hex", "")
    if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", found) or int(found, 16) > 0x10FFFF:
        raise _InlineFault(f"<cp hex={_shorten(found)!r}> is not a code point")
    return chr(int(found, 16))


def _plain_text(element: ET.Element) -> str:
    """Text of a <data>: its characters, each <cp> as its character."""
    out = [element.text or ""]
    for child in element:
        if child.tag == _X + "cp":
            out.append(_code_point(child))
        out.append(child.tail or "")
    return "".join(out)


def _code(element: ET.Element, attribute: str, data: Mapping[str, str], kind: str) -> InlinePiece:
    """The code an inline element names in the unit's <originalData>, checked to be of ``kind``."""
    name = f"<{_local(element.tag)} id={_shorten(element.get('id', ''))!r}>"
    ref = element.get(attribute)
    if ref is None:
        raise _InlineFault(f"{name} has no {attribute}: keep the inline elements as exported")
    code = data.get(ref)
    if code is None:
        raise _InlineFault(f"{name}: {attribute}={_shorten(ref)!r} names no <data> of the unit")
    piece = code_piece(code)
    if piece is None or piece.kind != kind:
        expected = {"fact": "a fact placeholder", "start": "a mark's or a link's start", "end": "an end"}[kind]
        raise _InlineFault(f"{name}: the data {_shorten(code)!r} is not {expected}")
    return piece


def _inline_text(element: ET.Element, data: Mapping[str, str], depth: int = 0) -> str:
    """Segment text of XLIFF inline content: text escaped, ``<ph>``/``<pc>`` as their codes, ``<cp>`` as a character."""
    if depth > _MAX_NESTING:
        raise _InlineFault(f"inline elements nested more than {_MAX_NESTING} deep")
    out = [escape_text(element.text or "")]
    for child in element:
        if child.tag == _X + "cp":
            out.append(escape_text(_code_point(child)))
        elif child.tag == _X + "ph":
            out.append(_code(child, "dataRef", data, "fact").text)
        elif child.tag == _X + "pc":
            start = _code(child, "dataRefStart", data, "start")
            end = _code(child, "dataRefEnd", data, "end")
            if end.element != start.element:
                raise _InlineFault(
                    f"<pc id={_shorten(child.get('id', ''))!r}>: {start.text!r} does not end with {end.text!r}"
                )
            out += [start.text, _inline_text(child, data, depth + 1), end.text]
        elif child.tag == _X + "mrk":
            out.append(_inline_text(child, data, depth + 1))  # an annotation: its content is the text
        else:
            raise _InlineFault(f"<{_local(child.tag)}> is not read: facts are <ph>, marks and links <pc>, as exported")
        out.append(escape_text(child.tail or ""))
    return "".join(out)


def _unit_data(unit: ET.Element) -> dict[str, str]:
    """The unit's <originalData>: data id -> code."""
    found: dict[str, str] = {}
    for original in unit.findall(_X + "originalData"):
        for entry in original.findall(_X + "data"):
            found.setdefault(entry.get("id", ""), _plain_text(entry))
    return found


def _content_text(element: ET.Element | None, data: Mapping[str, str] | None) -> tuple[str, str | None]:
    """Segment text of a <source> or <target>, and why it cannot be read (None when it can)."""
    if data is None:
        return _element_text(element), None
    if element is None:
        return "", None
    try:
        return _inline_text(element, data), None
    except _InlineFault as exc:
        return "", str(exc)


def parse_xliff(data: bytes) -> ParsedFile:
    """Read an uploaded XLIFF 2 file (ElementTree); `InvalidTranslationFile` when it is not one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unreadable("XLIFF", "it is not UTF-8") from None
    if _DTD.search(text):
        raise _unreadable("XLIFF", "document type declarations and entities are not accepted")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD (refused above), so no entity can expand
    except ET.ParseError as exc:
        raise _unreadable("XLIFF", f"XML error: {exc}") from None
    if root.tag != _X + "xliff":
        raise _unreadable("XLIFF", f"the root element is {root.tag!r}, not XLIFF 2.0's <xliff>")
    if not root.get("version", "").startswith("2."):
        raise _unreadable("XLIFF", f"version {root.get('version')!r} is not XLIFF 2")
    files = root.findall(_X + "file")
    if len(files) != 1:
        raise _unreadable("XLIFF", f"{len(files)} <file> elements; one is expected")
    file = files[0]
    # Files exported before the inline elements hold segment text as text; any inline element means the new form.
    inline = file.get(_L + "inline") == INLINE_CODES or any(
        len(content) for tag in ("source", "target") for content in file.iter(_X + tag)
    )
    entries: list[FileEntry] = []
    for unit in file.iter(_X + "unit"):
        sources: list[str] = []
        targets: list[str] = []
        needs_review = False
        fault = None
        codes = _unit_data(unit) if inline else None
        for part in unit:
            if part.tag not in (_X + "segment", _X + "ignorable"):
                continue
            source, source_fault = _content_text(part.find(_X + "source"), codes)
            target_element = part.find(_X + "target")
            target, target_fault = _content_text(target_element, codes)
            fault = fault or source_fault or target_fault
            sources.append(source)
            targets.append(target)
            if part.get("state") == "initial" and target_element is not None and target:
                needs_review = True
        entries.append(FileEntry(unit.get("id", ""), "".join(sources), "".join(targets), needs_review, fault))
    return ParsedFile(
        document=file.get(_L + "document"),
        source_locale=root.get("srcLang"),
        target_locale=root.get("trgLang"),
        source_revision=file.get(_L + "sourceRevision"),
        entries=entries,
    )


def detect_format(data: bytes, media_type: str | None = None, filename: str | None = None) -> FileFormat:
    """The format of an upload: from its media type, else its file name, else its first bytes."""
    if media_type:
        found = _MEDIA_FORMATS.get(media_type.split(";")[0].strip().lower())
        if found is not None:
            return found
    if filename:
        suffix = filename.rsplit(".", 1)[-1].lower()
        if suffix in ("po", "pot"):
            return "po"
        if suffix in ("xlf", "xliff", "xml"):
            return "xliff"
    return "xliff" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "po"


def parse_file(data: bytes, file_format: FileFormat) -> ParsedFile:
    """Read an upload in ``file_format``."""
    if not data.strip():
        raise _unreadable("PO" if file_format == "po" else "XLIFF", "the file is empty")
    return parse_po(data) if file_format == "po" else parse_xliff(data)


# -- import --------------------------------------------------------------------------------


def _locale_reason(what: str, found: str | None, expected: str) -> str | None:
    if not found:
        return f"the file names no {what} (expected {expected})"
    try:
        locale = normalize_locale(found)
    except InvalidLocale:
        return f"the file's {what} {_shorten(found)!r} is not a locale"
    return None if locale == expected else f"the file's {what} is {locale}, not {expected}"


def _file_reasons(
    parsed: ParsedFile, document: Document, locale: str, source: Variant | None, translation: Revision | None
) -> list[str]:
    """Why the file is not for this document, these locales and an acceptable source revision."""
    reasons: list[str] = []
    if parsed.document != str(document.id):
        named = _shorten(parsed.document) or "(none named)"
        reasons.append(f"the file is for document {named}, not document {document.id}")
    for reason in (
        _locale_reason("source locale", parsed.source_locale, document.source_locale),
        _locale_reason("target locale", parsed.target_locale, locale),
    ):
        if reason:
            reasons.append(reason)
    number = source_revision_of(parsed)
    if number is None:
        reasons.append(f"the file names no source revision (found {_shorten(parsed.source_revision)!r})")
    elif source is None or not 1 <= number <= source.head_revision:
        reasons.append(f"the {document.source_locale} source has no revision {number}")
    elif translation is not None and translation.source_revision and number < translation.source_revision:
        reasons.append(
            f"the {locale} translation already translates {document.source_locale} revision "
            f"{translation.source_revision}; this file is for the older revision {number}: export again"
        )
    return reasons


def _shorten(text: str | None, limit: int = 40) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def source_revision_of(parsed: ParsedFile) -> int | None:
    """The source revision a file names, when it is a revision number."""
    found = parsed.source_revision
    return int(found) if found is not None and re.fullmatch(r"[0-9]{1,10}", found) else None


def _entry_faults(entries: Sequence[FileEntry], source: Revision) -> tuple[dict[str, str], list[SegmentFault]]:
    """The usable translations, and the faults only the file can show (before the segment checks)."""
    source_texts = segment_texts(source.title, source.blocks)
    translations: dict[str, str] = {}
    faults: list[SegmentFault] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.fault is not None:
            faults.append(SegmentFault(entry.id, "invalid", entry.fault))
            seen.add(entry.id)
            continue
        if entry.id in seen:
            faults.append(SegmentFault(entry.id, "duplicate", "the segment appears more than once"))
            continue
        seen.add(entry.id)
        expected = source_texts.get(entry.id)
        if expected is None:
            translations[entry.id] = entry.target  # reported as unknown by the segment checks
        elif entry.source != expected:
            faults.append(
                SegmentFault(
                    entry.id,
                    "source-changed",
                    f"the file's source text is not the text of revision {source.number}: export again",
                )
            )
        elif not entry.target:
            faults.append(SegmentFault(entry.id, "untranslated", "the segment is not translated"))
        elif entry.needs_review:
            faults.append(
                SegmentFault(entry.id, "needs-review", "the segment is marked for review (fuzzy, or state initial)")
            )
        else:
            translations[entry.id] = entry.target
    return translations, faults


def _ordered(faults: Iterable[SegmentFault], source: Revision) -> list[SegmentFault]:
    order = {segment_id: index for index, segment_id in enumerate(segment_texts(source.title, source.blocks))}
    return sorted(faults, key=lambda fault: order.get(fault.id, len(order)))


HEAD: Literal["head"] = "head"
"""``base_revision`` of `import_entries` meaning: the translation's head when the entries are checked."""

FileReader = Callable[[Document, str], ParsedFile]
"""Reads the entries to import, given the document and the target locale (called after the access checks)."""


async def import_translation(
    db: Database,
    principal: Principal,
    document_id: int,
    locale_tag: str,
    data: bytes,
    file_format: FileFormat,
    message: str = "",
) -> revisions.Written:
    """Write the translation an uploaded file holds as a new revision of ``locale``.

    Nothing is written when the file is refused, or when its translation is the head's (then
    ``created`` is false and the revision is the head).
    """
    kind = "PO" if file_format == "po" else "XLIFF"
    return await import_entries(
        db,
        principal,
        document_id,
        locale_tag,
        lambda _document, _locale: parse_file(data, file_format),
        message=message,
        default_message=lambda source, number: f"Imported from a {kind} file ({source} revision {number})",
    )


async def import_entries(
    db: Database,
    principal: Principal,
    document_id: int,
    locale_tag: str,
    read: FileReader,
    *,
    message: str = "",
    default_message: Callable[[str, int], str],
    base_revision: int | Literal["head"] | None = HEAD,
    kind: ActivityKind = "import",
) -> revisions.Written:
    """Check the entries ``read`` gives as an import's, then write them as one translation revision.

    The file checks (document, locales, source revision) and the segment checks (nothing
    missing, unknown or untranslated; placeholders and link targets kept) run before anything
    is written. ``base_revision`` is the translation revision the entries were made on (`HEAD`:
    whatever the head is now; an editor's form sends the one it showed, so a save on a moved
    head is a `StaleBase`). ``default_message(source_locale, source_revision)`` is the
    revision's message when ``message`` is empty.
    """
    async with db.reading() as repo:
        document, site = await load_document(repo, document_id, principal)
        locale = checked_locale(locale_tag, site)
        principal.require(Action.WRITE_TRANSLATION, site=site.key if site else None, locale=locale)
        if locale == document.source_locale:
            raise InvalidContent(
                Message(
                    N_("locale: {locale} is the source locale of document {id}; import into a translation locale"),
                    locale=locale,
                    id=document.id,
                ),
                segments=[],
            )
        parsed = read(document, locale)
        source = await repo.variant(document.id, document.source_locale)
        target = await repo.variant(document.id, locale)
        translation = await repo.revision(target.id, target.head_revision) if target else None
        reasons = _file_reasons(parsed, document, locale, source, translation)
        if reasons:
            raise InvalidTranslationFile(
                Message(N_("the file cannot be imported: {reasons}"), reasons="; ".join(reasons)),
                reasons=reasons,
                segments=[],
            )
        number = source_revision_of(parsed)
        source_revision = await repo.revision(source.id, number) if source is not None and number else None
        if source_revision is None:  # pragma: no cover - checked by _file_reasons; revisions are never deleted
            raise NotFound(Message(N_("the source revision named by the file does not exist")))
    translations, faults = _entry_faults(parsed.entries, source_revision)
    reported = {fault.id for fault in faults}
    faults += [
        fault
        for fault in segment_faults(source_revision.title, source_revision.blocks, translations)
        if not (fault.problem == "missing" and fault.id in reported)
    ]
    if faults:
        raise mismatch(_ordered(faults, source_revision))
    title, blocks = apply_segments(source_revision.title, source_revision.blocks, translations)
    text = message or default_message(document.source_locale, source_revision.number)
    try:
        text = msgspec.convert(text, MessageText)
    except msgspec.ValidationError as exc:
        raise InvalidContent(str(exc)).at("message") from None
    body = RevisionCreate(
        title=title,
        blocks=blocks,
        message=text,
        base_revision=(translation.number if translation else None) if base_revision == HEAD else base_revision,
        source_revision=source_revision.number,
    )
    return await revisions.create_revision(db, principal, document.id, locale, body, None, kind=kind)
