"""Typed, language-neutral fact values.

A fact's value is stored once and formatted per locale at render time, so the
French and English pages can never disagree on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from schemas.text import EMAIL_ADDRESS, HTTP_URL, NO_CONTROL_CHARACTERS, whole

FactType = Literal["integer", "decimal", "date", "year", "territories", "text", "url", "email"]

TerritoryCode = Annotated[
    str, msgspec.Meta(pattern=whole("[A-Z]{2}"), description="ISO 3166-1 alpha-2 code, e.g. 'NP'.")
]
DecimalString = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"-?[0-9]{1,18}(\.[0-9]{1,12})?"), description="Decimal number as a string, e.g. '12.5'."
    ),
]
LocaleTag = Annotated[
    str,
    msgspec.Meta(
        pattern=whole("[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*"),
        max_length=35,
        description="BCP 47 language tag, e.g. 'fr' or 'fr-CA'.",
        examples=["fr", "en"],
    ),
]


LocalizedString = Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_CONTROL_CHARACTERS)]


class IntegerValue(msgspec.Struct, tag="integer", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A whole number, grouped per locale (1,000 / 1 000)."""

    value: Annotated[int, msgspec.Meta(ge=-(10**15), le=10**15)]


class DecimalValue(msgspec.Struct, tag="decimal", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A decimal number kept exact as a string."""

    value: DecimalString


class DateValue(msgspec.Struct, tag="date", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A calendar date (ISO 8601)."""

    value: dt.date


class YearValue(msgspec.Struct, tag="year", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A year, never grouped (2001, not 2,001)."""

    value: Annotated[int, msgspec.Meta(ge=1, le=9999)]


class TerritoriesValue(msgspec.Struct, tag="territories", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """An ordered list of countries or territories by ISO 3166 code."""

    value: Annotated[list[TerritoryCode], msgspec.Meta(min_length=1, max_length=300)]


class TextValue(msgspec.Struct, tag="text", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """Localized text: one plain-text string per locale."""

    value: Annotated[dict[LocaleTag, LocalizedString], msgspec.Meta(min_length=1)]


class UrlValue(msgspec.Struct, tag="url", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """An http(s) URL."""

    value: Annotated[str, msgspec.Meta(pattern=HTTP_URL, max_length=2000)]


class EmailValue(msgspec.Struct, tag="email", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """An e-mail address."""

    value: Annotated[str, msgspec.Meta(pattern=EMAIL_ADDRESS, max_length=320)]


FactValue = IntegerValue | DecimalValue | DateValue | YearValue | TerritoriesValue | TextValue | UrlValue | EmailValue


FactScope = Annotated[
    str,
    msgspec.Meta(
        pattern=whole("[a-z0-9][a-z0-9-]{0,62}"),
        description="'global', or the key of the one site the fact belongs to.",
        examples=["global", "in-new-delhi"],
    ),
]


class FactCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/facts``: a new fact and its first version."""

    key: Annotated[str, msgspec.Meta(pattern=whole("[a-z0-9][a-z0-9_.-]{0,99}"))]
    value: FactValue
    scope: FactScope = "global"
    message: Annotated[str, msgspec.Meta(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = ""


class FactUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /v1/facts/{scope}/{key}``: a new version of an existing fact.

    ``base_version`` (or ``If-Match``) must name the current version.
    """

    value: FactValue
    base_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = ""


class FactVersionOut(msgspec.Struct):
    """One immutable version of a fact."""

    version: int
    value: FactValue
    author: str
    message: str
    created_at: dt.datetime


class FactOut(msgspec.Struct):
    """A fact with its current version."""

    key: str
    scope: str
    type: FactType
    version: int
    value: FactValue
    updated_at: dt.datetime
    etag: str


class FactHistory(msgspec.Struct):
    """The versions of a fact, newest first."""

    key: str
    scope: str
    versions: list[FactVersionOut]
