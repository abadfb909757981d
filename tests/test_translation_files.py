"""Translation files: PO and XLIFF export, import with its refusals, segment-level drift, outdated events."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from babel.messages.catalog import Catalog
from babel.messages.pofile import denormalize, read_po, write_po
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from lxml import etree as lxml_etree

from schemas.blocks import Block, FactSpan, Paragraph, TextSpan
from schemas.events import EVENT_TYPES, PageEvent
from services.cli import main
from services.content.domain.model import Document, Revision
from services.content.domain.segments import (
    SegmentMismatch,
    apply_segments,
    changed_segments,
    inline_text,
    parse_segment,
    segment_faults,
    to_segments,
)
from services.content.http.app import create_app
from services.content.http.translation_files import TranslationFileController
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.repository import OutboxRow
from services.content.storage.tables import outbox, revisions, variants
from services.content.translation_cli import export_command, import_command
from services.content.usecases import translation_files
from services.content.usecases.events import event_of
from tests.conftest import dump
from tests.helpers import fragment_id, page_id

Client = AsyncTestClient[Litestar]

SLUG = "internal-security-section"
DELHI = f"/v1/sites/in-new-delhi/pages/{SLUG}"
FRAGMENT = "dci-internal-security"
PROBLEM = "application/problem+json"
XLIFF = "{urn:oasis:names:tc:xliff:document:2.0}"
PO_TYPE = "text/x-gettext-translation"
XLIFF_TYPE = "application/xliff+xml"
LIAISON = "{urn:liaison:xliff:1}"
DATA = Path(__file__).parent / "data"
NOT_IN_XML = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]))
"""Every character XML 1.0 refuses that a database can hold (lone surrogates aside)."""
NOT_IN_XML_PATTERN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@pytest.fixture
def app(settings: Settings, db: Database) -> Litestar:
    """The content service with the translation-file routes (registered here until app.py has them)."""
    application = create_app(settings, db=db)
    if not any(route.path.endswith("/import") for route in application.routes):
        application.register(TranslationFileController)
    return application


# -- helpers -------------------------------------------------------------------------------


async def write(client: Client, admin: dict[str, str], doc: int, locale: str, body: dict[str, Any]) -> None:
    """Write a revision."""
    response = await client.post(f"/v1/documents/{doc}/variants/{locale}/revisions", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def publish(client: Client, admin: dict[str, str], doc: int, locale: str, number: int) -> None:
    """Make ``number`` the live revision of a variant."""
    response = await client.post(
        f"/v1/documents/{doc}/variants/{locale}/publish", json={"revision": number}, headers=admin
    )
    assert response.status_code == 200, response.text


async def source_blocks(client: Client, admin: dict[str, str], doc: int, locale: str, number: int) -> Any:
    """The blocks of one revision."""
    response = await client.get(f"/v1/documents/{doc}/variants/{locale}/revisions/{number}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["blocks"]


async def outbox_rows(db: Database) -> list[dict[str, Any]]:
    """Every outbox row, oldest first."""
    async with db.reading() as repo:
        rows = await repo.conn.execute(sa.select(outbox).order_by(outbox.c.id))
        return [{str(key): value for key, value in row._mapping.items()} for row in rows]


@functools.cache
def xliff_schema() -> lxml_etree.XMLSchema:
    """The OASIS XLIFF 2.0 core schema (tests/data), its xml.xsd import pointed at the local copy."""
    core = lxml_etree.parse(DATA / "xliff_core_2.0.xsd")
    for element in core.getroot().iter("{http://www.w3.org/2001/XMLSchema}import"):
        element.set("schemaLocation", (DATA / "xml.xsd").resolve().as_uri())
    return lxml_etree.XMLSchema(core)


def valid_xliff(content: bytes) -> bytes:
    """``content``, once lxml has parsed it and found it valid against the XLIFF 2.0 core schema."""
    schema = xliff_schema()
    assert schema.validate(lxml_etree.fromstring(content)), schema.error_log
    return content


async def export(client: Client, admin: dict[str, str], doc: int, fmt: str = "po", locale: str = "en") -> bytes:
    """Export ``locale`` of a document and return the file (an XLIFF file checked against the schema)."""
    response = await client.get(f"/v1/documents/{doc}/variants/{locale}/export?format={fmt}", headers=admin)
    assert response.status_code == 200, response.text
    return valid_xliff(response.content) if fmt == "xliff" else response.content


async def upload(
    client: Client, headers: dict[str, str], doc: int, content: bytes, media_type: str = PO_TYPE, locale: str = "en"
) -> Any:
    """POST a file to the import route."""
    return await client.post(
        f"/v1/documents/{doc}/variants/{locale}/import",
        content=content,
        headers={**headers, "Content-Type": media_type},
    )


def po_catalog(content: bytes) -> Catalog:
    """A PO file read with Babel's own reader."""
    return read_po(io.BytesIO(content))


def po_bytes(catalog: Catalog) -> bytes:
    """A catalog written back with Babel's writer (as a translator's tool would)."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, include_previous=True)
    return buffer.getvalue()


def entries(catalog: Catalog) -> dict[str, Any]:
    """Segment id (msgctxt) -> message, header left out."""
    return {message.context or "": message for message in catalog if message.id}


def translate(text: str) -> str:
    """The 'translator': prefixes the text outside markup, keeps placeholders, marks and links."""
    return "EN: " + text


def filled_po(content: bytes, edit: Callable[[str, str], str] | None = None) -> bytes:
    """Fill every entry of an exported PO file with `translate`, then let ``edit`` change some."""
    catalog = po_catalog(content)
    for segment_id, message in entries(catalog).items():
        message.string = translate(message.id)
        message.flags.discard("fuzzy")
        if edit is not None:
            message.string = edit(segment_id, message.string)
    return po_bytes(catalog)


def filled_xliff(content: bytes, edit: Callable[[ET.Element, ET.Element], None] | None = None) -> bytes:
    """Fill every target of an exported XLIFF file as a translation tool does: a copy of the source
    (its inline elements kept) with "EN: " before it, state translated; then ``edit(unit, target)`` each."""
    root = xml(content)
    for unit in root.iter(XLIFF + "unit"):
        segment = unit.find(XLIFF + "segment")
        assert segment is not None
        source = segment.find(XLIFF + "source")
        assert source is not None
        old = segment.find(XLIFF + "target")
        if old is not None:
            segment.remove(old)
        target = copy.deepcopy(source)
        target.tag = XLIFF + "target"
        target.text = translate(target.text or "")
        segment.append(target)
        segment.set("state", "translated")
        if edit is not None:
            edit(unit, target)
    filled: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return filled


def msgfmt_check(content: bytes, tmp_path: Path) -> None:
    """The file passes GNU ``msgfmt --check``."""
    msgfmt = shutil.which("msgfmt")
    assert msgfmt is not None, "msgfmt (Debian package gettext) is needed"
    path = tmp_path / "check.po"
    path.write_bytes(content)
    result = subprocess.run([msgfmt, "--check", "-o", "/dev/null", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr


def previous_ids(content: bytes) -> dict[str, str]:
    """Segment id -> previous source text, from the ``#| msgid`` lines (Babel's reader skips them)."""
    found: dict[str, str] = {}
    for entry in content.decode().split("\n\n"):
        lines = entry.split("\n")
        previous = [line.removeprefix("#| ") for line in lines if line.startswith("#| ")]
        context = [line for line in lines if line.startswith("msgctxt ")]
        if previous:
            assert previous[0].startswith("msgid ")
            previous[0] = previous[0].removeprefix("msgid ")
            found[denormalize(context[0].removeprefix("msgctxt "))] = denormalize("\n".join(previous))
    return found


def xml(content: bytes) -> ET.Element:
    """An XML document the service wrote (or a test made from one), parsed."""
    return ET.fromstring(content)  # noqa: S314 - the service's own output, in a test


def xliff_units(content: bytes) -> dict[str, ET.Element]:
    """Unit id -> <unit> of an XLIFF file."""
    root = xml(content)
    return {unit.attrib["id"]: unit for unit in root.iter(XLIFF + "unit")}


async def render(client: Client, locale: str) -> dict[str, Any]:
    """The published seed page in one locale."""
    response = await client.get(DELHI, params={"locale": locale})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["locale"] == locale
    return body


async def refused(client: Client, admin: dict[str, str], db: Database, doc: int, content: bytes, **kw: Any) -> Any:
    """Upload a file that must be refused with 422 and change nothing; return the problem."""
    before = await dump(db)
    response = await upload(client, admin, doc, content, **kw)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await dump(db) == before
    problem: dict[str, Any] = response.json()
    assert isinstance(problem["segments"], list)
    return problem


def faults(problem: dict[str, Any]) -> set[tuple[str, str]]:
    """(segment id, problem) pairs of a refusal."""
    return {(fault["id"], fault["problem"]) for fault in problem["segments"]}


# -- segments (pure) -------------------------------------------------------------------------


def test_segment_text_round_trips_spans_and_refuses_anything_else() -> None:
    blocks = msgspec.convert(
        [
            {
                "type": "paragraph",
                "id": "p",
                "content": [
                    {"type": "text", "text": "R&D <x> {y} "},
                    {"type": "text", "text": "bold ", "marks": ["strong"]},
                    {"type": "text", "text": "both", "marks": ["strong", "em"]},
                    {"type": "fact", "key": "dci.established_on", "format": "long", "link": "https://a.example/?a&b"},
                    {"type": "text", "text": " tail", "link": "https://a.example/?a&b"},
                ],
            },
            {"type": "list", "id": "l", "items": [[{"type": "text", "text": "one"}], [{"type": "text", "text": "2"}]]},
            {"type": "fragment", "id": "f", "fragment": "dci-internal-security"},
        ],
        list[Block],
    )
    segments = to_segments("Titre & co", blocks)
    assert [s.id for s in segments] == ["title", "p", "l.1", "l.2"]
    assert segments[0].text == "Titre &amp; co"
    assert segments[1].text == (
        "R&amp;D &lt;x&gt; {{y}} <strong>bold <em>both</em></strong>"
        '<a href="https://a.example/?a&amp;b">{fact:dci.established_on:long} tail</a>'
    )
    title, rebuilt = apply_segments("Titre & co", blocks, {s.id: s.text for s in segments})
    assert title == "Titre & co"
    assert msgspec.json.encode(rebuilt) == msgspec.json.encode(blocks)
    assert inline_text(parse_segment_spans(segments[1].text)) == segments[1].text

    for bad in (
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<!-- x -->",
        "<em>open",
        "close</em>",
        "<em><strong>crossed</em></strong>",
        '<a href="javascript:alert(1)">x</a>',
        "{not.a.fact}",
        "lone } brace",
    ):
        found = segment_faults("t", blocks, {"title": "t", "p": bad, "l.1": "a", "l.2": "b"})
        assert {(f.id, f.problem) for f in found} <= {("p", "markup"), ("p", "placeholder"), ("p", "link")}, bad
        assert found, bad
        with pytest.raises(SegmentMismatch):
            apply_segments("t", blocks, {"title": "t", "p": bad, "l.1": "a", "l.2": "b"})


def parse_segment_spans(text: str) -> list[Any]:
    """Segment text -> validated spans."""
    from schemas.blocks import Inline

    return msgspec.convert(parse_segment(text), Inline)


def test_changed_segments_names_only_segments_whose_text_changed() -> None:
    old = msgspec.convert(
        [
            {"type": "paragraph", "id": "a", "content": [{"type": "text", "text": "same"}]},
            {"type": "paragraph", "id": "b", "content": [{"type": "text", "text": "old"}]},
            {"type": "list", "id": "l", "items": [[{"type": "text", "text": "x"}], [{"type": "fact", "key": "k"}]]},
        ],
        list[Block],
    )
    new = msgspec.convert(
        [
            {"type": "list", "id": "l", "items": [[{"type": "text", "text": "x"}], [{"type": "fact", "key": "j"}]]},
            {"type": "paragraph", "id": "b", "content": [{"type": "text", "text": "new"}]},
            {"type": "heading", "id": "a", "content": [{"type": "text", "text": "same"}]},
            {"type": "paragraph", "id": "c", "content": [{"type": "text", "text": "added"}]},
        ],
        list[Block],
    )
    assert changed_segments("T", old, "T", new) == ["l.2", "b", "c"]
    assert changed_segments("T", old, "T2", old) == ["title"]


# -- export ----------------------------------------------------------------------------------


async def test_po_export_names_the_document_and_revision_and_passes_msgfmt(
    client: Client, admin: dict[str, str], seeded: Database, tmp_path: Path
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    response = await client.get(f"/v1/documents/{doc}/variants/en/export?format=po", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(PO_TYPE)
    assert re.fullmatch(rf'attachment; filename="{SLUG}\.fr-r1\.en\.po"', response.headers["content-disposition"]), (
        response.headers["content-disposition"]
    )
    text = response.text
    assert f"X-Liaison-Document: {doc}\\n" in text
    assert "X-Liaison-Source-Locale: fr\\n" in text
    assert "X-Liaison-Source-Revision: 1\\n" in text
    assert "X-Liaison-Target-Locale: en\\n" in text
    assert f"# X-Liaison-Document: {doc}\n" in text
    msgfmt_check(response.content, tmp_path)

    catalog = po_catalog(response.content)
    assert str(catalog.locale) == "en"
    found = entries(catalog)
    assert list(found) == ["title", "s3-h", "s3-list.1", "s3-list.2", "s3-list.3", "last-modified"]
    assert found["title"].id == "Service de sécurité intérieure"
    assert found["title"].string == "Internal Security section"
    assert found["last-modified"].id == "Dernière modification le {fact:page.last_modified:long}"
    assert found["last-modified"].string == "Last modified on {fact:page.last_modified:long}"
    assert "{fact:iss.established_year}" in found["s3-list.1"].id
    assert not any(message.fuzzy for message in found.values())

    # A locale with no translation yet exports the source with empty targets.
    fragment = await fragment_id(seeded, FRAGMENT)
    response = await client.get(f"/v1/documents/{fragment}/variants/en/export", headers=admin)
    assert response.status_code == 200
    intro = entries(po_catalog(response.content))["dci-intro"]
    assert '<a href="https://www.interieur.gouv.fr/">' in intro.id
    assert "<strong>Direction de la coopération internationale (DCI)</strong>" in intro.id


async def test_xliff_export_is_xliff_2_with_the_segment_ids(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    response = await client.get(f"/v1/documents/{doc}/variants/en/export?format=xliff", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(XLIFF_TYPE)
    assert response.headers["content-disposition"] == f'attachment; filename="{SLUG}.fr-r1.en.xlf"'
    valid_xliff(response.content)
    root = xml(response.content)
    assert root.tag == XLIFF + "xliff"
    assert (root.get("version"), root.get("srcLang"), root.get("trgLang")) == ("2.0", "fr", "en")
    file = root.find(XLIFF + "file")
    assert file is not None
    assert file.get("{urn:liaison:xliff:1}document") == str(doc)
    assert file.get("{urn:liaison:xliff:1}sourceRevision") == "1"
    units = xliff_units(response.content)
    po_ids = list(entries(po_catalog(await export(client, admin, doc))))
    assert list(units) == po_ids
    # lxml, as translators' tools use it, reads the same units.
    parsed = lxml_etree.fromstring(response.content)
    assert parsed.xpath("//x:unit/@id", namespaces={"x": XLIFF.strip("{}")}) == po_ids
    assert file.get(LIAISON + "inline") == "codes"

    # A fact placeholder is a <ph> the translator may move, not copy or delete; its code is original data.
    unit = units["last-modified"]
    segment = unit.find(XLIFF + "segment")
    assert segment is not None
    assert segment.get("state") == "translated"
    data = {entry.get("id"): entry.text for entry in unit.iter(XLIFF + "data")}
    source, target = segment.find(XLIFF + "source"), segment.find(XLIFF + "target")
    assert source is not None
    assert target is not None
    assert (source.text, target.text) == ("Dernière modification le ", "Last modified on ")
    [placeholder] = list(source)
    [translated] = list(target)
    assert placeholder.tag == translated.tag == XLIFF + "ph"
    assert placeholder.attrib == translated.attrib
    assert placeholder.attrib == {
        "id": "1",
        "dataRef": placeholder.attrib["dataRef"],
        "type": "other",
        "subType": "liaison:fact",
        "canCopy": "no",
        "canDelete": "no",
        "disp": "{fact:page.last_modified:long}",
    }
    assert data[placeholder.attrib["dataRef"]] == "{fact:page.last_modified:long}"

    # A mark or a link is a <pc> around its words; the link target is original data, not translatable text.
    fragment = await fragment_id(seeded, FRAGMENT)
    unit = xliff_units(await export(client, admin, fragment, "xliff"))["dci-intro"]
    data = {entry.get("id"): entry.text for entry in unit.iter(XLIFF + "data")}
    source = unit.find(f"{XLIFF}segment/{XLIFF}source")
    assert source is not None
    assert "<" not in "".join(source.itertext())
    assert "{fact:" not in "".join(source.itertext())
    strong = next(pc for pc in source.iter(XLIFF + "pc") if pc.get("subType") == "xlf:b")
    assert (strong.get("type"), strong.text) == ("fmt", "Direction de la coopération internationale (DCI)")
    assert (data[strong.attrib["dataRefStart"]], data[strong.attrib["dataRefEnd"]]) == ("<strong>", "</strong>")
    link = next(pc for pc in source.iter(XLIFF + "pc") if pc.get("type") == "link")
    assert link.get("canDelete") == "no"
    assert data[link.attrib["dataRefStart"]] == '<a href="https://www.interieur.gouv.fr/">'
    assert data[link.attrib["dataRefEnd"]] == "</a>"
    assert [ph.get("disp") for ph in source.iter(XLIFF + "ph")] == ["{fact:dci.established_on:long}"]


async def test_export_needs_a_token_and_a_translation_locale(
    client: Client, admin: dict[str, str], seeded: Database, make_token: Any
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    assert (await client.get(f"/v1/documents/{doc}/variants/en/export")).status_code == 401
    reader = await make_token("reader", sites=["np-kathmandu"], name="elsewhere")
    assert (await client.get(f"/v1/documents/{doc}/variants/en/export", headers=reader)).status_code == 404
    response = await client.get(f"/v1/documents/{doc}/variants/fr/export", headers=admin)
    assert response.status_code == 422
    assert (await client.get(f"/v1/documents/{doc}/variants/en/export?format=doc", headers=admin)).status_code == 400
    assert (await client.get(f"/v1/documents/{doc}/variants/de/export", headers=admin)).status_code == 422


# -- the round trip ------------------------------------------------------------------------


async def test_po_round_trip_of_the_seed_page_keeps_its_facts(
    client: Client, admin: dict[str, str], seeded: Database, tmp_path: Path
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    source = await render(client, "fr")
    filled = filled_po(await export(client, admin, doc))
    msgfmt_check(filled, tmp_path)

    response = await upload(client, admin, doc, filled)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["etag"] == '"r2"'
    assert (created["locale"], created["number"], created["base_revision"], created["source_revision"]) == (
        "en",
        2,
        1,
        1,
    )
    assert created["title"] == "EN: Service de sécurité intérieure"
    fr_blocks = await source_blocks(client, admin, doc, "fr", 1)
    assert [b.get("id") for b in created["blocks"]] == [b.get("id") for b in fr_blocks]
    assert created["blocks"][0] == fr_blocks[0], "the fragment include is kept as it is"

    await publish(client, admin, doc, "en", 2)
    translated = await render(client, "en")
    assert translated["revision"] == 2
    assert translated["facts"] == source["facts"]
    assert translated["fragments"] == source["fragments"]
    assert translated["title"] == "EN: Service de sécurité intérieure"
    assert "EN: Dernière modification le " in translated["html"]
    assert "July 30, 2018" in translated["html"], "facts are formatted for the translation's locale"


async def test_xliff_round_trip_and_the_unchanged_export_imports_as_is(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    content = filled_xliff(await export(client, admin, doc, "xliff"))
    valid_xliff(content)
    response = await upload(client, admin, doc, content, media_type=XLIFF_TYPE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["number"], created["base_revision"], created["source_revision"]) == (2, 1, 1)
    assert created["title"] == "EN: Service de sécurité intérieure"
    await publish(client, admin, doc, "en", 2)
    rendered = await render(client, "en")
    assert rendered["facts"] == (await render(client, "fr"))["facts"]
    assert "EN: Dernière modification le " in rendered["html"]

    # The export of that translation gives its text back, inline elements and all.
    again = xliff_units(await export(client, admin, doc, "xliff"))
    target = again["last-modified"].find(f"{XLIFF}segment/{XLIFF}target")
    assert target is not None
    assert target.text == "EN: Dernière modification le "
    assert [element.tag for element in target] == [XLIFF + "ph"]

    # ?format= wins over a Content-Type that says nothing.
    response = await client.post(
        f"/v1/documents/{doc}/variants/en/import?format=xliff",
        content=content,
        headers={**admin, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["number"] == 2, "the same translation again: nothing new"


async def test_import_needs_a_translator_of_that_locale(
    client: Client, admin: dict[str, str], seeded: Database, make_token: Any
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    content = filled_po(await export(client, admin, doc))
    reader = await make_token("reader", name="reader")
    french = await make_token("translator", locales=["fr"], name="fr translator")
    english = await make_token("translator", sites=["in-new-delhi"], locales=["en"], name="en translator")
    before = await dump(seeded)
    assert (await upload(client, {}, doc, content)).status_code == 401
    assert (await upload(client, reader, doc, content)).status_code == 403
    assert (await upload(client, french, doc, content)).status_code == 403
    assert await dump(seeded) == before
    response = await upload(client, english, doc, content)
    assert response.status_code == 201, response.text
    assert response.json()["author"] == "en translator"


# -- refusals ------------------------------------------------------------------------------


def _replace(segment: str, old: str, new: str) -> Callable[[str, str], str]:
    def edit(segment_id: str, text: str) -> str:
        if segment_id != segment:
            return text
        assert old in text, (old, text)
        return text.replace(old, new)

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            _replace("s3-list.1", "{fact:iss.established_year}", "2001"),
            {("s3-list.1", "placeholder")},
            id="dropped-placeholder",
        ),
        pytest.param(
            _replace("s3-h", "New Delhi", "New Delhi ({fact:network.staff_count})"),
            {("s3-h", "placeholder")},
            id="added-placeholder",
        ),
        pytest.param(
            _replace("last-modified", "{fact:page.last_modified:long}", "{fact:page.last_modified:short}"),
            {("last-modified", "placeholder")},
            id="changed-placeholder-format",
        ),
        pytest.param(
            _replace("s3-list.1", "{fact:network.embassy_count}", "{fact:network.country_count}"),
            {("s3-list.1", "placeholder")},
            id="changed-placeholder-key",
        ),
        pytest.param(
            _replace("s3-list.2", "Delhi", "Delhi <script>alert(1)</script>"),
            {("s3-list.2", "markup")},
            id="raw-html",
        ),
        pytest.param(
            _replace("s3-list.2", "Delhi", '<a href="https://evil.example/">Delhi</a>'),
            {("s3-list.2", "link")},
            id="added-link",
        ),
        pytest.param(_replace("title", "EN: ", "<em>EN</em>: "), {("title", "markup")}, id="markup-in-title"),
        pytest.param(_replace("s3-h", "EN: ", "EN: {oops} "), {("s3-h", "markup")}, id="lone-brace"),
        pytest.param(
            lambda segment_id, text: "" if segment_id in ("s3-h", "s3-list.3") else text,
            {("s3-h", "untranslated"), ("s3-list.3", "untranslated")},
            id="untranslated",
        ),
    ],
)
async def test_import_refuses_a_translation_that_breaks_a_segment(
    client: Client,
    admin: dict[str, str],
    seeded: Database,
    edit: Callable[[str, str], str],
    expected: set[tuple[str, str]],
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    problem = await refused(client, admin, seeded, doc, filled_po(await export(client, admin, doc), edit))
    assert problem["type"] == "urn:liaison:problem:segment-mismatch"
    assert faults(problem) == expected
    for segment_id, _ in expected:
        assert segment_id in problem["detail"]


async def test_import_refuses_missing_unknown_fuzzy_and_duplicate_segments(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    exported = await export(client, admin, doc)

    catalog = po_catalog(filled_po(exported))
    catalog.delete(entries(catalog)["s3-list.2"].id, context="s3-list.2")
    catalog.add("Texte", "Text", context="s9-extra")
    problem = await refused(client, admin, seeded, doc, po_bytes(catalog))
    assert faults(problem) == {("s3-list.2", "missing"), ("s9-extra", "unknown")}

    catalog = po_catalog(filled_po(exported))
    entries(catalog)["s3-h"].flags.add("fuzzy")
    problem = await refused(client, admin, seeded, doc, po_bytes(catalog))
    assert faults(problem) == {("s3-h", "needs-review")}

    content = await export(client, admin, doc, "xliff")
    root = xml(content)
    file = root.find(XLIFF + "file")
    assert file is not None
    units = list(file.iter(XLIFF + "unit"))
    file.remove(units[2])
    units[1].set("id", "nowhere")
    problem = await refused(
        client, admin, seeded, doc, ET.tostring(root, encoding="utf-8", xml_declaration=True), media_type=XLIFF_TYPE
    )
    assert faults(problem) == {("s3-h", "missing"), ("s3-list.1", "missing"), ("nowhere", "unknown")}


def _intro(change: Callable[[ET.Element, ET.Element, dict[str, ET.Element]], None]) -> Callable[..., None]:
    """An edit of the dci-intro unit's target: ``change(unit, target, data)`` (data: id -> <data>)."""

    def edit(unit: ET.Element, target: ET.Element) -> None:
        if unit.attrib["id"] == "dci-intro":
            change(unit, target, {entry.attrib["id"]: entry for entry in unit.iter(XLIFF + "data")})

    return edit


def _link(target: ET.Element) -> ET.Element:
    return next(pc for pc in target.iter(XLIFF + "pc") if pc.get("type") == "link")


def _fact(target: ET.Element) -> ET.Element:
    return next(target.iter(XLIFF + "ph"))


def _relink(unit: ET.Element, target: ET.Element, data: dict[str, ET.Element]) -> None:
    original = unit.find(XLIFF + "originalData")
    assert original is not None
    ET.SubElement(original, XLIFF + "data", {"id": "elsewhere"}).text = '<a href="https://www.interieur.example/">'
    _link(target).set("dataRefStart", "elsewhere")


def _drop_fact(unit: ET.Element, target: ET.Element, data: dict[str, ET.Element]) -> None:
    for parent in target.iter():
        for child in list(parent):
            if child.tag == XLIFF + "ph":
                parent.text = (parent.text or "") + (child.tail or "")
                parent.remove(child)


def _copy_fact(unit: ET.Element, target: ET.Element, data: dict[str, ET.Element]) -> None:
    target.append(copy.deepcopy(_fact(target)))


def _edit_shared_data(unit: ET.Element, target: ET.Element, data: dict[str, ET.Element]) -> None:
    data[_link(target).attrib["dataRefStart"]].text = '<a href="https://www.interieur.example/">'


@pytest.mark.parametrize(
    ("change", "expected", "detail"),
    [
        pytest.param(_relink, "link", "https://www.interieur.example/", id="changed-link-target"),
        pytest.param(_drop_fact, "placeholder", "missing {fact:dci.established_on:long}", id="dropped-ph"),
        pytest.param(_copy_fact, "placeholder", "not in the source: {fact:dci.established_on:long}", id="copied-ph"),
        pytest.param(
            lambda unit, target, data: _fact(target).set("dataRef", "nowhere"),
            "invalid",
            "dataRef='nowhere' names no <data> of the unit",
            id="ph-without-data",
        ),
        pytest.param(
            lambda unit, target, data: _link(target).set("dataRefStart", _fact(target).attrib["dataRef"]),
            "invalid",
            "is not a mark's or a link's start",
            id="pc-naming-a-fact",
        ),
        pytest.param(
            lambda unit, target, data: _link(target).attrib.pop("dataRefEnd"),
            "invalid",
            "has no dataRefEnd",
            id="pc-without-end",
        ),
        pytest.param(
            lambda unit, target, data: ET.SubElement(target, XLIFF + "sc", {"id": "9"}),
            "invalid",
            "<sc> is not read",
            id="spanning-code",
        ),
        pytest.param(
            lambda unit, target, data: ET.SubElement(target, XLIFF + "cp", {"hex": "110000"}),
            "invalid",
            "is not a code point",
            id="bad-code-point",
        ),
        pytest.param(_edit_shared_data, "source-changed", "export again", id="edited-original-data"),
    ],
)
async def test_xliff_import_keeps_the_checks_on_inline_elements(
    client: Client,
    admin: dict[str, str],
    seeded: Database,
    change: Callable[[ET.Element, ET.Element, dict[str, ET.Element]], None],
    expected: str,
    detail: str,
) -> None:
    fragment = await fragment_id(seeded, FRAGMENT)
    content = await export(client, admin, fragment, "xliff")
    problem = await refused(
        client, admin, seeded, fragment, filled_xliff(content, _intro(change)), media_type=XLIFF_TYPE
    )
    assert faults(problem) == {("dci-intro", expected)}
    assert detail in problem["segments"][0]["detail"]

    response = await upload(client, admin, fragment, filled_xliff(content), media_type=XLIFF_TYPE)
    assert response.status_code == 201, response.text
    intro = next(block for block in response.json()["blocks"] if block["id"] == "dci-intro")
    assert ("Direction de la coopération internationale (DCI)", ["strong"]) in [
        (span.get("text"), span["marks"]) for span in intro["content"]
    ]
    assert any(span.get("link") == "https://www.interieur.gouv.fr/" for span in intro["content"])


async def test_an_xliff_file_exported_before_the_inline_elements_still_imports(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    """Files written by the previous version held segment text as text (markup escaped, no liaison:inline)."""
    fragment = await fragment_id(seeded, FRAGMENT)
    root = ET.Element(XLIFF + "xliff", {"version": "2.0", "srcLang": "fr", "trgLang": "en"})
    file = ET.SubElement(
        root,
        XLIFF + "file",
        {"id": f"document-{fragment}", LIAISON + "document": str(fragment), LIAISON + "sourceRevision": "1"},
    )
    for segment_id, message in entries(po_catalog(await export(client, admin, fragment))).items():
        segment = ET.SubElement(ET.SubElement(file, XLIFF + "unit", {"id": segment_id}), XLIFF + "segment")
        ET.SubElement(segment, XLIFF + "source").text = message.id
        ET.SubElement(segment, XLIFF + "target").text = translate(message.id)
        segment.set("state", "translated")
    old = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    assert b"&lt;strong&gt;" in old
    assert b"{fact:dci.established_on:long}" in old
    response = await upload(client, admin, fragment, old, media_type=XLIFF_TYPE)
    assert response.status_code == 201, response.text
    intro = next(block for block in response.json()["blocks"] if block["id"] == "dci-intro")
    assert ("Direction de la coopération internationale (DCI)", ["strong"]) in [
        (span.get("text"), span["marks"]) for span in intro["content"]
    ]


async def test_import_refuses_a_file_for_another_document_or_revision(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    other = await page_id(seeded, "np-kathmandu", SLUG)
    content = filled_po(await export(client, admin, doc))

    problem = await refused(client, admin, seeded, other, content)
    assert problem["type"] == "urn:liaison:problem:invalid-translation-file"
    assert problem["segments"] == []
    assert any(f"for document {doc}, not document {other}" in reason for reason in problem["reasons"])

    def with_field(name: str, value: str) -> bytes:
        catalog = po_catalog(content)
        catalog.header_comment = re.sub(rf"(# {name}: ).*", rf"\g<1>{value}", catalog.header_comment)
        return po_bytes(catalog)

    problem = await refused(client, admin, seeded, doc, with_field("X-Liaison-Document", str(other)))
    assert problem["type"] == "urn:liaison:problem:invalid-translation-file"
    problem = await refused(client, admin, seeded, doc, with_field("X-Liaison-Source-Revision", "2"))
    assert problem["reasons"] == ["the fr source has no revision 2"]
    problem = await refused(client, admin, seeded, doc, with_field("X-Liaison-Target-Locale", "fr"))
    assert problem["reasons"] == ["the file's target locale is fr, not en"]
    problem = await refused(client, admin, seeded, doc, with_field("X-Liaison-Source-Revision", "²"))
    assert problem["reasons"] == ["the file names no source revision (found '²')"]

    # A second source revision exists: a file that claims it but carries revision 1's texts is refused.
    fr = await source_blocks(client, admin, doc, "fr", 1)
    edited = [
        {**block, "content": [{"type": "text", "text": "Un autre titre"}]} if block.get("id") == "s3-h" else block
        for block in fr
    ]
    await write(
        client, admin, doc, "fr", {"title": "Service de sécurité intérieure", "blocks": edited, "base_revision": 1}
    )
    problem = await refused(client, admin, seeded, doc, with_field("X-Liaison-Source-Revision", "2"))
    assert faults(problem) == {("s3-h", "source-changed")}

    # A file for revision 1 is still accepted; once en translates revision 2, it is refused as older.
    response = await upload(client, admin, doc, filled_po(await export(client, admin, doc)))
    assert response.status_code == 201, response.text
    assert response.json()["source_revision"] == 2
    problem = await refused(client, admin, seeded, doc, content)
    assert problem["reasons"] == [
        "the en translation already translates fr revision 2; this file is for the older revision 1: export again"
    ]

    # Importing into the source locale makes no sense.
    problem = await refused(client, admin, seeded, doc, content, locale="fr")
    assert problem["type"] == "urn:liaison:problem:invalid-content"


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        pytest.param(b"", PO_TYPE, id="empty"),
        pytest.param(b"\xff\xfe\x00garbage\x00", PO_TYPE, id="binary-po"),
        pytest.param(b'msgid "unterminated\nmsgstr "x"\n', PO_TYPE, id="broken-po"),
        pytest.param(b"just some words\n", PO_TYPE, id="not-po"),
        pytest.param(b"<xliff version='2.0'><file", XLIFF_TYPE, id="broken-xml"),
        pytest.param(b"<html><body>hello</body></html>", XLIFF_TYPE, id="not-xliff"),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b'<xliff xmlns="urn:oasis:names:tc:xliff:document:2.0" version="2.0"><file id="f">&a;</file></xliff>',
            XLIFF_TYPE,
            id="dtd",
        ),
        pytest.param(
            b'<xliff xmlns="urn:oasis:names:tc:xliff:document:1.2" version="1.2"><file/></xliff>',
            XLIFF_TYPE,
            id="xliff-1.2",
        ),
        pytest.param(b"\x00\x01\x02", "application/octet-stream", id="sniffed"),
    ],
)
async def test_import_refuses_a_malformed_file(
    client: Client, admin: dict[str, str], seeded: Database, content: bytes, media_type: str
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    problem = await refused(client, admin, seeded, doc, content, media_type=media_type)
    assert problem["type"] == "urn:liaison:problem:invalid-translation-file"
    assert problem["detail"].startswith("the file cannot be imported")


# -- drift ---------------------------------------------------------------------------------


async def test_after_two_source_paragraphs_change_exactly_those_are_fuzzy_and_listed(
    client: Client, admin: dict[str, str], seeded: Database, tmp_path: Path
) -> None:
    fragment = await fragment_id(seeded, FRAGMENT)
    old = await source_blocks(client, admin, fragment, "fr", 1)
    old_text = {b["id"]: b["content"][0]["text"] for b in old if b["id"] in ("dci-network", "dci-mission")}
    edited = [
        {**block, "content": [{"type": "text", "text": old_text[block["id"]] + " (modifié)"}]}
        if block.get("id") in old_text
        else block
        for block in old
    ]
    title = (await client.get(f"/v1/documents/{fragment}/variants/fr/revisions/1", headers=admin)).json()["title"]
    await write(client, admin, fragment, "fr", {"title": title, "blocks": edited, "base_revision": 1})

    po = await export(client, admin, fragment)
    msgfmt_check(po, tmp_path)
    found = entries(po_catalog(po))
    fuzzy = {segment_id for segment_id, message in found.items() if message.fuzzy}
    assert fuzzy == {"dci-network", "dci-mission"}
    previous = previous_ids(po)
    assert previous == {segment_id: old_text[segment_id] for segment_id in fuzzy}
    for segment_id in fuzzy:
        assert found[segment_id].id == old_text[segment_id] + " (modifié)"
        assert found[segment_id].string, "the old translation is kept, for review"
    assert all(message.string for message in found.values())

    units = xliff_units(await export(client, admin, fragment, "xliff"))
    initial = {key for key, unit in units.items() if unit.find(XLIFF + "segment").get("state") == "initial"}  # type: ignore[union-attr]
    assert initial == {"dci-network", "dci-mission"}
    note = units["dci-network"].find(f"{XLIFF}notes/{XLIFF}note[@category='previous-source']")
    assert note is not None
    assert note.text == old_text["dci-network"]

    status = await client.get(f"/v1/documents/{fragment}/translations", headers=admin)
    assert status.status_code == 200, status.text
    en = next(item for item in status.json()["locales"] if item["locale"] == "en")
    assert en["status"] == "outdated"
    assert en["changed_segments"] == ["dci-network", "dci-mission"]
    fr = next(item for item in status.json()["locales"] if item["locale"] == "fr")
    assert fr["changed_segments"] == []

    # The fuzzy file is refused as it is; reviewed (fuzzy removed), it imports and is up to date.
    problem = await refused(client, admin, seeded, fragment, po)
    assert faults(problem) == {("dci-network", "needs-review"), ("dci-mission", "needs-review")}
    catalog = po_catalog(po)
    for message in entries(catalog).values():
        message.flags.discard("fuzzy")
    response = await upload(client, admin, fragment, po_bytes(catalog))
    assert response.status_code == 201, response.text
    status = await client.get(f"/v1/documents/{fragment}/translations", headers=admin)
    en = next(item for item in status.json()["locales"] if item["locale"] == "en")
    assert (en["status"], en["changed_segments"]) == ("up_to_date", [])


# -- translation-outdated events -----------------------------------------------------------------


async def test_publishing_a_changed_source_writes_a_translation_outdated_row(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    known = len(await outbox_rows(seeded))
    await publish(client, admin, doc, "fr", 1)  # the text en translates: not outdated
    assert [r for r in (await outbox_rows(seeded))[known:] if r["kind"] == "translation_outdated"] == []

    response = await client.put(
        "/v1/facts/global/network.embassy_count",
        json={"value": {"type": "integer", "value": 79}, "base_version": 1},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert not any(r["kind"] == "translation_outdated" for r in await outbox_rows(seeded))

    fr = await source_blocks(client, admin, doc, "fr", 1)
    edited = [
        {**block, "content": [{"type": "text", "text": "Dernière mise à jour le "}, block["content"][1]]}
        if block.get("id") == "last-modified"
        else block
        for block in fr
    ]
    await write(
        client, admin, doc, "fr", {"title": "Service de sécurité intérieure", "blocks": edited, "base_revision": 1}
    )
    known = len(await outbox_rows(seeded))
    await publish(client, admin, doc, "fr", 2)
    rows = (await outbox_rows(seeded))[known:]
    outdated = [r for r in rows if r["kind"] == "translation_outdated"]
    assert [(r["site"], r["slug"], r["locale"], r["reason"], r["revision"]) for r in outdated] == [
        ("in-new-delhi", SLUG, "en", "publish", 1)
    ]
    assert "en translates fr revision 1" in outdated[0]["cause"]
    assert {r["kind"] for r in rows} == {"published", "rerendered", "translation_outdated"}

    # Its event is a page event old consumers decode (the agent just fetches the page again).
    row = msgspec.convert({**outdated[0], "sequence": 7}, OutboxRow)
    event = event_of(row, "http://liaison.test")
    assert event.type == EVENT_TYPES["translation_outdated"] == "org.liaison.translation.outdated"
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=PageEvent)
    assert (decoded.data.locale, decoded.data.reason, decoded.data.revision) == ("en", "publish", 1)

    # The status lists the changed segment.
    status = await client.get(f"/v1/documents/{doc}/translations", headers=admin)
    en = next(item for item in status.json()["locales"] if item["locale"] == "en")
    assert en["changed_segments"] == ["last-modified"]


# -- the command line -------------------------------------------------------------------------


def test_cli_export_and_import(seeded: Database, database_url: str, tmp_path: Path) -> None:
    import asyncio

    async def document() -> int:
        database = Database.from_url(database_url)
        try:
            return await page_id(database, "in-new-delhi", SLUG)
        finally:
            await database.close()

    doc = asyncio.run(document())
    runner = CliRunner()
    env = {"LIAISON_DATABASE_URL": database_url}
    out = tmp_path / "page.en.po"
    result = runner.invoke(
        main, ["export", "--document", str(doc), "--locale", "en", "--format", "po", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "6 segments, 0 to review" in result.output
    result = runner.invoke(main, ["export", "--document", str(doc), "--locale", "en", "--format", "xliff"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"<?xml")

    bad = tmp_path / "bad.po"
    bad.write_bytes(filled_po(out.read_bytes(), _replace("s3-list.1", "{fact:iss.established_year}", "2001")))
    result = runner.invoke(main, ["import", "--document", str(doc), "--locale", "en", str(bad)], env=env)
    assert result.exit_code == 1
    assert "s3-list.1: placeholder" in result.output

    good = tmp_path / "good.po"
    good.write_bytes(filled_po(out.read_bytes()))
    result = runner.invoke(
        main, ["import", "--document", str(doc), "--locale", "en", "--message", "x" * 1001, str(good)], env=env
    )
    assert result.exit_code == 1
    assert "message: Expected `str` of length <= 1000" in result.output
    result = runner.invoke(
        main, ["import", "--document", str(doc), "--locale", "en", "--message", "Relu", str(good)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "revision 2 (translates source revision 1)" in result.output


async def test_openapi_documents_the_routes(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    export_path = "/v1/documents/{document_id}/variants/{locale}/export"
    import_path = "/v1/documents/{document_id}/variants/{locale}/import"
    assert "get" in paths[export_path]
    body = paths[import_path]["post"]["requestBody"]["content"]
    assert set(body) == {PO_TYPE, XLIFF_TYPE}


# -- unchanged imports ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["po", "xliff"])
async def test_importing_an_unchanged_export_writes_nothing_and_answers_the_head(
    client: Client, admin: dict[str, str], seeded: Database, fmt: str
) -> None:
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    head = (await client.get(f"/v1/documents/{doc}/variants/en/revisions/1", headers=admin)).json()
    content = await export(client, admin, doc, fmt)
    before = await dump(seeded)
    response = await upload(client, admin, doc, content, media_type=PO_TYPE if fmt == "po" else XLIFF_TYPE)
    assert response.status_code == 200, response.text
    assert response.json() == head
    assert response.headers["etag"] == '"r1"'
    assert await dump(seeded) == before, "no revision, no outbox row"


def test_cli_import_of_an_unchanged_file_says_so(seeded: Database, database_url: str, tmp_path: Path) -> None:
    import asyncio

    async def document() -> int:
        database = Database.from_url(database_url)
        try:
            return await page_id(database, "in-new-delhi", SLUG)
        finally:
            await database.close()

    doc = asyncio.run(document())
    runner = CliRunner()
    env = {"LIAISON_DATABASE_URL": database_url}
    out = tmp_path / "page.en.xlf"
    arguments = ["--document", str(doc), "--locale", "en"]
    result = runner.invoke(export_command, [*arguments, "--format", "xliff", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(import_command, [*arguments, str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "unchanged, revision 1 already holds this translation (nothing written)" in result.output


# -- whatever the stored text holds ------------------------------------------------------------


async def test_exports_are_well_formed_whatever_the_stored_text_holds(
    client: Client, admin: dict[str, str], seeded: Database, database_url: str, tmp_path: Path
) -> None:
    """Characters XML refuses, written into the database behind the API's checks, still export well-formed."""
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    # PostgreSQL text cannot hold U+0000; every other character can be stored.
    hostile = NOT_IN_XML if database_url.startswith("sqlite") else NOT_IN_XML.replace("\x00", "")
    title = f"Titre {hostile} fin"
    blocks = [
        # The repository checks blocks on reading (the input rules of text and links); titles it does not.
        {"type": "paragraph", "id": "p", "content": [{"type": "text", "text": "a\u202eb <&> {}"}]},
        {
            "type": "paragraph",
            "id": "q",
            "content": [
                {"type": "text", "text": "lien", "marks": ["strong"], "link": "https://e.example/?a&b"},
                {"type": "fact", "key": "network.embassy_count"},
            ],
        },
    ]
    async with seeded.transaction() as repo:
        ids = sa.select(variants.c.id).where(variants.c.document_id == doc)
        await repo.conn.execute(
            sa.update(revisions).where(revisions.c.variant_id.in_(ids)).values(title=title, blocks=blocks)
        )

    po = await export(client, admin, doc, "po")
    msgfmt_check(po, tmp_path)
    assert {entry.context: entry.id for entry in po_catalog(po) if entry.id}["title"] == (
        "Titre " + "".join(f"&#x{ord(character):X};" for character in hostile) + " fin"
    )
    xliff = await export(client, admin, doc, "xliff")  # parsed by lxml and valid against the schema
    units = xliff_units(xliff)
    source = units["title"].find(f"{XLIFF}segment/{XLIFF}source")
    assert source is not None
    assert [element.get("hex") for element in source] == [f"{ord(character):04X}" for character in hostile]

    # Both read back as the same text (a title holding controls is refused as a translation: the API refuses them).
    for parse, content in ((translation_files.parse_po, po), (translation_files.parse_xliff, xliff)):
        parsed = parse(content)
        texts = {entry.id: entry.source for entry in parsed.entries}
        assert texts == {entry.id: entry.target for entry in parsed.entries}
        assert texts == {entry.context: entry.id for entry in po_catalog(po) if entry.id}


async def test_a_translation_file_holding_a_noncharacter_is_refused_and_writes_nothing(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    """A file may carry U+FFFE as a reference (well-formed), but text refuses it, as the API does."""
    doc = await page_id(seeded, "in-new-delhi", SLUG)
    before = await dump(seeded)
    for fmt, media_type in (("po", PO_TYPE), ("xliff", XLIFF_TYPE)):
        content = await export(client, admin, doc, fmt)
        if fmt == "po":
            filled = filled_po(content, lambda segment_id, text: text + "&#xFFFE;" if segment_id == "title" else text)
        else:

            def noncharacter_in_title(unit: ET.Element, target: ET.Element) -> None:
                if unit.get("id") == "title":
                    ET.SubElement(target, XLIFF + "cp", hex="FFFE")

            filled = filled_xliff(content, noncharacter_in_title)
        response = await upload(client, admin, doc, filled, media_type=media_type)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"] == "urn:liaison:problem:segment-mismatch"
        assert [(fault["id"], fault["problem"]) for fault in problem["segments"]] == [("title", "invalid")]
    assert await dump(seeded) == before


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DOCUMENT = Document(1, "page", 1, "in-new-delhi", "visas", None, "fr", NOW)
ANY_TEXT = st.text(
    st.one_of(
        st.sampled_from(NOT_IN_XML + "\ud800\udfff\r\n\t\x7f\x85\u2028<>&{}\"'#;"),
        st.characters(exclude_categories=()),
    ),
    min_size=1,
    max_size=12,
)
LINKS = st.sampled_from([None, "https://a.example/?a&b", "mailto:x@example.org", "https://e.example/\x00\ufffe'"])
SPANS = st.lists(
    st.one_of(
        st.builds(TextSpan, ANY_TEXT, st.sampled_from([(), ("strong",), ("em", "strong")]), LINKS),
        st.builds(FactSpan, st.sampled_from(["k", "a.b-c"]), st.sampled_from([None, "long"]), st.just(()), LINKS),
    ),
    min_size=1,
    max_size=5,
)


@given(title=ANY_TEXT, contents=st.lists(SPANS, min_size=1, max_size=3))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(title="\x00\ud800\ufffe", contents=[[TextSpan("\x0b\uffff", ("strong",), "https://e.example/\x01")]])
def test_every_export_is_well_formed_and_reads_back_its_text(title: str, contents: list[list[Any]]) -> None:
    blocks: list[Block] = [Paragraph(content=spans, id=f"p{number}") for number, spans in enumerate(contents)]
    source = Revision(1, 1, 1, title, blocks, "test", "", NOW, None, None)
    translation = Revision(2, 2, 1, title, blocks, "test", "", NOW, None, 1)
    data = translation_files.export_data(DOCUMENT, source, "en", translation, source)
    texts = {segment.id: segment.text for segment in to_segments(title, blocks)}

    xliff = valid_xliff(translation_files.render_xliff(data))
    po = translation_files.render_po(data)
    for parsed in (translation_files.parse_xliff(xliff), translation_files.parse_po(po)):
        assert [(entry.id, entry.source, entry.target) for entry in parsed.entries] == [
            (segment_id, text, text) for segment_id, text in texts.items()
        ]
        assert not any(entry.fault or entry.needs_review for entry in parsed.entries)
    assert not NOT_IN_XML_PATTERN.search("".join(texts.values())), "segment text never holds them raw"


async def test_openapi_says_a_repeated_write_answers_200(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in (
        "/v1/documents/{document_id}/variants/{locale}/import",
        "/v1/documents/{document_id}/variants/{locale}/revisions",
        "/v1/documents/{document_id}/variants/{locale}/revert",
    ):
        responses = paths[path]["post"]["responses"]
        assert {"200", "201"} <= set(responses), path
        assert "Unchanged" in responses["200"]["description"]
