"""Rules about fact values beyond their JSON shape."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale

from schemas.facts import FactValue, TerritoriesValue, TextValue
from services.content.domain.errors import InvalidContent
from services.content.domain.locales import normalize_locale

GLOBAL_SCOPE = "global"
"""Scope name of facts visible to every site (and the only scope fragments may use)."""


@lru_cache(maxsize=1)
def known_territories() -> frozenset[str]:
    """ISO 3166 alpha-2 codes that Babel can name (taken from its English data)."""
    names = Locale("en").territories
    return frozenset(str(code) for code in names if len(str(code)) == 2 and str(code).isalpha())


def checked_value(value: FactValue) -> FactValue:
    """Validate what the JSON schema cannot (known codes and locales) and normalise.

    Raises `InvalidContent` naming the field path at fault.
    """
    if isinstance(value, TerritoriesValue):
        known = known_territories()
        for i, code in enumerate(value.value):
            if code not in known:
                raise InvalidContent(f"$.value.value[{i}]: '{code}' is not an ISO 3166 territory code")
        if len(set(value.value)) != len(value.value):
            raise InvalidContent("$.value.value: a territory is listed twice")
    if isinstance(value, TextValue):
        normalised: dict[str, str] = {}
        for tag, text in value.value.items():
            try:
                normalised[normalize_locale(tag)] = text
            except InvalidContent as exc:
                raise InvalidContent(f"$.value.value.{tag}: {exc.detail}") from exc
        return TextValue(value=normalised)
    return value


def value_type(value: FactValue) -> str:
    """The tag of a fact value ('integer', 'date', ...)."""
    return type(value).__struct_config__.tag  # type: ignore[return-value]
