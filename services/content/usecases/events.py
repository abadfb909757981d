"""Turning outbox rows into CloudEvents."""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from schemas.events import EVENT_TYPES, PageChange, PageEvent, sequence_text
from services.content.storage.repository import OutboxRow

_encoder = msgspec.json.Encoder()


def page_url(public_url: str, site: str, slug: str, locale: str) -> str:
    """Where the render an event names can be read."""
    return f"{public_url.rstrip('/')}/v1/sites/{quote(site)}/pages/{quote(slug)}?locale={quote(locale)}"


def event_of(row: OutboxRow, public_url: str) -> PageEvent:
    """The CloudEvent for a sequenced outbox row (identical on every retry)."""
    if row.sequence is None:
        raise ValueError(f"outbox row {row.id} has no sequence yet")
    return PageEvent(
        id=row.event_id,
        source=f"urn:liaison:site:{row.site}",
        type=EVENT_TYPES[row.kind],
        subject=f"{row.site}/{row.slug}/{row.locale}",
        time=row.created_at,
        sequence=sequence_text(row.sequence),
        data=PageChange(
            site=row.site,
            slug=row.slug,
            locale=row.locale,
            revision=row.revision,
            etag=row.etag or None,
            url=page_url(public_url, row.site, row.slug, row.locale),
            reason=row.reason,  # type: ignore[arg-type]
            cause=row.cause,
        ),
    )


def encode_event(event: PageEvent) -> bytes:
    """Structured-mode JSON of an event."""
    return _encoder.encode(event)
