"""The editor (``/console/documents/{id}/{locale}/edit``), its live preview, and the "new page or fragment" form.

The editing model is structured blocks: ``static/editor.js`` shows each block of the revision as
a small form (a heading's level, a list's kind) around contenteditable regions for its inline
text, with facts and fragment includes as chips that cannot be half-edited, and writes the
whole revision as ``RevisionCreate`` JSON into one hidden field. The server decodes that field
with the very struct the API decodes its body with and calls the same use case
(`create_revision`), so a console save and an API write are checked alike; a block keeps the id
it came with, so diffs and translation drift name exactly the blocks that changed.

A save names its base (the head the editor opened). When another save got there first, the
page answers 409 with what changed in the head since that base (the use case's diff) and the
editor's own blocks still in the form; "re-apply" sets the form's base to the head, and the
next save goes through.
"""

from __future__ import annotations

from typing import Any

import msgspec
from babel import Locale, UnknownLocaleError
from litestar import Request, Response, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from markupsafe import Markup

from schemas.blocks import Block
from schemas.documents import DocumentCreate, DocumentOut, DocumentQuery, PreviewRequest, RevisionCreate
from schemas.sites import SiteOut
from services.content.console.controllers import SignedInController
from services.content.console.forms import EditorForm, NewDocumentForm, PreviewForm
from services.content.console.templating import page
from services.content.domain.access import Action, Principal
from services.content.domain.errors import DomainError, LocaleNotOnSite, NotFound, StaleBase
from services.content.domain.facts import GLOBAL_SCOPE
from services.content.domain.formatting import format_fact
from services.content.domain.messages import N_, Message
from services.content.http.dependencies import DB, Caller, PathNumber
from services.content.http.problems import status_of
from services.content.storage.database import Database
from services.content.usecases import preview as previews
from services.content.usecases.delivery import Delivery
from services.content.usecases.document_list import list_documents
from services.content.usecases.documents import checked_locale, create_document, get_document
from services.content.usecases.facts import list_facts
from services.content.usecases.revisions import create_revision, get_revision, rebased_edit
from services.content.usecases.sites import get_site, sites_for
from services.content.usecases.variant_timeline import Comparison, compare_revisions

UNREADABLE = N_("This edit could not be read: {problem}. Correct it and save again; your text is still in the form.")
REBASED = N_("Your edit is now based on revision {head}, the latest. Check it against the changes above, then save.")
CONFLICT = N_(
    "Someone saved revision {head} while you were editing (you started from revision {base}). "
    "Your edit is kept below and was not saved."
)
CONFLICT_NEW = N_(
    "Someone created this version while you were editing (it is now at revision {head}). "
    "Your edit is kept below and was not saved."
)
NOT_ON_SITE = N_("site '{site}' has no locale '{locale}' (it has {locales})")
NO_KIND = N_("Choose whether to create a page or a fragment.")
NO_NAME = N_("Enter the page's address (slug) or the fragment's key: lower-case letters, digits and hyphens.")
BAD_NAME = N_(
    "'{name}' cannot be an address or key: use lower-case letters, digits and hyphens, starting with a letter or digit."
)

CHANGE_WORDS = {
    "added": N_("Added"),
    "removed": N_("Removed"),
    "moved": N_("Moved"),
    "changed": N_("Changed"),
    "moved_and_changed": N_("Moved and changed"),
}
BLOCK_WORDS = {
    "heading": N_("Heading"),
    "paragraph": N_("Paragraph"),
    "list": N_("List"),
    "fragment": N_("Fragment"),
}


class FactChoice(msgspec.Struct, frozen=True):
    """A fact of the picker: its key, scope, type and current value as the variant's locale writes it."""

    key: str
    scope: str
    type: str
    shown: str


class DiffLine(msgspec.Struct, frozen=True):
    """One changed block of a conflict's diff, ready for the template (words, or the block's text)."""

    change: str
    block_type: str
    block_id: str
    words: list[tuple[str, str]]


def _babel_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse(tag.split("-")[0])


async def _facts_for(db: Database, site: SiteOut | None, locale: str) -> list[FactChoice]:
    """The facts a block of this document may name, each formatted as the variant's locale shows it."""
    chosen: dict[str, Any] = {}
    for fact in await list_facts(db, None):
        if site is not None and fact.scope not in (GLOBAL_SCOPE, site.key):
            continue
        if fact.key in chosen and fact.scope == GLOBAL_SCOPE:
            continue  # the site's own fact hides a global one of the same key on its pages
        chosen[fact.key] = fact
    babel = _babel_locale(locale)
    fallback = site.fallback if site is not None else []
    return [
        FactChoice(fact.key, fact.scope, fact.type, format_fact(fact.value, babel, None, fallback))
        for key, fact in sorted(chosen.items())
    ]


async def _fragment_keys(db: Database, principal: Principal, document: DocumentOut) -> list[str]:
    """The shared fragments the token may see (a fragment's own key left out: it cannot include itself)."""
    found = await list_documents(db, principal, DocumentQuery(kind="fragment", limit=200))
    return sorted(item.key for item in found.items if item.key is not None and item.id != document.id)


async def _site_and_locales(
    db: Database, principal: Principal, document: DocumentOut
) -> tuple[SiteOut | None, list[str]]:
    if document.site is not None:
        site = await get_site(db, document.site)
        return site, list(site.locales)
    locales: list[str] = [document.source_locale]
    for each in await sites_for(db, principal):
        locales += [tag for tag in each.locales if tag not in locales]
    return None, locales


def _payload(title: str, blocks: list[Block], base: int | None, source: int | None) -> str:
    body = {"title": title, "blocks": blocks, "message": "", "base_revision": base, "source_revision": source}
    return msgspec.json.encode(body).decode()


def _diff_lines(comparison: Comparison) -> list[DiffLine]:
    lines: list[DiffLine] = []
    for change in comparison.diff.blocks:
        words: list[tuple[str, str]]
        if change.words is not None:
            words = [(word.op, word.text) for word in change.words]
        elif change.change == "removed" and change.block_id in comparison.old_texts:
            words = [("delete", comparison.old_texts[change.block_id])]
        elif change.block_id in comparison.new_texts:
            op: str = "insert" if change.change == "added" else "equal"
            words = [(op, comparison.new_texts[change.block_id])]
        else:
            words = []
        lines.append(DiffLine(change.change, change.block_type, change.block_id, words))
    return lines


class EditorController(SignedInController):
    """The editor of a variant, its live preview, and the form that creates a page or fragment."""

    path = "/"

    async def _editor(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        document_id: int,
        locale: str,
        *,
        kept: str | None = None,
        error: Message | None = None,
        notice: Message | None = None,
        conflict: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Template:
        document = await get_document(db, principal, document_id)
        site, locales = await _site_and_locales(db, principal, document)
        tag = checked_locale(locale, None)
        if site is not None and tag not in site.locales:
            raise LocaleNotOnSite(
                Message(NOT_ON_SITE, site=site.key, locale=tag, locales=", ".join(site.locales)),
                locale=tag,
                site_locales=site.locales,
            )
        variants = {variant.locale: variant for variant in document.variants}
        variant = variants.get(tag)
        source = variants.get(document.source_locale)
        is_translation = tag != document.source_locale
        head = None
        if variant is not None and variant.head_revision is not None:
            head = await get_revision(db, principal, document.id, tag, variant.head_revision)
        if kept is None:
            source_revision = None
            if is_translation:
                source_revision = head.source_revision if head is not None else None
                if source_revision is None and source is not None:
                    source_revision = source.head_revision
            kept = _payload(
                head.title if head else "",
                list(head.blocks) if head else [],
                head.number if head else None,
                source_revision,
            )
        action = Action.WRITE_TRANSLATION if is_translation else Action.WRITE_SOURCE
        site_key = site.key if site else None
        may_save = principal.allows(action, site=site_key, locale=tag)
        context = {
            "document": document,
            "site": site,
            "locale": tag,
            "locales": locales,
            "is_translation": is_translation,
            "head": head,
            "payload": kept,
            "kept": error is not None or conflict is not None or notice is not None,
            "facts": await _facts_for(db, site, tag),
            "fragments": await _fragment_keys(db, principal, document),
            "may_save": may_save,
            "may_publish": principal.allows(Action.PUBLISH, site=site_key),
            "error": error,
            "notice": notice,
            "conflict": conflict,
            "saved": request.query_params.get("saved"),
            "change_words": CHANGE_WORDS,
            "block_words": BLOCK_WORDS,
        }
        return page(request, "editor.html", context, status)

    @get("/documents/{document_id:int}/{locale:str}/edit", name="console:edit")
    async def edit(
        self, request: Request[Any, Any, Any], db: DB, principal: Caller, document_id: PathNumber, locale: FromPath[str]
    ) -> Template:
        """The editor of one variant, opened on its head (an empty form for a locale with no revision yet)."""
        return await self._editor(request, db, principal, document_id, locale)

    @post("/documents/{document_id:int}/{locale:str}/edit", status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        document_id: PathNumber,
        locale: FromPath[str],
        data: URLEncodedBody[EditorForm],
    ) -> Response[Any]:
        """Save the form as a new revision on its base; or, with ``action=rebase``, base the kept form on the head."""
        try:
            body = msgspec.json.decode(data.revision, type=RevisionCreate)
        except msgspec.DecodeError as exc:
            problem = Message(UNREADABLE, problem=str(exc))
            return await self._editor(
                request, db, principal, document_id, locale, kept=data.revision, error=problem, status=422
            )
        if data.action == "rebase":
            try:
                rebased = await rebased_edit(db, principal, document_id, locale, body)
            except DomainError as exc:
                return await self._editor(
                    request,
                    db,
                    principal,
                    document_id,
                    locale,
                    kept=data.revision,
                    error=exc.message,
                    status=status_of(exc),
                )
            return await self._editor(
                request,
                db,
                principal,
                document_id,
                locale,
                kept=msgspec.json.encode(rebased).decode(),
                notice=Message(REBASED, head=rebased.base_revision),
            )
        try:
            written = await create_revision(db, principal, document_id, locale, body, None)
        except StaleBase as exc:
            return await self._conflict(request, db, principal, document_id, locale, data.revision, body, exc)
        except DomainError as exc:
            return await self._editor(
                request,
                db,
                principal,
                document_id,
                locale,
                kept=data.revision,
                error=exc.message,
                status=status_of(exc),
            )
        target = f"/console/documents/{document_id}/{written.revision.locale}/edit?saved={written.revision.number}"
        return Redirect(target, status_code=303)

    async def _conflict(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        document_id: int,
        locale: str,
        payload: str,
        body: RevisionCreate,
        exc: StaleBase,
    ) -> Template:
        document = await get_document(db, principal, document_id)
        head = next((v.head_revision for v in document.variants if v.locale == locale), None)
        base = body.base_revision
        lines: list[DiffLine] = []
        title_words: list[tuple[str, str]] = []
        if head is not None and base is not None and base < head:
            comparison = await compare_revisions(db, principal, document_id, locale, base, head)
            lines = _diff_lines(comparison)
            title_words = [(word.op, word.text) for word in comparison.diff.title_words or []]
            sentence = Message(CONFLICT, head=head, base=base)
        else:
            sentence = Message(CONFLICT_NEW, head=head or 0)
        conflict = {"head": head, "base": base, "lines": lines, "title_words": title_words, "sentence": sentence}
        return await self._editor(
            request, db, principal, document_id, locale, kept=payload, conflict=conflict, status=409
        )

    @post("/documents/{document_id:int}/{locale:str}/preview", status_code=200)
    async def preview(
        self,
        request: Request[Any, Any, Any],
        principal: Caller,
        document_id: PathNumber,
        locale: FromPath[str],
        data: URLEncodedBody[PreviewForm],
    ) -> Template:
        """The editor's unsaved revision rendered by the delivery renderer, in the chosen locale (an htmx fragment)."""
        shown = data.preview_locale or locale
        delivery: Delivery = request.app.state.delivery  # the app's, render inputs and all (no cache is written)
        try:
            body = msgspec.json.decode(data.revision, type=RevisionCreate)
            unsaved = PreviewRequest(title=body.title, blocks=body.blocks, source_revision=body.source_revision)
            render = await previews.preview(delivery, principal, document_id, shown, body=unsaved)
        except msgspec.DecodeError as exc:
            return page(
                request,
                "editor_preview.html",
                {"render": None, "html": None, "problem": Message(UNREADABLE, problem=str(exc))},
            )
        except DomainError as exc:
            return page(request, "editor_preview.html", {"render": None, "html": None, "problem": exc.message})
        # The render's HTML is the delivery renderer's: every text in it was escaped when it was built.
        return page(request, "editor_preview.html", {"render": render, "html": Markup(render.html), "problem": None})  # noqa: S704

    @get("/sites/{site_key:str}/new", name="console:new-document")
    async def new_document_form(
        self, request: Request[Any, Any, Any], db: DB, principal: Caller, site_key: FromPath[str]
    ) -> Template:
        """The form that creates a page of this site, or a shared fragment."""
        site = await _visible_site(db, principal, site_key)
        return page(
            request,
            "new_document.html",
            {"site": site, "error": None, "form": NewDocumentForm(source_locale=site.default_locale)},
        )

    @post("/sites/{site_key:str}/new", status_code=303)
    async def new_document(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        principal: Caller,
        site_key: FromPath[str],
        data: URLEncodedBody[NewDocumentForm],
    ) -> Response[Any]:
        """Create the page or fragment, then open its editor in the source locale."""
        site = await _visible_site(db, principal, site_key)
        name = data.name.strip()
        error: Message | None = None
        status = 400
        if data.kind not in ("page", "fragment"):
            error = Message(NO_KIND)
        elif not name:
            error = Message(NO_NAME)
        else:
            raw = {"kind": data.kind, "source_locale": data.source_locale or site.default_locale}
            raw |= {"site": site.key, "slug": name} if data.kind == "page" else {"key": name}
            try:
                body = msgspec.convert(raw, DocumentCreate)
            except msgspec.ValidationError:
                error = Message(BAD_NAME, name=name)
            else:
                try:
                    created = await create_document(db, principal, body)
                except DomainError as exc:
                    error, status = exc.message, status_of(exc)
                else:
                    return Redirect(f"/console/documents/{created.id}/{created.source_locale}/edit", status_code=303)
        return page(request, "new_document.html", {"site": site, "error": error, "form": data}, status)


async def _visible_site(db: Database, principal: Principal, site_key: FromPath[str]) -> SiteOut:
    for site in await sites_for(db, principal):
        if site.key == site_key:
            return site
    raise NotFound(Message(N_("site '{site}' does not exist"), site=site_key))
