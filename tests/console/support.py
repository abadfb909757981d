"""Helpers of the console tests: signing in over HTTP, reading the CSRF token a page carries."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a console page."""
    found = CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: Any, secret: str, **headers: str) -> httpx.Response:
    """Sign in the way a browser does: GET the form (CSRF cookie and token), POST the secret; the POST's answer."""
    form = await client.get("/console/sign-in", headers=headers)
    assert form.status_code == 200, form.text
    response: httpx.Response = await client.post(
        "/console/sign-in", data={"token": secret, "_csrf_token": csrf_of(form.text), "next": "/console"}
    )
    return response


def secret_of(header: dict[str, str]) -> str:
    """The token secret in an ``Authorization: Bearer`` header made by the ``make_token`` fixture."""
    return header["Authorization"].removeprefix("Bearer ")
