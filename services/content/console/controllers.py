"""The console's own pages (sign-in, sign-out, language, sites) and the base class of every signed-in page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from services.content import i18n
from services.content.console.assets import IMMUTABLE, Assets
from services.content.console.forms import NEXT_MAX, LanguageForm, SignInForm, console_path
from services.content.console.security import CSRF_COOKIE
from services.content.console.session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    clear_session_cookie,
    console_config,
    is_secure,
    session_cookie,
    signed_in,
)
from services.content.console.templating import LANGUAGE_COOKIE, page
from services.content.domain.errors import Unauthenticated
from services.content.domain.messages import N_, Message
from services.content.http.dependencies import DB, Caller
from services.content.usecases.console_sessions import close_session, open_session
from services.content.usecases.sites import sites_for

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600

NO_TOKEN = N_("Enter the secret of your token (it starts with lsn_).")
WRONG_TOKEN = N_(
    "This token is unknown or revoked. Check that you pasted it whole, or ask an administrator for a new one "
    "(liaison token create)."
)
SESSION_ENDED = N_(
    "Your session has ended: it was idle for too long, or its token was revoked. Sign in again to go on."
)

ROLE_NAMES = (N_("reader"), N_("translator"), N_("editor"), N_("admin"))
"""The roles as ``base.html`` shows them (``_(principal.role.value)``), marked for the catalogs."""


class SignedInController(Controller):
    """Base of every page that needs a session: the guard runs before each handler.

    Handlers then take ``principal: Caller`` (the session's token) and ``db: DB``, call the
    use cases with them, and return `page`.
    """

    guards = [signed_in]


class ConsoleController(SignedInController):
    """The console's home: the sites the token may see."""

    path = "/"

    @get("/", name="console:sites")
    async def sites(self, request: Request[Any, Any, Any], db: DB, principal: Caller) -> Template:
        """The sites the signed-in token may see, each linking to its documents and facts."""
        return page(request, "sites.html", {"sites": await sites_for(db, principal)})


class SessionController(Controller):
    """Signing in and out, and the language switch (which works before signing in too)."""

    path = "/"

    @get("/sign-in", name="console:sign-in")
    async def sign_in_form(
        self,
        request: Request[Any, Any, Any],
        next_page: Annotated[str, QueryParameter(name="next", max_length=NEXT_MAX)] = "",
        ended: FromQuery[bool] = False,
    ) -> Template:
        """The sign-in form (a GET also gives the browser its CSRF cookie)."""
        notice = Message(SESSION_ENDED) if ended else None
        return page(request, "sign_in.html", {"next": console_path(next_page), "error": None, "notice": notice})

    @post("/sign-in", status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any], db: DB, data: URLEncodedBody[SignInForm]) -> Response[Any]:
        """Exchange the token's secret for a session; the form again, with the reason, when it is wrong."""
        target = console_path(data.next)
        secret = data.token.strip()
        if not secret:
            return page(request, "sign_in.html", {"next": target, "error": Message(NO_TOKEN), "notice": None}, 400)
        config = console_config(request)
        try:
            opened = await open_session(db, secret, config.clock(), config.idle)
        except Unauthenticated:
            return page(request, "sign_in.html", {"next": target, "error": Message(WRONG_TOKEN), "notice": None}, 401)
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:
            await close_session(db, previous)  # one browser, one session
        response: Response[Any] = Redirect(target, status_code=303)
        response.set_cookie(session_cookie(request, opened.session_id))
        # A new CSRF token for the new session: the next page gets one no one could have seen before.
        response.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)
        return response

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any], db: DB) -> Response[Any]:
        """End the session (delete it) and forget the cookie."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await close_session(db, session_id)
        response: Response[Any] = Redirect("/console/sign-in", status_code=303)
        clear_session_cookie(response, request)
        return response

    @post("/language", status_code=303)
    async def language(self, request: Request[Any, Any, Any], data: URLEncodedBody[LanguageForm]) -> Response[Any]:
        """Remember the chosen language in a cookie and show the page again in it."""
        response: Response[Any] = Redirect(console_path(data.next), status_code=303)
        if data.lang in i18n.available():
            response.set_cookie(
                LANGUAGE_COOKIE,
                data.lang,
                path="/console",
                max_age=LANGUAGE_COOKIE_SECONDS,
                httponly=True,
                samesite="strict",
                secure=is_secure(request),
            )
        return response


def asset_handler(assets: Assets) -> Any:
    """The route serving ``assets`` at their hashed names (404 for any other name)."""

    @get("/assets/{name:path}", name="console:asset", opt={"exclude_from_csrf": True}, sync_to_thread=False)
    def asset(name: FromPath[str]) -> Response[bytes]:
        """A static file of the console, cached for a year: its name changes with its content."""
        found = assets.by_hashed_name(name.lstrip("/"))
        if found is None:
            raise NotFoundException()
        return Response(content=found.content, media_type=found.media_type, headers={"Cache-Control": IMMUTABLE})

    return asset


@get("/{rest:path}", name="console:not-found", sync_to_thread=False)
def not_found(rest: FromPath[str]) -> None:
    """Any other GET below ``/console``: the console's own 404 page (with its headers), not a problem document."""
    raise NotFoundException()
