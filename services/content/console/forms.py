"""The bodies of the console's forms (``application/x-www-form-urlencoded``).

These are not contracts, so they stay out of ``schemas/``. Unknown fields are allowed: every
form also carries ``_csrf_token``, which the CSRF middleware reads first.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

NEXT_MAX = 2000

Next = Annotated[str, msgspec.Meta(max_length=NEXT_MAX)]


class SignInForm(msgspec.Struct, kw_only=True):
    """The sign-in form: a token's secret, and the console page to go back to."""

    token: Annotated[str, msgspec.Meta(max_length=200)] = ""
    next: Next = ""


class LanguageForm(msgspec.Struct, kw_only=True):
    """The language switch: a catalog locale, and the page to show again in it."""

    lang: Annotated[str, msgspec.Meta(max_length=35)]
    next: Next = ""


def console_path(target: str, default: str = "/console") -> str:
    """``target`` if it is a path of the console (so a form cannot send anyone elsewhere), else ``default``."""
    path = target.split("#", 1)[0]
    if (path == "/console" or path.startswith("/console/")) and "\\" not in path and "//" not in path:
        return path
    return default
