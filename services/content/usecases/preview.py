"""Previews: any revision, or an unsaved body, rendered as the public page would show it once published.

A preview goes through the delivery renderer itself (`Delivery.preview`): the candidate revision
stands in for its variant's live one in the render inputs, so facts are formatted at their current
values, published fragments are included, and the alternates and language switcher are the
public ones. Nothing is written and nothing reaches the public render cache. Drafts are
involved, so a preview needs a token that may read drafts on the document's site.
"""

from __future__ import annotations

from schemas.delivery import PageRender
from schemas.documents import PreviewRequest
from services.content.domain.access import Action, Principal
from services.content.domain.content import with_block_ids
from services.content.domain.errors import NotFound
from services.content.domain.messages import N_, Message
from services.content.domain.model import Revision, Site
from services.content.storage.repository import now
from services.content.usecases.delivery import Delivery
from services.content.usecases.documents import checked_locale, load_document
from services.content.usecases.render_inputs import Candidate
from services.content.usecases.revisions import check_references


async def preview(
    delivery: Delivery,
    principal: Principal,
    document_id: int,
    locale: str,
    *,
    revision: int | None = None,
    body: PreviewRequest | None = None,
    site: str | None = None,
    requested: str | None = None,
) -> PageRender:
    """The render of revision ``revision`` of a variant, or of the unsaved ``body``, as publishing it would give.

    Exactly one of ``revision`` and ``body``. ``site`` matters for a fragment only: the site whose
    facts and fallback chain it is rendered with (global facts only without one). The render's
    ``revision`` is the number the body would get if it were saved now; ``published_at`` is now,
    unless the revision is the live one. ``requested`` (a page only): render what a reader asking
    for that locale would get once the candidate is live, by the site's negotiation; when that is
    another locale, ``fallback`` is true and `delivery.page_html` gives the HTML with its notice.
    """
    if (revision is None) == (body is None):
        raise ValueError("preview: pass exactly one of revision and body")
    async with delivery.db.reading() as repo:
        document, own_site = await load_document(repo, document_id, principal)
        principal.require(Action.READ_DRAFTS, site=own_site.key if own_site else None)
        tag = checked_locale(locale, own_site)
        asked = checked_locale(requested, None, "requested") if requested is not None else None
        context: Site | None = own_site
        if document.is_fragment and site is not None:
            context = await repo.site(site)
            if context is None or not principal.allows(Action.READ_DRAFTS, site=context.key):
                raise NotFound(Message(N_("site '{site}' does not exist"), site=site))
        variant = await repo.variant(document.id, tag)
        if body is not None:
            blocks = with_block_ids(body.blocks)
            await check_references(repo, document, own_site, blocks)
            candidate_revision = Revision(
                id=0,
                variant_id=variant.id if variant is not None else 0,
                number=variant.head_revision + 1 if variant is not None else 1,
                title=body.title,
                blocks=blocks,
                author=principal.name,
                message="",
                created_at=now(),
                base_revision=variant.head_revision if variant is not None else None,
                source_revision=body.source_revision,
            )
        else:
            stored = await repo.revision(variant.id, revision) if variant is not None and revision else None
            if stored is None:
                raise NotFound(
                    Message(
                        N_("{field}: variant {locale} has no revision {number}"),
                        field="revision",
                        locale=tag,
                        number=revision,
                    )
                )
            candidate_revision = stored
        live = variant is not None and variant.published_revision == candidate_revision.number
        published_at = variant.published_at if live and variant is not None and variant.published_at else now()
        candidate = Candidate(document.id, tag, candidate_revision, published_at)
        return await delivery.preview(repo, context, document, candidate, asked)


__all__ = ["preview"]
