"""The demo content: the New Delhi page in fr and en, its shared fragment and its facts."""

from __future__ import annotations

import json
import re

import msgspec
import sqlalchemy as sa

from schemas.blocks import Block, TextSpan
from services.content.demo.loader import DEMO_FILE, DemoContent, load_demo
from services.content.domain.content import block_inlines, references
from services.content.storage.database import Database
from services.content.storage.tables import metadata
from tests.conftest import dump


async def test_seed_loads_twice_without_duplicates(db: Database) -> None:
    first = await load_demo(db)
    assert first.sites == 2
    assert first.revisions >= 6
    after_first = await dump(db)
    second = await load_demo(db)
    assert (second.sites, second.facts, second.documents, second.revisions) == (0, 0, 0, 0)
    assert await dump(db) == after_first
    async with db.reading() as repo:
        for table in metadata.sorted_tables:
            count = (await repo.conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            assert count == len(after_first[table.name])


def test_every_number_date_and_country_list_is_a_fact() -> None:
    content = msgspec.json.decode(DEMO_FILE.read_bytes(), type=DemoContent)
    variants = [d.variants for d in content.fragments] + [d.variants for d in content.pages]
    for by_locale in variants:
        for locale, variant in by_locale.items():
            for block in variant.blocks:
                for _, spans in block_inlines(block):
                    for span in spans:
                        if isinstance(span, TextSpan):
                            assert not re.search(r"\d", span.text), (locale, span.text)


def test_sections_one_and_two_are_a_fragment_shared_by_two_sites() -> None:
    content = msgspec.json.decode(DEMO_FILE.read_bytes(), type=DemoContent)
    fragment_keys = {f.key for f in content.fragments}
    including_sites = {
        page.site
        for page in content.pages
        for variant in page.variants.values()
        if set(references(variant.blocks).fragments) & fragment_keys
    }
    assert {"in-new-delhi"} < including_sites
    delhi = next(p for p in content.pages if p.site == "in-new-delhi")
    fact_keys = set(references(delhi.variants["en"].blocks).facts)
    assert {"iss.established_year", "iss.jurisdiction", "page.last_modified"} <= fact_keys
    fragment_facts = set(references(content.fragments[0].variants["en"].blocks).facts)
    assert {"dci.established_on", "network.embassy_count", "network.staff_count", "network.country_count"} <= (
        fragment_facts
    )
    facts = {(f.scope, f.key): msgspec.to_builtins(f.value) for f in content.facts}
    assert facts[("global", "network.embassy_count")] == {"type": "integer", "value": 78}
    assert facts[("in-new-delhi", "iss.jurisdiction")] == {"type": "territories", "value": ["IN", "NP", "LK", "MV"]}
    assert facts[("global", "dci.established_on")] == {"type": "date", "value": "2010-09-01"}


def test_fr_and_en_are_translations_block_for_block() -> None:
    raw = json.loads(DEMO_FILE.read_text())
    for document in raw["fragments"] + raw["pages"]:
        shapes = {
            locale: [
                (b["id"], b["type"], sorted(references([msgspec.convert(b, Block)]).facts)) for b in variant["blocks"]
            ]
            for locale, variant in document["variants"].items()
        }
        assert shapes["fr"] == shapes["en"]
