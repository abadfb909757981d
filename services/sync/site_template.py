"""The site template: the Jinja2 files a site agent makes complete pages with.

The default one ships in ``services/sync/site_template/``; a website replaces it with its own
folder (``liaison agent --template DIR``) holding the same names:

- ``page.html``: one page in one locale;
- ``index.html``: the list of a locale's published pages;
- ``liaison.css`` (optional): the stylesheet, copied beside the pages.

Autoescape is on for every file: only the render's ``html``, which the content service's
renderer has already escaped, reaches a template as markup (`SitePages` marks it safe).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2

DEFAULT_FOLDER = Path(__file__).with_name("site_template")
PAGE = "page.html"
INDEX = "index.html"
STYLESHEET = "liaison.css"
PAGES_FORMAT = "1"
"""Changes when what the agent hands the templates changes, so that pages written before are rewritten."""


class TemplateError(Exception):
    """A template folder that cannot be used (a file missing)."""


class SiteTemplate:
    """The templates of one folder, and the hash of their content (what the agent's state records)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = (folder or DEFAULT_FOLDER).resolve()
        missing = [name for name in (PAGE, INDEX) if not (self.folder / name).is_file()]
        if missing:
            raise TemplateError(f"template folder {self.folder} has no {', '.join(missing)}")
        self._environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.folder),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a misspelt variable fails loudly instead of writing nothing
            keep_trailing_newline=True,
        )
        for name in (PAGE, INDEX):
            try:
                self._environment.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{self.folder / name}, line {exc.lineno}: {exc.message}") from exc
        self.hash = self._hash()

    def _hash(self) -> str:
        """SHA-256 over every file of the folder (names and bytes) and `PAGES_FORMAT`."""
        digest = hashlib.sha256(PAGES_FORMAT.encode())
        for path in sorted(self.folder.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(self.folder).parts):
                digest.update(path.relative_to(self.folder).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()

    def page(self, **context: Any) -> str:
        """``page.html`` with ``context``."""
        return self._environment.get_template(PAGE).render(**context)

    def index(self, **context: Any) -> str:
        """``index.html`` with ``context``."""
        return self._environment.get_template(INDEX).render(**context)

    def stylesheet(self) -> bytes | None:
        """The bytes of ``liaison.css``, when the folder has one."""
        path = self.folder / STYLESHEET
        return path.read_bytes() if path.is_file() else None
