"""A site's website: its address and the URL pattern of its pages, checked and applied.

The pattern names where the website serves a page in a locale, with the placeholders
``{locale}`` (the BCP 47 tag) and ``{slug}``. An absolute pattern
(``https://in.example.org/{locale}/{slug}/``) stands alone; a relative one
(``/{slug}.{locale}.html``, ``{locale}/{slug}.html``) is resolved against the address
the way a browser resolves a link.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urljoin, urlsplit

from services.content.domain.errors import InvalidWebsite
from services.content.domain.messages import N_, Message

PLACEHOLDERS = ("{locale}", "{slug}")
_PLACEHOLDER = re.compile(r"\{locale\}|\{slug\}")
# Values the check substitutes: the longest slug and a long tag, so the resolved URL is checked as it can be.
_SAMPLE = {"{locale}": "zh-Hant-TW", "{slug}": "a-page"}


def _split(url: str, field: str) -> SplitResult:
    """``urlsplit``, with a URL it cannot read (``http://[``) refused as not an http(s) URL."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise InvalidWebsite(
            Message(N_("{field}: '{value}' is not an absolute http or https URL"), field=field, value=url)
        ) from exc


def checked_address(address: str, field: str) -> str:
    """The website's address, refused unless it is an absolute http(s) URL with a host and no query or fragment."""
    parts = _split(address, field)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebsite(
            Message(N_("{field}: '{value}' is not an absolute http or https URL"), field=field, value=address)
        )
    if parts.query or parts.fragment or address.endswith(("?", "#")):
        raise InvalidWebsite(
            Message(
                N_("{field}: '{value}' has a query or fragment; give the address alone"), field=field, value=address
            )
        )
    return address


def checked_pattern(pattern: str, address: str | None, field: str) -> str:
    """The page URL pattern, refused unless it is a URL the site's pages can be found at.

    It must hold ``{locale}`` and ``{slug}`` and no other brace, and resolve (against ``address``
    when it is relative) to an absolute http(s) URL.
    """
    leftover = _PLACEHOLDER.sub("", pattern)
    if "{" in leftover or "}" in leftover:
        raise InvalidWebsite(
            Message(
                N_("{field}: only the placeholders {{locale}} and {{slug}} may appear in braces"),
                field=field,
            )
        )
    for placeholder in PLACEHOLDERS:
        if placeholder not in pattern:
            raise InvalidWebsite(
                Message(N_("{field}: the pattern must contain {placeholder}"), field=field, placeholder=placeholder)
            )
    if "#" in pattern:
        raise InvalidWebsite(Message(N_("{field}: a page URL pattern has no fragment ('#')"), field=field))
    absolute = _split(pattern, field).scheme != ""
    if not absolute and address is None:
        raise InvalidWebsite(
            Message(N_("{field}: a relative pattern needs the site's website_url to resolve against"), field=field)
        )
    try:
        resolved = page_url(address, pattern, _SAMPLE["{locale}"], _SAMPLE["{slug}"])
    except ValueError as exc:
        raise InvalidWebsite(
            Message(N_("{field}: '{value}' does not give an http or https URL"), field=field, value=pattern)
        ) from exc
    parts = _split(resolved, field)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebsite(
            Message(N_("{field}: '{value}' does not give an http or https URL"), field=field, value=pattern)
        )
    return pattern


def page_url(address: str | None, pattern: str, locale: str, slug: str) -> str:
    """The website's URL of ``slug`` in ``locale`` (the slug and tag are URL-safe by their own rules)."""
    values = {"{locale}": locale, "{slug}": slug}
    filled = _PLACEHOLDER.sub(lambda match: values[match.group(0)], pattern)
    return urljoin(address, filled) if address is not None else filled
