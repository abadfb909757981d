"""Change events: CloudEvents 1.0 in structured JSON mode, one per changed render.

Events only ever change by adding fields with defaults, so old consumers keep
decoding new events and new consumers keep decoding old ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

EVENT_TYPES = {
    "published": "org.liaison.page.published",
    "unpublished": "org.liaison.page.unpublished",
    "rerendered": "org.liaison.page.rerendered",
    "translation_outdated": "org.liaison.translation.outdated",
}
"""Outbox kind -> CloudEvents ``type``."""

ChangeReason = Literal["publish", "unpublish", "fact", "fragment", "alternates"]


class PageChange(msgspec.Struct, forbid_unknown_fields=False):
    """``data`` of a page event: which render changed, and why."""

    site: str
    slug: str
    locale: str
    revision: int | None
    """The live revision after the change (None once unpublished)."""
    etag: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "ETag of the answer `url` gave right after the change. For an unpublished locale, that of the "
                "fallback render (`url` still answers, in another locale); null only when no locale of the page "
                "is published any more."
            )
        ),
    ]
    url: str
    reason: ChangeReason
    cause: str = ""
    """What changed, for people: 'fact global/network.embassy_count version 2'."""


class PageEvent(msgspec.Struct, forbid_unknown_fields=False):
    """A CloudEvents 1.0 event (structured JSON), one per changed (site, page, locale).

    ``id`` is stable across retries; ``sequence`` is the zero-padded, gapless
    per-site sequence, also the event's stream entry id (``<sequence>-0``).
    """

    id: str
    source: str
    type: str
    subject: str
    time: dt.datetime
    sequence: str
    data: PageChange
    specversion: str = "1.0"
    datacontenttype: str = "application/json"


class ChangeFeed(msgspec.Struct):
    """``GET /v1/changes``: the site's events after a cursor, in sequence order."""

    site: str
    events: list[PageEvent]
    next_after: int
    """Pass as ``after`` to continue."""
    head: int
    """The site's latest published sequence."""


def sequence_text(sequence: int) -> str:
    """The ``sequence`` extension: zero-padded so it sorts as text too."""
    return f"{sequence:020d}"
