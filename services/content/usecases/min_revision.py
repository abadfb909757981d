"""``?min_revision=N``: a reader acting on a change event never gets an older render, nor a fallback.

A replica may not have seen another one's publish yet. Its cached answer is then the
older revision, or, when the locale was not published before, the fallback render in
another locale. Neither is what the event announced, so neither satisfies
``min_revision``: the database is read again, and when it still has nothing at least that
new *in the requested locale*, the answer is 409 (``revision-not-served``).
"""

from __future__ import annotations

from services.content.domain.errors import RevisionNotServed
from services.content.domain.messages import N_, Message
from services.content.usecases.delivery import Delivery, ServedPage


def satisfies(served: ServedPage, wanted: int) -> bool:
    """Whether ``served`` is the requested locale's own render at revision ``wanted`` or later."""
    return not served.fallback and served.entry.render.revision >= wanted


async def serve_at_least(
    delivery: Delivery, site: str, slug: str, requested: tuple[str, ...], wanted: int | None
) -> ServedPage:
    """`Delivery.serve`, honouring ``min_revision`` (``wanted``); RevisionNotServed when it cannot be met."""
    served = await delivery.serve(site, slug, requested)
    if wanted is None or satisfies(served, wanted):
        return served
    # This process may have missed another replica's publish: read the database again.
    served = await delivery.serve(site, slug, requested, fresh=True)
    if satisfies(served, wanted):
        return served
    render = served.entry.render
    if served.fallback:
        raise RevisionNotServed(
            Message(
                N_("min_revision {wanted}: {requested} is not published; the page is served in {locale}"),
                wanted=wanted,
                requested=served.requested or render.locale,
                locale=render.locale,
            ),
            current={"revision": None, "locale": render.locale},
        )
    raise RevisionNotServed(
        Message(
            N_("min_revision {wanted}: the published {locale} revision is {revision}"),
            wanted=wanted,
            locale=render.locale,
            revision=render.revision,
        ),
        current={"revision": render.revision},
    )
