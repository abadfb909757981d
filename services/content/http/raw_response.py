"""A minimal ASGI response for the read hot path: header bytes prepared once per render."""

from __future__ import annotations

from litestar.types import Receive, Scope, Send

RawHeaders = list[tuple[bytes, bytes]]


class RawResponse:
    """Sends a status, prepared headers and a body; nothing is computed per request.

    Litestar passes an ASGI callable returned by a handler straight to the server,
    which is what makes a cached page cost about as much as a static route.
    """

    __slots__ = ("_body", "_start")

    def __init__(self, status: int, headers: RawHeaders, body: bytes = b"") -> None:
        self._start = {"type": "http.response.start", "status": status, "headers": headers}
        self._body = {"type": "http.response.body", "body": body, "more_body": False}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response."""
        await send(self._start)  # type: ignore[arg-type]
        await send(self._body)  # type: ignore[arg-type]
