"""Turning domain records into the API's response contracts."""

from __future__ import annotations

from schemas.documents import DocumentOut, RevisionOut, RevisionSummary, VariantOut
from schemas.facts import FactOut, FactVersionOut
from schemas.sites import SiteOut
from services.content.domain.model import (
    Document,
    Fact,
    FactVersion,
    Revision,
    Site,
    Variant,
    fact_etag,
    revision_etag,
)


def site_out(site: Site) -> SiteOut:
    """Site record -> API."""
    return SiteOut(
        key=site.key,
        name=site.name,
        locales=site.locales,
        default_locale=site.default_locale,
        fallback=site.fallback,
        country=site.country,
        created_at=site.created_at,
        website_url=site.website_url,
        page_url_pattern=site.page_url_pattern,
    )


def variant_out(variant: Variant) -> VariantOut:
    """Variant record -> API."""
    return VariantOut(
        locale=variant.locale,
        head_revision=variant.head_revision,
        published_revision=variant.published_revision,
        published_at=variant.published_at,
        etag=revision_etag(variant.head_revision),
    )


def document_out(document: Document, variants: list[Variant]) -> DocumentOut:
    """Document record and its variants -> API."""
    return DocumentOut(
        id=document.id,
        kind=document.kind,  # type: ignore[arg-type]
        source_locale=document.source_locale,
        site=document.site_key,
        slug=document.slug,
        key=document.key,
        created_at=document.created_at,
        variants=[variant_out(v) for v in variants],
    )


def revision_out(document_id: int, locale: str, revision: Revision) -> RevisionOut:
    """Revision record -> API."""
    return RevisionOut(
        document_id=document_id,
        locale=locale,
        number=revision.number,
        title=revision.title,
        blocks=revision.blocks,
        author=revision.author,
        message=revision.message,
        created_at=revision.created_at,
        base_revision=revision.base_revision,
        source_revision=revision.source_revision,
        etag=revision_etag(revision.number),
    )


def revision_summary(revision: Revision, published: int | None) -> RevisionSummary:
    """Revision record -> history entry."""
    return RevisionSummary(
        number=revision.number,
        title=revision.title,
        author=revision.author,
        message=revision.message,
        created_at=revision.created_at,
        base_revision=revision.base_revision,
        source_revision=revision.source_revision,
        published=revision.number == published,
    )


def fact_out(fact: Fact) -> FactOut:
    """Fact record -> API."""
    return FactOut(
        key=fact.key,
        scope=fact.scope,
        type=fact.type,  # type: ignore[arg-type]
        version=fact.version,
        value=fact.value,
        updated_at=fact.updated_at,
        etag=fact_etag(fact.version),
    )


def fact_version_out(version: FactVersion) -> FactVersionOut:
    """Fact version record -> API."""
    return FactVersionOut(
        version=version.version,
        value=version.value,
        author=version.author,
        message=version.message,
        created_at=version.created_at,
    )
