"""Load the demo content through the same use cases the API uses, idempotently."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import msgspec

from schemas.blocks import Blocks
from schemas.documents import DocumentCreate, PublishRequest, RevisionCreate
from schemas.facts import FactCreate
from schemas.sites import SiteCreate
from services.content.domain.access import Principal
from services.content.domain.model import Document
from services.content.storage.database import Database
from services.content.usecases import documents, facts, revisions, sites

DEMO_FILE = Path(__file__).with_name("demo.json")
SEED_AUTHOR = Principal.system("liaison seed")


class VariantSeed(msgspec.Struct, forbid_unknown_fields=True):
    """Title and blocks of one locale."""

    title: str
    blocks: Blocks


class FragmentSeed(msgspec.Struct, forbid_unknown_fields=True):
    """A shared fragment and its variants."""

    key: str
    source_locale: str
    variants: dict[str, VariantSeed]


class PageSeed(msgspec.Struct, forbid_unknown_fields=True):
    """A page of one site and its variants."""

    site: str
    slug: str
    source_locale: str
    variants: dict[str, VariantSeed]


class DemoContent(msgspec.Struct, forbid_unknown_fields=True):
    """The whole demo file."""

    sites: list[SiteCreate]
    facts: list[FactCreate]
    fragments: list[FragmentSeed]
    pages: list[PageSeed]


class SeedReport(msgspec.Struct):
    """What a seed run created (zero everywhere on a second run)."""

    sites: int = 0
    facts: int = 0
    documents: int = 0
    revisions: int = 0


async def _variants(
    db: Database, document: Document, source_locale: str, seeds: dict[str, VariantSeed], report: SeedReport
) -> None:
    # The source goes first: translations name the source revision they translate.
    ordered = sorted(seeds.items(), key=lambda item: item[0] != source_locale)
    source_revision: int | None = None
    async with db.reading() as repo:
        existing = {v.locale: v for v in await repo.variants_of(document.id)}
    for locale, seed in ordered:
        if locale in existing:
            if locale == source_locale:
                source_revision = existing[locale].head_revision
            continue
        body = RevisionCreate(
            title=seed.title,
            blocks=seed.blocks,
            message="Demo content",
            source_revision=None if locale == source_locale else source_revision,
        )
        revision = (await revisions.create_revision(db, SEED_AUTHOR, document.id, locale, body, None)).revision
        await revisions.publish(db, SEED_AUTHOR, document.id, locale, PublishRequest(revision.number))
        if locale == source_locale:
            source_revision = revision.number
        report.revisions += 1


async def _create_document(db: Database, body: DocumentCreate, report: SeedReport) -> Document:
    created = await documents.create_document(db, SEED_AUTHOR, body)
    report.documents += 1
    async with db.reading() as repo:
        document, _ = await documents.load_document(repo, created.id, SEED_AUTHOR)
    return document


async def load_demo(db: Database, path: Path = DEMO_FILE, progress: Callable[[str], None] | None = None) -> SeedReport:
    """Create whatever of the demo content is missing, and publish it."""
    raw = await asyncio.to_thread(path.read_bytes)
    content = msgspec.json.decode(raw, type=DemoContent)
    report = SeedReport()
    note = progress or (lambda _message: None)
    for site_seed in content.sites:
        async with db.reading() as repo:
            if await repo.site(site_seed.key) is not None:
                continue
        await sites.create_site(db, SEED_AUTHOR, site_seed)
        report.sites += 1
        note(f"site {site_seed.key}")
    for fact in content.facts:
        async with db.reading() as repo:
            if await repo.fact(fact.scope, fact.key) is not None:
                continue
        await facts.create_fact(db, SEED_AUTHOR, fact)
        report.facts += 1
        note(f"fact {fact.scope}/{fact.key}")
    for fragment in content.fragments:
        async with db.reading() as repo:
            document = await repo.fragment(fragment.key)
        if document is None:
            body = DocumentCreate(kind="fragment", source_locale=fragment.source_locale, key=fragment.key)
            document = await _create_document(db, body, report)
        await _variants(db, document, document.source_locale, fragment.variants, report)
        note(f"fragment {fragment.key}")
    for page in content.pages:
        async with db.reading() as repo:
            site = await repo.site(page.site)
            document = await repo.page(site.id, page.slug) if site else None
        if document is None:
            body = DocumentCreate(kind="page", source_locale=page.source_locale, site=page.site, slug=page.slug)
            document = await _create_document(db, body, report)
        await _variants(db, document, document.source_locale, page.variants, report)
        note(f"page {page.site}/{page.slug}")
    return report
