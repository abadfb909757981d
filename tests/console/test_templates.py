"""Every console template can be served under the strict policy: no inline script, style or handler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.content.console.templating import TEMPLATE_DIRECTORY

TEMPLATES = sorted(TEMPLATE_DIRECTORY.rglob("*.html"))

INLINE = {
    "an inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "a style element": re.compile(r"<style\b", re.IGNORECASE),
    "a style attribute": re.compile(r"\sstyle=", re.IGNORECASE),
    "an event handler attribute": re.compile(r"\son[a-z]+=", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "htmx's own script attributes": re.compile(r"\s(hx|data-hx)-(on|vals=['\"]js:)", re.IGNORECASE),
    "escaping switched off": re.compile(r"\|\s*safe\b|autoescape\s+false", re.IGNORECASE),
    "a file from another host": re.compile(r"(src|href|action)=[\"']?(https?:)?//", re.IGNORECASE),
}


def test_there_are_templates() -> None:
    assert {path.name for path in TEMPLATES} >= {"base.html", "sign_in.html", "sites.html", "error.html"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.relative_to(TEMPLATE_DIRECTORY)))
def test_a_template_has_nothing_the_policy_would_block(template: Path) -> None:
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template.name} has {', '.join(found)}"
