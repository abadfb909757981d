"""What protects every console response: CSRF tokens on forms, and strict headers.

CSRF is Litestar's double-submit check (`litestar.middleware.csrf.CSRFMiddleware`), set on the
console's router only, so the API (bearer tokens, no cookies) never needs it. A GET gives the
browser a signed token in a cookie (``Path=/console``, SameSite=Strict) and the page repeats it
in each form (``csrf_field()``) and in a meta tag htmx sends back as ``X-CSRF-Token``; a POST
without a matching token is refused (403 page) before its handler runs. The signing key is the
same on every replica: ``LIAISON_CONSOLE_SECRET``, or a hash of the database URL they share.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from litestar import Response
from litestar.config.csrf import CSRFConfig

R = TypeVar("R", bound=Response[Any])

CSRF_COOKIE = "liaison_csrf"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from another host, never framed."""

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
}
"""Sent with every console response, pages, assets and errors alike (``nosniff`` is the app's, on every response)."""

PAGE_CACHE_CONTROL = "no-store"
"""Pages show drafts and who is signed in: no cache keeps them."""


def csrf_config(secret: str, database_url: str, secure: bool) -> CSRFConfig:
    """The console's CSRF settings; ``secret`` empty: a key derived from ``database_url``."""
    key = secret or hashlib.sha256(b"liaison console csrf\0" + database_url.encode()).hexdigest()
    return CSRFConfig(
        secret=key,
        cookie_name=CSRF_COOKIE,
        cookie_path="/console",
        header_name=CSRF_HEADER,
        cookie_secure=secure,
        cookie_httponly=True,  # the pages carry the token; no script needs the cookie
        cookie_samesite="strict",
    )


def add_headers(response: R) -> R:
    """Add the console's headers to ``response`` (``no-store`` unless it set its own caching)."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    if not any(name.lower() == "cache-control" for name in response.headers):
        response.headers["Cache-Control"] = PAGE_CACHE_CONTROL
    return response


async def after_request(response: Response[Any]) -> Response[Any]:
    """The router's ``after_request`` hook: `add_headers` to every handled response."""
    return add_headers(response)
