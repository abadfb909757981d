"""A complete ``Allow`` header on the answers to ``OPTIONS``."""

from __future__ import annotations

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def complete_allow(app: Litestar, inner: ASGIApp) -> ASGIApp:
    """Wrap ``inner`` so that ``OPTIONS`` lists every method of the route.

    Litestar 2 makes a route's ``OPTIONS`` handler when the route's first handler is registered,
    and it keeps answering with the methods known at that moment: ``OPTIONS /v1/sites`` said
    ``OPTIONS, POST`` without ``GET``. The methods are read here from the finished routes.
    """
    allowed: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            allowed.setdefault(route.path_format, set()).update(route.methods)
    headers = {template: ", ".join(sorted(methods)).encode() for template, methods in allowed.items()}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "OPTIONS":
            await inner(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 204:
                allow = headers.get(str(scope.get("path_template")))
                if allow is not None:
                    kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"allow"]
                    message["headers"] = [*kept, (b"allow", allow)]
            await send(message)

        await inner(scope, receive, send_with_allow)

    return middleware
