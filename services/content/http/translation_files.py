"""Routes for translators: a variant exported as a PO or XLIFF 2.0 file, and the filled file imported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import QueryParameter, RawBody

from schemas.documents import RevisionOut
from services.content.http.dependencies import DB, Caller, PathNumber
from services.content.http.openapi import BEARER, LocalePath, problems, unchanged_head
from services.content.usecases import translation_files
from services.content.usecases.translation_files import MEDIA_TYPES, FileFormat

VARIANT = "/{document_id:int}/variants/{locale:str}"
_FILE_SCHEMA = Schema(type=OpenAPIType.STRING, description="The file's bytes (UTF-8)")


@dataclass
class ImportOperation(Operation):
    """OpenAPI operation of ``import_file``: the body is the file itself, not JSON."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            description=(
                "The filled PO or XLIFF 2.0 file. Its Content-Type picks the reader "
                "(text/x-gettext-translation or application/xliff+xml) unless ?format= says; "
                "otherwise its first bytes do."
            ),
            content={
                MEDIA_TYPES["po"].split(";")[0]: OpenAPIMediaType(schema=_FILE_SCHEMA),
                MEDIA_TYPES["xliff"].split(";")[0]: OpenAPIMediaType(schema=_FILE_SCHEMA),
            },
            required=True,
        )


@dataclass
class ExportOperation(Operation):
    """OpenAPI operation of ``export_file``: the file is PO or XLIFF, as ``?format=`` asks."""

    def __post_init__(self) -> None:
        if self.responses and isinstance(ok := self.responses.get("200"), OpenAPIResponse):
            ok.content = {
                MEDIA_TYPES["po"].split(";")[0]: OpenAPIMediaType(schema=_FILE_SCHEMA),
                MEDIA_TYPES["xliff"].split(";")[0]: OpenAPIMediaType(schema=_FILE_SCHEMA),
            }


class TranslationFileController(Controller):
    """Translation files (PO and XLIFF 2.0) of a document's variants. Every route needs a token."""

    path = "/v1/documents"
    tags = ["translations"]
    security = BEARER

    @get(
        VARIANT + "/export",
        summary="Export a translation file",
        operation_class=ExportOperation,
        responses={
            200: ResponseSpec(
                str,
                description="The file: text/x-gettext-translation (PO) or application/xliff+xml (XLIFF 2.0)",
                media_type="text/x-gettext-translation",
            ),
            **problems(400, 401, 403, 404, 422),
        },
    )
    async def export_file(
        self,
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        file_format: Annotated[
            FileFormat, QueryParameter(name="format", description="po (gettext) or xliff (XLIFF 2.0)")
        ] = "po",
    ) -> Response[bytes]:
        """Export the source's head revision for translators into ``locale``: one entry per segment.

        Each title, heading, paragraph and list item is an entry whose context is its segment id.
        Fact placeholders (``{fact:key}``) and marks/links (``<em>``, ``<strong>``, ``<a href>``)
        are text in PO, and XLIFF inline elements (``<ph>``, ``<pc>``) in XLIFF. Existing
        translations fill the targets; segments whose source text changed since the translation
        was made are marked fuzzy (PO) or ``state="initial"`` (XLIFF), with the previous source text.
        """
        exported = await translation_files.export_translation(db, principal, document_id, locale, file_format)
        return Response(
            exported.content,
            headers={
                # As a header, not as media_type: Litestar adds "; charset=utf-8" to a text/ media
                # type, which already names its charset.
                "Content-Type": exported.media_type,
                "Content-Disposition": f'attachment; filename="{exported.filename}"',
                "Cache-Control": "no-store",
            },
        )

    @post(
        VARIANT + "/import",
        status_code=201,
        summary="Import a translation file",
        operation_class=ImportOperation,
        responses=unchanged_head("the file's translation is") | problems(400, 401, 403, 404, 409, 413, 422),
    )
    async def import_file(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: LocalePath,
        body: RawBody,
        file_format: Annotated[
            FileFormat | None,
            QueryParameter(name="format", description="po or xliff; by default the Content-Type decides"),
        ] = None,
    ) -> Response[RevisionOut]:
        """Import a filled PO or XLIFF file as a new translation revision of ``locale``.

        The revision names the source revision the file was exported from and is based on the
        variant's current head. A file for another document, locale or revision, a missing,
        unknown or untranslated segment, or a translation that drops, adds or changes a fact
        placeholder or a link target is refused with 422 (``segments`` lists each fault), and
        nothing changes. A file whose translation is the head's (an unchanged export, say) writes
        nothing: the answer is 200 with the head.
        """
        chosen = file_format or translation_files.detect_format(body, request.headers.get("content-type"))
        written = await translation_files.import_translation(db, principal, document_id, locale, body, chosen)
        return Response(
            written.revision, status_code=201 if written.created else 200, headers={"ETag": written.revision.etag}
        )
