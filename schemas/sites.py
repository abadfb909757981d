"""Sites: one embassy website each."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from schemas.facts import LocaleTag, TerritoryCode
from schemas.text import NO_CONTROL_CHARACTERS, whole

SiteKey = Annotated[
    str,
    msgspec.Meta(
        pattern=whole("[a-z0-9][a-z0-9-]{0,62}"),
        description="Site key: lower-case letters, digits and '-'. 'global' is reserved.",
        examples=["in-new-delhi"],
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


class SiteOut(msgspec.Struct):
    """A site as the API shows it (locales normalised to BCP 47)."""

    key: str
    name: str
    locales: list[str]
    default_locale: str
    fallback: list[str]
    country: str | None
    created_at: dt.datetime
