"""BCP 47 language tags, validated and normalised with Babel.

A tag is kept as it was sent, in its canonical spelling ('FR-ca' -> 'fr-CA'; a deprecated
language code by its replacement, 'iw' -> 'he'). Babel must know it without guessing: it
fills what a tag leaves out from its likely-subtags data ('und' becomes 'en-US', 'en-ZZ'
'en-US', 'de-1996' plain 'de'), so a tag whose language is undetermined, or with a subtag
Babel would replace or drop, is refused rather than stored as something else. Babel may add
the script a region implies ('zh-TW' is formatted as zh_Hant_TW): the tag stays 'zh-TW'.
"""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import get_global

from services.content.domain.errors import InvalidLocale
from services.content.domain.messages import N_, Message

_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_UNDETERMINED = "und"


def _unknown(tag: str) -> InvalidLocale:
    return InvalidLocale(Message(N_("'{tag}' is not a locale Babel knows"), tag=tag), locale=tag)


@lru_cache(maxsize=1024)
def _parsed(tag: str) -> tuple[str, Locale]:
    """``(canonical tag, Babel's locale)`` of ``tag``, or raise `InvalidLocale`."""
    if not _TAG.fullmatch(tag):
        raise InvalidLocale(Message(N_("'{tag}' is not a BCP 47 language tag"), tag=tag), locale=tag)
    language, *rest = tag.split("-")
    language = language.lower()
    if language == _UNDETERMINED:
        raise InvalidLocale(
            Message(N_("'{tag}' names no language: Babel would only guess one from its likely subtags"), tag=tag),
            locale=tag,
        )
    script = rest.pop(0).title() if rest and len(rest[0]) == 4 and rest[0].isalpha() else None
    region = rest.pop(0).upper() if rest and (len(rest[0]) == 2 or (len(rest[0]) == 3 and rest[0].isdigit())) else None
    variants = [variant.upper() for variant in rest]
    alias = get_global("language_aliases").get(language)
    if alias:
        # A deprecated code ('iw', 'in', 'sh') is written as its replacement, which may name a script.
        language, _, alias_script = alias.partition("_")
        script = script or alias_script.title() or None
    variant = "_".join(variants) or None
    try:
        locale = Locale.parse("_".join(filter(None, [language, script, region, variant])))
    except (UnknownLocaleError, ValueError) as exc:
        raise _unknown(tag) from exc
    # Babel may add the script a region implies, or drop the one a language implies;
    # anything else it changed is a guess.
    script_kept = (
        script is None or locale.script == script or (locale.script is None and script == _likely_script(language))
    )
    if locale.language != language or locale.territory != region or locale.variant != variant or not script_kept:
        raise _unknown(tag)
    canonical = "-".join(filter(None, [language, locale.script if script else None, region, *variants]))
    return canonical, locale


def _likely_script(language: str) -> str | None:
    """The script Babel assumes for ``language`` ('Latn' for 'en'), which a tag may name or leave out."""
    likely = get_global("likely_subtags").get(language, "")
    parts = likely.split("_")
    return parts[1] if len(parts) > 2 and len(parts[1]) == 4 else None


def babel_locale(tag: str) -> Locale:
    """Return Babel's locale for a BCP 47 tag, or raise `InvalidLocale`."""
    return _parsed(tag)[1]


def normalize_locale(tag: str) -> str:
    """Canonical BCP 47 spelling of ``tag`` ('FR-ca' -> 'fr-CA'); `InvalidLocale` if Babel does not know it."""
    return _parsed(tag)[0]
