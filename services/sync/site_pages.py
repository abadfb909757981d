"""Complete pages, per-locale indexes and the sitemap a site agent writes beside its fragments.

For every render it holds (``<slug>.<locale>.json``) the agent also writes
``<locale>/<slug>.html``: a whole HTML document made with the site template
(`site_template.py`), with its language and direction, title, description, canonical link and
``hreflang`` alternates (every published locale and ``x-default``), and the render's HTML as
its content. Around them it keeps ``<locale>/index.html`` (the locale's published pages),
``sitemap.xml`` (sitemaps.org, with ``xhtml:link`` alternates) and the stylesheet.

Links are the website's URLs when the site has a page URL pattern (the render's alternates
say so: their ``url`` is then not the API's ``api_url``); otherwise pages link to each other
by relative paths, and the sitemap, which needs absolute URLs, lists nothing.

The event's ETag covers the render, not the template: the agent records the template's hash
in its state and rewrites every page from its stored renders when it starts with another one.

Renders are decoded into narrow structs of what the pages use, so a render from a newer
service (a block or fact type this agent does not know) still makes its page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import msgspec
from babel import Locale, UnknownLocaleError
from markupsafe import Markup

from services.content import i18n
from services.sync.agent_files import TEMPORARY_SUFFIX, fsync_folder, stage_file, sync_to_disk
from services.sync.site_template import STYLESHEET, SiteTemplate

SITEMAP = "sitemap.xml"
INDEX_PAGE = "index.html"
DESCRIPTION_LENGTH = 160
"""Characters of a page's description, at most: about what search engines show."""
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_SPACES = re.compile(r"\s+")


class _Span(msgspec.Struct):
    text: str = ""


class _Block(msgspec.Struct):
    type: str = ""
    content: list[_Span] = []


class _Alternate(msgspec.Struct):
    locale: str
    url: str
    revision: int | None = None
    api_url: str = ""


class PageSource(msgspec.Struct):
    """What a complete page uses of a render (`schemas.delivery.PageRender`); unknown fields are ignored."""

    slug: str
    locale: str
    title: str
    html: str
    published_at: dt.datetime
    blocks: list[_Block] = []
    alternates: list[_Alternate] = []
    x_default: str | None = None


_source_decoder = msgspec.json.Decoder(PageSource)


@dataclass(frozen=True, slots=True)
class Link:
    """A link of a page's head: ``hreflang`` and ``href``."""

    hreflang: str
    href: str


@dataclass(frozen=True, slots=True)
class Listed:
    """What the index and the sitemap say of one page in one locale."""

    title: str
    url: str | None
    """The website's URL (None without a page URL pattern)."""
    alternates: tuple[Link, ...]
    """Published locales with website URLs, x-default last (for the sitemap)."""
    published_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Page:
    """A complete page made from a render: its file and what the index and sitemap list of it."""

    slug: str
    locale: str
    path: Path
    data: bytes
    listed: Listed


@dataclass(slots=True)
class SiteFiles:
    """Site-wide files to write and to delete."""

    writes: list[tuple[Path, bytes]] = field(default_factory=list)
    deletes: list[Path] = field(default_factory=list)
    folders: set[Path] = field(default_factory=set)
    """Locale folders whose renames and removals must be synced before the state is saved."""
    listing: dict[tuple[str, str], Listed] | None = None
    """What the indexes and the sitemap list, when they must be written again."""


@lru_cache(maxsize=256)
def direction(locale: str) -> str:
    """``rtl`` or ``ltr``: Babel's character order for the locale (``ltr`` for a tag Babel does not know)."""
    try:
        order = Locale.parse(locale, sep="-").character_order
    except (ValueError, UnknownLocaleError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def description(blocks: Sequence[_Block], limit: int = DESCRIPTION_LENGTH) -> str:
    """The first paragraph as plain text, cut on a word boundary to at most ``limit`` characters."""
    for block in blocks:
        if block.type == "paragraph":
            text = _SPACES.sub(" ", "".join(span.text for span in block.content)).strip()
            if text:
                break
    else:
        return ""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-\u2013\u2014") + "…"


def words(locale: str) -> dict[str, str]:
    """The agent's own words around a page, in the locale's language (English without a catalog).

    ``lang`` is their language: the page's when there is a catalog for it, the catalog's otherwise
    (the template then marks them with a ``lang`` attribute).
    """
    catalog = i18n.ui_locale(locale)
    _ = i18n.translator(catalog)
    lang = locale if catalog.split("-")[0] == locale.split("-")[0] else catalog
    return {"lang": lang, "skip": _("Skip to the content"), "pages": _("Pages"), "site": _("Site")}


def sitemap(listing: dict[tuple[str, str], Listed]) -> bytes:
    """``sitemap.xml``: a ``<url>`` per page with a website URL, its alternates as ``xhtml:link``."""
    ET.register_namespace("", SITEMAP_NS)
    ET.register_namespace("xhtml", XHTML_NS)
    root = ET.Element(f"{{{SITEMAP_NS}}}urlset")
    for _key, listed in sorted(listing.items()):
        if listed.url is None:
            continue
        url = ET.SubElement(root, f"{{{SITEMAP_NS}}}url")
        ET.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = listed.url
        ET.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = (
            listed.published_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        for link in listed.alternates:
            ET.SubElement(
                url, f"{{{XHTML_NS}}}link", {"rel": "alternate", "hreflang": link.hreflang, "href": link.href}
            )
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


class SitePages:
    """Makes and keeps the complete pages, indexes and sitemap of one agent's folder.

    It keeps in memory what the index and sitemap list (`Listed`) of every page held, so a
    change rewrites them without reading every render again.
    """

    def __init__(self, out_dir: Path, template: SiteTemplate) -> None:
        self.out_dir = out_dir
        self.template = template
        self.listed: dict[tuple[str, str], Listed] = {}
        self._changed = False
        """Whether the index or the sitemap lists something else than the files say."""
        self._folders: set[Path] = set()
        """Locale folders with renames or removals not yet synced."""

    # -- pages ---------------------------------------------------------------------------------

    def page_path(self, slug: str, locale: str) -> Path:
        """``<out>/<locale>/<slug>.html``."""
        return self.out_dir / locale / f"{slug}.html"

    def page(self, body: bytes) -> Page:
        """The complete page of a render (the API's JSON bytes)."""
        source = _source_decoder.decode(body)
        published = [alternate for alternate in source.alternates if alternate.revision is not None]
        website = bool(published) and all(a.api_url and a.url != a.api_url for a in published)
        hrefs = {
            alternate.locale: alternate.url if website else self._relative(source, alternate.locale)
            for alternate in published
        }
        hrefs.setdefault(source.locale, self._relative(source, source.locale))
        x_default = next((hrefs[a.locale] for a in published if a.url == source.x_default), None)
        links = tuple(Link(locale, href) for locale, href in hrefs.items())
        text = self.template.page(
            lang=source.locale,
            dir=direction(source.locale),
            title=source.title,
            description=description(source.blocks),
            canonical=hrefs[source.locale],
            alternates=links,
            x_default=x_default,
            stylesheet=f"../{STYLESHEET}",
            index=INDEX_PAGE,
            content=Markup(source.html),  # noqa: S704 - the service's renderer escaped every text in it
            words=words(source.locale),
            site_slug=source.slug,
            published_at=source.published_at,
        )
        listed = Listed(
            source.title,
            hrefs[source.locale] if website else None,
            (*links, Link("x-default", x_default)) if website and x_default else links if website else (),
            source.published_at,
        )
        path = self.page_path(source.slug, source.locale)
        path.parent.mkdir(exist_ok=True)
        return Page(source.slug, source.locale, path, text.encode(), listed)

    @staticmethod
    def _relative(source: PageSource, locale: str) -> str:
        return f"{source.slug}.html" if locale == source.locale else f"../{locale}/{source.slug}.html"

    def written(self, page: Page) -> None:
        """Record a page whose file is in place (the index and sitemap follow at the next `site_files`)."""
        key = (page.slug, page.locale)
        if self.listed.get(key) != page.listed:
            self.listed[key] = page.listed
            self._changed = True
        self._folders.add(page.path.parent)

    def remove(self, slug: str, locale: str) -> None:
        """Delete a page that is no longer published."""
        path = self.page_path(slug, locale)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if self.listed.pop((slug, locale), None) is not None:
            self._changed = True
        self._folders.add(path.parent)

    # -- start-up ------------------------------------------------------------------------------

    def load(self, held: Iterable[str]) -> list[Page]:
        """Read the stored render of every page held (``slug.locale`` keys); return their pages.

        The listing is filled at once; the caller writes the pages only when the template changed.
        """
        pages: list[Page] = []
        for key in held:
            slug, _, locale = key.rpartition(".")
            try:
                page = self.page((self.out_dir / f"{slug}.{locale}.json").read_bytes())
            except (FileNotFoundError, msgspec.DecodeError):
                continue  # the next event of this page writes it
            self.listed[(page.slug, page.locale)] = page.listed
            pages.append(page)
        self._changed = True
        return pages

    def start(self, held: Iterable[str], template_hash: str) -> tuple[SiteFiles, int]:
        """At start-up: the site-wide files, and how many pages they hold again.

        Every page is rewritten when the template is not the one of ``template_hash`` (the state's).
        """
        self.remove_leftovers()
        pages = self.load(held)
        changed = template_hash != self.template.hash
        files = self.site_files(stylesheet=changed or not (self.out_dir / STYLESHEET).exists())
        if not changed:
            return files, 0
        files.writes[:0] = [(page.path, page.data) for page in pages]
        return files, len(pages)

    def remove_leftovers(self) -> None:
        """Delete temporary files a crashed writer left in the locale folders."""
        for folder in self.out_dir.iterdir():
            if folder.is_dir() and not folder.name.startswith("."):
                for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

    # -- site-wide files -----------------------------------------------------------------------

    def site_files(self, *, stylesheet: bool = False) -> SiteFiles:
        """What to write at the next save, and the stylesheet if asked.

        The indexes and the sitemap are in it when what they list changed since the last call;
        `write` makes them, off the event loop, from a copy of the listing.
        """
        files = SiteFiles(folders=self._folders)
        self._folders = set()
        if stylesheet and (css := self.template.stylesheet()) is not None:
            files.writes.append((self.out_dir / STYLESHEET, css))
        if self._changed:
            self._changed = False
            files.listing = dict(self.listed)
        return files

    def _listing_files(self, files: SiteFiles, listing: dict[tuple[str, str], Listed]) -> None:
        """Add the index of every locale and the sitemap of ``listing`` to ``files`` (in the writer thread)."""
        by_locale: dict[str, list[tuple[str, Listed]]] = {}
        for (slug, locale), listed in listing.items():
            by_locale.setdefault(locale, []).append((slug, listed))
        for locale, pages in sorted(by_locale.items()):
            pages.sort(key=lambda item: (item[1].title.casefold(), item[0]))
            text = self.template.index(
                lang=locale,
                dir=direction(locale),
                title=words(locale)["pages"],
                pages=[{"href": f"{slug}.html", "title": listed.title, "url": listed.url} for slug, listed in pages],
                stylesheet=f"../{STYLESHEET}",
                words=words(locale),
            )
            (self.out_dir / locale).mkdir(exist_ok=True)
            files.writes.append((self.out_dir / locale / INDEX_PAGE, text.encode()))
        for folder in self.out_dir.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in by_locale:
                files.deletes.append(folder / INDEX_PAGE)
        files.writes.append((self.out_dir / SITEMAP, sitemap(listing)))

    def write(self, files: SiteFiles) -> None:
        """Write site-wide files atomically (in the writer thread), then sync the locale folders.

        Like the renders: every file staged, one sync, then the renames; the folders are synced
        before the agent's state is saved, so a saved state never names a page whose rename is
        not on disk.
        """
        if files.listing is not None:
            self._listing_files(files, files.listing)
        staged: list[tuple[Path, Path]] = []
        try:
            for path, data in files.writes:
                staged.append((stage_file(path, data), path))
            if staged:
                sync_to_disk()
            for temporary, path in staged:
                os.replace(temporary, path)
                files.folders.add(path.parent)
        except BaseException:
            for temporary, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
            raise
        for path in files.deletes:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                files.folders.add(path.parent)
        # The agent's own folder is synced by the state's save.
        for folder in files.folders:
            if folder.is_dir():
                fsync_folder(folder)
