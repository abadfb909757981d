"""The demo embassy website: the demo agent's folder served read-only on 127.0.0.1 (``liaison dev``).

aiohttp's static file handler serves the files (content types, ETag and Last-Modified, no
directory listing, no symlinks, nothing above the folder); around it this module refuses every
path with a segment starting with a dot (the agent's state file, its temporary files, any
dot-file), sends ``nosniff`` and a strict Content-Security-Policy on every answer, and
redirects ``/`` to the default locale's index.

It is for trying Liaison on one machine. A real website serves the agent's folder with its
own web server (docs/production.md), with the same rule about dot-files.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from schemas.sites import SiteWebsite
from services.content.domain.access import Principal
from services.content.storage.database import Database
from services.content.usecases import sites
from services.sync.site_pages import INDEX_PAGE

DEFAULT_PORT = 8080
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A reload shows the agent's latest write (the ETag makes it cheap).
    "Cache-Control": "no-cache",
}
TEXT_TYPES = ("text/html", "text/css", "text/plain", "application/json", "application/xml", "text/xml")
"""Types sent with ``charset=utf-8``: the agent writes UTF-8, and its fragments have no ``<meta charset>``."""
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@web.middleware
async def _no_dot_files(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404 for any path with a segment starting with '.', however it is encoded (``request.path`` is decoded)."""
    if any(segment.startswith(".") for segment in request.path.split("/")):
        raise web.HTTPNotFound()
    response: web.StreamResponse = await handler(request)
    return response


async def _headers(_request: web.Request, response: web.StreamResponse) -> None:
    """The security headers and the charset, on every answer (errors and redirects included)."""
    response.headers.update(SECURITY_HEADERS)
    content_type = response.headers.get("Content-Type", "")
    if content_type.split(";")[0] in TEXT_TYPES and "charset" not in content_type:
        response.headers["Content-Type"] = f"{content_type}; charset=utf-8"


def demo_site_app(folder: Path, default_locale: str | None = None) -> web.Application:
    """The app serving ``folder``; ``/`` goes to ``<default_locale>/index.html`` (the first locale's without one)."""
    folder = folder.resolve()
    app = web.Application(middlewares=[_no_dot_files])
    app.on_response_prepare.append(_headers)

    async def home(_request: web.Request) -> web.StreamResponse:
        locale = default_locale
        if locale is None or not (folder / locale / INDEX_PAGE).is_file():
            found = sorted(path.parent.name for path in folder.glob(f"*/{INDEX_PAGE}"))
            locale = found[0] if found else None
        if locale is None:
            raise web.HTTPNotFound(text="the site agent has written no page yet; reload in a moment")
        raise web.HTTPFound(f"/{locale}/{INDEX_PAGE}")

    app.router.add_get("/", home)
    app.router.add_static("/", folder, show_index=False, follow_symlinks=False)
    return app


def serve(folder: Path, host: str, port: int, default_locale: str | None) -> None:
    """Serve ``folder`` until SIGINT or SIGTERM."""
    folder.mkdir(parents=True, exist_ok=True)
    web.run_app(demo_site_app(folder, default_locale), host=host, port=port, print=None, access_log=None)


async def aim_demo_site(db: Database, site_key: str, address: str) -> str | None:
    """Point a demo site's website at ``address`` when it names another local address; return its default locale.

    Only a website on this machine (127.0.0.1, localhost) is moved, so that the links of the
    renders work when the demo website listens on another port than the seeded one; a real
    website's address is never touched.
    """
    site = await sites.get_site(db, site_key)
    current = site.website_url
    if current is not None and current != address and urlsplit(current).hostname in LOOPBACK:
        body = SiteWebsite(website_url=address, page_url_pattern=site.page_url_pattern)
        await sites.set_website(db, Principal.system("liaison dev"), site_key, body)
    return site.default_locale
