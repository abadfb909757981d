"""Routes for documents, their variants and revisions (the editors' API)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, QueryParameter

from schemas.diffs import RevisionDiff
from schemas.documents import (
    MAX_LIST_LIMIT,
    MAX_NUMBER,
    ActivityPage,
    DocumentCreate,
    DocumentKind,
    DocumentList,
    DocumentOut,
    DocumentQuery,
    DocumentStatus,
    PublicationOut,
    PublishRequest,
    RevertRequest,
    RevisionCreate,
    RevisionOut,
    RevisionPage,
)
from schemas.usage import Usage
from services.content.http.dependencies import DB, Caller, PathNumber, if_match_tag
from services.content.http.openapi import BEARER, LOCALE_SHAPE, LocalePath, RevisionIfMatch, problems, unchanged_head
from services.content.usecases import activity, document_list, documents, revisions, usage

VARIANT = "/{document_id:int}/variants/{locale:str}"


def _with_etag(revision: RevisionOut, status: int = 200) -> Response[RevisionOut]:
    return Response(revision, status_code=status, headers={"ETag": revision.etag})


def _written(written: revisions.Written) -> Response[RevisionOut]:
    """201 with a new revision; 200 with the head when the write repeated it."""
    return _with_etag(written.revision, 201 if written.created else 200)


class DocumentController(Controller):
    """Pages, fragments, and the revisions of their variants. Every route needs a token."""

    path = "/v1/documents"
    tags = ["documents"]
    security = BEARER

    @post("/", summary="Create a document", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_document(self, db: DB, principal: Caller, data: JSONBody[DocumentCreate]) -> DocumentOut:
        """Create a page (of one site) or a fragment (shared by all sites)."""
        return await documents.create_document(db, principal, data)

    @get("/", summary="List documents", responses=problems(400, 401, 403, 404))
    async def list_documents(
        self,
        db: DB,
        principal: Caller,
        site: Annotated[str | None, QueryParameter(description="Only this site's pages", max_length=63)] = None,
        kind: Annotated[DocumentKind | None, QueryParameter(description="page or fragment")] = None,
        locale: Annotated[
            str | None,
            QueryParameter(
                description="Only pages whose site has this locale (and fragments); makes status about this locale",
                schema_extra={"pattern": LOCALE_SHAPE},
            ),
        ] = None,
        status: Annotated[
            DocumentStatus | None,
            QueryParameter(description="Only documents with a locale (the locale given, or any) in this state"),
        ] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                description="Text found, whatever its case, in a head title, slug or key", min_length=1, max_length=200
            ),
        ] = None,
        cursor: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_NUMBER, description="next_cursor of the previous page")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIST_LIMIT)] = 50,
    ) -> DocumentList:
        """List the pages and fragments the token may read drafts of, by id, with each locale's state."""
        query = DocumentQuery(site=site, kind=kind, locale=locale, status=status, q=q, cursor=cursor, limit=limit)
        return await document_list.list_documents(db, principal, query)

    @get("/{document_id:int}", summary="Read a document", responses=problems(400, 401, 403, 404))
    async def get_document(self, db: DB, principal: Caller, document_id: PathNumber) -> DocumentOut:
        """Read a document with each variant's head and published revision."""
        return await documents.get_document(db, principal, document_id)

    @get(
        "/{document_id:int}/activity",
        summary="List a document's activity",
        responses=problems(400, 401, 403, 404, 422),
    )
    async def activity(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        cursor: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_NUMBER, description="next_cursor of the previous page")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        locale: Annotated[
            str | None, QueryParameter(description="Only this locale's changes", schema_extra={"pattern": LOCALE_SHAPE})
        ] = None,
    ) -> ActivityPage:
        """Revisions written, reverts, imports, publications and unpublications, newest first: who, when, message."""
        return await activity.document_activity(db, principal, document_id, cursor, limit, locale)

    @get("/{document_id:int}/usage", summary="Where a document is used", responses=problems(400, 401, 403, 404))
    async def usage(self, db: DB, principal: Caller, document_id: PathNumber) -> Usage:
        """For a fragment, the live pages including it (however deep) by site; for a page, itself."""
        return await usage.document_usage(db, principal, document_id)

    @delete("/{document_id:int}", summary="Delete a document", responses=problems(400, 401, 403, 404, 409))
    async def delete_document(self, db: DB, principal: Caller, document_id: PathNumber) -> None:
        """Delete a document; refused while published content includes it."""
        await documents.delete_document(db, principal, document_id)

    @post(
        VARIANT + "/revisions",
        status_code=201,
        summary="Write a revision",
        responses=unchanged_head("the body holds") | problems(400, 401, 403, 404, 409, 413, 422, 428),
    )
    async def create_revision(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        data: JSONBody[RevisionCreate],
        if_match: RevisionIfMatch = None,
    ) -> Response[RevisionOut]:
        """Write a new revision. Name the base revision (``base_revision`` or ``If-Match``) once the variant exists.

        A body that repeats the head (same title, blocks and source revision; the message aside)
        writes nothing: the answer is 200 with the head.
        """
        tag = if_match_tag(if_match, "r")
        return _written(await revisions.create_revision(db, principal, document_id, locale, data, tag))

    @get(VARIANT + "/revisions", summary="List a variant's revisions", responses=problems(400, 401, 403, 404, 422))
    async def history(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        cursor: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_NUMBER, description="next_cursor of the previous page")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> RevisionPage:
        """List a variant's revisions, newest first, a page at a time."""
        return await revisions.history(db, principal, document_id, locale, cursor, limit)

    @get(VARIANT + "/revisions/{number:int}", summary="Read a revision", responses=problems(400, 401, 403, 404, 422))
    async def get_revision(
        self, db: DB, principal: Caller, document_id: PathNumber, locale: LocalePath, number: PathNumber
    ) -> Response[RevisionOut]:
        """Read one revision, draft or not."""
        return _with_etag(await revisions.get_revision(db, principal, document_id, locale, number))

    @get(VARIANT + "/diff", summary="Compare two revisions", responses=problems(400, 401, 403, 404, 422))
    async def diff(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        from_revision: Annotated[int, QueryParameter(name="from", ge=1, le=MAX_NUMBER)],
        to_revision: Annotated[int, QueryParameter(name="to", ge=1, le=MAX_NUMBER)],
    ) -> RevisionDiff:
        """Compare two revisions: blocks added, removed, moved, changed (with word-level changes)."""
        return await revisions.diff(db, principal, document_id, locale, from_revision, to_revision)

    @post(
        VARIANT + "/publish",
        status_code=200,
        summary="Publish a revision",
        responses=problems(400, 401, 403, 404, 413, 422),
    )
    async def publish(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        data: JSONBody[PublishRequest],
    ) -> PublicationOut:
        """Make the given revision the live one."""
        return await revisions.publish(db, principal, document_id, locale, data)

    @post(
        VARIANT + "/unpublish",
        status_code=200,
        summary="Unpublish a variant",
        responses=problems(400, 401, 403, 404, 422),
    )
    async def unpublish(self, db: DB, principal: Caller, document_id: PathNumber, locale: LocalePath) -> PublicationOut:
        """Take the variant offline (its revisions are kept)."""
        return await revisions.unpublish(db, principal, document_id, locale)

    @post(
        VARIANT + "/revert",
        status_code=201,
        summary="Revert to an older revision",
        responses=unchanged_head("the head already holds") | problems(400, 401, 403, 404, 409, 413, 422, 428),
    )
    async def revert(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        data: JSONBody[RevertRequest],
        if_match: RevisionIfMatch = None,
    ) -> Response[RevisionOut]:
        """Write a new revision holding an older revision's content (200 with the head when it holds it already)."""
        tag = if_match_tag(if_match, "r")
        return _written(await revisions.revert(db, principal, document_id, locale, data, tag))
