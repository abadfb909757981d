"""The change feed: a site's events from the outbox, for agents repairing gaps."""

from __future__ import annotations

from schemas.events import ChangeFeed
from services.content.domain.errors import CursorExpired, NotFound
from services.content.domain.messages import N_, Message
from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.content.usecases.events import event_of


async def changes(db: Database, public_url: str, site: str, after: int, limit: int) -> ChangeFeed:
    """Events of ``site`` with a sequence above ``after``, oldest first (only relayed or sequenced ones)."""
    async with db.reading() as repo:
        if await repo.site(site) is None:
            raise NotFound(Message(N_("site '{site}' does not exist"), site=site))
        queries = OutboxQueries.of(repo)
        heads = await queries.site_heads()
        oldest = await queries.oldest_retained(site)
        rows = await queries.by_sequence(site, after, limit)
    head = heads.get(site, 0)
    if oldest is not None and after < oldest - 1:
        raise CursorExpired(
            Message(
                N_(
                    "after={after}: changes before sequence {oldest} are no longer kept; "
                    "resynchronise from GET /v1/sites/{site}/pages"
                ),
                after=after,
                oldest=oldest,
                site=site,
            ),
            oldest=oldest,
            head=head,
        )
    events = [event_of(row, public_url) for row in rows if row.sequence is not None]
    next_after = rows[-1].sequence if rows and rows[-1].sequence is not None else after
    return ChangeFeed(site=site, events=events, next_after=next_after, head=head)
