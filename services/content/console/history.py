"""History and review of a variant: the timeline, two revisions compared, revert, publish and unpublish.

URLs (below ``/console``):

- ``GET /documents/{id}/{locale}/history`` the timeline; ``?from=&to=`` adds their diff
- ``POST /documents/{id}/{locale}/revert`` a new revision holding an older one (sends the base;
  a 409 shows what the head changed)
- ``GET|POST /documents/{id}/{locale}/publish`` the confirmation (``?revision=``, the head by
  default), then the publication
- ``GET|POST /documents/{id}/{locale}/unpublish`` the confirmation, then the unpublication

The use cases decide who may do what: a reader's or translator's POST is refused by them
(a 403 page, nothing changed), and the templates hide what `can` says the token may not do.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from schemas.documents import MAX_NUMBER, Message, PublishRequest, RevertRequest
from services.content.console.controllers import SignedInController
from services.content.console.templating import page
from services.content.domain.access import Action
from services.content.domain.errors import StaleBase
from services.content.http.dependencies import DB, Caller
from services.content.usecases import revisions
from services.content.usecases.publication_effect import publication_effect
from services.content.usecases.variant_timeline import compare_revisions, variant_timeline

Number = Annotated[int, msgspec.Meta(ge=1, le=MAX_NUMBER)]
QueryNumber = Annotated[int | None, QueryParameter(ge=1, le=MAX_NUMBER)]
VARIANT = "/documents/{document_id:int}/{locale:str}"


class RevertForm(msgspec.Struct, kw_only=True):
    """The revert button: the revision to bring back, and the head the page was showing."""

    revision: Number
    base_revision: Number
    message: Message = ""


class PublishForm(msgspec.Struct, kw_only=True):
    """The confirmed publication: the revision that goes live."""

    revision: Number


def history_path(document_id: int, locale: str) -> str:
    """The console URL of a variant's history."""
    return f"/console/documents/{document_id}/{locale}/history"


class HistoryController(SignedInController):
    """A variant's history, its diffs, and the changes made from it (revert, publish, unpublish)."""

    path = "/"

    async def _history(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: int,
        locale: str,
        compare: tuple[int, int] | None,
        extra: dict[str, Any],
        status: int = 200,
    ) -> Template:
        timeline = await variant_timeline(db, principal, document_id, locale)
        comparison = None
        if compare is not None:
            comparison = await compare_revisions(db, principal, document_id, locale, *compare)
        context = {"timeline": timeline, "comparison": comparison, "conflict": None, "done": None, **extra}
        return page(request, "history.html", context, status)

    @get(VARIANT + "/history", name="console:history")
    async def history(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
        from_revision: Annotated[int | None, QueryParameter(name="from", ge=1, le=MAX_NUMBER)] = None,
        to_revision: Annotated[int | None, QueryParameter(name="to", ge=1, le=MAX_NUMBER)] = None,
        done: Annotated[str | None, QueryParameter(max_length=20)] = None,
    ) -> Template:
        """The timeline of the variant; with ``from`` and ``to``, the diff of those two revisions."""
        compare = (from_revision, to_revision) if from_revision and to_revision else None
        return await self._history(request, db, principal, document_id, locale, compare, {"done": done})

    @post(VARIANT + "/revert", status_code=303)
    async def revert(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
        data: URLEncodedBody[RevertForm],
    ) -> Response[Any]:
        """Write a revision holding ``revision``'s content on top of ``base_revision``; 409: what changed since."""
        body = RevertRequest(revision=data.revision, base_revision=data.base_revision, message=data.message)
        try:
            await revisions.revert(db, principal, document_id, locale, body, None)
        except StaleBase:
            # Someone wrote a revision since the page was shown: show them what it changed, then offer the revert again.
            timeline = await variant_timeline(db, principal, document_id, locale)
            head_number = timeline.head_revision or data.base_revision
            comparison = await compare_revisions(db, principal, document_id, locale, data.base_revision, head_number)
            conflict = {"base": data.base_revision, "head": head_number, "revision": data.revision}
            context = {"timeline": timeline, "comparison": comparison, "conflict": conflict, "done": None}
            return page(request, "history.html", context, 409)
        return Redirect(history_path(document_id, locale) + "?done=reverted", status_code=303)

    @get(VARIANT + "/publish", name="console:publish")
    async def publish_confirmation(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
        revision: QueryNumber = None,
    ) -> Template:
        """What publishing ``revision`` (the head by default) changes, and the button that does it."""
        timeline = await variant_timeline(db, principal, document_id, locale)
        number = revision or timeline.head_revision
        effect = await publication_effect(db, principal, document_id, locale, number)
        _require_publish(principal, effect.document.site)
        return page(request, "publish_confirm.html", {"effect": effect, "action": "publish"})

    @post(VARIANT + "/publish", status_code=303)
    async def publish(
        self,
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
        data: URLEncodedBody[PublishForm],
    ) -> Response[Any]:
        """Make ``revision`` the live one, then show the history."""
        await revisions.publish(db, principal, document_id, locale, PublishRequest(revision=data.revision))
        return Redirect(history_path(document_id, locale) + "?done=published", status_code=303)

    @get(VARIANT + "/unpublish", name="console:unpublish")
    async def unpublish_confirmation(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
    ) -> Template:
        """What taking the variant offline changes, and the button that does it."""
        effect = await publication_effect(db, principal, document_id, locale, None)
        _require_publish(principal, effect.document.site)
        return page(request, "publish_confirm.html", {"effect": effect, "action": "unpublish"})

    @post(VARIANT + "/unpublish", status_code=303)
    async def unpublish(
        self, db: DB, principal: Caller, document_id: FromPath[int], locale: FromPath[str]
    ) -> Response[Any]:
        """Take the variant offline, then show the history."""
        await revisions.unpublish(db, principal, document_id, locale)
        return Redirect(history_path(document_id, locale) + "?done=unpublished", status_code=303)


def _require_publish(principal: Caller, site: str | None) -> None:
    # The confirmation is the first step of a publication: refused as the publication itself would be.
    principal.require(Action.PUBLISH, site=site)
