"""The translation screen: a variant's translation beside its source, segment by segment.

``GET /console/documents/{id}/{locale}/translate`` shows the sheet (`usecases.translation_sheet`):
source on the left, translation on the right, outdated segments with their source's word diff
and the previous translation in the field, missing ones marked, and the progress. ``POST`` on
the same path saves it through the import's checks: a refused segment is shown again with the
reason and what was typed (422); a moved head shows the head's translation of the segments that
changed since the form was opened, with what was typed kept (409). ``POST .../translate/preview``
is the live preview (htmx, debounced): the typed translation rendered by the delivery renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from markupsafe import Markup

from schemas.documents import PreviewRequest
from services.content.console.controllers import SignedInController
from services.content.console.templating import page
from services.content.domain.access import Action, Principal
from services.content.domain.errors import InvalidContent, StaleBase
from services.content.domain.messages import N_, Message
from services.content.domain.segments import SegmentFault, SegmentMismatch, apply_segments, segment_faults
from services.content.http.dependencies import DB, Caller
from services.content.http.pages import Reader
from services.content.usecases import preview
from services.content.usecases.translation_files import load_export
from services.content.usecases.translation_sheet import TranslationSheet, load_sheet, save_sheet

MAX_SEGMENTS = 5000
"""More fields than any document has segments: the form is refused rather than read."""

FAULT_SENTENCES = {
    "placeholder": N_("This translation must keep every fact placeholder of its source, each as often."),
    "link": N_("This translation must keep every link target of its source."),
    "missing": N_("This segment is not translated yet: write its translation."),
    "untranslated": N_("This segment is not translated yet: write its translation."),
    "markup": N_("The markup of this translation cannot be read."),
    "source-changed": N_("The source of this segment changed while you worked: reload the page."),
}
OTHER_FAULT = N_("This translation cannot be used.")
READ_ONLY_READER = N_("Your token may read this translation but not change it. Ask for a translator token to edit it.")
READ_ONLY_LOCALE = N_(
    "Your token does not translate into this language, so this translation is read-only. "
    "Choose one of your languages above, or ask for a token that translates into it."
)
SAVED = N_("Saved as revision {number}.")
UNCHANGED = N_("Nothing to save: the translation is the same as revision {number}.")
REFUSED = N_("Nothing was saved: correct the segments marked below, then save again.")
CONFLICT = N_(
    "Someone saved this translation (revision {head}) while you were working. Their version of the segments "
    "they changed is shown below each field; what you typed is kept. Check it, then save again."
)
BAD_FORM = N_("The form's source revision or base revision is not a number. Reload the page.")


def _number(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 10:
        raise InvalidContent(Message(BAD_FORM))
    return int(value)


def _fields(form: FormMultiDict, prefix: str) -> dict[str, str]:
    return {key[len(prefix) :]: str(value) for key, value in form.items() if key.startswith(prefix)}


def _editable(principal: Principal, sheet: TranslationSheet) -> bool:
    return principal.allows(Action.WRITE_TRANSLATION, site=sheet.document.site_key, locale=sheet.locale)


def _locales(principal: Principal, sheet: TranslationSheet, site_locales: list[str]) -> list[str]:
    """The translation locales to offer: a translator's own ones only; every one for others."""
    shown = [code for code in site_locales if code != sheet.source_locale]
    if principal.role.scoped_by_locale and principal.locales is not None:
        shown = [code for code in shown if code in principal.locales]
    return shown


async def _site_locales(db: DB, sheet: TranslationSheet) -> list[str]:
    key = sheet.document.site_key
    if key is None:
        return [sheet.locale]
    async with db.reading() as repo:
        site = await repo.site(key)
    return list(site.locales) if site is not None else [sheet.locale]


def _fault_sentences(faults: list[Mapping[str, Any]]) -> dict[str, tuple[Message, str]]:
    found: dict[str, tuple[Message, str]] = {}
    for fault in faults:
        sentence = Message(FAULT_SENTENCES.get(str(fault["problem"]), OTHER_FAULT))
        found.setdefault(str(fault["id"]), (sentence, str(fault["detail"])))
    return found


class TranslateController(SignedInController):
    """Translate a variant from its source, segment by segment, with a live preview."""

    path = "/documents/{document_id:int}/{locale:str}/translate"

    async def _screen(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Principal,
        sheet: TranslationSheet,
        *,
        status: int = 200,
        typed: Mapping[str, str] | None = None,
        faults: Mapping[str, tuple[Message, str]] | None = None,
        theirs: Mapping[str, str] | None = None,
        notice: Message | None = None,
        alert: Message | None = None,
        base_revision: int | None = None,
        source_revision: int | None = None,
    ) -> Template:
        editable = _editable(principal, sheet)
        read_only = None
        if not editable:
            read_only = Message(READ_ONLY_READER if principal.role.value == "reader" else READ_ONLY_LOCALE)
        return page(
            request,
            "translate.html",
            {
                "sheet": sheet,
                "editable": editable,
                "read_only": read_only,
                "locales": _locales(principal, sheet, await _site_locales(db, sheet)),
                "typed": typed or {},
                "faults": faults or {},
                "theirs": theirs or {},
                "notice": notice,
                "alert": alert,
                "base_revision": sheet.base_revision if base_revision is None else base_revision,
                "source_revision": sheet.source_revision if source_revision is None else source_revision,
            },
            status,
        )

    @get("/", name="console:translate")
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
        saved: FromQuery[int | None] = None,
        unchanged: FromQuery[int | None] = None,
    ) -> Template:
        """The translation beside its source; a notice after a save."""
        sheet = await load_sheet(db, principal, document_id, locale)
        notice = None
        if saved is not None:
            notice = Message(SAVED, number=saved)
        elif unchanged is not None:
            notice = Message(UNCHANGED, number=unchanged)
        return await self._screen(request, db, principal, sheet, notice=notice)

    @post("/", status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
    ) -> Response[Any]:
        """Save the typed translation as a revision naming its source revision (the import's checks first)."""
        form = await request.form()
        if len(form) > 3 * MAX_SEGMENTS + 10:
            raise InvalidContent(Message(N_("The form has more fields than any document has segments.")))
        source_revision = _number(form.get("source_revision"))
        base_revision = _number(form.get("base_revision"))
        typed = _fields(form, "t:")
        sources = _fields(form, "s:")
        was = _fields(form, "was:")
        order = list(sources)
        try:
            written = await save_sheet(
                db,
                principal,
                document_id,
                locale,
                source_revision=source_revision or 0,
                base_revision=base_revision,
                sources=sources,
                translations=typed,
                order=order,
                message=str(form.get("message", ""))[:500],
            )
        except SegmentMismatch as exc:
            sheet = await load_sheet(db, principal, document_id, locale)
            return await self._screen(
                request,
                db,
                principal,
                sheet,
                status=422,
                typed=typed,
                faults=_fault_sentences(exc.context.get("segments", [])),
                alert=Message(REFUSED),
                base_revision=base_revision,
                source_revision=source_revision,
            )
        except StaleBase:
            sheet = await load_sheet(db, principal, document_id, locale)
            theirs = {
                row.segment.id: row.translation or ""
                for row in sheet.rows
                if (row.translation or "") != was.get(row.segment.id, "")
            }
            return await self._screen(
                request,
                db,
                principal,
                sheet,
                status=409,
                typed=typed,
                theirs=theirs,
                alert=Message(CONFLICT, head=sheet.base_revision),
            )
        number = written.revision.number
        query = f"saved={number}" if written.created else f"unchanged={number}"
        return Redirect(f"/console/documents/{document_id}/{locale}/translate?{query}", status_code=303)

    @post("/preview", status_code=200)
    async def live_preview(
        self,
        request: Request[Any, Any, Any],
        renderer: Reader,
        principal: Caller,
        document_id: FromPath[int],
        locale: FromPath[str],
    ) -> Template:
        """The typed translation as the public page would show it (empty segments show the source's text)."""
        form = await request.form()
        typed = {key: value for key, value in _fields(form, "t:").items() if value.strip()}
        data = await load_export(renderer.db, principal, document_id, locale)
        source = data.source_revision
        texts = {unit.segment.id: typed.get(unit.segment.id, unit.segment.text) for unit in data.units}
        faults: list[SegmentFault] = segment_faults(source.title, source.blocks, texts)
        if faults:
            shown = _fault_sentences([msgspec.to_builtins(fault) for fault in faults])
            return page(request, "translate_preview.html", {"faults": shown, "html": None, "locale": locale})
        title, blocks = apply_segments(source.title, source.blocks, texts)
        render = await preview.preview(
            renderer,
            principal,
            document_id,
            locale,
            body=PreviewRequest(title=title, blocks=blocks, source_revision=source.number),
        )
        # The delivery renderer's HTML: every text in it is escaped by construction (domain/rendering.py).
        html = Markup(render.html)  # noqa: S704 - the delivery renderer's own escaped output
        return page(request, "translate_preview.html", {"faults": {}, "html": html, "locale": locale})
