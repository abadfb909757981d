"""The session cookie and the guard of signed-in pages.

The cookie holds the session id (never logged, stored only hashed by
`usecases.console_sessions`): HttpOnly, SameSite=Strict, ``Path=/console``, and Secure when the
request came over HTTPS or the service's public URL is ``https://``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler

from services.content.console.config import ConsoleConfig
from services.content.domain.access import Principal
from services.content.storage.database import Database
from services.content.usecases.console_sessions import SessionEnded, session_principal

SESSION_COOKIE = "liaison_session"
COOKIE_PATH = "/console"
SIGN_IN_PATH = "/console/sign-in"


class SignInRequired(Exception):
    """The page needs a session and the request has none (or one that just ended)."""

    def __init__(self, ended: bool) -> None:
        super().__init__("sign in required")
        self.ended = ended


def console_config(connection: ASGIConnection[Any, Any, Any, Any]) -> ConsoleConfig:
    """The console's configuration, set on the app's state by the plugin."""
    config: ConsoleConfig = connection.app.state.console
    return config


def is_secure(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether cookies set for this request must be ``Secure``."""
    return connection.url.scheme == "https" or console_config(connection).behind_https


def session_cookie(connection: ASGIConnection[Any, Any, Any, Any], session_id: str) -> Cookie:
    """The cookie that carries a new session's id (for the browser's session only)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=session_id,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_secure(connection),
    )


def clear_session_cookie(response: Response[Any], connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Tell the browser to forget its session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the request's session must be live and its token valid now; then its principal is on the state."""
    session_id = connection.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInRequired(ended=False)
    config = console_config(connection)
    db: Database = connection.app.state.db
    try:
        principal = await session_principal(db, session_id, config.clock(), config.idle)
    except SessionEnded:
        raise SignInRequired(ended=True) from None
    connection.state.console_principal = principal


def provide_session_principal(request: Request[Any, Any, Any]) -> Principal:
    """The signed-in token's principal (the console's ``principal`` dependency; the guard found it)."""
    principal: Principal = request.state.console_principal
    return principal
