"""Sites: one embassy website each."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from schemas.facts import LocaleTag, TerritoryCode
from schemas.text import HTTP_URL, NO_CONTROL_CHARACTERS, NOT_IN_MACHINE_STRINGS, whole

SiteKey = Annotated[
    str,
    msgspec.Meta(
        pattern=whole("[a-z0-9][a-z0-9-]{0,62}"),
        description="Site key: lower-case letters, digits and '-'. 'global' is reserved.",
        examples=["in-new-delhi"],
    ),
]

WebsiteUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=2000,
        pattern=HTTP_URL,
        description="The website's address: an absolute http or https URL, without query or fragment.",
        examples=["https://in.example.org/"],
    ),
]
PageUrlPattern = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        # The characters of a URL (schemas/text.py); which braces it holds is checked by the use case.
        pattern=whole("[^\\s<>\"'" + NOT_IN_MACHINE_STRINGS + "]+"),
        description=(
            "Where the website serves a page: an http(s) URL or a path relative to `website_url`, holding "
            "`{locale}` (the BCP 47 tag) and `{slug}`, and no other placeholder."
        ),
        examples=["https://in.example.org/{locale}/{slug}/", "/{slug}.{locale}.html"],
    ),
]


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/sites``."""

    key: SiteKey
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)]
    locales: Annotated[list[LocaleTag], msgspec.Meta(min_length=1, max_length=50)]
    default_locale: LocaleTag
    fallback: Annotated[list[LocaleTag], msgspec.Meta(max_length=50)] = []
    country: TerritoryCode | None = None
    website_url: WebsiteUrl | None = None
    page_url_pattern: PageUrlPattern | None = None


class SiteWebsite(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /v1/sites/{key}/website``: the website's address and page URL pattern (null clears them)."""

    website_url: WebsiteUrl | None = None
    page_url_pattern: PageUrlPattern | None = None


class SiteOut(msgspec.Struct):
    """A site as the API shows it (locales normalised to BCP 47)."""

    key: str
    name: str
    locales: list[str]
    default_locale: str
    fallback: list[str]
    country: str | None
    created_at: dt.datetime
    website_url: str | None = None
    """The website's address (null: renders link to the API only)."""
    page_url_pattern: str | None = None
    """Where the website serves a page (``{locale}``, ``{slug}``), relative to ``website_url`` or absolute."""
