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


_NOT_COUNTRIES = frozenset(
    {
        # Exceptionally reserved in ISO 3166-1 (CLDR names them, ISO assigns them to no country).
        *("AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN"),
        # User-assigned: AA, QM-QZ, XA-XZ (Kosovo's XK among them) and ZZ, "Unknown Region".
        "AA",
        *(f"Q{letter}" for letter in "MNOPQRSTUVWXYZ"),
        *(f"X{letter}" for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        "ZZ",
    }
)


@lru_cache(maxsize=1)
def known_territories() -> frozenset[str]:
    """The officially assigned ISO 3166-1 alpha-2 country codes (249), all of which Babel can name.

    Babel's English territory names also hold regions ('150'), groupings ('EU', 'UN') and
    codes ISO leaves to users ('ZZ', 'QO', 'XK'): a territory list is a list of countries,
    so those are left out.
    """
    names = Locale("en").territories
    return frozenset(
        code for code in map(str, names) if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def checked_territory(code: str, field: str) -> str:
    """``code`` if it is an ISO 3166-1 country code; else `InvalidContent` naming ``field``."""
    if code not in known_territories():
        raise InvalidContent(Message(N_("{field}: '{code}' is not an ISO 3166-1 country code"), field=field, code=code))
    return code


def checked_value(value: FactValue) -> FactValue:
    """Validate what the JSON schema cannot (known codes and locales) and normalise.

    Raises `InvalidContent` naming the field path at fault.
    """
    if isinstance(value, TerritoriesValue):
        for i, code in enumerate(value.value):
            checked_territory(code, f"$.value.value[{i}]")
        if len(set(value.value)) != len(value.value):
            raise InvalidContent(Message(N_("{field}: a territory is listed twice"), field="$.value.value"))
    if isinstance(value, TextValue):
        normalised: dict[str, str] = {}
        sent_as: dict[str, str] = {}
        for tag, text in value.value.items():
            try:
                locale = normalize_locale(tag)
            except InvalidContent as exc:
                raise InvalidContent(exc.message).at(f"$.value.value.{tag}") from exc
            if locale in sent_as:
                # Keeping either text would silently drop the other.
                raise InvalidContent(
                    Message(
                        N_("{field}: '{first}' and '{second}' are the same locale, {locale}"),
                        field="$.value.value",
                        first=sent_as[locale],
                        second=tag,
                        locale=locale,
                    )
                )
            sent_as[locale] = tag
            normalised[locale] = text
        return TextValue(value=normalised)
    return value


def value_type(value: FactValue) -> str:
    """The tag of a fact value ('integer', 'date', ...)."""
    return type(value).__struct_config__.tag  # type: ignore[return-value]
