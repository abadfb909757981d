"""BCP 47 language tags, validated and normalised with Babel."""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale, UnknownLocaleError

from services.content.domain.errors import InvalidLocale
from services.content.domain.messages import N_, Message

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


@lru_cache(maxsize=1024)
def babel_locale(tag: str) -> Locale:
    """Return Babel's locale for a BCP 47 tag, or raise `InvalidLocale`."""
    if not _TAG.match(tag):
        raise InvalidLocale(Message(N_("'{tag}' is not a BCP 47 language tag"), tag=tag), locale=tag)
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError) as exc:
        raise InvalidLocale(Message(N_("'{tag}' is not a locale Babel knows"), tag=tag), locale=tag) from exc


def normalize_locale(tag: str) -> str:
    """Canonical BCP 47 spelling of ``tag`` ('FR-ca' -> 'fr-CA')."""
    return str(babel_locale(tag)).replace("_", "-")
