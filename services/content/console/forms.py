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


PAYLOAD_MAX = 1_000_000
"""Longest serialised revision an editor form may carry (the app's body limit applies first)."""


class EditorForm(msgspec.Struct, kw_only=True):
    """The editor's form: the blocks as ``RevisionCreate`` JSON (written by ``static/editor.js``), and the action.

    ``action`` is ``save`` (write a revision) or ``rebase`` (keep the blocks, base them on the head).
    """

    revision: Annotated[str, msgspec.Meta(max_length=PAYLOAD_MAX)] = ""
    action: Annotated[str, msgspec.Meta(max_length=20)] = "save"


class PreviewForm(msgspec.Struct, kw_only=True):
    """The live preview's request: the editor's unsaved revision and the locale to show it in."""

    revision: Annotated[str, msgspec.Meta(max_length=PAYLOAD_MAX)] = ""
    preview_locale: Annotated[str, msgspec.Meta(max_length=35)] = ""


class NewDocumentForm(msgspec.Struct, kw_only=True):
    """The "new page or fragment" form of a site: the kind, a page's slug or a fragment's key, the source locale."""

    kind: Annotated[str, msgspec.Meta(max_length=20)] = "page"
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    source_locale: Annotated[str, msgspec.Meta(max_length=35)] = ""
