"""Rules about fact values beyond their JSON shape."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale

from schemas.facts import FactValue, TerritoriesValue, TextValue
from services.content.domain.errors import InvalidContent
from services.content.domain.locales import normalize_locale
from services.content.domain.messages import N_, Message

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
                raise InvalidContent(
                    Message(
                        N_("{field}: '{code}' is not an ISO 3166 territory code"),
                        field=f"$.value.value[{i}]",
                        code=code,
                    )
                )
        if len(set(value.value)) != len(value.value):
            raise InvalidContent(Message(N_("{field}: a territory is listed twice"), field="$.value.value"))
    if isinstance(value, TextValue):
        normalised: dict[str, str] = {}
        for tag, text in value.value.items():
            try:
                normalised[normalize_locale(tag)] = text
            except InvalidContent as exc:
                raise InvalidContent(exc.message).at(f"$.value.value.{tag}") from exc
        return TextValue(value=normalised)
    return value


def value_type(value: FactValue) -> str:
    """The tag of a fact value ('integer', 'date', ...)."""
    return type(value).__struct_config__.tag  # type: ignore[return-value]
